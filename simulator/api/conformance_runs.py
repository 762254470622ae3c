"""Results of conformance runs: ``segur-sandbox conformance run`` POSTs each finished run here, the console lists
them, and a certification reviewer downloads the evidence pack.

Runs are global, not workspace-scoped (a run prepares one workspace per case). The report is any JSON the runner
writes; it is kept whole and given back as it came. Values the databases cannot keep are refused (422): NaN or
infinite numbers (not JSON), and NUL characters in text (PostgreSQL refuses them).
"""
from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any, Literal

from fastapi import Query, Request, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from ..store.conformance_runs import ConformanceRun
from .common import CONFLICT, MAX_ID, MAX_PAGE, ApiError, Page, api_router, runtime_of

router = api_router("conformance runs")

RUN_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
MAX_JSON_DEPTH = 64


class RunSummaryOut(BaseModel):
    id: str
    plan: str
    started_at: datetime
    finished_at: datetime
    verdict: Literal["pass", "fail"]
    summary: dict[str, Any] = Field(description="Counts: cases, passed, failed…")
    created_at: datetime | None = Field(description="When the sandbox stored it")


class RunOut(RunSummaryOut):
    report: Any = Field(description="The runner's JSON report, as it was posted")


class RunPage(Page):
    items: list[RunSummaryOut] = Field(description="Newest first")


class RunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=RUN_ID, description="The runner's id of the run (letters, digits, . _ : -)")
    plan: str = Field(min_length=1, max_length=64, description="The plan that ran (consultation, feeding…)")
    started_at: AwareDatetime
    finished_at: AwareDatetime
    verdict: Literal["pass", "fail"]
    summary: dict[str, Any] = Field(default_factory=dict, description="Counts: cases, passed, failed…")
    report: Any = Field(default_factory=dict, description="Any JSON: the runner's full report")
    evidence_html: str = Field("", description="The evidence pack, a self-contained HTML page")

    @field_validator("plan", "evidence_html")
    @classmethod
    def _no_nul(cls, value: str) -> str:
        if "\x00" in value:
            raise ValueError("contains a NUL character")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> RunIn:
        if self.finished_at < self.started_at:
            raise ValueError("finished_at is before started_at")
        for name in ("summary", "report"):
            problem = json_problem(getattr(self, name))
            if problem:
                raise ValueError(f"{name}: {problem}")
        return self


def json_problem(value: Any) -> str | None:
    """Why a parsed JSON value cannot be stored, or None. Iterative: a deep document must not exhaust the stack."""
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if depth > MAX_JSON_DEPTH:
            return f"nested deeper than {MAX_JSON_DEPTH} levels"
        if isinstance(item, float) and not math.isfinite(item):
            return "NaN and infinite numbers are not JSON"
        if isinstance(item, str) and "\x00" in item:
            return "a string contains a NUL character"
        if isinstance(item, dict):
            pending += [(key, depth + 1) for key in item]
            pending += [(child, depth + 1) for child in item.values()]
        elif isinstance(item, list):
            pending += [(child, depth + 1) for child in item]
    return None


def _summary_fields(run: ConformanceRun) -> dict[str, Any]:
    return {"id": run.id, "plan": run.plan, "started_at": run.started_at, "finished_at": run.finished_at,
            "verdict": run.verdict, "summary": dict(run.summary), "created_at": run.created_at}


def evidence_filename(run_id: str) -> str:
    """A file name safe in a Content-Disposition header and on every file system (no colons on Windows)."""
    return f"evidence-{re.sub(r'[^A-Za-z0-9._-]', '-', run_id)}.html"


def _not_found(run_id: str) -> ApiError:
    return ApiError(404, f"no conformance run {run_id!r}")


@router.post("/conformance-runs", status_code=201, responses=CONFLICT)
def create_run(body: RunIn, request: Request) -> RunSummaryOut:
    """Store a finished run (409 when its id is already stored)."""
    run = ConformanceRun(id=body.id, plan=body.plan, started_at=body.started_at, finished_at=body.finished_at,
                         verdict=body.verdict, summary=body.summary, report=body.report,
                         evidence_html=body.evidence_html)
    with runtime_of(request).store.transaction() as tx:
        return RunSummaryOut(**_summary_fields(tx.conformance_runs.add(run)))


@router.get("/conformance-runs")
def list_runs(request: Request, plan: str | None = Query(None, description="Only the runs of this plan"),
              limit: int = Query(50, ge=1, le=MAX_PAGE), offset: int = Query(0, ge=0, le=MAX_ID)) -> RunPage:
    """The runs, newest first, without their report and evidence."""
    with runtime_of(request).store.transaction(readonly=True) as tx:
        items = tx.conformance_runs.list(limit=limit, offset=offset, plan=plan)
        total = tx.conformance_runs.count(plan=plan)
    return RunPage(items=[RunSummaryOut(**_summary_fields(r)) for r in items], total=total, limit=limit,
                   offset=offset)


@router.get("/conformance-runs/{run_id}")
def get_run(run_id: str, request: Request) -> RunOut:
    """One run with its report."""
    with runtime_of(request).store.transaction(readonly=True) as tx:
        run = tx.conformance_runs.get(run_id)
    if run is None:
        raise _not_found(run_id)
    return RunOut(**_summary_fields(run), report=run.report)


@router.get("/conformance-runs/{run_id}/evidence.html",
            responses={200: {"content": {"text/html": {}}, "description": "The evidence pack, as a download"}})
def get_evidence(run_id: str, request: Request) -> Response:
    """The evidence pack of the run, as an HTML file to keep with the homologation file."""
    with runtime_of(request).store.transaction(readonly=True) as tx:
        html = tx.conformance_runs.evidence_html(run_id)
    if html is None:
        raise _not_found(run_id)
    return Response(content=html, media_type="text/html; charset=utf-8",
                    headers={"content-disposition": f'attachment; filename="{evidence_filename(run_id)}"'})


@router.delete("/conformance-runs/{run_id}", status_code=204)
def delete_run(run_id: str, request: Request) -> Response:
    with runtime_of(request).store.transaction() as tx:
        if not tx.conformance_runs.delete(run_id):
            raise _not_found(run_id)
    return Response(status_code=204)
