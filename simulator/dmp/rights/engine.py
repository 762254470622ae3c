"""Deciding one action for one caller (and, when known, one document) from the rights matrix.

``decide(action, principal, is_mt=…, document=…)`` finds the caller's column (``profile.column_for``), reads the
cell of the action's row, and applies the cell's footnotes that are conditions on the document:

* (6) TD3.2 masked documents: only if the caller is an author (``principal.name_id`` in ``author_ids``).
* (7) TD3.2 masked documents in bris de glace / centre 15: only if the patient opened his masked documents to
  emergency access (``patient_allows_emergency_access_to_masked``); the author of the document keeps access
  (``RightsSettings.author_bypasses_emergency_mask``, default True: MASQUE_PS hides from PS *other than* the
  author).
* (8) TD3.3 own documents only: the caller is an author.
* (9) TD3.3 the structure's documents only: ``principal.structure_id`` in ``author_institution_ids``.
* (4) TD2.1 indirect / TD2.2 CPE "imputability to the structure": ``principal.structure_id`` in
  ``author_institution_ids`` (EX_2.1-1140), unless ``RightsSettings.enforce_imputability`` is False.
* ``*`` (rows TD3.3d archive/unarchive, TD3.3c delete) on a patient-authored document (classCode 90 / typeCode
  DOCPAT*): only the MT (``is_mt`` with column 8, 9, or 5 — the MT in régulation) may do it, and for him the rule
  replaces (8): a patient's document has no PS author. Every other profile is refused.

Footnotes (1), (2), (3), (5), (10), (11) are not conditions on a document: they travel in ``Decision.notes``
((1) is illegible in the source: the cell's Y is applied as printed). (2)/(3) restrict the *content* of a TD0.4
answer and (5) the *kind* of TD3.1 query: the handlers apply them.

Without a ``document`` the cell alone decides; the document conditions that could not be checked are listed in
``Decision.pending`` (e.g. ``("8",)``) and the handler calls ``decide`` again per document.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ...security.principal import Principal
from ..faults import DmpFault, access_denied
from .documents import DocumentFacts
from .matrix import RightsMatrix, load_matrix
from .profile import DEFAULT_SETTINGS, RightsSettings, column_for

MT_COLUMNS = frozenset({5, 8, 9})  # columns an MT can land in (5: MT in régulation)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    column: int
    cell: str  # the cell as printed: "Y", "n", "Y(8)"…
    footnotes: tuple[int, ...]  # of the cell, then of the row (TD0.0: 11)
    reason: str  # French, names the action and the profile; the refusal text of the SOAP fault
    action: str = ""
    profile: str = ""
    notes: tuple[str, ...] = ()  # footnotes that are information, not conditions
    pending: tuple[str, ...] = ()  # document conditions ("6", "7", "8", "9", "4", "*") left unchecked (no document)

    @property
    def conditional(self) -> bool:
        return bool(self.pending)


def _is_author(principal: Principal, doc: DocumentFacts, settings: RightsSettings) -> bool:
    return principal.name_id in doc.author_ids


def _is_structure_document(principal: Principal, doc: DocumentFacts, settings: RightsSettings) -> bool:
    return principal.structure_id in doc.author_institution_ids


def _emergency_masked(principal: Principal, doc: DocumentFacts, settings: RightsSettings) -> bool:
    if doc.patient_allows_emergency_access_to_masked:
        return True
    return settings.author_bypasses_emergency_mask and _is_author(principal, doc, settings)


def _imputable(principal: Principal, doc: DocumentFacts, settings: RightsSettings) -> bool:
    return not settings.enforce_imputability or _is_structure_document(principal, doc, settings)


CONDITIONS: dict[int, Callable[[Principal, DocumentFacts, RightsSettings], bool]] = {
    4: _imputable,
    6: _is_author,
    7: _emergency_masked,
    8: _is_author,
    9: _is_structure_document,
}


def _citation(matrix: RightsMatrix) -> str:
    return f"matrice des droits {matrix.citation}"


def decide(
    action: str,
    principal: Principal,
    *,
    is_mt: bool,
    document: DocumentFacts | None = None,
    settings: RightsSettings | None = None,
) -> Decision:
    """The verdict of the rights matrix on ``action`` (a row id, e.g. ``TD3.3c.delete``) for ``principal``."""
    settings = settings or DEFAULT_SETTINGS
    matrix = load_matrix()
    row = matrix.row(action)
    column = column_for(principal, is_mt=is_mt, settings=settings)
    cell = row.cell(column)
    profile = matrix.column(column).label
    footnotes = tuple(dict.fromkeys((*cell.footnotes, *row.row_footnotes)))
    what = f"Action {row.td} ({row.label_fr})"
    source = _citation(matrix)

    def verdict(allowed: bool, reason: str, notes=(), pending=()) -> Decision:
        return Decision(allowed, column, cell.text, footnotes, reason, action, profile, tuple(notes), tuple(pending))

    def refuse(condition: str | None = None, key: str | None = None) -> Decision:
        if condition is None:
            return verdict(False, f"{what} non autorisée pour le profil « {profile} » ({source})")
        note = f"note {key}" if key == "*" else f"note ({key})"
        return verdict(False, f"{what} non autorisée pour le profil « {profile} » : {condition} ({note} de la {source})")

    if not cell.allowed:
        return refuse()

    notes: list[str] = []
    pending: list[str] = []
    skip_author_rules = False
    if row.star:
        star = matrix.footnote("*")
        if document is None:
            pending.append("*")
        elif document.is_patient_authored:
            if not (is_mt and column in MT_COLUMNS):
                return refuse(star.fr, "*")
            notes.append(f"* {star.fr}")
            skip_author_rules = True  # the MT's right on the patient's documents replaces (8)/(9)

    for n in footnotes:
        fn = matrix.footnote(n)
        check = CONDITIONS.get(n)
        if check is None or (n in (8, 9) and skip_author_rules) or (n == 4 and not settings.enforce_imputability):
            notes.append(f"({n}) {fn.fr}")
        elif document is None:
            pending.append(str(n))
            notes.append(f"({n}) {fn.fr} — à vérifier document par document")
        elif not check(principal, document, settings):
            return refuse(fn.fr, str(n))
        else:
            notes.append(f"({n}) {fn.fr}")

    reason = f"{what} autorisée pour le profil « {profile} » ({source}, cellule {cell.text})"
    return verdict(True, reason, notes, pending)


def require(
    action: str,
    principal: Principal,
    *,
    is_mt: bool,
    document: DocumentFacts | None = None,
    settings: RightsSettings | None = None,
) -> Decision:
    """``decide``, raising ``DMPAccessDeniedByRightsService`` (with the decision's reason) when refused."""
    decision = decide(action, principal, is_mt=is_mt, document=document, settings=settings)
    if not decision.allowed:
        raise denied(decision)
    return decision


def denied(decision: Decision) -> DmpFault:
    """The SOAP fault for a refused decision."""
    return access_denied(decision.reason)
