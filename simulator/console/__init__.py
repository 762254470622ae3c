"""The web console at ``/ui`` (issue #7): watch and steer the sandbox in a browser.

Server-rendered pages (Jinja2 templates, a little plain JavaScript for the live exchange log), no build step and
no external network: the CSS and JS ship in ``static/``. Pages read the store directly (same process, no HTTP
call to itself) and change it through the same rules as the admin API.

    workspaces → a workspace → patients → a patient (DMP actions) → a document (CDA rendered)
                             → exchange log (live) → an exchange (request, response, VIHF, findings)
                             → controls (faults, clock)
    virtual cards, conformance runs (reports, evidence pack)
"""
from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from . import conformance, controls, exchanges, pages
from .common import HERE, PREFIX, ConsoleRoute, error_page

__all__ = ["PREFIX", "mount_console", "router"]

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
for area in (pages, exchanges, controls, conformance):
    router.include_router(area.router)


@router.get("/{rest:path}")
def not_found(rest: str, request: Request) -> HTMLResponse:
    """Any other address under /ui: an HTML 404 that leads back home, not the API's JSON one."""
    return error_page(request, 404, f"Aucune page à l'adresse « /ui/{rest} ».")


def mount_console(app: FastAPI, *, cards_dir: Path | None = None) -> None:
    """Serve the console on ``app``; ``cards_dir`` is where the virtual cards' slot files live (default:
    ``<data dir>/cards`` of the environment's settings)."""
    app.state.console_cards_dir = cards_dir
    # the static files first: the console's catch-all 404 route would otherwise answer for them
    app.mount(PREFIX + "/static", StaticFiles(directory=HERE / "static"), name="console-static")
    app.include_router(router, prefix=PREFIX)
