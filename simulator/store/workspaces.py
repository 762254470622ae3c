"""Workspaces: isolated sandboxes inside one database. ``default`` always exists."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, delete, exists, func, select, update

from . import models as m
from ._common import DEFAULT_WORKSPACE, atomic, check_workspace_id, insert_ignore, utcnow
from .authorizations import (_JOINED_AUTHORIZATION_COLUMNS, Authorization, _joined_authorization, _Prefixed,
                             _join_authorization)
from .errors import ProtectedWorkspace, WorkspaceExists, WorkspaceNotFound
from .patients import Patient, _patient


@dataclass(frozen=True)
class Workspace:
    id: str
    created_at: datetime
    settings: Mapping[str, Any] = field(default_factory=dict)
    clock_offset_seconds: int = 0


@dataclass(frozen=True)
class CallState:
    """What a DMP call reads first, in one statement: the workspace, whether a fault is armed in it, and, when
    asked for (``caller``: patient INS and professional idNat), that patient (None when unknown) and that
    professional's authorization on it (None when there is none), as ``AuthorizationRepository.with_patient``."""

    workspace: Workspace
    faults_armed: bool
    caller: tuple[str, str] | None = None
    patient: Patient | None = None
    authorization: Authorization | None = None


@dataclass(frozen=True)
class WorkspaceCounts:
    patients: int
    professionals: int
    structures: int
    authorizations: int
    documents: int
    submission_sets: int
    exchanges: int
    faults: int


# Read on every SOAP request: built once, with parameters (building a select costs more than running it on SQLite).
_GET = select(m.workspaces).where(m.workspaces.c.id == bindparam("workspace"))
# The same row and whether a fault is armed in the workspace: what every DMP call reads first, in one statement.
_GET_FOR_CALL = select(m.workspaces, exists().where(m.faults.c.workspace == m.workspaces.c.id).label("faults_armed")
                       ).where(m.workspaces.c.id == bindparam("workspace"))
# ... and the caller's patient and authorization too: a round trip less for a search or a retrieve on PostgreSQL
_GET_FOR_CALL_WITH_CALLER = (
    _GET_FOR_CALL.add_columns(*[c.label(f"p_{c.name}") for c in m.patients.c], *_JOINED_AUTHORIZATION_COLUMNS)
    .select_from(_join_authorization(m.workspaces.outerjoin(m.patients, (m.patients.c.workspace == m.workspaces.c.id)
                                                           & (m.patients.c.ins == bindparam("ins"))))))


def _workspace(row: Row[Any]) -> Workspace:
    return Workspace(id=row.id, created_at=row.created_at, settings=dict(row.settings or {}),
                     clock_offset_seconds=row.clock_offset_seconds)


class WorkspaceRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def get(self, workspace: str) -> Workspace | None:
        row = self._conn.execute(_GET, {"workspace": workspace}).first()
        return _workspace(row) if row else None

    def get_for_call(self, workspace: str, *, caller: tuple[str, str] | None = None) -> CallState | None:
        """The workspace and whether any fault is armed in it, in one read: what every DMP call reads first. A call
        that finds no fault armed needs no write unit of work for ``ControlRepository.consume_fault``. With
        ``caller`` (patient INS, professional idNat), the same read also brings that patient and authorization."""
        if caller is None:
            row = self._conn.execute(_GET_FOR_CALL, {"workspace": workspace}).first()
            return CallState(_workspace(row), bool(row.faults_armed)) if row else None
        ins, ps_id_nat = caller
        row = self._conn.execute(_GET_FOR_CALL_WITH_CALLER,
                                 {"workspace": workspace, "ins": ins, "ps_id_nat": ps_id_nat}).first()
        if row is None:
            return None
        patient = _patient(_Prefixed(row, "p_")) if row.p_ins is not None else None
        return CallState(_workspace(row), bool(row.faults_armed), caller, patient, _joined_authorization(row))

    def require(self, workspace: str) -> Workspace:
        found = self.get(workspace)
        if found is None:
            raise WorkspaceNotFound(workspace)
        return found

    def create(self, workspace: str, *, settings: Mapping[str, Any] | None = None) -> Workspace:
        """Raises ``WorkspaceExists`` when the id is taken, ``InvalidWorkspaceId`` when it is not a slug."""
        if not self._insert(workspace, settings):
            raise WorkspaceExists(workspace)
        return self.require(workspace)

    def ensure(self, workspace: str, *, settings: Mapping[str, Any] | None = None) -> Workspace:
        """The workspace, created with ``settings`` if it did not exist (existing settings are kept)."""
        self._insert(workspace, settings)
        return self.require(workspace)

    def _insert(self, workspace: str, settings: Mapping[str, Any] | None) -> bool:
        check_workspace_id(workspace)
        row = {"id": workspace, "created_at": utcnow(), "settings": dict(settings or {}),
               "clock_offset_seconds": 0}
        return insert_ignore(self._conn, m.workspaces, row, ["id"])

    def list(self) -> tuple[Workspace, ...]:
        rows = self._conn.execute(select(m.workspaces).order_by(m.workspaces.c.id))
        return tuple(_workspace(r) for r in rows)

    def update_settings(self, workspace: str, changes: Mapping[str, Any], *, replace: bool = False) -> Workspace:
        """Merge ``changes`` into the settings (a key set to ``None`` is removed), or replace them all."""
        with atomic(self._conn, workspace):
            row = self._conn.execute(select(m.workspaces.c.settings).where(m.workspaces.c.id == workspace)
                                     .with_for_update()).first()
            if row is None:
                raise WorkspaceNotFound(workspace)
            settings = {} if replace else dict(row.settings or {})
            for key, value in changes.items():
                if value is None:
                    settings.pop(key, None)
                else:
                    settings[key] = value
            self._conn.execute(update(m.workspaces).where(m.workspaces.c.id == workspace).values(settings=settings))
        return self.require(workspace)

    def reset(self, workspace: str) -> None:
        """Delete everything in the workspace (data, documents, log, faults) and zero its clock offset; keep the
        workspace and its settings."""
        with atomic(self._conn, workspace):
            if self.get(workspace) is None:
                raise WorkspaceNotFound(workspace)
            self._delete_contents(workspace)
            self._conn.execute(update(m.workspaces).where(m.workspaces.c.id == workspace)
                               .values(clock_offset_seconds=0))

    def delete(self, workspace: str) -> bool:
        """Delete the workspace and everything in it; False when it did not exist. ``default`` cannot go."""
        if workspace == DEFAULT_WORKSPACE:
            raise ProtectedWorkspace(workspace)
        with atomic(self._conn, workspace):
            self._delete_contents(workspace)
            result = self._conn.execute(delete(m.workspaces).where(m.workspaces.c.id == workspace))
        return bool(result.rowcount)

    def _delete_contents(self, workspace: str) -> None:
        for table in m.WORKSPACE_TABLES:
            self._conn.execute(delete(table).where(table.c.workspace == workspace))

    def counts(self, workspace: str) -> WorkspaceCounts:
        def count(table: Any) -> int:
            return int(self._conn.execute(select(func.count()).select_from(table)
                                          .where(table.c.workspace == workspace)).scalar_one())

        return WorkspaceCounts(
            patients=count(m.patients), professionals=count(m.professionals), structures=count(m.structures),
            authorizations=count(m.authorizations), documents=count(m.document_entries),
            submission_sets=count(m.submission_sets), exchanges=count(m.exchanges), faults=count(m.faults),
        )
