"""The DMP's rights service: the PDT-INF-526 v1.8 matrix as data, the caller's profile, decisions, visibility.

* ``matrix.json`` / ``matrix.py`` — the table (27 rows × 12 columns, footnotes), source and version;
* ``profile.py`` — ``column_for(principal, is_mt=…)`` and ``RightsSettings`` (the open choices, documented there);
* ``documents.py`` — ``DocumentFacts``, what a decision needs to know about a stored document;
* ``engine.py`` — ``decide`` / ``require`` (footnotes applied as document conditions);
* ``visibility.py`` — ``visible_in_search`` (TD3.1) and ``can_retrieve`` (TD3.2).
"""
from .documents import (
    APPROVED, ARCHIVED, DELETED, DEPRECATED, INVISIBLE_PATIENT, INVISIBLE_REPRESENTANTS_LEGAUX, MASQUE_PS,
    STATUS_URNS, DocumentFacts, normalise_status,
)
from .engine import Decision, decide, denied, require
from .matrix import Cell, Column, Footnote, RightsMatrix, Row, load_matrix
from .profile import DEFAULT_SETTINGS, RightsSettings, column_for, is_indirect, is_occupational_physician
from .visibility import can_retrieve, require_retrieve, retrieve_rows, search_action, visible_in_search

__all__ = [
    "APPROVED", "ARCHIVED", "DELETED", "DEPRECATED", "INVISIBLE_PATIENT", "INVISIBLE_REPRESENTANTS_LEGAUX",
    "MASQUE_PS", "STATUS_URNS", "DocumentFacts", "normalise_status",
    "Decision", "decide", "denied", "require",
    "Cell", "Column", "Footnote", "RightsMatrix", "Row", "load_matrix",
    "DEFAULT_SETTINGS", "RightsSettings", "column_for", "is_indirect", "is_occupational_physician",
    "can_retrieve", "require_retrieve", "retrieve_rows", "search_action", "visible_in_search",
]
