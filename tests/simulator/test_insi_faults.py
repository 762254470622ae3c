"""INSi faults: the exact shape of each (siram subcode, siram:Erreur code and severity), every caller check
(assertion PS, INSI-AUTO/MANU certificate), the context headers, malformed requests, the qualification-platform
switch (insi_101/insi_102 instead of 01), fault injection and the workspace clock."""
from __future__ import annotations

import copy
import urllib.parse
from datetime import datetime, timedelta, timezone

import pytest
from lxml import etree

from segur_sandbox.simulator.insi import CATALOGUE, InsiTestClient, build_assertion_ps, traits_request
from segur_sandbox.simulator.insi.constants import SAML2, TRAITS, VITALE
from segur_sandbox.simulator.insi.client import CLIENT_CERT_HEADER, insi_envelope
from segur_sandbox.simulator.soap import namespaces as soap_ns

NS = {"soap": soap_ns.SOAP12, "siram": "urn:siram"}
ADRUN = ("ADRUN", "ZOE", "F", "1975-12-31")
HOUILLES = ("HOUILLES", "PIERRE", "M", "1993-01-27")


@pytest.fixture(autouse=True)
def _clean(insi):
    yield
    with insi.runtime.store.transaction() as tx:
        tx.workspaces.update_settings("default", {}, replace=True)
        tx.controls.clear_faults("default")
        tx.controls.set_clock_offset("default", 0)


def fault_of(reply) -> dict:
    """The fault as the wire says it, prefixes resolved."""
    assert reply.status == 500, reply.raw[:300]
    root = etree.fromstring(reply.raw)
    fault = root.find("soap:Body/soap:Fault", NS)
    assert fault is not None

    def qname(path: str) -> etree.QName:
        element = fault.find(path, NS)
        prefix, _, local = element.text.partition(":")
        return etree.QName(element.nsmap[prefix], local)

    erreur = fault.find("soap:Detail/siram:Erreur", NS)
    text = fault.find("soap:Reason/soap:Text", NS)
    return {"code": qname("soap:Code/soap:Value"), "subcode": qname("soap:Code/soap:Subcode/soap:Value"),
            "reason": text.text, "lang": text.get("{http://www.w3.org/XML/1998/namespace}lang"),
            "erreur": erreur.get("code"), "severite": erreur.get("severite"), "message_id": erreur.get("messageID"),
            "message": erreur.text}


def assert_fault(reply, key: str, *, message: str | None = None) -> dict:
    spec = CATALOGUE[key]
    found = fault_of(reply)
    assert found["code"] == etree.QName(soap_ns.SOAP12, spec.code)
    assert found["subcode"] == etree.QName(soap_ns.SOAP12, spec.subcode)
    assert (found["erreur"], found["severite"], found["lang"]) == (spec.error, spec.severite, spec.lang)
    assert found["reason"] == spec.reason
    if message is not None:
        assert message in found["message"], found["message"]
    return found


# -- the confirmed faults, exactly ------------------------------------------------------------------------


def test_desir_550_unknown_idam_has_the_cnam_shape(insi):
    insi.settings(insi_idam_allowed=["PDP17NF21DD0"])
    client = insi.mtls(idam="NOT-REGISTERED")
    envelope = client.envelope(traits_request(*ADRUN), TRAITS, message_id="uuid:b3549edd-4ae9-472a-b26f-fd2fb4ef397f")
    found = assert_fault(client.post(etree.tostring(envelope)), "desir_550",
                         message="Numéro d'autorisation du logiciel inconnu.")
    assert found["message_id"] == "uuid:b3549edd-4ae9-472a-b26f-fd2fb4ef397f"
    assert found["reason"].startswith("L'accès par ce progiciel au service n'est pas autorisé.")
    assert insi.mtls(idam="PDP17NF21DD0").search_traits(*ADRUN).result["code"] == "00"


def test_desir_550_missing_idam(insi):
    assert_fault(insi.mtls(idam="").search_traits(*ADRUN), "desir_550", message="IDAM) absent")


def test_qualification_switch_turns_01_into_insi_102_and_insi_101(insi):
    assert insi.mtls().search_traits(*HOUILLES).result["code"] == "01"
    insi.settings(insi_not_found_fault=True)
    found = assert_fault(insi.mtls().search_traits(*HOUILLES), "insi_102",
                         message="L'appel au service de recherche avec les traits d'identité renvoie une erreur "
                                 "technique.")
    assert (found["severite"], found["lang"]) == ("fatal", "en")  # as the qualification platform answers
    assert insi.mtls().search_traits(*ADRUN).result["code"] == "00"  # found: unchanged
    assert insi.mtls().search_traits("DE VINCI", "LEONARDO", "M", "2014-02-01").result["code"] == "02"
    assert_fault(insi.mtls().search_vitale_raw(beneficiary=("1999999999999", "12")), "insi_101")


def test_desir_560_when_the_certificate_is_not_insi_auto_or_manu(insi):
    pki = insi.runtime.pki
    auth_cli = pki.organisation(insi.structure, "AUTH_CLI")
    assert_fault(insi.mtls(certificate=auth_cli).search_traits(*ADRUN), "DESIR_560", message="auth-cli.")
    card = pki.professional(insi.professional, insi.structure, usage="auth")
    assert_fault(insi.mtls(certificate=card).search_traits(*ADRUN), "DESIR_560", message=insi.professional["id_nat"])
    manu = insi.mtls(org_kind="INSI-MANU").search_traits(*ADRUN)
    assert manu.result["code"] == "00"
    with insi.runtime.store.transaction(readonly=True) as tx:
        (last,) = tx.exchanges.list("default", limit=1)
    assert last.principal["profile"] == "INSI-MANU"


# -- caller checks -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant,detail", [("expired", "expired"), ("revoked", "revoked"),
                                            ("wrong_usage", "wrong_usage")])
def test_invalid_client_certificates_are_refused(insi, variant, detail):
    issued = insi.runtime.pki.organisation(insi.structure, "INSI-AUTO", variant)
    assert_fault(insi.mtls(certificate=issued).search_traits(*ADRUN), "caller", message=detail)


def test_no_caller_identity(insi):
    client = InsiTestClient(insi.http, insi.runtime.pki)  # neither certificate nor assertion
    assert_fault(client.search_traits(*ADRUN), "caller", message="aucune identité d'appelant")
    insi.settings(insi_auth_modes=["none"])
    assert client.search_traits(*ADRUN).result["code"] == "00"


def test_auth_modes_can_be_restricted(insi):
    insi.settings(insi_auth_modes=["mtls"])
    assert_fault(insi.cpx().search_traits(*ADRUN), "caller", message="certificat client INSI-AUTO/INSI-MANU attendu")
    insi.settings(insi_auth_modes=["cpx"])
    assert_fault(insi.mtls().search_traits(*ADRUN), "caller", message="assertion PS")
    assert insi.cpx().search_traits(*ADRUN).result["code"] == "00"


def test_unreadable_forwarded_certificate_is_a_client_error(insi):
    response = insi.http.post("/lps", content=b"<x/>", headers={CLIENT_CERT_HEADER: "not a certificate",
                                                                 "content-type": "application/soap+xml"})
    assert response.status_code == 400


def test_unsigned_assertion_refused_unless_lenient(insi):
    client = insi.cpx(assertion_options={"sign": False})
    assert_fault(client.search_traits(*ADRUN), "caller", message="n'est pas signée")
    insi.settings(insi_assertion_lenient=True)
    assert client.search_traits(*ADRUN).result["code"] == "00"


def _signed(insi, **options) -> etree._Element:
    signer = options.pop("signer", None) or insi.runtime.pki.professional(insi.professional, insi.structure,
                                                                          usage="sign")
    return build_assertion_ps(signer=signer, professional=insi.professional, structure=insi.structure,
                              now=options.pop("now", datetime.now(timezone.utc)), **options)


def test_lenient_unsigned_assertion_with_a_comment_in_a_value_is_refused(insi):
    """Accepting an unsigned assertion PS does not accept a value that reads one way in the received text and
    another once comments are dropped (the check a signed assertion gets with its signature)."""
    insi.settings(insi_assertion_lenient=True)
    assertion = _signed(insi, sign=False)
    name_id = assertion.find(f"{{{SAML2}}}Subject/{{{SAML2}}}NameID")
    comment = etree.Comment("x")
    name_id.text, comment.tail = name_id.text[:4], name_id.text[4:]
    name_id.append(comment)
    assert_fault(insi.cpx().search_traits(*ADRUN, assertion=assertion), "caller", message="commentaire")


def test_tampered_assertion_is_refused(insi):
    assertion = _signed(insi)
    assertion.find(f"{{{SAML2}}}Subject/{{{SAML2}}}NameID").text = "899999999999"
    assert_fault(insi.cpx().search_traits(*ADRUN, assertion=assertion), "caller", message="DigestValue")


def test_assertion_must_be_signed_by_a_card(insi):
    org = insi.runtime.pki.organisation(insi.structure, "SIGN")
    assertion = _signed(insi, signer=org)
    assert_fault(insi.cpx().search_traits(*ADRUN, assertion=assertion), "caller", message="carte CPx")


def test_assertion_issuer_must_name_the_signer(insi):
    assertion = _signed(insi, issuer="CN=899900000000,C=FR")
    assert_fault(insi.cpx().search_traits(*ADRUN, assertion=assertion), "caller", message="ne correspond pas")


def test_assertion_signer_key_usage_setting(insi):
    auth_key = insi.runtime.pki.professional(insi.professional, insi.structure, usage="auth")
    assert insi.cpx().search_traits(*ADRUN, assertion=_signed(insi, signer=auth_key)).result["code"] == "00"
    insi.settings(insi_assertion_signer="sign")
    assert_fault(insi.cpx().search_traits(*ADRUN, assertion=_signed(insi, signer=auth_key)), "caller",
                 message="Not a valid signature certificate")


@pytest.mark.parametrize("age,detail", [(timedelta(hours=2), "expirée"), (timedelta(minutes=-30), "futur")])
def test_assertion_time_window(insi, age, detail):
    assertion = _signed(insi, now=datetime.now(timezone.utc) - age)
    assert_fault(insi.cpx().search_traits(*ADRUN, assertion=assertion), "caller", message=detail)


def test_assertion_conditions_are_checked(insi):
    now = datetime.now(timezone.utc)
    assertion = _signed(insi, conditions=(now - timedelta(hours=1), now - timedelta(minutes=30)))
    assert_fault(insi.cpx().search_traits(*ADRUN, assertion=assertion), "caller", message="NotOnOrAfter")


def test_workspace_clock_drives_the_caller_checks(insi):
    client = insi.cpx()
    with insi.runtime.store.transaction() as tx:
        tx.controls.set_clock_offset("default", 2 * 3600)  # the service lives two hours ahead
    assert_fault(client.search_traits(*ADRUN), "caller", message="expirée")
    with insi.runtime.store.transaction() as tx:
        tx.controls.set_clock_offset("default", 5 * 365 * 86400)  # the INSI-AUTO certificate has expired by then
    assert_fault(insi.mtls().search_traits(*ADRUN), "caller", message="expired")


def test_a_second_assertion_vitale_is_tolerated(insi):
    ps = _signed(insi)
    other = copy.deepcopy(_signed(insi))
    other.find(f"{{{SAML2}}}Subject/{{{SAML2}}}NameID").set("NameQualifier", "VITALE")
    client = insi.cpx()
    envelope = client.envelope(traits_request(*ADRUN), TRAITS, assertion=ps)
    envelope.find(f"soap:Header/{{{soap_ns.WSSE}}}Security", NS).append(other)
    assert client.post(etree.tostring(envelope)).result["code"] == "00"
    with insi.runtime.store.transaction(readonly=True) as tx:
        (last,) = tx.exchanges.list("default", limit=1)
    assert any("carte Vitale" in f.message for f in last.findings)


# -- context headers and requests ----------------------------------------------------------------------------


@pytest.mark.parametrize("header,detail", [("ContexteLPS", "ContexteLPS absent"), ("ContexteBAM", "ContexteBAM absent"),
                                           ("MessageID", "wsa:MessageID absent")])
def test_missing_context_header(insi, header, detail):
    client = insi.mtls()
    envelope = client.envelope(traits_request(*ADRUN), TRAITS, omit=(header,))
    assert_fault(client.post(etree.tostring(envelope)), "context", message=detail)
    insi.settings(insi_strict_headers=False)
    assert client.post(etree.tostring(envelope)).status == (500 if header == "ContexteLPS" else 200)  # no IDAM


def test_missing_couverture(insi):
    client = insi.mtls()
    envelope = client.envelope(traits_request(*ADRUN), TRAITS)
    bam = envelope.find("soap:Header/{urn:siram:bam:ctxbam}ContexteBAM", NS)
    bam.remove(bam.find("{urn:siram:bam:ctxbam}COUVERTURE"))
    assert_fault(client.post(etree.tostring(envelope)), "context", message="COUVERTURE")


@pytest.mark.parametrize("body,detail", [
    (traits_request("ADRUN", [], "F", "1975-12-31"), "Prenom"),
    (traits_request("ADRUN", "ZOE", "F", "31/12/1975"), "DateNaissance"),
    (traits_request("ADRUN", "ZOE", "F", "1975-12-31", "PARIS 12"), "LieuNaissance"),
    (traits_request("ADRUN", "ZOE", "", "1975-12-31"), "Sexe"),
])
def test_malformed_traits_requests(insi, body, detail):
    client = insi.mtls()
    assert_fault(client.post(etree.tostring(client.envelope(body, TRAITS))), "request", message=detail)


def test_required_traits_are_a_setting(insi):
    insi.settings(insi_matching={"required_traits": ["NomNaissance", "Sexe", "DateNaissance"]})
    client = insi.mtls()
    reply = client.post(etree.tostring(client.envelope(traits_request("ADRUN", [], "F", "1975-12-31"), TRAITS)))
    assert reply.result["code"] == "00"


def test_malformed_vitale_requests(insi):
    client = insi.mtls()
    assert_fault(client.search_vitale_raw(birth_date="1975-12-31"), "request", message="MatriculeIndividu")
    assert_fault(client.search_vitale_raw(beneficiary=("12345", None)), "request", message="NumIdentifiant")
    assert_fault(client.search_vitale_raw(beneficiary=("2751263220749", "74"), rank="x"), "request",
                 message="RangNaissance")


def test_invalid_workspace_settings(insi):
    insi.settings(insi_matching={"separators": "loose"})
    assert_fault(insi.mtls().search_traits(*ADRUN), "settings", message="separators")


def test_unknown_operation(insi):
    client = insi.mtls()
    body = etree.Element("{urn:example}Whatever")
    envelope = insi_envelope(body, TRAITS)
    envelope.find("soap:Header/{%s}Action" % soap_ns.WSA, NS).text = "urn:example:whatever"
    assert_fault(client.post(etree.tostring(envelope)), "operation")


def test_soap_11_gets_a_version_mismatch(insi):
    raw = (f'<s:Envelope xmlns:s="{soap_ns.SOAP11}"><s:Body>'
           f'{etree.tostring(traits_request(*ADRUN)).decode()}</s:Body></s:Envelope>').encode()
    reply = insi.mtls().post(raw, headers={"content-type": "text/xml; charset=UTF-8"})
    assert reply.status == 500 and b"VersionMismatch" in reply.raw and soap_ns.SOAP11.encode() in reply.raw


def test_garbage_gets_a_fault_not_a_crash(insi):
    reply = insi.mtls().post(b"<<<not xml")
    assert reply.status == 500 and reply.fault is not None


def test_internal_error_is_a_receiver_fault(insi, monkeypatch):
    from segur_sandbox.simulator.insi import service

    def boom(*_args, **_kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(service, "match_traits", boom)
    assert_fault(insi.mtls().search_traits(*ADRUN), "internal")


# -- fault injection (the DMP's controls) -------------------------------------------------------------------


def _inject(insi, kind: str, transaction: str | None = None, remaining: int | None = 1, **params):
    with insi.runtime.store.transaction() as tx:
        return tx.controls.add_fault("default", kind, transaction=transaction, params=params, remaining=remaining)


def test_injected_insi_102_has_the_exact_shape(insi):
    _inject(insi, "soap_fault", TRAITS.name, code="insi_102", reason=CATALOGUE["insi_102"].reason)
    assert_fault(insi.mtls().search_traits(*ADRUN), "insi_102")
    assert insi.mtls().search_traits(*ADRUN).result["code"] == "00"  # counted: used once


def test_injected_custom_fault_and_transaction_filter(insi):
    _inject(insi, "soap_fault", VITALE.name, code="insi_999", reason="Erreur de test", sender=True,
            message="cas impossible en qualif")
    assert insi.mtls().search_traits(*ADRUN).result["code"] == "00"  # another operation: untouched
    found = fault_of(insi.mtls().search_vitale_raw(beneficiary=("2751263220749", "74")))
    assert (found["code"].localname, found["erreur"], found["message"]) == ("Sender", "insi_999",
                                                                            "cas impossible en qualif")
    assert found["reason"] == "Erreur de test"


def test_injected_result_code_latency_503_and_drop(insi):
    _inject(insi, "registry_error", code="02")
    assert insi.mtls().search_traits(*ADRUN).result["code"] == "02"
    _inject(insi, "latency", ms=120)
    started = datetime.now()
    assert insi.mtls().search_traits(*ADRUN).result["code"] == "00"
    assert datetime.now() - started >= timedelta(milliseconds=120)
    _inject(insi, "http_503")
    assert insi.mtls().search_traits(*ADRUN).status == 503
    _inject(insi, "drop_connection")
    client = insi.mtls()
    envelope = etree.tostring(client.envelope(traits_request(*ADRUN), TRAITS))
    from segur_sandbox.simulator.insi import InsiService

    reply = InsiService(insi.runtime).process("default", envelope, "application/soap+xml",
                                              client_chain=[insi.runtime.pki.organisation(insi.structure,
                                                                                          "INSI-AUTO").certificate])
    assert reply.drop_connection


def test_forwarded_certificate_forms(insi):
    cert = insi.runtime.pki.organisation(insi.structure, "INSI-AUTO")
    pem = cert.cert_pem().decode()
    der_b64 = "".join(pem.splitlines()[1:-1])
    client = insi.mtls()
    data = etree.tostring(client.envelope(traits_request(*ADRUN), TRAITS))
    for value in (urllib.parse.quote(pem), pem.replace("\n", " ").strip(), der_b64):
        response = insi.http.post("/lps", content=data, headers={CLIENT_CERT_HEADER: value,
                                                                  "content-type": "application/soap+xml"})
        assert response.status_code == 200, value[:40]


def test_client_certificate_from_the_asgi_tls_extension(insi):
    from starlette.requests import Request

    from segur_sandbox.simulator.app import _insi_client_chain

    from cryptography.hazmat.primitives.serialization import Encoding

    issued = insi.runtime.pki.organisation(insi.structure, "INSI-AUTO")
    pems = [c.public_bytes(Encoding.PEM).decode() for c in (issued.certificate, *issued.chain)]
    scope = {"type": "http", "headers": [], "extensions": {"tls": {"client_cert_chain": pems}}}
    chain = _insi_client_chain(Request(scope), "x-ssl-client-cert")
    assert chain[0] == issued.certificate and len(chain) == 3
    assert _insi_client_chain(Request({"type": "http", "headers": []}), "x-ssl-client-cert") == []


def test_process_options_from_the_environment():
    from segur_sandbox.simulator.insi import InsiConfig

    config = InsiConfig.from_environment({"SEGUR_SANDBOX_INSI_IDAM_ALLOWED": "A1, B2",
                                          "SEGUR_SANDBOX_INSI_CLIENT_CERT_HEADER": "X-Client-Cert",
                                          "SEGUR_SANDBOX_INSI_ASSERTION_MAX_AGE_SECONDS": "600"})
    assert config.idam_allowed == ("A1", "B2") and config.client_cert_header == "x-client-cert"
    assert config.assertion_max_age_seconds == 600
    assert InsiConfig.from_environment({}) == InsiConfig()
