"""The sandbox test PKI: determinism, cache, certificate shapes, verification verdicts, CRLs, export."""
from __future__ import annotations

import json
import math
import random
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from segur_sandbox.simulator.pki import (
    DEFAULT_NOT_BEFORE,
    Oid,
    TestPKI,
    is_auth_cert,
    is_signature_cert,
    read_card_extensions,
)
from segur_sandbox.simulator.pki import cardext, rsakeys
from segur_sandbox.simulator.pki.regions import region_of

SEED = 20250101
AT = DEFAULT_NOT_BEFORE + timedelta(days=365)  # inside every valid certificate's life

PHARMACIST = {
    "id": "PS-00001",
    "rpps": "99000000015",
    "id_nat": "899000000015",
    "family": "LEROY",
    "given": "JULIE",
    "profession": {"code": "21", "label": "Pharmacien"},
    "structure_id": "ST-0001",
}
SECRETARY = {
    "id": "PS-00002",
    "id_nat": "31750000027/CPET0001",
    "family": "MARTIN",
    "given": "CLAIRE",
    "structure_id": "ST-0001",
    "card_type": "CPE",
}
PHARMACY = {
    "id": "ST-0001",
    "name": "PHARMACIE DES LILAS",
    "id_nat": "1750000027",
    "finess_eg": "750000027",
    "address": {"postal_code": "75014", "city": "Paris"},
    "secteur_activite": {"code": "SA33"},
}


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def private_der(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pki-cache")


@pytest.fixture(scope="module")
def cold_open(cache_dir: Path) -> tuple[TestPKI, float]:
    started = time.perf_counter()
    pki = TestPKI.open(cache_dir, SEED)
    return pki, time.perf_counter() - started


@pytest.fixture(scope="module")
def pki(cold_open: tuple[TestPKI, float]) -> TestPKI:
    return cold_open[0]


# --- determinism --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def other_then_twin(tmp_path_factory: pytest.TempPathFactory) -> tuple[TestPKI, TestPKI, Path]:
    """A PKI of another seed, then ours rebuilt from scratch in the same folder (replacing that cache)."""
    folder = tmp_path_factory.mktemp("pki-rebuilt")
    other = TestPKI.open(folder, SEED + 1)
    other_root_file = folder / json.loads((folder / "index.json").read_text())["cas"]["racine"]["cert"]
    other_root_pem = other_root_file.read_bytes()
    twin = TestPKI.open(folder, SEED)
    assert other_root_file.read_bytes() != other_root_pem  # the stale cache was replaced, not reused
    return other, twin, folder


def test_same_seed_rebuilt_elsewhere_gives_identical_der_and_keys(
    pki: TestPKI, other_then_twin: tuple[TestPKI, TestPKI, Path]
) -> None:
    _, twin, folder = other_then_twin
    assert json.loads((folder / "index.json").read_text())["params"]["seed"] == SEED
    assert [der(c) for c in twin.ca_chain()] == [der(c) for c in pki.ca_chain()]
    for slug in ("racine", "fort-personnes", "elementaire-organisations"):
        assert private_der(twin.authority(slug).private_key) == private_der(pki.authority(slug).private_key)
    ours, theirs = pki.professional(PHARMACIST, PHARMACY, "sign"), twin.professional(PHARMACIST, PHARMACY, "sign")
    assert der(ours.certificate) == der(theirs.certificate)
    assert private_der(ours.private_key) == private_der(theirs.private_key)
    assert twin.crl("racine") == pki.crl("racine")


def test_different_seed_gives_different_material(pki: TestPKI, other_then_twin: tuple[TestPKI, TestPKI, Path]) -> None:
    other = other_then_twin[0]
    assert other.root.subject == pki.root.subject  # same names...
    assert der(other.root) != der(pki.root)  # ...different everything else
    assert other.root.serial_number != pki.root.serial_number
    assert other.root.public_key() != pki.root.public_key()
    assert other.crl("racine") != pki.crl("racine")


def test_derived_keys_are_consistent_2048_bit_rsa(pki: TestPKI) -> None:
    keys = [pki.authority(slug).private_key for slug in ("racine", "fort-personnes", "elementaire-organisations")]
    for key in keys:
        numbers = key.private_numbers()
        p, q, e = numbers.p, numbers.q, numbers.public_numbers.e
        assert key.key_size == 2048 and e == 65537 and p * q == numbers.public_numbers.n
        assert numbers.d * e % math.lcm(p - 1, q - 1) == 1
        assert numbers.iqmp * q % p == 1
    assert len({k.public_key().public_numbers().n for k in keys}) == 3  # the label picks the key


def test_miller_rabin_rejects_carmichael_numbers_and_accepts_primes() -> None:
    stream = random.Random(0)
    for carmichael in (561, 1105, 1729, 41041, 825265, 321197185, 5394826801):
        assert not rsakeys._miller_rabin(carmichael, stream, 8)
    for prime in (7919, 104729, 2**61 - 1, 2**127 - 1):
        assert rsakeys._miller_rabin(prime, stream, 8)


# --- cache --------------------------------------------------------------------------------------


def test_cache_reload_is_identical_and_faster(cold_open: tuple[TestPKI, float], cache_dir: Path) -> None:
    pki, cold_seconds = cold_open
    issued = pki.professional(PHARMACIST, PHARMACY, "auth")
    started = time.perf_counter()
    warm = TestPKI.open(cache_dir, SEED)
    reloaded = warm.professional(PHARMACIST, PHARMACY, "auth")
    warm_seconds = time.perf_counter() - started
    assert [der(c) for c in warm.ca_chain()] == [der(c) for c in pki.ca_chain()]
    assert der(reloaded.certificate) == der(issued.certificate)
    assert private_der(reloaded.private_key) == private_der(issued.private_key)
    assert warm_seconds < cold_seconds / 5, (warm_seconds, cold_seconds)
    index = json.loads((cache_dir / "index.json").read_text())
    assert index["params"]["seed"] == SEED
    assert all((cache_dir / entry["cert"]).is_file() for entry in index["certs"].values())


# --- certificate shapes -------------------------------------------------------------------------


def test_professional_subject_has_title_and_multi_valued_sn_cn_gn(pki: TestPKI) -> None:
    cert = pki.professional(PHARMACIST, PHARMACY, "sign").certificate
    rdns = cert.subject.rdns
    assert [(a.oid, a.value) for a in rdns[0]] == [(NameOID.COUNTRY_NAME, "FR")]
    assert [(a.oid, a.value) for a in rdns[1]] == [(NameOID.TITLE, "Pharmacien")]
    multi = {a.oid: a.value for a in rdns[2]}
    assert len(rdns) == 3 and len(rdns[2]) == 3
    assert multi == {NameOID.SURNAME: "LEROY", NameOID.COMMON_NAME: "899000000015", NameOID.GIVEN_NAME: "JULIE"}
    assert not cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)  # a CPS DN holds no structure
    issuer_cn = cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert issuer_cn == "TEST AC IGC-SANTE FORT PERSONNES SANDBOX"
    assert cert.issuer.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "SEGUR-SANDBOX FICTIF"


def test_private_extensions_decode_back(pki: TestPKI) -> None:
    cps_auth = pki.professional(PHARMACIST, PHARMACY, "auth").certificate
    cps_sign = pki.professional(PHARMACIST, PHARMACY, "sign").certificate
    decoded = read_card_extensions(cps_sign)
    assert decoded.category == "80"
    assert decoded.card_type == 0
    assert decoded.profession == 21
    issuer_number, card_serial = decoded.card_serial.split("/")
    assert len(issuer_number) == 10 and len(card_serial) == 10 and card_serial.isdigit()
    assert read_card_extensions(cps_auth).card_serial == decoded.card_serial  # one card, one serial
    raw = cps_sign.extensions.get_extension_for_oid(Oid.CARD_CATEGORY).value.value
    assert raw == b"\x04\x01\x80"  # the single octet 0x80, as on the real test CPS certificate
    policies = [p.policy_identifier for p in cps_sign.extensions.get_extension_for_class(x509.CertificatePolicies).value]
    assert Oid.SANDBOX_POLICY in policies


def test_cpe_card_type_and_structure_in_dn(pki: TestPKI) -> None:
    cert = pki.professional(SECRETARY, PHARMACY, "auth", card_type="CPE").certificate
    assert read_card_extensions(cert).card_type == 2
    assert read_card_extensions(cert).profession is None
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == "1750000027"
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "31750000027/CPET0001"


def test_key_usages_per_usage(pki: TestPKI) -> None:
    auth = pki.professional(PHARMACIST, PHARMACY, "auth").certificate
    sign = pki.professional(PHARMACIST, PHARMACY, "sign").certificate
    auth_ku = auth.extensions.get_extension_for_class(x509.KeyUsage)
    sign_ku = sign.extensions.get_extension_for_class(x509.KeyUsage)
    assert auth_ku.critical and auth_ku.value.digital_signature and auth_ku.value.key_encipherment
    assert not auth_ku.value.content_commitment
    assert sign_ku.critical and sign_ku.value.content_commitment and not sign_ku.value.digital_signature
    assert list(auth.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert list(sign.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.EMAIL_PROTECTION]
    assert is_auth_cert(auth) and not is_signature_cert(auth)
    assert is_signature_cert(sign) and not is_auth_cert(sign)
    points = sign.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert points[0].full_name[0].value == "http://127.0.0.1:8080/pki/crl/fort-personnes.crl"
    ski = sign.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(sign.public_key())


def test_organisation_certificates(pki: TestPKI) -> None:
    insi = pki.organisation(PHARMACY, "INSI-AUTO").certificate
    assert insi.subject.rfc4514_string() == "CN=INSI-AUTO,OU=1750000027,O=PHARMACIE DES LILAS,ST=Île-de-France,C=FR"
    assert insi.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == (
        "TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS SANDBOX"
    )
    assert pki.organisation(PHARMACY, "INSI-MANU").certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "INSI-MANU"
    assert is_auth_cert(insi) and is_auth_cert(pki.organisation(PHARMACY, "AUTH_CLI").certificate)
    org_sign = pki.organisation(PHARMACY, "SIGN").certificate
    assert is_signature_cert(org_sign) and not is_auth_cert(org_sign)
    assert pki.verify_chain(org_sign, AT, purpose="sign").ok


# --- verification -------------------------------------------------------------------------------


def test_valid_chain_verifies(pki: TestPKI) -> None:
    issued = pki.professional(PHARMACIST, PHARMACY, "sign")
    verdict = pki.verify_chain(issued.certificate, AT, purpose="sign")
    assert verdict.ok, verdict
    assert verdict.chain == (issued.certificate, *issued.chain)
    assert verdict.chain[-1] == pki.root == pki.ca_chain()[-1]
    assert pki.verify_chain(pki.root, AT).ok


def test_expired_variant(pki: TestPKI) -> None:
    expired = pki.professional(PHARMACIST, PHARMACY, "sign", variant="expired").certificate
    assert expired.not_valid_after_utc < DEFAULT_NOT_BEFORE
    assert pki.verify_chain(expired, AT).reason == "expired"


def test_not_yet_valid(pki: TestPKI) -> None:
    cert = pki.professional(PHARMACIST, PHARMACY, "auth").certificate
    assert pki.verify_chain(cert, DEFAULT_NOT_BEFORE - timedelta(seconds=1)).reason == "not_yet_valid"


def test_revoked_variant_is_on_its_crl(pki: TestPKI, cache_dir: Path) -> None:
    revoked = pki.professional(PHARMACIST, PHARMACY, "sign", variant="revoked").certificate
    assert pki.verify_chain(revoked, AT).reason == "revoked"
    # Another process opening the cache sees the revocation too.
    assert TestPKI.open(cache_dir, SEED).verify_chain(revoked, AT).reason == "revoked"

    ca = pki.authority("fort-personnes").certificate
    crl = x509.load_der_x509_crl(pki.crl("fort-personnes"))
    assert crl.issuer == ca.subject
    assert crl.is_signature_valid(ca.public_key())
    assert crl.get_revoked_certificate_by_serial_number(revoked.serial_number) is not None
    valid = pki.professional(PHARMACIST, PHARMACY, "sign").certificate
    assert crl.get_revoked_certificate_by_serial_number(valid.serial_number) is None
    assert crl.last_update_utc == DEFAULT_NOT_BEFORE + timedelta(days=1)
    assert pki.crl("fort-personnes") == pki.crl(ca)  # deterministic, addressable by slug or certificate
    empty = x509.load_der_x509_crl(pki.crl("racine"))
    assert len(empty) == 0 and empty.is_signature_valid(pki.root.public_key())


def test_wrong_usage_variant(pki: TestPKI) -> None:
    cert = pki.professional(PHARMACIST, PHARMACY, "sign", variant="wrong_usage").certificate
    assert not is_signature_cert(cert) and is_auth_cert(cert)
    assert pki.verify_chain(cert, AT).ok  # the chain is fine...
    verdict = pki.verify_chain(cert, AT, purpose="sign")  # ...the usage is not
    assert verdict.reason == "wrong_usage" and "Not a valid signature certificate" in verdict.detail


def _throwaway_ca(common_name: str) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "SEGUR-SANDBOX FICTIF"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "IGC-SANTE TEST"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(DEFAULT_NOT_BEFORE)
        .not_valid_after(DEFAULT_NOT_BEFORE + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


@pytest.mark.parametrize("ca_name", ["SOME OTHER CA", "TEST AC IGC-SANTE FORT PERSONNES SANDBOX"])
def test_certificate_from_a_throwaway_ca_has_unknown_issuer(pki: TestPKI, ca_name: str) -> None:
    ca, ca_key = _throwaway_ca(ca_name)
    genuine = pki.professional(PHARMACIST, PHARMACY, "sign")
    forged = (
        x509.CertificateBuilder()
        .subject_name(genuine.certificate.subject)
        .issuer_name(ca.subject)
        .public_key(genuine.private_key.public_key())
        .serial_number(2)
        .not_valid_before(DEFAULT_NOT_BEFORE)
        .not_valid_after(DEFAULT_NOT_BEFORE + timedelta(days=1000))
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    verdict = pki.verify_chain(forged, AT)
    assert verdict.reason == "unknown_issuer"
    assert pki.verify_chain(ca, AT).reason == "unknown_issuer"


def test_tampered_signature_is_bad_signature(pki: TestPKI) -> None:
    raw = bytearray(der(pki.professional(PHARMACIST, PHARMACY, "auth").certificate))
    raw[-1] ^= 0x01  # last octet of the signature value
    assert pki.verify_chain(x509.load_der_x509_certificate(bytes(raw)), AT).reason == "bad_signature"


# --- serialisations and export ------------------------------------------------------------------


def test_pkcs12_loads_back_with_password(pki: TestPKI) -> None:
    issued = pki.professional(PHARMACIST, PHARMACY, "auth")
    for blob in (issued.pkcs12("1234"), issued.pkcs12("1234", legacy=True)):
        key, cert, extra = pkcs12.load_key_and_certificates(blob, b"1234")
        assert cert == issued.certificate
        assert private_der(key) == private_der(issued.private_key)
        assert extra == list(issued.chain)
        with pytest.raises(ValueError):
            pkcs12.load_key_and_certificates(blob, b"0000")
    assert x509.load_pem_x509_certificate(issued.cert_pem()) == issued.certificate
    assert serialization.load_pem_private_key(issued.key_pem(), None).public_key() == issued.certificate.public_key()


def test_export_writes_index_with_existing_files_and_usable_keys(pki: TestPKI, tmp_path: Path) -> None:
    index_path = pki.export(tmp_path / "out", [PHARMACIST, SECRETARY], [PHARMACY], negatives=True)
    out = index_path.parent
    index = json.loads(index_path.read_text(encoding="utf-8"))
    assert index["pkcs12_password"] == "1234"

    referenced = [index["ca_chain"], *(c["file"] for c in index["cas"]), *(c["file"] for c in index["crls"])]
    for entry in index["credentials"]:
        referenced += entry["files"].values()
    assert referenced and all((out / name).is_file() for name in referenced)
    assert len(x509.load_pem_x509_certificates((out / index["ca_chain"]).read_bytes())) == 3

    kinds = {e["kind"] for e in index["credentials"] if e["owner"] == "structure" and e["variant"] == "valid"}
    assert kinds == {"AUTH_CLI", "SIGN", "INSI-AUTO", "INSI-MANU"}
    pharmacist = {
        (e["usage"], e["variant"]): e for e in index["credentials"] if e["national_id"] == PHARMACIST["id_nat"]
    }
    assert set(pharmacist) >= {("auth", "valid"), ("sign", "valid"), ("sign", "revoked")}

    sign = pharmacist[("sign", "valid")]
    cert = x509.load_pem_x509_certificate((out / sign["files"]["cert"]).read_bytes())
    assert cert.fingerprint(hashes.SHA256()).hex() == sign["sha256"]
    key = serialization.load_pem_private_key((out / sign["files"]["key"]).read_bytes(), None)
    message = b"<saml2:Assertion ID='_x'/>"
    signature = key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    cert.public_key().verify(signature, message, padding.PKCS1v15(), hashes.SHA256())  # raises if not

    revoked_serial = pharmacist[("sign", "revoked")]["serial"]
    crl_entry = next(c for c in index["crls"] if c["ca"] == "fort-personnes")
    assert revoked_serial in crl_entry["revoked_serials"]
    crl = x509.load_der_x509_crl((out / crl_entry["file"]).read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(int(revoked_serial, 16)) is not None


# --- DER helpers --------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 1, 21, 60, 127, 128, 255, 256, 65535, -1])
def test_integer_round_trip(value: int) -> None:
    assert cardext.decode_integer(cardext.encode_integer(value)) == value


def test_der_encodings_match_the_real_test_certificate() -> None:
    assert cardext.encode_integer(60) == b"\x02\x01\x3c"
    assert cardext.encode_integer(128) == b"\x02\x02\x00\x80"
    assert cardext.encode_printable("8025000001/2800636234") == b"\x13\x158025000001/2800636234"
    assert cardext.decode_octet_string(b"\x04\x01\x80") == b"\x80"
    with pytest.raises(ValueError):
        cardext.encode_printable("é")
    with pytest.raises(ValueError):
        cardext.decode_integer(b"\x04\x01\x00")


def test_parallel_key_search_matches_serial() -> None:
    labels = ["a", "b", "c"]
    together = rsakeys.derive_private_keys(3, labels, bits=1024, workers=2)
    for label in labels:
        assert together[label].private_numbers() == rsakeys.derive_private_key(3, label, bits=1024).private_numbers()


def test_region_from_postal_code() -> None:
    assert region_of(PHARMACY) == "Île-de-France"
    assert region_of({"address": {"postal_code": "20090"}}) == "Corse"
    assert region_of({"address": {"postal_code": "97400"}}) == "La Réunion"
    assert region_of({"address": {"postal_code": "69003"}}) == "Auvergne-Rhône-Alpes"
    assert region_of({"region": "Bretagne", "address": {"postal_code": "75001"}}) == "Bretagne"
    assert region_of({}) == "France"


def test_nothing_names_the_real_igc_sante(pki: TestPKI) -> None:
    material = [der(c) for c in pki.ca_chain()] + [pki.crl(slug) for slug in ("racine", "fort-personnes")]
    material += [der(pki.professional(PHARMACIST, PHARMACY, "sign").certificate)]
    material += [der(pki.organisation(PHARMACY, "INSI-AUTO").certificate)]
    for blob in material:
        assert b"esante.gouv.fr" not in blob and b"ASIP" not in blob
    for cert in pki.ca_chain():
        common_name = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        assert common_name not in {"TEST AC IGC-SANTE FORT PERSONNES", "TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS"}
        assert "SANDBOX" in common_name


def test_server_certificate_for_serve_tls(pki: TestPKI) -> None:
    from cryptography.x509.oid import ExtendedKeyUsageOID

    issued = pki.server(("localhost", "127.0.0.1"))
    cert = issued.certificate
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert ExtendedKeyUsageOID.SERVER_AUTH in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert pki.verify_chain(cert, datetime(2026, 1, 1, tzinfo=timezone.utc)).reason == "ok"
    with pytest.raises(ValueError):
        pki.server(())
