"""The exchange log: every SOAP request and response, its timing, caller, transaction and check findings.

Live polling: remember ``latest_id`` and ask again with ``since_id`` set to it; the answer holds the newer
exchanges, newest first. When ``truncated`` is true more arrived than ``limit``: page back with ``before_id``
set to the oldest id received (keeping ``since_id``). After the log was emptied (reset, DELETE) ids may start
again lower: a ``latest_id`` below your ``since_id`` means "start over from latest_id".
"""
from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Path, Query, Request, Response
from pydantic import BaseModel, Field

from ..store import Exchange
from .common import MAX_ID, UNTRUSTED_BYTES_HEADERS, ApiError, api_router, workspace_tx

router = api_router("exchanges")

VerdictName = Literal["pass", "fail", "error"]
ExchangeId = Annotated[int, Path(ge=1, le=MAX_ID)]
MAX_LIST = 500


class FindingOut(BaseModel):
    rule: str
    severity: str = Field(description="error | warning | info")
    message: str
    location: str | None


class ExchangeOut(BaseModel):
    id: int = Field(description="Increasing: poll with since_id")
    started_at: datetime
    duration_ms: float
    service: str = Field(description="The service path name: patients, registry, repository…")
    transaction: str | None = Field(description="TD0.2, TD2.1…; null when the request could not be identified")
    action: str | None = Field(description="The SOAP action")
    http_status: int
    verdict: VerdictName | None
    patient_ins: str | None
    professional: str | None = Field(description="The caller's idNat (VIHF NameID)")
    request_content_type: str | None
    response_content_type: str | None
    findings: list[FindingOut]


class Body(BaseModel):
    content_type: str | None
    encoding: Literal["text", "base64"] = Field(
        description="text: UTF-8 XML or multipart as is; base64: anything else (or not valid UTF-8)")
    size: int
    data: str


class ExchangeDetail(ExchangeOut):
    principal: dict[str, Any] | None = Field(description="Who called, as the VIHF said")
    request: Body | None
    response: Body | None


class ExchangeList(BaseModel):
    items: list[ExchangeOut] = Field(description="Newest first")
    latest_id: int | None = Field(description="The newest exchange of the workspace: the next since_id")
    truncated: bool = Field(description="More exchanges match than limit: page back with before_id")


def _fields(exchange: Exchange) -> dict[str, Any]:
    names = [n for n in ExchangeOut.model_fields if n != "findings"]
    return {**{n: getattr(exchange, n) for n in names}, "findings": [f.as_dict() for f in exchange.findings]}


def _body(data: bytes | None, content_type: str | None) -> Body | None:
    if data is None:
        return None
    kind = (content_type or "").lower()
    if "xml" in kind or "multipart" in kind or kind.startswith("text/"):
        try:
            return Body(content_type=content_type, encoding="text", size=len(data), data=data.decode("utf-8"))
        except UnicodeDecodeError:  # a binary MTOM part: keep every byte
            pass
    return Body(content_type=content_type, encoding="base64", size=len(data), data=base64.b64encode(data).decode())


def _require(request: Request, workspace: str, exchange_id: int) -> Exchange:
    with workspace_tx(request, workspace, readonly=True) as tx:
        found = tx.exchanges.get(workspace, exchange_id)
    if found is None:
        raise ApiError(404, f"no exchange {exchange_id} in workspace {workspace!r}")
    return found


@router.get("/workspaces/{workspace}/exchanges")
def list_exchanges(workspace: str, request: Request,
                   transaction: list[str] | None = Query(None, description="TD0.2, TD2.1… (repeat for several)"),
                   verdict: VerdictName | None = None,
                   professional: str | None = Query(None, description="The caller's idNat"),
                   patient: str | None = Query(None, description="The patient's INS"),
                   since_id: int | None = Query(None, ge=0, le=MAX_ID,
                                                description="Only newer than this id (live polling)"),
                   before_id: int | None = Query(None, ge=1, le=MAX_ID,
                                                 description="Only older than this id (paging back)"),
                   limit: int = Query(50, ge=1, le=MAX_LIST)) -> ExchangeList:
    """The log, newest first, without the bodies (GET one exchange for them)."""
    filters: dict[str, Any] = {"transaction": transaction or None, "verdict": verdict, "professional": professional,
                               "patient_ins": patient, "since_id": since_id}
    with workspace_tx(request, workspace, readonly=True) as tx:
        items = tx.exchanges.list(workspace, **filters, before_id=before_id, limit=limit + 1)
        latest = tx.exchanges.latest_id(workspace)
    return ExchangeList(items=[ExchangeOut(**_fields(e)) for e in items[:limit]], latest_id=latest,
                        truncated=len(items) > limit)


@router.get("/workspaces/{workspace}/exchanges/{exchange_id}")
def get_exchange(workspace: str, exchange_id: ExchangeId, request: Request) -> ExchangeDetail:
    """One exchange with the caller and both bodies."""
    exchange = _require(request, workspace, exchange_id)
    return ExchangeDetail(**_fields(exchange), principal=dict(exchange.principal) if exchange.principal else None,
                          request=_body(exchange.request, exchange.request_content_type),
                          response=_body(exchange.response, exchange.response_content_type))


@router.get("/workspaces/{workspace}/exchanges/{exchange_id}/{part}",
            responses={200: {"content": {"application/octet-stream": {}}, "description": "The raw frame"}})
def get_exchange_frame(workspace: str, exchange_id: ExchangeId, part: Literal["request", "response"],
                       request: Request) -> Response:
    """The raw request or response frame, byte for byte, with its content type (homologation evidence)."""
    exchange = _require(request, workspace, exchange_id)
    data, content_type = ((exchange.request, exchange.request_content_type) if part == "request"
                          else (exchange.response, exchange.response_content_type))
    if data is None:
        raise ApiError(404, f"exchange {exchange_id} has no {part} body")
    return Response(content=data, headers={"content-type": content_type or "application/octet-stream",
                                           **UNTRUSTED_BYTES_HEADERS})


class Cleared(BaseModel):
    removed: int


@router.delete("/workspaces/{workspace}/exchanges")
def clear_exchanges(workspace: str, request: Request) -> Cleared:
    """Empty the log."""
    with workspace_tx(request, workspace) as tx:
        return Cleared(removed=tx.exchanges.prune(workspace, keep_last=0))
