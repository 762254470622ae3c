"""INSi faults (insi-cards.md §A.6): SOAP 1.2, HTTP 500, the shape the CNAM service answers.

    <soap:Fault>
      <soap:Code><soap:Value>soap:Sender</soap:Value>
        <soap:Subcode><soap:Value>soap:siram_100</soap:Value></soap:Subcode></soap:Code>
      <soap:Reason><soap:Text xml:lang="fr">L'accès par ce progiciel …</soap:Text></soap:Reason>
      <soap:Detail><siram:Erreur code="desir_550" severite="erreur" messageID="uuid:…">Numéro
        d'autorisation du logiciel inconnu.</siram:Erreur></soap:Detail>
    </soap:Fault>

The subcode is a QName in the SOAP envelope namespace (the real frames write ``soap:siram_100`` /
``S:siram_40``). ``CATALOGUE`` holds every fault the sandbox emits: the ones seen in real frames are marked
``confirmed``; the others (request or context errors whose real codes are not published) are the sandbox's
choice, documented as such and keyed by a stable name so a client can rely on them in the sandbox.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from lxml import etree

from ..soap import SoapFault
from ..soap import namespaces as soap_ns
from .constants import SIRAM

Severite = Literal["information", "avertissement", "erreur", "fatale", "fatal"]

UNAVAILABLE_REASON = ("Le service est temporairement inaccessible. Veuillez renouveler votre demande "
                      "ultérieurement. Si le problème persiste, contactez l'éditeur du progiciel ou votre "
                      "responsable informatique.")
NOT_ALLOWED_REASON = ("L'accès par ce progiciel au service n'est pas autorisé. Contactez l'éditeur du progiciel ou "
                      "votre responsable informatique.")
INVALID_REQUEST_REASON = ("La requête transmise au service est invalide. Contactez l'éditeur du progiciel ou votre "
                          "responsable informatique.")


@dataclass(frozen=True)
class FaultSpec:
    code: Literal["Sender", "Receiver"]
    subcode: str  # siram_NNN, a QName in the SOAP 1.2 namespace
    error: str  # siram:Erreur/@code
    reason: str  # Reason/Text
    message: str  # siram:Erreur text
    severite: Severite = "erreur"
    lang: str = "fr"
    confirmed: bool = False


CATALOGUE: dict[str, FaultSpec] = {
    # [C] padoa fixture siram_100-desir_500-fake-idam: unknown LPS authorisation number (IDAM).
    "desir_550": FaultSpec("Sender", "siram_100", "desir_550", NOT_ALLOWED_REASON,
                           "Numéro d'autorisation du logiciel inconnu.", "erreur", "fr", True),
    # [C] captured answer of the qualification platform (traits search; Reason in French though lang="en").
    "insi_102": FaultSpec("Receiver", "siram_40", "insi_102", UNAVAILABLE_REASON,
                          "L'appel au service de recherche avec les traits d'identité renvoie une erreur technique.",
                          "fatal", "en", True),
    # [T] same as insi_102 for the Vitale operation (devbox-santé); the message wording is inferred.
    "insi_101": FaultSpec("Receiver", "siram_40", "insi_101", UNAVAILABLE_REASON,
                          "L'appel au service de recherche avec la carte Vitale renvoie une erreur technique.",
                          "fatal", "en", False),
    # [T] padoa README: client certificate CN other than INSI-AUTO / INSI-MANU. Subcode and texts inferred.
    "DESIR_560": FaultSpec("Sender", "siram_100", "DESIR_560", NOT_ALLOWED_REASON,
                           "Niveau d'accès insuffisant pour ce service.", "erreur", "fr", False),
    # [I] the sandbox's codes for what the spec does not publish.
    "context": FaultSpec("Sender", "siram_10", "desir_500", INVALID_REQUEST_REASON,
                         "Contexte d'appel invalide.", "erreur", "fr"),
    "caller": FaultSpec("Sender", "siram_100", "desir_520", NOT_ALLOWED_REASON,
                        "Authentification de l'appelant refusée.", "erreur", "fr"),
    "request": FaultSpec("Sender", "siram_10", "insi_100", INVALID_REQUEST_REASON,
                         "Requête non conforme.", "erreur", "fr"),
    "operation": FaultSpec("Sender", "siram_10", "desir_510", INVALID_REQUEST_REASON,
                           "Opération inconnue du service.", "erreur", "fr"),
    "workspace": FaultSpec("Sender", "siram_10", "sandbox_404", INVALID_REQUEST_REASON,
                           "Espace de travail inconnu du bac à sable.", "erreur", "fr"),
    "settings": FaultSpec("Receiver", "siram_40", "sandbox_400", UNAVAILABLE_REASON,
                          "Réglage invalide de l'espace de travail.", "fatal", "fr"),
    "internal": FaultSpec("Receiver", "siram_40", "sandbox_500", UNAVAILABLE_REASON,
                          "Erreur interne du bac à sable ; la trace est dans le journal du serveur.", "fatal", "fr"),
}


class InsiFault(SoapFault):
    """A fault of the INSi service: ``spec`` gives the codes and texts, ``detail_text`` replaces the
    siram:Erreur text (the specific reason), ``message_id`` echoes the request's wsa:MessageID."""

    def __init__(self, spec: FaultSpec | str, detail_text: str | None = None, *, message_id: str | None = None,
                 reason: str | None = None) -> None:
        self.spec = CATALOGUE[spec] if isinstance(spec, str) else spec
        self.detail_text = detail_text or self.spec.message
        self.message_id = message_id
        super().__init__(self.spec.code, etree.QName(soap_ns.SOAP12, self.spec.subcode), reason or self.spec.reason,
                         lang=self.spec.lang, detail=[self._erreur()])

    @property
    def error_code(self) -> str:
        return self.spec.error

    def with_message_id(self, message_id: str | None) -> InsiFault:
        if message_id is None or message_id == self.message_id:
            return self
        return InsiFault(self.spec, self.detail_text, message_id=message_id, reason=self.reason)

    def _erreur(self) -> etree._Element:
        erreur = etree.Element(f"{{{SIRAM}}}Erreur", nsmap={"siram": SIRAM})
        erreur.set("code", self.spec.error)
        erreur.set("severite", self.spec.severite)
        if self.message_id:
            erreur.set("messageID", self.message_id)
        erreur.text = self.detail_text
        return erreur

    def __repr__(self) -> str:
        return f"InsiFault({self.spec.subcode}/{self.spec.error}: {self.detail_text!r})"


def custom_spec(params: dict[str, object]) -> FaultSpec:
    """A fault from injection parameters: ``code`` names a catalogue entry (``insi_102``, ``desir_550``…) or a
    free siram:Erreur code; ``reason``, ``message``, ``subcode``, ``sender``, ``severite`` override."""
    code = str(params.get("code"))
    base = CATALOGUE.get(code) or FaultSpec("Receiver", "siram_40", code, UNAVAILABLE_REASON,
                                            "Erreur injectée par le bac à sable.", "fatal", "fr")
    changes: dict[str, object] = {}
    if "sender" in params:
        changes["code"] = "Sender" if params["sender"] else "Receiver"
    for name in ("reason", "message", "subcode", "severite", "lang"):
        if isinstance(params.get(name), str):
            changes[name] = params[name]
    return replace(base, **changes)  # type: ignore[arg-type]


def error_code_of(fault: SoapFault) -> str | None:
    """The siram:Erreur code of any fault (an InsiFault or one read back from the wire)."""
    if isinstance(fault, InsiFault):
        return fault.error_code
    for item in fault.detail:
        if item.tag == f"{{{SIRAM}}}Erreur":
            return item.get("code")
    return None
