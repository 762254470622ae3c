"""The DMP's own SOAP faults: a Subcode naming the DMP code and a French reason, HTTP 500.

Real frames show the DMP code as the SOAP 1.2 Subcode value (``DMPInvalidCertificate``,
``DMPAccessDeniedByRightsService``…); the namespace of that QName is not published, so the sandbox puts the
codes in its own namespace ``urn:segur-sandbox:dmp`` with the prefix ``dmp`` (a client compares the local name).
"""
from __future__ import annotations

from lxml import etree

from ..soap import SoapFault

DMP_FAULT_NS = "urn:segur-sandbox:dmp"


class DmpFault(SoapFault):
    """A DMP business or security fault. ``code`` is the DMP code (subcode), ``reason`` French text."""

    def __init__(self, code: str, reason: str, *, sender: bool = True) -> None:
        super().__init__("Sender" if sender else "Receiver", etree.QName(DMP_FAULT_NS, code), reason, lang="fr")
        self.dmp_code = code


def invalid_certificate(detail: str) -> DmpFault:
    return DmpFault("DMPInvalidCertificate", f"Le certificat ayant signé le VIHF est invalide : {detail}")


def access_denied(detail: str) -> DmpFault:
    return DmpFault("DMPAccessDeniedByRightsService", detail)
