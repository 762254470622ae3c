"""Verify the VIHF (SAML 2.0 assertion in ``wsse:Security``) of a DMP request and turn it into a ``Principal``.

What is checked, in this order (the first failure raises a ``DmpFault``; dmp.md §2, §0.4):

1. one ``wsse:Security`` header holding exactly one ``saml2:Assertion``, and no other assertion anywhere in the
   envelope; ``Version="2.0"``, an ``ID``, an ``IssueInstant``; no other element of the header, and nothing in
   the envelope, carries the assertion's ID (duplicate IDs inside the header are refused too);
2. ``saml2:Issuer`` with ``Format`` X509SubjectName;
3. the XML signature, a direct child of the assertion: one Reference whose URI is ``#<assertion ID>``,
   transforms enveloped-signature + exc-c14n only, RSA-SHA1/256/384/512 and SHA-1/256/384/512 digests;
   the certificate of ``KeyInfo`` must chain to the sandbox CAs, be in date, not revoked and be a signature
   certificate (``pki.verify_chain(..., purpose="sign")``); signxml then verifies the signature with that
   certificate. Unsigned assertions are refused unless ``VihfSettings.lenient_unsigned`` (the official
   example requests embed unsigned VIHFs), which records a note;
4. everything afterwards is read from the *signed* assertion as signxml returns it (its exc-c14n form,
   without the signature, comments excised), never from the received tree: a wrapped or substituted
   assertion cannot lend its attributes. A value whose received text differs from the signed text (a
   comment splitting ``NameID``, for instance) is refused rather than silently read one way or the other;
5. Issuer DN == signer certificate subject (RFC 4514 forms compared attribute by attribute, see ``dn``);
6. timing: IssueInstant not older than ``max_age`` nor later than now + ``clock_skew``; ``Conditions``
   NotBefore / NotOnOrAfter when present (with the skew); AuthnInstant, when present, not in the future;
7. NameID of a known form: ``8``+RPPS (12 digits), ``0``+ADELI (10 characters), ``<structure>/<local id>``;
8. attributes (names in ``MANDATORY_ATTRIBUTES`` and the conditional ones), each with its format;
9. authentication mode against the certificate: DIRECTE needs a professional card certificate (FORT
   PERSONNES CA, card extensions); INDIRECTE / INDIRECTE_RENFORCEE need a structure certificate
   (ELEMENTAIRE ORGANISATIONS CA) whose OU (structure idNat) is ``Identifiant_Structure``;
10. the patient ``resource-id`` against the request's patient.

Fault codes. ``DMPInvalidCertificate`` is the real DMP code (observed frame: "Le certificat ayant signé le
VIHF est invalide : Not a valid signature certificate"); the sandbox uses it, with the same French prefix,
for every problem of the signer certificate. The code the real DMP returns for a malformed or inconsistent
VIHF is **not published**: the sandbox answers ``DMPVIHFInvalid`` (constant ``VIHF_INVALID``) with a French
reason naming the attribute or rule, e.g. "VIHF invalide : attribut obligatoire Ressource_URN absent".
Published DMP texts are reused where one exists ("Erreur d'authentification de la personne morale").

NameID and the card. In the official DIRECTE example the NameID (``899900063480``) is not the signing card's
idNat (``899900038839``), so by default the sandbox does not require them to match;
``VihfSettings.require_nameid_matches_card=True`` makes it strict.
"""
from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import re
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, cast

from cryptography import x509
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import SignatureConfiguration, XMLVerifier
from signxml.algorithms import DigestAlgorithm, SignatureMethod
from signxml.exceptions import InvalidCertificate, InvalidDigest, InvalidInput, InvalidSignature, SignXMLException

from ..dmp.faults import DmpFault, invalid_certificate
from ..pki import ChainVerdict, TestPKI, load_der_certificate, read_card_extensions
from ..soap import SoapMessage
from . import dn
from . import namespaces as ns
from .principal import AuthMode, CardType, Coded, PatientRef, Principal, Purpose
from .xmltime import as_utc, parse_datetime

VIHF_INVALID = "DMPVIHFInvalid"
INVALID_CERTIFICATE = "DMPInvalidCertificate"
PERSONNE_MORALE = "Erreur d'authentification de la personne morale"
PATIENT_MISMATCH = "patient de la requête différent du VIHF"

ATTR_STRUCTURE = "Identifiant_Structure"
ATTR_SECTOR = "Secteur_Activite"
ATTR_ROLE = "urn:oasis:names:tc:xacml:2.0:subject:role"
ATTR_VERSION = "VIHF_Version"
ATTR_MODE = "Authentification_mode"
ATTR_RESOURCE_ID = "urn:oasis:names:tc:xacml:2.0:resource:resource-id"
ATTR_RESOURCE_URN = "Ressource_URN"
ATTR_PURPOSE = "urn:oasis:names:tc:xspa:1.0:subject:purposeofuse"
ATTR_SUBJECT_ID = "urn:oasis:names:tc:xspa:1.0:subject:subject-id"
ATTR_CONFIDENTIALITY = "urn:oasis:names:tc:xspa:1.0:resource:patient:hl7:confidentiality-code"
ATTR_LPS_ID = "LPS_ID"
ATTR_LPS_NAME = "LPS_Nom"
ATTR_LPS_VERSION = "LPS_Version"
ATTR_LPS_HOMOLOGATION = "LPS_ID_HOMOLOGATION_DMP"

MANDATORY_ATTRIBUTES: tuple[str, ...] = (
    ATTR_STRUCTURE, ATTR_SECTOR, ATTR_ROLE, ATTR_VERSION, ATTR_MODE, ATTR_RESOURCE_URN, ATTR_PURPOSE,
    ATTR_LPS_NAME, ATTR_LPS_VERSION, ATTR_LPS_HOMOLOGATION,
)
# Required only in some cases: subject-id in indirect modes, resource-id when the request names a patient.
CONDITIONAL_ATTRIBUTES: tuple[str, ...] = (ATTR_SUBJECT_ID, ATTR_RESOURCE_ID)

AUTH_MODES: tuple[AuthMode, ...] = ("DIRECTE", "INDIRECTE", "INDIRECTE_RENFORCEE")
PURPOSES: tuple[Purpose, ...] = ("normal", "bris_de_glace", "centre_15")
RESOURCE_URN = "urn:dmp"

_CARD_TYPES: dict[int, CardType] = {0: "CPS", 1: "CPF", 2: "CPE"}  # TRE_G02; 3 (CPA) has no Principal value

_NAME_ID_FORMS = (
    re.compile(r"8\d{11}"),  # 8 + RPPS
    re.compile(r"0[0-9A-Za-z]{9}"),  # 0 + ADELI
    re.compile(r"[0-9][0-9A-Za-z]{1,30}/[^\s/]{1,100}"),  # <structure idNat>/<local id> (CPE, internal account)
)
_STRUCTURE_ID = re.compile(r"[0-9][0-9A-Za-z]{1,30}")
_SECTOR = re.compile(r"(SA\d{2})\^" + re.escape(ns.OID_SECTOR))
_CX = re.compile(r"(?P<ins>[^\^&]+)\^\^\^&(?P<oid>[0-2](?:\.\d+)+)&ISO\^NH")
_INS = re.compile(r"\d{5}(?:\d{2}|2[AB])\d{8}")
_NCNAME_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")

_SIGNATURE_METHODS = frozenset({SignatureMethod.RSA_SHA1, SignatureMethod.RSA_SHA256, SignatureMethod.RSA_SHA384,
                                SignatureMethod.RSA_SHA512})
_DIGEST_METHODS = frozenset({DigestAlgorithm.SHA1, DigestAlgorithm.SHA256, DigestAlgorithm.SHA384,
                             DigestAlgorithm.SHA512})
_REFERENCE_TRANSFORMS = frozenset({ns.ENVELOPED, ns.EXC_C14N, ns.EXC_C14N_WITH_COMMENTS})
_SIGNED_INFO_C14N = frozenset({ns.EXC_C14N, ns.EXC_C14N_WITH_COMMENTS})

_S = f"{{{ns.SAML2}}}"
_D = f"{{{ns.DS}}}"
_H = f"{{{ns.HL7}}}"


@dataclass(frozen=True)
class VihfSettings:
    """How strict the VIHF checks are; the defaults are the homologation-like behaviour."""

    lenient_unsigned: bool = False  # accept an assertion without ds:Signature (noted on the Principal)
    clock_skew: timedelta = timedelta(minutes=5)
    max_age: timedelta = timedelta(hours=2)  # IssueInstant older than this is refused
    accepted_versions: tuple[str, ...] = ("3.0", "4.0")
    require_signature_cert: bool = True  # keyUsage nonRepudiation (the DMP's "Not a valid signature certificate")
    require_nameid_matches_card: bool = False  # DIRECTE: NameID == card CN (the official example does not)
    # EJ/EG rule (dmp.md §0.4): a certificate issued for the structure idNat on the left may sign VIHFs whose
    # Identifiant_Structure is any idNat on the right (FINESS EG of the EJ).
    structure_links: Mapping[str, frozenset[str]] = field(default_factory=lambda: MappingProxyType({}))
    # When set, the resource-id assigning authority must be one of these OIDs (INS-NIR test: 1.2.250.1.213.1.4.10).
    accepted_patient_oids: tuple[str, ...] | None = None


def vihf_fault(detail: str) -> DmpFault:
    return DmpFault(VIHF_INVALID, f"VIHF invalide : {detail}")


def verify_vihf(
    source: SoapMessage | etree._Element | Iterable[etree._Element],
    *,
    pki: TestPKI,
    now: datetime,
    expected_patient: PatientRef | None = None,
    settings: VihfSettings = VihfSettings(),
) -> Principal:
    """Check the VIHF of a request and return its ``Principal``; raise ``DmpFault`` on the first problem.

    ``source``: the parsed request, its header elements, the ``wsse:Security`` element (or the SOAP Envelope /
    Header holding it). ``expected_patient``: the patient the request is about, when it names one; the
    resource-id attribute is then required and must be that patient.
    """
    now = as_utc(now)
    notes: list[str] = []
    security = _find_security(source)
    assertion = _single_assertion(security)
    assertion_id = check_ids(security, assertion)
    if assertion.get("Version") != "2.0":
        raise vihf_fault(f"l'assertion doit être en Version 2.0 (reçu {assertion.get('Version')!r})")
    _check_issuer_element(assertion)

    signatures = assertion.findall(f"{_D}Signature")
    cert: x509.Certificate | None = None
    verdict: ChainVerdict | None = None
    if len(signatures) > 1:
        raise vihf_fault(f"l'assertion porte {len(signatures)} signatures ds:Signature, une seule est admise")
    if signatures:  # both branches check the received text against the signed (canonical) one
        cert, verdict, view = verify_assertion_signature(assertion, signatures[0], assertion_id, pki, now, settings)
    elif settings.lenient_unsigned:
        notes.append("VIHF non signé accepté (mode permissif)")
        view = canonical_view(assertion)
    else:
        raise vihf_fault("l'assertion n'est pas signée (ds:Signature absent)")

    issuer = _text(view.find(f"{_S}Issuer"))
    if cert is not None:
        try:
            matches = dn.dn_matches(issuer, cert.subject)
        except dn.DnSyntaxError as exc:
            raise vihf_fault(f"Issuer {issuer!r} n'est pas un DN X.509 lisible ({exc})") from None
        if not matches:
            raise vihf_fault(f"l'Issuer {issuer!r} ne correspond pas au sujet du certificat signataire "
                             f"{dn.render_dn(cert.subject)!r}")

    issue_instant = _check_timing(view, now, settings, notes)
    name_id = _name_id(view)
    attributes = _Attributes(view, notes)

    structure_id = attributes.single(ATTR_STRUCTURE)
    if not _STRUCTURE_ID.fullmatch(structure_id):
        raise vihf_fault(f"attribut {ATTR_STRUCTURE} : identifiant de structure {structure_id!r} mal formé")
    sector_value = attributes.single(ATTR_SECTOR)
    sector_match = _SECTOR.fullmatch(sector_value)
    if sector_match is None:
        raise vihf_fault(f"attribut {ATTR_SECTOR} : {sector_value!r} n'est pas de la forme SAxx^{ns.OID_SECTOR}")
    roles = attributes.coded(ATTR_ROLE, "Role")
    version = attributes.single(ATTR_VERSION)
    if version not in settings.accepted_versions:
        raise vihf_fault(f"attribut {ATTR_VERSION} : version {version!r} non acceptée "
                         f"(attendu {' ou '.join(settings.accepted_versions)})")
    mode_value = attributes.single(ATTR_MODE)
    if mode_value not in AUTH_MODES:
        raise vihf_fault(f"attribut {ATTR_MODE} : mode {mode_value!r} inconnu (attendu {', '.join(AUTH_MODES)})")
    mode = cast(AuthMode, mode_value)
    resource_urn = attributes.single(ATTR_RESOURCE_URN)
    if resource_urn != RESOURCE_URN:
        raise vihf_fault(f"attribut {ATTR_RESOURCE_URN} : {resource_urn!r} au lieu de {RESOURCE_URN!r}")
    purpose = _purpose(attributes.coded(ATTR_PURPOSE, "PurposeOfUse"))
    subject_name = attributes.single(ATTR_SUBJECT_ID, required=mode != "DIRECTE")
    lps_name = attributes.single(ATTR_LPS_NAME)
    lps_version = attributes.single(ATTR_LPS_VERSION)
    lps_homologation = attributes.single(ATTR_LPS_HOMOLOGATION)
    lps_id = attributes.single(ATTR_LPS_ID, required=False)
    confidentiality = tuple(_confidentiality(v) for v in attributes.strings(ATTR_CONFIDENTIALITY))
    resource_id = attributes.single(ATTR_RESOURCE_ID, required=expected_patient is not None)
    patient = _patient(resource_id, settings) if resource_id is not None else None
    if expected_patient is not None and patient != expected_patient:
        assert patient is not None
        raise vihf_fault(f"{PATIENT_MISMATCH} (requête {expected_patient.cx()}, VIHF {patient.cx()})")

    card_type: CardType | None = None
    if cert is not None and verdict is not None:
        card_type = _check_mode(mode, cert, verdict, pki, name_id, structure_id, settings)

    profession = roles[0].code if roles[0].code_system == ns.OID_PROFESSION else None
    return Principal(
        assertion_id=assertion_id,
        issue_instant=issue_instant,
        auth_mode=mode,
        name_id=name_id,
        structure_id=structure_id,
        sector=sector_match.group(1),
        roles=roles,
        profession=profession,
        specialty=roles[1].code if len(roles) > 1 else None,
        purpose=purpose,
        patient=patient,
        subject_name=subject_name,
        vihf_version=version,
        lps_name=lps_name,
        lps_version=lps_version,
        lps_id=lps_id,
        lps_homologation=lps_homologation,
        card_type=card_type,
        signer=cert,
        signed=cert is not None,
        confidentiality=confidentiality,
        notes=tuple(notes),
    )


# --- locating the assertion -------------------------------------------------------------------------


_CLAIMED_NAME_ID = etree.XPath("s:Assertion/s:Subject/s:NameID/text()", namespaces={"s": ns.SAML2})
_CLAIMED_RESOURCE_ID = etree.XPath(f"s:Assertion/s:AttributeStatement/s:Attribute[@Name='{ATTR_RESOURCE_ID}']"
                                   "/s:AttributeValue/text()", namespaces={"s": ns.SAML2})


def claimed_caller(message: SoapMessage) -> tuple[str, str] | None:
    """The patient INS and professional NameID the VIHF *claims*, read without any check: a key to prefetch what
    the call will need (``WorkspaceRepository.get_for_call``), to be used only once ``verify_vihf`` has returned the
    same two values. None when the request does not hold exactly one of each."""
    headers = [h for h in _elements(message.headers) if h.tag == f"{{{ns.WSSE}}}Security"]
    if len(headers) != 1:
        return None
    name_ids, resource_ids = _CLAIMED_NAME_ID(headers[0]), _CLAIMED_RESOURCE_ID(headers[0])
    if len(name_ids) != 1 or len(resource_ids) != 1:
        return None
    match = _CX.fullmatch(resource_ids[0].strip())
    return (match["ins"], name_ids[0].strip()) if match else None


def _elements(items: Iterable[Any]) -> list[etree._Element]:
    return [item for item in items if isinstance(item, etree._Element) and isinstance(item.tag, str)]


def _find_security(source: SoapMessage | etree._Element | Iterable[etree._Element]) -> etree._Element:
    if isinstance(source, SoapMessage):
        headers = _elements(source.headers)
    elif isinstance(source, etree._Element):
        name = etree.QName(source)
        if (name.namespace, name.localname) == (ns.WSSE, "Security"):
            return source
        if name.localname == "Envelope":
            header = next((c for c in _elements(source) if etree.QName(c).localname == "Header"), None)
            headers = _elements(header) if header is not None else []
        elif name.localname == "Header":
            headers = _elements(source)
        else:
            raise TypeError(f"expected a wsse:Security element, a SOAP Envelope or Header, not {source.tag}")
    else:
        headers = _elements(source)
    found = [h for h in headers if h.tag == f"{{{ns.WSSE}}}Security"]
    if not found:
        raise vihf_fault("en-tête wsse:Security absent, le VIHF est obligatoire")
    if len(found) > 1:
        raise vihf_fault(f"{len(found)} en-têtes wsse:Security, un seul est admis")
    return found[0]


def _single_assertion(security: etree._Element) -> etree._Element:
    direct = [c for c in _elements(security) if c.tag == f"{_S}Assertion"]
    everywhere = list(security.getroottree().getroot().iter(f"{_S}Assertion"))
    if len(direct) != 1 or len(everywhere) != 1:
        raise vihf_fault(f"wsse:Security doit contenir exactement une saml2:Assertion et le message aucune autre "
                         f"({len(direct)} dans wsse:Security, {len(everywhere)} dans l'enveloppe)")
    return direct[0]


# the ID-like attributes (ID, Id, id, in any namespace) of an element and its descendants, found in C
_ID_LIKE = "local-name() = 'ID' or local-name() = 'Id' or local-name() = 'id'"
_HEADER_IDS = etree.XPath(f"descendant-or-self::*/@*[{_ID_LIKE}]")
# the ID-like attributes of the whole envelope holding a given value
_ID_USES = etree.XPath(f"//@*[({_ID_LIKE}) and . = $id]")


def check_ids(security: etree._Element, assertion: etree._Element) -> str:
    """The assertion's ID; refuse IDs repeated in the header or reused anywhere in the envelope."""
    assertion_id = assertion.get("ID")
    if not assertion_id:
        raise vihf_fault("attribut ID de l'assertion absent")
    if not _NCNAME_ID.fullmatch(assertion_id):
        raise vihf_fault(f"ID de l'assertion {assertion_id!r} n'est pas un xs:ID")
    if not assertion.get("IssueInstant"):
        raise vihf_fault("attribut IssueInstant de l'assertion absent")
    in_header = Counter(_HEADER_IDS(security))
    repeated = sorted(v for v, count in in_header.items() if count > 1)
    if repeated:
        raise vihf_fault(f"identifiants dupliqués dans wsse:Security : {', '.join(repeated)}")
    root = security.getroottree().getroot()
    # XPath finds the attributes holding the assertion's ID in C: a feed's envelope has thousands of elements
    uses = len(_ID_USES(root, id=assertion_id))
    if uses != 1:
        raise vihf_fault(f"l'identifiant {assertion_id} de l'assertion est porté par {uses} éléments du message")
    return assertion_id


def _check_issuer_element(assertion: etree._Element) -> None:
    issuers = assertion.findall(f"{_S}Issuer")
    if len(issuers) != 1:
        raise vihf_fault("saml2:Issuer absent" if not issuers else "plusieurs saml2:Issuer")
    if issuers[0].get("Format") != ns.X509_SUBJECT_NAME:
        raise vihf_fault(f"saml2:Issuer doit avoir Format={ns.X509_SUBJECT_NAME} "
                         f"(reçu {issuers[0].get('Format')!r})")


# --- signature --------------------------------------------------------------------------------------


def _required(parent: etree._Element, path: str, what: str) -> etree._Element:
    found = parent.find(path, {"ds": ns.DS})
    if found is None:
        raise vihf_fault(f"signature XML incomplète : {what} absent")
    return found


def _chain_detail(verdict: ChainVerdict) -> str:
    detail = verdict.detail
    match verdict.reason:
        case "wrong_usage":
            return detail or "Not a valid signature certificate"
        case "unknown_issuer":
            return f"Unknown certificate issuer ({detail})"
        case "expired":
            return f"Certificate expired ({detail})"
        case "not_yet_valid":
            return f"Certificate not yet valid ({detail})"
        case "revoked":
            return f"Certificate revoked ({detail})"
        case "bad_signature":
            return f"Invalid certificate signature ({detail})"
    return f"{verdict.reason} ({detail})"


def verify_assertion_signature(
    assertion: etree._Element, signature: etree._Element, assertion_id: str, pki: TestPKI, now: datetime,
    settings: VihfSettings,
) -> tuple[x509.Certificate, ChainVerdict, etree._Element]:
    signed_info = _required(signature, "ds:SignedInfo", "SignedInfo")
    c14n = _required(signed_info, "ds:CanonicalizationMethod", "CanonicalizationMethod").get("Algorithm")
    if c14n not in _SIGNED_INFO_C14N:
        raise vihf_fault(f"CanonicalizationMethod {c14n!r} non accepté (attendu {ns.EXC_C14N})")
    references = signed_info.findall(f"{_D}Reference")
    if len(references) != 1:
        raise vihf_fault(f"la signature doit avoir une seule Reference, vers l'assertion ({len(references)} trouvées)")
    uri = references[0].get("URI")
    if uri != f"#{assertion_id}":
        raise vihf_fault(f"la signature ne porte pas sur l'assertion : Reference URI={uri!r}, attendu '#{assertion_id}'")
    transforms = [t.get("Algorithm") for t in references[0].findall(f"{_D}Transforms/{_D}Transform")]
    unexpected = [t for t in transforms if t not in _REFERENCE_TRANSFORMS]
    if unexpected or ns.ENVELOPED not in transforms:
        raise vihf_fault(f"transformations de la Reference non acceptées : {transforms} (attendu enveloped-signature "
                         "et exc-c14n)")

    certificates = signature.findall(f"{_D}KeyInfo/{_D}X509Data/{_D}X509Certificate")
    if not certificates:
        raise invalid_certificate("no X509Certificate in ds:KeyInfo")
    try:
        der = base64.b64decode("".join((certificates[0].text or "").split()), validate=True)
        cert = load_der_certificate(der)
    except (binascii.Error, ValueError):
        raise invalid_certificate("unreadable X509Certificate") from None
    verdict = pki.verify_chain(cert, now, purpose="sign" if settings.require_signature_cert else None)
    if not verdict.ok:
        raise invalid_certificate(_chain_detail(verdict))

    data = etree.tostring(assertion, with_tail=False)
    key = hashlib.sha256(data).digest() + hashlib.sha256(der).digest()  # the certificate's SHA-256 fingerprint
    cached = _verified.get(key)
    if cached is not None:
        return cert, verdict, cached
    config = SignatureConfiguration(
        location="./",
        expect_references=1,
        signature_methods=_SIGNATURE_METHODS,
        digest_algorithms=_DIGEST_METHODS,
        verification_time=now,
    )
    try:
        result = XMLVerifier().verify(data, x509_cert=cert, id_attribute="ID", expect_config=config)
    except InvalidDigest:
        raise vihf_fault("l'empreinte (DigestValue) ne correspond pas à l'assertion : contenu modifié après "
                         "signature") from None
    except InvalidCertificate as exc:
        raise invalid_certificate(str(exc)) from None
    except InvalidSignature:
        raise vihf_fault("la valeur de signature (SignatureValue) ne correspond pas au certificat de KeyInfo") \
            from None
    except (InvalidInput, SignXMLException, etree.DocumentInvalid, etree.XMLSyntaxError, ValueError) as exc:
        raise vihf_fault(f"signature XML non conforme : {exc}") from None
    view = cast(Any, result).signed_xml
    if view is None or view.tag != f"{_S}Assertion" or view.get("ID") != assertion_id:
        raise vihf_fault("l'élément signé n'est pas l'assertion")
    # a pure function of the assertion's bytes and the view, which they determine: a cache hit passed it already
    check_signed_text(assertion, view)
    _verified.put(key, view)
    return cert, verdict, view


class _VerifiedSignatures:
    """Successful XML-signature checks of assertions, by the SHA-256 of the assertion's serialised bytes and the
    signer certificate's fingerprint. A client replays the same VIHF for a session, and signxml (digest, c14n,
    RSA) is the bulk of a VIHF check. Safe because that check is a pure function of those bytes and that
    certificate: the only time-dependent part of signxml's verification (the certificate's validity window)
    and revocation are re-checked on every call by ``pki.verify_chain(cert, now)`` above, before the cache is
    consulted, and every check after the signature (timing, attributes, mode, patient) runs on each call; the
    received text's agreement with the signed one (``check_signed_text``) depends on those bytes only. Only
    successes are kept (a failure is re-verified and re-reported each time); entries expire after
    ``TTL_SECONDS`` and the cache is bounded. The cached view is copied out, so callers cannot alter it."""

    TTL_SECONDS = 60.0
    MAX_ENTRIES = 512

    def __init__(self) -> None:
        self._entries: OrderedDict[bytes, tuple[float, etree._Element]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: bytes) -> etree._Element | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            if time.monotonic() - found[0] > self.TTL_SECONDS:
                del self._entries[key]
                return None
            view = found[1]
        return copy.deepcopy(view)

    def put(self, key: bytes, view: etree._Element) -> None:
        with self._lock:
            self._entries[key] = (time.monotonic(), copy.deepcopy(view))
            self._entries.move_to_end(key)
            while len(self._entries) > self.MAX_ENTRIES:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_verified = _VerifiedSignatures()


def canonical_view(assertion: etree._Element) -> etree._Element:
    """What an unsigned assertion says once comments are dropped: the same reading as a signed one, and the same
    refusal of values that read differently in the received text (a signed one's is checked with its signature)."""
    canonical = etree.tostring(assertion, method="c14n", exclusive=True, with_comments=False)
    view = etree.fromstring(canonical)
    check_signed_text(assertion, view)
    return view


_VALUE_TAGS = (f"{_S}Issuer", f"{_S}NameID", f"{_S}AttributeValue")


def check_signed_text(received: etree._Element, view: etree._Element) -> None:
    """Refuse values that read differently in the received tree and in the signed (canonical) one."""
    for tag in _VALUE_TAGS:
        got = [e for e in received.iter(tag) if not _inside_signature(e, received)]
        signed = list(view.iter(tag))
        local = etree.QName(tag).localname
        if len(got) != len(signed):
            raise vihf_fault(f"le nombre d'éléments {local} reçus diffère de l'assertion signée")
        for mine, theirs in zip(got, signed):
            if any(not isinstance(child.tag, str) for child in theirs):
                raise vihf_fault(f"{local} contient un commentaire ou une instruction de traitement")
            leaf = not any(isinstance(child.tag, str) for child in mine)  # len() would count comments
            if leaf and (mine.text or "") != (theirs.text or ""):
                raise vihf_fault(f"le texte de {local} reçu ({mine.text!r}) diffère du texte signé "
                                 f"({theirs.text!r}) : commentaire ou instruction de traitement dans la valeur")


def _inside_signature(element: etree._Element, root: etree._Element) -> bool:
    parent = element.getparent()
    while parent is not None and parent is not root:
        if parent.tag == f"{_D}Signature":
            return True
        parent = parent.getparent()
    return False


# --- timing, subject ------------------------------------------------------------------------------------


def _instant(value: str | None, what: str, notes: list[str]) -> datetime:
    if value is None:
        raise vihf_fault(f"{what} absent")
    try:
        moment, zoned = parse_datetime(value)
    except ValueError:
        raise vihf_fault(f"{what} {value!r} n'est pas une date xs:dateTime") from None
    if not zoned:
        notes.append(f"{what} sans fuseau horaire, lu comme UTC")
    return moment


def _check_timing(view: etree._Element, now: datetime, settings: VihfSettings, notes: list[str]) -> datetime:
    issued = _instant(view.get("IssueInstant"), "IssueInstant", notes)
    skew = settings.clock_skew
    if issued > now + skew:
        raise vihf_fault(f"IssueInstant {view.get('IssueInstant')} est dans le futur (horloge du poste à "
                         f"synchroniser, tolérance {int(skew.total_seconds())} s)")
    if now - issued > settings.max_age:
        raise vihf_fault(f"VIHF expiré : IssueInstant {view.get('IssueInstant')} date de plus de "
                         f"{int(settings.max_age.total_seconds() // 60)} min")
    conditions = view.findall(f"{_S}Conditions")
    if len(conditions) > 1:
        raise vihf_fault("plusieurs saml2:Conditions")
    if conditions:
        not_before = conditions[0].get("NotBefore")
        not_after = conditions[0].get("NotOnOrAfter")
        if not_before is not None and now + skew < _instant(not_before, "Conditions/@NotBefore", notes):
            raise vihf_fault(f"VIHF pas encore valide : Conditions NotBefore={not_before}")
        if not_after is not None and now - skew >= _instant(not_after, "Conditions/@NotOnOrAfter", notes):
            raise vihf_fault(f"VIHF expiré : Conditions NotOnOrAfter={not_after}")
    for statement in view.findall(f"{_S}AuthnStatement"):
        authn = _instant(statement.get("AuthnInstant"), "AuthnStatement/@AuthnInstant", notes)
        if authn > now + skew:
            raise vihf_fault(f"AuthnInstant {statement.get('AuthnInstant')} est dans le futur")
    return issued


def _text(element: etree._Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""


def _name_id(view: etree._Element) -> str:
    name_ids = view.findall(f"{_S}Subject/{_S}NameID")
    if len(name_ids) != 1:
        raise vihf_fault("saml2:Subject/saml2:NameID absent" if not name_ids else "plusieurs saml2:NameID")
    value = _text(name_ids[0])
    if not any(form.fullmatch(value) for form in _NAME_ID_FORMS):
        raise vihf_fault(f"NameID {value!r} n'est ni un identifiant national de PS (8+RPPS, 0+ADELI) ni un "
                         "identifiant interne <structure>/<identifiant>")
    return value


# --- attributes -----------------------------------------------------------------------------------------


class _Attributes:
    """The AttributeStatement of the signed assertion, by name (each name once)."""

    def __init__(self, view: etree._Element, notes: list[str]) -> None:
        self._by_name: dict[str, etree._Element] = {}
        for attribute in view.iterfind(f"{_S}AttributeStatement/{_S}Attribute"):
            name = attribute.get("Name") or ""
            if name.lower() == ATTR_MODE.lower():
                if name != ATTR_MODE:
                    notes.append(f"attribut {name} lu comme {ATTR_MODE}")
                name = ATTR_MODE
            if name in self._by_name:
                raise vihf_fault(f"attribut {name} présent plusieurs fois")
            self._by_name[name] = attribute

    def _values(self, name: str, required: bool) -> list[etree._Element]:
        attribute = self._by_name.get(name)
        values = attribute.findall(f"{_S}AttributeValue") if attribute is not None else []
        if required and not values:
            raise vihf_fault(f"attribut obligatoire {name} absent")
        return values

    def strings(self, name: str) -> list[str]:
        out = []
        for value in self._values(name, required=False):
            text = _text(value)
            if len(value) or not text:
                raise vihf_fault(f"attribut {name} : valeur texte attendue")
            out.append(text)
        return out

    def single(self, name: str, *, required: bool = True) -> Any:
        values = self._values(name, required)
        if not values:
            return None
        if len(values) > 1:
            raise vihf_fault(f"attribut {name} : une seule valeur attendue ({len(values)} reçues)")
        text = _text(values[0])
        if len(values[0]) or not text:
            raise vihf_fault(f"attribut {name} : valeur vide ou non textuelle")
        return text

    def coded(self, name: str, local: str) -> tuple[Coded, ...]:
        out = []
        for value in self._values(name, required=True):
            children = [c for c in value if isinstance(c.tag, str)]
            if len(children) != 1 or children[0].tag != f"{_H}{local}":
                raise vihf_fault(f"attribut {name} : chaque valeur doit être un élément {local} (CE, {ns.HL7})")
            code, system = children[0].get("code"), children[0].get("codeSystem")
            if not code or not system:
                raise vihf_fault(f"attribut {name} : {local} sans code ou sans codeSystem")
            out.append(Coded(code, system, children[0].get("displayName")))
        return tuple(out)


def _purpose(values: tuple[Coded, ...]) -> Purpose:
    if len(values) != 1:
        raise vihf_fault(f"attribut {ATTR_PURPOSE} : une seule valeur attendue ({len(values)} reçues)")
    coded = values[0]
    if coded.code_system != ns.OID_PURPOSE:
        raise vihf_fault(f"attribut {ATTR_PURPOSE} : codeSystem {coded.code_system!r} au lieu de {ns.OID_PURPOSE}")
    if coded.code not in PURPOSES:
        raise vihf_fault(f"attribut {ATTR_PURPOSE} : code {coded.code!r} inconnu (attendu {', '.join(PURPOSES)})")
    return cast(Purpose, coded.code)


def _confidentiality(value: str) -> str:
    code, _, system = value.partition("^")
    if not code or (system and system != ns.OID_CONFIDENTIALITY):
        raise vihf_fault(f"attribut {ATTR_CONFIDENTIALITY} : {value!r} n'est pas de la forme "
                         f"CODE^{ns.OID_CONFIDENTIALITY}")
    return code


def _patient(value: str, settings: VihfSettings) -> PatientRef:
    match = _CX.fullmatch(value)
    if match is None:
        raise vihf_fault(f"attribut {ATTR_RESOURCE_ID} : {value!r} n'est pas un identifiant patient "
                         "INS^^^&OID&ISO^NH")
    if not _INS.fullmatch(match["ins"]):
        raise vihf_fault(f"attribut {ATTR_RESOURCE_ID} : matricule INS {match['ins']!r} mal formé (15 caractères)")
    if settings.accepted_patient_oids is not None and match["oid"] not in settings.accepted_patient_oids:
        raise vihf_fault(f"attribut {ATTR_RESOURCE_ID} : autorité d'affectation {match['oid']} non acceptée "
                         f"(attendu {', '.join(settings.accepted_patient_oids)})")
    return PatientRef(match["ins"], match["oid"])


# --- mode against certificate ---------------------------------------------------------------------------


def _issuing_ca(pki: TestPKI, verdict: ChainVerdict) -> str | None:
    if len(verdict.chain) < 2:
        return None
    for slug in ("fort-personnes", "elementaire-organisations"):
        if pki.authority(slug).certificate == verdict.chain[1]:
            return slug
    return None


def _check_mode(mode: AuthMode, cert: x509.Certificate, verdict: ChainVerdict, pki: TestPKI, name_id: str,
                structure_id: str, settings: VihfSettings) -> CardType | None:
    ca = _issuing_ca(pki, verdict)
    try:
        card = read_card_extensions(cert)
    except ValueError:
        raise invalid_certificate("unreadable IGC-Santé card extensions") from None
    if mode == "DIRECTE":
        if ca != "fort-personnes" or card.card_type is None:
            raise invalid_certificate("le mode DIRECTE exige le certificat de signature d'une carte CPx "
                                      "(AC FORT PERSONNES)")
        if settings.require_nameid_matches_card:
            card_ids = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
            if name_id not in card_ids:
                raise vihf_fault(f"NameID {name_id!r} différent de l'identifiant de la carte signataire "
                                 f"{', '.join(map(str, card_ids))}")
        return _CARD_TYPES.get(card.card_type)
    if ca != "elementaire-organisations":
        raise invalid_certificate(f"le mode {mode} exige un certificat ORG SIGN de la structure "
                                  "(AC ELEMENTAIRE ORGANISATIONS)")
    units = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)]
    allowed = set(units)
    for unit in units:
        allowed |= set(settings.structure_links.get(unit, ()))
    if structure_id not in allowed:
        raise DmpFault(VIHF_INVALID, f"{PERSONNE_MORALE} : {ATTR_STRUCTURE} {structure_id} ne correspond pas à la "
                                     f"structure du certificat ({', '.join(units) or 'OU absent'})")
    return None
