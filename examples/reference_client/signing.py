"""Who signs, and the assertions they sign: the DMP's VIHF and INSi's "assertion PS".

The professional signs with their CPS card when the runner put one in a reader (``professional.card``), else
with the signature certificate and key exported as PEM files (``professional.credentials``): the VIHF is then in
DIRECTE mode, signed by the professional's own signature key. Both give a *signer* with ``certificate``,
``private_key`` and ``chain``, the shape the library's VIHF, assertion and XAdES builders take.

Assertions are issued at the current UTC time and valid a few minutes: the DMP refuses an assertion from the
future or too old (PRE_TPS), so the machine's clock must be right.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from lxml import etree

from segur_sandbox.simulator.insi.caller import build_assertion_ps
from segur_sandbox.simulator.security import PatientRef, build_vihf

from .breaks import Breaks
from .task import Task

VALIDITY = timedelta(minutes=5)


@dataclass(frozen=True)
class PemSigner:
    """The professional's signature certificate and key from the exported PEM files."""

    certificate: x509.Certificate
    private_key: Any
    chain: tuple[x509.Certificate, ...] = ()

    @classmethod
    def from_files(cls, credentials: dict[str, str]) -> PemSigner:
        certificate = x509.load_pem_x509_certificate(Path(credentials["sign_cert"]).read_bytes())
        key = load_pem_private_key(Path(credentials["sign_key"]).read_bytes(), password=None)
        chain: tuple[x509.Certificate, ...] = ()
        if credentials.get("ca_chain"):
            chain = tuple(x509.load_pem_x509_certificates(Path(credentials["ca_chain"]).read_bytes()))
        return cls(certificate, key, chain)


def open_signer(task: Task) -> Any:
    """The card's signer when a CPS is inserted, else the PEM files'."""
    card = task.professional.get("card")
    if card:
        from .cards import cps_signer

        return cps_signer(card.get("reader"), card.get("pin"))
    credentials = task.professional.get("credentials") or {}
    if not credentials.get("sign_cert") or not credentials.get("sign_key"):
        raise ValueError("the task gives neither a CPS card nor the signature certificate and key (credentials)")
    return PemSigner.from_files(credentials)


@dataclass
class Assertions:
    """Builds the signed assertions of one run: the same signer and clock for the DMP and INSi."""

    task: Task
    signer: Any
    breaks: Breaks

    def now(self) -> datetime:
        now = datetime.now(timezone.utc).replace(microsecond=0)
        if "stale-clock" in self.breaks:  # BREAK stale-clock: a workstation whose clock is two days late
            now -= timedelta(days=2)
        return now

    def vihf(self, ins: str) -> etree._Element:
        """The VIHF of a DMP request about the patient ``ins`` (resource-id), DIRECTE mode, normal access."""
        now = self.now()
        return build_vihf(signer=self.signer, professional=self.task.professional_record(),
                          structure=self.task.structure_record(), patient=PatientRef(ins, self.task.ins_oid),
                          now=now, mode="DIRECTE", purpose="normal", conditions=(now, now + VALIDITY))

    def insi_assertion(self) -> etree._Element:
        """INSi's "assertion PS" (CPx mode): who is asking, signed with the same key as the VIHF."""
        now = self.now()
        return build_assertion_ps(signer=self.signer, professional=self.task.professional_record(),
                                  structure=self.task.structure_record(), now=now,
                                  conditions=(now, now + VALIDITY))
