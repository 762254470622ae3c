"""A pytest plugin giving a vendor's tests a running sandbox, a workspace, patients and credentials.

Enable it on the command line or once for the project::

    pytest -p segur_sandbox.conformance.pytest_plugin

    # pytest.ini (or [tool.pytest.ini_options] in pyproject.toml)
    [pytest]
    addopts = -p segur_sandbox.conformance.pytest_plugin

    # or in the top conftest.py
    pytest_plugins = ["segur_sandbox.conformance.pytest_plugin"]

Then, in a test::

    from segur_sandbox.simulator.dmp.messages import demographics_request

    def test_my_dmp_client_reads_an_authorised_patient(sandbox_workspace, sandbox_scenarios, sandbox_credentials):
        label, ins, record = sandbox_scenarios[0]            # authorised, médecin traitant
        my_client = MyDmpClient(sandbox_workspace.dmp_url("patients"),
                                cert=sandbox_credentials.files["PS-00001"]["auth"]["cert"],
                                key=sandbox_credentials.files["PS-00001"]["auth"]["key"])
        assert my_client.td02(ins).authorisation == "VALIDE"

Options:

``--segur-sandbox-url URL``  use an already running sandbox (e.g. a CI service container) instead of starting one
``--segur-sandbox-db URL``   database of the started sandbox (default: SQLite in a temporary folder)
``--segur-sandbox-seed N``   seed of the population and of the test PKI (default 1; must match an external sandbox's)

Fixtures:

``segur_sandbox`` (session)       the sandbox: ``.url``, ``.data_dir``, ``.seed``, ``.pki`` (``TestPKI``)
``sandbox_workspace`` (function)  a fresh populated workspace, deleted after the test: ``.id``, ``.base_url``,
                                  ``.dmp_url(service)``, ``.insi_url``, ``.api(path)`` (admin API, httpx)
``sandbox_patients`` (function)   the workspace's patients: the admin API's detail of each (``record`` included)
``sandbox_scenarios`` (function)  the six scenario patients of the first professional: ``(label, ins, record)``
                                  tuples (``.patient`` gives the ``PatientRef``), in ``seed.SCENARIOS`` order
``sandbox_credentials`` (session) the test PKI exported for the first 3 professionals and their structures:
                                  ``.index`` (index.json path), ``.files[professional id][auth|sign][cert|key|pkcs12]``
``sandbox_dmp_client`` (function) a ``DmpTestClient`` of the first professional bound to the workspace
"""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest

from segur_sandbox.fixtures.people import PopulationConfig, PopulationGenerator
from segur_sandbox.fixtures.professionals import ProfessionalDirectory
from segur_sandbox.simulator.pki import TestPKI
from segur_sandbox.simulator.security.principal import PatientRef
from segur_sandbox.simulator.seed import SCENARIOS
from segur_sandbox.simulator.testing import DmpTestClient

PATIENTS = 12  # population of a started sandbox
CREDENTIAL_PROFESSIONALS = 3
STARTUP_TIMEOUT = 90.0


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("segur-sandbox", "Ségur Sandbox (DMP/INSi replica)")
    group.addoption("--segur-sandbox-url", default=None, metavar="URL",
                    help="Use this running sandbox instead of starting one.")
    group.addoption("--segur-sandbox-db", default=None, metavar="URL",
                    help="Database of the started sandbox [default: SQLite in a temporary folder].")
    group.addoption("--segur-sandbox-seed", type=int, default=1, metavar="N",
                    help="Seed of the population and the test PKI [default: 1].")


# -- the sandbox --------------------------------------------------------------------------------------------
@dataclass
class Sandbox:
    url: str
    data_dir: Path
    seed: int
    pki: TestPKI
    process: subprocess.Popen | None = None

    def directory(self, professionals: int = PATIENTS) -> ProfessionalDirectory:
        return ProfessionalDirectory(self.seed, professionals)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(data_dir: Path, seed: int, db: str | None) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    cmd = [sys.executable, "-m", "segur_sandbox.simulator.cli", "serve", "--port", str(port), "--data-dir",
           str(data_dir), "--patients", str(PATIENTS), "--documents-per-patient", "0", "--seed", str(seed)]
    if db:
        cmd += ["--db", db]
    log = open(data_dir / "server.log", "wb")  # noqa: SIM115 - kept open for the server's life
    process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return process, url
        except (httpx.TransportError, OSError):
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            _stop(process)
            output = (data_dir / "server.log").read_text(errors="replace")
            raise RuntimeError(f"the Ségur sandbox did not start ({' '.join(cmd)}):\n{output[-4000:]}")
        time.sleep(0.2)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def segur_sandbox(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """A running sandbox for the session: the ``--segur-sandbox-url`` one, or a server process started here."""
    seed = request.config.getoption("--segur-sandbox-seed")
    external = request.config.getoption("--segur-sandbox-url")
    data_dir = tmp_path_factory.mktemp("segur-sandbox")
    if external:
        url = external.rstrip("/")
        # The PKI is deterministic from the seed: the same keys and certificates as the server's.
        yield Sandbox(url, data_dir, seed, TestPKI.open(data_dir / "pki", seed, base_url=f"{url}/pki"))
        return
    process, url = _start(data_dir, seed, request.config.getoption("--segur-sandbox-db"))
    try:
        yield Sandbox(url, data_dir, seed, TestPKI.open(data_dir / "pki", seed, base_url=f"{url}/pki"), process)
    finally:
        _stop(process)


# -- a workspace per test -----------------------------------------------------------------------------------
@dataclass
class SandboxWorkspace:
    id: str
    url: str  # the sandbox's
    http: httpx.Client = field(repr=False)

    @property
    def base_url(self) -> str:
        return f"{self.url}/w/{self.id}"

    def dmp_url(self, service: str) -> str:
        """e.g. ``dmp_url("patients")`` → ``…/w/<id>/si-dmp-server/v2/services/patients``."""
        return f"{self.base_url}/si-dmp-server/v2/services/{service}"

    @property
    def insi_url(self) -> str:
        return f"{self.base_url}/lps"

    def api(self, path: str = "", method: str = "GET", **kwargs: Any) -> httpx.Response:
        """The admin API of this workspace: ``api("/patients")`` is ``GET /api/workspaces/<id>/patients``."""
        return self.http.request(method, f"/api/workspaces/{self.id}{path}", **kwargs)


@pytest.fixture
def sandbox_workspace(segur_sandbox: Sandbox) -> Iterator[SandboxWorkspace]:
    """A fresh workspace holding the seeded population, deleted after the test."""
    with httpx.Client(base_url=segur_sandbox.url, timeout=60) as http:
        workspace_id = f"t-{uuid.uuid4().hex[:8]}"
        created = http.post("/api/workspaces", json={"id": workspace_id, "populate": True})
        if created.status_code != 201:
            raise RuntimeError(f"workspace creation failed: {created.status_code} {created.text[:500]}")
        try:
            yield SandboxWorkspace(workspace_id, segur_sandbox.url, http)
        finally:
            http.delete(f"/api/workspaces/{workspace_id}")


@pytest.fixture
def sandbox_patients(sandbox_workspace: SandboxWorkspace) -> list[dict[str, Any]]:
    """Every patient of the workspace: the admin API's detail (record, DMP state, authorizations…)."""
    summaries: list[dict[str, Any]] = []
    while True:
        page = sandbox_workspace.api("/patients", params={"offset": len(summaries), "limit": 100})
        page.raise_for_status()
        items = page.json()["items"]
        summaries += items
        if not items or len(summaries) >= page.json()["total"]:
            break
    return [_patient(sandbox_workspace, s["ins"]) for s in summaries]


def _patient(workspace: SandboxWorkspace, ins: str) -> dict[str, Any]:
    response = workspace.api(f"/patients/{ins}")
    response.raise_for_status()
    return response.json()


class Scenario(NamedTuple):
    label: str
    ins: str  # matricule INS: NIR + key
    record: dict[str, Any]  # the admin API's patient detail

    @property
    def patient(self) -> PatientRef:
        return PatientRef(self.ins, self.record["ins_oid"])


@pytest.fixture
def sandbox_scenarios(segur_sandbox: Sandbox, sandbox_workspace: SandboxWorkspace) -> list[Scenario]:
    """The six scenario patients of the first professional (``seed.SCENARIOS``): the population's first six."""
    people = PopulationGenerator(PopulationConfig(seed=segur_sandbox.seed, patients=len(SCENARIOS))).patients()
    return [Scenario(label, ins, _patient(sandbox_workspace, ins))
            for (label, *_), ins in zip(SCENARIOS, (p["ins"]["nir"] + p["ins"]["key"] for p in people))]


# -- credentials and a DMP client ---------------------------------------------------------------------------
@dataclass(frozen=True)
class SandboxCredentials:
    index: Path
    files: dict[str, dict[str, dict[str, Path]]]  # professional id → auth|sign → cert|key|pkcs12 → path
    professionals: list[dict[str, Any]]
    structures: list[dict[str, Any]]


@pytest.fixture(scope="session")
def sandbox_credentials(segur_sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> SandboxCredentials:
    """The test PKI's CA chain, CRLs and credentials of the first 3 professionals and their structures."""
    directory = segur_sandbox.directory()
    professionals = directory.professionals[:CREDENTIAL_PROFESSIONALS]
    structure_ids = list(dict.fromkeys(p["structure_id"] for p in professionals))
    structures = [directory.structures_by_id[s] for s in structure_ids]
    out_dir = tmp_path_factory.mktemp("segur-sandbox-credentials")
    index = segur_sandbox.pki.export(out_dir, professionals, structures)
    files: dict[str, dict[str, dict[str, Path]]] = {}
    for entry in json.loads(index.read_text(encoding="utf-8"))["credentials"]:
        if entry["owner"] == "professional":
            files.setdefault(entry["record_id"], {})[entry["usage"]] = {
                kind: out_dir / relative for kind, relative in entry["files"].items()}
    return SandboxCredentials(index, files, professionals, structures)


@pytest.fixture
def sandbox_dmp_client(segur_sandbox: Sandbox, sandbox_workspace: SandboxWorkspace) -> Iterator[DmpTestClient]:
    """The sandbox's reference DMP client (signed VIHF), as the first professional, on the test's workspace."""
    directory = segur_sandbox.directory()
    professional = directory.professionals[0]
    structure = directory.structures_by_id[professional["structure_id"]]
    with httpx.Client(base_url=segur_sandbox.url, timeout=60) as http:
        yield DmpTestClient(http, segur_sandbox.pki, professional, structure, workspace=sandbox_workspace.id)
