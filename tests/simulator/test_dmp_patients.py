"""TD0.2 and friends end to end: raw HTTP to the ASGI app, lxml on the answers."""
from __future__ import annotations

import pytest
from lxml import etree

from segur_sandbox.simulator.dmp.messages import demographics_request, set_authorization_request

HL7 = {"h": "urn:hl7-org:v3"}


def _auth(body: etree._Element) -> tuple[str, str]:
    status = body.xpath("string(h:attentionLine[h:keyWordText/@code='AUTORISATION']/h:value/@code)", namespaces=HL7)
    mt = body.xpath("string(h:attentionLine[h:keyWordText/@code='STATUT_MT']/h:value/@value)", namespaces=HL7)
    return status, mt


@pytest.mark.parametrize("scenario,expected", [(0, ("VALIDE", "true")), (1, ("EXPIRE", "false")),
                                               (2, ("INTERDIT", "false")), (3, ("NON_EXISTE", "false"))])
def test_td02_reports_each_authorisation_status(sandbox, scenario, expected):
    patient = sandbox.scenario(scenario)
    reply = sandbox.client().call("patients", demographics_request(patient), patient=patient)
    assert reply.status == 200, reply.raw[:500]
    assert reply.fault is None
    assert _auth(reply.body) == expected
    assert reply.body.xpath("string(//h:queryAck/h:queryResponseCode/@code)", namespaces=HL7) == "OK"
    assert reply.message.addressing.action == "urn:hl7-org:v3:PRPA_IN201308UV02"


def test_td02_answers_nf_when_the_patient_has_no_dmp(sandbox):
    patient = sandbox.scenario(4)
    reply = sandbox.client().call("patients", demographics_request(patient), patient=patient)
    assert reply.status == 200
    assert reply.body.xpath("string(//h:queryAck/h:queryResponseCode/@code)", namespaces=HL7) == "NF"


def test_td02_closed_dmp_is_terminated(sandbox):
    patient = sandbox.scenario(5)
    reply = sandbox.client().call("patients", demographics_request(patient), patient=patient)
    assert reply.body.xpath("string(//h:subject1/h:patient/h:statusCode/@code)", namespaces=HL7) == "terminated"


def test_vihf_patient_must_be_the_request_patient(sandbox):
    patient, other = sandbox.scenario(0), sandbox.scenario(1)
    reply = sandbox.client().call("patients", demographics_request(patient), patient=other)
    assert reply.status == 500
    assert reply.fault is not None and "patient de la requête différent du VIHF" in reply.fault.reason


def test_td03_then_td02_turns_non_existe_into_valide_and_is_logged(sandbox):
    patient = sandbox.scenario(3)
    client = sandbox.client()
    reply = client.call("habilitations", set_authorization_request("AJOUT"), patient=patient)
    assert reply.status == 200 and reply.fault is None
    assert _auth(client.call("patients", demographics_request(patient), patient=patient).body)[0] == "VALIDE"
    with sandbox.runtime.store.transaction(readonly=True) as tx:
        log = tx.exchanges.list("default", transaction="TD0.3")
    assert len(log) == 1 and log[0].verdict == "pass" and log[0].patient_ins == patient.ins


def test_td03_refused_when_the_patient_blocked_the_professional(sandbox):
    patient = sandbox.scenario(2)
    client = sandbox.client()
    reply = client.call("habilitations", set_authorization_request("AJOUT"), patient=patient)
    assert reply.status == 500
    assert reply.fault.subcode.localname == "DMPAccessDeniedByRightsService"
    with sandbox.runtime.store.transaction(readonly=True) as tx:
        logged = tx.exchanges.list("default", transaction="TD0.3")[0]
    # a refused call is still logged with who asked, for which patient, and why
    assert (logged.verdict, logged.professional, logged.patient_ins) == ("fail", client.professional["id_nat"],
                                                                         patient.ins)
    assert logged.findings[-1].rule == "FAULT-DMPAccessDeniedByRightsService"


def test_unknown_workspace_is_a_clear_fault(sandbox):
    patient = sandbox.scenario(0)
    reply = sandbox.client(workspace="nope").call("patients", demographics_request(patient), patient=patient)
    assert reply.status == 500 and "nope" in reply.fault.reason


def test_unsigned_vihf_is_refused_unless_the_workspace_is_lenient(sandbox):
    patient = sandbox.scenario(0)
    client = sandbox.client(vihf_options={"sign": False})
    reply = client.call("patients", demographics_request(patient), patient=patient)
    assert reply.status == 500 and reply.fault.subcode.localname == "DMPVIHFInvalid"
    with sandbox.runtime.store.transaction() as tx:
        tx.workspaces.update_settings("default", {"vihf_lenient": True})
    assert client.call("patients", demographics_request(patient), patient=patient).status == 200


def test_garbage_gets_a_soap_fault_not_a_crash(sandbox):
    response = sandbox.http.post("/si-dmp-server/v2/services/patients", content=b"<<<not xml",
                                 headers={"content-type": "application/soap+xml"})
    assert response.status_code == 500
    assert b"Fault" in response.content


def test_the_conformance_rules_run_live_on_every_exchange(sandbox):
    from segur_sandbox.simulator.soap import build_envelope, new_message_id
    from segur_sandbox.simulator.security import wsse_security
    from segur_sandbox.simulator.testing import SOAP12_CT

    patient = sandbox.scenario(0)
    client = sandbox.client()
    assert client.call("patients", demographics_request(patient), patient=patient).status == 200
    with sandbox.runtime.store.transaction(readonly=True) as tx:
        clean = tx.exchanges.list("default", transaction="TD0.2")[0]
    assert clean.verdict == "pass" and not [f for f in clean.findings if f.severity == "error"]

    # the server tolerates a request without wsa:MessageID; the conformance rule TRN-003 records it
    envelope = build_envelope(demographics_request(patient), action="urn:hl7-org:v3:PRPA_IN201307UV02",
                              message_id=new_message_id(), to=None, extra_headers=[wsse_security(client.vihf(patient))])
    header = envelope[0]
    header.remove(header.find("{http://www.w3.org/2005/08/addressing}MessageID"))
    response = sandbox.http.post("/si-dmp-server/v2/services/patients", content=etree.tostring(envelope),
                                 headers={"content-type": SOAP12_CT})
    assert response.status_code == 200
    with sandbox.runtime.store.transaction(readonly=True) as tx:
        logged = tx.exchanges.list("default", transaction="TD0.2")[0]
    assert logged.verdict == "fail"
    assert "TRN-003" in {f.rule for f in logged.findings}
