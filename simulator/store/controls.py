"""Test controls of a workspace: fault injections and the clock offset.

Both live in the database, so every worker process sharing it sees the same faults and the same clock.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, get_args

from sqlalchemy import Connection, Row, delete, insert, or_, select, update

from . import models as m
from ._common import atomic, check_aware, utcnow
from .errors import WorkspaceNotFound

FaultKind = Literal["latency", "soap_fault", "registry_error", "http_503", "drop_connection"]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)
_REQUIRED_PARAMS: dict[str, dict[str, type]] = {
    "latency": {"ms": int},
    "soap_fault": {"code": str, "reason": str},
    "registry_error": {"code": str},  # optional "context", "severity"
    "http_503": {},
    "drop_connection": {},
}
_CONSUME_ATTEMPTS = 8


@dataclass(frozen=True)
class Fault:
    id: int
    kind: FaultKind
    params: Mapping[str, Any] = field(default_factory=dict)
    transaction: str | None = None  # None: any transaction
    remaining: int | None = None  # None: until removed; otherwise what is left (after this use, when consumed)
    patient_ins: str | None = None  # None: any patient
    professional: str | None = None  # None: any caller
    created_at: datetime | None = None


def _fault(row: Row[Any], remaining: int | None = None) -> Fault:
    return Fault(id=row.id, kind=row.kind, params=row.params, transaction=row.transaction,
                 remaining=row.remaining if remaining is None else remaining, patient_ins=row.patient_ins,
                 professional=row.professional, created_at=row.created_at)


def _check_params(kind: str, params: Mapping[str, Any]) -> None:
    if kind not in FAULT_KINDS:
        raise ValueError(f"fault kind {kind!r}: expected one of {FAULT_KINDS}")
    for name, expected in _REQUIRED_PARAMS[kind].items():
        value = params.get(name)
        if not isinstance(value, expected) or isinstance(value, bool):
            raise ValueError(f"{kind} fault needs {name!r} ({expected.__name__})")
    if kind == "latency" and params["ms"] < 0:
        raise ValueError("latency ms must be >= 0")


_F = m.faults


class ControlRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    # -- faults -------------------------------------------------------------------------------------------
    def add_fault(self, workspace: str, kind: FaultKind, *, transaction: str | None = None,
                  params: Mapping[str, Any] | None = None, remaining: int | None = None,
                  patient_ins: str | None = None, professional: str | None = None) -> Fault:
        """Inject a fault for ``transaction`` (None: any), optionally only for one patient or caller, for the
        next ``remaining`` matching requests (None: until removed). Params by kind: latency {ms},
        soap_fault {code, reason}, registry_error {code, context?}, http_503 {}, drop_connection {}."""
        params = dict(params or {})
        _check_params(kind, params)
        if remaining is not None and remaining < 1:
            raise ValueError("remaining must be >= 1 (or None: until removed)")
        with atomic(self._conn, workspace):
            fault_id = self._conn.execute(insert(_F).values(
                workspace=workspace, transaction=transaction, kind=kind, params=params, remaining=remaining,
                patient_ins=patient_ins, professional=professional, created_at=utcnow(),
            ).returning(_F.c.id)).scalar_one()
        found = self.get_fault(workspace, int(fault_id))
        assert found is not None
        return found

    def get_fault(self, workspace: str, fault_id: int) -> Fault | None:
        row = self._conn.execute(select(_F).where(_F.c.workspace == workspace, _F.c.id == fault_id)).first()
        return _fault(row) if row else None

    def list_faults(self, workspace: str, *, transaction: str | None = None) -> tuple[Fault, ...]:
        stmt = select(_F).where(_F.c.workspace == workspace)
        if transaction is not None:
            stmt = stmt.where(_F.c.transaction == transaction)
        return tuple(_fault(r) for r in self._conn.execute(stmt.order_by(_F.c.id)))

    def remove_fault(self, workspace: str, fault_id: int) -> bool:
        result = self._conn.execute(delete(_F).where(_F.c.workspace == workspace, _F.c.id == fault_id))
        return bool(result.rowcount)

    def clear_faults(self, workspace: str, *, transaction: str | None = None) -> int:
        stmt = delete(_F).where(_F.c.workspace == workspace)
        if transaction is not None:
            stmt = stmt.where(_F.c.transaction == transaction)
        return int(self._conn.execute(stmt).rowcount)

    def consume_fault(self, workspace: str, transaction: str, *, patient_ins: str | None = None,
                      professional: str | None = None) -> Fault | None:
        """The oldest fault matching this request, used once: a counted fault is decremented atomically
        (compare-and-set, so concurrent workers never use one count twice) and removed at zero."""
        matching = [
            _F.c.workspace == workspace,
            or_(_F.c.transaction.is_(None), _F.c.transaction == transaction),
            or_(_F.c.patient_ins.is_(None), _F.c.patient_ins == patient_ins),
            or_(_F.c.professional.is_(None), _F.c.professional == professional),
            or_(_F.c.remaining.is_(None), _F.c.remaining > 0),
        ]
        for _ in range(_CONSUME_ATTEMPTS):
            row = self._conn.execute(select(_F).where(*matching).order_by(_F.c.id).limit(1)).first()
            if row is None:
                return None
            if row.remaining is None:
                return _fault(row)
            with atomic(self._conn, workspace):
                left = self._conn.execute(
                    update(_F).where(_F.c.workspace == workspace, _F.c.id == row.id, _F.c.remaining > 0)
                    .values(remaining=_F.c.remaining - 1).returning(_F.c.remaining)).scalar()
                if left is None:
                    continue  # another worker took the last use between our read and our update
                if left == 0:
                    self._conn.execute(delete(_F).where(_F.c.workspace == workspace, _F.c.id == row.id))
            return _fault(row, remaining=left)
        return None

    # -- clock --------------------------------------------------------------------------------------------
    def clock_offset(self, workspace: str) -> int:
        offset = self._conn.execute(select(m.workspaces.c.clock_offset_seconds)
                                    .where(m.workspaces.c.id == workspace)).scalar()
        if offset is None:
            raise WorkspaceNotFound(workspace)
        return int(offset)

    def set_clock_offset(self, workspace: str, seconds: int) -> None:
        """Shift the workspace clock: ``workspace_now`` = real time + ``seconds`` (negative: the past)."""
        result = self._conn.execute(update(m.workspaces).where(m.workspaces.c.id == workspace)
                                    .values(clock_offset_seconds=int(seconds)))
        if not result.rowcount:
            raise WorkspaceNotFound(workspace)

    def workspace_now(self, workspace: str, real_now: datetime) -> datetime:
        """The workspace's "now": ``real_now`` (aware) shifted by the workspace's clock offset."""
        check_aware(real_now, "real_now")
        return real_now + timedelta(seconds=self.clock_offset(workspace))
