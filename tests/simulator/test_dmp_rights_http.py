"""The rights matrix of PDT-INF-526 v1.8 enforced over HTTP: every (action, profile column) cell reachable through
a DMP transaction, one request each, by a caller landing in that column (issue #3).

A ``Y…`` cell must be allowed (HTTP 200, no SOAP fault, XDS status Success where XDS answers), an ``n`` cell refused
with the SOAP fault ``DMPAccessDeniedByRightsService``. A ``Y(k)`` cell is exercised in the situation its footnote
allows (e.g. (8): the caller authored the document; (9): the document is its structure's); an ``n`` cell of TD3.3 is
exercised on the caller's own document, so the refusal comes from the cell and not from a footnote. A few extra
cases check that the footnote conditions refuse outside their situation.

The callers (one per column):

==  ===========================================  ==============================================================
 1  infirmier (roster 3), normal                  2/3: the same in centre_15 / bris de glace
 4  médecin hospitalier (roster 4), normal        5/6: the same in centre_15 / bris de glace
 7  médecin (roster 9) with savoir-faire SM25     (médecine du travail)
 8  GP (roster 0), médecin traitant, normal       9: the same in bris de glace
10  secrétaire of the GP's cabinet (CPE card)     roles SECRETARIAT_MEDICAL
11  structure of the MSP GP (roster 6), ORG SIGN  12: the same in centre_15
==  ===========================================  ==============================================================

Every person above is VALIDE on the patient's DMP (set in the store; the GP is also médecin traitant), so the
emergency columns share the identity, hence the authorship, of their normal column; the patient does not oppose
emergency access. One module-scoped sandbox; the documents each cell needs are fed over HTTP (TD2.1) and brought to
their state (masked, archived…) by the médecin traitant. Footnote (7) is exercised through the author's own masked
document: the sandbox has no way for a patient to open masked documents to emergency access
(``DocumentFacts.patient_allows_emergency_access_to_masked`` is never set by the server).
"""
from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from segur_sandbox.fixtures.documents import DocumentContext, build_document
from segur_sandbox.fixtures.documents.cda import uuid_oid
from segur_sandbox.simulator.app import create_app
from segur_sandbox.simulator.config import Settings
from segur_sandbox.simulator.dmp import feeding, xds
from segur_sandbox.simulator.dmp.messages import (demographics_request, list_authorizations_request,
                                                 set_authorization_request)
from segur_sandbox.simulator.dmp.messages.patients import pdq_request
from segur_sandbox.simulator.dmp.messages.patients_specific import patient_list_request
from segur_sandbox.simulator.dmp.rights import column_for, load_matrix
from segur_sandbox.simulator.dmp.xds import compose
from segur_sandbox.simulator.dmp.xds import constants as c
from segur_sandbox.simulator.runtime import build_runtime
from segur_sandbox.simulator.security import namespaces as ns
from segur_sandbox.simulator.security.principal import Coded, PatientRef
from segur_sandbox.simulator.seed import seed_workspace
from segur_sandbox.simulator.testing import DmpTestClient

SEED = 7
WORKSPACE = "default"
REPOSITORY = "1.2.250.1.213.4.1.1.1.2"
SOURCE_ID = "1.2.250.1.999.1.1.7898"
APPROVED, DEPRECATED, ARCHIVED, DELETED = (c.STATUS_APPROVED, c.STATUS_DEPRECATED, c.STATUS_ARCHIVED,
                                           c.STATUS_DELETED)
DENIED = "DMPAccessDeniedByRightsService"
GP, NURSE, HOSPITAL_DOCTOR, MSP_GP, EHPAD_DOCTOR = 0, 3, 4, 6, 9  # roster of fixtures/professionals.py
MATRIX = load_matrix()

# column -> (person, purpose); the person's identity is what authorship (footnote 8) looks at
COLUMNS = {
    1: ("nurse", "normal"), 2: ("nurse", "centre_15"), 3: ("nurse", "bris_de_glace"),
    4: ("doctor", "normal"), 5: ("doctor", "centre_15"), 6: ("doctor", "bris_de_glace"),
    7: ("occupational", "normal"),
    8: ("gp", "normal"), 9: ("gp", "bris_de_glace"),
    10: ("cpe", "normal"),
    11: ("org", "normal"), 12: ("org", "centre_15"),
}
MT_COLUMNS = {8, 9}
STRUCTURE_COLUMNS = {10, 11, 12}  # act for their structure: "own" documents are the structure's (footnote 9)


# --- the sandbox, once for the module ---------------------------------------------------------------------------

@dataclass
class Person:
    """Who stands behind a column: the client factory and the author of the documents it feeds."""

    name: str
    record: dict  # the caller's record (its NameID)
    structure: dict
    mode: str
    vihf_options: dict
    author: dict  # the CDA author of what it feeds (the GP for the CPE, the MSP GP for its structure)
    author_structure: dict


class Env:
    def __init__(self, sandbox_pki, tmp_path) -> None:
        self.settings = Settings(data_dir=tmp_path, seed=SEED, patients=12, documents_per_patient=0)
        self.runtime = build_runtime(self.settings, pki=sandbox_pki)
        self.summary = seed_workspace(self.runtime.store, WORKSPACE, seed=SEED, patients=12)
        self.app = create_app(self.runtime)
        self.seeds = itertools.count(1000)
        self.patient = self.scenario(0)  # DMP open, GP VALIDE + médecin traitant
        self.scratch = self.scenario(3)  # DMP open, for the TD0.3 cells (authorizations changed per test)

    @property
    def pki(self):
        return self.runtime.pki

    def scenario(self, n: int) -> PatientRef:
        _, ins, _ = self.summary.scenarios[n]
        return PatientRef(ins, "1.2.250.1.213.1.4.10")

    def professional(self, index: int) -> tuple[dict, dict]:
        with self.runtime.store.transaction(readonly=True) as tx:
            # fixtures order (PS-00001 is index 0), not the store's idNat order where CPE staff come first
            record = dict(tx.directory.get_professional_by_ref(WORKSPACE, f"PS-{index + 1:05d}").record)
            structure = dict(tx.directory.get_structure_by_ref(WORKSPACE, record["structure_id"]).record)
        return record, structure

    def build_people(self) -> None:
        gp, gp_structure = self.professional(GP)
        nurse, nurse_structure = self.professional(NURSE)
        doctor, doctor_structure = self.professional(HOSPITAL_DOCTOR)
        occupational, occupational_structure = self.professional(EHPAD_DOCTOR)
        msp_gp, msp_structure = self.professional(MSP_GP)
        secretary = {**gp, "id_nat": f"{gp_structure['id_nat']}/CPET0001"}
        cpe_card = self.pki.professional(secretary, gp_structure, usage="sign", card_type="CPE")
        occupational_roles = (Coded("10", ns.OID_PROFESSION, "Médecin"),
                              Coded("SM25", ns.OID_SPECIALTY, "Médecine du travail"))
        self.people = {
            "nurse": Person("nurse", nurse, nurse_structure, "DIRECTE", {}, nurse, nurse_structure),
            "doctor": Person("doctor", doctor, doctor_structure, "DIRECTE", {}, doctor, doctor_structure),
            "occupational": Person("occupational", occupational, occupational_structure, "DIRECTE",
                                   {"roles": occupational_roles}, occupational, occupational_structure),
            "gp": Person("gp", gp, gp_structure, "DIRECTE", {}, gp, gp_structure),
            "cpe": Person("cpe", secretary, gp_structure, "DIRECTE",
                          {"signer": cpe_card, "roles": (Coded("SECRETARIAT_MEDICAL", "1.2.250.1.213.1.1.4.6"),)},
                          gp, gp_structure),
            "org": Person("org", msp_gp, msp_structure, "INDIRECTE", {}, msp_gp, msp_structure),
        }

    def client(self, column: int) -> DmpTestClient:
        person, purpose = COLUMNS[column]
        return self.person_client(person, purpose)

    def person_client(self, name: str, purpose: str = "normal") -> DmpTestClient:
        p = self.people[name]
        return DmpTestClient(self.http, self.pki, p.record, p.structure, mode=p.mode, purpose=purpose,
                             vihf_options=dict(p.vihf_options))

    def name_id(self, column: int) -> str:
        return self.people[COLUMNS[column][0]].record["id_nat"]

    # -- state set directly in the store
    def authorise(self, patient: PatientRef, name: str, *, mt: bool = False) -> None:
        now = datetime.now(timezone.utc)
        id_nat = self.people[name].record["id_nat"]
        with self.runtime.store.transaction() as tx:
            tx.authorizations.set(WORKSPACE, patient.ins, id_nat, status="VALIDE", now=now, expires_at=None)
            if mt:
                tx.authorizations.set_mt(WORKSPACE, patient.ins, id_nat, True, now=now)

    def open_to_emergencies(self, patient: PatientRef) -> None:
        with self.runtime.store.transaction() as tx:
            record = tx.patients.get(WORKSPACE, patient.ins)
            tx.patients.upsert(WORKSPACE, replace(record, opposition_bris_de_glace=False,
                                                  opposition_acces_urgence=False))

    def authorization(self, patient: PatientRef, id_nat: str):
        with self.runtime.store.transaction(readonly=True) as tx:
            status = tx.authorizations.status(WORKSPACE, patient.ins, id_nat, datetime.now(timezone.utc))
            row = tx.authorizations.get(WORKSPACE, patient.ins, id_nat)
        return status, bool(row and row.is_mt)

    def current(self, unique_id: str) -> tuple[xds.DocumentEntry, object]:
        """The wire entry of the latest version of the document of ``unique_id``, and its store row."""
        with self.runtime.store.transaction(readonly=True) as tx:
            rows = tx.documents.by_unique_ids(WORKSPACE, [unique_id])
            assert rows, unique_id
            latest = tx.documents.by_lids(WORKSPACE, [rows[0].lid or rows[0].entry_uuid])[0]
        return feeding.entry_to_wire(latest), latest

    # -- requests, as an LPS builds them (the Lps helper of test_dmp_documents.py, reduced)
    def submission(self, name: str, *, replaces: str | None = None) -> xds.Submission:
        person = self.people[name]
        seed = next(self.seeds)
        with self.runtime.store.transaction(readonly=True) as tx:
            record = dict(tx.patients.get(WORKSPACE, self.patient.ins).record)
        when = datetime.now(timezone.utc) - timedelta(days=1)
        cda = build_document("VAC-NOTE", DocumentContext(record, person.author, person.author_structure, when,
                                                         random.Random(seed)))
        ids = random.Random(f"ids-{seed}")
        signer = self.pki.professional(person.author, person.author_structure, usage="sign")
        return compose.signed_feeding(
            cda, signer=signer, submission_set_unique_id=uuid_oid(ids), signature_unique_id=uuid_oid(ids),
            source_id=SOURCE_ID, submitted=datetime.now(timezone.utc), replaces=replaces,
            title="Note de vaccination")

    def feed(self, client: DmpTestClient, name: str, *, replaces: str | None = None):
        submission = self.submission(name, replaces=replaces)
        body, attachments = xds.provide_and_register_mtom(submission)
        reply = client.call("repository", body, patient=self.patient, attachments=attachments)
        return reply, submission.entry("Document01").unique_id

    def document(self, name: str, state: str = APPROVED, *, replaces: str | None = None) -> str:
        """A fresh document fed by ``name`` (its normal-mode client), brought to ``state`` by the MT: its uniqueId."""
        reply, unique_id = self.feed(self.person_client(name), name, replaces=replaces)
        accepted(reply)
        gp = self.person_client("gp")
        if state == "masked":
            accepted(self.set_visibility(gp, unique_id, add=[c.MASQUE_PS]))
        elif state == "invisible_patient":
            accepted(self.set_visibility(gp, unique_id, add=["INVISIBLE_PATIENT"]))
        elif state in (ARCHIVED, DELETED):
            if state == DELETED and name != "gp":
                raise ValueError("only the author deletes")
            accepted(self.set_status(gp, unique_id, APPROVED, state))
        return unique_id

    def update(self, client: DmpTestClient, *, entries=(), associations=()):
        seed = next(self.seeds)
        p, s = client.professional, client.structure
        author = xds.Author(
            person=f"{p['id_nat']}^{p['family']}^{p['given']}^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS",
            institutions=(f"{s['name']}^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^{s['id_nat']}",))
        submission_set = xds.SubmissionSet(
            id="SubmissionSet01", unique_id=uuid_oid(random.Random(seed)), source_id=SOURCE_ID,
            patient_id=self.patient.cx(), submission_time=datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S"),
            authors=(author,), content_type=compose.DEFAULT_CONTENT_TYPE)
        submission = xds.Submission(submission_set, tuple(entries), tuple(associations))
        return client.call("registry", xds.submit_objects_request(submission), patient=self.patient)

    def set_visibility(self, client: DmpTestClient, unique_id: str, *, add=(), remove=()):
        entry, _ = self.current(unique_id)
        codes = [code for code in entry.confidentiality if code.code not in remove]
        codes += [xds.Coded(code, c.DMP_VISIBILITY_SCHEME, code) for code in add]
        new = replace(entry, id="Document01", status=None, confidentiality=tuple(codes))
        member = xds.Association("HasMember01", c.HAS_MEMBER, "SubmissionSet01", "Document01",
                                 {"SubmissionSetStatus": ("Original",), "PreviousVersion": (entry.version,)})
        return self.update(client, entries=[new], associations=[member])

    def set_status(self, client: DmpTestClient, unique_id: str, original: str, new: str):
        _, row = self.current(unique_id)
        change = xds.Association("Update01", c.UPDATE_AVAILABILITY_STATUS, "SubmissionSet01", row.entry_uuid,
                                 {"OriginalStatus": (original,), "NewStatus": (new,)})
        return self.update(client, associations=[change])

    def search(self, client: DmpTestClient, query: str = "FindDocuments", **params):
        if query == "FindDocuments":
            params = {"$XDSDocumentEntryPatientId": self.patient.cx(), "$XDSDocumentEntryStatus": [APPROVED],
                      **params}
        request = xds.adhoc_query_request(xds.StoredQuery.of(query, params, return_type="LeafClass"))
        return client.call("registry", request, patient=self.patient)

    def retrieve(self, client: DmpTestClient, unique_id: str):
        return client.call("repository", xds.retrieve_request([(REPOSITORY, unique_id)]), patient=self.patient)


@pytest.fixture(scope="module")
def env(sandbox_pki, tmp_path_factory):
    environment = Env(sandbox_pki, tmp_path_factory.mktemp("rights-http"))
    with TestClient(environment.app) as http:
        environment.http = http
        environment.build_people()
        for patient in (environment.patient, environment.scratch):
            environment.open_to_emergencies(patient)
        for name in ("nurse", "doctor", "occupational", "cpe", "org"):
            environment.authorise(environment.patient, name)
        assert environment.authorization(environment.patient, environment.people["gp"].record["id_nat"]) == (
            "VALIDE", True)
        yield environment
    environment.runtime.store.dispose()


@pytest.fixture(scope="module")
def docs(env):
    """Documents shared by the read-only cells (TD3.1, TD3.2), fed once."""
    shared = {
        "visible": env.document("gp"),
        "invisible_patient": env.document("gp", "invisible_patient"),
        "archived": env.document("gp", ARCHIVED),
        "deleted": env.document("gp", DELETED),
        "cpe": env.document("cpe"),  # the GP's cabinet's document, fed by its secretary (TD2.2)
        "org": env.document("org"),  # the MSP's document, fed by the structure (indirect TD2.1)
    }
    old = env.document("gp")
    _, row = env.current(old)
    env.document("gp", replaces=row.entry_uuid)
    shared["deprecated"] = old
    for name in ("nurse", "doctor", "occupational", "gp"):
        shared[f"masked:{name}"] = env.document(name, "masked")
    return shared


# --- outcomes ---------------------------------------------------------------------------------------------------

def accepted(reply) -> None:
    assert reply.status == 200 and reply.fault is None, reply.raw[:800]
    result = xds.parse_registry_response(reply.body)
    assert result.status == "Success", result.errors


def refused(reply) -> str:
    assert reply.status == 500 and reply.fault is not None, reply.raw[:800]
    assert reply.fault.subcode.localname == DENIED, reply.fault.reason
    return reply.fault.reason


def answered(reply) -> None:
    assert reply.status == 200 and reply.fault is None, reply.raw[:800]


def searched(reply, expected: str | None = None) -> None:
    answered(reply)
    response = xds.parse_adhoc_query_response(reply.body)
    assert response.status == "Success", response.errors
    if expected is not None:
        assert expected in {e.unique_id for e in response.objects if isinstance(e, xds.DocumentEntry)}


def retrieved(reply, unique_id: str) -> None:
    answered(reply)
    result, documents = xds.parse_retrieve_response(reply.message)
    assert result.status == "Success", result.errors
    assert [d.document_unique_id for d in documents] == [unique_id]


# --- the cells --------------------------------------------------------------------------------------------------

def own(column: int) -> str:
    """The person whose documents are the caller's own (author, or its structure's for 10–12)."""
    return COLUMNS[column][0]


def other(column: int) -> str:
    """Someone else's documents: the GP's, or the nurse's for the GP's columns."""
    return "nurse" if own(column) == "gp" else "gp"


def _td03(env, column: int, allowed: bool, action: str, role=None) -> None:
    name = own(column)
    patient, id_nat = env.scratch, env.name_id(column)
    mt = column in MT_COLUMNS
    with env.runtime.store.transaction() as tx:
        tx.authorizations.remove(WORKSPACE, patient.ins, id_nat)
    if action == "SUPPRESSION" or mt:
        env.authorise(patient, name, mt=mt)
    before = env.authorization(patient, id_nat)
    reply = env.client(column).call("habilitations", set_authorization_request(action, role), patient=patient)
    after = env.authorization(patient, id_nat)
    if not allowed:
        refused(reply)
        assert after == before
        return
    answered(reply)
    if role is not None:
        assert after == ("VALIDE", False)
    elif action == "AJOUT":
        assert after[0] == "VALIDE"
    else:
        assert after[0] == "NON_EXISTE"


def td02(env, docs, column, allowed):
    reply = env.client(column).call("patients", demographics_request(env.patient), patient=env.patient)
    answered(reply) if allowed else refused(reply)


def td13a(env, docs, column, allowed):
    reply = env.client(column).call("patients", demographics_request(env.patient, "CNSLT_DATA"),
                                    patient=env.patient)
    answered(reply) if allowed else refused(reply)


def td04(env, docs, column, allowed):
    reply = env.client(column).call("patientsSpecific", patient_list_request(None), patient=None)
    answered(reply) if allowed else refused(reply)


def td05(env, docs, column, allowed):
    with env.runtime.store.transaction(readonly=True) as tx:
        traits = tx.patients.get(WORKSPACE, env.patient.ins).record["traits"]
    request = pdq_request(family=traits["birth_name"], given=traits["first_name"])
    reply = env.client(column).call("patientsPDQ", request, patient=None)
    answered(reply) if allowed else refused(reply)


def td16(env, docs, column, allowed):
    reply = env.client(column).call("habilitations", list_authorizations_request(), patient=env.patient)
    answered(reply) if allowed else refused(reply)


def feed(env, docs, column, allowed):
    reply, unique_id = env.feed(env.client(column), own(column))
    if not allowed:
        refused(reply)
        return
    accepted(reply)
    searched(env.search(env.person_client("gp"), "GetDocuments", **{"$XDSDocumentEntryUniqueId": [unique_id]}),
             unique_id)


def metadata_search(env, docs, column, allowed):
    reply = env.search(env.client(column))
    searched(reply, docs["visible"]) if allowed else refused(reply)


def reference_search(env, docs, column, allowed):
    unique_id = docs[own(column)] if column in STRUCTURE_COLUMNS else docs["visible"]
    reply = env.search(env.client(column), "GetDocuments", **{"$XDSDocumentEntryUniqueId": [unique_id]})
    searched(reply, unique_id) if allowed else refused(reply)


def retrieve(kind):
    def run(env, docs, column, allowed):
        if kind == "masked":
            # (6)/(7): the caller's own masked document; the MT (8) reads another's; 'n' cells: their own if any
            unique_id = docs.get(f"masked:{other(column) if column == 8 else own(column)}", docs["masked:gp"])
        else:
            unique_id = docs[kind]
        reply = env.retrieve(env.client(column), unique_id)
        retrieved(reply, unique_id) if allowed else refused(reply)
    return run


def _document_for(env, column: int, cell: str, state: str) -> str:
    """(8)/(9) and 'n': the caller's own (or its structure's) document; plain Y: someone else's."""
    name = own(column) if cell != "Y" else other(column)
    return env.document(name, state)


def td33(kind):
    def run(env, docs, column, allowed):
        cell = MATRIX.row(kind).cell(column).text
        state = {"TD3.3a.unmask": "masked", "TD3.3d.unarchive": ARCHIVED}.get(kind, APPROVED)
        unique_id = _document_for(env, column, cell, state)
        client = env.client(column)
        _, before = env.current(unique_id)
        if kind == "TD3.3a.mask":
            reply = env.set_visibility(client, unique_id, add=[c.MASQUE_PS])
        elif kind == "TD3.3a.unmask":
            reply = env.set_visibility(client, unique_id, remove=[c.MASQUE_PS])
        elif kind == "TD3.3b.visibility":
            reply = env.set_visibility(client, unique_id, add=["INVISIBLE_PATIENT"])
        elif kind == "TD3.3d.archive":
            reply = env.set_status(client, unique_id, APPROVED, ARCHIVED)
        elif kind == "TD3.3d.unarchive":
            reply = env.set_status(client, unique_id, ARCHIVED, APPROVED)
        else:
            reply = env.set_status(client, unique_id, APPROVED, DELETED)
        _, after = env.current(unique_id)
        if not allowed:
            refused(reply)
            assert after == before  # nothing changed
            return
        accepted(reply)
        assert after.status == {"TD3.3d.archive": ARCHIVED, "TD3.3c.delete": DELETED}.get(kind, APPROVED)
        codes = set(after.confidentiality_codes)
        if kind == "TD3.3a.mask":
            assert c.MASQUE_PS in codes and after.version == before.version + 1
        elif kind == "TD3.3a.unmask":
            assert c.MASQUE_PS not in codes and after.version == before.version + 1
        elif kind == "TD3.3b.visibility":
            assert "INVISIBLE_PATIENT" in codes and after.version == before.version + 1
    return run


ACTIONS = {
    "TD0.2": td02, "TD1.3a": td13a, "TD0.4": td04, "TD0.5": td05, "TD1.6": td16,
    "TD0.3.add": lambda env, docs, col, ok: _td03(env, col, ok, "AJOUT"),
    "TD0.3.remove": lambda env, docs, col, ok: _td03(env, col, ok, "SUPPRESSION"),
    "TD0.3.remove_mt": lambda env, docs, col, ok: _td03(env, col, ok, "SUPPRESSION", "MEDECIN_TRAITANT"),
    "TD2.1": feed, "TD2.2": feed,
    "TD3.1.metadata": metadata_search, "TD3.1.reference": reference_search,
    **{f"TD3.2.{kind}": retrieve(kind) for kind in ("visible", "masked", "invisible_patient", "archived",
                                                     "deprecated", "deleted")},
    **{kind: td33(kind) for kind in ("TD3.3a.mask", "TD3.3a.unmask", "TD3.3b.visibility", "TD3.3d.archive",
                                     "TD3.3d.unarchive", "TD3.3c.delete")},
}

UNREACHABLE_ROWS = {
    "TD0.0": "TD0.0 (acquisition de l'identité patient) was withdrawn on 30/09/2023 (note 11): no such transaction",
    "TD0.1": "TD0.1 (authentification) is no transaction of its own: the VIHF of every call (test_dmp_vihf_http.py)",
    "TD0.9": "TD0.9 (accès Web PS contextuel) is a web page of the DMP, not a SOAP transaction of the sandbox",
}
XFAIL: dict[tuple[str, int], str] = {}


def _cases():
    for row in MATRIX.rows:
        for column in range(1, 13):
            cell = row.cell(column)
            marks = []
            if row.id in UNREACHABLE_ROWS:
                marks.append(pytest.mark.skip(reason=UNREACHABLE_ROWS[row.id]))
            elif row.id == "TD2.1" and column == 10:
                marks.append(pytest.mark.skip(reason="a CPE's ITI-41 is TD2.2 by definition: the server cannot "
                                                     "tell a CPE's TD2.1 from its TD2.2 (see the TD2.2 cell)"))
            elif row.id == "TD2.2" and column != 10:
                marks.append(pytest.mark.skip(reason="only a CPE caller makes a TD2.2: another caller's ITI-41 is "
                                                     "TD2.1 (see the TD2.1 cell)"))
            elif (row.id, column) in XFAIL:
                marks.append(pytest.mark.xfail(strict=True, reason=XFAIL[row.id, column]))
            yield pytest.param(row.id, column, cell.allowed, id=f"{row.id}-col{column:02d}-{cell.text}", marks=marks)


@pytest.mark.parametrize("action,column,allowed", list(_cases()))
def test_rights_matrix_cell_over_http(env, docs, action, column, allowed):
    ACTIONS[action](env, docs, column, allowed)


# --- the callers land in their columns ----------------------------------------------------------------------------

@pytest.mark.parametrize("column", range(1, 13))
def test_caller_lands_in_its_column(env, column):
    reply = env.client(column).call("patients", demographics_request(env.patient), patient=env.patient)
    answered(reply)
    with env.runtime.store.transaction(readonly=True) as tx:
        logged = tx.exchanges.list(WORKSPACE, limit=1)[0]
    principal = SimpleNamespace(**logged.principal)
    assert principal.name_id == env.name_id(column)
    assert column_for(principal, is_mt=column in MT_COLUMNS) == column, logged.principal


# --- footnotes outside their situation --------------------------------------------------------------------------

def test_footnote_6_a_masked_document_of_another_author_is_refused(env, docs):
    assert "(6)" in refused(env.retrieve(env.client(1), docs["masked:gp"]))
    assert "(6)" in refused(env.retrieve(env.client(4), docs["masked:nurse"]))


def test_footnote_7_emergency_access_to_another_authors_masked_document_is_refused(env, docs):
    assert "(7)" in refused(env.retrieve(env.client(3), docs["masked:gp"]))
    assert "(7)" in refused(env.retrieve(env.client(5), docs["masked:nurse"]))


@pytest.mark.parametrize("column", [1, 2, 3, 4, 5, 6, 7, 9])
def test_footnote_8_deleting_another_authors_document_is_refused(env, column):
    unique_id = env.document(other(column))
    assert "(8)" in refused(env.set_status(env.client(column), unique_id, APPROVED, DELETED))


@pytest.mark.parametrize("column", [10, 11, 12])
def test_footnote_9_deleting_another_structures_document_is_refused(env, column):
    unique_id = env.document("nurse")
    assert "(9)" in refused(env.set_status(env.client(column), unique_id, APPROVED, DELETED))


@pytest.mark.parametrize("column", [10, 11, 12])
def test_footnote_4_feeding_a_document_not_imputable_to_the_structure_is_refused(env, column):
    # the DMP answers EX_2.1-1140 as an XDS error (RegistryResponse Failure), not as a SOAP fault
    reply, unique_id = env.feed(env.client(column), "nurse")
    answered(reply)
    result = xds.parse_registry_response(reply.body)
    assert result.status == "Failure"
    assert any(e.code == "XDSRegistryMetadataError" and "AuthorInstitution" in e.context for e in result.errors)
    with env.runtime.store.transaction(readonly=True) as tx:
        assert tx.documents.by_unique_ids(WORKSPACE, [unique_id]) == ()
