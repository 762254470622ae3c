"""Fault injection: make the next matching DMP requests of a workspace slow, or fail the way the real service
(or the network) can, to test a client's error handling (PRE_ERR).

A fault matches a request by transaction (absent: any), and optionally patient and caller; it fires for the next
``remaining`` matching requests (absent: until deleted), the oldest fault first. Kinds and their ``params``:

* ``latency`` {ms}: answer normally, that much later;
* ``soap_fault`` {code, reason, sender?}: a DMP SOAP fault (HTTP 500) with ``code`` as the Subcode;
* ``registry_error`` {code, context?, severity?}: an XDS RegistryResponse in Failure (XDS transactions only);
* ``http_503``: HTTP 503, no SOAP;
* ``drop_connection``: the connection is cut in the middle of the answer.
"""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..dmp.messages import CATALOGUE
from ..insi.constants import OPERATIONS as INSI_OPERATION_LIST
from .common import MAX_ID, ApiError, api_router, workspace_tx

router = api_router("faults")

INSI_OPERATIONS: tuple[str, ...] = tuple(operation.name for operation in INSI_OPERATION_LIST)
TRANSACTIONS: tuple[str, ...] = tuple(t for entry in CATALOGUE for t in entry.transactions) + INSI_OPERATIONS
XDS_TRANSACTIONS: tuple[str, ...] = tuple(t for entry in CATALOGUE if entry.service in ("registry", "repository")
                                          for t in entry.transactions)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LatencyParams(_Strict):
    ms: int = Field(ge=0, le=120_000, description="Delay before the normal answer")


class SoapFaultParams(_Strict):
    code: str = Field(min_length=1, description="The DMP code, sent as the SOAP Subcode (DMPAccessDenied…)")
    reason: str = Field(min_length=1, description="The fault Reason text")
    sender: bool = Field(True, description="soap:Sender (the client's fault) or soap:Receiver")


class RegistryErrorParams(_Strict):
    code: str = Field(min_length=1, description="The RegistryError errorCode (XDSRegistryBusy…)")
    context: str | None = Field(None, description="codeContext")
    severity: Literal["Error", "Warning"] = "Error"


class NoParams(_Strict):
    pass


class _FaultBase(_Strict):
    transaction: str | None = Field(None, description="TD0.2, TD2.1…; absent: any transaction")
    remaining: int | None = Field(None, ge=1, description="How many matching requests it hits; absent: until deleted")
    patient_ins: str | None = Field(None, min_length=15, max_length=15, description="Only for this patient")
    professional: str | None = Field(None, min_length=1, description="Only for this caller (idNat)")

    @model_validator(mode="after")
    def _known_transaction(self) -> _FaultBase:
        if self.transaction is not None and self.transaction not in TRANSACTIONS:
            raise ValueError(f"unknown transaction {self.transaction!r}: expected one of {', '.join(TRANSACTIONS)}")
        return self


class LatencyFault(_FaultBase):
    kind: Literal["latency"]
    params: LatencyParams


class SoapFaultFault(_FaultBase):
    kind: Literal["soap_fault"]
    params: SoapFaultParams


class RegistryErrorFault(_FaultBase):
    kind: Literal["registry_error"]
    params: RegistryErrorParams

    @model_validator(mode="after")
    def _xds_only(self) -> RegistryErrorFault:
        if self.transaction not in XDS_TRANSACTIONS + INSI_OPERATIONS:
            raise ValueError("a registry_error is an XDS answer (or, for INSi, a forced CodeCR): give an XDS "
                             "transaction or an INSi operation "
                             f"({', '.join(XDS_TRANSACTIONS)}); use soap_fault for the others")
        return self


class Http503Fault(_FaultBase):
    kind: Literal["http_503"]
    params: NoParams = Field(default_factory=NoParams)


class DropConnectionFault(_FaultBase):
    kind: Literal["drop_connection"]
    params: NoParams = Field(default_factory=NoParams)


FaultId = Annotated[int, Path(ge=1, le=MAX_ID)]
FaultIn = Annotated[LatencyFault | SoapFaultFault | RegistryErrorFault | Http503Fault | DropConnectionFault,
                    Field(discriminator="kind")]


class FaultOut(BaseModel):
    id: int
    kind: Literal["latency", "soap_fault", "registry_error", "http_503", "drop_connection"]
    transaction: str | None
    params: dict[str, Any]
    remaining: int | None = Field(description="Hits left; null: until deleted")
    patient_ins: str | None
    professional: str | None
    created_at: datetime | None


class Cleared(BaseModel):
    removed: int


def _out(fault: Any) -> FaultOut:
    return FaultOut(id=fault.id, kind=fault.kind, transaction=fault.transaction, params=dict(fault.params),
                    remaining=fault.remaining, patient_ins=fault.patient_ins, professional=fault.professional,
                    created_at=fault.created_at)


@router.get("/workspaces/{workspace}/faults")
def list_faults(workspace: str, request: Request,
                transaction: str | None = Query(None, description="Only those set for this transaction")
                ) -> list[FaultOut]:
    """The faults waiting to fire, oldest (first to fire) first."""
    with workspace_tx(request, workspace, readonly=True) as tx:
        return [_out(f) for f in tx.controls.list_faults(workspace, transaction=transaction)]


@router.post("/workspaces/{workspace}/faults", status_code=201)
def add_fault(workspace: str, body: FaultIn, request: Request) -> FaultOut:
    with workspace_tx(request, workspace) as tx:
        fault = tx.controls.add_fault(workspace, body.kind, transaction=body.transaction,
                                      params=body.params.model_dump(exclude_none=True), remaining=body.remaining,
                                      patient_ins=body.patient_ins, professional=body.professional)
        return _out(fault)


@router.get("/workspaces/{workspace}/faults/{fault_id}")
def get_fault(workspace: str, fault_id: FaultId, request: Request) -> FaultOut:
    with workspace_tx(request, workspace, readonly=True) as tx:
        fault = tx.controls.get_fault(workspace, fault_id)
    if fault is None:
        raise ApiError(404, f"no fault {fault_id} in workspace {workspace!r} (used up, or deleted)")
    return _out(fault)


@router.delete("/workspaces/{workspace}/faults/{fault_id}", status_code=204)
def delete_fault(workspace: str, fault_id: FaultId, request: Request) -> Response:
    with workspace_tx(request, workspace) as tx:
        if not tx.controls.remove_fault(workspace, fault_id):
            raise ApiError(404, f"no fault {fault_id} in workspace {workspace!r} (used up, or deleted)")
    return Response(status_code=204)


@router.delete("/workspaces/{workspace}/faults")
def clear_faults(workspace: str, request: Request,
                 transaction: str | None = Query(None, description="Only those set for this transaction")) -> Cleared:
    with workspace_tx(request, workspace) as tx:
        return Cleared(removed=tx.controls.clear_faults(workspace, transaction=transaction))
