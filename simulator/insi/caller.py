"""Who calls INSi (insi-cards.md §A.7): a CPx "assertion PS" in ``wsse:Security``, or a TLS client certificate
INSI-AUTO / INSI-MANU ("personne morale" software certificate).

**CPx mode.** ``wsse:Security`` holds a SAML 2.0 assertion signed by the professional's card: ``Issuer``
(Format X509SubjectName) = the card certificate's subject, an enveloped XML-DSig (exc-c14n, rsa-sha256, the
certificate in ``KeyInfo/X509Data``), ``Subject/NameID NameQualifier="CPS"`` = the PS idNat, an
``AttributeStatement`` (``identifiantFacturation``, ``secteurActivite``, sometimes ``codeSpecialiteAMO`` /
``CodeSpecialite``). The signature machinery is the DMP's (``security.vihf``: reference to the assertion ID,
accepted algorithms, chain to the sandbox CAs, wrapping protection, values read from the *signed* view only);
on top of it: the signer must be a card certificate of the FORT PERSONNES CA, the Issuer must name it, and the
assertion must be recent (``max_age``, 1 h by default: padoa's test comment) and not from the future. For the
Vitale operation the real service also receives a Vitale assertion whose schema is not published: any other
assertion in the header is noted, not checked.

**mTLS mode.** The client certificate (from the ASGI TLS extension, or from a reverse proxy's header) must chain
to the sandbox PKI, be valid at the workspace's clock, be a TLS client certificate, and have the subject CN
exactly ``INSI-AUTO`` or ``INSI-MANU`` — otherwise ``DESIR_560`` (access level too low).
"""
from __future__ import annotations

import base64
import binascii
import urllib.parse
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from cryptography import x509
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import XMLSigner
from signxml.algorithms import CanonicalizationMethod, SignatureConstructionMethod

from ..dmp.faults import DmpFault
from ..pki import Issued, TestPKI, read_card_extensions
from ..security import dn
from ..security import vihf as _vihf
from ..security.namespaces import DS, SIGNATURE_ALGORITHMS, X509_SUBJECT_NAME
from ..security.xmltime import as_utc, format_datetime, parse_datetime
from ..soap import SoapMessage
from ..soap import namespaces as soap_ns
from .constants import SAML2
from .faults import InsiFault

AuthMode = Literal["CPX", "MTLS", "NONE"]
INSI_PROFILES = ("INSI-AUTO", "INSI-MANU")
_S = f"{{{SAML2}}}"
_ALL_MODES = ("cpx", "mtls", "none")


@dataclass(frozen=True)
class CallerSettings:
    modes: tuple[str, ...] = ("cpx", "mtls")  # "none": no caller identity required (early integration)
    lenient_unsigned: bool = False  # accept an unsigned assertion PS (noted)
    max_age: timedelta = timedelta(hours=1)
    clock_skew: timedelta = timedelta(minutes=5)
    signer_usage: Literal["sign", "auth", "any"] = "any"  # which card certificate may sign the assertion

    def __post_init__(self) -> None:
        unknown = set(self.modes) - set(_ALL_MODES)
        if unknown or not self.modes:
            raise ValueError(f"insi_auth_modes: {sorted(unknown) or 'empty'}; expected some of {_ALL_MODES}")


@dataclass(frozen=True)
class InsiCaller:
    mode: AuthMode
    id: str | None  # the PS idNat (assertion NameID) or the structure idNat (certificate OU)
    profile: str | None = None  # INSI-AUTO / INSI-MANU, or CPS / CPE for an assertion
    subject: str | None = None  # the certificate subject (RFC 4514)
    attributes: Mapping[str, str] = field(default_factory=dict)
    signed: bool = True
    certificate: x509.Certificate | None = field(default=None, compare=False)
    notes: tuple[str, ...] = ()

    def summary(self) -> dict[str, Any]:
        return {"auth_mode": self.mode, "id": self.id, "profile": self.profile, "subject_name": self.subject,
                "attributes": dict(self.attributes), "signed": self.signed}


def _caller_fault(detail: str) -> InsiFault:
    return InsiFault("caller", f"Authentification de l'appelant refusée : {detail}.")


def verify_caller(message: SoapMessage, *, pki: TestPKI, now: datetime,
                  client_chain: Sequence[x509.Certificate] = (),
                  settings: CallerSettings = CallerSettings()) -> InsiCaller:
    """The caller of an INSi request, or an ``InsiFault`` (``caller`` / ``DESIR_560``)."""
    now = as_utc(now)
    securities = [h for h in message.headers if h.tag == f"{{{soap_ns.WSSE}}}Security"]
    notes: list[str] = []
    if securities and "cpx" in settings.modes:
        if len(securities) > 1:
            raise _caller_fault(f"{len(securities)} en-têtes wsse:Security, un seul est admis")
        caller = _verify_assertion(securities[0], pki=pki, now=now, settings=settings)
        if client_chain:
            caller = _with_note(caller, "certificat client TLS présent, ignoré : l'assertion PS identifie l'appelant")
        return caller
    if securities:
        notes.append("en-tête wsse:Security ignoré : le mode CPx n'est pas accepté dans cet espace de travail")
    if client_chain and "mtls" in settings.modes:
        return _with_note(_verify_certificate(client_chain[0], pki=pki, now=now), *notes)
    if "none" in settings.modes:
        return InsiCaller("NONE", None, signed=False,
                          notes=(*notes, "aucune authentification de l'appelant (mode permissif)"))
    wanted = " ou ".join({"cpx": "assertion PS (wsse:Security)", "mtls": "certificat client INSI-AUTO/INSI-MANU"}[m]
                         for m in settings.modes if m != "none")
    raise _caller_fault(f"aucune identité d'appelant : {wanted} attendu")


def _with_note(caller: InsiCaller, *notes: str) -> InsiCaller:
    if not notes:
        return caller
    return InsiCaller(caller.mode, caller.id, caller.profile, caller.subject, caller.attributes, caller.signed,
                      caller.certificate, (*caller.notes, *notes))


# -- mTLS ---------------------------------------------------------------------------------------------------


def _verify_certificate(cert: x509.Certificate, *, pki: TestPKI, now: datetime) -> InsiCaller:
    subject = cert.subject.rfc4514_string()
    verdict = pki.verify_chain(cert, now, purpose="auth")
    if not verdict.ok:
        raise _caller_fault(f"certificat client {subject} refusé ({verdict.reason} : {verdict.detail})")
    common_names = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    profile = common_names[0] if len(common_names) == 1 else None
    if profile not in INSI_PROFILES:
        raise InsiFault("DESIR_560", f"Niveau d'accès insuffisant : le certificat client doit avoir pour CN "
                                     f"INSI-AUTO ou INSI-MANU (reçu « {', '.join(common_names) or 'aucun'} »).")
    units = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)]
    return InsiCaller("MTLS", units[0] if units else None, profile, subject, certificate=cert)


def certificates_from_pem_chain(chain: Sequence[str | bytes]) -> list[x509.Certificate]:
    """The ASGI TLS extension's ``client_cert_chain`` (PEM strings, leaf first) as certificates."""
    return [x509.load_pem_x509_certificate(c.encode() if isinstance(c, str) else c) for c in chain]


def certificate_from_header(value: str) -> x509.Certificate:
    """A client certificate forwarded by a TLS-terminating proxy: URL-escaped PEM (nginx
    ``$ssl_client_escaped_cert``), PEM with its newlines folded into spaces, or base64 DER. ValueError if none."""
    text = urllib.parse.unquote(value.strip())
    if "BEGIN CERTIFICATE" in text:
        body = text.split("-----BEGIN CERTIFICATE-----", 1)[1].split("-----END CERTIFICATE-----", 1)[0]
        text = "".join(body.split())
    try:
        return x509.load_der_x509_certificate(base64.b64decode("".join(text.split()), validate=True))
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"not a certificate: {exc}") from None


# -- CPx assertion ------------------------------------------------------------------------------------------


def _ps_assertion(security: etree._Element) -> tuple[etree._Element, list[str]]:
    assertions = [c for c in security if c.tag == f"{_S}Assertion"]
    if not assertions:
        raise _caller_fault("wsse:Security ne contient pas d'assertion SAML 2.0 (assertion PS)")
    notes: list[str] = []
    cps = [a for a in assertions if any(n.get("NameQualifier") == "CPS" for n in a.iterfind(f"{_S}Subject/{_S}NameID"))]
    if len(cps) == 1:
        chosen = cps[0]
    elif len(assertions) == 1:
        chosen = assertions[0]
    else:
        raise _caller_fault(f"{len(assertions)} assertions dans wsse:Security et aucune désignée comme assertion PS "
                            "(NameID NameQualifier=\"CPS\")")
    if len(assertions) > 1:
        notes.append(f"{len(assertions) - 1} autre(s) assertion(s) (carte Vitale ?) non vérifiée(s) : schéma non "
                     "publié")
    return chosen, notes


def _rewrap(fault: DmpFault) -> InsiFault:
    detail = fault.reason
    if fault.dmp_code == _vihf.INVALID_CERTIFICATE:
        detail = "certificat signataire de l'assertion invalide : " + detail.split(" : ", 1)[-1]
    elif detail.startswith("VIHF invalide : "):
        detail = "assertion PS invalide : " + detail[len("VIHF invalide : "):]
    return _caller_fault(detail.rstrip("."))


def _verify_assertion(security: etree._Element, *, pki: TestPKI, now: datetime,
                      settings: CallerSettings) -> InsiCaller:
    assertion, notes = _ps_assertion(security)
    try:
        assertion_id = _vihf.check_ids(security, assertion)
        if assertion.get("Version") != "2.0":
            raise _caller_fault(f"l'assertion PS doit être en Version 2.0 (reçu {assertion.get('Version')!r})")
        issuers = assertion.findall(f"{_S}Issuer")
        if len(issuers) != 1 or issuers[0].get("Format") != X509_SUBJECT_NAME:
            raise _caller_fault(f"l'assertion PS doit avoir un saml2:Issuer de Format {X509_SUBJECT_NAME}")
        signatures = assertion.findall(f"{{{DS}}}Signature")
        cert: x509.Certificate | None = None
        if len(signatures) > 1:
            raise _caller_fault("l'assertion PS porte plusieurs signatures")
        if signatures:
            vihf_settings = _vihf.VihfSettings(require_signature_cert=settings.signer_usage == "sign")
            cert, verdict, view = _vihf.verify_assertion_signature(assertion, signatures[0], assertion_id, pki, now,
                                                          vihf_settings)
        elif settings.lenient_unsigned:
            notes.append("assertion PS non signée acceptée (mode permissif)")
            verdict = None
            view = _vihf.canonical_view(assertion)
        else:
            raise _caller_fault("l'assertion PS n'est pas signée (ds:Signature absent)")
    except DmpFault as fault:
        raise _rewrap(fault) from None

    profile: str | None = None
    if cert is not None and verdict is not None:
        issuing = verdict.chain[1] if len(verdict.chain) > 1 else None
        try:
            card = read_card_extensions(cert)
        except ValueError:
            card = None
        if issuing != pki.authority("fort-personnes").certificate or card is None or card.card_type is None:
            raise _caller_fault("l'assertion PS doit être signée par une carte CPx (certificat de l'AC FORT "
                                "PERSONNES)")
        profile = {0: "CPS", 1: "CPF", 2: "CPE", 3: "CPA"}.get(card.card_type)
        if settings.signer_usage == "auth" and not pki.is_auth_cert(cert):
            raise _caller_fault("l'assertion PS doit être signée avec la clé d'authentification de la carte")
        if settings.signer_usage == "any" and not pki.is_signature_cert(cert):
            notes.append("assertion PS signée avec la clé d'authentification de la carte")
        issuer = (view.findtext(f"{_S}Issuer") or "").strip()
        try:
            matches = dn.dn_matches(issuer, cert.subject)
        except dn.DnSyntaxError as exc:
            raise _caller_fault(f"Issuer {issuer!r} n'est pas un DN X.509 lisible ({exc})") from None
        if not matches:
            raise _caller_fault(f"l'Issuer {issuer!r} ne correspond pas au certificat signataire "
                                f"{dn.render_dn(cert.subject)!r}")
    _check_time(view, now, settings)
    name_ids = view.findall(f"{_S}Subject/{_S}NameID")
    if len(name_ids) != 1 or not (name_ids[0].text or "").strip():
        raise _caller_fault("saml2:Subject/saml2:NameID (identifiant national du PS) absent")
    if name_ids[0].get("NameQualifier") != "CPS":
        notes.append(f"NameID/@NameQualifier {name_ids[0].get('NameQualifier')!r} au lieu de \"CPS\"")
    attributes: dict[str, str] = {}
    for attribute in view.iterfind(f"{_S}AttributeStatement/{_S}Attribute"):
        value = attribute.findtext(f"{_S}AttributeValue")
        if attribute.get("Name") and value is not None:
            attributes[attribute.get("Name", "")] = value.strip()
    if "secteurActivite" not in attributes:
        notes.append("attribut secteurActivite absent de l'assertion PS")
    return InsiCaller("CPX", (name_ids[0].text or "").strip(), profile,
                      cert.subject.rfc4514_string() if cert is not None else None, attributes,
                      signed=cert is not None, certificate=cert, notes=tuple(notes))


def _check_time(view: etree._Element, now: datetime, settings: CallerSettings) -> None:
    raw = view.get("IssueInstant") or ""
    try:
        issued, _ = parse_datetime(raw)
    except ValueError:
        raise _caller_fault(f"IssueInstant {raw!r} n'est pas un xs:dateTime") from None
    if issued > now + settings.clock_skew:
        raise _caller_fault(f"assertion PS émise dans le futur (IssueInstant {raw}, tolérance "
                            f"{int(settings.clock_skew.total_seconds())} s)")
    if now - issued > settings.max_age:
        raise _caller_fault(f"assertion PS expirée (IssueInstant {raw}, validité "
                            f"{int(settings.max_age.total_seconds() // 60)} min)")
    for conditions in view.findall(f"{_S}Conditions"):
        for name, later in (("NotBefore", False), ("NotOnOrAfter", True)):
            value = conditions.get(name)
            if value is None:
                continue
            try:
                moment, _ = parse_datetime(value)
            except ValueError:
                raise _caller_fault(f"Conditions/@{name} {value!r} n'est pas un xs:dateTime") from None
            if (later and now - settings.clock_skew >= moment) or (not later and now + settings.clock_skew < moment):
                raise _caller_fault(f"assertion PS hors de sa période de validité (Conditions {name}={value})")


class _Signer(XMLSigner):
    def check_deprecated_methods(self) -> None:  # rsa-sha1 allowed, as in the DMP builder
        return None


def build_assertion_ps(*, signer: Issued | None, professional: Mapping[str, Any], now: datetime,
                       structure: Mapping[str, Any] | None = None, name_id: str | None = None,
                       attributes: Mapping[str, str] | None = None, algorithm: str = "rsa-sha256",
                       issuer: str | None = None, sign: bool = True,
                       conditions: tuple[datetime, datetime] | None = None) -> etree._Element:
    """An "assertion PS" as padoa's client writes it (fixture ``assertionPsSecurity``), signed with the card's
    key: Issuer = card subject, NameID NameQualifier="CPS" = idNat, attributes identifiantFacturation and
    secteurActivite (from the structure's ``secteur_activite`` when given)."""
    assertion_id = f"_{uuid.uuid4()}"
    root = etree.Element(f"{_S}Assertion", nsmap={"saml2": SAML2})
    root.set("ID", assertion_id)
    root.set("IssueInstant", format_datetime(now))
    root.set("Version", "2.0")
    issuer_element = etree.SubElement(root, f"{_S}Issuer", Format=X509_SUBJECT_NAME)
    issuer_element.text = issuer or (dn.render_dn(signer.certificate.subject) if signer is not None
                                     else f"CN={professional.get('id_nat')},C=FR")
    if sign:
        etree.SubElement(root, f"{{{DS}}}Signature", nsmap={"ds": DS}).set("Id", "placeholder")
    subject = etree.SubElement(root, f"{_S}Subject")
    name = etree.SubElement(subject, f"{_S}NameID", NameQualifier="CPS")
    name.text = name_id or str(professional["id_nat"])
    if conditions is not None:
        etree.SubElement(root, f"{_S}Conditions", NotBefore=format_datetime(conditions[0]),
                         NotOnOrAfter=format_datetime(conditions[1]))
    sector = ((structure or {}).get("secteur_activite") or {}).get("code") or "SA05"
    values = {"identifiantFacturation": str(professional.get("rpps") or professional["id_nat"])[-9:],
              "secteurActivite": str(sector), **(attributes or {})}
    statement = etree.SubElement(root, f"{_S}AttributeStatement")
    for key, value in values.items():
        attribute = etree.SubElement(statement, f"{_S}Attribute", Name=key)
        etree.SubElement(attribute, f"{_S}AttributeValue").text = value
    if not sign:
        return root
    if signer is None:
        raise ValueError("a signer is needed unless sign=False")
    signature_method, digest_method = SIGNATURE_ALGORITHMS[algorithm]
    xml_signer = _Signer(method=SignatureConstructionMethod.enveloped, signature_algorithm=signature_method,
                         digest_algorithm=digest_method,
                         c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0)
    return xml_signer.sign(root, key=signer.private_key, cert=[signer.certificate], reference_uri=f"#{assertion_id}",
                           id_attribute="ID")
