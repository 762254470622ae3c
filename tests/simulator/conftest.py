"""Shared fixtures for end-to-end tests: a seeded sandbox behind the real ASGI app, spoken to over HTTP."""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from segur_sandbox.simulator.app import create_app
from segur_sandbox.simulator.config import Settings
from segur_sandbox.simulator.pki import TestPKI
from segur_sandbox.simulator.runtime import build_runtime
from segur_sandbox.simulator.seed import seed_workspace
from segur_sandbox.simulator.security.principal import PatientRef
from segur_sandbox.simulator.insi import InsiTestClient
from segur_sandbox.simulator.testing import DmpTestClient

SEED = 7


@pytest.fixture(scope="session")
def sandbox_pki(tmp_path_factory) -> TestPKI:
    # cached on disk for the whole session: RSA keys are derived from the seed and cost ~0.3 s each
    return TestPKI.open(tmp_path_factory.mktemp("pki"), SEED, base_url="http://testserver/pki")


def _sandbox(tmp_path, pki: TestPKI, db: str = "") -> Iterator[Sandbox]:
    settings = Settings(data_dir=tmp_path, db=db, seed=SEED, patients=12, documents_per_patient=0)
    runtime = build_runtime(settings, pki=pki)
    summary = seed_workspace(runtime.store, "default", seed=SEED, patients=12)
    app = create_app(runtime)
    with TestClient(app) as http:
        yield Sandbox(runtime=runtime, http=http, summary=summary, settings=settings)
    runtime.store.dispose()


@pytest.fixture
def sandbox(tmp_path, sandbox_pki):
    yield from _sandbox(tmp_path, sandbox_pki)


@pytest.fixture
def pg_sandbox(tmp_path, sandbox_pki):
    """``sandbox`` on PostgreSQL (a fresh schema)."""
    for url in postgres_schema("sandbox"):
        yield from _sandbox(tmp_path, sandbox_pki, url)


class Sandbox:
    def __init__(self, runtime, http, summary, settings):
        self.runtime, self.http, self.summary, self.settings = runtime, http, summary, settings

    @property
    def pki(self):
        return self.runtime.pki

    def professional(self, index: int = 0) -> tuple[dict, dict]:
        """The professional of index ``index`` in fixtures/professionals.py (PS-00001 is index 0). Not the store's
        listing order: that one is by idNat, where CPE staff (3…/CPET…) come before the RPPS holders (8…)."""
        with self.runtime.store.transaction(readonly=True) as tx:
            record = dict(tx.directory.get_professional_by_ref("default", f"PS-{index + 1:05d}").record)
            structure = dict(tx.directory.get_structure_by_ref("default", record["structure_id"]).record)
        return record, structure

    def client(self, index: int = 0, **options) -> DmpTestClient:
        professional, structure = self.professional(index)
        return DmpTestClient(self.http, self.pki, professional, structure, **options)

    def scenario(self, n: int) -> PatientRef:
        _, ins, _ = self.summary.scenarios[n]
        return PatientRef(ins, "1.2.250.1.213.1.4.10")


# -- INSi: a module-scoped sandbox with a larger population (homonyms, twins, NIA…) ------------------------

PATIENTS = 120


class Insi:
    def __init__(self, runtime, http, people):
        self.runtime, self.http, self.people = runtime, http, people
        with runtime.store.transaction(readonly=True) as tx:
            self.professional = dict(tx.directory.get_professional_by_ref("default", "PS-00001").record)
            structure = tx.directory.get_structure_by_ref("default", self.professional["structure_id"])
            self.structure = dict(structure.record)

    def mtls(self, **options) -> InsiTestClient:
        return InsiTestClient(self.http, self.runtime.pki, structure=self.structure, **options)

    def cpx(self, **options) -> InsiTestClient:
        return InsiTestClient(self.http, self.runtime.pki, structure=self.structure, professional=self.professional,
                              **options)

    def tagged(self, tag: str) -> list[dict]:
        return [p for p in self.people if tag in p["edge_cases"]]

    def settings(self, workspace: str = "default", **values) -> None:
        with self.runtime.store.transaction() as tx:
            tx.workspaces.update_settings(workspace, values)


@pytest.fixture(scope="module")
def insi(tmp_path_factory, sandbox_pki):
    from segur_sandbox.fixtures.people import PopulationConfig, PopulationGenerator

    settings = Settings(data_dir=tmp_path_factory.mktemp("insi"), seed=7, patients=PATIENTS, documents_per_patient=0)
    runtime = build_runtime(settings, pki=sandbox_pki)
    seed_workspace(runtime.store, "default", seed=7, patients=PATIENTS)
    people = list(PopulationGenerator(PopulationConfig(seed=7, patients=PATIENTS)).patients())
    with TestClient(create_app(runtime)) as http:
        yield Insi(runtime, http, people)
    runtime.store.dispose()




# -- PostgreSQL: each test module that needs it gets its own schema, dropped afterwards -------------------------

PG_URL = os.environ.get("SEGUR_SANDBOX_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def postgres_schema(prefix: str) -> Iterator[str]:
    """A URL whose search_path is a fresh schema; skipped (or failed, on CI) when PostgreSQL is unreachable."""
    import psycopg
    from sqlalchemy.engine import make_url

    plain = make_url(PG_URL).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        admin = psycopg.connect(plain, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        if os.environ.get("SEGUR_SANDBOX_REQUIRE_PG"):
            pytest.fail(f"PostgreSQL required but unreachable at {PG_URL}: {exc}")
        pytest.skip(f"PostgreSQL unreachable at {PG_URL} ({str(exc).strip()}); set SEGUR_SANDBOX_TEST_PG_URL")
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False)
    finally:
        admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()


@pytest.fixture(scope="session")
def make_pg_schema():
    """``yield from make_pg_schema("prefix")`` in a fixture: a PostgreSQL URL on a fresh schema."""
    return postgres_schema
