"""The DMP's operation catalogue: (service, wsa:Action or body root) → transaction, request and response actions.

Facts: spec ``dmp.md`` §0.1 (services, WSDL operations) and §1.1 (catalogue). Alternatives accepted as the spec
asks: TD0.2/TD1.3a ``urn:hl7-org:v3:PRPA_IN201307UV02`` (WSDL) and ``…PRPA_IN201308UV02`` (sent by the official
kit); Habilitations ``urn:si-dmp-habilitations:HabilitationsEndPoint:<op>`` (examples) and
``urn:hl7-org:v3:<op>`` (WSDL soapAction, sent by the kit's generated client).

Two operations carry two transactions each, told apart by ``controlActProcess/reasonCode``: PRPA_IN201307UV02 is
TD0.2 (``TEST_EXST``) or TD1.3a (``CNSLT_DATA``); PRPA_IN201314UV02 is TD1.3b (``MODIF_DATA``) or TD1.4
(``FERM``, and the réactivation ``REAC``). An unknown or missing reasonCode there is a fault
(``SandboxUnknownReasonCode``). TD2.2 (feeding by a secretary) is the same ITI-41 operation as TD2.1: the
catalogue names it TD2.1, the caller's profile tells them apart.

Choices: the response action does not depend on which alternative request action was used (the examples' form
is always answered); an empty action (the patientList WSDL declares ``soapAction=""``) counts as absent, so the
body root decides; an action known for the service but a body root of another operation of it is refused
(``SandboxActionBodyMismatch``) rather than silently rerouted.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lxml import etree

from ...soap import namespaces as ns
from .common import (ACTION_BODY_MISMATCH, UNKNOWN_ACTION, UNKNOWN_OPERATION, UNKNOWN_SERVICE, bad_request)
from .patients import GET_REASONS, REVISE_REASONS, TRANSACTION_BY_REASON, reason_code_of

HL7_ACTION = "urn:hl7-org:v3:"
HAB_ACTION = "urn:si-dmp-habilitations:HabilitationsEndPoint:"
PAT_ACTION = "urn:si-dmp-patients:PatientSpecificEndPoint:"

SERVICE_PATH_PREFIX = "/si-dmp-server/v2/services/"


@dataclass(frozen=True)
class Operation:
    """What a request is: its transaction id, the action it came with (or the canonical one), the answer's action."""

    transaction: str
    request_action: str
    response_action: str


@dataclass(frozen=True)
class CatalogueEntry:
    service: str
    transactions: tuple[str, ...]  # the first is the default; more when the reasonCode tells them apart
    actions: tuple[str, ...]  # accepted wsa:Action values, the canonical (examples') one first
    body_root: str  # Clark notation of the body's root element
    response_action: str
    discriminator: Callable[[etree._Element], str] | None = None

    @property
    def canonical_action(self) -> str:
        return self.actions[0]


def _by_reason(allowed: dict[str, str]) -> Callable[[etree._Element], str]:
    def discriminate(body: etree._Element) -> str:
        return TRANSACTION_BY_REASON[reason_code_of(body, allowed)]
    return discriminate


def _q(namespace: str, local: str) -> str:
    return f"{{{namespace}}}{local}"


CATALOGUE: tuple[CatalogueEntry, ...] = (
    CatalogueEntry("patients", ("TD0.2", "TD1.3a"),
                   (f"{HL7_ACTION}PRPA_IN201307UV02", f"{HL7_ACTION}PRPA_IN201308UV02"),
                   _q(ns.HL7V3, "PRPA_IN201307UV02"), f"{HL7_ACTION}PRPA_IN201308UV02", _by_reason(GET_REASONS)),
    CatalogueEntry("patients", ("TD1.3b", "TD1.4"), (f"{HL7_ACTION}PRPA_IN201314UV02",),
                   _q(ns.HL7V3, "PRPA_IN201314UV02"), f"{HL7_ACTION}PRPA_IN201314ResponseUV02",
                   _by_reason(REVISE_REASONS)),
    CatalogueEntry("patientsPDQ", ("TD0.5",), (f"{HL7_ACTION}PRPA_IN201305UV02",),
                   _q(ns.HL7V3, "PRPA_IN201305UV02"), f"{HL7_ACTION}PRPA_IN201306UV02"),
    CatalogueEntry("habilitations", ("TD0.3",), (f"{HAB_ACTION}setAuthorization", f"{HL7_ACTION}setAuthorization"),
                   _q(ns.DMP_HABILITATIONS, "setAuthorization"), f"{HAB_ACTION}setAuthorizationResponse"),
    CatalogueEntry("habilitations", ("TD1.6",),
                   (f"{HAB_ACTION}listAuthorizationByPatient", f"{HL7_ACTION}listAuthorizationByPatient"),
                   _q(ns.DMP_HABILITATIONS, "listAuthorizationByPatient"),
                   f"{HAB_ACTION}listAuthorizationByPatientResponse"),
    CatalogueEntry("patientsSpecific", ("TD0.4",), (f"{PAT_ACTION}patientList",),
                   _q(ns.DMP_PATIENTS, "patientList"), f"{PAT_ACTION}patientListResponse"),
    CatalogueEntry("registry", ("TD3.1",), ("urn:ihe:iti:2007:RegistryStoredQuery",),
                   _q(ns.QUERY, "AdhocQueryRequest"), "urn:ihe:iti:2007:RegistryStoredQueryResponse"),
    CatalogueEntry("registry", ("TD3.3",), ("urn:ihe:iti:2010:UpdateDocumentSet",),
                   _q(ns.LCM, "SubmitObjectsRequest"), "urn:ihe:iti:2010:UpdateDocumentSet-Response"),
    CatalogueEntry("repository", ("TD2.1",), ("urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b",),
                   _q(ns.XDS_B, "ProvideAndRegisterDocumentSetRequest"),
                   "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-bResponse"),
    CatalogueEntry("repository", ("TD3.2",), ("urn:ihe:iti:2007:RetrieveDocumentSet",),
                   _q(ns.XDS_B, "RetrieveDocumentSetRequest"), "urn:ihe:iti:2007:RetrieveDocumentSetResponse"),
)

SERVICES: tuple[str, ...] = tuple(dict.fromkeys(entry.service for entry in CATALOGUE))


def service_name(service: str) -> str:
    """``patients`` from ``patients``, ``/si-dmp-server/v2/services/patients`` or a full URL; else a fault."""
    name = (service or "").split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    if name not in SERVICES:
        raise bad_request(UNKNOWN_SERVICE, f"Service inconnu : {service!r} (services du DMP : "
                                           f"{', '.join(SERVICES)})")
    return name


def entries_for(service: str) -> tuple[CatalogueEntry, ...]:
    name = service_name(service)
    return tuple(entry for entry in CATALOGUE if entry.service == name)


def entry_for_transaction(transaction: str) -> CatalogueEntry:
    for entry in CATALOGUE:
        if transaction in entry.transactions:
            return entry
    raise KeyError(transaction)


def response_action(transaction: str) -> str:
    return entry_for_transaction(transaction).response_action


def _normalise_action(action: str | None) -> str | None:
    if action is None:
        return None
    action = action.strip().strip('"').strip()
    return action or None


def _clark(element: etree._Element) -> str:
    name = etree.QName(element)
    return f"{{{name.namespace}}}{name.localname}" if name.namespace else name.localname


def identify(service: str, action: str | None, body_element: etree._Element | None) -> Operation:
    """Name the operation of a request to ``service`` from its wsa:Action, else from its body root.

    Raises ``DmpFault`` (sandbox codes, see ``common``) for an unknown service, an action unknown to this service,
    an action contradicted by the body, a missing action with an unknown body root, or (PRPA_IN201307UV02 /
    PRPA_IN201314UV02) a reasonCode that names no transaction. Without a body, a shared operation is named by its
    first transaction (TD0.2, TD1.3b).
    """
    name = service_name(service)
    entries = entries_for(name)
    sent = _normalise_action(action)
    if sent is not None:
        entry = next((e for e in entries if sent in e.actions), None)
        if entry is None:
            elsewhere = [e.service for e in CATALOGUE if sent in e.actions]
            hint = f" ; cette action relève du service {elsewhere[0]}" if elsewhere else ""
            accepted = ", ".join(a for e in entries for a in e.actions)
            raise bad_request(UNKNOWN_ACTION, f"Action inconnue pour le service {name} : {sent!r}{hint} "
                                              f"(actions acceptées : {accepted})")
        if body_element is not None and _clark(body_element) != entry.body_root:
            raise bad_request(ACTION_BODY_MISMATCH,
                              f"L'action {sent!r} attend un corps {entry.body_root}, la requête contient "
                              f"{_clark(body_element)}")
        request_action = sent
    else:
        if body_element is None:
            raise bad_request(UNKNOWN_OPERATION, f"Requête au service {name} sans action (wsa:Action) ni corps")
        root = _clark(body_element)
        entry = next((e for e in entries if e.body_root == root), None)
        if entry is None:
            raise bad_request(UNKNOWN_OPERATION, f"Requête au service {name} sans action (wsa:Action) et dont le "
                                                 f"corps {root} ne correspond à aucune opération du service")
        request_action = entry.canonical_action
    transaction = entry.transactions[0]
    if entry.discriminator is not None and body_element is not None:
        transaction = entry.discriminator(body_element)
    return Operation(transaction=transaction, request_action=request_action, response_action=entry.response_action)


__all__ = ["CATALOGUE", "SERVICES", "SERVICE_PATH_PREFIX", "CatalogueEntry", "Operation", "entries_for",
           "entry_for_transaction", "identify", "response_action", "service_name"]
