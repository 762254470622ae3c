"""The XAdES-BES signature document of an ITI-41 submission (dmp.md §3.6): build it, verify it.

Shape (after the official ``TD2.1-SignatureXades.xml``)::

    ds:Signature Id=<uuid>
      ds:SignedInfo            c14n 1.0, rsa-sha256 (or rsa-sha1 as in the 2021 example)
        ds:Reference Type=…#Manifest            URI="#IHEManifest"
        ds:Reference Type=…v1.1.1#SignedProperties URI="#S0-SignedProperties"
        ds:Reference Type=…#SignatureProperties URI="#purposeOfSignature"   (the example leaves it unsigned;
                                                                            the sandbox signs it, and accepts
                                                                            signatures that do not)
      ds:SignatureValue, ds:KeyInfo/ds:X509Data/ds:X509Certificate
      ds:Object/ds:Manifest Id="IHEManifest"     one ds:Reference per submitted item, URI="urn:oid:<uniqueId>"
      ds:Object/ds:SignatureProperties/ds:SignatureProperty Id="purposeOfSignature" Target="#<uuid>"
                                                 = 1.2.840.10065.1.12.1.14
      ds:Object/xades:QualifyingProperties (http://uri.etsi.org/01903/v1.1.1#) Target="#<uuid>"
        xades:SignedProperties Id="S0-SignedProperties": SigningTime, SigningCertificate (signer, then its CAs),
        SignaturePolicyIdentifier/SignaturePolicyImplied

What each manifest reference digests (the spec is silent; these are the sandbox's definitions):

* a document (``urn:oid:<document uniqueId>``): the document's content bytes exactly as submitted (the MTOM
  part). Verification also honours a c14n ``ds:Transform`` on the reference, as the kit writes for the CDA
  (``…c14n-20010315#WithComments``): the bytes are then parsed and canonicalised before digesting.
  ``sign_submission(canonicalize=…)`` produces that form;
* the submission set (``urn:oid:<SubmissionSet uniqueId>``): the UTF-8 bytes of the uniqueId string itself
  (``submission_set_reference``). The RegistryPackage cannot be digested sensibly: the signature document is
  one of the submission's own entries, and no canonical form of ebRIM metadata is shared by clients. The
  official example carries the placeholder digest ``AA==`` here, which is why ``verify_submission_signature``
  takes ``unchecked``: URIs that must be present but whose digest is not compared (noted in the verdict).

``verify_submission_signature`` returns a ``XadesVerdict`` (never raises for a bad signature); its ``reason``
is a stable code, its ``detail`` a French sentence for the RegistryError the caller builds.
"""
from __future__ import annotations

import base64
import binascii
import uuid
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

from ..pki import Issued, TestPKI, load_der_certificate
from ..soap import SoapError, parse_xml
from . import namespaces as ns
from .xmltime import as_utc, format_datetime, parse_datetime

MANIFEST_ID = "IHEManifest"
SIGNED_PROPERTIES_ID = "S0-SignedProperties"
PURPOSE_PROPERTY_ID = "purposeOfSignature"

XadesReason = Literal[
    "ok",
    "malformed",  # not a ds:Signature of the expected shape
    "untrusted_certificate",  # signer certificate unknown, expired, revoked
    "not_signature_certificate",  # signer certificate without nonRepudiation
    "bad_signature",  # SignatureValue does not verify
    "bad_digest",  # a SignedInfo reference (manifest, properties) was altered after signing
    "missing_reference",  # a submitted item has no manifest reference
    "unexpected_reference",  # the manifest references an item that is not in the submission
    "document_digest_mismatch",  # a manifest reference's digest differs from the submitted bytes
    "bad_signed_properties",  # SigningTime / SigningCertificate / SignaturePolicyImplied wrong or missing
    "bad_purpose",  # purposeOfSignature missing or not 1.2.840.10065.1.12.1.14
]

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    ns.SHA1: hashes.SHA1, ns.SHA256: hashes.SHA256, ns.SHA384: hashes.SHA384, ns.SHA512: hashes.SHA512,
}
_SIGNATURE_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    ns.RSA_SHA1: hashes.SHA1, ns.RSA_SHA256: hashes.SHA256, ns.RSA_SHA384: hashes.SHA384,
    ns.RSA_SHA512: hashes.SHA512,
}
_C14N_METHODS = {  # algorithm -> (exclusive, with_comments)
    ns.C14N: (False, False),
    ns.C14N_WITH_COMMENTS: (False, True),
    ns.EXC_C14N: (True, False),
    ns.EXC_C14N_WITH_COMMENTS: (True, True),
}
_ID_NAMES = frozenset({"Id", "ID", "id"})
_SIGNING_TIME_SKEW = timedelta(minutes=5)

_D = f"{{{ns.DS}}}"
_X = f"{{{ns.XADES_111}}}"


@dataclass(frozen=True)
class XadesVerdict:
    reason: XadesReason
    detail: str = ""
    signer: x509.Certificate | None = None
    signing_time: datetime | None = None
    references: tuple[str, ...] = ()  # manifest reference URIs, in document order
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.reason == "ok"


class _Refused(Exception):
    def __init__(self, reason: XadesReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def submission_set_reference(unique_id: str) -> tuple[str, bytes]:
    """(URI, signed bytes) of the submission set: the uniqueId's UTF-8 bytes (see the module docstring)."""
    return f"urn:oid:{unique_id}", unique_id.encode("utf-8")


def document_reference(unique_id: str, content: bytes) -> tuple[str, bytes]:
    """(URI, signed bytes) of a document: its content bytes as submitted."""
    return f"urn:oid:{unique_id}", content


# --- helpers shared by signing and verification ----------------------------------------------------------


def _digest(data: bytes, algorithm: str) -> bytes:
    digest = hashes.Hash(_HASHES[algorithm]())
    digest.update(data)
    return digest.finalize()


def _c14n(element: etree._Element, algorithm: str = ns.C14N) -> bytes:
    exclusive, with_comments = _C14N_METHODS[algorithm]
    return etree.tostring(element, method="c14n", exclusive=exclusive, with_comments=with_comments)


def _canonical_document(data: bytes, algorithm: str) -> bytes:
    root = parse_xml(data, what="document signé")
    return _c14n(root, algorithm)


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attributes: str) -> etree._Element:
    element = etree.SubElement(parent, tag, **attributes)
    if text is not None:
        element.text = text
    return element


# --- signing ----------------------------------------------------------------------------------------------


def sign_submission(
    *,
    signer: Issued,
    references: Mapping[str, bytes],
    now: datetime,
    algorithm: str = "rsa-sha256",
    canonicalize: Collection[str] = (),
    signature_id: str | None = None,
) -> bytes:
    """The XAdES-BES signature document (UTF-8 XML bytes) over ``references`` (URI -> signed bytes).

    Build the mapping with ``submission_set_reference`` and ``document_reference``. URIs listed in
    ``canonicalize`` hold XML (a CDA) and are digested after C14N-with-comments, declared as a Transform.
    """
    if algorithm not in ns.SIGNATURE_ALGORITHMS:
        raise ValueError(f"algorithm must be one of {sorted(ns.SIGNATURE_ALGORITHMS)}, not {algorithm!r}")
    if not references:
        raise ValueError("a submission signature needs at least one reference")
    signature_method, digest_method = ns.SIGNATURE_ALGORITHMS[algorithm]
    signature_id = signature_id or str(uuid.uuid4())
    cert = signer.certificate

    root = etree.Element(f"{_D}Signature", nsmap={"ds": ns.DS}, Id=signature_id)
    signed_info = _sub(root, f"{_D}SignedInfo")
    _sub(signed_info, f"{_D}CanonicalizationMethod", Algorithm=ns.C14N)
    _sub(signed_info, f"{_D}SignatureMethod", Algorithm=signature_method)
    info_refs = {}
    for target, kind in ((MANIFEST_ID, ns.MANIFEST_TYPE), (SIGNED_PROPERTIES_ID, ns.SIGNED_PROPERTIES_TYPE_111),
                         (PURPOSE_PROPERTY_ID, ns.SIGNATURE_PROPERTIES_TYPE)):
        reference = _sub(signed_info, f"{_D}Reference", Type=kind, URI=f"#{target}")
        _sub(reference, f"{_D}DigestMethod", Algorithm=digest_method)
        info_refs[target] = _sub(reference, f"{_D}DigestValue")
    signature_value = _sub(root, f"{_D}SignatureValue")
    key_info = _sub(root, f"{_D}KeyInfo")
    x509_data = _sub(key_info, f"{_D}X509Data")
    _sub(x509_data, f"{_D}X509Certificate",
         base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode("ascii"))

    manifest = _sub(_sub(root, f"{_D}Object"), f"{_D}Manifest", Id=MANIFEST_ID)
    for uri, data in references.items():
        reference = _sub(manifest, f"{_D}Reference", URI=uri)
        if uri in canonicalize:
            transforms = _sub(reference, f"{_D}Transforms")
            _sub(transforms, f"{_D}Transform", Algorithm=ns.C14N_WITH_COMMENTS)
            data = _canonical_document(data, ns.C14N_WITH_COMMENTS)
        _sub(reference, f"{_D}DigestMethod", Algorithm=digest_method)
        _sub(reference, f"{_D}DigestValue", base64.b64encode(_digest(data, digest_method)).decode("ascii"))

    properties = _sub(_sub(root, f"{_D}Object"), f"{_D}SignatureProperties")
    _sub(properties, f"{_D}SignatureProperty", ns.PURPOSE_OF_SIGNATURE, Id=PURPOSE_PROPERTY_ID,
         Target=f"#{signature_id}")

    qualifying = etree.SubElement(_sub(root, f"{_D}Object"), f"{_X}QualifyingProperties",
                                  nsmap={"xades": ns.XADES_111}, Target=f"#{signature_id}")
    signed_properties = _sub(qualifying, f"{_X}SignedProperties", Id=SIGNED_PROPERTIES_ID)
    signature_properties = _sub(signed_properties, f"{_X}SignedSignatureProperties")
    _sub(signature_properties, f"{_X}SigningTime", format_datetime(now))
    signing_certificate = _sub(signature_properties, f"{_X}SigningCertificate")
    for certificate in (cert, *signer.chain):
        entry = _sub(signing_certificate, f"{_X}Cert")
        cert_digest = _sub(entry, f"{_X}CertDigest")
        _sub(cert_digest, f"{_D}DigestMethod", Algorithm=digest_method)
        _sub(cert_digest, f"{_D}DigestValue", base64.b64encode(
            _digest(certificate.public_bytes(serialization.Encoding.DER), digest_method)).decode("ascii"))
        issuer_serial = _sub(entry, f"{_X}IssuerSerial")
        _sub(issuer_serial, f"{_D}X509IssuerName", certificate.issuer.rfc4514_string())
        _sub(issuer_serial, f"{_D}X509SerialNumber", str(certificate.serial_number))
    policy = _sub(signature_properties, f"{_X}SignaturePolicyIdentifier")
    _sub(policy, f"{_X}SignaturePolicyImplied")
    _sub(signed_properties, f"{_X}SignedDataObjectProperties")

    targets = {MANIFEST_ID: manifest, SIGNED_PROPERTIES_ID: signed_properties,
               PURPOSE_PROPERTY_ID: properties[0]}
    for target, digest_value in info_refs.items():
        digest_value.text = base64.b64encode(_digest(_c14n(targets[target]), digest_method)).decode("ascii")
    raw = signer.private_key.sign(_c14n(signed_info), padding.PKCS1v15(), _SIGNATURE_HASHES[signature_method]())
    signature_value.text = base64.b64encode(raw).decode("ascii")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


# --- verification -----------------------------------------------------------------------------------------


def verify_submission_signature(
    signature_bytes: bytes,
    *,
    pki: TestPKI,
    now: datetime,
    expected: Mapping[str, bytes],
    unchecked: Collection[str] = (),
) -> XadesVerdict:
    """Check a signature document against the submitted items ``expected`` (URI -> signed bytes).

    The manifest must reference exactly the URIs of ``expected``, each with the digest of its bytes (URIs in
    ``unchecked`` must be referenced but their digest is not compared). The signer certificate must be a
    signature certificate chaining to the sandbox CAs at ``now``.
    """
    notes: list[str] = []
    signer: x509.Certificate | None = None
    signing_time: datetime | None = None
    uris: tuple[str, ...] = ()
    try:
        root = _parse(signature_bytes)
        signature_id = root.get("Id")
        by_id = _index_ids(root)
        signed_info = _child(root, f"{_D}SignedInfo", "ds:SignedInfo")
        signer = _signer_certificate(root)
        verdict = pki.verify_chain(signer, as_utc(now), purpose="sign")
        if verdict.reason == "wrong_usage":
            raise _Refused("not_signature_certificate",
                           f"Le certificat ayant signé la signature XAdES est invalide : {verdict.detail}")
        if not verdict.ok:
            raise _Refused("untrusted_certificate",
                           f"Le certificat ayant signé la signature XAdES est invalide : {verdict.reason} "
                           f"({verdict.detail})")
        _check_signature_value(signed_info, signer)
        signed_targets = _check_signed_info_references(signed_info, by_id)
        manifest = by_id.get(MANIFEST_ID)
        if manifest is None or manifest.tag != f"{_D}Manifest" or MANIFEST_ID not in signed_targets:
            raise _Refused("malformed", f"ds:Manifest Id=\"{MANIFEST_ID}\" absent ou non couvert par la signature")
        signed_properties = by_id.get(SIGNED_PROPERTIES_ID)
        if signed_properties is None or signed_properties.tag != f"{_X}SignedProperties" \
                or SIGNED_PROPERTIES_ID not in signed_targets:
            raise _Refused("bad_signed_properties", f"xades:SignedProperties Id=\"{SIGNED_PROPERTIES_ID}\" "
                           f"(espace {ns.XADES_111}) absent ou non couvert par la signature")
        uris = _check_manifest(manifest, expected, unchecked, notes)
        _check_purpose(root, signature_id, signed_targets, notes)
        signing_time = _check_signed_properties(signed_properties, signer, signature_id, now, notes)
    except _Refused as refused:
        return XadesVerdict(refused.reason, refused.detail, signer, signing_time, uris, tuple(notes))
    return XadesVerdict("ok", "", signer, signing_time, uris, tuple(notes))


def _parse(data: bytes) -> etree._Element:
    try:
        root = parse_xml(data, what="signature XAdES")
    except SoapError as exc:
        raise _Refused("malformed", f"signature XAdES illisible : {exc.reason}") from None
    if root.tag != f"{_D}Signature":
        raise _Refused("malformed", f"l'élément racine est {root.tag}, pas ds:Signature")
    return root


def _index_ids(root: etree._Element) -> dict[str, etree._Element]:
    found: list[tuple[str, etree._Element]] = []
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        for name, value in element.attrib.items():
            if etree.QName(name).localname in _ID_NAMES:
                found.append((value, element))
    repeated = sorted(v for v, count in Counter(v for v, _ in found).items() if count > 1)
    if repeated:
        raise _Refused("malformed", f"identifiants dupliqués dans la signature : {', '.join(repeated)}")
    return dict(found)


def _child(parent: etree._Element, tag: str, what: str) -> etree._Element:
    children = parent.findall(tag)
    if len(children) != 1:
        raise _Refused("malformed", f"{what} {'absent' if not children else 'en plusieurs exemplaires'}")
    return children[0]


def _signer_certificate(root: etree._Element) -> x509.Certificate:
    certificates = root.findall(f"{_D}KeyInfo/{_D}X509Data/{_D}X509Certificate")
    if not certificates:
        raise _Refused("malformed", "ds:KeyInfo/ds:X509Data/ds:X509Certificate absent")
    try:
        der = base64.b64decode("".join((certificates[0].text or "").split()), validate=True)
        return load_der_certificate(der)
    except (binascii.Error, ValueError):
        raise _Refused("malformed", "certificat X509 de KeyInfo illisible") from None


def _algorithm(element: etree._Element | None, allowed: Mapping[str, object], what: str) -> str:
    value = element.get("Algorithm") if element is not None else None
    if value not in allowed:
        raise _Refused("malformed", f"{what} {value!r} non accepté")
    return value


def _check_signature_value(signed_info: etree._Element, signer: x509.Certificate) -> None:
    c14n = _algorithm(signed_info.find(f"{_D}CanonicalizationMethod"), _C14N_METHODS, "CanonicalizationMethod")
    method = _algorithm(signed_info.find(f"{_D}SignatureMethod"), _SIGNATURE_HASHES, "SignatureMethod")
    value = signed_info.getparent().find(f"{_D}SignatureValue")  # type: ignore[union-attr]
    try:
        raw = base64.b64decode("".join((value.text or "").split()), validate=True) if value is not None else b""
    except binascii.Error:
        raise _Refused("malformed", "ds:SignatureValue n'est pas du base64") from None
    key = signer.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise _Refused("malformed", "seules les clés RSA sont acceptées")
    try:
        key.verify(raw, _c14n(signed_info, c14n), padding.PKCS1v15(), _SIGNATURE_HASHES[method]())
    except InvalidSignature:
        raise _Refused("bad_signature", "la valeur de signature (SignatureValue) ne correspond pas au certificat "
                       "de KeyInfo") from None


def _reference_digest(reference: etree._Element) -> tuple[str, bytes]:
    method = _algorithm(reference.find(f"{_D}DigestMethod"), _HASHES, "DigestMethod")
    value = reference.find(f"{_D}DigestValue")
    try:
        return method, base64.b64decode("".join((value.text or "").split()) if value is not None else "",
                                        validate=True)
    except binascii.Error:
        raise _Refused("malformed", f"DigestValue de {reference.get('URI')!r} n'est pas du base64") from None


def _transforms(reference: etree._Element) -> list[str]:
    transforms = [t.get("Algorithm") or "" for t in reference.findall(f"{_D}Transforms/{_D}Transform")]
    if len(transforms) > 1 or any(t not in _C14N_METHODS for t in transforms):
        raise _Refused("malformed", f"transformations {transforms} de {reference.get('URI')!r} non acceptées "
                       "(une canonicalisation au plus)")
    return transforms


def _check_signed_info_references(signed_info: etree._Element, by_id: Mapping[str, etree._Element]) -> set[str]:
    targets: set[str] = set()
    for reference in signed_info.findall(f"{_D}Reference"):
        uri = reference.get("URI") or ""
        if not uri.startswith("#") or uri[1:] not in by_id:
            raise _Refused("malformed", f"Reference {uri!r} de SignedInfo ne désigne pas un élément de la signature")
        transforms = _transforms(reference)
        method, digest = _reference_digest(reference)
        # Without a Transform, a same-document reference is canonicalised with C14N 1.0 without comments.
        data = _c14n(by_id[uri[1:]], transforms[0] if transforms else ns.C14N)
        if _digest(data, method) != digest:
            raise _Refused("bad_digest", f"l'empreinte de {uri} ne correspond pas : la signature a été modifiée "
                           "après sa création")
        targets.add(uri[1:])
    return targets


def _check_manifest(manifest: etree._Element, expected: Mapping[str, bytes], unchecked: Collection[str],
                    notes: list[str]) -> tuple[str, ...]:
    references = manifest.findall(f"{_D}Reference")
    uris = [r.get("URI") or "" for r in references]
    repeated = sorted(u for u, count in Counter(uris).items() if count > 1)
    if repeated:
        raise _Refused("malformed", f"références en double dans le manifeste : {', '.join(repeated)}")
    missing = [u for u in expected if u not in uris]
    if missing:
        raise _Refused("missing_reference", f"le manifeste IHEManifest ne référence pas {', '.join(missing)}")
    extra = [u for u in uris if u not in expected]
    if extra:
        raise _Refused("unexpected_reference", f"le manifeste IHEManifest référence {', '.join(extra)}, absent "
                       "de la soumission")
    for reference, uri in zip(references, uris):
        transforms = _transforms(reference)
        method, digest = _reference_digest(reference)
        if uri in unchecked:
            notes.append(f"empreinte de {uri} non vérifiée")
            continue
        data = expected[uri]
        if transforms:
            try:
                data = _canonical_document(data, transforms[0])
            except SoapError as exc:
                raise _Refused("document_digest_mismatch", f"{uri} : le contenu n'est pas du XML canonisable "
                               f"({exc.reason})") from None
        if _digest(data, method) != digest:
            raise _Refused("document_digest_mismatch", f"l'empreinte de {uri} dans le manifeste ne correspond pas "
                           "au contenu soumis")
    return tuple(uris)


def _check_purpose(root: etree._Element, signature_id: str | None, signed_targets: set[str],
                   notes: list[str]) -> None:
    # The kit writes SignatureProperties in no namespace (xmlns=""): match on local names.
    found = [e for e in root.iterfind(f"{_D}Object/*/*")
             if etree.QName(e).localname == "SignatureProperty"
             and etree.QName(e.getparent()).localname == "SignatureProperties"]
    purposes = [e for e in found if (e.text or "").strip() == ns.PURPOSE_OF_SIGNATURE]
    if not purposes:
        raise _Refused("bad_purpose", f"SignatureProperty purposeOfSignature = {ns.PURPOSE_OF_SIGNATURE} absente")
    prop = purposes[0]
    if signature_id is not None and prop.get("Target") != f"#{signature_id}":
        raise _Refused("bad_purpose", f"SignatureProperty Target={prop.get('Target')!r} au lieu de '#{signature_id}'")
    if etree.QName(prop).namespace != ns.DS:
        notes.append("SignatureProperty hors de l'espace de noms xmldsig")
    if prop.get("Id") not in signed_targets and (prop.getparent().get("Id") not in signed_targets):  # type: ignore[union-attr]
        notes.append("purposeOfSignature non couvert par la signature")


def _local_child(parent: etree._Element, local: str) -> etree._Element | None:
    return next((c for c in parent if isinstance(c.tag, str) and etree.QName(c).localname == local), None)


def _check_signed_properties(signed_properties: etree._Element, signer: x509.Certificate,
                             signature_id: str | None, now: datetime, notes: list[str]) -> datetime:
    qualifying = signed_properties.getparent()
    if qualifying is None or qualifying.tag != f"{_X}QualifyingProperties":
        raise _Refused("bad_signed_properties", "SignedProperties hors de xades:QualifyingProperties")
    if signature_id is not None and qualifying.get("Target") != f"#{signature_id}":
        raise _Refused("bad_signed_properties", f"QualifyingProperties Target={qualifying.get('Target')!r} au lieu "
                       f"de '#{signature_id}'")
    properties = signed_properties.find(f"{_X}SignedSignatureProperties")
    if properties is None:
        raise _Refused("bad_signed_properties", "xades:SignedSignatureProperties absent")
    time_element = properties.find(f"{_X}SigningTime")
    if time_element is None:
        raise _Refused("bad_signed_properties", "xades:SigningTime absent")
    try:
        signing_time, zoned = parse_datetime(time_element.text or "")
    except ValueError:
        raise _Refused("bad_signed_properties", f"SigningTime {time_element.text!r} illisible") from None
    if not zoned:
        notes.append("SigningTime sans fuseau horaire, lu comme UTC")
    if signing_time > as_utc(now) + _SIGNING_TIME_SKEW:
        raise _Refused("bad_signed_properties", f"SigningTime {time_element.text} est dans le futur")

    certs = properties.findall(f"{_X}SigningCertificate/{_X}Cert")
    if not certs:
        raise _Refused("bad_signed_properties", "xades:SigningCertificate/xades:Cert absent")
    # The kit writes DigestMethod/DigestValue in the XAdES namespace, the schema in xmldsig: accept both.
    cert_digest = certs[0].find(f"{_X}CertDigest")
    method = _local_child(cert_digest, "DigestMethod") if cert_digest is not None else None
    value = _local_child(cert_digest, "DigestValue") if cert_digest is not None else None
    algorithm = method.get("Algorithm") if method is not None else None
    if algorithm not in _HASHES or value is None:
        raise _Refused("bad_signed_properties", "CertDigest du certificat signataire absent ou d'algorithme inconnu")
    actual = _digest(signer.public_bytes(serialization.Encoding.DER), algorithm)
    try:
        claimed = base64.b64decode("".join((value.text or "").split()), validate=True)
    except binascii.Error:
        claimed = b""
    if claimed != actual:
        raise _Refused("bad_signed_properties", "SigningCertificate ne désigne pas le certificat de KeyInfo")
    if properties.find(f"{_X}SignaturePolicyIdentifier/{_X}SignaturePolicyImplied") is None:
        raise _Refused("bad_signed_properties", "SignaturePolicyIdentifier/SignaturePolicyImplied absent")
    return signing_time

