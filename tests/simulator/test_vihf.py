"""VIHF: build + sign with the sandbox PKI, verify into a Principal, and every refusal with its fault."""
from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from segur_sandbox.fixtures.professionals import ProfessionalDirectory
from segur_sandbox.simulator.dmp.faults import DmpFault
from segur_sandbox.simulator.pki import DEFAULT_NOT_BEFORE, Issued, TestPKI
from segur_sandbox.simulator.security import (INVALID_CERTIFICATE, MANDATORY_ATTRIBUTES, PATIENT_MISMATCH,
                                              PERSONNE_MORALE, VIHF_INVALID, Coded, PatientRef, Principal,
                                              VihfSettings, build_vihf, claimed_caller, default_roles, verify_vihf,
                                              wsse_security)
from segur_sandbox.simulator.security import dn
from segur_sandbox.simulator.security import namespaces as ns
from segur_sandbox.simulator.security.vihf import (ATTR_LPS_ID, ATTR_MODE, ATTR_PURPOSE, ATTR_RESOURCE_ID,
                                                   ATTR_RESOURCE_URN, ATTR_STRUCTURE, ATTR_SUBJECT_ID,
                                                   ATTR_VERSION)
from segur_sandbox.simulator.soap import parse_request, parse_xml
from segur_sandbox.simulator.soap import namespaces as soap_ns

SEED = 20250101
NOW = DEFAULT_NOT_BEFORE + timedelta(days=365, hours=10)  # inside every valid certificate's life
PATIENT = PatientRef("207058575627097", "1.2.250.1.213.1.4.10")
OTHER_PATIENT = PatientRef("153078987658513", "1.2.250.1.213.1.4.10")
CERT_PREFIX = "Le certificat ayant signé le VIHF est invalide : "
S = f"{{{ns.SAML2}}}"


@dataclass
class World:
    pki: TestPKI
    doctor: dict[str, Any]
    cabinet: dict[str, Any]
    hospital: dict[str, Any]
    hospital_doctor: dict[str, Any]
    doctor_sign: Issued
    doctor_auth: Issued
    doctor_expired: Issued
    doctor_revoked: Issued
    hospital_sign: Issued
    foreign_sign: Issued


@pytest.fixture(scope="module")
def world() -> World:
    pki = TestPKI.in_memory(SEED)
    directory = ProfessionalDirectory(SEED, 12)
    doctor = directory.professionals[0]
    hospital_doctor = next(p for p in directory.professionals
                           if directory.structures_by_id[p["structure_id"]]["kind"] == "ch" and
                           p["profession"]["code"] == "10")
    cabinet = directory.structures_by_id[doctor["structure_id"]]
    hospital = directory.structures_by_id[hospital_doctor["structure_id"]]
    # A PKI with another seed has the same CA names but other keys: a lookalike of our CAs.
    foreign = TestPKI.in_memory(SEED + 1)
    return World(
        pki=pki, doctor=doctor, cabinet=cabinet, hospital=hospital, hospital_doctor=hospital_doctor,
        doctor_sign=pki.professional(doctor, cabinet, usage="sign"),
        doctor_auth=pki.professional(doctor, cabinet, usage="auth"),
        doctor_expired=pki.professional(doctor, cabinet, usage="sign", variant="expired"),
        doctor_revoked=pki.professional(doctor, cabinet, usage="sign", variant="revoked"),
        hospital_sign=pki.organisation(hospital, "SIGN"),
        foreign_sign=foreign.professional(doctor, cabinet, usage="sign"),
    )


def vihf(world: World, **overrides: Any) -> etree._Element:
    arguments: dict[str, Any] = dict(signer=world.doctor_sign, professional=world.doctor, structure=world.cabinet,
                                     patient=PATIENT, now=NOW)
    arguments.update(overrides)
    return build_vihf(**arguments)


def indirect(world: World, **overrides: Any) -> etree._Element:
    arguments: dict[str, Any] = dict(signer=world.hospital_sign, professional=world.hospital_doctor,
                                     structure=world.hospital, mode="INDIRECTE")
    arguments.update(overrides)
    return vihf(world, **arguments)


def envelope(*header: etree._Element, body: etree._Element | None = None) -> etree._Element:
    """A SOAP 1.2 envelope holding these headers, serialised and read back by the hardened parser."""
    root = etree.Element(f"{{{soap_ns.SOAP12}}}Envelope", nsmap={"soap": soap_ns.SOAP12})
    head = etree.SubElement(root, f"{{{soap_ns.SOAP12}}}Header")
    etree.SubElement(head, f"{{{soap_ns.WSA}}}Action").text = "urn:hl7-org:v3:PRPA_IN201307UV02"
    for element in header:
        head.append(element)
    body_element = etree.SubElement(root, f"{{{soap_ns.SOAP12}}}Body")
    body_element.append(body if body is not None else etree.Element("{urn:hl7-org:v3}PRPA_IN201307UV02"))
    return parse_xml(etree.tostring(root))


def check(world: World, assertion: etree._Element, *, expected_patient: PatientRef | None = PATIENT,
          now: datetime = NOW, **settings_: Any) -> Principal:
    return verify_vihf(envelope(wsse_security(assertion)), pki=world.pki, now=now, expected_patient=expected_patient,
                       settings=VihfSettings(**settings_))


def refused(world: World, assertion: etree._Element, match: str, *, code: str = VIHF_INVALID,
            **kwargs: Any) -> DmpFault:
    with pytest.raises(DmpFault) as caught:
        check(world, assertion, **kwargs)
    fault = caught.value
    assert fault.dmp_code == code, fault.reason
    assert match in fault.reason, fault.reason
    assert fault.lang == "fr" and fault.code == "Sender"
    return fault


def attribute_value(assertion: etree._Element, name: str) -> etree._Element:
    return assertion.find(f"{S}AttributeStatement/{S}Attribute[@Name='{name}']/{S}AttributeValue")


# --- accepted ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["rsa-sha256", "rsa-sha1"])
def test_valid_directe_gives_the_principal(world: World, algorithm: str) -> None:
    assertion = vihf(world, algorithm=algorithm)
    method = assertion.find(f"{{{ns.DS}}}Signature/{{{ns.DS}}}SignedInfo/{{{ns.DS}}}SignatureMethod")
    assert method.get("Algorithm") == ns.SIGNATURE_ALGORITHMS[algorithm][0]
    principal = check(world, assertion)
    assert principal.assertion_id == assertion.get("ID")
    assert principal.issue_instant == NOW
    assert principal.auth_mode == "DIRECTE"
    assert principal.name_id == world.doctor["id_nat"]
    assert principal.structure_id == world.cabinet["id_nat"]
    assert principal.sector == world.cabinet["secteur_activite"]["code"] == "SA07"
    assert principal.profession == "10" and principal.is_doctor
    assert principal.specialty == "SM26"
    assert principal.roles[0] == Coded("10", ns.OID_PROFESSION, "Médecin")
    assert principal.roles[1].code_system == ns.OID_SPECIALTY
    assert principal.purpose == "normal"
    assert principal.patient == PATIENT
    assert principal.subject_name == f"{world.doctor['given']} {world.doctor['family']}"
    assert (principal.vihf_version, principal.lps_name, principal.lps_version, principal.lps_id,
            principal.lps_homologation) == ("3.0", "LPS SANDBOX", "1.0", "01.01.01.01", "NumAutorisation")
    assert principal.card_type == "CPS"
    assert principal.signed and principal.signer == world.doctor_sign.certificate
    assert principal.confidentiality == () and principal.notes == ()


def test_signature_sits_after_issuer_and_references_the_assertion(world: World) -> None:
    assertion = vihf(world)
    children = [etree.QName(c).localname for c in assertion]
    assert children[:3] == ["Issuer", "Signature", "Subject"]
    reference = assertion.find(f"{{{ns.DS}}}Signature/{{{ns.DS}}}SignedInfo/{{{ns.DS}}}Reference")
    assert reference.get("URI") == f"#{assertion.get('ID')}"
    security = wsse_security(assertion)
    assert security.get(f"{{{soap_ns.SOAP12}}}mustUnderstand") == "true"


def test_verifies_a_parsed_soap_message(world: World) -> None:
    data = etree.tostring(envelope(wsse_security(vihf(world))))
    message = parse_request(data, 'application/soap+xml; charset=UTF-8')
    principal = verify_vihf(message, pki=world.pki, now=NOW, expected_patient=PATIENT, settings=VihfSettings())
    assert principal.name_id == world.doctor["id_nat"]
    # The header list and the bare Security element are accepted too.
    assert verify_vihf(message.headers, pki=world.pki, now=NOW).assertion_id == principal.assertion_id
    security = message.header(f"{{{soap_ns.WSSE}}}Security")
    assert verify_vihf(security, pki=world.pki, now=NOW).assertion_id == principal.assertion_id


def test_claimed_caller_reads_the_patient_and_the_professional_without_checking(world: World) -> None:
    def message(*headers: etree._Element):
        return parse_request(etree.tostring(envelope(*headers)), "application/soap+xml; charset=UTF-8")

    assert claimed_caller(message(wsse_security(vihf(world)))) == (PATIENT.ins, world.doctor["id_nat"])
    expired = vihf(world, now=NOW - timedelta(days=30))  # unchecked: a claim, not a proof
    assert claimed_caller(message(wsse_security(expired))) == (PATIENT.ins, world.doctor["id_nat"])
    assert claimed_caller(message(wsse_security(vihf(world, patient=None)))) is None
    assert claimed_caller(message()) is None  # no wsse:Security
    assert claimed_caller(message(wsse_security(vihf(world)), wsse_security(vihf(world)))) is None
    odd = vihf(world)
    attribute_value(odd, ATTR_RESOURCE_ID).text = "not a CX"
    assert claimed_caller(message(wsse_security(odd))) is None


@pytest.mark.parametrize("mode", ["INDIRECTE", "INDIRECTE_RENFORCEE"])
def test_indirect_modes_with_the_structure_sign_certificate(world: World, mode: str) -> None:
    principal = check(world, indirect(world, mode=mode))
    assert principal.auth_mode == mode
    assert principal.structure_id == world.hospital["id_nat"]
    assert principal.card_type is None
    assert principal.signer == world.hospital_sign.certificate
    assert principal.subject_name


def test_patientless_call_and_other_purposes(world: World) -> None:
    principal = check(world, vihf(world, patient=None, purpose="bris_de_glace"), expected_patient=None)
    assert principal.patient is None and principal.purpose == "bris_de_glace"
    principal = check(world, vihf(world, purpose="centre_15", confidentiality=["INVISIBLE_REPRESENTANTS_LEGAUX"]))
    assert principal.purpose == "centre_15"
    assert principal.confidentiality == ("INVISIBLE_REPRESENTANTS_LEGAUX",)


def test_version_4_and_mode_attribute_spelling(world: World) -> None:
    assert check(world, vihf(world, version="4.0")).vihf_version == "4.0"
    principal = check(world, vihf(world, omit=[ATTR_MODE], extra={"Authentification_Mode": "DIRECTE"}))
    assert principal.auth_mode == "DIRECTE"
    assert any("Authentification_Mode" in note for note in principal.notes)
    refused(world, vihf(world, version="2.0"), f"attribut {ATTR_VERSION}")


def test_optional_attributes_may_be_absent_in_direct_mode(world: World) -> None:
    principal = check(world, vihf(world, omit=[ATTR_SUBJECT_ID, ATTR_LPS_ID]))
    assert principal.subject_name is None and principal.lps_id is None


@pytest.mark.parametrize("name_id", ["00B1022322", "10B0011797/00B1022322", "30B0037750/CPET0001"])
def test_other_name_id_forms(world: World, name_id: str) -> None:
    assert check(world, vihf(world, name_id=name_id)).name_id == name_id


@pytest.mark.parametrize("name_id", ["12345", "8999", "89990006348X", "899900063480 extra", ""])
def test_unknown_name_id_forms_are_refused(world: World, name_id: str) -> None:
    refused(world, vihf(world, name_id=name_id), "NameID")


def test_nameid_card_match_is_a_setting(world: World) -> None:
    other = vihf(world, name_id="899900063480")  # as in the official DIRECTE example: not the card's idNat
    assert check(world, other).name_id == "899900063480"
    refused(world, other, "NameID", require_nameid_matches_card=True)
    assert check(world, vihf(world), require_nameid_matches_card=True).name_id == world.doctor["id_nat"]


def test_default_roles_come_from_the_fixtures(world: World) -> None:
    roles = default_roles(world.doctor)
    assert [r.code for r in roles] == ["10", "SM26"]
    pharmacist = {"profession": {"code": "21", "label": "Pharmacien"},
                  "specialty": {"code": "G15_21/A", "codeSystem": "1.2.250.1.213.1.1.4.5"}}
    assert [r.code for r in default_roles(pharmacist)] == ["21"]
    principal = check(world, vihf(world, roles=[Coded("SECRETARIAT_MEDICAL", "1.2.250.1.213.1.1.4.6")]))
    assert principal.profession is None and principal.specialty is None


def test_cpe_card_type(world: World) -> None:
    secretary = {**world.doctor, "id_nat": f"{world.cabinet['id_nat']}/CPET0001"}
    cpe = world.pki.professional(secretary, world.cabinet, usage="sign", card_type="CPE")
    principal = check(world, vihf(world, signer=cpe, professional=secretary,
                                  roles=[Coded("SECRETARIAT_MEDICAL", "1.2.250.1.213.1.1.4.6")]))
    assert principal.card_type == "CPE"
    assert principal.name_id == secretary["id_nat"]


# --- unsigned ------------------------------------------------------------------------------------------------


def test_unsigned_refused_unless_lenient(world: World) -> None:
    unsigned = vihf(world, sign=False)
    refused(world, unsigned, "n'est pas signée")
    principal = check(world, unsigned, lenient_unsigned=True)
    assert not principal.signed and principal.signer is None and principal.card_type is None
    assert any("non signé" in note for note in principal.notes)
    assert principal.name_id == world.doctor["id_nat"]


def test_lenient_mode_still_refuses_a_bad_signature(world: World) -> None:
    assertion = vihf(world)
    attribute_value(assertion, ATTR_STRUCTURE).text = "10B0000000"
    refused(world, assertion, "contenu modifié", lenient_unsigned=True)


# --- signature and certificate -------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["rsa-sha256", "rsa-sha1"])
def test_attribute_tampered_after_signing(world: World, algorithm: str) -> None:
    assertion = vihf(world, algorithm=algorithm)
    attribute_value(assertion, ATTR_STRUCTURE).text = "10B0000000"
    refused(world, assertion, "contenu modifié après signature")


def test_signature_value_tampered(world: World) -> None:
    assertion = vihf(world)
    value = assertion.find(f"{{{ns.DS}}}Signature/{{{ns.DS}}}SignatureValue")
    text = value.text.strip()
    value.text = ("A" if text[0] != "A" else "B") + text[1:]
    refused(world, assertion, "SignatureValue")


def test_certificate_swapped_in_keyinfo(world: World) -> None:
    """A valid certificate of ours in KeyInfo, but not the key that signed."""
    assertion = vihf(world)
    other = vihf(world, signer=world.hospital_sign, mode="INDIRECTE")
    ours = assertion.find(f".//{{{ns.DS}}}X509Certificate")
    ours.text = other.find(f".//{{{ns.DS}}}X509Certificate").text
    refused(world, assertion, "SignatureValue")


@pytest.mark.parametrize(("signer", "detail"), [
    ("doctor_expired", "Certificate expired"),
    ("doctor_revoked", "Certificate revoked"),
    ("foreign_sign", "Unknown certificate issuer"),
])
def test_untrusted_signer_certificates(world: World, signer: str, detail: str) -> None:
    fault = refused(world, vihf(world, signer=getattr(world, signer)), detail, code=INVALID_CERTIFICATE)
    assert fault.reason.startswith(CERT_PREFIX)


def test_authentication_certificate_exact_reason(world: World) -> None:
    with pytest.raises(DmpFault) as caught:
        check(world, vihf(world, signer=world.doctor_auth))
    assert caught.value.dmp_code == "DMPInvalidCertificate"
    assert caught.value.reason == "Le certificat ayant signé le VIHF est invalide : Not a valid signature certificate"
    # The check can be switched off (an auth certificate of ours then passes).
    assert check(world, vihf(world, signer=world.doctor_auth), require_signature_cert=False).signed


def test_mode_and_certificate_must_agree(world: World) -> None:
    refused(world, vihf(world, signer=world.hospital_sign), "DIRECTE", code=INVALID_CERTIFICATE)
    refused(world, vihf(world, mode="INDIRECTE"), "ORG SIGN", code=INVALID_CERTIFICATE)


def test_indirect_structure_must_be_the_certificate_ou(world: World) -> None:
    assertion = indirect(world, structure_id=world.cabinet["id_nat"])
    fault = refused(world, assertion, PERSONNE_MORALE)
    assert fault.reason.startswith("Erreur d'authentification de la personne morale")
    # EJ/EG: the certificate's structure may be linked to others by configuration.
    links = {world.hospital["id_nat"]: frozenset({world.cabinet["id_nat"]})}
    assert check(world, assertion, structure_links=links).structure_id == world.cabinet["id_nat"]


# --- Issuer -------------------------------------------------------------------------------------------------


def _hex_string(value: str) -> str:
    body = value.encode("latin-1")
    return "#" + bytes([0x14, len(body)]).hex() + body.hex()


def test_issuer_must_name_the_signer(world: World) -> None:
    refused(world, vihf(world, issuer="CN=899900038839,O=TEST,C=FR"), "Issuer")
    refused(world, vihf(world, issuer="not a DN"), "Issuer")


def test_issuer_spellings_are_tolerated(world: World) -> None:
    subject = world.doctor_sign.certificate.subject
    family = subject.get_attributes_for_oid(NameOID.SURNAME)[0].value
    given_name = subject.get_attributes_for_oid(NameOID.GIVEN_NAME)[0].value
    title = subject.get_attributes_for_oid(NameOID.TITLE)[0].value
    java = (f"CN={world.doctor['id_nat']}+2.5.4.4={_hex_string(family)}+2.5.4.42={_hex_string(given_name)},"
            f"T={title},C=FR")
    assert check(world, vihf(world, issuer=java)).signed
    dotnet = f"C=FR, title={title.upper()}, G={given_name}+CN={world.doctor['id_nat']}+SN={family}"
    assert check(world, vihf(world, issuer=dotnet)).signed
    state = world.hospital_sign.certificate.subject.get_attributes_for_oid(NameOID.STATE_OR_PROVINCE_NAME)[0].value
    org = dn.render_dn(world.hospital_sign.certificate.subject).replace(f"ST={state}", f"S={state}")
    assert "S=" in org
    assert check(world, indirect(world, issuer=org)).auth_mode == "INDIRECTE"


def test_issuer_format_and_assertion_attributes(world: World) -> None:
    assertion = vihf(world, sign=False)
    assertion.find(f"{S}Issuer").set("Format", "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified")
    refused(world, assertion, "Format", lenient_unsigned=True)
    assertion = vihf(world, sign=False)
    assertion.set("Version", "1.1")
    refused(world, assertion, "Version 2.0", lenient_unsigned=True)
    assertion = vihf(world, sign=False)
    del assertion.attrib["IssueInstant"]
    refused(world, assertion, "IssueInstant", lenient_unsigned=True)


# --- timing -------------------------------------------------------------------------------------------------


def test_issue_instant_window(world: World) -> None:
    refused(world, vihf(world, now=NOW - timedelta(hours=2, minutes=1)), "VIHF expiré")
    assert check(world, vihf(world, now=NOW - timedelta(hours=1, minutes=59))).signed
    refused(world, vihf(world, now=NOW + timedelta(minutes=6)), "dans le futur")
    assert check(world, vihf(world, now=NOW + timedelta(minutes=4))).signed
    assert check(world, vihf(world, now=NOW - timedelta(hours=3)), max_age=timedelta(hours=4)).signed


def test_conditions_window(world: World) -> None:
    assert check(world, vihf(world, conditions=True)).signed
    refused(world, vihf(world, conditions=(NOW - timedelta(hours=1), NOW - timedelta(minutes=10))),
            "NotOnOrAfter")
    refused(world, vihf(world, conditions=(NOW + timedelta(minutes=30), None)), "pas encore valide")
    # within the clock skew on both sides
    assert check(world, vihf(world, conditions=(NOW + timedelta(minutes=4), NOW - timedelta(minutes=4)
                                                + timedelta(minutes=8)))).signed


def test_authn_instant_in_the_future(world: World) -> None:
    refused(world, vihf(world, authn_instant=NOW + timedelta(hours=1)), "AuthnInstant")


# --- attributes ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MANDATORY_ATTRIBUTES)
def test_each_mandatory_attribute(world: World, name: str) -> None:
    fault = refused(world, vihf(world, omit=[name]), name)
    assert "absent" in fault.reason


def test_conditional_attributes(world: World) -> None:
    refused(world, indirect(world, omit=[ATTR_SUBJECT_ID]), ATTR_SUBJECT_ID)
    refused(world, vihf(world, patient=None), ATTR_RESOURCE_ID)  # the request names a patient


@pytest.mark.parametrize(("extra", "match"), [
    ({ATTR_RESOURCE_URN: "urn:dmp:autre"}, ATTR_RESOURCE_URN),
    ({ATTR_RESOURCE_URN: ["urn:dmp", "urn:dmp"]}, "une seule valeur"),
    ({"Secteur_Activite": "SA07"}, "Secteur_Activite"),
    ({"Secteur_Activite": "SA07^1.2.3"}, "Secteur_Activite"),
    ({ATTR_STRUCTURE: "ABC DEF"}, ATTR_STRUCTURE),
    ({ATTR_MODE: "directe"}, ATTR_MODE),
    ({ATTR_PURPOSE: Coded("urgence", ns.OID_PURPOSE)}, "urgence"),
    ({ATTR_PURPOSE: Coded("normal", "1.2.3.4")}, "codeSystem"),
    ({ATTR_PURPOSE: "normal"}, ATTR_PURPOSE),
    ({ATTR_RESOURCE_ID: "207058575627097"}, ATTR_RESOURCE_ID),
    ({ATTR_RESOURCE_ID: "2070585756^^^&1.2.250.1.213.1.4.10&ISO^NH"}, "INS"),
    ({"urn:oasis:names:tc:xacml:2.0:subject:role": "10"}, "Role"),
    ({"urn:oasis:names:tc:xacml:2.0:subject:role": Coded("10", "")}, "codeSystem"),
    ({"urn:oasis:names:tc:xspa:1.0:resource:patient:hl7:confidentiality-code": "X^1.2.3"}, "confidentiality"),
])
def test_wrong_attribute_values(world: World, extra: dict[str, Any], match: str) -> None:
    refused(world, vihf(world, extra=extra), match)


def test_duplicate_attribute(world: World) -> None:
    assertion = vihf(world, sign=False)
    statement = assertion.find(f"{S}AttributeStatement")
    statement.append(copy.deepcopy(statement[0]))
    refused(world, assertion, "plusieurs fois", lenient_unsigned=True)


def test_patient_mismatch(world: World) -> None:
    refused(world, vihf(world), PATIENT_MISMATCH, expected_patient=OTHER_PATIENT)
    refused(world, vihf(world), "1.2.250.1.213.1.4.10", accepted_patient_oids=("1.2.250.1.213.1.4.8",))


# --- structure, wrapping, comments, IDs ---------------------------------------------------------------------


def test_security_header_required(world: World) -> None:
    with pytest.raises(DmpFault) as caught:
        verify_vihf(envelope(), pki=world.pki, now=NOW)
    assert caught.value.dmp_code == VIHF_INVALID and "wsse:Security" in caught.value.reason
    two = envelope(wsse_security(vihf(world)), wsse_security(vihf(world)))
    with pytest.raises(DmpFault, match="wsse:Security"):
        verify_vihf(two, pki=world.pki, now=NOW)


def _evil_copy(signed: etree._Element) -> etree._Element:
    evil = copy.deepcopy(signed)
    attribute_value(evil, ATTR_STRUCTURE).text = "10B0000000"
    return evil


def test_wrapping_unsigned_assertion_first(world: World) -> None:
    signed = vihf(world)
    evil = vihf(world, sign=False, structure_id="10B0000000", name_id="899999999999")
    security = wsse_security(evil)
    security.append(signed)
    for lenient in (False, True):
        with pytest.raises(DmpFault, match="exactement une saml2:Assertion"):
            verify_vihf(envelope(security), pki=world.pki, now=NOW, settings=VihfSettings(lenient_unsigned=lenient))
        security = wsse_security(copy.deepcopy(evil))
        security.append(copy.deepcopy(signed))


@pytest.mark.parametrize("hiding_place", ["security", "header", "body"])
def test_wrapping_signed_assertion_moved_into_an_extension(world: World, hiding_place: str) -> None:
    signed = vihf(world)
    evil = _evil_copy(signed)  # same ID, same (now wrong) signature, forged attribute
    security = wsse_security(evil)
    extension = etree.Element("{urn:evil}Extension")
    extension.append(signed)
    headers = [security]
    body = None
    if hiding_place == "security":
        security.append(extension)
    elif hiding_place == "header":
        headers.append(extension)
    else:
        body = extension
    with pytest.raises(DmpFault) as caught:
        verify_vihf(envelope(*headers, body=body), pki=world.pki, now=NOW)
    assert caught.value.dmp_code == VIHF_INVALID
    assert "exactement une saml2:Assertion" in caught.value.reason


def test_wrapping_signature_pointing_elsewhere(world: World) -> None:
    """The signature of another element moved into a forged assertion with a new ID."""
    evil = _evil_copy(vihf(world))
    evil.set("ID", "_forged")
    refused(world, evil, "ne porte pas sur l'assertion")


def test_duplicate_ids(world: World) -> None:
    signed = vihf(world)
    token = etree.Element("{urn:evil}Token", ID=signed.get("ID"))
    with pytest.raises(DmpFault, match="porté par 2 éléments"):
        verify_vihf(envelope(wsse_security(signed), body=token), pki=world.pki, now=NOW)
    security = wsse_security(vihf(world))
    for _ in range(2):
        etree.SubElement(security, f"{{{soap_ns.WSSE}}}BinarySecurityToken").set(f"{{{soap_ns.WSU}}}Id", "tok")
    with pytest.raises(DmpFault, match="identifiants dupliqués"):
        verify_vihf(envelope(security), pki=world.pki, now=NOW)


def _split_with_comment(element: etree._Element, at: int, *, tail_comment: bool = False) -> None:
    value = element.text
    comment = etree.Comment("x")
    if tail_comment:
        element.text = value
    else:
        element.text, comment.tail = value[:at], value[at:]
    element.append(comment)


def test_comment_inside_name_id_is_refused(world: World) -> None:
    signed = vihf(world)
    _split_with_comment(signed.find(f"{S}Subject/{S}NameID"), 4)
    fault = refused(world, signed, "NameID")  # the signature still verifies (exc-c14n drops comments)
    assert "commentaire" in fault.reason
    unsigned = vihf(world, sign=False)
    _split_with_comment(unsigned.find(f"{S}Subject/{S}NameID"), 4)
    refused(world, unsigned, "NameID", lenient_unsigned=True)


def test_comment_after_the_value_reads_the_signed_value(world: World) -> None:
    signed = vihf(world)
    _split_with_comment(signed.find(f"{S}Subject/{S}NameID"), 0, tail_comment=True)
    _split_with_comment(attribute_value(signed, ATTR_STRUCTURE), 0, tail_comment=True)
    principal = check(world, signed)
    assert principal.name_id == world.doctor["id_nat"]
    assert principal.structure_id == world.cabinet["id_nat"]


def test_comment_in_an_attribute_value_is_refused(world: World) -> None:
    signed = vihf(world)
    _split_with_comment(attribute_value(signed, ATTR_STRUCTURE), 3)
    refused(world, signed, "AttributeValue")


def test_two_signatures_refused(world: World) -> None:
    signed = vihf(world)
    signature = signed.find(f"{{{ns.DS}}}Signature")
    signature.addnext(copy.deepcopy(signature))
    refused(world, signed, "signatures")


# --- properties ---------------------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_text_change_after_signing_is_refused(world: World, data: st.DataObject) -> None:
    signed = vihf(world)
    leaves = [e for e in signed.iter() if isinstance(e.tag, str) and len(e) == 0 and (e.text or "").strip()
              and etree.QName(e).namespace == ns.SAML2]
    target = data.draw(st.sampled_from(leaves))
    replacement = data.draw(st.text(alphabet="0123456789ABCDEFGHSM^._/ ", min_size=1, max_size=20))
    if replacement == target.text:
        return
    target.text = replacement
    with pytest.raises(DmpFault):
        check(world, signed)


_DN_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=12)


@settings(max_examples=60, deadline=None)
@given(cn=_DN_TEXT, org=_DN_TEXT, given_name=_DN_TEXT, surname=_DN_TEXT)
def test_rendered_dn_parses_back(cn: str, org: str, given_name: str, surname: str) -> None:
    name = x509.Name([
        x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COUNTRY_NAME, "FR")]),
        x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)]),
        x509.RelativeDistinguishedName([
            x509.NameAttribute(NameOID.SURNAME, surname),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
            x509.NameAttribute(NameOID.GIVEN_NAME, given_name),
        ]),
    ])
    assert dn.dn_matches(dn.render_dn(name), name)
    assert dn.dn_matches(name.rfc4514_string(), name)
