"""Signature attacks on the VIHF and on the XAdES of a feed, through HTTP (issue #8).

``tests/simulator/test_vihf.py`` and ``test_xades.py`` check the verifiers on their own; here each attack rides
a real ITI-41 feed (CDA + XAdES, MTOM, signed VIHF) to the ASGI app, and must come back with its specific
refusal — the VIHF ones as a DMP SOAP fault (subcode and words of the reason), the XAdES ones as an XDS
``RegistryResponse`` in Failure whose error names the verdict — with nothing stored and the exchange logged as
failed. Families: wrapping, comment injection, certificate swap, algorithm downgrade. A control case re-signs
with the forging helpers and the sound algorithms and must be accepted, so the negatives are not refused for a
mistake of the forger.
"""
from __future__ import annotations

import base64
import copy
import hashlib
import random
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient
from lxml import etree

from support import SEED, Sandbox, scenario_client, scenario_professional
from forge import (C14N11, HMAC_SHA1, MD5, RSA_MD5, RSA_SHA224, SHA224, XSLT, D, S, X, edit_xades,
                   keyinfo_certificate, resign_assertion, resign_xades, split_with_comment, swap_keyinfo)
from segur_sandbox.fixtures.documents import DocumentContext, build_document
from segur_sandbox.fixtures.documents.cda import uuid_oid
from segur_sandbox.simulator.app import create_app
from segur_sandbox.simulator.config import Settings
from segur_sandbox.simulator.dmp import xds
from segur_sandbox.simulator.dmp.xds import compose
from segur_sandbox.simulator.pki import TestPKI
from segur_sandbox.simulator.runtime import build_runtime
from segur_sandbox.simulator.security import namespaces as ns
from segur_sandbox.simulator.security.vihf import ATTR_STRUCTURE
from segur_sandbox.simulator.seed import seed_workspace
from segur_sandbox.simulator.soap import encode_mtom
from segur_sandbox.simulator.testing import _request_action

SOURCE_ID = "1.2.250.1.999.1.1.7898"


@pytest.fixture(scope="module")
def sb(tmp_path_factory, sandbox_pki):
    """One seeded sandbox for the module: every attack is refused, so nothing accumulates."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("attacks"), seed=SEED, patients=12, documents_per_patient=0)
    runtime = build_runtime(settings, pki=sandbox_pki)
    summary = seed_workspace(runtime.store, "default", seed=SEED, patients=12)
    with TestClient(create_app(runtime)) as http:
        yield Sandbox(runtime=runtime, http=http, summary=summary, settings=settings)
    runtime.store.dispose()


@pytest.fixture(scope="module")
def lookalike(sb):
    """A PKI with the same CA names and another seed: certificates that look like ours, from keys we never issued."""
    professional, structure = scenario_professional(sb)
    return TestPKI.in_memory(SEED + 1).professional(professional, structure, usage="sign")


class Feed:
    """One fresh ITI-41 feed of the first professional for the scenario-1 patient, ready to be attacked."""

    _counter = 0

    def __init__(self, sb: Sandbox) -> None:
        Feed._counter += 1
        self.sb = sb
        self.client = scenario_client(sb)
        self.patient = sb.scenario(0)
        self.professional, self.structure = scenario_professional(sb)
        self.signer = sb.pki.professional(self.professional, self.structure, usage="sign")
        with sb.runtime.store.transaction(readonly=True) as tx:
            record = dict(tx.patients.get("default", self.patient.ins).record)
        rng = random.Random(f"attack-{Feed._counter}-{random.random()}")
        when = datetime.now(timezone.utc) - timedelta(days=1)
        self.cda = build_document("VAC-NOTE", DocumentContext(record, self.professional, self.structure, when, rng))
        self.submission = compose.signed_feeding(
            self.cda, signer=self.signer, submission_set_unique_id=uuid_oid(rng), signature_unique_id=uuid_oid(rng),
            source_id=SOURCE_ID, submitted=datetime.now(timezone.utc), title="Note de vaccination")

    @property
    def signature(self) -> bytes:
        return self.submission.documents["Signature01"]

    @property
    def signed_items(self) -> dict[str, bytes]:
        """URI → bytes the XAdES manifest covers (submission set uniqueId, document)."""
        ss = self.submission.submission_set.unique_id
        return {f"urn:oid:{ss}": ss.encode(), f"urn:oid:{self.submission.entry('Document01').unique_id}": self.cda}

    def with_documents(self, *, signature: bytes | None = None, cda: bytes | None = None) -> None:
        documents = dict(self.submission.documents)
        if signature is not None:
            documents["Signature01"] = signature
        if cda is not None:
            documents["Document01"] = cda
        self.submission = replace(self.submission, documents=documents)

    def send(self, change_envelope=None):  # type: ignore[no-untyped-def]
        body, attachments = xds.provide_and_register_mtom(self.submission)
        action = _request_action("repository", body)
        envelope = self.client.envelope("repository", body, patient=self.patient, action=action)
        if change_envelope is not None:
            change_envelope(envelope)
        encoded = encode_mtom(envelope, attachments, action=action)
        return self.client.post("repository", encoded.body, encoded.content_type)


def _documents(sb: Sandbox) -> int:
    with sb.runtime.store.transaction(readonly=True) as tx:
        return tx.documents.count("default")


def _last_exchange(sb: Sandbox):  # type: ignore[no-untyped-def]
    with sb.runtime.store.transaction(readonly=True) as tx:
        return tx.exchanges.list("default", limit=1)[0]


def _assertion(envelope: etree._Element) -> etree._Element:
    return next(envelope.iter(f"{S}Assertion"))


def _replace_assertion(envelope: etree._Element, forged: etree._Element) -> None:
    original = _assertion(envelope)
    original.getparent().replace(original, forged)


def _attribute_value(assertion: etree._Element, name: str) -> etree._Element:
    return assertion.find(f"{S}AttributeStatement/{S}Attribute[@Name='{name}']/{S}AttributeValue")


# --- the VIHF --------------------------------------------------------------------------------------------------

def _wrap_into(where: str):  # type: ignore[no-untyped-def]
    """Signature wrapping: the signed assertion hidden in an extension element (in wsse:Security, in the SOAP
    Header or in the Body), a forged copy (other structure, same ID and signature) where the verifier looks."""
    def change(envelope: etree._Element) -> None:
        signed = _assertion(envelope)
        forged = copy.deepcopy(signed)
        _attribute_value(forged, ATTR_STRUCTURE).text = "10B0000000"
        security = signed.getparent()
        security.replace(signed, forged)
        extension = etree.Element("{urn:evil}Extension")
        extension.append(signed)
        header = security.getparent()
        body = header.getnext()
        {"security": security, "header": header, "body": body}[where].append(extension)
    return change


def _forged_new_id(envelope: etree._Element) -> None:
    """Wrapping: a forged assertion under a new ID carrying the original signature (whose Reference still
    points at the old ID)."""
    assertion = _assertion(envelope)
    _attribute_value(assertion, ATTR_STRUCTURE).text = "10B0000000"
    assertion.set("ID", "_forged")


def _same_id_in_body(envelope: etree._Element) -> None:
    """Wrapping: an element of the Body carrying the assertion's ID, for a resolver that takes the first match."""
    assertion = _assertion(envelope)
    body = envelope.find("{http://www.w3.org/2003/05/soap-envelope}Body")
    etree.SubElement(body, "{urn:evil}Token", ID=assertion.get("ID")).text = "forged"


def _comment_in_name_id(envelope: etree._Element) -> None:
    """A comment splits the NameID: exc-c14n drops comments, so the signature still verifies, and a reader of
    the first text node would take the prefix for the caller's identifier."""
    split_with_comment(_assertion(envelope).find(f"{S}Subject/{S}NameID"), 5)


def _comment_in_structure(envelope: etree._Element) -> None:
    split_with_comment(_attribute_value(_assertion(envelope), ATTR_STRUCTURE), 3)


def _keyinfo(issued_of):  # type: ignore[no-untyped-def]
    def change(envelope: etree._Element, sb: Sandbox, lookalike) -> None:  # type: ignore[no-untyped-def]
        _replace_assertion(envelope, swap_keyinfo(_assertion(envelope), issued_of(sb, lookalike)))
    return change


def _resigned(issued_of, **algorithms):  # type: ignore[no-untyped-def]
    def change(envelope: etree._Element, sb: Sandbox, lookalike) -> None:  # type: ignore[no-untyped-def]
        _replace_assertion(envelope, resign_assertion(_assertion(envelope), issued_of(sb, lookalike), **algorithms))
    return change


def _ours(sb: Sandbox, _lookalike):  # type: ignore[no-untyped-def]
    professional, structure = scenario_professional(sb)
    return sb.pki.professional(professional, structure, usage="sign")


def _hospital(sb: Sandbox, _lookalike):  # type: ignore[no-untyped-def]
    """A valid signature certificate of the sandbox's PKI, of another holder (an establishment's ORG SIGN)."""
    with sb.runtime.store.transaction(readonly=True) as tx:
        structure = next(s for s in tx.directory.list_structures("default", limit=100)
                         if s.record.get("kind") == "ch").record
    return sb.pki.organisation(dict(structure), kind="SIGN")


def _theirs(_sb: Sandbox, lookalike):  # type: ignore[no-untyped-def]
    return lookalike


def _plain(change):  # type: ignore[no-untyped-def]
    return lambda envelope, _sb, _lookalike: change(envelope)


# name: (change of the envelope, fault subcode, words of the reason)
VIHF_ATTACKS = {
    # wrapping
    "wrapping-signed-copy-in-security": (_plain(_wrap_into("security")), "DMPVIHFInvalid",
                                         "exactement une saml2:Assertion"),
    "wrapping-signed-copy-in-header": (_plain(_wrap_into("header")), "DMPVIHFInvalid",
                                       "exactement une saml2:Assertion"),
    "wrapping-signed-copy-in-body": (_plain(_wrap_into("body")), "DMPVIHFInvalid", "exactement une saml2:Assertion"),
    "wrapping-forged-assertion-new-id": (_plain(_forged_new_id), "DMPVIHFInvalid", "ne porte pas sur l'assertion"),
    "wrapping-id-reused-in-body": (_plain(_same_id_in_body), "DMPVIHFInvalid", "porté par 2 éléments"),
    # comment injection
    "comment-in-name-id": (_plain(_comment_in_name_id), "DMPVIHFInvalid",
                           "texte de NameID reçu ('89992') diffère du texte signé"),
    "comment-in-structure-id": (_plain(_comment_in_structure), "DMPVIHFInvalid", "AttributeValue"),
    # certificate swap
    "keyinfo-swapped-for-another-valid-certificate": (_keyinfo(_hospital), "DMPVIHFInvalid", "SignatureValue"),
    "keyinfo-swapped-for-a-lookalike": (_keyinfo(_theirs), "DMPInvalidCertificate", "Unknown certificate issuer"),
    "resigned-with-a-lookalike": (_resigned(_theirs), "DMPInvalidCertificate", "Unknown certificate issuer"),
    # algorithm downgrade
    "downgrade-hmac-sha1-public-key": (_resigned(_ours, method=HMAC_SHA1, digest=ns.SHA1), "DMPVIHFInvalid",
                                       "HMAC_SHA1 forbidden"),
    "downgrade-rsa-md5": (_resigned(_ours, method=RSA_MD5, digest=MD5), "DMPVIHFInvalid",
                          "Unrecognized SignatureMethod"),
    "downgrade-md5-digest": (_resigned(_ours, digest=MD5), "DMPVIHFInvalid", "Unrecognized DigestAlgorithm"),
    "downgrade-rsa-sha224": (_resigned(_ours, method=RSA_SHA224, digest=SHA224), "DMPVIHFInvalid",
                             "RSA_SHA224 forbidden"),
    "downgrade-inclusive-c14n": (_resigned(_ours, c14n=ns.C14N), "DMPVIHFInvalid", "CanonicalizationMethod"),
    "downgrade-xslt-transform": (_resigned(_ours, transforms=(ns.ENVELOPED, XSLT)), "DMPVIHFInvalid",
                                 "transformations de la Reference non acceptées"),
}


@pytest.mark.parametrize("attack", list(VIHF_ATTACKS))
def test_vihf_attack_is_refused_with_its_fault(sb, lookalike, attack):
    change, subcode, words = VIHF_ATTACKS[attack]
    before = _documents(sb)
    reply = Feed(sb).send(lambda envelope: change(envelope, sb, lookalike))
    assert reply.status == 500 and reply.fault is not None, reply.raw[:600]
    assert reply.fault.subcode.localname == subcode, reply.fault.reason
    assert words in reply.fault.reason, reply.fault.reason
    assert _documents(sb) == before
    logged = _last_exchange(sb)
    assert logged.service == "repository" and logged.http_status == 500 and logged.verdict == "fail"
    assert f"FAULT-{subcode}" in {f.rule for f in logged.findings}


def test_vihf_resigned_by_the_forger_with_sound_algorithms_is_accepted(sb, lookalike):
    """The control of the downgrade cases: the same forging path with rsa-sha256/sha256 and exc-c14n passes."""
    before = _documents(sb)
    reply = Feed(sb).send(lambda envelope: _resigned(_ours, method=ns.RSA_SHA256)(envelope, sb, lookalike))
    assert reply.status == 200, reply.raw[:600]
    assert xds.parse_registry_response(reply.body).status == "Success"
    assert _documents(sb) == before + 2  # the CDA and its signature document


# --- the XAdES of the feed ----------------------------------------------------------------------------------------

TAMPERED = b"<!-- forged -->"


def _tampered_cda(feed: Feed) -> bytes:
    """The CDA with a change that keeps its metadata valid (so only the signature can catch it)."""
    return feed.cda.replace(b"</ClinicalDocument>", TAMPERED + b"</ClinicalDocument>")


def _xades_wrap_forged_manifest(feed: Feed, _sb, _lookalike) -> None:  # type: ignore[no-untyped-def]
    """The signed manifest renamed and kept, a forged one (digest of a tampered CDA) under its Id."""
    cda = _tampered_cda(feed)

    def change(root: etree._Element) -> None:
        signed = root.find(f"{D}Object/{D}Manifest")
        forged = copy.deepcopy(signed)
        signed.set("Id", "Original")
        for reference in forged.findall(f"{D}Reference"):
            if reference.get("URI") != f"urn:oid:{feed.submission.submission_set.unique_id}":
                reference.find(f"{D}DigestValue").text = base64.b64encode(hashlib.sha256(cda).digest()).decode()
        etree.SubElement(root, f"{D}Object").append(forged)
    feed.with_documents(signature=edit_xades(feed.signature, change), cda=cda)


def _xades_wrap_extra_manifest(feed: Feed, _sb, _lookalike) -> None:  # type: ignore[no-untyped-def]
    """A second, unsigned manifest whose digests match a tampered CDA, next to the untouched signed one (nothing
    signed changes, so no key is needed)."""
    cda = _tampered_cda(feed)
    items = {**feed.signed_items, f"urn:oid:{feed.submission.entry('Document01').unique_id}": cda}

    def change(root: etree._Element) -> None:
        forged = copy.deepcopy(root.find(f"{D}Object/{D}Manifest"))
        forged.set("Id", "IHEManifest2")
        for reference in forged.findall(f"{D}Reference"):
            reference.find(f"{D}DigestValue").text = base64.b64encode(
                hashlib.sha256(items[reference.get("URI")]).digest()).decode()
        etree.SubElement(root, f"{D}Object").append(forged)
    feed.with_documents(signature=edit_xades(feed.signature, change), cda=cda)


def _xades_wrap_root(feed: Feed, _sb, _lookalike) -> None:  # type: ignore[no-untyped-def]
    root = etree.Element("{urn:evil}Wrapper")
    root.append(etree.fromstring(feed.signature))
    feed.with_documents(signature=etree.tostring(root))


def _xades_retarget(feed: Feed, _sb, _lookalike) -> None:  # type: ignore[no-untyped-def]
    """SignedInfo's manifest reference pointed at a forged manifest, without the key to sign again."""
    def change(root: etree._Element) -> None:
        forged = copy.deepcopy(root.find(f"{D}Object/{D}Manifest"))
        forged.set("Id", "Forged")
        etree.SubElement(root, f"{D}Object").append(forged)
        root.find(f"{D}SignedInfo/{D}Reference[@URI='#IHEManifest']").set("URI", "#Forged")
    feed.with_documents(signature=edit_xades(feed.signature, change))


def _xades_duplicate_id(feed: Feed, _sb, _lookalike) -> None:  # type: ignore[no-untyped-def]
    def change(root: etree._Element) -> None:
        forged = copy.deepcopy(root.find(f"{D}Object/{D}Manifest"))
        root.insert(1, forged)  # before the signed one: a first-match resolver would digest the forgery
    feed.with_documents(signature=edit_xades(feed.signature, change))


def _xades_comment(path: str, at: int):  # type: ignore[no-untyped-def]
    def attack(feed: Feed, _sb, _lookalike) -> None:  # type: ignore[no-untyped-def]
        feed.with_documents(signature=edit_xades(feed.signature, lambda root: split_with_comment(
            root.find(path), at)))
    return attack


def _xades_keyinfo(issued_of):  # type: ignore[no-untyped-def]
    def attack(feed: Feed, sb: Sandbox, lookalike) -> None:  # type: ignore[no-untyped-def]
        issued = issued_of(sb, lookalike)
        feed.with_documents(signature=edit_xades(feed.signature, lambda root: setattr(
            root.find(f"{D}KeyInfo/{D}X509Data/{D}X509Certificate"), "text", keyinfo_certificate(issued))))
    return attack


def _xades_expired_key_reuse(feed: Feed, sb: Sandbox, _lookalike) -> None:  # type: ignore[no-untyped-def]
    """Signed with the expired certificate (same key as the valid one), KeyInfo swapped for the valid one:
    SignatureValue and chain pass, the signed SigningCertificate names the expired certificate."""
    expired = sb.pki.professional(feed.professional, feed.structure, usage="sign", variant="expired")
    resigned = resign_xades(_with_signer_certificate(feed.signature, expired), expired, documents=feed.signed_items)
    feed.with_documents(signature=edit_xades(resigned, lambda root: setattr(
        root.find(f"{D}KeyInfo/{D}X509Data/{D}X509Certificate"), "text", keyinfo_certificate(feed.signer))))


def _xades_resigned(issued_of, **algorithms):  # type: ignore[no-untyped-def]
    def attack(feed: Feed, sb: Sandbox, lookalike) -> None:  # type: ignore[no-untyped-def]
        issued = issued_of(sb, lookalike)
        signature = feed.signature
        if issued is not feed.signer:  # KeyInfo and SigningCertificate must name the forger's certificate
            signature = _with_signer_certificate(signature, issued)
        feed.with_documents(signature=resign_xades(signature, issued, documents=feed.signed_items, **algorithms))
    return attack


def _with_signer_certificate(signature: bytes, issued) -> bytes:  # type: ignore[no-untyped-def]
    der = issued.certificate.public_bytes(serialization.Encoding.DER)

    def change(root: etree._Element) -> None:
        root.find(f"{D}KeyInfo/{D}X509Data/{D}X509Certificate").text = base64.b64encode(der).decode()
        first = root.find(f".//{X}SigningCertificate/{X}Cert/{X}CertDigest")
        first.find(f"{D}DigestMethod").set("Algorithm", ns.SHA256)
        first.find(f"{D}DigestValue").text = base64.b64encode(hashlib.sha256(der).digest()).decode()
    return edit_xades(signature, change)


def _auth(sb: Sandbox, _lookalike):  # type: ignore[no-untyped-def]
    professional, structure = scenario_professional(sb)
    return sb.pki.professional(professional, structure, usage="auth")


PURPOSE = f"{D}Object/{D}SignatureProperties/{D}SignatureProperty"
MANIFEST_DIGEST = f"{D}Object/{D}Manifest/{D}Reference[2]/{D}DigestValue"

# name: (attack on the Feed, XAdES verdict reason, words of its detail)
XADES_ATTACKS = {
    # wrapping
    "wrapping-forged-manifest-under-the-signed-id": (_xades_wrap_forged_manifest, "bad_digest",
                                                     "l'empreinte de #IHEManifest ne correspond pas"),
    "wrapping-extra-unsigned-manifest": (_xades_wrap_extra_manifest, "document_digest_mismatch",
                                         "dans le manifeste ne correspond pas au contenu soumis"),
    "wrapping-signature-inside-another-root": (_xades_wrap_root, "malformed", "l'élément racine"),
    "wrapping-reference-retargeted": (_xades_retarget, "bad_signature", "SignatureValue"),
    "wrapping-duplicate-manifest-id": (_xades_duplicate_id, "malformed", "identifiants dupliqués"),
    # comment injection (c14n drops comments: the SignedInfo digests still match)
    "comment-in-purpose-of-signature": (_xades_comment(PURPOSE, 11), "bad_purpose", "purposeOfSignature"),
    "comment-in-manifest-digest": (_xades_comment(MANIFEST_DIGEST, 8), "document_digest_mismatch",
                                   "ne correspond pas au contenu soumis"),
    "comment-in-signing-time": (_xades_comment(f".//{X}SigningTime", 10), "bad_signed_properties", "illisible"),
    # certificate swap
    "keyinfo-swapped-for-another-valid-certificate": (_xades_keyinfo(_hospital), "bad_signature", "SignatureValue"),
    "keyinfo-swapped-for-a-lookalike": (_xades_keyinfo(_theirs), "untrusted_certificate", "unknown_issuer"),
    "resigned-with-a-lookalike": (_xades_resigned(_theirs), "untrusted_certificate", "unknown_issuer"),
    "expired-key-reused-under-the-valid-certificate": (_xades_expired_key_reuse, "bad_signed_properties",
                                                       "SigningCertificate"),
    "resigned-with-the-authentication-certificate": (_xades_resigned(_auth), "not_signature_certificate",
                                                     "Not a valid signature certificate"),
    # algorithm downgrade (signed with the real key: the algorithm alone is refused)
    "downgrade-hmac-sha1-public-key": (_xades_resigned(_ours, method=HMAC_SHA1, digest=ns.SHA1), "malformed",
                                       f"SignatureMethod '{HMAC_SHA1}' non accepté"),
    "downgrade-rsa-md5": (_xades_resigned(_ours, method=RSA_MD5, digest=MD5), "malformed",
                          f"SignatureMethod '{RSA_MD5}' non accepté"),
    "downgrade-md5-signed-info-digests": (_xades_resigned(_ours, digest=MD5, manifest_digest=ns.SHA256), "malformed",
                                          f"DigestMethod '{MD5}' non accepté"),
    "downgrade-md5-manifest-digests": (_xades_resigned(_ours, manifest_digest=MD5), "malformed",
                                       f"DigestMethod '{MD5}' non accepté"),
    "downgrade-unknown-canonicalization": (_xades_resigned(_ours, c14n=C14N11), "malformed",
                                           f"CanonicalizationMethod '{C14N11}' non accepté"),
    "downgrade-xslt-transform-on-the-document": (
        _xades_resigned(_ours, change=lambda root: etree.SubElement(etree.SubElement(
            root.find(f"{D}Object/{D}Manifest/{D}Reference[2]"), f"{D}Transforms"), f"{D}Transform",
            Algorithm=XSLT)), "malformed", "non acceptées"),
}


@pytest.mark.parametrize("attack", list(XADES_ATTACKS))
def test_xades_attack_is_refused_with_its_verdict(sb, lookalike, attack):
    change, reason, words = XADES_ATTACKS[attack]
    before = _documents(sb)
    feed = Feed(sb)
    change(feed, sb, lookalike)
    reply = feed.send()
    assert reply.status == 200 and reply.fault is None, reply.raw[:600]
    result = xds.parse_registry_response(reply.body)
    assert result.status == "Failure", result
    errors = [e for e in result.errors if e.code == "XDSRegistryMetadataError"
              and f"Signature XAdES invalide ({reason})" in e.context]
    assert errors, result.errors
    assert words in errors[0].context, errors[0].context
    assert _documents(sb) == before
    logged = _last_exchange(sb)
    assert logged.verdict == "fail" and "XDS-XDSRegistryMetadataError" in {f.rule for f in logged.findings}


@pytest.mark.parametrize("signer", ["ours", "ours-rsa-sha1"])
def test_xades_resigned_by_the_forger_with_sound_algorithms_is_accepted(sb, lookalike, signer):
    """The controls of the XAdES cases: the forging path itself yields an accepted feed (rsa-sha1 is accepted:
    the official 2021 example uses it)."""
    before = _documents(sb)
    feed = Feed(sb)
    algorithms = {"method": ns.RSA_SHA1, "digest": ns.SHA1} if signer.endswith("sha1") else {}
    _xades_resigned(_ours, **algorithms)(feed, sb, lookalike)
    reply = feed.send()
    result = xds.parse_registry_response(reply.body)
    assert result.status == "Success", result.errors
    assert _documents(sb) == before + 2
