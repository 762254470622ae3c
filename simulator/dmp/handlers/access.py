"""Checks shared by every handler that touches a patient's DMP: the DMP exists and is open, the caller is
authorised on it (or in an emergency access mode the patient did not oppose), and the rights matrix allows the
action. One place, so every transaction refuses for the same reasons with the same words.
"""
from __future__ import annotations

from dataclasses import dataclass

from ...store import Authorization, Patient
from ..faults import DmpFault, access_denied
from ..rights import Decision, DocumentFacts, require
from ..service import Call

EMERGENCY = ("bris_de_glace", "centre_15")


@dataclass(frozen=True)
class DmpAccess:
    patient: Patient
    authorization: str  # VALIDE | EXPIRE | INTERDIT | NON_EXISTE
    is_mt: bool


def patient_dmp(call: Call, ins: str, *, allow_closed: bool = False) -> Patient:
    return _existing(call.tx.patients.get(call.workspace, ins), ins, allow_closed)


def _existing(patient: Patient | None, ins: str, allow_closed: bool) -> Patient:
    """The patient whose DMP exists (and is open, unless ``allow_closed``), or the DMP's fault."""
    if patient is None or patient.dmp_state == "NONE":
        raise DmpFault("SandboxDmpNotFound", f"Le DMP du patient {ins} n'existe pas")
    if patient.dmp_state == "CLOSED" and not allow_closed:
        raise DmpFault("DMPClosed", f"Le DMP du patient {ins} est fermé")
    return patient


def caller_authorization(call: Call, ins: str) -> tuple[str, Authorization | None]:
    row = call.tx.authorizations.get(call.workspace, ins, call.principal.name_id)
    return _status(call, row), row


def _status(call: Call, row: Authorization | None) -> str:
    # the row's status at the workspace clock (what AuthorizationRepository.status computes), without a second read
    return "NON_EXISTE" if row is None else row.status_at(call.now)


def open_dmp(call: Call, ins: str, action: str, *, allow_closed: bool = False) -> DmpAccess:
    """The DMP of ``ins`` for an action on its content: authorised caller, or emergency access, then the matrix."""
    found, row = call.patient_and_authorization(ins)
    patient = _existing(found, ins, allow_closed)
    status = _status(call, row)
    is_mt = bool(row and row.is_mt and status == "VALIDE")
    purpose = call.principal.purpose
    if status == "INTERDIT":
        raise access_denied("Accès refusé : le patient a bloqué l'accès de ce professionnel à son DMP")
    if status != "VALIDE":
        if purpose not in EMERGENCY:
            raise access_denied(f"Accès refusé : le professionnel n'est pas autorisé sur ce DMP (autorisation {status})")
        if purpose == "bris_de_glace" and patient.opposition_bris_de_glace:
            raise access_denied("Accès refusé : le patient s'est opposé à l'accès en mode bris de glace")
        if purpose == "centre_15" and patient.opposition_acces_urgence:
            raise access_denied("Accès refusé : le patient s'est opposé à l'accès par le centre de régulation")
    require(action, call.principal, is_mt=is_mt)
    return DmpAccess(patient=patient, authorization=status, is_mt=is_mt)


def allowed_on(call: Call, access: DmpAccess, action: str, document: DocumentFacts) -> Decision:
    """The matrix decision for one document (footnotes on authorship and structure); raises when refused."""
    return require(action, call.principal, is_mt=access.is_mt, document=document)
