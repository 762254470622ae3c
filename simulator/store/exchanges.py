"""The exchange log: every request/response pair with its timing, caller, and conformance verdict.

Bodies are stored zstd-compressed (``body_codec = "zstd"``): a 50-document search answer is ~310 KB of XML that
compresses ~18 times in ~0.3 ms, and writing it raw cost a search more than the search itself (SQLite WAL and
checkpoint traffic, PostgreSQL TOAST). Lines written before schema version 3 have no codec and are read as they
are. Callers only ever see the bytes as exchanged.
"""
from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

import zstandard
from sqlalchemy import Connection, Row, delete, func, insert, select, update

from . import models as m
from ._common import atomic, check_aware

Verdict = Literal["pass", "fail", "error"]
VERDICTS: tuple[str, ...] = get_args(Verdict)
MAX_PAGE = 1000


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str  # e.g. error | warning | info
    message: str
    location: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "severity": self.severity, "message": self.message, "location": self.location}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Finding:
        return cls(rule=data["rule"], severity=data["severity"], message=data["message"],
                   location=data.get("location"))


@dataclass(frozen=True)
class Exchange:
    started_at: datetime
    duration_ms: float
    service: str  # the service path name, e.g. "registry", "patients"
    http_status: int
    transaction: str | None = None  # e.g. "TD0.2", "ITI-41"
    action: str | None = None  # the SOAP action
    request_content_type: str | None = None
    request: bytes | None = None  # None in listings unless bodies are asked for
    response_content_type: str | None = None
    response: bytes | None = None
    principal: Mapping[str, Any] | None = None  # a JSON summary of the caller
    patient_ins: str | None = None
    professional: str | None = None  # the caller's idNat
    verdict: Verdict | None = None  # None until the conformance rules ran
    findings: tuple[Finding, ...] = ()
    id: int | None = None  # set by the store


BODY_CODEC = "zstd"
_ZSTD_LEVEL = 1  # level 3 gains ~6 % of size for ~30 % more time
_codecs = threading.local()  # zstandard's (de)compressor objects are not for concurrent use across threads


def _compress(body: bytes | None) -> bytes | None:
    if body is None:
        return None
    compressor = getattr(_codecs, "compressor", None)
    if compressor is None:
        compressor = _codecs.compressor = zstandard.ZstdCompressor(level=_ZSTD_LEVEL)  # writes the content size
    return compressor.compress(body)


def _body(stored: Any, codec: str | None) -> bytes | None:
    if stored is None:
        return None
    if codec is None:
        return bytes(stored)
    if codec != BODY_CODEC:
        raise ValueError(f"exchange body stored with unknown codec {codec!r}")
    decompressor = getattr(_codecs, "decompressor", None)
    if decompressor is None:
        decompressor = _codecs.decompressor = zstandard.ZstdDecompressor()
    return decompressor.decompress(bytes(stored))


def _exchange(row: Row[Any], *, bodies: bool) -> Exchange:
    return Exchange(
        id=row.id, started_at=row.started_at, duration_ms=row.duration_ms, service=row.service,
        transaction=row.transaction, action=row.action, http_status=row.http_status,
        request_content_type=row.request_content_type,
        request=_body(row.request, row.body_codec) if bodies else None,
        response_content_type=row.response_content_type,
        response=_body(row.response, row.body_codec) if bodies else None,
        principal=row.principal, patient_ins=row.patient_ins, professional=row.professional,
        verdict=row.verdict, findings=tuple(Finding.from_dict(f) for f in row.findings or ()),
    )


def _check_verdict(verdict: str | None) -> None:
    if verdict is not None and verdict not in VERDICTS:
        raise ValueError(f"verdict {verdict!r}: expected one of {VERDICTS}")


_T = m.exchanges
_SUMMARY = [c for c in _T.c if c.name not in ("request", "response")]
# One statement, values as parameters: ``insert().values(**row)`` built and cache-keyed a new statement per line.
_APPEND = insert(_T).returning(_T.c.id)


@dataclass(frozen=True)
class PreparedExchange:
    """An exchange as the row that stores it, bodies compressed."""

    row: Mapping[str, Any]

    @classmethod
    def of(cls, workspace: str, exchange: Exchange) -> PreparedExchange:
        check_aware(exchange.started_at, "started_at")
        _check_verdict(exchange.verdict)
        return cls({
            "workspace": workspace, "started_at": exchange.started_at, "duration_ms": float(exchange.duration_ms),
            "service": exchange.service, "transaction": exchange.transaction, "action": exchange.action,
            "http_status": exchange.http_status, "request_content_type": exchange.request_content_type,
            "request": _compress(exchange.request), "response_content_type": exchange.response_content_type,
            "response": _compress(exchange.response), "body_codec": BODY_CODEC,
            "principal": dict(exchange.principal) if exchange.principal is not None else None,
            "patient_ins": exchange.patient_ins, "professional": exchange.professional,
            "verdict": exchange.verdict, "findings": [f.as_dict() for f in exchange.findings],
        })


class ExchangeRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def append(self, workspace: str, exchange: Exchange | PreparedExchange, *, savepoint: bool = True) -> int:
        """Store an exchange; returns its id (increasing: ``since_id`` polling relies on it). A ``PreparedExchange``
        has its bodies compressed already (done before the write unit of work, which on SQLite holds the writer
        lock of every worker). ``savepoint=False`` when the line is its unit of work's only write: a failure
        then undoes nothing else, and a savepoint costs two statements (round trips on PostgreSQL)."""
        prepared = exchange if isinstance(exchange, PreparedExchange) else PreparedExchange.of(workspace, exchange)
        if prepared.row["workspace"] != workspace:
            raise ValueError(f"exchange prepared for workspace {prepared.row['workspace']!r}, not {workspace!r}")
        if not savepoint:
            return int(self._conn.execute(_APPEND, prepared.row).scalar_one())
        with atomic(self._conn, workspace):
            new_id = self._conn.execute(_APPEND, prepared.row).scalar_one()
        return int(new_id)

    def record_verdict(self, workspace: str, exchange_id: int, verdict: Verdict,
                       findings: Sequence[Finding] = ()) -> bool:
        """Set the verdict and findings of a logged exchange (when the rules run after it was stored)."""
        _check_verdict(verdict)
        result = self._conn.execute(update(_T).where(_T.c.workspace == workspace, _T.c.id == exchange_id)
                                    .values(verdict=verdict, findings=[f.as_dict() for f in findings]))
        return bool(result.rowcount)

    def get(self, workspace: str, exchange_id: int) -> Exchange | None:
        """One exchange with its request and response bodies."""
        row = self._conn.execute(select(_T).where(_T.c.workspace == workspace, _T.c.id == exchange_id)).first()
        return _exchange(row, bodies=True) if row else None

    def list(self, workspace: str, *, transaction: str | Sequence[str] | None = None,
             verdict: Verdict | None = None, professional: str | None = None, patient_ins: str | None = None,
             since_id: int | None = None, before_id: int | None = None, limit: int = 50,
             include_bodies: bool = False) -> tuple[Exchange, ...]:
        """Newest first. ``since_id``: only newer than that id (live polling); ``before_id``: only older
        (next page). Bodies are left out unless ``include_bodies``.

        On PostgreSQL, ids come from a sequence and concurrent transactions may commit out of id order: a poller
        that must not miss a line re-reads a small window below its last id."""
        limit = max(0, min(limit, MAX_PAGE))
        columns = list(_T.c) if include_bodies else _SUMMARY
        stmt = (select(*columns).where(*_filters(workspace, transaction, verdict, professional, patient_ins,
                                                      since_id, before_id))
                .order_by(_T.c.id.desc()).limit(limit))
        return tuple(_exchange(r, bodies=include_bodies) for r in self._conn.execute(stmt))

    def count(self, workspace: str, *, transaction: str | Sequence[str] | None = None,
              verdict: Verdict | None = None, professional: str | None = None, patient_ins: str | None = None,
              since_id: int | None = None) -> int:
        stmt = select(func.count()).select_from(_T).where(
            *_filters(workspace, transaction, verdict, professional, patient_ins, since_id, None))
        return int(self._conn.execute(stmt).scalar_one())

    def latest_id(self, workspace: str) -> int | None:
        """The id of the newest exchange (where a poller starts)."""
        return self._conn.execute(select(func.max(_T.c.id)).where(_T.c.workspace == workspace)).scalar()

    def prune(self, workspace: str, *, keep_last: int | None = None, older_than: datetime | None = None) -> int:
        """Retention: delete all but the newest ``keep_last`` exchanges and/or those started before
        ``older_than``. Returns how many were deleted."""
        deleted = 0
        with atomic(self._conn, workspace):
            if keep_last is not None:
                if keep_last < 0:
                    raise ValueError("keep_last must be >= 0")
                threshold = self._conn.execute(
                    select(_T.c.id).where(_T.c.workspace == workspace).order_by(_T.c.id.desc())
                    .offset(keep_last).limit(1)).scalar()
                if threshold is not None:
                    deleted += self._conn.execute(delete(_T).where(_T.c.workspace == workspace,
                                                                   _T.c.id <= threshold)).rowcount
            if older_than is not None:
                check_aware(older_than, "older_than")
                deleted += self._conn.execute(delete(_T).where(_T.c.workspace == workspace,
                                                               _T.c.started_at < older_than)).rowcount
        return deleted


def _filters(workspace: str, transaction: str | Sequence[str] | None, verdict: str | None,
             professional: str | None, patient_ins: str | None, since_id: int | None,
             before_id: int | None) -> list[Any]:
    conditions: list[Any] = [_T.c.workspace == workspace]
    if isinstance(transaction, str):
        conditions.append(_T.c.transaction == transaction)
    elif transaction is not None:
        conditions.append(_T.c.transaction.in_(list(transaction)))
    if verdict is not None:
        conditions.append(_T.c.verdict == verdict)
    if professional is not None:
        conditions.append(_T.c.professional == professional)
    if patient_ins is not None:
        conditions.append(_T.c.patient_ins == patient_ins)
    if since_id is not None:
        conditions.append(_T.c.id > since_id)
    if before_id is not None:
        conditions.append(_T.c.id < before_id)
    return conditions
