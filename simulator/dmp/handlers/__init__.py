"""One handler per DMP transaction, keyed by the transaction id the action catalogue gives."""
from __future__ import annotations

from ..service import Handler, Preparer
from . import habilitations, patients, registry, repository

HANDLERS: dict[str, Handler] = {
    "TD0.2": patients.get_demographics,
    "TD1.3a": patients.get_demographics,
    "TD1.3b": patients.revise,
    "TD1.4": patients.revise,
    "TD0.5": patients.pdq,
    "TD0.3": habilitations.set_authorization,
    "TD1.6": habilitations.list_authorizations,
    "TD0.4": habilitations.patient_list,
    "TD2.1": repository.provide_and_register,  # also TD2.2 (a CPE feeding): same operation, told by the caller
    "TD3.2": repository.retrieve,
    "TD3.1": registry.find,
    "TD3.3": registry.update_document_set,  # TD3.3a–d: one ITI-57 operation, told apart per document
}

# The database-free part of a transaction, run before its unit of work (service.Preparer).
PREPARERS: dict[str, Preparer] = {
    "TD2.1": repository.prepare_feed,
}
