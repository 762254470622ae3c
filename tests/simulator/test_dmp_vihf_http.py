"""VIHF negatives end to end: each broken assertion sent over HTTP gets its DMP fault, and nothing is changed."""
from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone

import pytest
from lxml import etree

from segur_sandbox.simulator.dmp.messages import demographics_request, set_authorization_request
from segur_sandbox.simulator.security import build_vihf, wsse_security
from segur_sandbox.simulator.soap import build_envelope, new_message_id
from segur_sandbox.simulator.testing import SOAP12_CT, parse_reply

SAML = "urn:oasis:names:tc:SAML:2.0:assertion"


def _post(sandbox, envelope: etree._Element):
    data = etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
    response = sandbox.http.post("/si-dmp-server/v2/services/patients", content=data,
                                 headers={"content-type": SOAP12_CT})
    return parse_reply(response)


def _envelope(client, patient, security: etree._Element) -> etree._Element:
    return build_envelope(demographics_request(patient), action="urn:hl7-org:v3:PRPA_IN201307UV02",
                          message_id=new_message_id(), to=None, extra_headers=[security])


def _assertion(sandbox, client, patient, **options) -> etree._Element:
    options.setdefault("signer", client.signer())
    return build_vihf(professional=client.professional, structure=client.structure, patient=patient,
                      now=options.pop("now", datetime.now(timezone.utc)), **options)


def _tampered(assertion: etree._Element) -> etree._Element:
    forged = copy.deepcopy(assertion)
    for value in forged.iter(f"{{{SAML}}}AttributeValue"):
        if value.text and value.text.startswith(("1", "3", "4")):  # Identifiant_Structure
            value.text = "10B0000000"
            break
    return forged


CASES = {
    "unsigned": (lambda s, c, p: _assertion(s, c, p, sign=False), "DMPVIHFInvalid", "pas signée"),
    "bad signature": (lambda s, c, p: _tampered(_assertion(s, c, p)), "DMPVIHFInvalid", "modifié après signature"),
    "expired certificate": (lambda s, c, p: _assertion(s, c, p, signer=s.pki.professional(
        c.professional, c.structure, usage="sign", variant="expired")), "DMPInvalidCertificate", "expir"),
    "authentication certificate": (lambda s, c, p: _assertion(s, c, p, signer=s.pki.professional(
        c.professional, c.structure, usage="auth")), "DMPInvalidCertificate", "Not a valid signature certificate"),
    "too old": (lambda s, c, p: _assertion(s, c, p, now=datetime.now(timezone.utc) - timedelta(hours=3)),
                "DMPVIHFInvalid", "VIHF expiré"),
    "missing attribute": (lambda s, c, p: _assertion(s, c, p, omit=("Secteur_Activite",)), "DMPVIHFInvalid",
                          "Secteur_Activite"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_broken_vihf_gets_its_fault_over_http(sandbox, case):
    make, code, words = CASES[case]
    client, patient = sandbox.client(), sandbox.scenario(0)
    reply = _post(sandbox, _envelope(client, patient, wsse_security(make(sandbox, client, patient))))
    assert reply.status == 500, reply.raw[:300]
    assert reply.fault.subcode.localname == code
    assert words in reply.fault.reason, reply.fault.reason
    with sandbox.runtime.store.transaction(readonly=True) as tx:
        logged = tx.exchanges.list("default", limit=1)[0]
    assert logged.verdict == "fail" and logged.http_status == 500


def test_patient_mismatch_and_wrapping_over_http(sandbox):
    client, patient, other = sandbox.client(), sandbox.scenario(0), sandbox.scenario(3)
    # the VIHF names another patient than the request
    reply = _post(sandbox, _envelope(client, patient, wsse_security(_assertion(sandbox, client, other))))
    assert reply.fault.subcode.localname == "DMPVIHFInvalid" and "différent du VIHF" in reply.fault.reason
    # wrapping: an unsigned assertion for the other patient placed before a valid signed one
    security = wsse_security(_assertion(sandbox, client, other, sign=False))
    security.append(_assertion(sandbox, client, other))
    reply = _post(sandbox, _envelope(client, other, security))
    assert reply.status == 500 and reply.fault.subcode.localname == "DMPVIHFInvalid"


def test_a_refused_vihf_changes_nothing(sandbox):
    client, patient = sandbox.client(), sandbox.scenario(3)  # NON_EXISTE for this professional
    body = set_authorization_request("AJOUT")
    assertion = _assertion(sandbox, client, patient, signer=sandbox.pki.professional(
        client.professional, client.structure, usage="auth"))
    envelope = build_envelope(body, action="urn:si-dmp-habilitations:HabilitationsEndPoint:setAuthorization",
                              message_id=new_message_id(), to=None, extra_headers=[wsse_security(assertion)])
    response = sandbox.http.post("/si-dmp-server/v2/services/habilitations",
                                 content=etree.tostring(envelope), headers={"content-type": SOAP12_CT})
    assert response.status_code == 500
    with sandbox.runtime.store.transaction(readonly=True) as tx:
        assert tx.authorizations.status("default", patient.ins, client.professional["id_nat"],
                                        datetime.now(timezone.utc)) == "NON_EXISTE"
