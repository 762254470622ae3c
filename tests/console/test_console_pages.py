"""Every console page through the ASGI app (no browser): it answers, shows what it must, with French labels beside
the codes, and turns bad input into a clear 4xx page, never a 500."""
from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from segur_sandbox.simulator.console.demo import WORKSPACE, Demo

WS = f"/ui/w/{WORKSPACE}"


@pytest.fixture(scope="module")
def demo(tmp_path_factory, sandbox_pki):
    built = Demo.build(tmp_path_factory.mktemp("console"), pki=sandbox_pki, sample_exchanges=True)
    yield built
    built.close()


@pytest.fixture
def http(demo):
    with TestClient(demo.app, follow_redirects=False) as client:
        yield client


def ok(http, path: str) -> str:
    answer = http.get(path)
    assert answer.status_code == 200, (path, answer.status_code, answer.text[:500])
    assert answer.headers["content-type"].startswith("text/html")
    return answer.text


def refused(http, path: str, status: int) -> str:
    answer = http.get(path)
    assert answer.status_code == status, (path, answer.status_code, answer.text[:300])
    assert answer.headers["content-type"].startswith("text/html")  # an HTML page, not the API's JSON
    return answer.text


def post(http, path: str, data: dict, **headers):
    return http.post(path, data=data, headers=headers)


def latest_exchange(demo) -> int:
    with demo.runtime.store.transaction(readonly=True) as tx:
        return tx.exchanges.latest_id(WORKSPACE) or 0


# -- workspaces and patients ------------------------------------------------------------------------------------
def test_home_and_workspace_overview(http):
    assert http.get("/ui").status_code in (307, 308)  # to /ui/
    home = ok(http, "/ui/")
    assert f'href="/ui/w/{WORKSPACE}"' in home
    overview = ok(http, WS)
    assert "Derniers échanges" in overview and 'data-live-url="/ui/w/default/exchanges/live"' in overview
    assert "TD0.2</code>" in overview and "Test d&#39;existence du DMP" in overview  # code and label
    assert "Aucun espace" in refused(http, "/ui/w/nope", 404)


def test_patient_list_search_and_bad_filters(http, demo):
    page = ok(http, f"{WS}/patients")
    assert demo.patient.ins in page and "DMP ouvert" in page and "Identité" in page
    searched = ok(http, f"{WS}/patients?q={demo.patient.ins}")
    assert searched.count("<tr>") == 2  # the header row and the one patient
    assert "Aucun patient" in ok(http, f"{WS}/patients?q=ZZZZZZ")
    ok(http, f"{WS}/patients?dmp_state=CLOSED")
    assert "Valeur inconnue" in refused(http, f"{WS}/patients?dmp_state=SHUT", 422)
    refused(http, f"{WS}/patients?offset=-1", 422)
    refused(http, f"{WS}/patients?offset=abc", 422)
    refused(http, f"{WS}/patients?q={'x' * 101}", 422)


def test_patient_page_shows_identity_ins_vitale_dmp_and_rights(http, demo):
    page = ok(http, f"{WS}/patients/{demo.patient.ins}")
    with demo.runtime.store.transaction(readonly=True) as tx:
        record = tx.patients.require(WORKSPACE, demo.patient.ins).record
    assert record["traits"]["birth_name"] in page
    assert "1.2.250.1.213.1.4.10</code> — <span class=\"label\">INS-NIR de test" in page
    status = record["identity_status"]
    assert f"<code>{status}</code> — " in page
    assert record["vitale"]["serial"] in page and "Bénéficiaires de la carte" in page
    assert "Médecin traitant DMP" in page and demo.professional["family"] in page
    assert "VALIDE</code> — <span class=\"label\">Autorisé" in page
    assert "Note de vaccination" in page  # the fed documents
    assert 'data-action="dmp-closed"' in page  # the quick DMP actions
    assert "Aucun patient" not in page
    refused(http, f"{WS}/patients/000000000000000", 404)


def test_dmp_state_actions(http, demo):
    ins = demo.scenarios[3].ins  # open, no authorisation of the demo professional: nothing else depends on it
    path = f"{WS}/patients/{ins}/dmp"
    answer = post(http, path, {"state": "CLOSED"})
    assert answer.status_code == 303 and answer.headers["location"].endswith(f"/patients/{ins}?saved=dmp")
    with demo.runtime.store.transaction(readonly=True) as tx:
        patient = tx.patients.require(WORKSPACE, ins)
    assert patient.dmp_state == "CLOSED" and patient.closure_reason == "FERMETURE_DEMANDE_PATIENT"
    assert patient.closed_at is not None
    page = ok(http, f"{WS}/patients/{ins}?saved=dmp")
    assert "L&#39;état du DMP a été enregistré" in page and "Fermeture à la demande du patient" in page

    full_form = {"state": "OPEN", "flags": "1", "mes_attached": "1", "opposition_bris_de_glace": "1"}
    assert post(http, path, full_form).status_code == 303
    with demo.runtime.store.transaction(readonly=True) as tx:
        patient = tx.patients.require(WORKSPACE, ins)
    assert (patient.dmp_state, patient.closed_at, patient.mes_attached, patient.internet_account,
            patient.opposition_bris_de_glace) == ("OPEN", None, True, False, True)

    assert post(http, path, {"state": "GONE"}).status_code == 422
    assert post(http, f"{WS}/patients/000000000000000/dmp", {"state": "OPEN"}).status_code == 404
    assert post(http, path, {"state": "NONE"}, origin="http://evil.example").status_code == 403
    assert post(http, path, {"state": "NONE"}, **{"sec-fetch-site": "cross-site"}).status_code == 403
    assert http.post(path, json={"state": "NONE"}).status_code == 415
    with demo.runtime.store.transaction(readonly=True) as tx:
        assert tx.patients.require(WORKSPACE, ins).dmp_state == "OPEN"  # none of the refused posts changed it


# -- documents --------------------------------------------------------------------------------------------------
def test_n3_document_is_rendered_as_sections_and_entries(http, demo):
    page = ok(http, f"{WS}/documents/{demo.documents['VAC-NOTE']}")
    assert "87273-9</code> — <span class=\"label\">Note de vaccination" in page
    assert "Corps structuré (N3)" in page and "Historique des vaccinations" in page
    assert re.search(r"<table><thead><tr><th>Date</th><th>Vaccin</th>", page)  # the narrative, rebuilt
    assert "Administration d&#39;un produit de santé" in page and "N° de lot" in page
    assert "Versions" in page and "Signature XAdES du lot" in page
    assert "Visible du patient et des professionnels autorisés" in page


def test_n1_document_shows_its_pdf_inline(http, demo):
    entry = demo.documents["CR-BIO"]
    page = ok(http, f"{WS}/documents/{entry}")
    assert "Corps non structuré (N1" in page and f'data="/ui/w/default/documents/{entry}/pdf"' in page
    pdf = http.get(f"{WS}/documents/{entry}/pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF") and pdf.headers["content-disposition"].startswith("inline")
    assert "pas de PDF" in refused(http, f"{WS}/documents/{demo.documents['VAC-NOTE']}/pdf", 404)
    refused(http, f"{WS}/documents/urn:uuid:00000000-0000-0000-0000-000000000000", 404)


# -- the exchange log -------------------------------------------------------------------------------------------
def test_exchange_log_filters(http, demo):
    page = ok(http, f"{WS}/exchanges")
    assert "TD2.1" in page and "TD0.3" in page and "Non conforme" in page and "Conforme" in page
    only = ok(http, f"{WS}/exchanges?transaction=TD0.3")
    assert "<code>TD0.3</code>" in only and "<code>TD2.1</code>" not in only.split("<tbody>")[1]
    failed = ok(http, f"{WS}/exchanges?verdict=fail")
    assert 'class="badge v-pass"' not in failed.split("<tbody>")[1]
    by_patient = ok(http, f"{WS}/exchanges?patient={demo.scenarios[2].ins}")
    assert by_patient.split("<tbody>")[1].count("<tr") == 2  # TD0.2 and the refused TD0.3
    assert f"data-query=\"patient={demo.scenarios[2].ins}\"" in by_patient  # live updates keep the filters
    ok(http, f"{WS}/exchanges?professional={demo.professional['id_nat']}&transaction=&verdict=")
    refused(http, f"{WS}/exchanges?transaction=TD9.9", 422)
    refused(http, f"{WS}/exchanges?verdict=maybe", 422)
    refused(http, f"{WS}/exchanges?before_id=0", 422)
    refused(http, f"{WS}/exchanges?before_id={2**64}", 422)


def test_live_endpoint_gives_the_newer_rows(http, demo):
    latest = latest_exchange(demo)
    everything = http.get(f"{WS}/exchanges/live?since_id=0").json()
    assert everything["latest_id"] == latest and everything["count"] == latest and not everything["reset"]
    assert f'data-id="{latest}"' in everything["rows"] and 'class="fresh"' in everything["rows"]
    nothing = http.get(f"{WS}/exchanges/live", params={"since_id": latest}).json()
    assert nothing["count"] == 0 and nothing["rows"].strip() == ""
    assert http.get(f"{WS}/exchanges/live", params={"since_id": latest + 50}).json()["reset"]  # log was emptied
    filtered = http.get(f"{WS}/exchanges/live", params={"since_id": 0, "transaction": "TD0.3"}).json()
    assert filtered["count"] == 1
    refused(http, f"{WS}/exchanges/live", 422)  # since_id is required
    refused(http, f"{WS}/exchanges/live?since_id=-1", 422)
    refused(http, "/ui/w/nope/exchanges/live?since_id=0", 404)


def test_exchange_page_findings_point_into_the_request(http, demo):
    sloppy = latest_exchange(demo)  # the demo's last call: a VIHF without LPS_Version nor purpose of use
    page = ok(http, f"{WS}/exchanges/{sloppy}")
    assert "VIHF-006" in page and "SC.DMP/CONF.12" in page  # rule id and its requirement reference
    assert "every mandatory attribute is present" in page  # the rule's title from the catalogue
    anchors = re.findall(r'class="locate" href="#(req-\d+)"', page)
    assert anchors and all(f'<mark class="x-mark" id="{a}"' in page for a in anchors)
    # the VIHF as a table, codes with their French labels
    assert "Secteur_Activite" in page and "Cabinet individuel" in page
    assert "Authentification directe (carte CPx)" in page and "Médecin" in page
    assert "<h2 id=\"h-response\">Réponse</h2>" in page and "soap:Fault" in page.replace("&lt;", "<")


def test_mtom_parts_are_shown_apart_and_downloadable(http, demo):
    page = ok(http, f"{WS}/exchanges/1")  # the first TD2.1, fed as MTOM
    assert "Partie MIME 1 — enveloppe SOAP (racine)" in page and "Partie MIME 2 — pièce jointe" in page
    assert "xop:Include" in page
    part = http.get(f"{WS}/exchanges/1/request/parts/2")
    assert part.status_code == 200 and part.headers["content-disposition"].startswith("attachment")
    assert part.headers["x-content-type-options"] == "nosniff" and part.content.lstrip().startswith(b"<")
    refused(http, f"{WS}/exchanges/1/request/parts/99", 404)
    refused(http, f"{WS}/exchanges/1/elsewhere/parts/1", 404)
    refused(http, f"{WS}/exchanges/999999", 404)
    refused(http, f"{WS}/exchanges/0", 422)
    refused(http, f"{WS}/exchanges/{2**70}", 422)
    refused(http, f"{WS}/exchanges/abc", 422)


# -- controls ---------------------------------------------------------------------------------------------------
def test_fault_toggle_form_and_delete(http, demo):
    page = ok(http, f"{WS}/controls")
    assert 'data-preset="http_503"' in page and 'aria-checked="false"' in page
    assert post(http, f"{WS}/faults/toggle", {"preset": "http_503"}).status_code == 303
    page = ok(http, f"{WS}/controls?saved=fault")
    assert re.search(r'aria-checked="true" data-preset="http_503"', page)
    assert "http_503</code> — <span class=\"label\">Service indisponible (HTTP 503)" in page
    assert post(http, f"{WS}/faults/toggle", {"preset": "http_503"}).status_code == 303  # off again
    with demo.runtime.store.transaction(readonly=True) as tx:
        assert tx.controls.list_faults(WORKSPACE) == ()

    form = {"kind": "latency", "ms": "1500", "transaction": "TD0.2", "remaining": "2", "code": "", "reason": ""}
    assert post(http, f"{WS}/faults", form).status_code == 303
    with demo.runtime.store.transaction(readonly=True) as tx:
        (fault,) = tx.controls.list_faults(WORKSPACE)
    assert (fault.kind, fault.transaction, fault.remaining, dict(fault.params)) == ("latency", "TD0.2", 2, {"ms": 1500})
    assert post(http, f"{WS}/faults/{fault.id}/delete", {}).status_code == 303
    assert post(http, f"{WS}/faults/{fault.id}/delete", {}).status_code == 404

    assert "Faute refusée" in post(http, f"{WS}/faults", {"kind": "meteor"}).text
    assert post(http, f"{WS}/faults", {"kind": "latency", "ms": "-5"}).status_code == 422
    not_xds = {"kind": "registry_error", "code": "X", "transaction": "TD0.2"}  # an XDS error on an HL7 transaction
    assert post(http, f"{WS}/faults", not_xds).status_code == 422
    assert post(http, f"{WS}/faults", {"kind": "http_503", "transaction": "TD9"}).status_code == 422
    assert post(http, f"{WS}/faults/toggle", {"preset": "meteor"}).status_code == 422
    assert post(http, f"{WS}/faults/abc/delete", {}).status_code == 422
    assert post(http, f"{WS}/faults/clear", {}).status_code == 303


def test_clock_offset(http, demo):
    assert post(http, f"{WS}/clock", {"shift": str(86_400)}).status_code == 303
    assert post(http, f"{WS}/clock", {"shift": str(86_400)}).status_code == 303
    with demo.runtime.store.transaction(readonly=True) as tx:
        assert tx.controls.clock_offset(WORKSPACE) == 2 * 86_400
    assert "172800 s" in ok(http, f"{WS}/controls")
    assert post(http, f"{WS}/clock", {"offset_seconds": "soon"}).status_code == 422
    assert post(http, f"{WS}/clock", {"offset_seconds": str(10**12)}).status_code == 422
    assert post(http, f"{WS}/clock", {"offset_seconds": "0"}).status_code == 303
    with demo.runtime.store.transaction(readonly=True) as tx:
        assert tx.controls.clock_offset(WORKSPACE) == 0


def test_cards_page_lists_the_slot_files(http, demo, tmp_path):
    assert "Aucune carte insérée" in ok(http, "/ui/cards")
    folder = demo.app.state.console_cards_dir
    folder.mkdir(parents=True, exist_ok=True)
    record = {"slot": 0, "reader": "Virtual PCD 00 00", "kind": "cps", "model": "cps3", "serial": "0001",
              "label": "CPS GUIBERT", "holder": demo.professional["id_nat"], "pid": os.getpid(),
              "inserted_at": datetime.now(UTC).isoformat(), "pin_tries_left": 2}
    (folder / "slot-0.json").write_text(json.dumps(record))
    (folder / "slot-1.json").write_text(json.dumps({**record, "slot": 1, "kind": "vitale", "pid": 2**22 + 7}))
    try:
        page = ok(http, "/ui/cards")
        assert "cps</code> — <span class=\"label\">Carte CPS" in page and "2 essai(s) restant(s)" in page
        assert "(ce serveur)" in page and "Virtual PCD 00 01" not in page  # a dead owner's file is dropped
    finally:
        (folder / "slot-0.json").unlink()


# -- conformance runs -------------------------------------------------------------------------------------------
def test_conformance_pages(http, demo):
    from segur_sandbox.simulator.console.screenshots import sample_run

    assert "Aucune exécution" in ok(http, "/ui/conformance")
    run = sample_run(demo)
    body = {"id": run.id, "plan": run.plan, "started_at": run.started_at.isoformat(),
            "finished_at": run.finished_at.isoformat(), "verdict": run.verdict, "summary": dict(run.summary),
            "report": run.report, "evidence_html": run.evidence_html + "<script>alert(1)</script>"}
    assert http.post("/api/conformance-runs", json=body).status_code == 201
    listing = ok(http, "/ui/conformance")
    assert run.id in listing and "Non conforme" in listing
    assert f'/api/conformance-runs/{run.id}/evidence.html" download' in listing
    page = ok(http, f"/ui/conformance/{run.id}")
    assert "CONS-01" in page and "CONS-01.2" in page and "SC.DMP/CONF.12" in page
    assert f'href="/ui/w/{WORKSPACE}/exchanges/{latest_exchange(demo)}"' in page  # a check's evidence, linked
    assert "Télécharger le dossier de preuves" in page and 'sandbox title="Dossier de preuves' in page
    evidence = http.get(f"/ui/conformance/{run.id}/evidence")
    assert evidence.status_code == 200 and evidence.headers["content-security-policy"] == "sandbox"
    assert post(http, f"/ui/conformance/{run.id}/delete", {}).status_code == 303
    refused(http, f"/ui/conformance/{run.id}", 404)
    refused(http, f"/ui/conformance/{run.id}/evidence", 404)
    assert post(http, f"/ui/conformance/{run.id}/delete", {}).status_code == 404
    refused(http, "/ui/conformance?offset=-3", 422)


def test_a_report_of_another_shape_is_shown_as_json(http):
    body = {"id": "odd-1", "plan": "p", "started_at": "2025-01-01T00:00:00Z", "finished_at": "2025-01-01T00:01:00Z",
            "verdict": "pass", "report": [1, "deux", {"cases": "not a list"}]}
    assert http.post("/api/conformance-runs", json=body).status_code == 201
    page = ok(http, "/ui/conformance/odd-1")
    assert "&#34;deux&#34;" in page and "Cas (" not in page
    http.delete("/api/conformance-runs/odd-1")


def test_unknown_pages_and_static_files(http):
    assert "Aucune page" in refused(http, "/ui/nothing/here", 404)
    css = http.get("/ui/static/console.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert http.get("/ui/static/console.js").status_code == 200
    assert http.get("/ui/static/missing.js").status_code == 404


def test_console_stays_out_of_the_openapi(http):
    paths = http.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith("/ui")]
    assert "/api/conformance-runs" in paths


def test_pages_never_pull_anything_from_the_network(http, demo):
    for path in ("/ui/", WS, f"{WS}/patients/{demo.patient.ins}", f"{WS}/exchanges/1",
                 f"{WS}/documents/{demo.documents['VAC-NOTE']}"):
        page = ok(http, path)
        assert not re.search(r'(src|href)="(https?:)?//', page), path  # assets are ours, served locally


def test_workspace_clock_is_shown(http, demo):
    with demo.runtime.store.transaction() as tx:
        tx.controls.set_clock_offset(WORKSPACE, 3600)
    try:
        expected = (datetime.now(UTC) + timedelta(hours=1)).strftime("%d/%m/%Y %H")
        assert expected in ok(http, WS)
    finally:
        with demo.runtime.store.transaction() as tx:
            tx.controls.set_clock_offset(WORKSPACE, 0)


def test_a_malformed_slot_file_is_reported_not_a_500(http, demo):
    folder = demo.app.state.console_cards_dir
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "slot-5.json").write_text(json.dumps({"pid": os.getpid()}))  # no slot number
    try:
        assert "fichier d&#39;emplacement invalide" in ok(http, "/ui/cards")
    finally:
        (folder / "slot-5.json").unlink()


def test_signature_document_and_patients_without_an_open_dmp(http, demo):
    with demo.runtime.store.transaction(readonly=True) as tx:
        signature = next(d for d in tx.documents.find(WORKSPACE, demo.patient.ins) if d.is_signature)
    page = ok(http, f"{WS}/documents/{signature.entry_uuid}")
    assert "n&#39;est pas un document CDA" in page and "ds:Signature" in page  # shown as XML instead
    assert "Pas de DMP" in ok(http, f"{WS}/patients/{demo.scenarios[4].ins}")  # scenario 4: no DMP
    closed = ok(http, f"{WS}/patients/{demo.scenarios[5].ins}")  # scenario 5: closed
    assert "DMP fermé" in closed and "Fermé le" in closed
