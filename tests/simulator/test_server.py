"""The real server process: `segur-sandbox serve` on SQLite and PostgreSQL, data kept across a restart."""
from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from segur_sandbox.fixtures.people import PopulationConfig, PopulationGenerator
from segur_sandbox.fixtures.professionals import ProfessionalDirectory
from segur_sandbox.simulator.dmp.messages import demographics_request, set_authorization_request
from segur_sandbox.simulator.pki import TestPKI
from segur_sandbox.simulator.security.principal import PatientRef
from segur_sandbox.simulator.testing import DmpTestClient

PG_ADMIN = os.environ.get("SEGUR_SANDBOX_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
HL7 = {"h": "urn:hl7-org:v3"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def _server(data_dir: Path, db: str | None = None, extra: tuple[str, ...] = (), probe: dict | None = None):
    port = _free_port()
    cmd = [sys.executable, "-m", "segur_sandbox.simulator.cli", "serve", "--data-dir", str(data_dir), "--port",
           str(port), "--patients", "12", "--documents-per-patient", "0", "--seed", "1", *extra]
    if db:
        cmd += ["--db", db]
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"{'https' if '--tls' in extra else 'http'}://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/health", timeout=1, **(probe or {})).status_code == 200:
                    break
            except (httpx.TransportError, OSError):
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(process.stdout.read().decode(errors="replace"))
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def population():
    directory = ProfessionalDirectory(1, 60)
    people = list(PopulationGenerator(PopulationConfig(seed=1, patients=12)).patients())
    professional = directory.professionals[0]
    return professional, directory.structures_by_id[professional["structure_id"]], people


def _status(client: DmpTestClient, patient: PatientRef) -> str:
    reply = client.call("patients", demographics_request(patient), patient=patient)
    assert reply.status == 200, reply.raw[:400]
    return reply.body.xpath("string(h:attentionLine[h:keyWordText/@code='AUTORISATION']/h:value/@code)",
                            namespaces=HL7)


def _restart_keeps_authorisation(tmp_path: Path, population, db: str | None) -> None:
    professional, structure, people = population
    patient = PatientRef(people[3]["ins"]["nir"] + people[3]["ins"]["key"], people[3]["ins"]["oid"])  # NON_EXISTE
    with _server(tmp_path, db) as base:
        pki = TestPKI.open(tmp_path / "pki", 1, base_url=base + "/pki")
        with httpx.Client(base_url=base, timeout=30) as http:
            client = DmpTestClient(http, pki, professional, structure)
            assert _status(client, patient) == "NON_EXISTE"
            assert client.call("habilitations", set_authorization_request("AJOUT"), patient=patient).status == 200
            assert _status(client, patient) == "VALIDE"
    with _server(tmp_path, db) as base:
        with httpx.Client(base_url=base, timeout=30) as http:
            client = DmpTestClient(http, TestPKI.open(tmp_path / "pki", 1), professional, structure)
            assert _status(client, patient) == "VALIDE"
            workspaces = http.get("/api/workspaces").json()
            assert [w["id"] for w in workspaces] == ["default"]


def test_restart_keeps_the_data_on_sqlite(tmp_path, population):
    _restart_keeps_authorisation(tmp_path, population, None)
    assert (tmp_path / "sandbox.db").exists()


def test_restart_keeps_the_data_on_postgresql(tmp_path, population):
    name = f"sandbox_{uuid.uuid4().hex[:12]}"
    try:
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001
        if os.environ.get("SEGUR_SANDBOX_REQUIRE_PG"):
            raise
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    try:
        _restart_keeps_authorisation(tmp_path, population, url)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_tls_with_client_certificates_from_the_test_pki(tmp_path, population):
    professional, structure, people = population
    pki = TestPKI.open(tmp_path / "pki", 1, base_url="http://127.0.0.1:8080/pki")
    auth = pki.professional(professional, structure, usage="auth")
    (tmp_path / "client.pem").write_bytes(auth.cert_pem())
    (tmp_path / "client.key").write_bytes(auth.key_pem())
    (tmp_path / "ca.pem").write_bytes(pki.ca_chain_pem())
    context = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    context.load_cert_chain(str(tmp_path / "client.pem"), str(tmp_path / "client.key"))
    tls = {"verify": context}
    with _server(tmp_path, extra=("--tls", "--tls-client-cert", "required"), probe=tls) as base:
        assert base.startswith("https://")
        with httpx.Client(base_url=base, timeout=30, **tls) as http:
            client = DmpTestClient(http, pki, professional, structure)
            patient = PatientRef(people[0]["ins"]["nir"] + people[0]["ins"]["key"], people[0]["ins"]["oid"])
            assert _status(client, patient) == "VALIDE"
        anonymous = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
        with pytest.raises((httpx.TransportError, OSError)):  # no client certificate: the handshake is refused
            httpx.get(base + "/health", verify=anonymous, timeout=5).raise_for_status()


def _client_context(tmp_path: Path, issued, name: str) -> ssl.SSLContext:
    (tmp_path / f"{name}.pem").write_bytes(issued.cert_pem())
    (tmp_path / f"{name}.key").write_bytes(issued.key_pem())
    context = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    context.load_cert_chain(str(tmp_path / f"{name}.pem"), str(tmp_path / f"{name}.key"))
    return context


def test_tls_client_certificate_reaches_the_dmp_and_insi(tmp_path, population):
    """`serve --tls`: the connection's client certificate is in the ASGI scope (TLS extension). The DMP checks it
    against the VIHF's mode (a CPx card in DIRECTE, the structure's ORG AUTH_CLI in INDIRECTE); INSi takes its
    mutual-TLS caller from it, with no forwarded-certificate header."""
    from segur_sandbox.simulator.insi import InsiTestClient

    professional, structure, people = population
    directory = ProfessionalDirectory(1, 60)
    other = next(p for p in directory.professionals if p["structure_id"] != professional["structure_id"])
    other_structure = directory.structures_by_id[other["structure_id"]]
    pki = TestPKI.open(tmp_path / "pki", 1, base_url="http://127.0.0.1:8080/pki")
    (tmp_path / "ca.pem").write_bytes(pki.ca_chain_pem())
    own_card = _client_context(tmp_path, pki.professional(professional, structure, usage="auth"), "own-card")
    other_card = _client_context(tmp_path, pki.professional(other, other_structure, usage="auth"), "other-card")
    own_org = _client_context(tmp_path, pki.organisation(structure, "AUTH_CLI"), "own-org")
    other_org = _client_context(tmp_path, pki.organisation(other_structure, "AUTH_CLI"), "other-org")
    insi_org = _client_context(tmp_path, pki.organisation(structure, "INSI-AUTO"), "insi-auto")
    anonymous = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    patient = PatientRef(people[0]["ins"]["nir"] + people[0]["ins"]["key"], people[0]["ins"]["oid"])

    def td02(context: ssl.SSLContext, mode: str):
        with httpx.Client(base_url=base, timeout=30, verify=context) as http:
            client = DmpTestClient(http, pki, professional, structure, mode=mode)
            return client.call("patients", demographics_request(patient), patient=patient)

    with _server(tmp_path, extra=("--tls", "--tls-client-cert", "optional"), probe={"verify": anonymous}) as base:
        # matching certificates are accepted
        assert td02(own_card, "DIRECTE").status == 200
        assert td02(own_org, "INDIRECTE").status == 200
        # another professional's card in DIRECTE, another structure's certificate in INDIRECTE: refused
        refused = td02(other_card, "DIRECTE")
        assert refused.status == 500 and refused.fault.subcode.localname == "DMPInvalidCertificate"
        assert "certificat d'authentification TLS" in refused.fault.reason and "même carte" in refused.fault.reason
        refused = td02(other_org, "INDIRECTE")
        assert refused.status == 500 and refused.fault.subcode.localname == "DMPVIHFInvalid"
        assert "Erreur d'authentification de la personne morale" in refused.fault.reason
        # no client certificate (optional): the VIHF alone decides
        assert td02(anonymous, "DIRECTE").status == 200

        # INSi: the INSI-AUTO certificate of the TLS connection is the caller (no X-SSL-Client-Cert header sent)
        with httpx.Client(base_url=base, timeout=30, verify=insi_org) as http:
            reply = InsiTestClient(http, pki).search_traits("ADRUN", "ZOE", "F", "1975-12-31")
        assert reply.status == 200 and reply.fault is None, reply.raw[:600]
        assert reply.result["code"] in ("00", "01")
        with httpx.Client(base_url=base, timeout=30, verify=anonymous) as http:
            reply = InsiTestClient(http, pki).search_traits("ADRUN", "ZOE", "F", "1975-12-31")
        assert reply.fault is not None, reply.raw[:600]  # neither a certificate nor an assertion: no caller


def test_several_workers_share_one_database(tmp_path, population):
    professional, structure, people = population
    patient = PatientRef(people[3]["ins"]["nir"] + people[3]["ins"]["key"], people[3]["ins"]["oid"])  # NON_EXISTE
    with _server(tmp_path, extra=("--workers", "2")) as base:
        pki = TestPKI.open(tmp_path / "pki", 1, base_url=base + "/pki")
        with httpx.Client(base_url=base, timeout=30) as http:
            client = DmpTestClient(http, pki, professional, structure)
            assert _status(client, patient) == "NON_EXISTE"
            assert client.call("habilitations", set_authorization_request("AJOUT"), patient=patient).status == 200
        # fresh connections land on either worker: every one sees the change
        for _ in range(6):
            with httpx.Client(base_url=base, timeout=30) as http:
                assert _status(DmpTestClient(http, pki, professional, structure), patient) == "VALIDE"
