"""Console pages of the conformance runs: the list, one run's report (its cases and checks when the report has
the runner's shape, the raw JSON always) and its evidence pack, viewable in a sandboxed frame or downloadable.

The report is whatever JSON the runner posted (``api/conformance_runs.py``): the page reads the parts it knows
defensively and shows the rest as JSON, so a newer runner never breaks it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from ..api.common import MAX_ID, MAX_PAGE
from ..api.conformance_runs import evidence_filename
from .common import ConsoleError, ConsoleRoute, read_form, redirect, render, runtime_of

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

PAGE = 50


@dataclass(frozen=True)
class CheckRow:
    id: str
    title: str
    passed: bool
    expected: str
    found: str
    requirements: tuple[str, ...]
    exchanges: tuple[int, ...]


@dataclass(frozen=True)
class CaseRow:
    id: str
    title: str
    verdict: str
    workspace: str | None
    requirements: tuple[str, ...]
    error: str | None
    checks: tuple[CheckRow, ...] = field(default_factory=tuple)


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def _ids(value: Any) -> tuple[int, ...]:
    return tuple(v for v in value if isinstance(v, int) and not isinstance(v, bool)) if isinstance(value, list) \
        else ()


def cases_of(report: Any) -> list[CaseRow]:
    """The cases of a runner report (``{"cases": [CaseResult.as_dict()…]}``); [] for any other shape."""
    cases = report.get("cases") if isinstance(report, dict) else None
    if not isinstance(cases, list):
        return []
    rows = []
    for case in cases:
        if not isinstance(case, dict):
            continue
        checks = tuple(
            CheckRow(id=str(c.get("id", "?")), title=str(c.get("title", "")), passed=c.get("passed") is True,
                     expected=str(c.get("expected", "")), found=str(c.get("found", "")),
                     requirements=_strings(c.get("requirements")), exchanges=_ids(c.get("exchanges")))
            for c in case.get("checks") or () if isinstance(c, dict))
        workspace = case.get("workspace")
        rows.append(CaseRow(id=str(case.get("id", "?")), title=str(case.get("title", "")),
                            verdict=str(case.get("verdict", "?")),
                            workspace=workspace if isinstance(workspace, str) else None,
                            requirements=_strings(case.get("requirements")),
                            error=str(case["error"]) if case.get("error") else None, checks=checks))
    return rows


@router.get("/conformance")
def runs_page(request: Request, offset: int = Query(0, ge=0, le=MAX_ID),
              limit: int = Query(PAGE, ge=1, le=MAX_PAGE)) -> HTMLResponse:
    with runtime_of(request).store.transaction(readonly=True) as tx:
        runs = tx.conformance_runs.list(limit=limit, offset=offset)
        total = tx.conformance_runs.count()
    return render(request, "conformance_runs.html", {"runs": runs, "total": total, "offset": offset,
                                                     "limit": limit, "deleted": request.query_params.get("deleted")})


@router.get("/conformance/{run_id}")
def run_page(run_id: str, request: Request) -> HTMLResponse:
    with runtime_of(request).store.transaction(readonly=True) as tx:
        run = tx.conformance_runs.get(run_id)
        workspaces = {w.id for w in tx.workspaces.list()}
    if run is None:
        raise ConsoleError(404, f"Aucune exécution de conformité « {run_id} ».")
    return render(request, "conformance_run.html", {
        "run": run, "cases": cases_of(run.report), "workspaces": workspaces,
        "report_json": json.dumps(run.report, ensure_ascii=False, indent=2)[:500_000],
        "has_evidence": bool(run.evidence_html), "filename": evidence_filename(run.id),
    })


@router.get("/conformance/{run_id}/evidence")
def run_evidence(run_id: str, request: Request) -> Response:
    """The evidence pack for the page's frame: the runner wrote it, so it is sandboxed (no script, no access to
    the console's origin) rather than trusted."""
    with runtime_of(request).store.transaction(readonly=True) as tx:
        html = tx.conformance_runs.evidence_html(run_id)
    if html is None:
        raise ConsoleError(404, f"Aucune exécution de conformité « {run_id} ».")
    return Response(content=html, media_type="text/html; charset=utf-8",
                    headers={"content-security-policy": "sandbox", "x-content-type-options": "nosniff"})


@router.post("/conformance/{run_id}/delete")
async def delete_run(run_id: str, request: Request) -> Response:
    await read_form(request)
    with runtime_of(request).store.transaction() as tx:
        if not tx.conformance_runs.delete(run_id):
            raise ConsoleError(404, f"Aucune exécution de conformité « {run_id} ».")
    return redirect(request, "/conformance", deleted=run_id)
