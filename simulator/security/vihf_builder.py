"""Build and sign a VIHF the way the official examples look (dmp.md §2): for tests, the reference client and
benchmarks.

The assertion follows ``Exemples Jeton VIHF/VIHF_DIRECTE_signé.xml``: ``saml2:Issuer`` (the signer's DN), the
enveloped ``ds:Signature`` right after it (exc-c14n, Reference ``#<ID>``, the certificate in
``KeyInfo/X509Data``), ``Subject/NameID``, an ``AuthnStatement`` and the ``AttributeStatement``. Negative tests
bend it with ``omit`` / ``extra`` and the explicit overrides (``issuer``, ``name_id``…), all applied *before*
signing so the result is a validly signed but wrong assertion.
"""
from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from lxml import etree
from signxml import XMLSigner
from signxml.algorithms import CanonicalizationMethod, SignatureConstructionMethod

from ..pki import Issued
from ..soap import namespaces as soap_ns
from . import dn
from . import namespaces as ns
from .principal import Coded, PatientRef
from .vihf import (ATTR_CONFIDENTIALITY, ATTR_LPS_HOMOLOGATION, ATTR_LPS_ID, ATTR_LPS_NAME, ATTR_LPS_VERSION,
                   ATTR_MODE, ATTR_PURPOSE, ATTR_RESOURCE_ID, ATTR_RESOURCE_URN, ATTR_ROLE, ATTR_SECTOR,
                   ATTR_STRUCTURE, ATTR_SUBJECT_ID, ATTR_VERSION, RESOURCE_URN)
from .xmltime import format_datetime

DEFAULT_LPS = ("LPS SANDBOX", "1.0", "01.01.01.01", "NumAutorisation")  # LPS_Nom, LPS_Version, LPS_ID, homologation

PURPOSE_LABELS = {"normal": "Accès normal", "bris_de_glace": "Accès en urgence (bris de glace)",
                  "centre_15": "Accès par le centre de régulation (centre 15)"}

_S = f"{{{ns.SAML2}}}"

AttributeValue = str | Coded | etree._Element


class _Signer(XMLSigner):
    """signxml refuses SHA-1 by default; the official VIHF examples are rsa-sha1, so the builder allows it."""

    def check_deprecated_methods(self) -> None:
        return None


def default_roles(professional: Mapping[str, Any]) -> tuple[Coded, ...]:
    """The role values of a fixtures professional: TRE_G15 profession, then the SMxx specialty when one.

    The fixtures carry the JDV_J01 author specialty (``G15_10/SM26``); its SMxx part is the savoir-faire code
    (``1.2.250.1.71.4.2.5``) the VIHF uses. Other specialties (pharmacist sections…) give no second role.
    """
    profession = professional.get("profession") or {}
    code = profession.get("code")
    if not code:
        raise ValueError(f"professional {professional.get('id')!r} has no profession: pass roles explicitly")
    roles = [Coded(str(code), ns.OID_PROFESSION, profession.get("label"))]
    specialty = professional.get("specialty") or {}
    suffix = str(specialty.get("code") or "").rpartition("/")[2]
    if suffix.startswith("SM"):
        label = str(specialty.get("displayName") or "")
        roles.append(Coded(suffix, ns.OID_SPECIALTY, label.partition(" - ")[2] or label or None))
    return tuple(roles)


def _string_value(parent: etree._Element, text: str) -> None:
    value = etree.SubElement(parent, f"{_S}AttributeValue", nsmap={"xs": ns.XS})
    value.set(f"{{{ns.XSI}}}type", "xs:string")
    value.text = text


def _coded_value(parent: etree._Element, local: str, coded: Coded, system_name: str | None = None) -> None:
    value = etree.SubElement(parent, f"{_S}AttributeValue")
    element = etree.SubElement(value, f"{{{ns.HL7}}}{local}", nsmap={None: ns.HL7})
    element.set("code", coded.code)
    if coded.code_system:
        element.set("codeSystem", coded.code_system)
    if system_name:
        element.set("codeSystemName", system_name)
    if coded.display_name:
        element.set("displayName", coded.display_name)
    element.set(f"{{{ns.XSI}}}type", "CE")


def _add_values(attribute: etree._Element, name: str, values: Sequence[AttributeValue]) -> None:
    for value in values:
        if isinstance(value, etree._Element):
            attribute.append(value)
        elif isinstance(value, Coded):
            _coded_value(attribute, "PurposeOfUse" if name == ATTR_PURPOSE else "Role", value,
                         "mode acces VIHF 2.0" if name == ATTR_PURPOSE else None)
        else:
            _string_value(attribute, value)


def build_vihf(
    *,
    signer: Issued | None,
    professional: Mapping[str, Any],
    structure: Mapping[str, Any],
    patient: PatientRef | None,
    now: datetime,
    mode: str = "DIRECTE",
    purpose: str = "normal",
    roles: Sequence[Coded] | None = None,
    algorithm: str = "rsa-sha256",
    lps: tuple[str, str, str | None, str] = DEFAULT_LPS,
    version: str = "3.0",
    conditions: bool | tuple[datetime | None, datetime | None] = False,
    name_id: str | None = None,
    structure_id: str | None = None,
    sector: str | None = None,
    subject_name: str | None = None,
    confidentiality: Sequence[str] = (),
    issuer: str | None = None,
    assertion_id: str | None = None,
    authn_instant: datetime | None = None,
    extra: Mapping[str, AttributeValue | Sequence[AttributeValue]] | None = None,
    omit: Collection[str] = (),
    sign: bool = True,
) -> etree._Element:
    """A ``saml2:Assertion``, signed by ``signer`` (its certificate in KeyInfo) unless ``sign=False``.

    Defaults come from the fixtures records: NameID = ``professional["id_nat"]``, Identifiant_Structure =
    ``structure["id_nat"]``, Secteur_Activite = ``structure["secteur_activite"]["code"]``, roles from
    ``default_roles``, subject-id = "GIVEN FAMILY". ``conditions``: True for NotBefore=now, NotOnOrAfter=now+1h,
    or an explicit (NotBefore, NotOnOrAfter) pair. ``extra`` replaces the values of an attribute (or adds one);
    ``omit`` leaves attributes out by name; ``issuer`` overrides the Issuer text (default: signer subject).
    """
    if algorithm not in ns.SIGNATURE_ALGORITHMS:
        raise ValueError(f"algorithm must be one of {sorted(ns.SIGNATURE_ALGORITHMS)}, not {algorithm!r}")
    if sign and signer is None:
        raise ValueError("a signer is needed unless sign=False")
    lps_name, lps_version, lps_id, lps_homologation = lps
    assertion_id = assertion_id or f"_{uuid.uuid4()}"
    root = etree.Element(f"{_S}Assertion", nsmap={"saml2": ns.SAML2, "xsi": ns.XSI})
    root.set("ID", assertion_id)
    root.set("IssueInstant", format_datetime(now))
    root.set("Version", "2.0")

    issuer_element = etree.SubElement(root, f"{_S}Issuer", Format=ns.X509_SUBJECT_NAME)
    if issuer is not None:
        issuer_element.text = issuer
    elif signer is not None:
        issuer_element.text = dn.render_dn(signer.certificate.subject)
    else:
        issuer_element.text = f"CN={structure.get('id_nat', 'UNSIGNED')},C=FR"
    if sign:
        placeholder = etree.SubElement(root, f"{{{ns.DS}}}Signature", nsmap={"ds": ns.DS})
        placeholder.set("Id", "placeholder")

    subject = etree.SubElement(root, f"{_S}Subject")
    etree.SubElement(subject, f"{_S}NameID").text = name_id if name_id is not None else str(professional["id_nat"])
    if conditions:
        not_before, not_after = (now, now + timedelta(hours=1)) if conditions is True else conditions
        element = etree.SubElement(root, f"{_S}Conditions")
        if not_before is not None:
            element.set("NotBefore", format_datetime(not_before))
        if not_after is not None:
            element.set("NotOnOrAfter", format_datetime(not_after))
    authn = etree.SubElement(root, f"{_S}AuthnStatement", AuthnInstant=format_datetime(authn_instant or now))
    context = etree.SubElement(authn, f"{_S}AuthnContext")
    etree.SubElement(context, f"{_S}AuthnContextClassRef").text = ns.AC_SMARTCARD_PKI
    if mode == "INDIRECTE_RENFORCEE":
        etree.SubElement(context, f"{_S}AuthnContextDecl").text = ns.AC_SMARTCARD_PKI

    if structure_id is None:
        structure_id = str(structure["id_nat"])
    if sector is None:
        sector = str((structure.get("secteur_activite") or {}).get("code") or "SA07")
    if subject_name is None:
        subject_name = f"{professional.get('given', '')} {professional.get('family', '')}".strip() or None
    values: dict[str, list[AttributeValue]] = {
        ATTR_STRUCTURE: [structure_id],
        ATTR_SECTOR: [f"{sector}^{ns.OID_SECTOR}"],
        ATTR_SUBJECT_ID: [subject_name] if subject_name else [],
        ATTR_ROLE: list(roles if roles is not None else default_roles(professional)),
        ATTR_VERSION: [version],
        ATTR_MODE: [mode],
        ATTR_RESOURCE_ID: [patient.cx()] if patient is not None else [],
        ATTR_RESOURCE_URN: [RESOURCE_URN],
        ATTR_PURPOSE: [Coded(purpose, ns.OID_PURPOSE, PURPOSE_LABELS.get(purpose))],
        ATTR_CONFIDENTIALITY: [f"{code}^{ns.OID_CONFIDENTIALITY}" for code in confidentiality],
        ATTR_LPS_ID: [lps_id] if lps_id else [],
        ATTR_LPS_NAME: [lps_name],
        ATTR_LPS_VERSION: [lps_version],
        ATTR_LPS_HOMOLOGATION: [lps_homologation],
    }
    for name, value in (extra or {}).items():
        values[name] = list(value) if isinstance(value, (list, tuple)) else [value]  # type: ignore[arg-type]
    statement = etree.SubElement(root, f"{_S}AttributeStatement")
    for name, attribute_values in values.items():
        if name in omit or not attribute_values:
            continue
        attribute = etree.SubElement(statement, f"{_S}Attribute", Name=name)
        _add_values(attribute, name, attribute_values)

    if not sign:
        return root
    assert signer is not None
    signature_method, digest_method = ns.SIGNATURE_ALGORITHMS[algorithm]
    xml_signer = _Signer(
        method=SignatureConstructionMethod.enveloped,
        signature_algorithm=signature_method,
        digest_algorithm=digest_method,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    return xml_signer.sign(root, key=signer.private_key, cert=[signer.certificate], reference_uri=f"#{assertion_id}",
                           id_attribute="ID")


def wsse_security(assertion: etree._Element, *, soap_namespace: str = soap_ns.SOAP12) -> etree._Element:
    """The ``wsse:Security`` header holding ``assertion`` (moved into it), with soap:mustUnderstand."""
    security = etree.Element(f"{{{soap_ns.WSSE}}}Security", nsmap={"wsse": soap_ns.WSSE, "soap": soap_namespace})
    security.set(f"{{{soap_namespace}}}mustUnderstand", "true" if soap_namespace == soap_ns.SOAP12 else "1")
    security.append(assertion)
    return security
