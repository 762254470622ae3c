"""The store: workspaces, patients and their DMP state, the directory, authorizations, the XDS registry and
repository, the exchange log and the test controls — on SQLite and on PostgreSQL.

PostgreSQL: ``SEGUR_SANDBOX_TEST_PG_URL`` (default postgres@127.0.0.1:5432/test, trust auth). The tests run in a
schema of their own, dropped at the end. An unreachable server skips the PostgreSQL half (with the reason),
unless ``SEGUR_SANDBOX_REQUIRE_PG`` is set, then it fails.
"""
from __future__ import annotations

import itertools
import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from segur_sandbox.simulator.store import (
    APPROVED,
    ARCHIVED,
    CallState,
    DEFAULT_WORKSPACE,
    DELETED,
    DEPRECATED,
    HAS_MEMBER,
    RPLC,
    SCHEMA_VERSION,
    SIGNS,
    UPDATE_AVAILABILITY_STATUS,
    Association,
    AuthorizationNotFound,
    DmpStateConflict,
    DocumentEntry,
    DocumentNotFound,
    DocumentQuery,
    DuplicateEntryUuid,
    DuplicateUniqueId,
    Exchange,
    Finding,
    InvalidWorkspaceId,
    MetadataUpdateError,
    Patient,
    PatientMismatch,
    PatientNotFound,
    ProtectedWorkspace,
    StatusChange,
    StatusConflict,
    Store,
    Submission,
    SubmissionSet,
    VersionConflict,
    VersionUpdate,
    WorkspaceExists,
    WorkspaceNotFound,
    digest,
    normalise_url,
    sqlite_url,
)
from segur_sandbox.simulator.store import models
from segur_sandbox.simulator.store.documents import _filters, _find_statement

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
INS_A = "279035121518989"
INS_B = "184127645108946"
PS_1 = "810000000001"
PS_2 = "810000000002"
_ids = itertools.count(1)


# -- fixtures --------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def pg_url(make_pg_schema) -> Iterator[str]:
    yield from make_pg_schema("segur_test")


@pytest.fixture(scope="session")
def pg_store(pg_url: str) -> Iterator[Store]:
    store = Store(pg_url)
    yield store
    store.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path) -> Iterator[Store]:
    if request.param == "sqlite":
        store = Store(sqlite_url(tmp_path / "sandbox.db"))
        yield store
        store.dispose()
    else:
        yield request.getfixturevalue("pg_store")


@pytest.fixture
def new_ws(store: Store) -> Iterator:
    """Makes unique workspaces (PostgreSQL is shared by the session) and deletes them afterwards."""
    made: list[str] = []

    def make(prefix: str = "t") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        with store.transaction() as tx:
            tx.workspaces.create(name)
        made.append(name)
        return name

    yield make
    with store.transaction() as tx:
        for name in made:
            tx.workspaces.delete(name)


@pytest.fixture
def ws(new_ws) -> str:
    return new_ws()


# -- builders --------------------------------------------------------------------------------------------
def urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def entry(ins: str = INS_A, **kw) -> DocumentEntry:
    n = next(_ids)
    values = dict(
        entry_uuid=urn(), unique_id=f"1.2.250.1.999.1.1.7898.3.{n}", patient_ins=ins, mime_type="text/xml",
        submitted_at=T0, metadata_xml=f"<rim:ExtrinsicObject n='{n}'/>", title=f"Document {n}",
        confidentiality_codes=("N",), type_code="11488-4", class_code="10", format_code="urn:ihe:iti:xds-sd:pdf:2008",
        practice_setting="AMBULATOIRE", facility_type="SA07", creation_time=T0, author_person_ids=(PS_1,),
        author_institution_ids=("3999000000001",), legal_authenticator_id=PS_1,
    )
    values.update(kw)
    return DocumentEntry(**values)


def submission(*entries: DocumentEntry, ins: str = INS_A, associations: tuple[Association, ...] = (),
               contents: dict[str, bytes] | None = None, when: datetime = T0) -> Submission:
    ss = SubmissionSet(entry_uuid=urn(), unique_id=f"1.2.250.1.999.1.1.7898.1.{next(_ids)}", patient_ins=ins,
                       submission_time=when, source_id="1.2.250.1.999.1.1.7898", author={"person": PS_1},
                       metadata_xml="<rim:RegistryPackage/>")
    members = tuple(Association(urn(), HAS_MEMBER, ss.entry_uuid, e.entry_uuid, {"SubmissionSetStatus": ("Original",)},
                                submission_set_uuid=ss.entry_uuid) for e in entries)
    entries = tuple(replace(e, submission_set_uuid=ss.entry_uuid) for e in entries)
    if contents is None:
        contents = {e.unique_id: f"<ClinicalDocument>{e.unique_id}</ClinicalDocument>".encode() for e in entries}
    return Submission(ss, entries, members + associations, contents)


def patient(ins: str = INS_A, family: str = "DUPONT", **kw) -> Patient:
    record = {"id": f"PAT-{ins[-4:]}", "ins": {"nir": ins[:13], "key": ins[13:], "oid": "1.2.250.1.213.1.4.10",
                                             "type": "NIR"},
              "traits": {"birth_name": family, "first_names": ["JEAN", "PIERRE"], "first_name": "JEAN",
                         "sex": "M", "birth_date": "1979-03-05"},
              "used_name": None}
    return Patient.from_record(record, **kw)


def exchange(**kw) -> Exchange:
    values = dict(started_at=T0, duration_ms=12.5, service="registry", http_status=200, transaction="TD3.1",
                  action="urn:ihe:iti:2007:RegistryStoredQuery", request_content_type="application/soap+xml",
                  request=b"<req/>", response_content_type="application/soap+xml", response=b"<resp/>",
                  principal={"name_id": PS_1}, patient_ins=INS_A, professional=PS_1, verdict="pass")
    values.update(kw)
    return Exchange(**values)


# -- engine, schema, workspaces --------------------------------------------------------------------------
def test_urls_map_to_the_psycopg_driver() -> None:
    assert normalise_url("postgresql://u@h:5432/db").drivername == "postgresql+psycopg"
    assert normalise_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert normalise_url("postgresql+psycopg://u@h/db").drivername == "postgresql+psycopg"
    assert normalise_url("sqlite:///x.db").drivername == "sqlite"
    with pytest.raises(ValueError):
        normalise_url("mysql://u@h/db")


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path) -> None:
    with Store(sqlite_url(tmp_path / "a" / "b.db")) as store, store.transaction() as tx:
        conn = tx.connection
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000


@pytest.mark.parametrize("ping_after_idle", [0.0, 3600.0])
def test_a_pooled_postgresql_connection_lost_while_idle_is_replaced(pg_url: str, ping_after_idle: float,
                                                                     monkeypatch) -> None:
    """No ping per checkout (a round trip per unit of work): a connection idle long enough is pinged first and
    replaced when the server dropped it; one used again at once is not pinged, and a lost one then fails."""
    from segur_sandbox.simulator.store import db

    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", ping_after_idle)
    store = Store(pg_url, pool_size=1, max_overflow=0)
    try:
        with store.transaction() as tx:
            backend = tx.connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with pg_store_admin(pg_url) as admin:  # the server drops the pooled connection (a restart would)
            admin.exec_driver_sql(f"SELECT pg_terminate_backend({int(backend)})")
        if ping_after_idle:
            with pytest.raises(DBAPIError), store.transaction() as tx:
                tx.connection.exec_driver_sql("SELECT 1")
        with store.transaction() as tx:  # after the ping (or after the failure, which replaced the pool)
            assert tx.connection.exec_driver_sql("SELECT pg_backend_pid()").scalar() != backend
    finally:
        store.dispose()


@contextmanager
def pg_store_admin(url: str) -> Iterator[Any]:
    from sqlalchemy import create_engine

    engine = create_engine(normalise_url(url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


@pytest.mark.parametrize("durable_read_log", [False, True])
def test_only_autocommit_units_of_work_commit_without_waiting_for_the_wal_flush(pg_url: str,
                                                                               durable_read_log: bool) -> None:
    """A search's log line (the one write of an autocommit unit of work) does not wait for PostgreSQL's WAL flush,
    unless ``durable_read_log``; every other unit of work does, also on a connection that served a search before
    (they come from different pools: no connection switches modes)."""
    store = Store(pg_url, pool_size=1, max_overflow=0, durable_read_log=durable_read_log)

    def synchronous_commit(**options: bool) -> str:
        with store.transaction(**options) as tx:
            return str(tx.connection.exec_driver_sql("SHOW synchronous_commit").scalar())

    try:
        for _ in range(2):  # and again, on the same pooled connections
            assert synchronous_commit(autocommit=True) == ("on" if durable_read_log else "off")
            assert synchronous_commit() == "on"
            assert synchronous_commit(readonly=True) == "on"
        assert len(store.engines) == 2
    finally:
        store.dispose()


def test_the_server_setting_reaches_the_store(pg_url: str, sandbox_pki, tmp_path) -> None:
    from segur_sandbox.simulator.config import Settings, from_environment
    from segur_sandbox.simulator.runtime import build_runtime

    settings = from_environment(Settings(data_dir=tmp_path, db=pg_url), {"SEGUR_SANDBOX_PG_DURABLE_READ_LOG": "1"})
    runtime = build_runtime(settings, pki=sandbox_pki)
    try:
        with runtime.store.transaction(autocommit=True) as tx:
            assert tx.connection.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"
    finally:
        runtime.store.dispose()


def test_schema_is_versioned_and_default_workspace_exists(store: Store) -> None:
    assert store.schema_version() == SCHEMA_VERSION
    assert store.create_schema() == SCHEMA_VERSION  # idempotent
    with store.transaction(readonly=True) as tx:
        assert tx.workspaces.get(DEFAULT_WORKSPACE) is not None


def test_readonly_units_of_work_refuse_writes(store: Store, ws: str) -> None:
    with pytest.raises(DBAPIError), store.transaction(readonly=True) as tx:
        tx.controls.set_clock_offset(ws, 5)
    with store.transaction() as tx:  # the pooled connection is writable again
        tx.controls.set_clock_offset(ws, 5)
    with store.transaction(readonly=True) as tx:
        assert tx.controls.clock_offset(ws) == 5


def test_autocommit_units_of_work_commit_each_statement_on_postgresql(store: Store, ws: str) -> None:
    """A search's unit of work on PostgreSQL (DmpService): no BEGIN/COMMIT, its log line committed as written. On
    SQLite the flag changes nothing: the unit of work is one transaction, rolled back when it raises."""
    with pytest.raises(RuntimeError), store.transaction(autocommit=True) as tx:
        tx.exchanges.append(ws, exchange(), savepoint=False)
        raise RuntimeError("after the write")
    with store.transaction(readonly=True) as tx:
        kept = len(tx.exchanges.list(ws))
    assert kept == (1 if store.dialect == "postgresql" else 0)
    with store.transaction() as tx:  # the pooled connection is back to transactions: this write is undone
        with pytest.raises(RuntimeError), tx.savepoint():
            tx.exchanges.append(ws, exchange(), savepoint=False)
            raise RuntimeError("inside a savepoint")
    with store.transaction(readonly=True) as tx:
        assert len(tx.exchanges.list(ws)) == kept


def test_workspace_lifecycle(store: Store, new_ws) -> None:
    name = new_ws()
    with store.transaction() as tx:
        with pytest.raises(WorkspaceExists):
            tx.workspaces.create(name)
        assert tx.workspaces.ensure(name).id == name
        for bad in ("", "Upper", "a_b", "x" * 65, "a/b"):
            with pytest.raises(InvalidWorkspaceId):
                tx.workspaces.ensure(bad)
        assert name in {w.id for w in tx.workspaces.list()}
        tx.workspaces.update_settings(name, {"vihf_lenient": True, "clock_skew_seconds": 300})
        updated = tx.workspaces.update_settings(name, {"clock_skew_seconds": None})
        assert updated.settings == {"vihf_lenient": True}
        with pytest.raises(ProtectedWorkspace):
            tx.workspaces.delete(DEFAULT_WORKSPACE)
        assert tx.workspaces.delete(name) is True
        assert tx.workspaces.get(name) is None
        assert tx.workspaces.delete(name) is False


def test_writing_into_a_missing_workspace_is_refused(store: Store) -> None:
    with store.transaction() as tx:
        with pytest.raises(WorkspaceNotFound):
            tx.patients.upsert("no-such-ws", patient())
        with pytest.raises(WorkspaceNotFound):
            tx.controls.set_clock_offset("no-such-ws", 10)
        tx.workspaces.list()  # the transaction is still usable


def test_nothing_crosses_between_workspaces(store: Store, new_ws) -> None:
    a, b = new_ws("a"), new_ws("b")
    shared = entry()  # same INS, same uniqueId, same entryUUID in both
    exchange_ids: dict[str, int] = {}
    fault_ids: dict[str, int] = {}
    with store.transaction() as tx:
        for ws, name in ((a, "ALPHA"), (b, "BRAVO")):
            tx.patients.upsert(ws, replace(patient(), record={"traits": {"birth_name": name}}))
            tx.directory.upsert_professional(ws, {"id": "PS-00001", "id_nat": PS_1, "family": name})
            tx.authorizations.set(ws, INS_A, PS_1, status="VALIDE", now=T0)
            tx.documents.register_submission(ws, submission(shared, contents={shared.unique_id: name.encode()}))
            exchange_ids[ws] = tx.exchanges.append(ws, exchange(action=name))
            fault_ids[ws] = tx.controls.add_fault(ws, "http_503", transaction="TD0.2").id
            tx.controls.set_clock_offset(ws, 60 if ws == a else -60)
        tx.authorizations.set(b, INS_A, PS_1, status="INTERDIT", now=T0)

    with store.transaction() as tx:
        assert tx.patients.get(a, INS_A).record["traits"]["birth_name"] == "ALPHA"
        assert tx.directory.get_professional(b, PS_1).record["family"] == "BRAVO"
        assert tx.authorizations.status(a, INS_A, PS_1, T0) == "VALIDE"
        assert tx.authorizations.status(b, INS_A, PS_1, T0) == "INTERDIT"
        assert tx.documents.get_content(a, shared.unique_id) == b"ALPHA"
        assert tx.documents.get_content(b, shared.unique_id) == b"BRAVO"
        assert len(tx.documents.find(a, INS_A)) == 1
        assert [x.action for x in tx.exchanges.list(a)] == ["ALPHA"]
        assert tx.controls.workspace_now(a, T0) == T0 + timedelta(seconds=60)
        assert tx.controls.workspace_now(b, T0) == T0 - timedelta(seconds=60)
        assert tx.exchanges.get(b, exchange_ids[a]) is None and tx.controls.get_fault(b, fault_ids[a]) is None
        assert tx.controls.remove_fault(b, fault_ids[a]) is False
        assert tx.controls.consume_fault(a, "TD0.2").id == fault_ids[a]

        tx.workspaces.reset(a)
        counts = tx.workspaces.counts(a)
        assert counts.patients == counts.documents == counts.exchanges == counts.faults == 0
        assert tx.documents.get_content(a, shared.unique_id) is None
        assert tx.controls.clock_offset(a) == 0
        assert tx.workspaces.get(a) is not None
        b_counts = tx.workspaces.counts(b)
        assert (b_counts.patients, b_counts.professionals, b_counts.authorizations, b_counts.documents,
                b_counts.submission_sets, b_counts.exchanges, b_counts.faults) == (1, 1, 1, 1, 1, 1, 1)

        tx.patients.upsert(a, patient())
        tx.workspaces.delete(b)
        assert tx.patients.get(a, INS_A) is not None
        assert tx.patients.get(b, INS_A) is None
        assert tx.documents.get_content(b, shared.unique_id) is None


# -- patients and directory ------------------------------------------------------------------------------
def test_patients_and_their_dmp_state(store: Store, ws: str) -> None:
    with store.transaction() as tx:
        stored = tx.patients.upsert(ws, patient(mes_attached=False))
        assert stored.ins == INS_A and stored.ins_oid == "1.2.250.1.213.1.4.10" and stored.created_at is not None
        assert tx.patients.get(ws, INS_A).record["traits"]["first_names"] == ["JEAN", "PIERRE"]
        assert tx.patients.get(ws, "000000000000000") is None
        tx.patients.upsert_many(ws, [patient(f"1{i:014d}", family=f"DUR{i}", dmp_state="NONE") for i in range(5)])
        assert tx.patients.count(ws) == 6
        assert tx.patients.count(ws, dmp_state="NONE") == 5
        page1, page2 = tx.patients.list(ws, limit=4), tx.patients.list(ws, limit=4, offset=4)
        assert len(page1) == 4 and len(page2) == 2 and not {p.ins for p in page1} & {p.ins for p in page2}
        assert [p.ins for p in tx.patients.search(ws, family="dup", given="pie", birth_date="1979")] == [INS_A]
        assert len(tx.patients.search(ws, family="DUR")) == 5 and tx.patients.search(ws, given="JEANNE") == ()

        closed = tx.patients.set_state(ws, INS_A, dmp_state="CLOSED", closed_at=T0,
                                       closure_reason="FERMETURE_DEMANDE_PATIENT", expected_state="OPEN")
        assert (closed.dmp_state, closed.closed_at, closed.mes_attached) == ("CLOSED", T0, False)
        with pytest.raises(DmpStateConflict):
            tx.patients.set_state(ws, INS_A, dmp_state="CLOSED", expected_state="OPEN")
        reopened = tx.patients.set_state(ws, INS_A, dmp_state="OPEN", closed_at=None, closure_reason=None,
                                         opposition_bris_de_glace=True)
        assert (reopened.dmp_state, reopened.closed_at, reopened.opposition_bris_de_glace) == ("OPEN", None, True)
        with pytest.raises(PatientNotFound):
            tx.patients.set_state(ws, "000000000000000", internet_account=True)
        with pytest.raises(ValueError):
            tx.patients.upsert(ws, replace(patient(), ins="123"))


def test_directory_of_professionals_and_structures(store: Store, ws: str) -> None:
    structure = {"id": "ST-0001", "id_nat": "3999000000001", "name": "CABINET LIBRE"}
    professionals = [{"id": f"PS-0000{i}", "id_nat": f"81000000000{i}", "family": "MARTIN", "given": "ANNE",
                      "profession": {"code": "10"}, "structure_id": "ST-0001"} for i in range(1, 4)]
    with store.transaction() as tx:
        tx.directory.upsert_structure(ws, structure)
        assert tx.directory.upsert_professionals(ws, professionals) == 3
        tx.directory.upsert_professional(ws, {**professionals[0], "family": "DURAND"})
        assert tx.directory.get_professional(ws, PS_1).record["family"] == "DURAND"
        assert tx.directory.get_professional_by_ref(ws, "PS-00002").id_nat == PS_2
        assert tx.directory.get_structure(ws, "3999000000001").record["name"] == "CABINET LIBRE"
        assert tx.directory.get_structure_by_ref(ws, "ST-0001").ref == "ST-0001"
        assert len(tx.directory.list_professionals(ws, structure_ref="ST-0001")) == 3
        assert tx.directory.count_professionals(ws) == 3 and tx.directory.count_structures(ws) == 1
        assert len(tx.directory.list_structures(ws)) == 1


# -- authorizations --------------------------------------------------------------------------------------
def test_authorization_status_valide_expire_interdit_non_existe(store: Store, ws: str) -> None:
    with store.transaction() as tx:
        auth = tx.authorizations
        assert auth.status(ws, INS_A, PS_1, T0) == "NON_EXISTE"
        auth.set(ws, INS_A, PS_1, status="VALIDE", now=T0, expires_at=T0 + timedelta(days=30))
        assert auth.status(ws, INS_A, PS_1, T0 + timedelta(days=29)) == "VALIDE"
        assert auth.status(ws, INS_A, PS_1, T0 + timedelta(days=31)) == "EXPIRE"
        assert auth.get(ws, INS_A, PS_1).status == "VALIDE"  # stored; the date makes it expire
        renewed = auth.set(ws, INS_A, PS_1, status="VALIDE", now=T0 + timedelta(days=31), expires_at=None)
        assert renewed.started_at == T0 + timedelta(days=31)  # an expired authorization restarts
        assert auth.status(ws, INS_A, PS_1, T0 + timedelta(days=400)) == "VALIDE"
        again = auth.set(ws, INS_A, PS_1, status="VALIDE", now=T0 + timedelta(days=40))
        assert again.started_at == renewed.started_at and again.last_action_at == T0 + timedelta(days=40)
        auth.set(ws, INS_A, PS_2, status="EXPIRE", now=T0)
        assert auth.status(ws, INS_A, PS_2, T0) == "EXPIRE"
        auth.set(ws, INS_B, PS_1, status="INTERDIT", now=T0)
        assert auth.status(ws, INS_B, PS_1, T0) == "INTERDIT"
        assert auth.remove(ws, INS_A, PS_1) is True
        assert auth.status(ws, INS_A, PS_1, T0) == "NON_EXISTE"
        assert auth.remove(ws, INS_A, PS_1) is False


def test_a_patient_and_a_professional_s_authorization_in_one_read(store: Store, ws: str) -> None:
    with store.transaction() as tx:
        auth = tx.authorizations
        stored = tx.patients.upsert(ws, patient(INS_A))
        assert auth.with_patient(ws, INS_A, PS_1) == (tx.patients.get(ws, INS_A), None)
        auth.set(ws, INS_A, PS_1, status="VALIDE", now=T0, is_mt=True)
        auth.set(ws, INS_B, PS_1, status="VALIDE", now=T0)  # an authorization on a patient the store does not hold
        found, authorization = auth.with_patient(ws, INS_A, PS_1)
        assert found.ins == stored.ins and authorization == auth.get(ws, INS_A, PS_1)
        assert authorization.is_mt and authorization.status == "VALIDE"
        assert auth.with_patient(ws, INS_A, PS_2) == (found, None)  # another professional's: none
        assert auth.with_patient(ws, INS_B, PS_1) == (None, None)


def test_the_call_read_brings_the_caller_s_patient_and_authorization_as_with_patient_does(store: Store, ws: str,
                                                                                         new_ws) -> None:
    other = new_ws()
    with store.transaction() as tx:
        auth, workspaces = tx.authorizations, tx.workspaces
        tx.patients.upsert(ws, patient(INS_A))
        auth.set(ws, INS_A, PS_1, status="VALIDE", now=T0, is_mt=True)
        auth.set(ws, INS_B, PS_1, status="INTERDIT", now=T0)  # on a patient the store does not hold
        tx.patients.upsert(other, patient(INS_B))
        auth.set(other, INS_A, PS_2, status="VALIDE", now=T0)  # another workspace's: never read
        for ins, ps in [(INS_A, PS_1), (INS_A, PS_2), (INS_B, PS_1), (INS_B, PS_2)]:
            state = workspaces.get_for_call(ws, caller=(ins, ps))
            assert (state.patient, state.authorization) == auth.with_patient(ws, ins, ps), (ins, ps)
            assert (state.workspace, state.faults_armed, state.caller) == (workspaces.get(ws), False, (ins, ps))
        assert workspaces.get_for_call(ws, caller=(INS_A, PS_1)).authorization.is_mt
        assert workspaces.get_for_call(ws, caller=(INS_A, PS_1)).patient.ins == INS_A
        assert workspaces.get_for_call(other, caller=(INS_A, PS_1)) == CallState(workspaces.get(other), False,
                                                                               (INS_A, PS_1))
        tx.controls.add_fault(ws, "latency", params={"ms": 1})
        assert workspaces.get_for_call(ws, caller=(INS_A, PS_1)).faults_armed is True
        assert workspaces.get_for_call("no-such-workspace", caller=(INS_A, PS_1)) is None


def test_medecin_traitant_and_lists_by_patient(store: Store, ws: str) -> None:
    with store.transaction() as tx:
        auth = tx.authorizations
        auth.set(ws, INS_A, PS_1, status="VALIDE", now=T0, is_mt=True)
        auth.set(ws, INS_A, PS_2, status="VALIDE", now=T0, expires_at=T0 + timedelta(days=1))
        auth.set(ws, INS_A, "810000000003", status="INTERDIT", now=T0)
        assert auth.medecin_traitant(ws, INS_A).ps_id_nat == PS_1
        auth.set_mt(ws, INS_A, PS_2, True, now=T0)
        assert auth.get(ws, INS_A, PS_1).is_mt is False and auth.medecin_traitant(ws, INS_A).ps_id_nat == PS_2
        with pytest.raises(AuthorizationNotFound):
            auth.set_mt(ws, INS_A, "810000000009", True, now=T0)
        later = T0 + timedelta(days=2)
        assert [a.ps_id_nat for a in auth.list_by_patient(ws, INS_A, mode="ACTIVE", now=later)] == [PS_1]
        assert [a.ps_id_nat for a in auth.list_by_patient(ws, INS_A, mode="INTERDITE", now=later)] == ["810000000003"]
        everyone = {a.ps_id_nat: a.status for a in auth.list_by_patient(ws, INS_A, mode="TOUTE", now=later)}
        assert everyone == {PS_1: "VALIDE", PS_2: "EXPIRE", "810000000003": "INTERDIT"}
        blocked = auth.set(ws, INS_A, PS_2, status="INTERDIT", now=later)
        assert blocked.is_mt is False


def test_patients_of_a_professional_by_last_authorization_or_last_document(store: Store, ws: str) -> None:
    with store.transaction() as tx:
        tx.patients.upsert(ws, patient(INS_A))
        tx.patients.upsert(ws, patient(INS_B))
        tx.authorizations.set(ws, INS_A, PS_1, status="VALIDE", now=T0)
        tx.authorizations.set(ws, INS_B, PS_1, status="VALIDE", now=T0 + timedelta(days=10))
        tx.authorizations.set(ws, "199999999999999", PS_1, status="INTERDIT", now=T0)
        tx.documents.register_submission(ws, submission(entry(INS_A, submitted_at=T0 + timedelta(days=20))))
        tx.documents.register_submission(ws, submission(entry(INS_B, submitted_at=T0 + timedelta(days=1)),
                                                        ins=INS_B))
        now = T0 + timedelta(days=30)
        everyone = tx.authorizations.patients_of(ws, PS_1, now=now)
        assert [line.patient_ins for line in everyone] == sorted([INS_A, INS_B])
        assert all(line.patient is not None for line in everyone)
        recent_auth = tx.authorizations.patients_of(ws, PS_1, now=now, since=T0 + timedelta(days=5),
                                                    date_type="LASTAUTORIZATION")
        assert [line.patient_ins for line in recent_auth] == [INS_B]
        recent_doc = tx.authorizations.patients_of(ws, PS_1, now=now, since=T0 + timedelta(days=5),
                                                   date_type="LASTDOC")
        assert [(line.patient_ins, line.last_doc_at) for line in recent_doc] == [(INS_A, T0 + timedelta(days=20))]
        assert tx.authorizations.patients_of(ws, PS_2, now=now) == ()


# -- registry and repository -----------------------------------------------------------------------------
def test_submission_is_registered_and_content_comes_back_byte_identical(store: Store, ws: str) -> None:
    body = os.urandom(300_000) + b"\x00\r\n\x00"
    document = entry()
    signature = entry(is_signature=True, confidentiality_codes=("N", "MASQUE_PS", "INVISIBLE_PATIENT"))
    sha1, size = digest(body)
    document = replace(document, hash=sha1, size=size)
    sub = submission(document, signature,
                     contents={document.unique_id: body, signature.unique_id: b"<ds:Signature/>"})
    sub = replace(sub, associations=sub.associations + (
        Association(urn(), SIGNS, signature.entry_uuid, sub.submission_set.entry_uuid),))
    with store.transaction() as tx:
        stored = tx.documents.register_submission(ws, sub)
        assert [(e.lid, e.version, e.status) for e in stored] == [(e.entry_uuid, 1, APPROVED) for e in sub.entries]
    with store.transaction(readonly=True) as tx:
        assert tx.documents.get_content(ws, document.unique_id) == body
        assert tx.documents.get_content(ws, "1.2.3.unknown") is None
        got = tx.documents.get(ws, document.entry_uuid)
        assert got == replace(sub.entries[0], lid=document.entry_uuid)
        assert (got.hash, got.size) == (sha1, size)
        assert tx.documents.get_many(ws, [signature.entry_uuid, document.entry_uuid, urn()]) == (
            tx.documents.get(ws, signature.entry_uuid), got)
        members = tx.documents.associations(ws, sources=[sub.submission_set.entry_uuid], types=[HAS_MEMBER])
        assert {a.target for a in members} == {document.entry_uuid, signature.entry_uuid}
        assert members[0].slots == {"SubmissionSetStatus": ("Original",)}
        around = tx.documents.associations(ws, involving=[sub.submission_set.entry_uuid])
        assert len(around) == 3
        assert tx.documents.get_submission_sets(ws, unique_ids=[sub.submission_set.unique_id]) == (sub.submission_set,)
        assert tx.documents.count(ws, INS_A) == 2 and tx.documents.count_submission_sets(ws, INS_A) == 1


def test_duplicate_unique_id_is_a_typed_error_and_stores_nothing(store: Store, ws: str) -> None:
    first = entry()
    with store.transaction() as tx:
        tx.documents.register_submission(ws, submission(first))
    fresh, clash = entry(), replace(entry(), unique_id=first.unique_id)
    second = submission(fresh, clash)
    with store.transaction() as tx:
        with pytest.raises(DuplicateUniqueId) as info:
            tx.documents.register_submission(ws, second)
        assert info.value.unique_ids == (first.unique_id,) and not info.value.in_message
        assert info.value.xds_code == "XDSDuplicateUniqueIdInRegistry"
        tx.exchanges.append(ws, exchange())  # the caller goes on in the same transaction: still nothing leaked
    with store.transaction() as tx:
        assert tx.documents.get(ws, fresh.entry_uuid) is None
        assert tx.documents.get_content(ws, fresh.unique_id) is None
        assert tx.documents.get_submission_sets(ws, entry_uuids=[second.submission_set.entry_uuid]) == ()
        assert tx.documents.associations(ws, sources=[second.submission_set.entry_uuid]) == ()
        assert tx.documents.count(ws) == 1 and tx.exchanges.count(ws) == 1
        with pytest.raises(DuplicateUniqueId) as info:
            tx.documents.register_submission(ws, submission(fresh, replace(entry(), unique_id=fresh.unique_id)))
        assert info.value.in_message and info.value.xds_code == "XDSRegistryDuplicateUniqueIdInMessage"
        with pytest.raises(DuplicateEntryUuid):
            tx.documents.register_submission(ws, submission(replace(entry(), entry_uuid=first.entry_uuid)))


def test_concurrent_registrations_of_one_unique_id_store_it_once(store: Store, ws: str) -> None:
    template = entry()
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def register() -> None:
        sub = submission(replace(template, entry_uuid=urn()))
        barrier.wait()
        try:
            with store.transaction() as tx:
                tx.documents.register_submission(ws, sub)
            outcomes.append("stored")
        except DuplicateUniqueId:
            outcomes.append("duplicate")

    threads = [threading.Thread(target=register) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["duplicate"] * 3 + ["stored"]
    with store.transaction() as tx:
        assert len(tx.documents.by_unique_ids(ws, [template.unique_id], all_versions=True)) == 1


def test_replacement_deprecates_the_replaced_document_in_the_same_transaction(store: Store, ws: str) -> None:
    original = entry()
    with store.transaction() as tx:
        tx.documents.register_submission(ws, submission(original))
    replacement = entry()
    with store.transaction() as tx:
        tx.documents.register_submission(ws, submission(
            replacement, associations=(Association(urn(), RPLC, replacement.entry_uuid, original.entry_uuid),)))
    with store.transaction() as tx:
        assert tx.documents.get(ws, original.entry_uuid).status == DEPRECATED
        assert tx.documents.get(ws, replacement.entry_uuid).status == APPROVED
        assert tx.documents.associations(ws, targets=[original.entry_uuid], types=[RPLC])[0].source == \
            replacement.entry_uuid
        again = entry()
        with pytest.raises(StatusConflict) as info:  # a deprecated document cannot be replaced again
            tx.documents.register_submission(ws, submission(
                again, associations=(Association(urn(), RPLC, again.entry_uuid, original.entry_uuid),)))
        assert info.value.xds_code == "XDSRegistryDeprecatedDocumentError"
        assert tx.documents.get(ws, again.entry_uuid) is None
        with pytest.raises(DocumentNotFound):
            tx.documents.register_submission(ws, submission(
                again, associations=(Association(urn(), RPLC, again.entry_uuid, urn()),)))
        other = entry(INS_B)
        with pytest.raises(PatientMismatch):
            tx.documents.register_submission(ws, submission(
                other, ins=INS_B, associations=(Association(urn(), RPLC, other.entry_uuid, replacement.entry_uuid),)))
        assert tx.documents.get(ws, replacement.entry_uuid).status == APPROVED


def test_metadata_update_adds_a_version_and_deprecates_the_previous(store: Store, ws: str) -> None:
    v1 = entry()
    with store.transaction() as tx:
        tx.documents.register_submission(ws, submission(v1))
    update_ss = submission().submission_set
    v2 = replace(v1, entry_uuid=urn(), lid=v1.entry_uuid, confidentiality_codes=("N", "MASQUE_PS"), hash=None)
    member = Association(urn(), HAS_MEMBER, update_ss.entry_uuid, v2.entry_uuid,
                         {"SubmissionSetStatus": ("Original",), "PreviousVersion": ("1",)})
    with store.transaction() as tx:
        result = tx.documents.update_submission(ws, update_ss, versions=[VersionUpdate(v2, previous_version=1)],
                                                associations=[member])
        assert [(e.version, e.lid, e.unique_id) for e in result.versions] == [(2, v1.entry_uuid, v1.unique_id)]
    with store.transaction() as tx:
        docs = tx.documents
        assert docs.get(ws, v1.entry_uuid).status == DEPRECATED
        latest = docs.by_unique_ids(ws, [v1.unique_id])
        assert [(e.entry_uuid, e.version, e.status) for e in latest] == [(v2.entry_uuid, 2, APPROVED)]
        assert [e.version for e in docs.by_unique_ids(ws, [v1.unique_id], all_versions=True)] == [1, 2]
        assert [e.version for e in docs.by_lids(ws, [v1.entry_uuid], all_versions=True)] == [1, 2]
        assert docs.find(ws, INS_A, DocumentQuery(confidentiality_codes=("MASQUE_PS",))) == latest
        stale = replace(v2, entry_uuid=urn())
        with pytest.raises(VersionConflict):
            docs.add_version(ws, VersionUpdate(stale, previous_version=1))
        with pytest.raises(MetadataUpdateError):
            docs.add_version(ws, VersionUpdate(replace(stale, unique_id="1.2.3.4"), previous_version=2))
        with pytest.raises(DocumentNotFound):
            docs.add_version(ws, VersionUpdate(replace(stale, lid=urn()), previous_version=1))
        v3 = docs.add_version(ws, VersionUpdate(replace(stale, confidentiality_codes=("N",)), previous_version=2))
        assert (v3.version, docs.get(ws, v2.entry_uuid).status) == (3, DEPRECATED)
        assert len(docs.find(ws, INS_A, DocumentQuery(statuses=(APPROVED,)))) == 1


def test_status_update_is_a_compare_and_set(store: Store, ws: str) -> None:
    a, b = entry(), entry()
    with store.transaction() as tx:
        tx.documents.register_submission(ws, submission(a, b))
    with store.transaction() as tx:
        docs = tx.documents
        assert docs.set_status(ws, a.entry_uuid, expected=APPROVED, new=ARCHIVED).status == ARCHIVED
        with pytest.raises(StatusConflict) as info:
            docs.set_status(ws, a.entry_uuid, expected=APPROVED, new=DELETED)
        assert (info.value.expected, info.value.actual) == (APPROVED, ARCHIVED)
        with pytest.raises(DocumentNotFound):
            docs.set_status(ws, urn(), expected=APPROVED, new=DELETED)
        ss = submission().submission_set
        with pytest.raises(StatusConflict):  # the second change fails: the first is undone with it
            docs.update_submission(ws, ss, status_changes=[StatusChange(b.entry_uuid, APPROVED, ARCHIVED),
                                                           StatusChange(a.entry_uuid, APPROVED, DELETED)],
                                   associations=[Association(urn(), UPDATE_AVAILABILITY_STATUS, ss.entry_uuid,
                                                             b.entry_uuid, {"OriginalStatus": (APPROVED,),
                                                                            "NewStatus": (ARCHIVED,)})])
        assert docs.get(ws, b.entry_uuid).status == APPROVED
        assert docs.get_submission_sets(ws, entry_uuids=[ss.entry_uuid]) == ()
        result = docs.update_submission(ws, ss, status_changes=[StatusChange(a.entry_uuid, ARCHIVED, DELETED)])
        assert [e.status for e in result.status_changes] == [DELETED]


def test_concurrent_status_changes_let_exactly_one_win(store: Store, ws: str) -> None:
    doc = entry()
    with store.transaction() as tx:
        tx.documents.register_submission(ws, submission(doc))
    barrier = threading.Barrier(4)
    wins: list[str] = []

    def archive() -> None:
        barrier.wait()
        try:
            with store.transaction() as tx:
                tx.documents.set_status(ws, doc.entry_uuid, expected=APPROVED, new=ARCHIVED)
            wins.append("won")
        except StatusConflict:
            wins.append("lost")

    threads = [threading.Thread(target=archive) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == ["lost"] * 3 + ["won"]


def test_find_documents_with_each_filter(store: Store, ws: str) -> None:
    day = timedelta(days=1)
    base = entry()
    docs = {
        "cr": base,
        "bio": entry(class_code="11", type_code="11502-2", format_code="urn:ihe:lab:xd-lab:2008",
                     practice_setting="ETABLISSEMENT", facility_type="SA01", creation_time=T0 + 10 * day,
                     service_start=T0 + 9 * day, service_stop=T0 + 10 * day, author_person_ids=(PS_2,),
                     event_codes=("ACFA004",), reference_ids=("ORDER-1^^^&1.2.3&ISO^urn:ihe:iti:xds:2013:order",)),
        "masked": entry(confidentiality_codes=("N", "MASQUE_PS"), creation_time=T0 + 20 * day,
                        service_start=T0 + 1 * day, service_stop=T0 + 25 * day),
        "sig": entry(is_signature=True, class_code="urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1", type_code="E1762",
                     creation_time=None),
    }
    other_patient = entry(INS_B)
    with store.transaction() as tx:
        tx.documents.register_submission(ws, submission(*docs.values()))
        tx.documents.register_submission(ws, submission(other_patient, ins=INS_B))
        tx.documents.set_status(ws, docs["cr"].entry_uuid, expected=APPROVED, new=ARCHIVED)

    def found(**filters) -> set[str]:
        with store.transaction(readonly=True) as tx:
            uuids = {e.entry_uuid for e in tx.documents.find(ws, INS_A, DocumentQuery(**filters))}
        return {name for name, e in docs.items() if e.entry_uuid in uuids}

    assert found() == set(docs)
    assert found(statuses=(APPROVED,)) == {"bio", "masked", "sig"}
    assert found(statuses=(APPROVED, ARCHIVED)) == set(docs)
    assert found(statuses=()) == set()
    assert found(class_codes=("11",)) == {"bio"}
    assert found(type_codes=("11488-4", "E1762")) == {"cr", "masked", "sig"}
    assert found(practice_settings=("ETABLISSEMENT",)) == {"bio"}
    assert found(facility_types=("SA01",)) == {"bio"}
    assert found(format_codes=("urn:ihe:lab:xd-lab:2008",)) == {"bio"}
    assert found(confidentiality_codes=("MASQUE_PS",)) == {"masked"}
    assert found(event_codes=("ACFA004",)) == {"bio"}
    assert found(reference_ids=("ORDER-1^^^&1.2.3&ISO^urn:ihe:iti:xds:2013:order",)) == {"bio"}
    assert found(author_persons=(PS_2,)) == {"bio"}
    assert found(author_persons=("8100000000%",)) == {"cr", "bio", "masked", "sig"}
    assert found(creation_from=T0 + 10 * day) == {"bio", "masked"}
    assert found(creation_from=T0 + day, creation_to=T0 + 20 * day) == {"bio"}  # to is exclusive
    assert found(service_start_from=T0 + day, service_start_to=T0 + 5 * day) == {"masked"}
    assert found(service_stop_from=T0 + 20 * day) == {"masked"}
    assert found(service_stop_to=T0 + 11 * day) == {"bio"}
    assert found(is_signature=True) == {"sig"}
    assert found(is_signature=False, statuses=(APPROVED,), class_codes=("10",)) == {"masked"}
    with store.transaction(readonly=True) as tx:
        ordered = tx.documents.find(ws, INS_A)
        assert [e.entry_uuid for e in ordered][:3] == [docs["masked"].entry_uuid, docs["bio"].entry_uuid,
                                                       docs["cr"].entry_uuid]
        assert ordered[-1].entry_uuid == docs["sig"].entry_uuid  # no creation time: last
        assert len(tx.documents.find(ws, INS_A, limit=2)) == 2
        assert len(tx.documents.find(ws, INS_A, limit=2, offset=3)) == 1
        assert tx.documents.count(ws, INS_A, DocumentQuery(statuses=(APPROVED,))) == 3
        assert [e.entry_uuid for e in tx.documents.find(ws, INS_B)] == [other_patient.entry_uuid]
        assert tx.documents.count(ws) == 5
        with pytest.raises(ValueError):
            tx.documents.find(ws, INS_A, DocumentQuery(creation_from=datetime(2024, 1, 1)))


def test_find_sees_status_changes_and_rows_that_reuse_an_entry_uuid(store: Store, new_ws) -> None:
    """FindDocuments keeps decoded entries by row key (documents._BY_KEY): a status change, or another row under the
    same entryUUID after a workspace reset, must show as it is in the database, never as it was remembered."""
    ws = new_ws()
    a = entry(title="first")
    with store.transaction() as tx:
        tx.documents.register_submission(ws, submission(a))
    with store.transaction(readonly=True) as tx:
        assert [(e.title, e.status) for e in tx.documents.find(ws, INS_A)] == [("first", APPROVED)]
    with store.transaction() as tx:
        tx.documents.set_status(ws, a.entry_uuid, expected=APPROVED, new=ARCHIVED)
    with store.transaction(readonly=True) as tx:
        assert [(e.title, e.status) for e in tx.documents.find(ws, INS_A)] == [("first", ARCHIVED)]
        assert tx.documents.find(ws, INS_A, DocumentQuery(statuses=(APPROVED,))) == ()
    with store.transaction() as tx:
        tx.workspaces.reset(ws)
        tx.documents.register_submission(ws, submission(replace(a, title="second", submitted_at=T0 + timedelta(1))))
    with store.transaction(readonly=True) as tx:
        assert [(e.title, e.status) for e in tx.documents.find(ws, INS_A)] == [("second", APPROVED)]


def test_remembered_entries_are_bounded_oldest_first(monkeypatch) -> None:
    from segur_sandbox.simulator.store import documents

    monkeypatch.setattr(documents, "_BY_KEY_MAX", 2)
    remembered = documents._EntriesByKey()
    entries = [entry() for _ in range(3)]
    for e in entries:
        remembered.put(("ws", e.entry_uuid), e)
    assert [remembered.get(("ws", e.entry_uuid)) for e in entries] == [None, entries[1], entries[2]]


def test_find_reads_again_when_a_row_changes_between_its_two_reads(store: Store, ws: str, monkeypatch) -> None:
    from segur_sandbox.simulator.store import documents

    a, b = entry(), entry()
    with store.transaction() as tx:
        tx.documents.register_submission(ws, submission(a, b))
    read_rows = documents.DocumentRepository._rows_by_uuid

    def changed_meanwhile(self, workspace, entry_uuids):  # another unit of work archives a after the key read
        with store.transaction() as other:
            other.documents.set_status(ws, a.entry_uuid, expected=APPROVED, new=ARCHIVED)
        return read_rows(self, workspace, entry_uuids)

    monkeypatch.setattr(documents, "_BY_KEY", documents._EntriesByKey())  # nothing remembered: both rows read
    monkeypatch.setattr(documents.DocumentRepository, "_rows_by_uuid", changed_meanwhile)
    with store.transaction(readonly=True) as tx:
        found = {e.entry_uuid: e.status for e in tx.documents.find(ws, INS_A)}
    # SQLite reads one snapshot per transaction: the change is not seen. PostgreSQL (READ COMMITTED) sees it in the
    # second read: the key no longer matches and find reads both rows again, as they are now.
    expected = ARCHIVED if store.dialect == "postgresql" else APPROVED
    assert found == {a.entry_uuid: expected, b.entry_uuid: APPROVED}


def test_find_submission_sets_by_submission_time(store: Store, ws: str) -> None:
    subs = [submission(entry(), when=T0 + timedelta(hours=h)) for h in range(4)]
    with store.transaction() as tx:
        for sub in subs:
            tx.documents.register_submission(ws, sub)
        got = tx.documents.find_submission_sets(ws, INS_A, time_from=T0 + timedelta(hours=1),
                                                time_to=T0 + timedelta(hours=3))
        assert [s.entry_uuid for s in got] == [subs[1].submission_set.entry_uuid, subs[2].submission_set.entry_uuid]
        assert len(tx.documents.find_submission_sets(ws, INS_A, source_ids=["1.2.250.1.999.1.1.7898"])) == 4
        assert tx.documents.find_submission_sets(ws, INS_B) == ()


def test_find_by_patient_is_served_by_an_index(tmp_path) -> None:
    with Store(sqlite_url(tmp_path / "plan.db")) as store, store.transaction() as tx:
        shape, params = _filters("default", INS_A, DocumentQuery(
            statuses=(APPROVED,), confidentiality_codes=("N",), author_persons=(PS_1,)))
        for keys_only, latest_only in ((True, True), (False, False)):  # what find runs (keys, then rows if needed)
            query = _find_statement(shape, keys_only, latest_only, False, False).params(params)
            compiled = query.compile(tx.connection, compile_kwargs={"literal_binds": True})
            plan = " | ".join(row[-1] for row in tx.connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}"))
            assert "ix_document_entries_workspace_patient_ins_status_creation_time" in plan, plan
            assert "SCAN document_entries" not in plan, plan


# -- exchange log ----------------------------------------------------------------------------------------
def test_exchange_log_filters_paging_and_polling(store: Store, ws: str) -> None:
    with store.transaction() as tx:
        log = tx.exchanges
        ids = [log.append(ws, exchange(transaction="TD0.2", verdict="pass", started_at=T0)),
               log.append(ws, exchange(transaction="ITI-41", verdict="fail", professional=PS_2,
                                       findings=(Finding("XDS-001", "error", "missing author", "/x"),))),
               log.append(ws, exchange(transaction="TD0.2", verdict="error", patient_ins=INS_B)),
               log.append(ws, exchange(transaction="TD3.1", verdict=None, request=os.urandom(1000)))]
        assert ids == sorted(ids)
        assert [x.id for x in log.list(ws)] == ids[::-1]
        assert [x.id for x in log.list(ws, transaction="TD0.2")] == [ids[2], ids[0]]
        assert [x.id for x in log.list(ws, transaction=["TD3.1", "ITI-41"])] == [ids[3], ids[1]]
        assert [x.id for x in log.list(ws, verdict="fail")] == [ids[1]]
        assert [x.id for x in log.list(ws, professional=PS_2)] == [ids[1]]
        assert [x.id for x in log.list(ws, patient_ins=INS_B)] == [ids[2]]
        assert [x.id for x in log.list(ws, since_id=ids[1])] == [ids[3], ids[2]]
        assert [x.id for x in log.list(ws, before_id=ids[2], limit=1)] == [ids[1]]
        assert log.count(ws) == 4 and log.count(ws, transaction="TD0.2") == 2 and log.count(ws, since_id=ids[2]) == 1
        assert log.latest_id(ws) == ids[3]
        listed = log.list(ws, verdict="fail")[0]
        assert listed.request is None and listed.findings == (Finding("XDS-001", "error", "missing author", "/x"),)
        full = log.get(ws, ids[1])
        assert (full.request, full.response, full.principal) == (b"<req/>", b"<resp/>", {"name_id": PS_1})
        assert log.list(ws, include_bodies=True, limit=1)[0].request == log.get(ws, ids[3]).request
        assert log.record_verdict(ws, ids[3], "pass", [Finding("R1", "info", "ok")])
        assert log.get(ws, ids[3]).verdict == "pass"
        assert log.get(ws, 10**12) is None
    with store.transaction() as tx:
        newest = tx.exchanges.append(ws, exchange(started_at=T0 + timedelta(days=1)))
        assert [x.id for x in tx.exchanges.list(ws, since_id=ids[3])] == [newest]
        assert tx.exchanges.prune(ws, keep_last=3) == 2
        assert [x.id for x in tx.exchanges.list(ws)] == [newest, ids[3], ids[2]]
        assert tx.exchanges.prune(ws, older_than=T0 + timedelta(hours=1)) == 2
        assert [x.id for x in tx.exchanges.list(ws)] == [newest]



@pytest.mark.skipif(os.name == "nt", reason="flock is POSIX")
def test_sqlite_writers_hold_a_file_lock_other_processes_wait_for(tmp_path) -> None:
    import fcntl

    def lock_is_free(path) -> bool:
        with open(path, "a+b") as other:  # another open file: what another worker process would hold
            try:
                fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            fcntl.flock(other.fileno(), fcntl.LOCK_UN)
            return True

    database = tmp_path / "sandbox.db"
    lock = tmp_path / "sandbox.db-writer.lock"
    with Store(sqlite_url(database)) as store:
        with store.transaction() as tx:
            tx.exchanges.append(DEFAULT_WORKSPACE, exchange())
            assert not lock_is_free(lock)
            with store.transaction(readonly=True) as reader:  # readers take no lock
                assert reader.exchanges.count(DEFAULT_WORKSPACE) == 0
        assert lock_is_free(lock)
        with store.transaction(readonly=True):
            assert lock_is_free(lock)
    assert lock_is_free(lock)  # dispose closed it

def test_exchange_bodies_are_stored_compressed_and_read_back_as_exchanged(store: Store, ws: str) -> None:
    answer = b"<rim:ExtrinsicObject id='x'>" + b"<rim:Slot name='s'><rim:Value>v</rim:Value></rim:Slot>" * 5000
    noise = os.urandom(4096)  # incompressible bodies round-trip too
    with store.transaction() as tx:
        big = tx.exchanges.append(ws, exchange(response=answer, request=noise))
        empty = tx.exchanges.append(ws, exchange(request=b"", response=None))
    with store.engine.connect() as conn:
        stored = conn.execute(select(models.exchanges.c.response, models.exchanges.c.body_codec)
                              .where(models.exchanges.c.id == big)).one()
    assert stored.body_codec == "zstd" and len(stored.response) < len(answer) // 10
    with store.transaction(readonly=True) as tx:
        assert (tx.exchanges.get(ws, big).response, tx.exchanges.get(ws, big).request) == (answer, noise)
        assert [x.response for x in tx.exchanges.list(ws, include_bodies=True)] == [None, answer]
        assert (tx.exchanges.get(ws, empty).request, tx.exchanges.get(ws, empty).response) == (b"", None)


def test_exchange_lines_written_before_compression_are_read_as_they_are(store: Store, ws: str) -> None:
    with store.transaction() as tx:
        line = tx.exchanges.append(ws, exchange())
    with store.engine.begin() as conn:  # what a version-2 database holds: raw bodies, no codec
        conn.execute(models.exchanges.update().where(models.exchanges.c.id == line)
                     .values(request=b"<raw-req/>", response=b"<raw-resp/>", body_codec=None))
    with store.transaction(readonly=True) as tx:
        assert (tx.exchanges.get(ws, line).request, tx.exchanges.get(ws, line).response) == (b"<raw-req/>",
                                                                                            b"<raw-resp/>")
    with store.engine.begin() as conn:
        conn.execute(models.exchanges.update().where(models.exchanges.c.id == line).values(body_codec="brotli"))
    with store.transaction(readonly=True) as tx, pytest.raises(ValueError, match="unknown codec 'brotli'"):
        tx.exchanges.get(ws, line)


def test_schema_version_2_gains_the_body_codec_column(tmp_path) -> None:
    url = sqlite_url(tmp_path / "v2.db")
    with Store(url) as old:
        with old.transaction() as tx:
            kept = tx.exchanges.append(DEFAULT_WORKSPACE, exchange())
        with old.engine.begin() as conn:  # back to version 2: raw bodies, no codec column
            conn.execute(text("UPDATE exchanges SET request = x'3c612f3e', response = NULL"))
            conn.execute(text("ALTER TABLE exchanges DROP COLUMN body_codec"))
            conn.execute(text("UPDATE schema_version SET version = 2"))
    with Store(url) as store:
        assert store.schema_version() == SCHEMA_VERSION == 3
        with store.transaction() as tx:
            assert tx.exchanges.get(DEFAULT_WORKSPACE, kept).request == b"<a/>"
            new = tx.exchanges.append(DEFAULT_WORKSPACE, exchange(response=b"<b/>" * 100))
        with store.transaction(readonly=True) as tx:
            assert tx.exchanges.get(DEFAULT_WORKSPACE, new).response == b"<b/>" * 100

# -- controls --------------------------------------------------------------------------------------------
def test_faults_are_consumed_with_an_atomic_count(store: Store, ws: str) -> None:
    with store.transaction() as tx:
        c = tx.controls
        assert tx.workspaces.get_for_call(ws) == CallState(tx.workspaces.get(ws), False)
        assert tx.workspaces.get_for_call("no-such-workspace") is None
        counted = c.add_fault(ws, "soap_fault", transaction="TD0.2", remaining=2,
                              params={"code": "DMPAccessDeniedByRightsService", "reason": "refus"})
        assert c.consume_fault(ws, "TD3.1") is None
        first = c.consume_fault(ws, "TD0.2")
        assert (first.id, first.kind, first.remaining, first.params["code"]) == (
            counted.id, "soap_fault", 1, "DMPAccessDeniedByRightsService")
        assert c.get_fault(ws, counted.id).remaining == 1
        assert tx.workspaces.get_for_call(ws).faults_armed is True
        assert c.consume_fault(ws, "TD0.2").remaining == 0
        assert c.consume_fault(ws, "TD0.2") is None and c.get_fault(ws, counted.id) is None
        assert tx.workspaces.get_for_call(ws).faults_armed is False  # used up and removed

        forever = c.add_fault(ws, "latency", params={"ms": 250})  # any transaction, until removed
        for _ in range(3):
            assert c.consume_fault(ws, "ITI-41").id == forever.id
        only_b = c.add_fault(ws, "http_503", transaction="TD0.2", patient_ins=INS_B, remaining=1)
        c.remove_fault(ws, forever.id)
        assert c.consume_fault(ws, "TD0.2", patient_ins=INS_A) is None
        assert c.consume_fault(ws, "TD0.2", patient_ins=INS_B).id == only_b.id
        c.add_fault(ws, "drop_connection", transaction="TD0.2")
        c.add_fault(ws, "registry_error", transaction="ITI-41", params={"code": "XDSRegistryBusy", "context": "x"})
        assert len(c.list_faults(ws)) == 2 and len(c.list_faults(ws, transaction="ITI-41")) == 1
        assert c.clear_faults(ws, transaction="TD0.2") == 1 and c.clear_faults(ws) == 1
        for kind, params in (("latency", {}), ("soap_fault", {"code": "X"}), ("teapot", {})):
            with pytest.raises(ValueError):
                c.add_fault(ws, kind, params=params)  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            c.add_fault(ws, "http_503", remaining=0)


def test_concurrent_workers_never_use_a_fault_count_twice(store: Store, ws: str) -> None:
    with store.transaction() as tx:
        tx.controls.add_fault(ws, "http_503", transaction="TD0.2", remaining=10)
    used: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(5):
            with store.transaction() as tx:
                fault = tx.controls.consume_fault(ws, "TD0.2")
            if fault is not None:
                with lock:
                    used.append(fault.remaining)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(used) == list(range(10))


def test_clock_offset_shifts_the_workspace_clock(store: Store, ws: str) -> None:
    with store.transaction() as tx:
        assert tx.controls.clock_offset(ws) == 0
        assert tx.controls.workspace_now(ws, T0) == T0
        tx.controls.set_clock_offset(ws, -3600)
    with store.transaction(readonly=True) as tx:
        assert tx.controls.clock_offset(ws) == -3600
        assert tx.controls.workspace_now(ws, T0) == T0 - timedelta(hours=1)
        assert tx.workspaces.get(ws).clock_offset_seconds == -3600
        with pytest.raises(WorkspaceNotFound):
            tx.controls.workspace_now("no-such-ws", T0)
        with pytest.raises(ValueError):
            tx.controls.workspace_now(ws, datetime(2024, 1, 1))


# -- persistence and concurrency -------------------------------------------------------------------------
def test_a_new_store_on_the_same_sqlite_file_keeps_everything(tmp_path) -> None:
    url = sqlite_url(tmp_path / "keep.db")
    doc = entry()
    body = os.urandom(5000)
    with Store(url) as first, first.transaction() as tx:
        tx.workspaces.create("kept", settings={"vihf_lenient": True})
        tx.patients.upsert("kept", patient())
        tx.documents.register_submission("kept", submission(doc, contents={doc.unique_id: body}))
        tx.controls.set_clock_offset("kept", 42)
        exchange_id = tx.exchanges.append("kept", exchange())
    with Store(url) as second, second.transaction(readonly=True) as tx:
        assert second.schema_version() == SCHEMA_VERSION
        assert tx.workspaces.get("kept").settings == {"vihf_lenient": True}
        assert tx.patients.get("kept", INS_A).dmp_state == "OPEN"
        assert tx.documents.get_content("kept", doc.unique_id) == body
        assert tx.controls.clock_offset("kept") == 42
        assert tx.exchanges.get("kept", exchange_id).request == b"<req/>"


def test_threads_write_concurrently(store: Store, ws: str) -> None:
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(5):
                with store.transaction() as tx:
                    tx.documents.register_submission(ws, submission(entry(), when=T0 + timedelta(seconds=n * 10 + i)))
                    tx.exchanges.append(ws, exchange(action=f"{n}-{i}"))
                with store.transaction(readonly=True) as tx:
                    tx.documents.find(ws, INS_A, DocumentQuery(statuses=(APPROVED,)))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with store.transaction(readonly=True) as tx:
        assert tx.documents.count(ws, INS_A) == 30 and tx.exchanges.count(ws) == 30


def test_naive_datetimes_are_refused(store: Store, ws: str) -> None:
    with store.transaction() as tx:
        with pytest.raises(ValueError):
            tx.authorizations.set(ws, INS_A, PS_1, status="VALIDE", now=datetime(2024, 1, 1))
        with pytest.raises(ValueError):
            tx.exchanges.append(ws, exchange(started_at=datetime(2024, 1, 1)))


def test_postgresql_schema_creation_is_safe_from_several_processes(pg_url: str) -> None:
    stores = [Store(pg_url, create_schema=False) for _ in range(3)]
    errors: list[BaseException] = []

    def create(s: Store) -> None:
        try:
            s.create_schema()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=create, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in stores:
        with s.engine.connect() as conn:
            assert conn.execute(text("SELECT current_schema()")).scalar().startswith("segur_test_")
        s.dispose()
    assert errors == []


def test_a_document_entry_hashes_as_its_fields_once_and_never_carries_its_hash_to_another_process() -> None:
    import copy
    import pickle
    import subprocess
    import sys

    first = entry(status=APPROVED, confidentiality_codes=("N",))
    same = replace(first)
    assert first == same and hash(first) == hash(same) and "_hash" in first.__dict__  # cached on first use
    assert replace(first, status=DEPRECATED) != first and {first: 1}[replace(first)] == 1
    assert hash(replace(first, status=DEPRECATED)) != hash(first)  # a status change is another key
    assert "_hash" not in pickle.loads(pickle.dumps(first)).__dict__ and copy.deepcopy(first) == first
    # in another process (another PYTHONHASHSEED) the unpickled entry hashes as that process computes it
    code = ("import pickle, sys; e = pickle.loads(sys.stdin.buffer.read()); from dataclasses import replace; "
            "print(hash(e) == hash(replace(e)))")
    out = subprocess.run([sys.executable, "-c", code], input=pickle.dumps(first), capture_output=True,
                         env={"PYTHONHASHSEED": "12345"}, check=True)
    assert out.stdout.strip() == b"True", out.stderr
