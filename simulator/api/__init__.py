"""The admin JSON API (``/api``): workspaces, patients and their DMP, authorisations, documents, the exchange
log, fault injection and the clock."""
from __future__ import annotations

from fastapi import APIRouter

from .workspaces import router as workspaces_router

router = APIRouter()
router.include_router(workspaces_router)
