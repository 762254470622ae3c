"""The directory of health professionals and structures (fixtures records, fixtures/professionals.py)."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, Table, func, select

from . import models as m
from ._common import atomic, upsert, utcnow


@dataclass(frozen=True)
class Professional:
    id_nat: str  # idNat_PS: 8 + RPPS, 0 + ADELI, or <structure>/<local id> for a CPE
    record: Mapping[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def ref(self) -> str | None:
        """The fixtures id (``PS-00001``)."""
        return self.record.get("id")


@dataclass(frozen=True)
class Structure:
    id_nat: str  # idNat_Struct: 1 + FINESS, 3 + SIRET…
    record: Mapping[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def ref(self) -> str | None:
        """The fixtures id (``ST-0001``)."""
        return self.record.get("id")


def _professional(row: Row[Any]) -> Professional:
    return Professional(id_nat=row.id_nat, record=row.record, created_at=row.created_at, updated_at=row.updated_at)


def _structure(row: Row[Any]) -> Structure:
    return Structure(id_nat=row.id_nat, record=row.record, created_at=row.created_at, updated_at=row.updated_at)


def _id_nat(record: Mapping[str, Any]) -> str:
    id_nat = record.get("id_nat")
    if not isinstance(id_nat, str) or not id_nat:
        raise ValueError(f"record {record.get('id')!r} has no id_nat")
    return id_nat


class DirectoryRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    # -- professionals ------------------------------------------------------------------------------------
    def upsert_professional(self, workspace: str, record: Mapping[str, Any]) -> Professional:
        """Insert or replace a professional; the key is ``record["id_nat"]``."""
        self.upsert_professionals(workspace, [record])
        found = self.get_professional(workspace, _id_nat(record))
        assert found is not None
        return found

    def upsert_professionals(self, workspace: str, records: Iterable[Mapping[str, Any]]) -> int:
        now = utcnow()
        rows = [{
            "workspace": workspace, "id_nat": _id_nat(r), "ref": r.get("id"), "record": dict(r),
            "family": r.get("family"), "given": r.get("given"),
            "profession_code": (r.get("profession") or {}).get("code"), "structure_ref": r.get("structure_id"),
            "created_at": now, "updated_at": now,
        } for r in records]
        with atomic(self._conn, workspace):
            upsert(self._conn, m.professionals, rows, ["workspace", "id_nat"],
                   ["ref", "record", "family", "given", "profession_code", "structure_ref", "updated_at"])
        return len(rows)

    def get_professional(self, workspace: str, id_nat: str) -> Professional | None:
        row = self._get(m.professionals, workspace, m.professionals.c.id_nat == id_nat)
        return _professional(row) if row else None

    def get_professional_by_ref(self, workspace: str, ref: str) -> Professional | None:
        row = self._get(m.professionals, workspace, m.professionals.c.ref == ref)
        return _professional(row) if row else None

    def list_professionals(self, workspace: str, *, limit: int = 100, offset: int = 0,
                           structure_ref: str | None = None) -> tuple[Professional, ...]:
        t = m.professionals
        query = select(t).where(t.c.workspace == workspace)
        if structure_ref is not None:
            query = query.where(t.c.structure_ref == structure_ref)
        rows = self._conn.execute(query.order_by(t.c.id_nat).limit(limit).offset(offset))
        return tuple(_professional(r) for r in rows)

    def count_professionals(self, workspace: str) -> int:
        return self._count(m.professionals, workspace)

    # -- structures ---------------------------------------------------------------------------------------
    def upsert_structure(self, workspace: str, record: Mapping[str, Any]) -> Structure:
        """Insert or replace a structure; the key is ``record["id_nat"]``."""
        self.upsert_structures(workspace, [record])
        found = self.get_structure(workspace, _id_nat(record))
        assert found is not None
        return found

    def upsert_structures(self, workspace: str, records: Iterable[Mapping[str, Any]]) -> int:
        now = utcnow()
        rows = [{"workspace": workspace, "id_nat": _id_nat(r), "ref": r.get("id"), "record": dict(r),
                 "name": r.get("name"), "created_at": now, "updated_at": now} for r in records]
        with atomic(self._conn, workspace):
            upsert(self._conn, m.structures, rows, ["workspace", "id_nat"], ["ref", "record", "name", "updated_at"])
        return len(rows)

    def get_structure(self, workspace: str, id_nat: str) -> Structure | None:
        row = self._get(m.structures, workspace, m.structures.c.id_nat == id_nat)
        return _structure(row) if row else None

    def get_structure_by_ref(self, workspace: str, ref: str) -> Structure | None:
        row = self._get(m.structures, workspace, m.structures.c.ref == ref)
        return _structure(row) if row else None

    def list_structures(self, workspace: str, *, limit: int = 100, offset: int = 0) -> tuple[Structure, ...]:
        t = m.structures
        rows = self._conn.execute(select(t).where(t.c.workspace == workspace).order_by(t.c.id_nat)
                                  .limit(limit).offset(offset))
        return tuple(_structure(r) for r in rows)

    def count_structures(self, workspace: str) -> int:
        return self._count(m.structures, workspace)

    # -- helpers ------------------------------------------------------------------------------------------
    def _get(self, table: Table, workspace: str, condition: Any) -> Row[Any] | None:
        return self._conn.execute(select(table).where(table.c.workspace == workspace, condition).limit(1)).first()

    def _count(self, table: Table, workspace: str) -> int:
        return int(self._conn.execute(select(func.count()).select_from(table)
                                      .where(table.c.workspace == workspace)).scalar_one())
