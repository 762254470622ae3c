"""Patients and the state of their DMP (open, closed, none; MES attachment, internet account, oppositions)."""
from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from typing import Any, Literal

from fastapi import Query, Request, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from segur_sandbox.fixtures.identity import INS_OIDS, OID_INS_NIR_TEST, InvalidIdentifier, check_nir

from ..dmp.messages.patients import CLOSURE_AT_PATIENT_REQUEST
from ..store import Patient, UnitOfWork
from .authorizations import AuthorizationOut, authorization_out, authorizations_of
from .common import CONFLICT, MAX_ID, MAX_PAGE, ApiError, Page, api_router, workspace_now, workspace_tx

router = api_router("patients")

DmpStateName = Literal["OPEN", "CLOSED", "NONE"]


# -- out -----------------------------------------------------------------------------------------------------
class DmpOut(BaseModel):
    state: DmpStateName = Field(description="OPEN, CLOSED, or NONE (no DMP: TD0.2 answers NF)")
    closed_at: datetime | None
    closure_reason: str | None
    mes_attached: bool = Field(description="Attached to Mon espace santé")
    internet_account: bool
    opposition_bris_de_glace: bool
    opposition_acces_urgence: bool


class PatientSummary(BaseModel):
    ins: str = Field(description="Matricule INS: NIR + key, 15 characters")
    ins_oid: str
    ref: str | None = Field(None, description="The fixtures id (PAT-0000001)")
    birth_name: str | None
    used_name: str | None
    first_names: list[str]
    birth_date: str | None
    sex: str | None
    dmp_state: DmpStateName


class PatientDetail(PatientSummary):
    record: dict[str, Any] = Field(description="The fixtures-shaped record")
    dmp: DmpOut
    authorizations: list[AuthorizationOut] = Field(description="Every authorization, status at the workspace clock")
    medecin_traitant: AuthorizationOut | None
    documents: int = Field(description="Document entries of the patient (every version and status)")
    created_at: datetime | None
    updated_at: datetime | None


class PatientPage(Page):
    items: list[PatientSummary]


# -- in ------------------------------------------------------------------------------------------------------
class InsIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    nir: str = Field(pattern=r"^[0-9]{5}(?:[0-9]{2}|2[ABab])[0-9]{6}$", description="13 characters")
    key: str = Field(pattern=r"^[0-9]{2}$")
    oid: str = Field(OID_INS_NIR_TEST, description="1.2.250.1.213.1.4.8 (NIR), .9 (NIA), .10 (test), .11 (demo)")

    @model_validator(mode="after")
    def _valid(self) -> InsIn:
        try:
            check_nir(self.nir, self.key)
        except InvalidIdentifier as exc:
            raise ValueError(str(exc)) from exc
        if self.oid not in INS_OIDS:
            raise ValueError(f"INS OID {self.oid!r}: expected one of {', '.join(sorted(INS_OIDS))}")
        return self

    @property
    def matricule(self) -> str:
        return f"{self.nir}{self.key}"


class TraitsIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    birth_name: str = Field(min_length=1)
    first_names: list[str] = Field(min_length=1)
    first_name: str | None = Field(None, description="Default: the first of first_names")
    sex: Literal["M", "F", "I"]
    birth_date: date
    birth_place: str | None = Field(None, description="COG code of the birth place")


class PatientRecordIn(BaseModel):
    """A patient as fixtures/people.py makes them; fields beyond these are kept as given."""

    model_config = ConfigDict(extra="allow")

    id: str | None = Field(None, description="Your own id for the patient (fixtures: PAT-0000001)")
    ins: InsIn
    traits: TraitsIn
    used_name: str | None = None

    def as_record(self) -> dict[str, Any]:
        record = self.model_dump(mode="json")
        record["traits"]["first_name"] = self.traits.first_name or self.traits.first_names[0]
        return record


class DmpChange(BaseModel):
    """The DMP fields to change; absent ones stay. Closing without ``closed_at`` dates it at the workspace
    clock (reason: FERMETURE_DEMANDE_PATIENT unless given); opening or removing the DMP clears both."""

    model_config = ConfigDict(extra="forbid")

    state: DmpStateName | None = None
    closed_at: AwareDatetime | None = None
    closure_reason: str | None = Field(None, min_length=1)
    mes_attached: bool | None = None
    internet_account: bool | None = None
    opposition_bris_de_glace: bool | None = None
    opposition_acces_urgence: bool | None = None

    @model_validator(mode="after")
    def _no_null_flags(self) -> DmpChange:
        nulls = [n for n in self.model_fields_set - {"closed_at", "closure_reason"} if getattr(self, n) is None]
        if nulls:
            raise ValueError(f"{', '.join(sorted(nulls))} cannot be null: leave it out to keep it")
        return self


class PatientIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    record: PatientRecordIn
    dmp: DmpChange = Field(default_factory=DmpChange,
                           description="For a new patient, absent fields take: OPEN, MES attached, no internet "
                                       "account, no opposition; for an existing one they stay")


# -- helpers -------------------------------------------------------------------------------------------------
def _summary_fields(patient: Patient) -> dict[str, Any]:
    r = patient.record
    traits = r.get("traits") or {}
    return {"ins": patient.ins, "ins_oid": patient.ins_oid, "ref": r.get("id"), "birth_name": traits.get("birth_name"),
            "used_name": r.get("used_name"), "first_names": list(traits.get("first_names") or []),
            "birth_date": traits.get("birth_date"), "sex": traits.get("sex"), "dmp_state": patient.dmp_state}


def _dmp_out(patient: Patient) -> DmpOut:
    return DmpOut(state=patient.dmp_state, closed_at=patient.closed_at, closure_reason=patient.closure_reason,
                  mes_attached=patient.mes_attached, internet_account=patient.internet_account,
                  opposition_bris_de_glace=patient.opposition_bris_de_glace,
                  opposition_acces_urgence=patient.opposition_acces_urgence)


def patient_detail(tx: UnitOfWork, workspace: str, ins: str) -> PatientDetail:
    patient = tx.patients.require(workspace, ins)
    now = workspace_now(tx, workspace)
    mt = tx.authorizations.medecin_traitant(workspace, ins)
    return PatientDetail(**_summary_fields(patient), record=dict(patient.record), dmp=_dmp_out(patient),
                         authorizations=authorizations_of(tx, workspace, ins, now),
                         medecin_traitant=authorization_out(tx, workspace, mt, now) if mt else None,
                         documents=tx.documents.count(workspace, ins), created_at=patient.created_at,
                         updated_at=patient.updated_at)


def _dmp_fields(change: DmpChange, current: Patient | None, now: datetime) -> dict[str, Any]:
    """The store fields a DMP change sets, checked against the state it leads to (422 when inconsistent)."""
    given = change.model_dump(exclude_unset=True)
    state = given.pop("state", None) or (current.dmp_state if current else "OPEN")
    fields: dict[str, Any] = {"dmp_state": state, **given}
    if state == "CLOSED":
        if current is None or current.dmp_state != "CLOSED":  # closing now: date and reason default
            fields.setdefault("closed_at", now)
            fields.setdefault("closure_reason", CLOSURE_AT_PATIENT_REQUEST)
    else:
        if given.get("closed_at") is not None or given.get("closure_reason") is not None:
            raise ApiError(422, f"closed_at and closure_reason only go with state CLOSED (the DMP would be {state})")
        fields.update(closed_at=None, closure_reason=None)
    return fields


# -- routes --------------------------------------------------------------------------------------------------
@router.get("/workspaces/{workspace}/patients")
def list_patients(workspace: str, request: Request,
                  dmp_state: DmpStateName | None = Query(None, description="Only patients whose DMP is in this state"),
                  limit: int = Query(100, ge=1, le=MAX_PAGE), offset: int = Query(0, ge=0, le=MAX_ID)) -> PatientPage:
    """Patients by INS, a page at a time."""
    with workspace_tx(request, workspace, readonly=True) as tx:
        items = tx.patients.list(workspace, limit=limit, offset=offset, dmp_state=dmp_state)
        return PatientPage(items=[PatientSummary(**_summary_fields(p)) for p in items],
                           total=tx.patients.count(workspace, dmp_state=dmp_state), limit=limit, offset=offset)


@router.get("/workspaces/{workspace}/patients/{ins}")
def get_patient(workspace: str, ins: str, request: Request) -> PatientDetail:
    """The record, the DMP state, every authorization and the médecin traitant DMP."""
    with workspace_tx(request, workspace, readonly=True) as tx:
        return patient_detail(tx, workspace, ins)


@router.patch("/workspaces/{workspace}/patients/{ins}/dmp")
def change_dmp(workspace: str, ins: str, body: DmpChange, request: Request) -> PatientDetail:
    """Open, close or remove the DMP, set the MES attachment, the internet account, the oppositions."""
    with workspace_tx(request, workspace) as tx:
        current = tx.patients.require(workspace, ins)
        fields = _dmp_fields(body, current, workspace_now(tx, workspace))
        tx.patients.set_state(workspace, ins, **fields)
        return patient_detail(tx, workspace, ins)


def _save(tx: UnitOfWork, workspace: str, body: PatientIn, current: Patient | None) -> PatientDetail:
    patient = Patient.from_record(body.record.as_record())
    if current is not None:  # a new record, the DMP as it was
        patient = replace(current, record=patient.record, ins_oid=patient.ins_oid)
    fields = _dmp_fields(body.dmp, current, workspace_now(tx, workspace))
    tx.patients.upsert(workspace, replace(patient, **fields))
    return patient_detail(tx, workspace, body.record.ins.matricule)


@router.post("/workspaces/{workspace}/patients", status_code=201, responses=CONFLICT)
def create_patient(workspace: str, body: PatientIn, request: Request) -> PatientDetail:
    """Add a patient from a fixtures-shaped record; 409 when the INS is taken (PUT replaces)."""
    ins = body.record.ins.matricule
    with workspace_tx(request, workspace) as tx:
        if tx.patients.get(workspace, ins) is not None:
            raise ApiError(409, f"patient {ins} already exists: PUT /api/workspaces/{workspace}/patients/{ins} "
                                "replaces it")
        return _save(tx, workspace, body, None)


@router.put("/workspaces/{workspace}/patients/{ins}",
            responses={201: {"model": PatientDetail, "description": "Created"}})
def put_patient(workspace: str, ins: str, body: PatientIn, request: Request, response: Response) -> PatientDetail:
    """Create or replace the patient's record (201 when new); DMP fields not given stay as they were."""
    if body.record.ins.matricule != ins:
        raise ApiError(422, f"the record's INS {body.record.ins.matricule} is not the INS of the URL {ins}")
    with workspace_tx(request, workspace) as tx:
        current = tx.patients.get(workspace, ins)
        response.status_code = 200 if current else 201
        return _save(tx, workspace, body, current)
