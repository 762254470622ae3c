"""One handler per DMP transaction, keyed by the transaction id the action catalogue gives."""
from __future__ import annotations

from ..service import Handler
from . import habilitations, patients

HANDLERS: dict[str, Handler] = {
    "TD0.2": patients.get_demographics,
    "TD1.3a": patients.get_demographics,
    "TD1.3b": patients.revise,
    "TD1.4": patients.revise,
    "TD0.5": patients.pdq,
    "TD0.3": habilitations.set_authorization,
    "TD1.6": habilitations.list_authorizations,
    "TD0.4": habilitations.patient_list,
}
