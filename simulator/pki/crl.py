"""Certificate revocation lists of the sandbox CAs.

Dates are fixed from the PKI epoch so a CRL is a pure function of (CA, revoked serials): the same set of
revoked certificates always gives the same bytes. nextUpdate is the CA's own expiry, so the CRL never goes
stale while its CA is valid -- but a client that caches CRLs until nextUpdate will not notice revocations
issued after it fetched one. The sandbox issues revoked variants up front (``credentials export``).
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from . import derive
from .profiles import Authority


def revocation_time(not_before: datetime) -> datetime:
    """When every revoked sandbox certificate was revoked: one day into its validity."""
    return not_before + derive.ONE_DAY


def build_crl(authority: Authority, revoked_serials: Iterable[int], not_before: datetime) -> x509.CertificateRevocationList:
    serials = sorted(set(revoked_serials))
    when = revocation_time(not_before)
    ski = authority.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(authority.certificate.subject)
        .last_update(when)
        .next_update(authority.certificate.not_valid_after_utc)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        # Revocations only accumulate, so the count is a monotonic CRL number.
        .add_extension(x509.CRLNumber(len(serials) + 1), critical=False)
    )
    for serial in serials:
        entry = (
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(when)
            .add_extension(x509.CRLReason(x509.ReasonFlags.key_compromise), critical=False)
            .build()
        )
        builder = builder.add_revoked_certificate(entry)
    return builder.sign(authority.private_key, hashes.SHA256())
