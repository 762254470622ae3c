"""The admin JSON API (/api) through the real ASGI app: every route's happy path and main error, and the API's
effect on the SOAP side (faults, DMP state, authorizations, the clock)."""
from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.routing import APIRoute
from lxml import etree

from segur_sandbox.fixtures.identity import nir_key
from segur_sandbox.simulator.api import AREAS, PREFIX
from segur_sandbox.simulator.dmp.messages import demographics_request
from segur_sandbox.simulator.security.principal import PatientRef
from segur_sandbox.simulator.store import DocumentEntry, Submission, SubmissionSet
from segur_sandbox.simulator.testing import SOAP12_CT

HL7 = {"h": "urn:hl7-org:v3"}
W = "/api/workspaces"
D = f"{W}/default"


def _td02(sandbox, patient, **client_options):
    return sandbox.client(**client_options).call("patients", demographics_request(patient), patient=patient)


def _authorization_code(reply) -> str:
    return reply.body.xpath("string(h:attentionLine[h:keyWordText/@code='AUTORISATION']/h:value/@code)",
                            namespaces=HL7)


def _scenario_ps(sandbox) -> str:
    return sandbox.summary.scenario_professional["id_nat"]


def _new_record(order: int = 1) -> dict:
    nir = f"29912750{order:02d}123"
    return {"id": f"VENDOR-{order}", "ins": {"nir": nir, "key": nir_key(nir), "oid": "1.2.250.1.213.1.4.10"},
            "traits": {"birth_name": "TESTEUR", "first_names": ["ALICE", "MARIE"], "sex": "F",
                       "birth_date": "1999-12-01", "birth_place": "75056"},
            "address": {"city": "Paris"}}


def _ins(record: dict) -> str:
    return record["ins"]["nir"] + record["ins"]["key"]


def _error(response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body["error"], str) and body["error"]
    return body["error"]


# -- workspaces ----------------------------------------------------------------------------------------------
def test_workspace_lifecycle(sandbox):
    http = sandbox.http
    assert [w["id"] for w in http.get(W).json()] == ["default"]
    created = http.post(W, json={"id": "team-a", "populate": False, "settings": {"vihf_lenient": True}})
    assert created.status_code == 201, created.text
    assert created.json()["counts"]["patients"] == 0 and created.json()["settings"] == {"vihf_lenient": True}
    assert "team-a" in _error(http.post(W, json={"id": "team-a", "populate": False}), 409)
    assert "id" in _error(http.post(W, json={"id": "Team A"}), 422)
    assert "settings.vihf_lenitent" in _error(http.post(W, json={"id": "x", "settings": {"vihf_lenitent": 1}}), 422)

    patched = http.patch(f"{W}/team-a", json={"settings": {"clock_skew_seconds": 60}}).json()
    assert patched["settings"] == {"vihf_lenient": True, "clock_skew_seconds": 60}
    assert http.patch(f"{W}/team-a", json={"settings": {"vihf_lenient": None}}).json()["settings"] == \
        {"clock_skew_seconds": 60}
    _error(http.patch(f"{W}/team-a", json={"settings": {"clock_skew_seconds": -1}}), 422)
    _error(http.patch(f"{W}/nope", json={"settings": {}}), 404)

    detail = http.get(f"{W}/team-a").json()
    assert detail["id"] == "team-a" and detail["clock_offset_seconds"] == 0 and "now" in detail
    _error(http.get(f"{W}/nope"), 404)

    assert http.delete(f"{W}/team-a").status_code == 204
    _error(http.get(f"{W}/team-a"), 404)
    _error(http.delete(f"{W}/team-a"), 404)
    assert "reset" in _error(http.delete(D), 409)


def test_populated_workspace_has_the_population_and_is_isolated(sandbox):
    http = sandbox.http
    created = http.post(W, json={"id": "team-b"})
    assert created.status_code == 201, created.text
    assert created.json()["counts"]["patients"] == 12
    ins = sandbox.scenario(0).ins
    assert http.get(f"{W}/team-b/patients/{ins}").status_code == 200

    http.patch(f"{W}/team-b/patients/{ins}/dmp", json={"state": "CLOSED"}).raise_for_status()
    http.put(f"{W}/team-b/patients/{ins}/authorizations/899000000001", json={"status": "INTERDIT"}).raise_for_status()
    http.put(f"{W}/team-b/clock", json={"offset_seconds": 86_400}).raise_for_status()

    assert http.get(f"{W}/team-b/patients/{ins}").json()["dmp_state"] == "CLOSED"
    default = http.get(f"{D}/patients/{ins}").json()
    assert default["dmp_state"] == "OPEN"
    assert "899000000001" not in [a["ps_id_nat"] for a in default["authorizations"]]
    assert http.get(f"{D}/clock").json()["offset_seconds"] == 0
    # the SOAP side agrees: the scenario professional is still authorised in default
    assert _authorization_code(_td02(sandbox, sandbox.scenario(0))) == "VALIDE"


def test_failed_population_leaves_no_workspace(sandbox):
    def broken(workspace):
        raise RuntimeError("seed exploded")

    sandbox.runtime.populate = broken
    assert "seed exploded" in _error(sandbox.http.post(W, json={"id": "team-c"}), 500)
    _error(sandbox.http.get(f"{W}/team-c"), 404)
    sandbox.runtime.populate = None
    assert "populate=false" in _error(sandbox.http.post(W, json={"id": "team-c"}), 409)
    assert sandbox.http.post(W, json={"id": "team-c", "populate": False}).status_code == 201


def test_reset_empties_then_repopulates(sandbox):
    http = sandbox.http
    ins = sandbox.scenario(0).ins
    http.patch(f"{D}/patients/{ins}/dmp", json={"state": "CLOSED"}).raise_for_status()
    http.post(f"{D}/faults", json={"kind": "http_503"}).raise_for_status()
    http.put(f"{D}/clock", json={"offset_seconds": 3600}).raise_for_status()
    http.patch(D, json={"settings": {"max_query_results": 5}}).raise_for_status()

    emptied = http.post(f"{D}/reset").json()
    assert emptied["counts"] == {k: 0 for k in emptied["counts"]}
    assert emptied["clock_offset_seconds"] == 0 and emptied["settings"] == {"max_query_results": 5}

    refilled = http.post(f"{D}/reset", params={"populate": True}).json()
    assert refilled["counts"]["patients"] == 12 and refilled["counts"]["faults"] == 0
    assert http.get(f"{D}/patients/{ins}").json()["dmp_state"] == "OPEN"
    _error(http.post(f"{W}/nope/reset"), 404)


# -- patients ------------------------------------------------------------------------------------------------
def test_patients_list_and_detail(sandbox):
    http = sandbox.http
    page = http.get(f"{D}/patients", params={"limit": 5}).json()
    assert page["total"] == 12 and len(page["items"]) == 5 and page["offset"] == 0
    second = http.get(f"{D}/patients", params={"limit": 5, "offset": 5}).json()
    assert not {p["ins"] for p in page["items"]} & {p["ins"] for p in second["items"]}

    none = http.get(f"{D}/patients", params={"dmp_state": "NONE"}).json()
    assert sandbox.scenario(4).ins in [p["ins"] for p in none["items"]]
    assert all(p["dmp_state"] == "NONE" for p in none["items"]) and none["total"] == len(none["items"])
    _error(http.get(f"{D}/patients", params={"dmp_state": "open"}), 422)

    detail = http.get(f"{D}/patients/{sandbox.scenario(0).ins}").json()
    assert detail["dmp"]["state"] == "OPEN" and detail["record"]["ins"]["oid"] == "1.2.250.1.213.1.4.10"
    assert detail["medecin_traitant"]["ps_id_nat"] == _scenario_ps(sandbox)
    assert detail["medecin_traitant"]["professional"]["ref"] == "PS-00001"
    statuses = {a["ps_id_nat"]: a["status"] for a in detail["authorizations"]}
    assert statuses[_scenario_ps(sandbox)] == "VALIDE"
    expired = http.get(f"{D}/patients/{sandbox.scenario(1).ins}").json()
    mine = next(a for a in expired["authorizations"] if a["ps_id_nat"] == _scenario_ps(sandbox))
    assert mine["status"] == "EXPIRE" and mine["expires_at"] < datetime.now(UTC).isoformat()
    assert "123456789012345" in _error(http.get(f"{D}/patients/123456789012345"), 404)


def test_dmp_state_changes_reach_td02(sandbox):
    http = sandbox.http
    patient = sandbox.scenario(0)
    closed = http.patch(f"{D}/patients/{patient.ins}/dmp", json={"state": "CLOSED"}).json()
    assert closed["dmp"]["state"] == "CLOSED" and closed["dmp"]["closed_at"]
    assert closed["dmp"]["closure_reason"] == "FERMETURE_DEMANDE_PATIENT"
    reply = _td02(sandbox, patient)
    assert reply.body.xpath("string(//h:subject1/h:patient/h:statusCode/@code)", namespaces=HL7) == "terminated"

    reopened = http.patch(f"{D}/patients/{patient.ins}/dmp",
                          json={"state": "OPEN", "opposition_bris_de_glace": True}).json()
    assert reopened["dmp"]["closed_at"] is None and reopened["dmp"]["opposition_bris_de_glace"] is True
    assert "CLOSED" in _error(http.patch(f"{D}/patients/{patient.ins}/dmp",
                                         json={"closure_reason": "DECES"}), 422)
    assert "cannot be null" in _error(http.patch(f"{D}/patients/{patient.ins}/dmp", json={"mes_attached": None}), 422)
    _error(http.patch(f"{D}/patients/{patient.ins}/dmp", json={"state": "GONE"}), 422)
    _error(http.patch(f"{D}/patients/{patient.ins}/dmp", json={"colour": "blue"}), 422)
    _error(http.patch(f"{D}/patients/123456789012345/dmp", json={"state": "OPEN"}), 404)

    none = http.patch(f"{D}/patients/{patient.ins}/dmp", json={"state": "NONE"}).json()
    assert none["dmp_state"] == "NONE"
    assert _td02(sandbox, patient).body.xpath("string(//h:queryAck/h:queryResponseCode/@code)", namespaces=HL7) == "NF"


def test_create_and_replace_a_patient(sandbox):
    http = sandbox.http
    record = _new_record()
    ins = _ins(record)
    created = http.post(f"{D}/patients", json={"record": record, "dmp": {"internet_account": True}})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["ins"] == ins and body["ref"] == "VENDOR-1" and body["record"]["address"] == {"city": "Paris"}
    assert body["record"]["traits"]["first_name"] == "ALICE"
    assert body["dmp"]["state"] == "OPEN" and body["dmp"]["internet_account"] is True
    assert ins in _error(http.post(f"{D}/patients", json={"record": record}), 409)

    record["traits"]["birth_name"] = "TESTEUSE"
    replaced = http.put(f"{D}/patients/{ins}", json={"record": record})
    assert replaced.status_code == 200
    assert replaced.json()["birth_name"] == "TESTEUSE" and replaced.json()["dmp"]["internet_account"] is True
    other = _new_record(2)
    closed = http.put(f"{D}/patients/{_ins(other)}", json={"record": other, "dmp": {"state": "CLOSED"}})
    assert closed.status_code == 201 and closed.json()["dmp"]["closed_at"]
    assert "URL" in _error(http.put(f"{D}/patients/{ins}", json={"record": other}), 422)

    bad_key = _new_record(3)
    bad_key["ins"]["key"] = f"{(int(bad_key['ins']['key']) + 1) % 100:02d}"
    assert "key" in _error(http.post(f"{D}/patients", json={"record": bad_key}), 422)
    no_traits = {"ins": _new_record(4)["ins"]}
    assert "record.traits" in _error(http.post(f"{D}/patients", json={"record": no_traits}), 422)
    _error(http.post(f"{W}/nope/patients", json={"record": _new_record(5)}), 404)

    # the DMP knows the new patient: TD0.2 answers, with no authorization yet
    reply = _td02(sandbox, PatientRef(ins, "1.2.250.1.213.1.4.10"))
    assert reply.status == 200 and _authorization_code(reply) == "NON_EXISTE"


# -- authorizations ------------------------------------------------------------------------------------------
def test_authorizations_drive_td02(sandbox):
    http = sandbox.http
    patient = sandbox.scenario(3)  # open DMP, no authorization for the scenario professional
    url = f"{D}/patients/{patient.ins}/authorizations/{_scenario_ps(sandbox)}"
    created = http.put(url, json={"status": "VALIDE", "is_mt": True})
    assert created.status_code == 201, created.text
    assert created.json()["is_mt"] is True and created.json()["professional"]["ref"] == "PS-00001"
    assert _authorization_code(_td02(sandbox, patient)) == "VALIDE"
    assert http.get(f"{D}/patients/{patient.ins}").json()["medecin_traitant"]["ps_id_nat"] == _scenario_ps(sandbox)

    blocked = http.put(url, json={"status": "INTERDIT"})
    assert blocked.status_code == 200 and blocked.json()["is_mt"] is False
    assert _authorization_code(_td02(sandbox, patient)) == "INTERDIT"
    listed = http.get(f"{D}/patients/{patient.ins}/authorizations", params={"mode": "INTERDITE"}).json()
    assert [a["ps_id_nat"] for a in listed] == [_scenario_ps(sandbox)]

    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    expired = http.put(url, json={"status": "VALIDE", "expires_at": past}).json()
    assert expired["status"] == "EXPIRE" and expired["expires_at"]
    assert _authorization_code(_td02(sandbox, patient)) == "EXPIRE"

    assert "VALIDE" in _error(http.put(url, json={"status": "INTERDIT", "is_mt": True}), 422)
    _error(http.put(url, json={"status": "PERHAPS"}), 422)
    _error(http.put(url, json={"status": "VALIDE", "expires_at": "2030-01-01T00:00:00"}), 422)  # no zone

    assert http.delete(url).status_code == 204
    assert _authorization_code(_td02(sandbox, patient)) == "NON_EXISTE"
    _error(http.delete(url), 404)
    _error(http.get(f"{D}/patients/123456789012345/authorizations"), 404)
    _error(http.put(f"{D}/patients/123456789012345/authorizations/899", json={"status": "VALIDE"}), 404)


# -- directory -----------------------------------------------------------------------------------------------
def test_professionals_and_structures(sandbox):
    http = sandbox.http
    page = http.get(f"{D}/professionals", params={"limit": 10}).json()
    assert page["total"] == 60 and len(page["items"]) == 10
    first = http.get(f"{D}/professionals/PS-00001").json()
    assert first["id_nat"] == _scenario_ps(sandbox) and first["structure"]["ref"] == first["structure_ref"]
    assert http.get(f"{D}/professionals/{first['id_nat']}").json()["ref"] == "PS-00001"
    _error(http.get(f"{D}/professionals/PS-99999"), 404)
    members = http.get(f"{D}/professionals", params={"structure": first["structure_ref"]}).json()
    assert first["id_nat"] in [p["id_nat"] for p in members["items"]] and members["total"] == len(members["items"])

    structures = http.get(f"{D}/structures").json()
    assert structures["total"] == len(structures["items"]) > 0
    structure = http.get(f"{D}/structures/{first['structure']['id_nat']}").json()
    assert structure["ref"] == first["structure_ref"]
    assert first["id_nat"] in [p["id_nat"] for p in structure["professionals"]]
    _error(http.get(f"{D}/structures/ST-9999"), 404)
    _error(http.get(f"{W}/nope/professionals"), 404)


# -- documents -----------------------------------------------------------------------------------------------
def _store_document(sandbox, ins: str, content: bytes | None = b"<ClinicalDocument/>") -> DocumentEntry:
    now = datetime.now(UTC)
    entry = DocumentEntry(entry_uuid="urn:uuid:00000000-0000-4000-8000-000000000001", unique_id="1.2.3.4.5.1",
                          patient_ins=ins, mime_type="text/xml", submitted_at=now, creation_time=now,
                          title="Note de vaccination", metadata_xml="<ExtrinsicObject/>")
    submission = Submission(
        submission_set=SubmissionSet(entry_uuid="urn:uuid:00000000-0000-4000-8000-000000000002",
                                     unique_id="1.2.3.4.5.2", patient_ins=ins, submission_time=now),
        entries=(entry,), contents={entry.unique_id: content} if content is not None else {})
    with sandbox.runtime.store.transaction() as tx:
        return tx.documents.register_submission("default", submission)[0]


def test_documents(sandbox):
    http = sandbox.http
    ins = sandbox.scenario(0).ins
    entry = _store_document(sandbox, ins)
    listed = http.get(f"{D}/patients/{ins}/documents").json()
    assert listed["total"] == 1 and listed["items"][0]["entry_uuid"] == entry.entry_uuid
    assert listed["items"][0]["status"] == "Approved"
    assert http.get(f"{D}/patients/{ins}/documents", params={"status": "Deleted"}).json()["total"] == 0
    assert http.get(f"{D}/documents", params={"patient": ins}).json()["total"] == 1
    _error(http.get(f"{D}/patients/{ins}/documents", params={"status": "Gone"}), 422)
    _error(http.get(f"{D}/patients/123456789012345/documents"), 404)

    detail = http.get(f"{D}/documents/{entry.entry_uuid}").json()
    assert detail["metadata_xml"] == "<ExtrinsicObject/>" and detail["has_content"] is True
    assert http.get(f"{D}/documents/{entry.unique_id}").json()["entry_uuid"] == entry.entry_uuid
    content = http.get(f"{D}/documents/{entry.entry_uuid}/content")
    assert content.content == b"<ClinicalDocument/>" and content.headers["content-type"].startswith("text/xml")
    assert content.headers["content-security-policy"] == "sandbox" and content.headers["content-disposition"] == "attachment"
    _error(http.get(f"{D}/documents/urn:uuid:unknown"), 404)
    _error(http.get(f"{D}/documents/urn:uuid:unknown/content"), 404)

    deleted = http.delete(f"{D}/documents/{entry.entry_uuid}")
    assert deleted.status_code == 200 and deleted.json()["status"] == "Deleted"
    assert http.get(f"{D}/patients/{ins}/documents", params={"status": ["Approved", "Archived"]}).json()["total"] == 0
    assert http.get(f"{D}/patients/{ins}/documents", params={"status": "Deleted"}).json()["total"] == 1
    assert "already Deleted" in _error(http.delete(f"{D}/documents/{entry.entry_uuid}"), 409)
    _error(http.delete(f"{D}/documents/urn:uuid:unknown"), 404)


def test_archive_and_unarchive_a_document(sandbox):
    http = sandbox.http
    ins = sandbox.scenario(0).ins
    entry = _store_document(sandbox, ins)
    archived = http.patch(f"{D}/documents/{entry.unique_id}", json={"status": "Archived"})
    assert archived.status_code == 200 and archived.json()["status"] == "Archived"
    assert http.get(f"{D}/patients/{ins}/documents", params={"status": "Archived"}).json()["total"] == 1
    assert http.patch(f"{D}/documents/{entry.entry_uuid}", json={"status": "Archived"}).json()["status"] == "Archived"
    assert http.patch(f"{D}/documents/{entry.entry_uuid}", json={"status": "Approved"}).json()["status"] == "Approved"
    _error(http.patch(f"{D}/documents/{entry.entry_uuid}", json={"status": "Deleted"}), 422)
    _error(http.patch(f"{D}/documents/urn:uuid:unknown", json={"status": "Archived"}), 404)
    http.delete(f"{D}/documents/{entry.entry_uuid}")
    assert "only an Approved or Archived" in _error(
        http.patch(f"{D}/documents/{entry.entry_uuid}", json={"status": "Approved"}), 409)


def test_document_without_content(sandbox):
    entry = _store_document(sandbox, sandbox.scenario(0).ins, content=None)
    assert "no stored content" in _error(sandbox.http.get(f"{D}/documents/{entry.entry_uuid}/content"), 404)


# -- exchanges -----------------------------------------------------------------------------------------------
def test_exchange_log_with_since_id_polling(sandbox):
    http = sandbox.http
    start = http.get(f"{D}/exchanges").json()
    assert start == {"items": [], "latest_id": None, "truncated": False}
    patient = sandbox.scenario(0)
    _td02(sandbox, patient)
    first = http.get(f"{D}/exchanges").json()
    assert len(first["items"]) == 1 and first["latest_id"] == first["items"][0]["id"]
    since = first["latest_id"]
    assert http.get(f"{D}/exchanges", params={"since_id": since}).json()["items"] == []

    _td02(sandbox, sandbox.scenario(1))
    _td02(sandbox, patient, vihf_options={"sign": False})  # refused: unsigned VIHF
    newer = http.get(f"{D}/exchanges", params={"since_id": since}).json()
    assert [e["transaction"] for e in newer["items"]] == ["TD0.2", "TD0.2"]
    assert newer["items"][0]["id"] > newer["items"][1]["id"] > since  # newest first
    assert [e["http_status"] for e in newer["items"]] == [500, 200]
    assert newer["items"][0]["verdict"] == "fail" and newer["items"][0]["findings"]

    page = http.get(f"{D}/exchanges", params={"since_id": since, "limit": 1}).json()
    assert page["truncated"] is True and len(page["items"]) == 1
    rest = http.get(f"{D}/exchanges", params={"since_id": since, "before_id": page["items"][0]["id"]}).json()
    assert [e["id"] for e in rest["items"]] == [newer["items"][1]["id"]] and rest["truncated"] is False

    assert len(http.get(f"{D}/exchanges", params={"verdict": "fail"}).json()["items"]) == 1
    assert len(http.get(f"{D}/exchanges", params={"patient": patient.ins}).json()["items"]) == 1  # unsigned: no patient
    assert len(http.get(f"{D}/exchanges", params={"professional": _scenario_ps(sandbox)}).json()["items"]) == 2
    assert http.get(f"{D}/exchanges", params={"transaction": "TD3.1"}).json()["items"] == []
    _error(http.get(f"{D}/exchanges", params={"verdict": "maybe"}), 422)

    one = http.get(f"{D}/exchanges/{since}").json()
    assert one["request"]["encoding"] == "text" and "PRPA_IN201307UV02" in one["request"]["data"]
    assert one["response"]["encoding"] == "text" and "PRPA_IN201308UV02" in one["response"]["data"]
    assert one["principal"]["name_id"] == _scenario_ps(sandbox) and one["duration_ms"] > 0
    raw = http.get(f"{D}/exchanges/{since}/request")
    assert raw.content.startswith(b"<?xml") and "soap+xml" in raw.headers["content-type"]
    # client-sent bytes are never rendered on the sandbox's origin (the console shares it)
    assert raw.headers["content-security-policy"] == "sandbox" and raw.headers["x-content-type-options"] == "nosniff"
    assert raw.headers["content-disposition"] == "attachment"
    _error(http.get(f"{D}/exchanges/999999"), 404)
    _error(http.get(f"{D}/exchanges/abc"), 422)
    _error(http.get(f"{D}/exchanges/{since}/headers"), 422)

    assert http.delete(f"{D}/exchanges").json() == {"removed": 3}
    assert http.get(f"{D}/exchanges").json()["items"] == []


# -- faults --------------------------------------------------------------------------------------------------
def test_soap_fault_fires_once(sandbox):
    http = sandbox.http
    patient = sandbox.scenario(0)
    added = http.post(f"{D}/faults", json={"kind": "soap_fault", "transaction": "TD0.2", "remaining": 1,
                                           "params": {"code": "DMPInternalError", "reason": "Panne simulée"}})
    assert added.status_code == 201, added.text
    assert added.json()["remaining"] == 1 and added.json()["params"]["sender"] is True
    assert [f["id"] for f in http.get(f"{D}/faults").json()] == [added.json()["id"]]

    failed = _td02(sandbox, patient)
    assert failed.status == 500 and failed.fault is not None
    assert failed.fault.subcode.localname == "DMPInternalError" and failed.fault.reason == "Panne simulée"
    assert _td02(sandbox, patient).status == 200
    assert http.get(f"{D}/faults").json() == []
    _error(http.get(f"{D}/faults/{added.json()['id']}"), 404)
    log = http.get(f"{D}/exchanges").json()["items"]
    assert [e["http_status"] for e in log] == [200, 500]


def test_http_503_and_fault_management(sandbox):
    http = sandbox.http
    patient = sandbox.scenario(0)
    other = http.post(f"{D}/faults", json={"kind": "latency", "transaction": "TD3.1", "params": {"ms": 10}}).json()
    unavailable = http.post(f"{D}/faults", json={"kind": "http_503", "transaction": "TD0.2"}).json()
    assert http.get(f"{D}/faults/{unavailable['id']}").json()["kind"] == "http_503"
    assert _td02(sandbox, patient).status == 503
    assert _td02(sandbox, patient).status == 503  # no count: until deleted
    assert [f["id"] for f in http.get(f"{D}/faults", params={"transaction": "TD0.2"}).json()] == [unavailable["id"]]
    assert http.delete(f"{D}/faults/{unavailable['id']}").status_code == 204
    _error(http.delete(f"{D}/faults/{unavailable['id']}"), 404)
    assert _td02(sandbox, patient).status == 200

    http.post(f"{D}/faults", json={"kind": "registry_error", "transaction": "TD3.1",
                                   "params": {"code": "XDSRegistryBusy"}}).raise_for_status()
    assert http.delete(f"{D}/faults").json() == {"removed": 2}
    assert other["params"] == {"ms": 10}


def test_latency_fault_delays_the_answer(sandbox):
    sandbox.http.post(f"{D}/faults", json={"kind": "latency", "transaction": "TD0.2", "remaining": 1,
                                       "params": {"ms": 150}}).raise_for_status()
    started = time.monotonic()
    assert _td02(sandbox, sandbox.scenario(0)).status == 200
    assert time.monotonic() - started >= 0.15  # the client waited
    line = sandbox.http.get(f"{D}/exchanges").json()["items"][0]
    assert line["duration_ms"] >= 150  # the log says what the client saw
    assert any(f["rule"] == "SANDBOX-FAULT" and "latency" in f["message"] for f in line["findings"])


def test_drop_connection_cuts_the_answer(sandbox):
    sandbox.http.post(f"{D}/faults", json={"kind": "drop_connection", "transaction": "TD0.2",
                                           "remaining": 1}).raise_for_status()
    patient = sandbox.scenario(0)
    client = sandbox.client()
    data = etree.tostring(client.envelope("patients", demographics_request(patient), patient=patient))
    cut = sandbox.http.post(client.url("patients"), content=data, headers={"content-type": SOAP12_CT})
    assert int(cut.headers["content-length"]) > len(cut.content)  # announced a body, closed before it
    assert _td02(sandbox, patient).status == 200


@pytest.mark.parametrize("body,where", [
    ({"kind": "teleport"}, "kind"),
    ({"kind": "latency", "params": {"ms": -5}}, "params.ms"),
    ({"kind": "latency"}, "params"),
    ({"kind": "soap_fault", "params": {"code": "X"}}, "params.reason"),
    ({"kind": "http_503", "transaction": "TD9.9"}, "unknown transaction"),
    ({"kind": "registry_error", "transaction": "TD0.2", "params": {"code": "X"}}, "XDS"),
    ({"kind": "http_503", "remaining": 0}, "remaining"),
    ({"kind": "http_503", "colour": "red"}, "colour"),
])
def test_bad_faults_are_refused_clearly(sandbox, body, where):
    assert where in _error(sandbox.http.post(f"{D}/faults", json=body), 422)


# -- clock ---------------------------------------------------------------------------------------------------
def _close(a: str, b: datetime, seconds: float = 5) -> bool:
    return abs((datetime.fromisoformat(a) - b).total_seconds()) < seconds


def test_clock_offset_moves_now(sandbox):
    http = sandbox.http
    clock = http.get(f"{D}/clock").json()
    assert clock["offset_seconds"] == 0 and _close(clock["now"], datetime.now(UTC))

    moved = http.put(f"{D}/clock", json={"offset_seconds": 3600}).json()
    assert moved["offset_seconds"] == 3600 and _close(moved["now"], datetime.now(UTC) + timedelta(hours=1))
    assert _close(http.get(f"{D}/clock").json()["now"], datetime.now(UTC) + timedelta(hours=1))
    assert _close(http.get(D).json()["now"], datetime.now(UTC) + timedelta(hours=1))

    target = datetime(2030, 1, 1, 8, 0, tzinfo=UTC)
    at = http.put(f"{D}/clock", json={"now": "2030-01-01T09:00:00+01:00"}).json()
    assert _close(at["now"], target) and at["offset_seconds"] > 0

    assert http.delete(f"{D}/clock").json()["offset_seconds"] == 0
    assert "exactly one" in _error(http.put(f"{D}/clock", json={}), 422)
    both = {"offset_seconds": 1, "now": "2030-01-01T00:00:00Z"}
    assert "exactly one" in _error(http.put(f"{D}/clock", json=both), 422)
    assert "timezone" in _error(http.put(f"{D}/clock", json={"now": "2030-01-01T00:00:00"}), 422)
    _error(http.put(f"{D}/clock", json={"offset_seconds": 10**12}), 422)
    _error(http.get(f"{W}/nope/clock"), 404)


def test_clock_drives_authorization_expiry(sandbox):
    http = sandbox.http
    patient = sandbox.scenario(3)
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    url = f"{D}/patients/{patient.ins}/authorizations/{_scenario_ps(sandbox)}"
    assert http.put(url, json={"status": "VALIDE", "expires_at": tomorrow}).json()["status"] == "VALIDE"
    http.put(f"{D}/clock", json={"offset_seconds": 2 * 86_400}).raise_for_status()
    mine = next(a for a in http.get(f"{D}/patients/{patient.ins}/authorizations").json()
                if a["ps_id_nat"] == _scenario_ps(sandbox))
    assert mine["status"] == "EXPIRE"


# -- the API as a whole --------------------------------------------------------------------------------------
def _api_routes() -> list[tuple[str, str]]:
    """(method, full path) of every admin API route, from the area routers the API is made of."""
    return [(method, PREFIX + route.path) for area in AREAS for route in area.router.routes
            if isinstance(route, APIRoute) for method in sorted(route.methods)]


def test_openapi_lists_every_route(sandbox):
    spec = sandbox.http.get("/openapi.json").json()
    routes = _api_routes()
    assert len(routes) >= 30
    for method, path in routes:
        operation = spec["paths"][path][method.lower()]
        assert operation["tags"], path
        assert "422" in operation["responses"] and "404" in operation["responses"]
        assert [code for code in operation["responses"] if code.startswith("2")], (method, path)
    schemas = spec["components"]["schemas"]
    for model in ("WorkspaceDetail", "PatientDetail", "AuthorizationOut", "DocumentDetail", "ExchangeDetail",
                  "FaultOut", "ClockOut", "ErrorOut", "ValidationErrorOut", "LatencyFault", "ProfessionalDetail"):
        assert model in schemas
    assert set(schemas["WorkspaceSettingsPatch"]["properties"]) >= {"vihf_lenient", "clock_skew_seconds",
                                                                    "max_query_results"}


def test_no_route_answers_5xx_to_malformed_input(sandbox):
    http = sandbox.http
    ins = sandbox.scenario(0).ins
    garbage = [b"{", b"[]", b"null", b'"text"', b"42", b'{"id": {"nested": [1, 2]}}', "{\"é\": \"\u0000\"}".encode(),
               b'{"status": 1e999}', b"\xff\xfe"]
    for method, template in _api_routes():
        if method in ("GET", "HEAD"):
            continue
        path = (template.replace("{workspace}", "default").replace("{ins}", ins).replace("{id_nat}", "899")
                .replace("{exchange_id}", "1").replace("{fault_id}", "1").replace("{part}", "request")
                .replace("{document_id}", "x").replace("{key}", "x"))
        for data in garbage:
            response = http.request(method, path, content=data, headers={"content-type": "application/json"})
            assert response.status_code < 500, (method, path, data, response.text)
            if response.status_code >= 400:
                assert "error" in response.json()
    for url in (f"{D}/patients?limit=-1", f"{D}/patients?offset=x", f"{D}/exchanges?since_id=-3",
                f"{D}/exchanges/99999999999999999999999", f"{D}/faults/1.5", f"{D}/documents?status=",
                f"{W}/%00/patients/{ins}"):
        response = http.get(url)
        assert response.status_code in (404, 422), (url, response.text)
        assert "error" in response.json()


def test_xds_and_insi_settings_and_faults_can_be_set_through_the_api(sandbox):
    http = sandbox.http
    patched = http.patch(f"{D}", json={"settings": {"require_xades": False, "insi_not_found_fault": True,
                                                    "insi_idam_allowed": ["MON-IDAM-0001"]}})
    assert patched.status_code == 200, patched.text
    settings = http.get(f"{D}").json()["settings"]
    assert settings["require_xades"] is False and settings["insi_idam_allowed"] == ["MON-IDAM-0001"]
    fault = http.post(f"{D}/faults", json={"kind": "soap_fault", "transaction": "rechercherInsAvecTraitsIdentite",
                                           "params": {"code": "insi_102", "reason": "panne simulée"}})
    assert fault.status_code == 201, fault.text
    _error(http.patch(f"{D}", json={"settings": {"no_such_setting": 1}}), 422)
