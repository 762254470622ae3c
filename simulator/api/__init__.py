"""The admin JSON API (``/api``, OpenAPI at ``/openapi.json``): workspaces, patients and their DMP,
authorizations, the directory, documents, the exchange log, fault injection, the clock and the results of
conformance runs.

One module per area, each an ``APIRouter`` whose routes answer errors as ``{"error": …}`` (see ``common``).
Workspace-scoped routes live under ``/api/workspaces/{workspace}/…``.
"""
from __future__ import annotations

from fastapi import APIRouter

from . import (authorizations, clock, conformance_runs, directory, documents, exchanges, faults, patients,
               workspaces)

AREAS = (workspaces, patients, authorizations, directory, documents, exchanges, faults, clock, conformance_runs)
PREFIX = "/api"  # where app.py mounts ``router``

router = APIRouter()
for area in AREAS:
    router.include_router(area.router)
