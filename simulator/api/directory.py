"""The directory: health professionals and structures of a workspace (fixtures records, read only here)."""
from __future__ import annotations

from typing import Any

from fastapi import Query, Request
from pydantic import BaseModel, Field

from ..store import Professional, Structure, UnitOfWork
from .common import MAX_ID, MAX_PAGE, ApiError, Page, api_router, workspace_tx

router = api_router("directory")
_ALL = 1_000_000


class ProfessionalOut(BaseModel):
    id_nat: str = Field(description="idNat_PS: 8 + RPPS, 0 + ADELI…; the VIHF NameID")
    ref: str | None = Field(None, description="The fixtures id (PS-00001)")
    family: str | None = None
    given: str | None = None
    profession: str | None = Field(None, description="Profession code (10 = médecin…)")
    structure_ref: str | None = None


class StructureOut(BaseModel):
    id_nat: str = Field(description="idNat_Struct: 1 + FINESS, 3 + SIRET…")
    ref: str | None = Field(None, description="The fixtures id (ST-0001)")
    name: str | None = None


class ProfessionalDetail(ProfessionalOut):
    record: dict[str, Any] = Field(description="The fixtures record")
    structure: StructureOut | None = None


class StructureDetail(StructureOut):
    record: dict[str, Any] = Field(description="The fixtures record")
    professionals: list[ProfessionalOut]


class ProfessionalPage(Page):
    items: list[ProfessionalOut]


class StructurePage(Page):
    items: list[StructureOut]


def professional_out(professional: Professional) -> ProfessionalOut:
    r = professional.record
    return ProfessionalOut(id_nat=professional.id_nat, ref=professional.ref, family=r.get("family"),
                           given=r.get("given"), profession=(r.get("profession") or {}).get("code"),
                           structure_ref=r.get("structure_id"))


def structure_out(structure: Structure) -> StructureOut:
    return StructureOut(id_nat=structure.id_nat, ref=structure.ref, name=structure.record.get("name"))


def find_professional(tx: UnitOfWork, workspace: str, key: str) -> Professional | None:
    """By idNat or fixtures id (PS-00001)."""
    return tx.directory.get_professional(workspace, key) or tx.directory.get_professional_by_ref(workspace, key)


@router.get("/workspaces/{workspace}/professionals")
def list_professionals(workspace: str, request: Request,
                       structure: str | None = Query(None, description="Only those of this structure (ST-0001)"),
                       limit: int = Query(100, ge=1, le=MAX_PAGE), offset: int = Query(0, ge=0, le=MAX_ID)
                       ) -> ProfessionalPage:
    with workspace_tx(request, workspace, readonly=True) as tx:
        if structure is None:
            items = tx.directory.list_professionals(workspace, limit=limit, offset=offset)
            total = tx.directory.count_professionals(workspace)
        else:  # a structure holds a handful of people: count them by listing them
            members = tx.directory.list_professionals(workspace, limit=_ALL, structure_ref=structure)
            items, total = members[offset:offset + limit], len(members)
        return ProfessionalPage(items=[professional_out(p) for p in items], total=total, limit=limit, offset=offset)


@router.get("/workspaces/{workspace}/professionals/{key}")
def get_professional(workspace: str, key: str, request: Request) -> ProfessionalDetail:
    """A professional by idNat (899…) or fixtures id (PS-00001), with the record and the structure."""
    with workspace_tx(request, workspace, readonly=True) as tx:
        found = find_professional(tx, workspace, key)
        if found is None:
            raise ApiError(404, f"no professional {key!r} in workspace {workspace!r}")
        structure_ref = found.record.get("structure_id")
        structure = tx.directory.get_structure_by_ref(workspace, structure_ref) if structure_ref else None
        return ProfessionalDetail(**professional_out(found).model_dump(), record=dict(found.record),
                                  structure=structure_out(structure) if structure else None)


@router.get("/workspaces/{workspace}/structures")
def list_structures(workspace: str, request: Request, limit: int = Query(100, ge=1, le=MAX_PAGE),
                    offset: int = Query(0, ge=0, le=MAX_ID)) -> StructurePage:
    with workspace_tx(request, workspace, readonly=True) as tx:
        items = tx.directory.list_structures(workspace, limit=limit, offset=offset)
        return StructurePage(items=[structure_out(s) for s in items], total=tx.directory.count_structures(workspace),
                             limit=limit, offset=offset)


@router.get("/workspaces/{workspace}/structures/{key}")
def get_structure(workspace: str, key: str, request: Request) -> StructureDetail:
    """A structure by idNat (1…, 3…) or fixtures id (ST-0001), with its record and its professionals."""
    with workspace_tx(request, workspace, readonly=True) as tx:
        found = tx.directory.get_structure(workspace, key) or tx.directory.get_structure_by_ref(workspace, key)
        if found is None:
            raise ApiError(404, f"no structure {key!r} in workspace {workspace!r}")
        members = tx.directory.list_professionals(workspace, limit=_ALL, structure_ref=found.ref) if found.ref else ()
        return StructureDetail(**structure_out(found).model_dump(), record=dict(found.record),
                               professionals=[professional_out(p) for p in members])
