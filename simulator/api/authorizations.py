"""Authorizations of professionals on a patient's DMP: what TD0.2 reports (VALIDE, EXPIRE, INTERDIT; no row is
NON_EXISTE), what TD0.3 changes, what TD1.6 lists. Statuses are read at the workspace clock."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import Query, Request, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from ..store import Authorization, UnitOfWork
from .common import ApiError, api_router, workspace_now, workspace_tx
from .directory import ProfessionalOut, professional_out

router = api_router("authorizations")


class AuthorizationOut(BaseModel):
    patient_ins: str
    ps_id_nat: str
    status: Literal["VALIDE", "EXPIRE", "INTERDIT"] = Field(
        description="At the workspace clock: a VALIDE authorization past expires_at reads EXPIRE")
    is_mt: bool = Field(description="The professional is the patient's médecin traitant DMP")
    started_at: datetime
    last_action_at: datetime
    expires_at: datetime | None
    professional: ProfessionalOut | None = Field(description="null when the idNat is not in the directory")


class AuthorizationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["VALIDE", "EXPIRE", "INTERDIT"] = Field(
        description="INTERDIT: the patient blocked the professional (TD0.3 is then refused)")
    is_mt: bool | None = Field(None, description="Médecin traitant DMP (one per patient; only with VALIDE); "
                                                 "absent: unchanged")
    expires_at: AwareDatetime | None = Field(None, description="null: no expiry; absent: unchanged")

    @model_validator(mode="after")
    def _mt_needs_valide(self) -> AuthorizationIn:
        if self.is_mt and self.status != "VALIDE":
            raise ValueError(f"is_mt=true needs status VALIDE (a médecin traitant is authorized), not {self.status}")
        return self


def authorization_out(tx: UnitOfWork, workspace: str, authorization: Authorization, now: datetime
                      ) -> AuthorizationOut:
    professional = tx.directory.get_professional(workspace, authorization.ps_id_nat)
    return AuthorizationOut(
        patient_ins=authorization.patient_ins, ps_id_nat=authorization.ps_id_nat,
        status=authorization.status_at(now), is_mt=authorization.is_mt,
        started_at=authorization.started_at, last_action_at=authorization.last_action_at,
        expires_at=authorization.expires_at, professional=professional_out(professional) if professional else None)


def authorizations_of(tx: UnitOfWork, workspace: str, ins: str, now: datetime,
                      mode: Literal["ACTIVE", "INTERDITE", "TOUTE"] = "TOUTE") -> list[AuthorizationOut]:
    return [authorization_out(tx, workspace, a, now)
            for a in tx.authorizations.list_by_patient(workspace, ins, mode=mode, now=now)]


@router.get("/workspaces/{workspace}/patients/{ins}/authorizations")
def list_authorizations(workspace: str, ins: str, request: Request,
                        mode: Literal["ACTIVE", "INTERDITE", "TOUTE"] = Query(
                            "TOUTE", description="As TD1.6: ACTIVE (valid now), INTERDITE (blocked), TOUTE (all)")
                        ) -> list[AuthorizationOut]:
    with workspace_tx(request, workspace, readonly=True) as tx:
        tx.patients.require(workspace, ins)
        return authorizations_of(tx, workspace, ins, workspace_now(tx, workspace), mode)


@router.put("/workspaces/{workspace}/patients/{ins}/authorizations/{id_nat}",
            responses={201: {"model": AuthorizationOut, "description": "Created"}})
def set_authorization(workspace: str, ins: str, id_nat: str, body: AuthorizationIn, request: Request,
                      response: Response) -> AuthorizationOut:
    """Add or change the authorization of professional ``id_nat`` (the VIHF NameID; it need not be in the
    directory) on the patient's DMP, dated at the workspace clock. 201 when it did not exist."""
    with workspace_tx(request, workspace) as tx:
        tx.patients.require(workspace, ins)
        now = workspace_now(tx, workspace)
        existed = tx.authorizations.get(workspace, ins, id_nat) is not None
        changes = body.model_dump(exclude_unset=True)
        kwargs = {"expires_at": changes["expires_at"]} if "expires_at" in changes else {}
        saved = tx.authorizations.set(workspace, ins, id_nat, status=body.status, now=now, is_mt=body.is_mt,
                                      **kwargs)
        response.status_code = 200 if existed else 201
        return authorization_out(tx, workspace, saved, now)


@router.delete("/workspaces/{workspace}/patients/{ins}/authorizations/{id_nat}", status_code=204)
def delete_authorization(workspace: str, ins: str, id_nat: str, request: Request) -> Response:
    """Remove the authorization (TD0.2 then reports NON_EXISTE)."""
    with workspace_tx(request, workspace) as tx:
        tx.patients.require(workspace, ins)
        if not tx.authorizations.remove(workspace, ins, id_nat):
            raise ApiError(404, f"professional {id_nat!r} has no authorization on patient {ins!r}")
    return Response(status_code=204)
