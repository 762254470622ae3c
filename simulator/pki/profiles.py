"""Certificate profiles: what goes into CA, professional (CPS/CPE card) and organisation certificates.

Shapes follow the public test CPS signature certificate decoded in spec B.7 (extension set and order,
multi-valued SN+CN+GN RDN, ``title``, non-critical basicConstraints, private-key usage period) and the
organisation subject of spec A.7. Anything the spec does not show is marked "inferred" where it is decided.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from . import derive
from .cardext import CardExtensions
from .names import (
    CA_PROFILES,
    CARD_ISSUER_NUMBER,
    CARD_TYPE_CODES,
    CATEGORY_CPX_TEST,
    CATEGORY_SOFTWARE_CERT_TEST,
    SANDBOX_POLICY_NOTICE,
    CaProfile,
    CaSlug,
    CardType,
    Oid,
    OrgKind,
    Usage,
    Variant,
)
from .regions import region_of

CA_YEARS = 10
LEAF_YEARS = 3


@dataclass(frozen=True)
class Authority:
    """A CA of the sandbox: its profile, certificate and signing key."""

    profile: CaProfile
    certificate: x509.Certificate
    private_key: rsa.RSAPrivateKey

    @property
    def slug(self) -> CaSlug:
        return self.profile.slug


@dataclass(frozen=True)
class LeafSpec:
    """Everything that determines one end-entity certificate, computed before any key exists."""

    key_label: str  # shared by the variants of one credential, so negative variants cost no key search
    cert_label: str
    ca: CaSlug
    owner: str  # "professional" | "organisation"
    subject: x509.Name
    requested_usage: Usage
    effective_usage: Usage  # differs from requested_usage only for variant "wrong_usage"
    variant: Variant
    card: CardExtensions
    test_policy: bool
    host_names: tuple[str, ...] = ()  # a TLS server certificate: subjectAltName entries, EKU serverAuth


def crl_url(base_url: str, slug: CaSlug) -> str:
    return f"{base_url.rstrip('/')}/crl/{slug}.crl"


def ca_issuers_url(base_url: str, slug: CaSlug) -> str:
    return f"{base_url.rstrip('/')}/ca/{slug}.cer"


def _fingerprint_inputs(*values: Any) -> str:
    """Short digest of the record fields that shape a certificate: a renamed person gets a new certificate
    (same key) instead of a stale cached one."""
    blob = json.dumps(values, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:16]


def _policies(base_url: str, test_policy: bool) -> x509.CertificatePolicies:
    policies = []
    if test_policy:
        # The real certificate points its qualifier at ANS's "PC TEST" page; ours stays on the sandbox.
        policies.append(x509.PolicyInformation(Oid.IGC_SANTE_TEST_POLICY, [f"{base_url.rstrip('/')}/pc-test"]))
    policies.append(
        x509.PolicyInformation(Oid.SANDBOX_POLICY, [x509.UserNotice(None, SANDBOX_POLICY_NOTICE)])
    )
    return x509.CertificatePolicies(policies)


def _ca_validity(not_before: datetime) -> tuple[datetime, datetime]:
    return not_before, derive.add_years(not_before, CA_YEARS)


def leaf_validity(not_before: datetime, variant: Variant) -> tuple[datetime, datetime]:
    if variant == "expired":
        # Entirely before the PKI epoch, so it is expired at any instant the CAs are valid.
        return derive.add_years(not_before, -LEAF_YEARS), not_before - derive.ONE_DAY
    return not_before, derive.add_years(not_before, LEAF_YEARS)


def build_ca(
    profile: CaProfile,
    key: rsa.RSAPrivateKey,
    issuer: Authority | None,
    seed: int,
    not_before: datetime,
    base_url: str,
) -> x509.Certificate:
    start, end = _ca_validity(not_before)
    signer_key = issuer.private_key if issuer else key
    issuer_name = issuer.certificate.subject if issuer else profile.name
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    aki = (
        x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
            issuer.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        )
        if issuer
        else x509.AuthorityKeyIdentifier(ski.digest, None, None)
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(profile.name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(derive.serial_number(seed, f"ca|{profile.slug}"))
        .not_valid_before(start)
        .not_valid_after(end)
        # Issuing CAs sign end entities only, hence pathlen 0 below the root.
        .add_extension(x509.BasicConstraints(ca=True, path_length=None if issuer is None else 0), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(aki, critical=False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    if issuer is not None:
        builder = (
            builder.add_extension(_policies(base_url, profile.slug == "fort-personnes"), critical=False)
            .add_extension(_crl_points(base_url, issuer.slug), critical=False)
            .add_extension(_aia(base_url, issuer.slug), critical=False)
        )
    return builder.sign(signer_key, hashes.SHA256())


def _crl_points(base_url: str, slug: CaSlug) -> x509.CRLDistributionPoints:
    uri = x509.UniformResourceIdentifier(crl_url(base_url, slug))
    return x509.CRLDistributionPoints([x509.DistributionPoint([uri], None, None, None)])


def _aia(base_url: str, slug: CaSlug) -> x509.AuthorityInformationAccess:
    # No OCSP responder URL: the sandbox runs none, and a dead OCSP URL makes some clients hang or fail.
    return x509.AuthorityInformationAccess(
        [x509.AccessDescription(x509.AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(ca_issuers_url(base_url, slug)))]
    )


def _key_usage(usage: Usage) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=usage == "auth",
        # nonRepudiation alone is what the test CPS signature certificate carries and what the DMP tests.
        content_commitment=usage == "sign",
        key_encipherment=usage == "auth",
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _ext_key_usage(usage: Usage, server: bool = False) -> x509.ExtendedKeyUsage:
    if server:
        return x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH])
    return x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.CLIENT_AUTH if usage == "auth" else ExtendedKeyUsageOID.EMAIL_PROTECTION]
    )


def _alt_names(host_names: tuple[str, ...]) -> x509.SubjectAlternativeName:
    import ipaddress

    names: list[x509.GeneralName] = []
    for host in host_names:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def build_leaf(
    spec: LeafSpec,
    key: rsa.RSAPrivateKey,
    issuer: Authority,
    seed: int,
    not_before: datetime,
    base_url: str,
) -> x509.Certificate:
    start, end = leaf_validity(not_before, spec.variant)
    issuer_ski = issuer.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateBuilder()
        .subject_name(spec.subject)
        .issuer_name(issuer.certificate.subject)
        .public_key(key.public_key())
        .serial_number(derive.serial_number(seed, spec.cert_label))
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski), critical=False)
        .add_extension(_key_usage(spec.effective_usage), critical=True)
        .add_extension(_policies(base_url, spec.test_policy), critical=False)
        .add_extension(_ext_key_usage(spec.effective_usage, bool(spec.host_names)), critical=False)
    )
    if spec.host_names:
        builder = builder.add_extension(_alt_names(spec.host_names), critical=False)
    if spec.effective_usage == "sign":
        builder = builder.add_extension(x509.PrivateKeyUsagePeriod(start, end), critical=False)
    builder = builder.add_extension(_crl_points(base_url, issuer.slug), critical=False).add_extension(
        _aia(base_url, issuer.slug), critical=False
    )
    for ext in spec.card.extensions():
        builder = builder.add_extension(ext, critical=False)
    return builder.sign(issuer.private_key, hashes.SHA256())


def _flip(usage: Usage) -> Usage:
    return "auth" if usage == "sign" else "sign"


def _require(record: Mapping[str, Any], field: str, what: str) -> str:
    value = record.get(field)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} record lacks a non-empty {field!r}: {dict(record)!r}")
    return value


def professional_spec(
    seed: int,
    professional: Mapping[str, Any],
    structure: Mapping[str, Any] | None,
    usage: Usage,
    card_type: CardType,
    variant: Variant,
) -> LeafSpec:
    if usage not in ("auth", "sign"):
        raise ValueError(f"usage must be 'auth' or 'sign', not {usage!r}")
    if card_type not in CARD_TYPE_CODES:
        raise ValueError(f"card_type must be one of {sorted(CARD_TYPE_CODES)}, not {card_type!r}")
    id_nat = _require(professional, "id_nat", "professional")
    family = _require(professional, "family", "professional")
    given = _require(professional, "given", "professional")
    profession = professional.get("profession") or {}
    label = profession.get("label")
    code = profession.get("code")

    attributes: list[x509.RelativeDistinguishedName] = [
        x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COUNTRY_NAME, "FR")])
    ]
    structure_fields: tuple[str, str] | None = None
    if card_type == "CPE" and structure is not None:
        # Inferred: a CPE belongs to its establishment (the CPA example DN carries O/OU), whereas the test
        # CPS DN carries no structure at all -- a CPS holder's situations live on the card, not in the DN.
        structure_fields = (_require(structure, "name", "structure"), _require(structure, "id_nat", "structure"))
        attributes.append(x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.ORGANIZATION_NAME, structure_fields[0])]))
        attributes.append(
            x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, structure_fields[1])])
        )
    if label:
        attributes.append(x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.TITLE, str(label))]))
    attributes.append(
        x509.RelativeDistinguishedName(
            [
                x509.NameAttribute(NameOID.SURNAME, family),
                x509.NameAttribute(NameOID.COMMON_NAME, id_nat),
                x509.NameAttribute(NameOID.GIVEN_NAME, given),
            ]
        )
    )
    card = CardExtensions(
        category=CATEGORY_CPX_TEST,
        card_type=CARD_TYPE_CODES[card_type],
        # Both certificates of one card share its serial, as they share the physical card.
        card_serial=f"{CARD_ISSUER_NUMBER}/{derive.digits(seed, 10, 'card', id_nat, card_type)}",
        profession=int(code) if code is not None and str(code).isdigit() else None,
    )
    key_label = f"ps|{id_nat}|{card_type}|{usage}"
    shape = _fingerprint_inputs(id_nat, family, given, code, label, structure_fields)
    return LeafSpec(
        key_label=key_label,
        cert_label=f"{key_label}|{variant}|{shape}",
        ca="fort-personnes",
        owner="professional",
        subject=x509.Name(attributes),
        requested_usage=usage,
        effective_usage=_flip(usage) if variant == "wrong_usage" else usage,
        variant=variant,
        card=card,
        test_policy=True,
    )


ORG_USAGE: dict[OrgKind, Usage] = {"AUTH_CLI": "auth", "SIGN": "sign", "INSI-AUTO": "auth", "INSI-MANU": "auth"}


def _host_label(id_nat: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", id_nat.lower()).strip("-") or "structure"


def organisation_common_name(kind: OrgKind, id_nat: str) -> str:
    if kind in ("INSI-AUTO", "INSI-MANU"):
        return kind  # INSi grants access on this exact CN (DESIR_560 otherwise)
    # Inferred: real AUTH_CLI/SIGN CNs are free server or application names; ours are host-like names
    # under the reserved .test TLD so they can never resolve to, or be mistaken for, a real service.
    prefix = "auth-cli" if kind == "AUTH_CLI" else "sign"
    return f"{prefix}.{_host_label(id_nat)}.segur-sandbox.test"


def organisation_spec(
    seed: int, structure: Mapping[str, Any], kind: OrgKind, variant: Variant
) -> LeafSpec:
    if kind not in ORG_USAGE:
        raise ValueError(f"kind must be one of {sorted(ORG_USAGE)}, not {kind!r}")
    name = _require(structure, "name", "structure")
    id_nat = _require(structure, "id_nat", "structure")
    region = region_of(structure)
    common_name = organisation_common_name(kind, id_nat)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
            x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, region),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, id_nat),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    usage = ORG_USAGE[kind]
    key_label = f"org|{id_nat}|{kind}"
    shape = _fingerprint_inputs(name, id_nat, region, common_name)
    return LeafSpec(
        key_label=key_label,
        cert_label=f"{key_label}|{variant}|{shape}",
        ca="elementaire-organisations",
        owner="organisation",
        subject=subject,
        requested_usage=usage,
        effective_usage=_flip(usage) if variant == "wrong_usage" else usage,
        variant=variant,
        # Inferred: only the category ("83" = CL de TEST, software certificate) applies to a structure.
        card=CardExtensions(category=CATEGORY_SOFTWARE_CERT_TEST, card_type=None, card_serial=None, profession=None),
        test_policy=False,
    )


def server_spec(host_names: tuple[str, ...]) -> LeafSpec:
    """The sandbox's own TLS server certificate (``serve --tls``), issued by the organisations CA so that a client
    trusting the sandbox chain trusts it; the names are the hosts clients connect to."""
    if not host_names:
        raise ValueError("a server certificate needs at least one host name")
    subject = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "SEGUR-SANDBOX FICTIF"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "SERVEUR DE TEST"),
        x509.NameAttribute(NameOID.COMMON_NAME, host_names[0]),
    ])
    key_label = "server|tls"
    return LeafSpec(key_label=key_label, cert_label=f"{key_label}|{'|'.join(host_names)}", ca="elementaire-organisations",
                    owner="server", subject=subject, requested_usage="auth", effective_usage="auth", variant="valid",
                    card=CardExtensions(category=None, card_type=None, card_serial=None, profession=None),
                    test_policy=False, host_names=tuple(host_names))


def ca_profiles_in_order() -> list[CaProfile]:
    """Root first, so each CA's issuer exists when it is built."""
    return [CA_PROFILES["racine"], CA_PROFILES["fort-personnes"], CA_PROFILES["elementaire-organisations"]]
