"""The TLS client certificate of a DMP request against its VIHF (dmp.md §0.4, §2.4, §2.6 item 5).

The DMP is mutual TLS: the LPS presents an authentication certificate, and which one depends on the VIHF's
``Authentification_mode``:

* ``DIRECTE``: the authentication certificate of the professional's card (CPS/CPx, AC FORT PERSONNES) [C:S4,
  S15], the card whose signature certificate signed the VIHF ("same card", §2.4). Both certificates of one card
  carry the same card serial number (IGC-Santé private extension); without it the subject CN (the holder's
  idNat) is compared. NameID against the card is left to ``VihfSettings.require_nameid_matches_card``: the
  official DIRECTE example does not match them (§2.3).
* ``INDIRECTE`` / ``INDIRECTE_RENFORCEE``: the structure's ORG AUTH_CLI certificate (AC ELEMENTAIRE
  ORGANISATIONS), whose OU (structure idNat) is ``Identifiant_Structure`` or, by the EJ/EG rule, a structure
  linked to it (``VihfSettings.structure_links``); else "Erreur d'authentification de la personne morale"
  [C:S1, S8, S15].

In every mode the certificate must chain to the sandbox CAs, be in date, not revoked and be an authentication
certificate (``pki.verify_chain(..., purpose="auth")``): the TLS layer checked the chain and dates, not
revocation.

That the DMP compares the mode with the TLS certificate at all is our inference (§2.6 item 5 is tagged [I]); so
the whole check can be switched off (``Settings.tls_vihf_check`` / ``SEGUR_SANDBOX_TLS_VIHF_CHECK``, or the
workspace setting ``tls_vihf_check``). It runs only when the request came with a client certificate (``serve
--tls``, the ASGI TLS extension): without one (plain HTTP, a proxy in front) there is nothing to compare.

Faults: the real DMP's codes for these cases are not published. A certificate problem answers
``DMPInvalidCertificate`` (the DMP's code for a bad VIHF signer) with the reason "Le certificat d'authentification
TLS est invalide : …"; a structure mismatch answers the published "Erreur d'authentification de la personne
morale" under ``DMPVIHFInvalid``, as the VIHF check does for its own certificate.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from cryptography import x509
from cryptography.x509.oid import NameOID

from ..dmp.faults import DmpFault
from ..pki import TestPKI, read_card_extensions
from .principal import Principal
from .vihf import ATTR_STRUCTURE, INVALID_CERTIFICATE, PERSONNE_MORALE, VIHF_INVALID, VihfSettings, _chain_detail

__all__ = ["check_tls_client", "invalid_tls_certificate"]


def invalid_tls_certificate(detail: str) -> DmpFault:
    return DmpFault(INVALID_CERTIFICATE, f"Le certificat d'authentification TLS est invalide : {detail}")


def check_tls_client(chain: Sequence[x509.Certificate], principal: Principal, *, pki: TestPKI, now: datetime,
                     settings: VihfSettings = VihfSettings()) -> None:
    """Raise a ``DmpFault`` when the TLS client certificate (``chain[0]``) does not fit the VIHF's mode."""
    if not chain:
        return
    cert = chain[0]
    verdict = pki.verify_chain(cert, now, purpose="auth")
    if not verdict.ok:
        raise invalid_tls_certificate(_chain_detail(verdict))
    issuer = verdict.chain[1] if len(verdict.chain) > 1 else None
    try:
        card = read_card_extensions(cert)
    except ValueError:
        raise invalid_tls_certificate("unreadable IGC-Santé card extensions") from None
    if principal.auth_mode == "DIRECTE":
        if issuer != pki.authority("fort-personnes").certificate or card.card_type is None:
            raise invalid_tls_certificate("le mode DIRECTE exige le certificat d'authentification de la carte CPx "
                                          f"du professionnel (AC FORT PERSONNES), reçu {cert.subject.rfc4514_string()}")
        if principal.signer is not None and not _same_card(cert, card.card_serial, principal.signer):
            raise invalid_tls_certificate("le certificat TLS et le certificat signataire du VIHF ne sont pas ceux "
                                          f"de la même carte ({_card_label(cert)} / {_card_label(principal.signer)})")
        if settings.require_nameid_matches_card and principal.name_id not in _common_names(cert):
            raise invalid_tls_certificate(f"NameID {principal.name_id!r} différent de l'identifiant de la carte du "
                                          f"certificat TLS {', '.join(_common_names(cert))}")
        return
    if issuer != pki.authority("elementaire-organisations").certificate:
        raise invalid_tls_certificate(f"le mode {principal.auth_mode} exige le certificat ORG AUTH_CLI de la "
                                      f"structure (AC ELEMENTAIRE ORGANISATIONS), reçu {cert.subject.rfc4514_string()}")
    units = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)]
    allowed = set(units)
    for unit in units:
        allowed |= set(settings.structure_links.get(unit, ()))
    if principal.structure_id not in allowed:
        raise DmpFault(VIHF_INVALID, f"{PERSONNE_MORALE} : {ATTR_STRUCTURE} {principal.structure_id} ne correspond "
                                     f"pas à la structure du certificat TLS ({', '.join(units) or 'OU absent'})")


def _common_names(cert: x509.Certificate) -> list[str]:
    return [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]


def _same_card(cert: x509.Certificate, serial: str | None, signer: x509.Certificate) -> bool:
    try:
        signer_serial = read_card_extensions(signer).card_serial
    except ValueError:
        signer_serial = None
    if serial and signer_serial:
        return serial == signer_serial
    return bool(_common_names(cert)) and _common_names(cert) == _common_names(signer)


def _card_label(cert: x509.Certificate) -> str:
    try:
        serial = read_card_extensions(cert).card_serial
    except ValueError:
        serial = None
    names = ", ".join(_common_names(cert)) or cert.subject.rfc4514_string()
    return f"carte {serial} de {names}" if serial else names
