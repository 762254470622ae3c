"""INSi, the téléservice that gives a patient's INS: search by Vitale card, search by identity traits.

Requests are SOAP 1.2 with the ContexteLPS / ContexteBAM headers and the "assertion PS" (library builders). The
answer is a RESULTAT whose CodeCR says 00 (one identity), 01 (none) or 02 (several). Some platforms answer "none"
with a fault (insi_101 / insi_102) instead of 01: both mean "not found" to the user.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from lxml import etree

from segur_sandbox.simulator.insi.client import DEFAULT_IDAM, insi_envelope
from segur_sandbox.simulator.insi.constants import TRAITS, VITALE, Operation
from segur_sandbox.simulator.insi.messages import read_resultat, traits_request, vitale_request_for

from .signing import Assertions
from .transport import ServiceError, Transport

SOAP12 = "application/soap+xml; charset=UTF-8"
NOT_FOUND_FAULTS = {"insi_101", "insi_102"}
# Our CNDA authorisation number (ContexteLPS/LPS/IDAM); the sandbox accepts any unless a workspace lists some.
IDAM = os.environ.get("REFERENCE_CLIENT_IDAM", DEFAULT_IDAM)


@dataclass(frozen=True)
class InsiAnswer:
    code: str  # 00 | 01 | 02
    label: str
    identity: dict[str, Any] | None


@dataclass
class Insi:
    url: str
    transport: Transport
    assertions: Assertions

    def by_vitale(self, card: dict[str, Any], beneficiary: dict[str, Any]) -> InsiAnswer:
        """What the card says of the beneficiary: their own NIR when on the card, the insured's, birth date, rank."""
        body = vitale_request_for(card, beneficiary)
        return self._call(body, VITALE, card=card, beneficiary=beneficiary)

    def by_traits(self, family: str, given: str, sex: str, birth_date: str, birth_place: str | None) -> InsiAnswer:
        return self._call(traits_request(family, given, sex, birth_date, birth_place), TRAITS)

    def _call(self, body: etree._Element, operation: Operation, **context: Any) -> InsiAnswer:
        envelope = insi_envelope(body, operation, idam=IDAM, now=self.assertions.now(),
                                 assertion=self.assertions.insi_assertion(), **context)
        data = etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
        try:
            reply = self.transport.post("INSi", self.url, data, SOAP12)
        except ServiceError as error:
            if error.code in NOT_FOUND_FAULTS:
                return InsiAnswer("01", error.message, None)
            raise
        result = read_resultat(reply.body)
        return InsiAnswer(str(result["code"]), str(result.get("libelle") or ""), identity_of(result))


def identity_of(result: dict[str, Any]) -> dict[str, Any] | None:
    """The identity INSi returned (INS and its traits, TIQ) in the result JSON's shape."""
    if not result.get("ins"):
        return None
    tiq = result.get("tiq") or {}
    return {"ins": result["ins"], "ins_oid": result.get("oid"), "family": tiq.get("NomNaissance"),
            "given": tiq.get("ListePrenom") or tiq.get("Prenom"), "first_given": tiq.get("Prenom"),
            "birth_date": tiq.get("DateNaissance"), "sex": tiq.get("Sexe"), "birth_place": tiq.get("LieuNaissance")}
