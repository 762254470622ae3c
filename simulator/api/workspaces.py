"""Workspaces: each CI pipeline gets its own isolated DMP (``/w/{id}/si-dmp-server/…``). ``default`` always
exists: it can be reset, not deleted."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from ..store import UnitOfWork, Workspace
from .common import CONFLICT, ApiError, ErrorOut, api_router, log, runtime_of, workspace_now, workspace_tx

router = api_router("workspaces")
POPULATING = {**CONFLICT, 500: {"model": ErrorOut, "description": "Copying the seeded population failed"}}

WORKSPACE_ID = r"^[a-z0-9-]{1,64}$"


def _unset(value: object) -> bool:
    return value is None


class WorkspaceSettings(BaseModel):
    """A workspace's own settings; a setting absent here takes the server's value (its start options)."""

    model_config = ConfigDict(extra="allow")

    vihf_lenient: bool | None = Field(None, exclude_if=_unset,
                                      description="Accept unsigned VIHF assertions (early integration)")
    clock_skew_seconds: int | None = Field(None, exclude_if=_unset, description="Tolerated VIHF clock skew")
    max_query_results: int | None = Field(None, exclude_if=_unset,
                                          description="Above it, a stored query answers XDSTooManyResults")
    require_xades: bool | None = Field(None, exclude_if=_unset,
                                       description="ITI-41: refuse a feed without a valid XAdES signature document")
    tls_vihf_check: bool | None = Field(None, exclude_if=_unset,
                                        description="DMP over TLS: the client certificate must fit the VIHF's mode")
    xds_check_value_sets: bool | None = Field(None, exclude_if=_unset, description="ITI-41: check the CI-SIS value sets")
    xds_check_cda: bool | None = Field(None, exclude_if=_unset, description="ITI-41: check metadata against the CDA")
    xades_check_submission_set: bool | None = Field(
        None, exclude_if=_unset, description="Compare the XAdES digest of the submission set (off: the official "
                                             "example carries a placeholder)")
    insi_idam_allowed: list[str] | None = Field(None, exclude_if=_unset, description="INSi: accepted IDAM numbers")
    insi_not_found_fault: bool | None = Field(None, exclude_if=_unset,
                                              description="INSi: insi_101/insi_102 instead of CR 01")
    insi_auth_modes: list[str] | None = Field(None, exclude_if=_unset, description="INSi: cpx, mtls, none")
    insi_assertion_lenient: bool | None = Field(None, exclude_if=_unset,
                                                description="INSi: accept an unsigned assertion PS")
    insi_assertion_signer: str | None = Field(None, exclude_if=_unset, description="INSi: sign, auth or any")
    insi_strict_headers: bool | None = Field(None, exclude_if=_unset,
                                             description="INSi: refuse missing context headers")
    insi_matching: dict[str, Any] | None = Field(None, exclude_if=_unset, description="INSi: MatchingRules overrides")
    insi_tiq_prenom: bool | None = Field(None, exclude_if=_unset, description="INSi: TIQ carries Prenom")
    insi_verification: bool | None = Field(None, exclude_if=_unset,
                                           description="INSi: offer the (inferred) verification operation")


class WorkspaceSettingsPatch(BaseModel):
    """Settings to change; ``null`` removes the workspace's own value (back to the server's)."""

    model_config = ConfigDict(extra="forbid")

    vihf_lenient: bool | None = Field(None, description="Accept unsigned VIHF assertions (early integration)")
    clock_skew_seconds: int | None = Field(None, ge=0, le=86_400, description="Tolerated VIHF clock skew")
    max_query_results: int | None = Field(None, ge=1, le=100_000,
                                          description="Above it, a stored query answers XDSTooManyResults")
    require_xades: bool | None = Field(None,
                                       description="ITI-41: refuse a feed without a valid XAdES signature document")
    tls_vihf_check: bool | None = Field(None,
                                        description="DMP over TLS: the client certificate must fit the VIHF's mode")
    xds_check_value_sets: bool | None = Field(None, description="ITI-41: check the CI-SIS value sets")
    xds_check_cda: bool | None = Field(None, description="ITI-41: check metadata against the CDA")
    xades_check_submission_set: bool | None = Field(
        None, description="Compare the XAdES digest of the submission set (off: the official "
                                             "example carries a placeholder)")
    insi_idam_allowed: list[str] | None = Field(None, description="INSi: accepted IDAM numbers")
    insi_not_found_fault: bool | None = Field(None,
                                              description="INSi: insi_101/insi_102 instead of CR 01")
    insi_auth_modes: list[str] | None = Field(None, description="INSi: cpx, mtls, none")
    insi_assertion_lenient: bool | None = Field(None,
                                                description="INSi: accept an unsigned assertion PS")
    insi_assertion_signer: str | None = Field(None, description="INSi: sign, auth or any")
    insi_strict_headers: bool | None = Field(None,
                                             description="INSi: refuse missing context headers")
    insi_matching: dict[str, Any] | None = Field(None, description="INSi: MatchingRules overrides")
    insi_tiq_prenom: bool | None = Field(None, description="INSi: TIQ carries Prenom")
    insi_verification: bool | None = Field(None,
                                           description="INSi: offer the (inferred) verification operation")

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class WorkspaceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=WORKSPACE_ID, description="Slug used in /w/{id}/… URLs")
    populate: bool = Field(True, description="Copy the seeded population (patients, professionals, DMPs) into it")
    settings: WorkspaceSettingsPatch = Field(default_factory=WorkspaceSettingsPatch)


class WorkspacePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    settings: WorkspaceSettingsPatch


class WorkspaceOut(BaseModel):
    id: str
    created_at: datetime
    settings: WorkspaceSettings
    clock_offset_seconds: int = Field(description="The workspace clock runs this far from real time")
    now: datetime = Field(description="The workspace's now (real time + offset)")


class CountsOut(BaseModel):
    patients: int
    professionals: int
    structures: int
    authorizations: int
    documents: int
    submission_sets: int
    exchanges: int
    faults: int


class WorkspaceDetail(WorkspaceOut):
    counts: CountsOut


def _out(tx: UnitOfWork, workspace: Workspace) -> dict[str, Any]:
    return {"id": workspace.id, "created_at": workspace.created_at, "settings": dict(workspace.settings),
            "clock_offset_seconds": workspace.clock_offset_seconds, "now": workspace_now(tx, workspace.id)}


def _detail(request: Request, workspace: str) -> WorkspaceDetail:
    with workspace_tx(request, workspace, readonly=True) as tx:
        found = tx.workspaces.require(workspace)
        counts = tx.workspaces.counts(workspace)
        return WorkspaceDetail(**_out(tx, found), counts=CountsOut(**vars(counts)))


def _populator(request: Request) -> Callable[[str], None]:
    populate = runtime_of(request).populate
    if populate is None:
        raise ApiError(409, "this server has no seeded population to copy: pass populate=false")
    return populate


def _populate(populate: Callable[[str], None], workspace: str) -> None:
    try:
        populate(workspace)
    except Exception as exc:  # noqa: BLE001 - a server fault, said clearly instead of a bare 500
        log.exception("populating workspace %s failed", workspace)
        raise ApiError(500, f"populating workspace {workspace!r} failed: {exc}") from exc


@router.get("/workspaces")
def list_workspaces(request: Request) -> list[WorkspaceOut]:
    with runtime_of(request).store.transaction(readonly=True) as tx:
        return [WorkspaceOut(**_out(tx, w)) for w in tx.workspaces.list()]


@router.post("/workspaces", status_code=201, responses=POPULATING)
def create_workspace(body: WorkspaceIn, request: Request) -> WorkspaceDetail:
    """Create a workspace, by default filled with the seeded population (the same as ``default``'s at start).
    409 when the id is taken."""
    populate = _populator(request) if body.populate else None
    store = runtime_of(request).store
    with store.transaction() as tx:
        tx.workspaces.create(body.id, settings={k: v for k, v in body.settings.changes().items() if v is not None})
    if populate is not None:
        try:
            _populate(populate, body.id)
        except ApiError:
            with store.transaction() as tx:  # all or nothing: no half-filled workspace left behind
                tx.workspaces.delete(body.id)
            raise
    return _detail(request, body.id)


@router.get("/workspaces/{workspace}")
def get_workspace(workspace: str, request: Request) -> WorkspaceDetail:
    """The workspace, its settings, its clock and how many of each thing it holds."""
    return _detail(request, workspace)


@router.patch("/workspaces/{workspace}")
def update_workspace(workspace: str, body: WorkspacePatch, request: Request) -> WorkspaceDetail:
    """Change settings (merge: keys not given stay; ``null`` removes a key)."""
    with workspace_tx(request, workspace) as tx:
        tx.workspaces.update_settings(workspace, body.settings.changes())
    return _detail(request, workspace)


@router.post("/workspaces/{workspace}/reset", responses=POPULATING)
def reset_workspace(workspace: str, request: Request,
                    populate: bool = Query(False, description="Refill it with the seeded population")
                    ) -> WorkspaceDetail:
    """Empty the workspace (patients, directory, documents, exchange log, faults; clock back to real time),
    keeping its settings; then refill it with the seeded population when ``populate=true``."""
    populator = _populator(request) if populate else None
    with workspace_tx(request, workspace) as tx:
        tx.workspaces.reset(workspace)
    if populator is not None:
        _populate(populator, workspace)
    return _detail(request, workspace)


@router.delete("/workspaces/{workspace}", status_code=204, responses=CONFLICT)
def delete_workspace(workspace: str, request: Request) -> Response:
    """Delete the workspace and everything in it. ``default`` answers 409: reset it instead."""
    with runtime_of(request).store.transaction() as tx:
        if not tx.workspaces.delete(workspace):
            raise ApiError(404, f"no workspace {workspace!r}")
    return Response(status_code=204)
