"""Which stored documents a caller may see in a TD3.1 search (ITI-18) and retrieve in TD3.2 (ITI-43).

Search (``visible_in_search``), once the query itself is allowed (``require(search_action(query_id), …)``):

* status ``Deleted``: never returned, whatever the query asks;
* ``Archived`` / ``Deprecated``: returned only when the query asks for that status (``statuses``, the
  ``$XDSDocumentEntryStatus`` values); ``Approved`` likewise, and a query without a status list means Approved;
* ``MASQUE_PS``: hidden from PS other than the author — exactly the "TD3.2 Docs masqués aux PS" row for the
  profiles that may read documents (col 8, the MT, sees them; cols 1/4 the author only (6); emergency cols the
  patient's permission (7)). Profiles with no TD3.2 right at all (7 médecin du travail, 10 CPE, 11/12 indirect)
  see a masked document only when they are its author or, for 10–12, when it is their structure's document
  (they search by reference to delete it, footnotes (5)/(9)) [I];
* ``INVISIBLE_PATIENT`` / ``INVISIBLE_REPRESENTANTS_LEGAUX``: visible to every PS (they hide from the patient).

Retrieve (``can_retrieve``) is the matrix: every TD3.2 row that describes the document must allow it —
"Docs non masqués" or "Docs masqués" (with (6)/(7)), "Docs non visibles patient / RL", "Docs archivés",
"Docs obsolètes", "Docs supprimés" (the matrix says Y for the PS columns: a deleted document stays retrievable by
its uniqueId although no search returns it).
"""
from __future__ import annotations

from collections.abc import Iterable

from ...security.principal import Principal
from .documents import (
    APPROVED, ARCHIVED, DELETED, DEPRECATED, DocumentFacts, normalise_status,
)
from .engine import Decision, decide, denied
from .matrix import load_matrix
from .profile import DEFAULT_SETTINGS, RightsSettings, column_for

FIND_DOCUMENTS_BY_REFERENCE_ID = "urn:uuid:12941a89-e02e-4be5-967c-ce4bfc8fe492"
GET_DOCUMENTS = "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4"
# Stored queries that look a document up by its reference (TD3.1b) rather than search metadata (TD3.1a) [I].
REFERENCE_QUERIES = frozenset({FIND_DOCUMENTS_BY_REFERENCE_ID, GET_DOCUMENTS})

STATUS_ROWS = {DELETED: "TD3.2.deleted", DEPRECATED: "TD3.2.deprecated", ARCHIVED: "TD3.2.archived"}


def search_action(query_id: str) -> str:
    """``TD3.1.reference`` for GetDocuments / FindDocumentsByReferenceId, else ``TD3.1.metadata``."""
    return "TD3.1.reference" if query_id.strip().lower() in REFERENCE_QUERIES else "TD3.1.metadata"


def _masked_visible(
    principal: Principal, is_mt: bool, document: DocumentFacts, settings: RightsSettings
) -> bool:
    column = column_for(principal, is_mt=is_mt, settings=settings)
    if load_matrix().row("TD3.2.masked").cell(column).allowed:
        return decide("TD3.2.masked", principal, is_mt=is_mt, document=document, settings=settings).allowed
    if principal.name_id in document.author_ids:
        return True
    return column in (10, 11, 12) and principal.structure_id in document.author_institution_ids


def visible_in_search(
    principal: Principal,
    is_mt: bool,
    document: DocumentFacts,
    settings: RightsSettings | None = None,
    *,
    statuses: Iterable[str] | None = None,
) -> bool:
    """Whether ``document`` belongs in the caller's TD3.1 result for a query asking for ``statuses``."""
    settings = settings or DEFAULT_SETTINGS
    if document.status == DELETED:
        return False
    wanted = {APPROVED} if statuses is None else {normalise_status(s) for s in statuses}
    if document.status not in wanted:
        return False
    if document.is_masked and not _masked_visible(principal, is_mt, document, settings):
        return False
    return True


def retrieve_rows(document: DocumentFacts) -> tuple[str, ...]:
    """The TD3.2 rows that describe ``document``, most specific last."""
    rows = ["TD3.2.masked" if document.is_masked else "TD3.2.visible"]
    if document.is_invisible_to_patient:
        rows.append("TD3.2.invisible_patient")
    if document.status in STATUS_ROWS:
        rows.append(STATUS_ROWS[document.status])
    if document.is_masked:  # the masked row carries the conditions: report it
        rows.append(rows.pop(0))
    return tuple(rows)


def can_retrieve(
    principal: Principal,
    is_mt: bool,
    document: DocumentFacts,
    settings: RightsSettings | None = None,
) -> Decision:
    """The TD3.2 verdict on ``document``: the first refusing row, else the most specific allowing one."""
    decisions = [
        decide(row, principal, is_mt=is_mt, document=document, settings=settings) for row in retrieve_rows(document)
    ]
    for decision in decisions:
        if not decision.allowed:
            return decision
    last = decisions[-1]
    notes = tuple(dict.fromkeys(n for d in decisions for n in d.notes))
    return Decision(last.allowed, last.column, last.cell, last.footnotes, last.reason, last.action, last.profile,
                    notes, last.pending)


def require_retrieve(
    principal: Principal,
    is_mt: bool,
    document: DocumentFacts,
    settings: RightsSettings | None = None,
) -> Decision:
    """``can_retrieve``, raising ``DMPAccessDeniedByRightsService`` when refused."""
    decision = can_retrieve(principal, is_mt, document, settings)
    if not decision.allowed:
        raise denied(decision)
    return decision
