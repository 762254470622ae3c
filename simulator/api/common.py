"""What every admin API module shares: the route class that turns errors into ``{"error": …}``, the workspace
unit of work, paging, and the error models the OpenAPI documents.

Every error answer is JSON with an ``error`` string: 404 for an unknown workspace, patient, document…, 409 for a
conflict with the current state, 422 for a request that does not validate (``detail`` then keeps pydantic's list
of problems, ``error`` sums them up). Bad input never becomes a 500.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Callable, Coroutine, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

from ..dmp.service import Runtime
from ..store import InvalidWorkspaceId, StoreError, UnitOfWork

log = logging.getLogger("segur_sandbox.api")

MAX_PAGE = 1000
MAX_ID = 2**63 - 1  # a database id: larger numbers are refused (422), not sent to the database


class ApiError(Exception):
    """An answer other than success: ``status`` and a sentence saying what is wrong and what to do."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class ErrorOut(BaseModel):
    error: str = Field(description="What went wrong, in one sentence")


class ValidationErrorOut(ErrorOut):
    detail: list[dict[str, Any]] = Field(description="pydantic's list of problems: loc, msg, type, input")


def _where(loc: Sequence[Any]) -> str:
    return ".".join(str(part) for part in loc) or "request"


def _json_safe(value: Any) -> Any:
    """JSON has no NaN or infinity (a body may carry 1e999): those become strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    return value


def _problem(error: dict[str, Any]) -> str:
    loc = error.get("loc", ())
    if error.get("type") == "json_invalid":  # loc is ("body", character position)
        position = f" at character {loc[1]}" if len(loc) > 1 else ""
        return f"body: not valid JSON{position} ({(error.get('ctx') or {}).get('error', 'decode error')})"
    return f"{_where(loc)}: {error.get('msg', 'invalid')}"


def validation_message(errors: Sequence[dict[str, Any]]) -> str:
    return "invalid request: " + "; ".join(_problem(e) for e in errors)


def _store_error_status(exc: StoreError) -> int:
    if isinstance(exc, InvalidWorkspaceId):
        return 422
    if isinstance(exc, LookupError):
        return 404
    return 409


def error_response(exc: Exception) -> JSONResponse | None:
    """The JSON answer for an error a handler may raise on purpose; None for anything else (a bug)."""
    if isinstance(exc, RequestValidationError):
        errors = _json_safe(jsonable_encoder(exc.errors()))
        return JSONResponse({"error": validation_message(errors), "detail": errors}, status_code=422)
    if isinstance(exc, ApiError):
        return JSONResponse({"error": exc.message}, status_code=exc.status)
    if isinstance(exc, StoreError):
        return JSONResponse({"error": str(exc)}, status_code=_store_error_status(exc))
    if isinstance(exc, HTTPException):  # FastAPI's own, e.g. a body it cannot parse
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)
    return None


class ApiRoute(APIRoute):
    """A route whose errors are ``{"error": …}`` answers (the app's exception handlers stay untouched)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                answer = error_response(exc)
                if answer is None:
                    raise
                return answer

        return handle


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "Unknown workspace (or the resource named in the path)"},
    422: {"model": ValidationErrorOut, "description": "The request does not validate"},
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorOut, "description": "Conflicts with the current state"},
}


def api_router(tag: str) -> APIRouter:
    return APIRouter(tags=[tag], route_class=ApiRoute, responses=ERROR_RESPONSES)


def runtime_of(request: Request) -> Runtime:
    return request.app.state.runtime  # type: ignore[no-any-return]


@contextmanager
def workspace_tx(request: Request, workspace: str, *, readonly: bool = False) -> Iterator[UnitOfWork]:
    """A unit of work in an existing workspace (404 otherwise)."""
    with runtime_of(request).store.transaction(readonly=readonly) as tx:
        if tx.workspaces.get(workspace) is None:
            raise ApiError(404, f"no workspace {workspace!r}: create it with POST /api/workspaces")
        yield tx


def workspace_now(tx: UnitOfWork, workspace: str) -> datetime:
    """The workspace clock: real time shifted by its offset."""
    return tx.controls.workspace_now(workspace, datetime.now(UTC))


class Page(BaseModel):
    total: int = Field(description="How many match the filters")
    limit: int
    offset: int


# Bytes a client sent, served back: never rendered by a browser on the sandbox's origin (a client could send
# text/html or SVG; the console lives on the same origin).
UNTRUSTED_BYTES_HEADERS = {"x-content-type-options": "nosniff", "content-security-policy": "sandbox",
                           "content-disposition": "attachment"}
