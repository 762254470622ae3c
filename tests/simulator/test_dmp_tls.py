"""The TLS client certificate against the VIHF's authentication mode (security/tls_client.py), in process: the app
behind a wrapper that puts the ASGI TLS extension in the scope, as ``serve --tls`` does (asgi_tls.py; the real
server is in test_server.py)."""
from __future__ import annotations

from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient

from segur_sandbox.simulator.app import create_app
from segur_sandbox.simulator.asgi_tls import _with_tls
from segur_sandbox.simulator.dmp.messages import demographics_request
from segur_sandbox.simulator.testing import DmpTestClient


def _extension(issued) -> dict:
    return {"server_cert": None, "client_cert_chain": [issued.cert_pem().decode()], "client_cert_name": None,
            "client_cert_error": None, "tls_version": 0x0304, "cipher_suite": None}


@contextmanager
def _over_tls(sandbox, issued):
    with TestClient(_with_tls(create_app(sandbox.runtime), _extension(issued))) as http:
        yield http


def _other(sandbox, *, other_structure: bool) -> tuple[dict, dict]:
    """Another professional of the population (and its structure); with ``other_structure``, one of another
    structure."""
    professional, structure = sandbox.professional(0)
    for index in range(1, 40):
        candidate, candidate_structure = sandbox.professional(index)
        if candidate["id_nat"] != professional["id_nat"] and (
                not other_structure or candidate_structure["id_nat"] != structure["id_nat"]):
            return candidate, candidate_structure
    raise AssertionError("no other professional / structure in the population")


def _td02(sandbox, http, mode: str):
    professional, structure = sandbox.professional(0)
    client = DmpTestClient(http, sandbox.pki, professional, structure, mode=mode)
    patient = sandbox.scenario(0)
    return client.call("patients", demographics_request(patient), patient=patient)


def _certificate(sandbox, which: str):
    pki = sandbox.pki
    professional, structure = sandbox.professional(0)
    other_ps, other_ps_structure = _other(sandbox, other_structure=False)
    _, other_structure = _other(sandbox, other_structure=True)
    return {
        "own card": lambda: pki.professional(professional, structure, usage="auth"),
        "own card, signature key": lambda: pki.professional(professional, structure, usage="sign"),
        "own card, revoked": lambda: pki.professional(professional, structure, usage="auth", variant="revoked"),
        "other card": lambda: pki.professional(other_ps, other_ps_structure, usage="auth"),
        "own structure": lambda: pki.organisation(structure, "AUTH_CLI"),
        "other structure": lambda: pki.organisation(other_structure, "AUTH_CLI"),
    }[which]()


CASES = [
    # (VIHF mode, TLS certificate, expected fault subcode or None, words of the reason)
    ("DIRECTE", "own card", None, ""),
    ("DIRECTE", "other card", "DMPInvalidCertificate", "même carte"),
    ("DIRECTE", "own structure", "DMPInvalidCertificate", "le mode DIRECTE exige le certificat d'authentification"),
    ("DIRECTE", "own card, signature key", "DMPInvalidCertificate", "Not a valid authentication certificate"),
    ("DIRECTE", "own card, revoked", "DMPInvalidCertificate", "revoked"),
    ("INDIRECTE", "own structure", None, ""),
    ("INDIRECTE", "other structure", "DMPVIHFInvalid", "Erreur d'authentification de la personne morale"),
    ("INDIRECTE", "own card", "DMPInvalidCertificate", "exige le certificat ORG AUTH_CLI"),
]


@pytest.mark.parametrize(("mode", "which", "code", "words"), CASES, ids=[f"{m}-{w}" for m, w, _, _ in CASES])
def test_tls_certificate_must_fit_the_vihf_mode(sandbox, mode, which, code, words):
    with _over_tls(sandbox, _certificate(sandbox, which)) as http:
        reply = _td02(sandbox, http, mode)
    if code is None:
        assert reply.status == 200 and reply.fault is None, reply.raw[:600]
        return
    assert reply.status == 500, reply.raw[:600]
    assert reply.fault.subcode.localname == code
    assert words in reply.fault.reason, reply.fault.reason
    assert "TLS" in reply.fault.reason
    with sandbox.runtime.store.transaction(readonly=True) as tx:
        logged = tx.exchanges.list("default", limit=1)[0]
    assert logged.verdict == "fail" and logged.http_status == 500 and logged.transaction == "TD0.2"


def test_the_check_can_be_switched_off_per_workspace(sandbox):
    response = sandbox.http.patch("/api/workspaces/default", json={"settings": {"tls_vihf_check": False}})
    assert response.status_code == 200, response.text
    with _over_tls(sandbox, _certificate(sandbox, "other card")) as http:
        assert _td02(sandbox, http, "DIRECTE").status == 200
    sandbox.http.patch("/api/workspaces/default", json={"settings": {"tls_vihf_check": None}})
    with _over_tls(sandbox, _certificate(sandbox, "other card")) as http:
        assert _td02(sandbox, http, "DIRECTE").status == 500


def test_without_a_client_certificate_nothing_is_compared(sandbox):
    # plain HTTP (or TLS without a client certificate): the VIHF alone decides, in every mode
    assert _td02(sandbox, sandbox.http, "DIRECTE").status == 200
    assert _td02(sandbox, sandbox.http, "INDIRECTE").status == 200
