"""Workspaces: each CI pipeline gets its own isolated DMP."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from ..store import InvalidWorkspaceId, WorkspaceExists

router = APIRouter(tags=["workspaces"])


class WorkspaceIn(BaseModel):
    id: str = Field(pattern=r"^[a-z0-9-]{1,64}$", description="Slug used in /w/{id}/… URLs")
    populate: bool = Field(True, description="Copy the seeded population (patients, professionals, DMPs) into it")
    settings: dict[str, Any] = Field(default_factory=dict)


@router.get("/workspaces")
def list_workspaces(request: Request) -> list[dict[str, Any]]:
    with request.app.state.runtime.store.transaction(readonly=True) as tx:
        return [{"id": w.id, "settings": w.settings} for w in tx.workspaces.list()]


@router.post("/workspaces", status_code=201)
def create_workspace(body: WorkspaceIn, request: Request) -> dict[str, Any]:
    runtime = request.app.state.runtime
    try:
        with runtime.store.transaction() as tx:
            workspace = tx.workspaces.create(body.id, settings=body.settings)
    except WorkspaceExists as exc:
        raise HTTPException(409, f"workspace {body.id!r} already exists") from exc
    except InvalidWorkspaceId as exc:
        raise HTTPException(422, str(exc)) from exc
    if body.populate and runtime.populate is not None:
        runtime.populate(workspace.id)
    return {"id": workspace.id, "settings": workspace.settings}
