"""A small chain verifier for the sandbox PKI, plus key-usage queries.

It answers the questions the DMP and INSi servers ask -- "does this chain to our root, is it in date, is it
revoked, is it a signature or an authentication certificate" -- with one reason code each, which the
servers map onto their own faults (DMPInvalidCertificate, DESIR_560...). It is deliberately not a full
RFC 5280 path validator: no name constraints, no policy processing.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ExtendedKeyUsageOID

from .names import Usage

Reason = Literal["ok", "unknown_issuer", "bad_signature", "expired", "not_yet_valid", "revoked", "wrong_usage"]

# Leaf, issuing CA, root: anything longer is not ours.
_MAX_DEPTH = 4


@dataclass(frozen=True)
class ChainVerdict:
    reason: Reason
    chain: tuple[x509.Certificate, ...]  # leaf first, root last; as far as it could be built
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.reason == "ok"


@lru_cache(maxsize=512)
def load_der_certificate(der: bytes) -> x509.Certificate:
    """A certificate from its DER bytes, the same object for the same bytes: clients send the same few signer
    certificates with every VIHF and XAdES signature, and a Certificate parses its extensions (key usage, CRL
    distribution points…) once per object, on first use. Raises ``ValueError`` for bytes that are no certificate."""
    return x509.load_der_x509_certificate(der)


def _key_usage(cert: x509.Certificate) -> x509.KeyUsage | None:
    try:
        return cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None


def _ext_key_usage(cert: x509.Certificate) -> list[x509.ObjectIdentifier] | None:
    try:
        return list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        return None


def is_signature_cert(cert: x509.Certificate) -> bool:
    """nonRepudiation in keyUsage: the DMP's test for a VIHF/XAdES signer ("Not a valid signature certificate")."""
    usage = _key_usage(cert)
    return usage is not None and usage.content_commitment


def is_auth_cert(cert: x509.Certificate) -> bool:
    """digitalSignature in keyUsage, and clientAuth in extendedKeyUsage when one is present (TLS client)."""
    usage = _key_usage(cert)
    if usage is None or not usage.digital_signature:
        return False
    purposes = _ext_key_usage(cert)
    return purposes is None or ExtendedKeyUsageOID.CLIENT_AUTH in purposes


def _key_id(cert: x509.Certificate, kind: type[x509.SubjectKeyIdentifier] | type[x509.AuthorityKeyIdentifier]) -> bytes | None:
    try:
        value = cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None
    return value.digest if isinstance(value, x509.SubjectKeyIdentifier) else value.key_identifier


def _find_issuer(cert: x509.Certificate, authorities: Sequence[x509.Certificate]) -> x509.Certificate | None:
    # Same-seed PKIs share CA names, so the key identifier, not the name, tells our CA from a lookalike.
    wanted = _key_id(cert, x509.AuthorityKeyIdentifier)
    for ca in authorities:
        if ca.subject != cert.issuer:
            continue
        if wanted is not None and wanted != _key_id(ca, x509.SubjectKeyIdentifier):
            continue
        return ca
    return None


# Chains that were built and whose signatures verified, by (certificate, root, authorities): every VIHF and XAdES
# check verifies the same few signer certificates, and finding the issuers (extension lookups) and checking each
# link's RSA signature was most of a chain check. That part is a pure function of the certificates' bytes, so it is
# cached; validity dates, revocation and usage are checked on every call. Only successes are kept. Bounded.
_CHAINS: dict[tuple[x509.Certificate, x509.Certificate, tuple[x509.Certificate, ...]],
              tuple[x509.Certificate, ...]] = {}
_CHAINS_MAX = 4096


def as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def verify_chain(
    cert: x509.Certificate,
    at: datetime,
    *,
    root: x509.Certificate,
    authorities: Sequence[x509.Certificate],
    is_revoked: Callable[[x509.Certificate, x509.Certificate, datetime], bool],
    purpose: Usage | None = None,
) -> ChainVerdict:
    """Check ``cert`` against our CAs at instant ``at`` (naive datetimes are read as UTC).

    Order of checks, first failure wins: issuer chain, signatures, validity (leaf first), revocation, then
    the optional ``purpose`` ("sign": nonRepudiation, "auth": TLS client).
    """
    at = as_utc(at)
    key = (cert, root, tuple(authorities))
    cached = _CHAINS.get(key)
    if cached is not None:
        chain = list(cached)
    else:
        built = _build_chain(cert, root, authorities)
        if isinstance(built, ChainVerdict):
            return built
        chain = built
        if len(_CHAINS) >= _CHAINS_MAX:
            _CHAINS.clear()
        _CHAINS[key] = tuple(chain)

    for link in chain:
        if at < link.not_valid_before_utc:
            return ChainVerdict("not_yet_valid", tuple(chain), f"{link.subject.rfc4514_string()} valid from {link.not_valid_before_utc.isoformat()}")
        if at > link.not_valid_after_utc:
            return ChainVerdict("expired", tuple(chain), f"{link.subject.rfc4514_string()} expired {link.not_valid_after_utc.isoformat()}")

    for child, issuer in zip(chain, chain[1:]):
        if is_revoked(child, issuer, at):
            return ChainVerdict("revoked", tuple(chain), f"serial {child.serial_number:x} revoked by {issuer.subject.rfc4514_string()}")

    if purpose == "sign" and not is_signature_cert(cert):
        return ChainVerdict("wrong_usage", tuple(chain), "Not a valid signature certificate")
    if purpose == "auth" and not is_auth_cert(cert):
        return ChainVerdict("wrong_usage", tuple(chain), "Not a valid authentication certificate")
    return ChainVerdict("ok", tuple(chain))


def _build_chain(cert: x509.Certificate, root: x509.Certificate, authorities: Sequence[x509.Certificate]
                 ) -> list[x509.Certificate] | ChainVerdict:
    """Leaf to root through our CAs, each link's signature checked; a verdict saying why when that fails."""
    chain = [cert]
    current = cert
    for _ in range(_MAX_DEPTH):
        if current == root:
            break
        if current.subject == current.issuer and current not in authorities:
            # Self-issued but not our root: another CA wearing one of our names, not a forgery of ours.
            return ChainVerdict("unknown_issuer", tuple(chain), f"foreign self-signed {current.subject.rfc4514_string()}")
        issuer = _find_issuer(current, authorities)
        if issuer is None:
            return ChainVerdict("unknown_issuer", tuple(chain), f"no sandbox CA issued {current.issuer.rfc4514_string()}")
        try:
            current.verify_directly_issued_by(issuer)
        except (InvalidSignature, ValueError, TypeError) as exc:
            return ChainVerdict("bad_signature", tuple(chain), f"{current.subject.rfc4514_string()}: {exc or type(exc).__name__}")
        chain.append(issuer)
        current = issuer
    else:
        return ChainVerdict("unknown_issuer", tuple(chain), "chain does not end at the sandbox root")
    return chain
