"""The exchange log in the console: the filtered list that grows while a client runs, and one exchange opened on
its request and response (MTOM parts apart), its VIHF as a table and its findings pointing into the message.

Live updates are polling, the simplest thing that survives proxies, restarts and several server workers: the
page asks ``…/exchanges/live?since_id=N`` every second and inserts the rows it gets, rendered by the same template
as the page itself. Ids only grow (the table is AUTOINCREMENT), so ``since_id`` never misses a committed row on
SQLite; after the log was emptied the answer's ``latest_id`` is below ``since_id`` and the page reloads.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from segur_sandbox.conformance.rules import REGISTRY, load_rule_sets

from ..api.common import MAX_ID
from ..api.faults import TRANSACTIONS
from ..store import VERDICTS, Finding
from .common import ConsoleError, ConsoleRoute, choice, names, render, templates, workspace_tx
from .messages import message_view, split_parts, vihf_rows

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

PAGE = 50
LIVE_LIMIT = 100
SANDBOX_RULES = {  # findings the simulator writes itself, outside the conformance catalogue (by id prefix)
    "FAULT-": "Faute SOAP renvoyée au client", "XDS-": "Erreur XDS renvoyée au client",
    "HTTP-": "Réponse HTTP sans enveloppe SOAP", "SOAP-NOTE": "Remarque de la couche SOAP (toléré)",
    "VIHF-NOTE": "Remarque de la vérification du VIHF", "XADES-NOTE": "Remarque de la vérification XAdES",
    "SANDBOX-FAULT": "Faute injectée par le bac à sable", "SANDBOX-INTERNAL": "Erreur interne du bac à sable",
    "INSI-": "Remarque du téléservice INSi",
}


@dataclass(frozen=True)
class Filters:
    transaction: str | None = None
    verdict: str | None = None
    professional: str | None = None
    patient: str | None = None

    def store_args(self) -> dict[str, Any]:
        return {"transaction": self.transaction, "verdict": self.verdict, "professional": self.professional,
                "patient_ins": self.patient}

    def query(self) -> dict[str, str]:
        return {k: v for k, v in (("transaction", self.transaction), ("verdict", self.verdict),
                                  ("professional", self.professional), ("patient", self.patient)) if v}


def _filters(transaction: str | None, verdict: str | None, professional: str, patient: str) -> Filters:
    return Filters(transaction=choice(transaction, TRANSACTIONS, "transaction"),
                   verdict=choice(verdict, VERDICTS, "verdict"),
                   professional=professional.strip() or None, patient=patient.strip() or None)


@router.get("/w/{workspace}/exchanges")
def exchanges_page(workspace: str, request: Request, transaction: str | None = Query(None),
                   verdict: str | None = Query(None), professional: str = Query("", max_length=64),
                   patient: str = Query("", max_length=64),
                   before_id: int | None = Query(None, ge=1, le=MAX_ID)) -> HTMLResponse:
    filters = _filters(transaction, verdict, professional, patient)
    with workspace_tx(request, workspace) as tx:
        items = tx.exchanges.list(workspace, **filters.store_args(), before_id=before_id, limit=PAGE + 1)
        latest = tx.exchanges.latest_id(workspace) or 0
        who = names(tx, workspace, items)
        professionals = tx.directory.list_professionals(workspace, limit=200)
    return render(request, "exchanges.html", {
        "ws": workspace, "exchanges": items[:PAGE], "more": len(items) > PAGE, "names": who, "filters": filters,
        "latest_id": latest, "before_id": before_id, "transactions": TRANSACTIONS, "verdicts": VERDICTS,
        "professionals": professionals,
    })


@router.get("/w/{workspace}/exchanges/live")
def exchanges_live(workspace: str, request: Request, since_id: int = Query(..., ge=0, le=MAX_ID),
                   transaction: str | None = Query(None), verdict: str | None = Query(None),
                   professional: str = Query("", max_length=64), patient: str = Query("", max_length=64),
                   compact: bool = False) -> Response:
    """The rows newer than ``since_id`` as HTML, with the id to ask from next time (JSON; for console.js)."""
    filters = _filters(transaction, verdict, professional, patient)
    with workspace_tx(request, workspace) as tx:
        items = tx.exchanges.list(workspace, **filters.store_args(), since_id=since_id, limit=LIVE_LIMIT + 1)
        latest = tx.exchanges.latest_id(workspace) or 0
        who = names(tx, workspace, items)
    rows = templates.get_template("_exchange_rows.html").render(
        base=request.scope.get("root_path", "") + "/ui", ws=workspace, exchanges=items[:LIVE_LIMIT], names=who,
        fresh=True, compact=compact)
    return JSONResponse({"latest_id": latest, "count": len(items[:LIVE_LIMIT]), "truncated": len(items) > LIVE_LIMIT,
                         "reset": latest < since_id, "rows": rows})


@dataclass(frozen=True)
class FindingRow:
    finding: Finding
    title: str | None
    refs: tuple[str, ...]
    anchor: str | None  # where the finding is marked in the request


def rule_info(rule_id: str) -> tuple[str | None, tuple[str, ...]]:
    """Title and requirement references of a rule: the conformance catalogue, else the simulator's own."""
    load_rule_sets()
    rule = REGISTRY.get(rule_id)
    if rule is not None:
        return rule.title, rule.refs
    return next((title for prefix, title in SANDBOX_RULES.items() if rule_id.startswith(prefix)), None), ()


@router.get("/w/{workspace}/exchanges/{exchange_id}")
def exchange_page(workspace: str, request: Request,
                  exchange_id: int = Path(..., ge=1, le=MAX_ID)) -> HTMLResponse:
    with workspace_tx(request, workspace) as tx:
        exchange = tx.exchanges.get(workspace, exchange_id)
        if exchange is None:
            raise ConsoleError(404, f"Aucun échange n° {exchange_id} dans l'espace « {workspace} ».")
        who = names(tx, workspace, (exchange,))
    request_view = message_view(exchange.request, exchange.request_content_type, anchor_prefix="req",
                                findings=exchange.findings)
    response_view = message_view(exchange.response, exchange.response_content_type, anchor_prefix="resp")
    findings = []
    for index, finding in enumerate(exchange.findings):
        title, refs = rule_info(finding.rule)
        anchor = request_view.anchors.get(index) if request_view else None
        findings.append(FindingRow(finding, title, refs, anchor))
    return render(request, "exchange.html", {
        "ws": workspace, "exchange": exchange, "names": who, "findings": findings,
        "request_view": request_view, "response_view": response_view,
        "vihf": vihf_rows(request_view.root if request_view else None),
    })


@router.get("/w/{workspace}/exchanges/{exchange_id}/{which}/parts/{number}")
def exchange_part(workspace: str, which: str, request: Request, exchange_id: int = Path(..., ge=1, le=MAX_ID),
                  number: int = Path(..., ge=1, le=10_000)) -> Response:
    """One MIME part of a logged body, as a download: it is whatever the client sent, so it is never shown
    inline from the console's origin (no sniffing, sandboxed if opened anyway)."""
    if which not in ("request", "response"):
        raise ConsoleError(404, "Partie inconnue : « request » ou « response » attendu.")
    with workspace_tx(request, workspace) as tx:
        exchange = tx.exchanges.get(workspace, exchange_id)
    if exchange is None:
        raise ConsoleError(404, f"Aucun échange n° {exchange_id} dans l'espace « {workspace} ».")
    data, content_type = ((exchange.request, exchange.request_content_type) if which == "request"
                          else (exchange.response, exchange.response_content_type))
    if data is None:
        raise ConsoleError(404, f"L'échange n° {exchange_id} n'a pas de corps ({which}).")
    parts, _, _ = split_parts(data, content_type)
    if number > len(parts):
        raise ConsoleError(404, f"Le corps n'a que {len(parts)} partie(s).")
    headers, content = parts[number - 1]
    extension = "xml" if "xml" in (headers.get("content-type") or content_type or "") else "bin"
    return Response(content=content, media_type="application/octet-stream", headers={
        "content-disposition": f'attachment; filename="echange-{exchange_id}-{which}-{number}.{extension}"',
        "x-content-type-options": "nosniff", "content-security-policy": "sandbox"})
