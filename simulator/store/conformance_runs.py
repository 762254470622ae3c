"""Results of conformance runs (``segur-sandbox conformance run``): verdict, counts, the runner's JSON report and the
HTML evidence pack a certification reviewer downloads.

Runs are not workspace data (a run prepares one workspace per case), so every call here is global. The report is
kept as JSON text: it is only ever read whole, one run at a time, and text keeps the runner's key order.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

from sqlalchemy import Connection, Row, delete, func, select

from . import models as m
from ._common import check_aware, insert_ignore, utcnow
from .errors import StoreError

RunVerdict = Literal["pass", "fail"]
RUN_VERDICTS: tuple[str, ...] = get_args(RunVerdict)
MAX_PAGE = 1000

_T = m.conformance_runs
_SUMMARY = [c for c in _T.c if c.name not in ("report", "evidence_html")]


class ConformanceRunExists(StoreError):
    """A run with this id is already stored (ids are the runner's; a second POST of one run is a mistake)."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"conformance run {run_id!r} already exists: DELETE it first to store it again")
        self.run_id = run_id


@dataclass(frozen=True)
class ConformanceRun:
    id: str
    plan: str
    started_at: datetime
    finished_at: datetime
    verdict: RunVerdict
    summary: Mapping[str, Any] = field(default_factory=dict)  # counts: cases, passed, failed…
    report: Any = None  # the runner's JSON; None in listings
    evidence_html: str | None = None  # None in listings
    created_at: datetime | None = None  # set by the store


def _run(row: Row[Any], *, full: bool) -> ConformanceRun:
    return ConformanceRun(
        id=row.id, plan=row.plan, started_at=row.started_at, finished_at=row.finished_at, verdict=row.verdict,
        summary=dict(row.summary or {}), created_at=row.created_at,
        report=json.loads(row.report) if full else None, evidence_html=row.evidence_html if full else None,
    )


class ConformanceRunRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, run: ConformanceRun) -> ConformanceRun:
        """Store a finished run; ``ConformanceRunExists`` when its id is taken."""
        check_aware(run.started_at, "started_at")
        check_aware(run.finished_at, "finished_at")
        if run.verdict not in RUN_VERDICTS:
            raise ValueError(f"verdict {run.verdict!r}: expected one of {RUN_VERDICTS}")
        row = {
            "id": run.id, "plan": run.plan, "started_at": run.started_at, "finished_at": run.finished_at,
            "verdict": run.verdict, "summary": dict(run.summary),
            # allow_nan=False: PostgreSQL (and every JSON reader) refuses NaN; the API rejects it before this
            "report": json.dumps(run.report, ensure_ascii=False, allow_nan=False),
            "evidence_html": run.evidence_html or "", "created_at": utcnow(),
        }
        if not insert_ignore(self._conn, _T, row, ["id"]):
            raise ConformanceRunExists(run.id)
        found = self.get(run.id)
        assert found is not None
        return found

    def get(self, run_id: str) -> ConformanceRun | None:
        """One run with its report and evidence."""
        row = self._conn.execute(select(_T).where(_T.c.id == run_id)).first()
        return _run(row, full=True) if row else None

    def list(self, *, limit: int = 50, offset: int = 0, plan: str | None = None) -> tuple[ConformanceRun, ...]:
        """Newest first, without report nor evidence."""
        limit = max(0, min(limit, MAX_PAGE))
        stmt = select(*_SUMMARY)
        if plan is not None:
            stmt = stmt.where(_T.c.plan == plan)
        rows = self._conn.execute(stmt.order_by(_T.c.started_at.desc(), _T.c.id).limit(limit).offset(offset))
        return tuple(_run(r, full=False) for r in rows)

    def count(self, *, plan: str | None = None) -> int:
        stmt = select(func.count()).select_from(_T)
        if plan is not None:
            stmt = stmt.where(_T.c.plan == plan)
        return int(self._conn.execute(stmt).scalar_one())

    def evidence_html(self, run_id: str) -> str | None:
        """Only the evidence pack (the download does not need the report)."""
        return self._conn.execute(select(_T.c.evidence_html).where(_T.c.id == run_id)).scalar()

    def delete(self, run_id: str) -> bool:
        return bool(self._conn.execute(delete(_T).where(_T.c.id == run_id)).rowcount)
