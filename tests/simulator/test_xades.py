"""XAdES-BES signature document of an ITI-41 submission: sign, verify, and each refusal with its reason."""
from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree

from segur_sandbox.fixtures.professionals import ProfessionalDirectory
from segur_sandbox.simulator.pki import DEFAULT_NOT_BEFORE, Issued, TestPKI
from segur_sandbox.simulator.security import (XadesVerdict, document_reference, sign_submission,
                                              submission_set_reference, verify_submission_signature)
from segur_sandbox.simulator.security import namespaces as ns
from segur_sandbox.simulator.security.xades import MANIFEST_ID, SIGNED_PROPERTIES_ID

SEED = 20250101
NOW = DEFAULT_NOT_BEFORE + timedelta(days=365, hours=10)
SS_UID = "1.2.250.1.999.1.1.7898.3.9956570900"
DOC_UID = "1.2.250.1.999.1.1.7898.4.9956570902"
CDA = (b'<?xml version="1.0" encoding="UTF-8"?>\n<ClinicalDocument xmlns="urn:hl7-org:v3">'
       b'<!-- note --><id root="1.2.250.1.999.1.1.7898.4" extension="9956570902"/>'
       b'<title>Note de vaccination</title></ClinicalDocument>')
D = f"{{{ns.DS}}}"
X = f"{{{ns.XADES_111}}}"


@dataclass
class World:
    pki: TestPKI
    doctor_sign: Issued
    doctor_auth: Issued
    doctor_expired: Issued
    hospital_sign: Issued


@pytest.fixture(scope="module")
def world() -> World:
    pki = TestPKI.in_memory(SEED)
    directory = ProfessionalDirectory(SEED, 12)
    doctor = directory.professionals[0]
    cabinet = directory.structures_by_id[doctor["structure_id"]]
    hospital = next(s for s in directory.structures if s["kind"] == "ch")
    return World(
        pki=pki,
        doctor_sign=pki.professional(doctor, cabinet, usage="sign"),
        doctor_auth=pki.professional(doctor, cabinet, usage="auth"),
        doctor_expired=pki.professional(doctor, cabinet, usage="sign", variant="expired"),
        hospital_sign=pki.organisation(hospital, "SIGN"),
    )


def items(document: bytes = CDA, **more: bytes) -> dict[str, bytes]:
    out = dict([submission_set_reference(SS_UID), document_reference(DOC_UID, document)])
    out.update({f"urn:oid:{uid}": data for uid, data in more.items()})
    return out


def sign(world: World, signer: Issued | None = None, references: dict[str, bytes] | None = None, **kw) -> bytes:
    return sign_submission(signer=signer or world.doctor_sign, references=references or items(), now=NOW, **kw)


def verify(world: World, signature: bytes, expected: dict[str, bytes] | None = None, **kw) -> XadesVerdict:
    return verify_submission_signature(signature, pki=world.pki, now=NOW,
                                       expected=items() if expected is None else expected, **kw)


def edit(signature: bytes, change) -> bytes:
    root = etree.fromstring(signature)
    change(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


# --- round trip and shape -------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["rsa-sha256", "rsa-sha1"])
@pytest.mark.parametrize("signer", ["doctor_sign", "hospital_sign"])
def test_round_trip(world: World, algorithm: str, signer: str) -> None:
    issued = getattr(world, signer)
    verdict = verify(world, sign(world, issued, algorithm=algorithm))
    assert verdict.ok, verdict.detail
    assert verdict.reason == "ok" and verdict.detail == ""
    assert verdict.signer == issued.certificate
    assert verdict.signing_time == NOW
    assert verdict.references == (f"urn:oid:{SS_UID}", f"urn:oid:{DOC_UID}")
    assert verdict.notes == ()


def test_document_shape(world: World) -> None:
    root = etree.fromstring(sign(world))
    assert root.tag == f"{D}Signature" and root.get("Id")
    info_uris = [r.get("URI") for r in root.findall(f"{D}SignedInfo/{D}Reference")]
    assert f"#{MANIFEST_ID}" in info_uris and f"#{SIGNED_PROPERTIES_ID}" in info_uris
    manifest = root.find(f"{D}Object/{D}Manifest")
    assert manifest.get("Id") == "IHEManifest"
    assert [r.get("URI") for r in manifest.findall(f"{D}Reference")] == [f"urn:oid:{SS_UID}", f"urn:oid:{DOC_UID}"]
    purpose = root.find(f"{D}Object/{D}SignatureProperties/{D}SignatureProperty")
    assert purpose.text == "1.2.840.10065.1.12.1.14" and purpose.get("Target") == f"#{root.get('Id')}"
    qualifying = root.find(f"{D}Object/{X}QualifyingProperties")
    assert qualifying.get("Target") == f"#{root.get('Id')}"
    properties = qualifying.find(f"{X}SignedProperties/{X}SignedSignatureProperties")
    assert properties.find(f"{X}SigningTime").text == "2026-01-01T10:00:00.000Z"
    assert properties.find(f"{X}SignaturePolicyIdentifier/{X}SignaturePolicyImplied") is not None
    assert len(properties.findall(f"{X}SigningCertificate/{X}Cert")) == 3  # signer, issuing CA, root


def test_what_the_references_digest(world: World) -> None:
    root = etree.fromstring(sign(world, algorithm="rsa-sha1"))
    digests = {r.get("URI"): r.find(f"{D}DigestValue").text for r in root.iter(f"{D}Reference")
               if r.get("URI", "").startswith("urn:oid:")}
    assert digests[f"urn:oid:{SS_UID}"] == base64.b64encode(hashlib.sha1(SS_UID.encode()).digest()).decode()
    assert digests[f"urn:oid:{DOC_UID}"] == base64.b64encode(hashlib.sha1(CDA).digest()).decode()


def test_canonicalised_document_reference(world: World) -> None:
    signature = sign(world, canonicalize={f"urn:oid:{DOC_UID}"})
    transform = etree.fromstring(signature).find(f"{D}Object/{D}Manifest/{D}Reference[2]/{D}Transforms/{D}Transform")
    assert transform.get("Algorithm") == ns.C14N_WITH_COMMENTS
    # Same infoset, other bytes: equal after C14N.
    reformatted = CDA.replace(b'<id root="1.2.250.1.999.1.1.7898.4" extension="9956570902"/>',
                              b"<id  extension='9956570902' root='1.2.250.1.999.1.1.7898.4'></id>")
    assert reformatted != CDA
    assert verify(world, signature, items(reformatted)).ok
    # The comment is signed (WithComments): changing it is a different document.
    assert verify(world, signature, items(CDA.replace(b"note", b"autre"))).reason == "document_digest_mismatch"
    # Without the transform, the same reformatting is refused.
    assert verify(world, sign(world), items(reformatted)).reason == "document_digest_mismatch"


# --- refusals -----------------------------------------------------------------------------------------------


def test_tampered_document(world: World) -> None:
    verdict = verify(world, sign(world), items(CDA.replace(b"vaccination", b"vaccinatioN")))
    assert verdict.reason == "document_digest_mismatch"
    assert f"urn:oid:{DOC_UID}" in verdict.detail


def test_tampered_manifest_digest(world: World) -> None:
    def change(root: etree._Element) -> None:
        value = root.find(f"{D}Object/{D}Manifest/{D}Reference[2]/{D}DigestValue")
        value.text = base64.b64encode(b"\x00" * 32).decode()
    verdict = verify(world, edit(sign(world), change))
    assert verdict.reason == "bad_digest" and "IHEManifest" in verdict.detail


def test_tampered_signing_time(world: World) -> None:
    def change(root: etree._Element) -> None:
        root.find(f".//{X}SigningTime").text = "2026-01-01T09:00:00.000Z"
    verdict = verify(world, edit(sign(world), change))
    assert verdict.reason == "bad_digest" and SIGNED_PROPERTIES_ID in verdict.detail


def test_tampered_signature_value(world: World) -> None:
    def change(root: etree._Element) -> None:
        value = root.find(f"{D}SignatureValue")
        raw = bytearray(base64.b64decode(value.text))
        raw[10] ^= 0x01
        value.text = base64.b64encode(bytes(raw)).decode()
    assert verify(world, edit(sign(world), change)).reason == "bad_signature"


def test_missing_reference(world: World) -> None:
    expected = items(**{"1.2.250.1.999.1.1.7898.4.42": b"second document"})
    verdict = verify(world, sign(world), expected)
    assert verdict.reason == "missing_reference"
    assert "urn:oid:1.2.250.1.999.1.1.7898.4.42" in verdict.detail


def test_extra_reference(world: World) -> None:
    signature = sign(world, references=items(**{"1.2.250.1.999.1.1.7898.4.42": b"second document"}))
    verdict = verify(world, signature)
    assert verdict.reason == "unexpected_reference"
    assert "urn:oid:1.2.250.1.999.1.1.7898.4.42" in verdict.detail


def test_non_signature_certificate(world: World) -> None:
    verdict = verify(world, sign(world, world.doctor_auth))
    assert verdict.reason == "not_signature_certificate"
    assert verdict.detail.endswith("Not a valid signature certificate")
    assert verdict.signer == world.doctor_auth.certificate


def test_expired_certificate(world: World) -> None:
    verdict = verify(world, sign(world, world.doctor_expired))
    assert verdict.reason == "untrusted_certificate" and "expired" in verdict.detail


def test_signing_certificate_property_must_name_the_signer(world: World) -> None:
    """Signed with the expired variant (same key as the valid certificate), KeyInfo then swapped for the
    valid certificate: SignatureValue and chain pass, the signed SigningCertificate gives it away."""
    valid = etree.fromstring(sign(world)).find(f"{D}KeyInfo/{D}X509Data/{D}X509Certificate").text

    def change(root: etree._Element) -> None:
        root.find(f"{D}KeyInfo/{D}X509Data/{D}X509Certificate").text = valid
    verdict = verify(world, edit(sign(world, world.doctor_expired), change))
    assert verdict.reason == "bad_signed_properties" and "SigningCertificate" in verdict.detail


def test_unchecked_submission_set_digest(world: World) -> None:
    """The official example carries the placeholder digest AA== for the submission set."""
    def change(root: etree._Element) -> None:
        root.find(f"{D}Object/{D}Manifest/{D}Reference[1]/{D}DigestValue").text = "AA=="
    signature = sign(world)
    other = items()
    other[f"urn:oid:{SS_UID}"] = b"something else"
    assert verify(world, signature, other).reason == "document_digest_mismatch"
    verdict = verify(world, signature, other, unchecked={f"urn:oid:{SS_UID}"})
    assert verdict.ok and any(SS_UID in note for note in verdict.notes)
    assert verify(world, edit(signature, change), unchecked={f"urn:oid:{SS_UID}"}).reason == "bad_digest"


@pytest.mark.parametrize("data", [b"not xml", b"<a/>", b'<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"/>'])
def test_malformed(world: World, data: bytes) -> None:
    assert verify(world, data).reason == "malformed"


def test_duplicate_ids_refused(world: World) -> None:
    def change(root: etree._Element) -> None:
        etree.SubElement(root.find(f"{D}Object"), f"{D}Manifest", Id=MANIFEST_ID)
    verdict = verify(world, edit(sign(world), change))
    assert verdict.reason == "malformed" and MANIFEST_ID in verdict.detail


def test_kit_style_signature_is_accepted(world: World) -> None:
    """The official example's quirks: c14n WithComments, only two SignedInfo references (purposeOfSignature
    unsigned), SignatureProperties in no namespace, CertDigest children in the XAdES namespace."""
    root = etree.fromstring(sign(world, algorithm="rsa-sha1"))
    info = root.find(f"{D}SignedInfo")
    info.find(f"{D}CanonicalizationMethod").set("Algorithm", ns.C14N_WITH_COMMENTS)
    info.remove(info.findall(f"{D}Reference")[2])
    properties = root.find(f"{D}Object/{D}SignatureProperties")
    bare = etree.Element("SignatureProperties")
    etree.SubElement(bare, "SignatureProperty", Id="purposeOfSignature",
                     Target=f"#{root.get('Id')}").text = "1.2.840.10065.1.12.1.14"
    properties.getparent().replace(properties, bare)
    for cert_digest in root.iter(f"{X}CertDigest"):
        for child in cert_digest:
            child.tag = f"{X}{etree.QName(child).localname}"
    root = etree.fromstring(etree.tostring(root))  # settle namespace declarations before digesting
    info = root.find(f"{D}SignedInfo")
    for reference in info.findall(f"{D}Reference"):
        target = next(e for e in root.iter() if e.get("Id") == reference.get("URI")[1:])
        canonical = etree.tostring(target, method="c14n", exclusive=False, with_comments=False)
        reference.find(f"{D}DigestValue").text = base64.b64encode(hashlib.sha1(canonical).digest()).decode()
    raw = world.doctor_sign.private_key.sign(etree.tostring(info, method="c14n", with_comments=True),
                                            padding.PKCS1v15(), hashes.SHA1())
    root.find(f"{D}SignatureValue").text = base64.b64encode(raw).decode()
    verdict = verify(world, etree.tostring(root))
    assert verdict.ok, verdict.detail
    assert any("non couvert" in note for note in verdict.notes)
    assert any("espace de noms" in note for note in verdict.notes)
