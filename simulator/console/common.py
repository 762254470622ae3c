"""What every console page shares: the templates, the route class that turns errors into HTML pages, the
workspace unit of work, form reading and the same-origin check of the forms.

Bad input never becomes a 500: a route raises ``ConsoleError`` (or lets a ``StoreError`` or a validation error
through) and the visitor gets a page saying what is wrong, with the right 4xx status.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates

from ..api.common import ApiError, runtime_of, workspace_now  # noqa: F401 - the pages take these from here
from ..store import Exchange, InvalidWorkspaceId, StoreError, UnitOfWork
from . import labels

log = logging.getLogger("segur_sandbox.console")

HERE = Path(__file__).resolve().parent
PREFIX = "/ui"
MAX_FORM_BYTES = 64 * 1024

templates = Jinja2Templates(directory=str(HERE / "templates"))


class ConsoleError(Exception):
    """A page that cannot be shown: ``status`` and a sentence for the visitor."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _store_status(exc: StoreError) -> int:
    if isinstance(exc, InvalidWorkspaceId):
        return 422
    return 404 if isinstance(exc, LookupError) else 409


def _validation_message(exc: RequestValidationError) -> str:
    problems = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("query", "path", "body"))
        problems.append(f"{where or 'requête'} : {error.get('msg', 'invalide')}")
    return "Paramètres invalides — " + " ; ".join(problems)


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    return render(request, "error.html", {"status": status, "message": message}, status=status)


class ConsoleRoute(APIRoute):
    """A route whose expected errors become HTML error pages (the API's JSON errors stay the API's)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except (ConsoleError, ApiError) as exc:  # ApiError: a rule shared with the API refused the input
                return error_page(request, exc.status, exc.message)
            except StoreError as exc:
                return error_page(request, _store_status(exc), str(exc))
            except RequestValidationError as exc:
                return error_page(request, 422, _validation_message(exc))
            except HTTPException as exc:
                return error_page(request, exc.status_code, str(exc.detail))

        return handle


@contextmanager
def workspace_tx(request: Request, workspace: str, *, readonly: bool = True) -> Iterator[UnitOfWork]:
    """A unit of work in an existing workspace (a 404 page otherwise)."""
    with runtime_of(request).store.transaction(readonly=readonly) as tx:
        if tx.workspaces.get(workspace) is None:
            raise ConsoleError(404, f"Aucun espace de travail « {workspace} ».")
        yield tx


def render(request: Request, template: str, context: Mapping[str, Any], *, status: int = 200) -> HTMLResponse:
    root = request.scope.get("root_path", "")  # behind a proxy that mounts the sandbox under a path
    return templates.TemplateResponse(request, template, {"base": root + PREFIX, "root": root, **context},
                                      status_code=status)


def redirect(request: Request, path: str, **query: str | int | None) -> RedirectResponse:
    """303 after a form: the browser GETs the page again, a reload does not repeat the action."""
    params = {k: v for k, v in query.items() if v is not None}
    url = request.scope.get("root_path", "") + PREFIX + path + (f"?{urlencode(params)}" if params else "")
    return RedirectResponse(url, status_code=303)


async def read_form(request: Request) -> dict[str, str]:
    """The fields of a form post (urlencoded; the last value of a repeated name wins). Refused when it comes
    from another site: the API is unauthenticated, but a JSON call cannot be forged by a foreign page while a
    form post could, so the console forms check the origin."""
    _check_same_origin(request)
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise ConsoleError(413, "Formulaire trop volumineux.")
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if body and media != "application/x-www-form-urlencoded":  # a button-only form may come without a body
        raise ConsoleError(415, "Formulaire attendu (application/x-www-form-urlencoded).")
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=100))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ConsoleError(400, f"Formulaire illisible : {exc}") from None


def _check_same_origin(request: Request) -> None:
    if request.headers.get("sec-fetch-site") == "cross-site":
        raise ConsoleError(403, "Formulaire envoyé depuis un autre site : refusé.")
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host", ""):
        raise ConsoleError(403, "Formulaire envoyé depuis une autre origine : refusé.")


def flag(form: Mapping[str, str], name: str) -> bool:
    return form.get(name, "") in ("1", "on", "true", "yes")


def choice(value: str | None, allowed: Any, name: str) -> str | None:
    """An optional filter of a GET form: empty means none; anything outside ``allowed`` is a 422 page."""
    if value is None or value == "":
        return None
    if value not in allowed:
        raise ConsoleError(422, f"Valeur inconnue pour {name} : « {value} » (attendu : {', '.join(allowed)}).")
    return value


def names(tx: UnitOfWork, workspace: str, exchanges: tuple[Exchange, ...]) -> dict[str, str]:
    """Who the idNats and INSes of these exchanges are, for people reading the log."""
    found: dict[str, str] = {}
    for id_nat in {e.professional for e in exchanges if e.professional}:
        professional = tx.directory.get_professional(workspace, id_nat)
        if professional is not None:
            found[id_nat] = f"{professional.record.get('given', '')} {professional.record.get('family', '')}".strip()
    for ins in {e.patient_ins for e in exchanges if e.patient_ins}:
        patient = tx.patients.get(workspace, ins)
        if patient is not None:
            traits = patient.record.get("traits") or {}
            family = patient.record.get("used_name") or traits.get("birth_name", "")
            found[ins] = f"{traits.get('first_name', '')} {family}".strip()
    return found


# -- template helpers -------------------------------------------------------------------------------------------
def _label(code: Any, kind: str) -> str | None:
    return labels.label(kind, None if code is None else str(code))


def _when(value: datetime | None) -> str:
    """Times in UTC, to the second, as the exchange log records them."""
    return value.astimezone(UTC).strftime("%d/%m/%Y %H:%M:%S UTC") if value else "—"


def _size(value: int | None) -> str:
    if value is None:
        return "—"
    if value < 1024:
        return f"{value} o"
    if value < 1024 * 1024:
        return f"{value / 1024:.1f} Kio"
    return f"{value / 1024 / 1024:.1f} Mio"


def _query(request: Request, **changes: Any) -> str:
    """The current query string with some parameters changed (None removes one): paging links keep filters."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in changes]
    params += [(k, str(v)) for k, v in changes.items() if v is not None]
    return "?" + urlencode(params) if params else "?"


templates.env.globals.update(label=_label, labels=labels, query=_query)
templates.env.filters.update(when=_when, size=_size)
