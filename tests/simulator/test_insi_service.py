"""The INSi endpoint end to end: raw HTTP to the ASGI app, both caller modes, every CNDA case, the population
(Vitale beneficiaries, twins, NIA, Corsica, INS history), verification, workspaces, the WSDL, the exchange log."""
from __future__ import annotations

import pytest
from lxml import etree

from segur_sandbox.simulator.insi import CASES, traits_request
from segur_sandbox.simulator.insi.constants import RECSANS, RESULTAT, TRAITS, VERIFICATION_RESPONSE_NS, VITALE
from segur_sandbox.simulator.soap import namespaces as soap_ns

@pytest.fixture(autouse=True)
def _clean_settings(insi):
    yield
    with insi.runtime.store.transaction() as tx:
        tx.workspaces.update_settings("default", {}, replace=True)
        tx.controls.clear_faults("default")
        tx.controls.set_clock_offset("default", 0)


# -- CNDA cases, both caller modes ------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["mtls", "cpx"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_cnda_case(insi, case, mode):
    client = insi.mtls() if mode == "mtls" else insi.cpx()
    q = case.query
    reply = client.search_traits(q.birth_name, list(q.first_names), q.sex, q.birth_date, q.birth_place)
    assert reply.status == 200, reply.raw[:400]
    result = reply.result
    assert result["code"] == case.code
    assert result["libelle"] == {"00": "OK", "01": "Aucune identite trouvee", "02": "Plusieurs identites trouvees"}[
        case.code]
    if case.ins:
        assert (result["ins"], result["oid"]) == (case.ins, case.oid)
        assert tuple(h[0] for h in result["history"]) == case.history
    else:
        assert "ins" not in result  # no INDIVIDU for 01 / 02


def test_response_shape_is_the_cnam_one(insi):
    reply = insi.mtls().search_traits("ECETINSI", "PIERRE-ALAIN", "M", "2009-07-14")
    body = reply.body
    assert body.tag == f"{{{RESULTAT}}}RESULTAT" and body.nsmap[None] == RESULTAT and body.nsmap["ns2"] == RECSANS
    r = f"{{{RESULTAT}}}"
    individu = body.find(f"{r}INDIVIDU")
    assert [etree.QName(c).localname for c in individu] == ["INSACTIF", "INSHISTO", "INSHISTO", "TIQ"]
    assert individu.find(f"{r}INSACTIF/{r}IdIndividu/{r}TypeMatricule") is None
    first = individu.findall(f"{r}INSHISTO")[0]
    assert first.findtext(f"{r}IdIndividu/{r}TypeMatricule") == "NIR"
    assert (first.findtext(f"{r}DateDeb"), first.findtext(f"{r}DateFin")) == ("2019-03-01", "2019-02-28")
    assert [etree.QName(c).localname for c in individu.find(f"{r}TIQ")] == [
        "NomNaissance", "Prenom", "ListePrenom", "Sexe", "DateNaissance", "LieuNaissance"]
    assert reply.message.addressing.action == TRAITS.response_action
    assert reply.message.addressing.relates_to
    assert reply.content_type.startswith("application/soap+xml")


def test_tiq_prenom_can_be_left_out(insi):
    insi.settings(insi_tiq_prenom=False)
    assert "Prenom" not in insi.mtls().search_traits("ADRUN", "ZOE", "F", "1975-12-31").result["tiq"]


def test_request_spelling_is_normalised_end_to_end(insi):
    reply = insi.cpx().search_traits("  d’Ecetinsi ", "pierre alain", "m", "2009-07-14")
    assert reply.result["code"] == "01"  # D'ECETINSI is not ECETINSI: letters differ
    reply = insi.cpx().search_traits("écétinsi", "Pierre - Alain", "m", "2009-07-14")
    assert reply.result["ins"] == "109076322083489"


# -- the population -----------------------------------------------------------------------------------------


def test_population_is_searchable_by_traits(insi):
    client = insi.mtls()
    for record in insi.people[:40]:
        t = record["traits"]
        spelling = record["document_spelling"]
        reply = client.search_traits(spelling["birth_name"], spelling["first_names"][-1], t["sex"], t["birth_date"])
        expected = "02" if "homonym" in record["edge_cases"] else "00"
        assert reply.result["code"] == expected, record["id"]
        if expected == "00":
            assert reply.result["ins"] == record["ins"]["nir"] + record["ins"]["key"]
            assert reply.result["tiq"]["ListePrenom"] == " ".join(t["first_names"])


def test_vitale_search_returns_the_beneficiary_not_the_holder(insi):
    family = next(p for p in insi.people if len(p["vitale"]["beneficiaries"]) >= 2 and p["vitale"]["is_insured"])
    card = family["vitale"]
    client = insi.cpx()
    for beneficiary in card["beneficiaries"]:
        for with_nir in (True, False):
            reply = client.search_vitale(card, beneficiary, with_beneficiary_nir=with_nir)
            assert reply.result["code"] == "00"
            assert reply.result["ins"] == beneficiary["nir"] + beneficiary["key"]
            assert reply.message.addressing.action == VITALE.response_action


def test_vitale_twins_by_birth_rank(insi):
    (first, second) = insi.tagged("twin")
    card = first["vitale"]
    client = insi.mtls()
    for twin in (first, second):
        beneficiary = next(b for b in card["beneficiaries"] if b["nir"] == twin["ins"]["nir"])
        reply = client.search_vitale(card, beneficiary, with_beneficiary_nir=False)
        assert reply.result["ins"] == twin["ins"]["nir"] + twin["ins"]["key"]
    no_rank = client.search_vitale_raw(insured=(card["insured"]["nir"], card["insured"]["key"]),
                                       birth_date=first["traits"]["birth_date"])
    assert no_rank.result["code"] == "02"


def test_nia_corsica_and_ins_history_are_answered_like_insi(insi):
    client = insi.mtls()
    (nia,) = insi.tagged("nia")
    t = nia["traits"]
    result = client.search_traits(t["birth_name"], t["first_name"], t["sex"], t["birth_date"]).result
    assert result["oid"] == "1.2.250.1.213.1.4.9" and result["history"] == []
    (corse,) = insi.tagged("corsica")
    t = corse["traits"]
    result = client.search_traits(t["birth_name"], t["first_name"], t["sex"], t["birth_date"]).result
    assert result["ins"][5:7] in ("2A", "2B") and result["tiq"]["LieuNaissance"] == t["birth_place"]
    (moved,) = insi.tagged("ins_history")
    t = moved["traits"]
    result = client.search_traits(t["birth_name"], t["first_name"], t["sex"], t["birth_date"]).result
    old = moved["ins_history"][0]
    assert result["ins"] == moved["ins"]["nir"] + moved["ins"]["key"] and result["oid"] == "1.2.250.1.213.1.4.10"
    assert result["history"] == [(old["nir"] + old["key"], "1.2.250.1.213.1.4.9", "NIA")]
    by_old = client.search_vitale_raw(beneficiary=(old["nir"], old["key"]))
    assert by_old.result["ins"] == moved["ins"]["nir"] + moved["ins"]["key"]


def test_unknown_birth_date_is_a_plain_string(insi):
    (record,) = insi.tagged("unknown_birth_date")
    t = record["traits"]
    assert t["birth_date"].endswith("-00")
    assert insi.mtls().search_traits(t["birth_name"], t["first_name"], t["sex"], t["birth_date"]).result["code"] == "00"


# -- verification (inferred operation) ---------------------------------------------------------------------


def test_verification_operation(insi):
    client = insi.cpx()
    ok = client.verify("1090763220834", "89", "1.2.250.1.213.1.4.8", birth_name="ECETINSI", first_name="MURIEL",
                       sex="M", birth_date="2009-07-14", birth_place="63220")
    assert ok.status == 200 and ok.body.tag == f"{{{VERIFICATION_RESPONSE_NS}}}RESULTAT"
    assert (ok.result["code"], ok.result["ins"]) == ("00", "109076322083489")
    assert ok.message.addressing.action == "urn:ServiceIdentiteCertifiee:1.0.0:verifierInsAvecTraitsIdentiteResponse"
    wrong = client.verify("1090763220834", "89", None, birth_name="ECETINSI", sex="F")
    assert (wrong.result["code"], wrong.result["libelle"]) == ("03", "Traits d'identite non concordants")
    assert "ins" not in wrong.result
    old = client.verify("2090663220123", "55", None, birth_name="ECETINSI")
    assert (old.result["code"], old.result["ins"]) == ("04", "109076322083489")
    assert client.verify("1999999999999", "00", None).result["code"] == "01"
    insi.settings(insi_verification=False)
    refused = client.verify("1090763220834", "89", None)
    assert refused.status == 500 and refused.error_code == "desir_510"


# -- workspaces, WSDL, exchange log -------------------------------------------------------------------------


def test_workspace_endpoint_seeds_cnda_identities_in_an_empty_workspace(insi):
    with insi.runtime.store.transaction() as tx:
        tx.workspaces.ensure("insi-empty")
    client = insi.mtls(workspace="insi-empty")
    assert client.search_traits("ADRUN", "ZOE", "F", "1975-12-31").result["code"] == "00"
    t = insi.people[0]["traits"]
    assert client.search_traits(t["birth_name"], t["first_name"], t["sex"], t["birth_date"]).result["code"] == "01"
    with insi.runtime.store.transaction() as tx:
        log = tx.exchanges.list("insi-empty", transaction=TRAITS.name)
        assert len(log) == 2 and {e.service for e in log} == {"lps"}
        assert any(f.rule == "INSI-SEED" for e in log for f in e.findings)
        tx.workspaces.delete("insi-empty")


def test_unknown_workspace_is_a_fault(insi):
    reply = insi.mtls(workspace="nope").search_traits("ADRUN", "ZOE", "F", "1975-12-31")
    assert reply.status == 500 and reply.error_code == "sandbox_404" and "nope" in reply.fault.detail[0].text


def test_exchange_log_is_shared_with_the_dmp(insi):
    with insi.runtime.store.transaction(readonly=True) as tx:
        before = tx.exchanges.latest_id("default") or 0
    insi.cpx().search_traits("ADRTROIS", "TOUSSAINT", "M", "1960-01-01")
    insi.mtls(idam="UNKNOWN").search_traits("ADRTROIS", "TOUSSAINT", "M", "1960-01-01")
    insi.settings(insi_idam_allowed=["SANDBOX-IDAM-0001"])
    insi.mtls(idam="UNKNOWN").search_traits("ADRTROIS", "TOUSSAINT", "M", "1960-01-01")
    with insi.runtime.store.transaction(readonly=True) as tx:
        ok, accepted, refused = reversed(tx.exchanges.list("default", since_id=before, include_bodies=True))
    assert (ok.service, ok.transaction, ok.http_status, ok.verdict) == ("lps", TRAITS.name, 200, "pass")
    assert ok.patient_ins == "160012B02077713" and ok.professional == insi.professional["id_nat"]
    assert ok.principal["auth_mode"] == "CPX" and ok.principal["lps"]["idam"] == "SANDBOX-IDAM-0001"
    assert b"RECSANSVITALE" in ok.request and b"RESULTAT" in ok.response
    assert accepted.verdict == "pass" and accepted.principal["auth_mode"] == "MTLS"
    assert accepted.professional == insi.structure["id_nat"]
    assert (refused.http_status, refused.verdict) == (500, "fail")
    assert any(f.rule == "FAULT-desir_550" for f in refused.findings)


def test_wsdl_is_served_with_our_address(insi):
    for path in ("/lps?wsdl", "/w/team-a/lps?WSDL"):
        response = insi.http.get(path)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/xml")
        wsdl = etree.fromstring(response.content)
        address = wsdl.find(".//{http://schemas.xmlsoap.org/wsdl/soap12/}address").get("location")
        assert address == "http://testserver" + path.split("?")[0]
        operations = {op.get("name") for op in wsdl.iterfind(".//{http://schemas.xmlsoap.org/wsdl/}portType/"
                                                             "{http://schemas.xmlsoap.org/wsdl/}operation")}
        assert operations == {"rechercherInsAvecTraitsIdentite", "rechercherInsAvecCarteVitale",
                              "verifierInsAvecTraitsIdentite"}
    assert insi.http.get("/lps").status_code == 405


def test_action_absent_operation_from_the_body(insi):
    client = insi.mtls()
    envelope = client.envelope(traits_request("ADRUN", "ZOE", "F", "1975-12-31"), TRAITS, omit=("Action",))
    reply = client.post(etree.tostring(envelope))
    assert reply.result["code"] == "00"
    with insi.runtime.store.transaction(readonly=True) as tx:
        (last,) = tx.exchanges.list("default", limit=1)
    assert any("wsa:Action absent" in f.message for f in last.findings)


def test_action_and_body_must_agree(insi):
    client = insi.mtls()
    envelope = client.envelope(traits_request("ADRUN", "ZOE", "F", "1975-12-31"), VITALE)
    reply = client.post(etree.tostring(envelope))
    assert reply.status == 500 and reply.error_code == "insi_100"
    assert reply.fault.code == "Sender" and reply.subcode == "siram_10"


def test_soap_headers_in_a_real_client_order_are_read(insi):
    """A request written the way padoa writes it (prefixes everywhere, uuid: MessageID, whitespace)."""
    raw = f"""<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="{soap_ns.SOAP12}" xmlns:ctxbam="urn:siram:bam:ctxbam" xmlns:ctxlps="urn:siram:lps:ctxlps"
  xmlns:insi_recsans_ins="http://www.cnamts.fr/INSiRecSans"><soap:Header>
<ctxbam:ContexteBAM Version="01_02"><ctxbam:Id>c1a2ff23</ctxbam:Id><ctxbam:Temps>2021-07-05T13:58:27.452Z</ctxbam:Temps>
<ctxbam:Emetteur>medecin@yopmail.com</ctxbam:Emetteur><ctxbam:COUVERTURE></ctxbam:COUVERTURE></ctxbam:ContexteBAM>
<ctxlps:ContexteLPS Nature="CTXLPS" Version="01_00"><ctxlps:Id>1f7425e2</ctxlps:Id>
<ctxlps:Temps>2021-07-05T13:58:27.452Z</ctxlps:Temps><ctxlps:Emetteur>medecin@yopmail.com</ctxlps:Emetteur>
<ctxlps:LPS><ctxlps:IDAM R="4">PDP17NF21DD0</ctxlps:IDAM><ctxlps:Version>2022</ctxlps:Version>
<ctxlps:Instance>b3549edd</ctxlps:Instance><ctxlps:Nom>urn:lps:padoa:2022</ctxlps:Nom></ctxlps:LPS>
</ctxlps:ContexteLPS> <wsa:Action xmlns:wsa="{soap_ns.WSA}">{TRAITS.action}</wsa:Action>
<wsa:MessageID xmlns:wsa="{soap_ns.WSA}">uuid:b3549edd-4ae9-472a-b26f-fd2fb4ef397f</wsa:MessageID></soap:Header>
<soap:Body><insi_recsans_ins:RECSANSVITALE xmlns="http://www.cnamts.fr/INSiRecSans">
<insi_recsans_ins:NomNaissance>TCHITCHI</insi_recsans_ins:NomNaissance>
<insi_recsans_ins:Prenom>CATARINA</insi_recsans_ins:Prenom><insi_recsans_ins:Sexe>F</insi_recsans_ins:Sexe>
<insi_recsans_ins:DateNaissance>1936-06-21</insi_recsans_ins:DateNaissance>
</insi_recsans_ins:RECSANSVITALE></soap:Body></soap:Envelope>""".encode()
    reply = insi.mtls().post(raw)
    assert reply.result["ins"] == "236066322083656"
    assert reply.message.addressing.relates_to == "uuid:b3549edd-4ae9-472a-b26f-fd2fb4ef397f"
