"""The DMP rights matrix (PDT-INF-526 v1.8, 25/09/2024) as data, loaded once from ``matrix.json``.

``matrix.json`` transcribes every row and every cell of the published table (spec ``dmp.md`` §1.12): one row per
action with a stable id (``TD0.3.add``, ``TD3.2.masked``, ``TD3.3c.delete``…), the row label as printed, and twelve
cells written exactly as in the source: ``Y``, ``n`` or ``Y(k)`` where ``k`` is a footnote number. A row whose
label ends with `` *`` carries the "patient-authored documents" rule; a row label ending with ``(k)`` carries a
row-level footnote (only TD0.0, note (11)). This module parses those strings; it holds no rule of its own.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

_CELL = re.compile(r"^(Y|n)((?:\(\d+\))*)$")
_FOOTNOTE = re.compile(r"\((\d+)\)")


@dataclass(frozen=True)
class Cell:
    """One cell as printed (``Y``, ``n``, ``Y(8)``…) and what it says."""

    text: str
    allowed: bool
    footnotes: tuple[int, ...]

    @classmethod
    def parse(cls, text: str) -> Cell:
        match = _CELL.match(text)
        if match is None:
            raise ValueError(f"cellule de la matrice des droits illisible : {text!r}")
        return cls(text, match.group(1) == "Y", tuple(int(n) for n in _FOOTNOTE.findall(match.group(2))))


@dataclass(frozen=True)
class Column:
    number: int  # 1–12
    auth: str  # as printed: "direct CPS/CPF", "direct CPE", "indirect (certificat ES)"
    actor: str
    access_mode: str
    label: str  # the French profile name used in refusal reasons


@dataclass(frozen=True)
class Row:
    id: str  # stable action id, e.g. "TD3.2.masked"
    td: str  # the transaction code as printed, e.g. "TD3.2"
    label: str  # the row label as printed in the source table
    label_fr: str  # the action in words, for reasons ("documents masqués aux PS")
    row_footnotes: tuple[int, ...]
    star: bool  # "*": on a patient-authored document, only the MT may do it
    cells: tuple[Cell, ...]  # index 0 = column 1

    def cell(self, column: int) -> Cell:
        if not 1 <= column <= len(self.cells):
            raise ValueError(f"colonne de la matrice des droits hors limites : {column}")
        return self.cells[column - 1]


@dataclass(frozen=True)
class Footnote:
    key: str  # "1"…"11" or "*"
    text: str  # the spec's wording
    fr: str  # the French wording used in reasons


@dataclass(frozen=True)
class RightsMatrix:
    source: str
    version: str
    date: str
    citation: str  # "PDT-INF-526 v1.8, 25/09/2024"
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    footnotes: dict[str, Footnote]

    def row(self, action: str) -> Row:
        for row in self.rows:
            if row.id == action:
                return row
        raise KeyError(f"action inconnue de la matrice des droits : {action!r}")

    def column(self, number: int) -> Column:
        if not 1 <= number <= len(self.columns):
            raise ValueError(f"colonne de la matrice des droits hors limites : {number}")
        return self.columns[number - 1]

    def footnote(self, key: int | str) -> Footnote:
        return self.footnotes[str(key)]

    @property
    def actions(self) -> tuple[str, ...]:
        return tuple(row.id for row in self.rows)


def parse_matrix(data: dict) -> RightsMatrix:
    columns = tuple(
        Column(c["col"], c["auth"], c["actor"], c["access_mode"], c["label"]) for c in data["columns"]
    )
    if [c.number for c in columns] != list(range(1, 13)):
        raise ValueError("la matrice des droits doit avoir les colonnes 1 à 12 dans l'ordre")
    rows = []
    for r in data["rows"]:
        cells = tuple(Cell.parse(text) for text in r["cells"])
        if len(cells) != len(columns):
            raise ValueError(f"ligne {r['id']} : {len(cells)} cellules au lieu de {len(columns)}")
        rows.append(Row(r["id"], r["td"], r["label"], r["label_fr"], tuple(r["row_footnotes"]), r["star"], cells))
    ids = [row.id for row in rows]
    if len(set(ids)) != len(ids):
        raise ValueError("identifiants d'action en double dans la matrice des droits")
    footnotes = {k: Footnote(k, v["text"], v["fr"]) for k, v in data["footnotes"].items()}
    for row in rows:
        for n in (*row.row_footnotes, *(n for cell in row.cells for n in cell.footnotes)):
            if str(n) not in footnotes:
                raise ValueError(f"ligne {row.id} : note ({n}) absente de la liste des notes")
    return RightsMatrix(
        data["source"], data["version"], data["date"], data["citation"], columns, tuple(rows), footnotes
    )


@cache
def load_matrix() -> RightsMatrix:
    """The packaged matrix (``matrix.json``), parsed once."""
    text = resources.files(__package__).joinpath("matrix.json").read_text(encoding="utf-8")
    return parse_matrix(json.loads(text))
