"""What an attacker does to a signed VIHF or XAdES document: re-sign it with other algorithms (downgrade), move
signed parts around (wrapping), slip comments into signed text, swap certificates. Used by
``test_signature_attacks.py``; every function returns new bytes / a new element and leaves its input alone."""
from __future__ import annotations

import base64
import copy
import hashlib
import hmac
from collections.abc import Callable, Mapping

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree

from segur_sandbox.simulator.security import namespaces as ns

D = f"{{{ns.DS}}}"
X = f"{{{ns.XADES_111}}}"
S = f"{{{ns.SAML2}}}"

RSA_MD5 = "http://www.w3.org/2001/04/xmldsig-more#rsa-md5"
RSA_SHA224 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha224"
HMAC_SHA1 = "http://www.w3.org/2000/09/xmldsig#hmac-sha1"
MD5 = "http://www.w3.org/2001/04/xmldsig-more#md5"
SHA224 = "http://www.w3.org/2001/04/xmldsig-more#sha224"
XSLT = "http://www.w3.org/TR/1999/REC-xslt-19991116"
C14N11 = "http://www.w3.org/2006/12/xml-c14n11"

DIGESTS: dict[str, Callable[[bytes], bytes]] = {
    ns.SHA1: lambda b: hashlib.sha1(b).digest(),
    ns.SHA256: lambda b: hashlib.sha256(b).digest(),
    MD5: lambda b: hashlib.md5(b).digest(),
    SHA224: lambda b: hashlib.sha224(b).digest(),
}
_RSA_HASHES = {ns.RSA_SHA1: hashes.SHA1, ns.RSA_SHA256: hashes.SHA256, RSA_MD5: hashes.MD5, RSA_SHA224: hashes.SHA224}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def signature_value(signed_info_c14n: bytes, method: str, issued) -> bytes:  # type: ignore[no-untyped-def]
    """The SignatureValue an attacker computes: RSA with ``issued``'s key for an rsa-* method; for hmac-sha1 the
    classic key confusion, the HMAC keyed with the *public* certificate (PEM) the verifier holds."""
    if method == HMAC_SHA1:
        public = issued.certificate.public_bytes(serialization.Encoding.PEM)
        return hmac.new(public, signed_info_c14n, "sha1").digest()
    return issued.private_key.sign(signed_info_c14n, padding.PKCS1v15(), _RSA_HASHES[method]())


def split_with_comment(element: etree._Element, at: int) -> None:
    """``<e>abcdef</e>`` → ``<e>ab<!--x-->cdef</e>``: a reader of ``.text`` sees ``ab``; c14n without comments
    (what the signature covers) still sees ``abcdef``."""
    value = element.text or ""
    comment = etree.Comment("x")
    element.text, comment.tail = value[:at], value[at:]
    element.insert(0, comment)


# --- VIHF (saml2:Assertion, enveloped exc-c14n signature) ----------------------------------------------------------

def resign_assertion(assertion: etree._Element, issued, *, method: str = ns.RSA_SHA256,  # type: ignore[no-untyped-def]
                     digest: str = ns.SHA256, c14n: str = ns.EXC_C14N,
                     transforms: tuple[str, ...] | None = None) -> etree._Element:
    """A copy of ``assertion`` signed again by ``issued`` (its certificate in KeyInfo) with these algorithms (and
    Reference transforms)."""
    forged = copy.deepcopy(assertion)
    signature = forged.find(f"{D}Signature")
    next(signature.iter(f"{D}X509Certificate")).text = keyinfo_certificate(issued)
    signed_info = signature.find(f"{D}SignedInfo")
    signed_info.find(f"{D}CanonicalizationMethod").set("Algorithm", c14n)
    signed_info.find(f"{D}SignatureMethod").set("Algorithm", method)
    reference = signed_info.find(f"{D}Reference")
    if transforms is not None:
        holder = reference.find(f"{D}Transforms")
        for old in list(holder):
            holder.remove(old)
        for algorithm in transforms:
            etree.SubElement(holder, f"{D}Transform", Algorithm=algorithm)
    reference.find(f"{D}DigestMethod").set("Algorithm", digest)
    bare = copy.deepcopy(forged)
    bare.remove(bare.find(f"{D}Signature"))
    reference.find(f"{D}DigestValue").text = b64(DIGESTS[digest](etree.tostring(bare, method="c14n", exclusive=True)))
    exclusive = c14n.startswith("http://www.w3.org/2001/10/xml-exc-c14n")
    data = etree.tostring(signed_info, method="c14n", exclusive=exclusive)
    signature.find(f"{D}SignatureValue").text = b64(signature_value(data, method, issued))
    return forged


def keyinfo_certificate(issued) -> str:  # type: ignore[no-untyped-def]
    return b64(issued.certificate.public_bytes(serialization.Encoding.DER))


def swap_keyinfo(signed: etree._Element, issued) -> etree._Element:  # type: ignore[no-untyped-def]
    """The same signed element (assertion or XAdES ds:Signature), its KeyInfo certificate replaced."""
    forged = copy.deepcopy(signed)
    certificate = next(forged.iter(f"{D}X509Certificate"))
    certificate.text = keyinfo_certificate(issued)
    return forged


# --- XAdES (detached ds:Signature document over a ds:Manifest) ------------------------------------------------------

def _by_id(root: etree._Element, value: str) -> etree._Element:
    return next(e for e in root.iter() if isinstance(e.tag, str) and value in (e.get("Id"), e.get("ID")))


def resign_xades(signature: bytes, issued, *, documents: Mapping[str, bytes],  # type: ignore[no-untyped-def]
                 method: str = ns.RSA_SHA256, digest: str = ns.SHA256, manifest_digest: str | None = None,
                 c14n: str = ns.C14N, change: Callable[[etree._Element], None] | None = None) -> bytes:
    """``signature`` after ``change(root)``, with every digest recomputed and SignedInfo signed again by
    ``issued``: manifest references over ``documents`` (URI → bytes) with ``manifest_digest`` (default
    ``digest``), SignedInfo references over their targets (C14N 1.0) with ``digest``."""
    root = etree.fromstring(signature)
    if change is not None:
        change(root)
    root = etree.fromstring(etree.tostring(root))  # settle namespace declarations before digesting
    for reference in root.find(f"{D}Object/{D}Manifest").findall(f"{D}Reference"):
        algorithm = manifest_digest or digest
        reference.find(f"{D}DigestMethod").set("Algorithm", algorithm)
        reference.find(f"{D}DigestValue").text = b64(DIGESTS[algorithm](documents[reference.get("URI")]))
    signed_info = root.find(f"{D}SignedInfo")
    signed_info.find(f"{D}CanonicalizationMethod").set("Algorithm", c14n)
    signed_info.find(f"{D}SignatureMethod").set("Algorithm", method)
    for reference in signed_info.findall(f"{D}Reference"):
        target = _by_id(root, reference.get("URI")[1:])
        reference.find(f"{D}DigestMethod").set("Algorithm", digest)
        reference.find(f"{D}DigestValue").text = b64(DIGESTS[digest](etree.tostring(target, method="c14n")))
    data = etree.tostring(signed_info, method="c14n", exclusive=c14n.startswith("http://www.w3.org/2001/10/"))
    root.find(f"{D}SignatureValue").text = b64(signature_value(data, method, issued))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def edit_xades(signature: bytes, change: Callable[[etree._Element], None]) -> bytes:
    """``signature`` after ``change(root)``, nothing re-signed (what an attacker without the key can do)."""
    root = etree.fromstring(signature)
    change(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
