"""Structural rules on a VIHF (SAML 2.0 assertion, dmp.md §2) that need no PKI: the cryptographic verification
stays in ``segur_sandbox.simulator.security.verify_vihf``. Attribute names come from that module."""
from __future__ import annotations

import re
from collections.abc import Iterator

from segur_sandbox.simulator.security import namespaces as sec_ns
from segur_sandbox.simulator.security.vihf import (ATTR_MODE, ATTR_PURPOSE, ATTR_RESOURCE_ID, ATTR_RESOURCE_URN,
                                                   ATTR_ROLE, ATTR_SECTOR, ATTR_SUBJECT_ID, ATTR_VERSION, AUTH_MODES,
                                                   MANDATORY_ATTRIBUTES, PURPOSES, RESOURCE_URN)
from segur_sandbox.simulator.security.xmltime import parse_datetime

from ..artifacts import SamlAssertion
from .engine import rule

RULE_SET = "vihf"
INS_OIDS = ("1.2.250.1.213.1.4.8", "1.2.250.1.213.1.4.9", "1.2.250.1.213.1.4.10", "1.2.250.1.213.1.4.11")
# Same forms as simulator.security.vihf: 8+RPPS, 0+ADELI, <structure idNat>/<local id>
NAME_ID_FORMS = (re.compile(r"8\d{11}"), re.compile(r"0[0-9A-Za-z]{9}"),
                 re.compile(r"[0-9][0-9A-Za-z]{1,30}/[^\s/]{1,100}"))
_CX = re.compile(r"(?P<ins>[^\^&]+)\^\^\^&(?P<oid>[0-2](?:\.\d+)+)&ISO\^NH")
_SECTOR = re.compile(r"SA\d{2}\^" + re.escape(sec_ns.OID_SECTOR))
_ASSERTION = "/saml2:Assertion"

Issues = Iterator[object]


def _vihf(rule_id: str, title: str, **kwargs: object):  # type: ignore[no-untyped-def]
    return rule(rule_id, title, rule_set=RULE_SET, applies_to=SamlAssertion, **kwargs)  # type: ignore[arg-type]


def _attr(name: str) -> str:
    return f"{_ASSERTION}/saml2:AttributeStatement/saml2:Attribute[@Name='{name}']"


@_vihf("VIHF-001", "Assertion has Version 2.0, an ID and an IssueInstant")
def envelope(saml: SamlAssertion) -> Issues:
    element = saml.element
    if element.get("Version") != "2.0":
        yield f"expected @Version='2.0', found {element.get('Version')!r}", f"{_ASSERTION}/@Version"
    if not element.get("ID"):
        yield "@ID missing (the signature references it)", f"{_ASSERTION}/@ID"
    if not element.get("IssueInstant"):
        yield "@IssueInstant missing", f"{_ASSERTION}/@IssueInstant"


@_vihf("VIHF-002", "IssueInstant is an xs:dateTime in UTC (Z)", refs=("PRE_TPS",))
def issue_instant(saml: SamlAssertion) -> Issues:
    value = saml.element.get("IssueInstant")
    if not value:
        return
    try:
        parse_datetime(value)
    except ValueError:
        yield f"expected an xs:dateTime, found {value!r}", f"{_ASSERTION}/@IssueInstant"
        return
    if not value.endswith("Z"):
        yield f"expected a UTC time ending in Z, found {value!r}", f"{_ASSERTION}/@IssueInstant"


@_vihf("VIHF-003", "Issuer present with Format X509SubjectName")
def issuer(saml: SamlAssertion) -> Issues:
    found = saml.xpath("saml2:Issuer")
    if len(found) != 1 or not (found[0].text or "").strip():
        yield "expected one non-empty saml2:Issuer (the signer's DN)", f"{_ASSERTION}/saml2:Issuer"
    elif found[0].get("Format") != sec_ns.X509_SUBJECT_NAME:
        yield (f"expected Issuer/@Format {sec_ns.X509_SUBJECT_NAME}, found {found[0].get('Format')!r}",
               f"{_ASSERTION}/saml2:Issuer/@Format")


@_vihf("VIHF-004", "Assertion is signed (enveloped ds:Signature)")
def signature(saml: SamlAssertion) -> Issues:
    if not saml.xpath("ds:Signature"):
        yield ("no ds:Signature in the assertion: the DMP refuses unsigned VIHFs (the sandbox accepts them only in "
               "lenient mode)", f"{_ASSERTION}/ds:Signature")


@_vihf("VIHF-005", "Subject/NameID of a known form (8+RPPS, 0+ADELI, structure/local id)",
       refs=("SC.DMP/CONF.12",))
def name_id(saml: SamlAssertion) -> Issues:
    values = [(e.text or "").strip() for e in saml.xpath("saml2:Subject/saml2:NameID")]
    where = f"{_ASSERTION}/saml2:Subject/saml2:NameID"
    if len(values) != 1 or not values[0]:
        yield f"expected one non-empty Subject/NameID, found {len(values)}", where
    elif not any(form.fullmatch(values[0]) for form in NAME_ID_FORMS):
        yield (f"expected 8+RPPS (12 digits), 0+ADELI (10 characters) or <structure>/<local id>, found "
               f"{values[0]!r}", where)


@_vihf("VIHF-006", "every mandatory attribute is present", refs=("SC.DMP/CONF.12",))
def mandatory(saml: SamlAssertion) -> Issues:
    for name in MANDATORY_ATTRIBUTES:
        texts = saml.attribute_values(name)
        if not texts:
            yield f"mandatory attribute {name} is missing", _attr(name)


@_vihf("VIHF-007", "Authentification_mode is DIRECTE, INDIRECTE or INDIRECTE_RENFORCEE")
def mode(saml: SamlAssertion) -> Issues:
    values = saml.attribute_texts(ATTR_MODE)
    if values and (len(values) != 1 or values[0] not in AUTH_MODES):
        yield f"expected one of {', '.join(AUTH_MODES)}, found {values}", _attr(ATTR_MODE)


@_vihf("VIHF-008", "purposeofuse is a PurposeOfUse of TRE_R248 (normal, bris_de_glace, centre_15)")
def purpose(saml: SamlAssertion) -> Issues:
    values = saml.attribute_values(ATTR_PURPOSE)
    if not values:
        return
    coded = [child for v in values for child in v if isinstance(child.tag, str)]
    if len(coded) != 1 or coded[0].tag != f"{{{sec_ns.HL7}}}PurposeOfUse":
        yield "expected one hl7:PurposeOfUse element as the attribute value", _attr(ATTR_PURPOSE)
        return
    code, system = coded[0].get("code"), coded[0].get("codeSystem")
    if code not in PURPOSES or system != sec_ns.OID_PURPOSE:
        yield (f"expected code in {', '.join(PURPOSES)} with codeSystem {sec_ns.OID_PURPOSE}, found {code!r} "
               f"(codeSystem {system!r})", _attr(ATTR_PURPOSE) + "/saml2:AttributeValue/hl7:PurposeOfUse")


@_vihf("VIHF-009", "Ressource_URN is urn:dmp")
def resource_urn(saml: SamlAssertion) -> Issues:
    values = saml.attribute_texts(ATTR_RESOURCE_URN)
    if values is not None and values != [RESOURCE_URN]:
        yield f"expected {RESOURCE_URN!r}, found {values}", _attr(ATTR_RESOURCE_URN)


@_vihf("VIHF-010", "resource-id, when present, is a CX INS^^^&<INS OID>&ISO^NH", refs=("EF_DMP11_01",))
def resource_id(saml: SamlAssertion) -> Issues:
    values = saml.attribute_texts(ATTR_RESOURCE_ID)
    if values is None:
        return
    match = _CX.fullmatch(values[0]) if len(values) == 1 else None
    if match is None:
        yield f"expected one value 'INS^^^&1.2.250.1.213.1.4.10&ISO^NH', found {values}", _attr(ATTR_RESOURCE_ID)
    elif match.group("oid") not in INS_OIDS:
        yield (f"expected an INS assigning authority ({', '.join(INS_OIDS)}), found {match.group('oid')}",
               _attr(ATTR_RESOURCE_ID))


@_vihf("VIHF-011", "Secteur_Activite is SAnn^1.2.250.1.71.4.2.4")
def sector(saml: SamlAssertion) -> Issues:
    values = saml.attribute_texts(ATTR_SECTOR)
    if values is not None and (len(values) != 1 or not _SECTOR.fullmatch(values[0])):
        yield f"expected 'SAnn^{sec_ns.OID_SECTOR}' (TRE_R02), found {values}", _attr(ATTR_SECTOR)


@_vihf("VIHF-012", "the first role is an hl7:Role with code and codeSystem")
def role(saml: SamlAssertion) -> Issues:
    values = saml.attribute_values(ATTR_ROLE)
    if not values:
        return
    roles = [child for child in values[0] if isinstance(child.tag, str)]
    if len(roles) != 1 or roles[0].tag != f"{{{sec_ns.HL7}}}Role" or not roles[0].get("code") \
            or not roles[0].get("codeSystem"):
        yield "expected the first role value to hold one hl7:Role with @code and @codeSystem", _attr(ATTR_ROLE)


@_vihf("VIHF-013", "subject-id is present in indirect modes")
def subject_id(saml: SamlAssertion) -> Issues:
    mode_values = saml.attribute_texts(ATTR_MODE) or []
    if any(v.startswith("INDIRECTE") for v in mode_values) and not saml.attribute_texts(ATTR_SUBJECT_ID):
        yield f"{ATTR_SUBJECT_ID} (the user's name) is required in mode {mode_values[0]}", _attr(ATTR_SUBJECT_ID)


@_vihf("VIHF-014", "VIHF_Version is 3.0 (or 4.0)", severity="warning")
def version(saml: SamlAssertion) -> Issues:
    values = saml.attribute_texts(ATTR_VERSION)
    if values is not None and values not in (["3.0"], ["4.0"]):
        yield f"expected '3.0' (official examples) or '4.0', found {values}", _attr(ATTR_VERSION)


@_vihf("VIHF-015", "AuthnStatement with AuthnInstant and AuthnContextClassRef", refs=("PRE_TPS",))
def authn(saml: SamlAssertion) -> Issues:
    statements = saml.xpath("saml2:AuthnStatement")
    where = f"{_ASSERTION}/saml2:AuthnStatement"
    if len(statements) != 1:
        yield f"expected one AuthnStatement, found {len(statements)}", where
        return
    if not statements[0].get("AuthnInstant"):
        yield "AuthnStatement/@AuthnInstant missing", f"{where}/@AuthnInstant"
    if not saml.xpath("saml2:AuthnContext/saml2:AuthnContextClassRef/text()", statements[0]):
        yield "AuthnContext/AuthnContextClassRef missing", f"{where}/saml2:AuthnContext"
