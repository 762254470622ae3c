"""INSi identities: the people the INSi replica knows, with their matricule INS, INS history and official traits.

One row per person (``identities``) keyed by the active matricule; earlier matricules in ``identity_history``.
The birth name is indexed through ``name_key`` (RNIV normalisation, then every separator dropped: the loosest
form any matching rule can equate), so a trait search is an index lookup on (workspace, name key, birth date,
sex) that returns the handful of candidates the INSi matching rules (``simulator.insi.matching``) then compare
finely. Nothing here decides what matches: the repository only finds candidates.

    with store.transaction() as tx:
        tx.identities.upsert_many("default", [Identity.from_record(record) for record in people])
    with store.transaction(readonly=True) as tx:
        candidates = tx.identities.find_by_traits("default", "Dupont", "1980-02-01", "M")
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

from sqlalchemy import Connection, Row, delete, exists, func, insert, select

from ...fixtures.traits import normalise_name
from . import models as m
from ._common import atomic, upsert

_NOT_LETTER = re.compile(r"[^A-Z]")
_BATCH = 5000


def name_key(text: str) -> str:
    """The index form of a name: RNIV normalisation (upper case, no diacritics, ligatures expanded), then only
    the letters A–Z (hyphens, apostrophes and spaces dropped). ``D'Almeida`` → ``DALMEIDA``."""
    return _NOT_LETTER.sub("", normalise_name(text or ""))


@dataclass(frozen=True)
class HistoricMatricule:
    """An earlier matricule of an identity (INSi ``INSHISTO``)."""

    nir: str
    key: str
    oid: str
    type: str | None = None  # NIR | NIA (INSi's TypeMatricule)
    date_start: str | None = None  # DateDeb
    date_end: str | None = None  # DateFin

    @property
    def ins(self) -> str:
        return self.nir + self.key


@dataclass(frozen=True)
class Identity:
    """A person as INSi knows them. ``first_names`` is the ordered list of birth first names (``ListePrenom``),
    ``birth_date`` is kept verbatim (INSi's ``DateLunaire``: ``YYYY-00-00`` is valid). ``insured_nir`` and
    ``birth_rank`` are what a Vitale card says of this beneficiary (the ouvrant droit and the rank among births
    of the same date); ``None`` when the person is on no card."""

    nir: str
    key: str
    oid: str
    birth_name: str
    first_names: tuple[str, ...]
    sex: str
    birth_date: str
    birth_place: str | None = None
    matricule_type: str = "NIR"
    history: tuple[HistoricMatricule, ...] = ()
    insured_nir: str | None = None
    birth_rank: int | None = None
    source: str = "api"
    ref: str | None = None

    @property
    def ins(self) -> str:
        """The 15-character matricule INS (number + key)."""
        return self.nir + self.key

    @property
    def first_name(self) -> str:
        return self.first_names[0] if self.first_names else ""

    @property
    def list_prenom(self) -> str:
        return " ".join(self.first_names)

    @classmethod
    def from_record(cls, record: Mapping[str, Any], *, source: str = "population") -> Identity:
        """An identity from a fixtures patient record (fixtures/people.py): active INS, history, traits and the
        Vitale card the patient is a beneficiary of."""
        ins = record["ins"]
        traits = record["traits"]
        vitale = record.get("vitale") or {}
        insured = (vitale.get("insured") or {}).get("nir")
        history = tuple(
            HistoricMatricule(nir=h["nir"], key=h["key"], oid=h["oid"], type=h.get("type"),
                              date_start=h.get("date_start"), date_end=h.get("date_end"))
            for h in record.get("ins_history") or ())
        first_names = tuple(traits.get("first_names") or ([traits["first_name"]] if traits.get("first_name") else []))
        return cls(
            nir=ins["nir"], key=ins["key"], oid=ins["oid"], matricule_type=ins.get("type") or "NIR",
            birth_name=traits["birth_name"], first_names=first_names, sex=traits["sex"],
            birth_date=traits["birth_date"], birth_place=traits.get("birth_place"), history=history,
            insured_nir=insured, birth_rank=vitale.get("beneficiary_rank") if insured else None,
            source=source, ref=record.get("id"))


def _check(identity: Identity) -> None:
    if len(identity.nir) != 13:
        raise ValueError(f"identity {identity.ref or identity.nir!r}: NIR {identity.nir!r} is not 13 characters")
    if len(identity.key) != 2:
        raise ValueError(f"identity {identity.nir}: key {identity.key!r} is not 2 characters")
    if not identity.birth_name or not identity.first_names:
        raise ValueError(f"identity {identity.nir}: birth name and at least one first name are required")
    for h in identity.history:
        if len(h.nir) != 13 or len(h.key) != 2:
            raise ValueError(f"identity {identity.nir}: historic matricule {h.nir!r}/{h.key!r} malformed")


def _row(workspace: str, i: Identity) -> dict[str, Any]:
    return {
        "workspace": workspace, "nir": i.nir, "nir_key": i.key, "oid": i.oid, "matricule_type": i.matricule_type,
        "birth_name": i.birth_name, "first_names": " ".join(i.first_names), "sex": i.sex,
        "birth_date": i.birth_date, "birth_place": i.birth_place, "birth_name_key": name_key(i.birth_name),
        "insured_nir": i.insured_nir, "birth_rank": i.birth_rank, "has_history": bool(i.history),
        "source": i.source, "ref": i.ref,
    }


def _history_rows(workspace: str, i: Identity) -> list[dict[str, Any]]:
    return [{"workspace": workspace, "identity_nir": i.nir, "position": n, "nir": h.nir, "nir_key": h.key,
             "oid": h.oid, "matricule_type": h.type, "date_start": h.date_start, "date_end": h.date_end}
            for n, h in enumerate(i.history)]


_I = m.identities
_H = m.identity_history
_UPDATE = [c.name for c in _I.c if c.name not in ("workspace", "nir")]


class IdentityRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    # -- writing ------------------------------------------------------------------------------------------
    def upsert(self, workspace: str, identity: Identity) -> Identity:
        self.upsert_many(workspace, [identity])
        found = self.get(workspace, identity.nir)
        assert found is not None
        return found

    def upsert_many(self, workspace: str, identities: Iterable[Identity], *, batch: int = _BATCH) -> int:
        """Insert or replace identities (their history is replaced too), in batches; returns how many."""
        total = 0
        iterator = iter(identities)
        while chunk := list(islice(iterator, batch)):
            for identity in chunk:
                _check(identity)
            latest = {i.nir: i for i in chunk}  # the last of duplicates wins
            rows = [_row(workspace, i) for i in latest.values()]
            history = [h for i in latest.values() for h in _history_rows(workspace, i)]
            with atomic(self._conn, workspace):
                upsert(self._conn, _I, rows, ["workspace", "nir"], _UPDATE)
                self._conn.execute(delete(_H).where(_H.c.workspace == workspace,
                                                    _H.c.identity_nir.in_(list(latest))))
                if history:
                    self._conn.execute(insert(_H), history)
            total += len(chunk)
        return total

    def insert_new(self, workspace: str, identities: Iterable[Identity], *, batch: int = _BATCH) -> int:
        """Bulk insert for a workspace known not to hold these matricules (the fast path to seed a large base:
        ``COPY`` on PostgreSQL, a multi-row executemany on SQLite). A matricule already present raises
        ``IntegrityError``."""
        total = 0
        iterator = iter(identities)
        write = self._copy if self._conn.dialect.name == "postgresql" else self._insert
        while chunk := list(islice(iterator, batch)):
            for identity in chunk:
                _check(identity)
            history = [h for i in chunk for h in _history_rows(workspace, i)]
            with atomic(self._conn, workspace):
                write(_I, [_row(workspace, i) for i in chunk])
                if history:
                    write(_H, history)
            total += len(chunk)
        return total

    def _insert(self, table: Any, rows: list[dict[str, Any]]) -> None:
        self._conn.execute(insert(table), rows)

    def _copy(self, table: Any, rows: list[dict[str, Any]]) -> None:
        columns = list(rows[0])
        quoted = ", ".join(f'"{c}"' for c in columns)
        statement = f"COPY {table.name} ({quoted}) FROM STDIN"
        with self._conn.connection.driver_connection.cursor() as cursor:  # type: ignore[union-attr]
            with cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row([row[c] for c in columns])

    def delete(self, workspace: str, nir: str) -> bool:
        with atomic(self._conn, workspace):
            self._conn.execute(delete(_H).where(_H.c.workspace == workspace, _H.c.identity_nir == nir))
            result = self._conn.execute(delete(_I).where(_I.c.workspace == workspace, _I.c.nir == nir))
        return bool(result.rowcount)

    def clear(self, workspace: str, *, source: str | None = None) -> int:
        """Delete the workspace's identities (only those of ``source`` when given); returns how many."""
        with atomic(self._conn, workspace):
            if source is None:
                self._conn.execute(delete(_H).where(_H.c.workspace == workspace))
                return int(self._conn.execute(delete(_I).where(_I.c.workspace == workspace)).rowcount)
            nirs = select(_I.c.nir).where(_I.c.workspace == workspace, _I.c.source == source)
            self._conn.execute(delete(_H).where(_H.c.workspace == workspace, _H.c.identity_nir.in_(nirs)))
            return int(self._conn.execute(delete(_I).where(_I.c.workspace == workspace, _I.c.source == source))
                       .rowcount)

    # -- reading ------------------------------------------------------------------------------------------
    def get(self, workspace: str, nir: str) -> Identity | None:
        """By the active 13-character number."""
        return next(iter(self._load(workspace, [_I.c.nir == nir])), None)

    def exists(self, workspace: str, nir: str) -> bool:
        return bool(self._conn.execute(select(exists().where(_I.c.workspace == workspace, _I.c.nir == nir)))
                    .scalar())

    def count(self, workspace: str, *, source: str | None = None) -> int:
        query = select(func.count()).select_from(_I).where(_I.c.workspace == workspace)
        if source is not None:
            query = query.where(_I.c.source == source)
        return int(self._conn.execute(query).scalar_one())

    def list(self, workspace: str, *, limit: int = 100, offset: int = 0,
             source: str | None = None) -> tuple[Identity, ...]:
        where = [_I.c.source == source] if source is not None else []
        return self._load(workspace, where, order=True, limit=limit, offset=offset)

    def find_by_traits(self, workspace: str, birth_name: str, birth_date: str, sex: str) -> tuple[Identity, ...]:
        """Candidates for a trait search: same birth name once reduced to its letters (``name_key``), same birth
        date (verbatim), same sex. One index lookup."""
        return self._load(workspace, [_I.c.birth_name_key == name_key(birth_name), _I.c.birth_date == birth_date,
                                      _I.c.sex == sex])

    def find_by_matricule(self, workspace: str, nir: str) -> tuple[Identity, ...]:
        """Identities whose active number is ``nir`` or who had it before (INSHISTO); the active match first."""
        found = list(self._load(workspace, [_I.c.nir == nir]))
        owners = select(_H.c.identity_nir).where(_H.c.workspace == workspace, _H.c.nir == nir)
        seen = {i.nir for i in found}
        found += [i for i in self._load(workspace, [_I.c.nir.in_(owners)]) if i.nir not in seen]
        return tuple(found)

    def find_by_insured(self, workspace: str, insured_nir: str, birth_date: str | None = None
                        ) -> tuple[Identity, ...]:
        """Beneficiaries of the Vitale cards of the insured ``insured_nir`` (ouvrant droit), optionally born on
        ``birth_date``."""
        where = [_I.c.insured_nir == insured_nir]
        if birth_date is not None:
            where.append(_I.c.birth_date == birth_date)
        return self._load(workspace, where, order=True)

    def history(self, workspace: str, nirs: Sequence[str]) -> dict[str, tuple[HistoricMatricule, ...]]:
        if not nirs:
            return {}
        rows = self._conn.execute(select(_H).where(_H.c.workspace == workspace, _H.c.identity_nir.in_(list(nirs)))
                                  .order_by(_H.c.identity_nir, _H.c.position))
        out: dict[str, list[HistoricMatricule]] = {}
        for r in rows:
            out.setdefault(r.identity_nir, []).append(HistoricMatricule(
                nir=r.nir, key=r.nir_key, oid=r.oid, type=r.matricule_type, date_start=r.date_start,
                date_end=r.date_end))
        return {k: tuple(v) for k, v in out.items()}

    def _load(self, workspace: str, where: list[Any], *, order: bool = False, limit: int | None = None,
              offset: int = 0) -> tuple[Identity, ...]:
        query = select(_I).where(_I.c.workspace == workspace, *where)
        if order:
            query = query.order_by(_I.c.nir)
        if limit is not None:
            query = query.limit(limit).offset(offset)
        rows = self._conn.execute(query).all()
        with_history = [r.nir for r in rows if r.has_history]
        history = self.history(workspace, with_history) if with_history else {}
        return tuple(_identity(r, history.get(r.nir, ())) for r in rows)


def _identity(row: Row[Any], history: tuple[HistoricMatricule, ...]) -> Identity:
    return Identity(
        nir=row.nir, key=row.nir_key, oid=row.oid, matricule_type=row.matricule_type, birth_name=row.birth_name,
        first_names=tuple(row.first_names.split()), sex=row.sex, birth_date=row.birth_date,
        birth_place=row.birth_place, history=history, insured_nir=row.insured_nir, birth_rank=row.birth_rank,
        source=row.source, ref=row.ref)
