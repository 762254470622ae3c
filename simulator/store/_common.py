"""Helpers shared by the repositories (private to the package)."""
from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Final

from sqlalchemy import Connection, Table, exists, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from . import models as m
from .errors import InvalidWorkspaceId, WorkspaceNotFound

DEFAULT_WORKSPACE: Final = "default"
_WORKSPACE_RE = re.compile(r"[a-z0-9-]{1,64}")


class _Unset(Enum):
    UNSET = "UNSET"


UNSET: Final = _Unset.UNSET
"""Marks a keyword argument as "leave unchanged" where ``None`` is a meaningful value."""


def check_workspace_id(workspace: str) -> str:
    if not isinstance(workspace, str) or not _WORKSPACE_RE.fullmatch(workspace):
        raise InvalidWorkspaceId(workspace)
    return workspace


def utcnow() -> datetime:
    return datetime.now(UTC)


def workspace_exists(conn: Connection, workspace: str) -> bool:
    return bool(conn.execute(select(exists().where(m.workspaces.c.id == workspace))).scalar())


@contextmanager
def atomic(conn: Connection, workspace: str) -> Iterator[None]:
    """A savepoint around one repository operation: it happens entirely or not at all, even when the caller
    catches the error and goes on with its transaction. A write into a missing workspace (foreign key)
    becomes ``WorkspaceNotFound``."""
    try:
        with conn.begin_nested():
            yield
    except IntegrityError as exc:
        if not workspace_exists(conn, workspace):
            raise WorkspaceNotFound(workspace) from exc
        raise


def upsert(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]] | Mapping[str, Any],
           keys: Sequence[str], update: Sequence[str]) -> None:
    """INSERT … ON CONFLICT (keys) DO UPDATE SET update = excluded (same syntax on SQLite and PostgreSQL)."""
    if isinstance(rows, Sequence) and not rows:
        return
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(table)
    stmt = stmt.on_conflict_do_update(index_elements=list(keys), set_={c: stmt.excluded[c] for c in update})
    conn.execute(stmt, [dict(r) for r in rows] if isinstance(rows, Sequence) else dict(rows))


def insert_ignore(conn: Connection, table: Table, row: Mapping[str, Any], keys: Sequence[str]) -> bool:
    """INSERT … ON CONFLICT DO NOTHING; True when the row was inserted."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(table).on_conflict_do_nothing(index_elements=list(keys)).returning(table.c[keys[0]])
    return conn.execute(stmt, dict(row)).first() is not None


def check_aware(value: datetime | None, name: str) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"{name}: naive datetime; pass an aware (UTC) datetime")
