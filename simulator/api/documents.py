"""Documents in the DMP: registry entries (one per version) and their bytes.

Deleting is the DMP's: a logical delete (TD3.3c), the entry's availability status becomes Deleted through the
store's compare-and-set, from Approved or Archived; the entry and its bytes stay (the exchange log and later
queries can still name them), and the DMP's queries no longer return it. A Deprecated entry is an old version:
delete the current one. Reset the workspace to really remove documents.
"""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import Query, Request, Response
from pydantic import BaseModel, Field

from ..store import APPROVED, ARCHIVED, DELETED, DEPRECATED, DocumentEntry, DocumentQuery, UnitOfWork
from .common import CONFLICT, MAX_ID, MAX_PAGE, UNTRUSTED_BYTES_HEADERS, ApiError, Page, api_router, workspace_tx

router = api_router("documents")

StatusName = Literal["Approved", "Deprecated", "Archived", "Deleted"]
STATUS_URNS: dict[str, str] = {"Approved": APPROVED, "Deprecated": DEPRECATED, "Archived": ARCHIVED,
                               "Deleted": DELETED}
STATUS_NAMES = {urn: name for name, urn in STATUS_URNS.items()}


class DocumentOut(BaseModel):
    entry_uuid: str
    unique_id: str
    lid: str | None = Field(description="Logical id: the entryUUID of version 1")
    version: int
    patient_ins: str
    status: StatusName
    status_urn: str
    title: str | None
    mime_type: str
    type_code: str | None
    class_code: str | None
    format_code: str | None
    practice_setting: str | None
    facility_type: str | None
    confidentiality_codes: list[str]
    event_codes: list[str]
    creation_time: datetime | None
    service_start: datetime | None
    service_stop: datetime | None
    submitted_at: datetime
    submitter: str | None
    author_person_ids: list[str]
    author_institution_ids: list[str]
    legal_authenticator_id: str | None
    is_signature: bool = Field(description="The XAdES signature of its submission set")
    hash: str | None = Field(description="SHA-1, hex")
    size: int | None
    submission_set_uuid: str | None
    reference_ids: list[str]


class DocumentDetail(DocumentOut):
    metadata_xml: str = Field(description="The ExtrinsicObject as the registry holds it")
    has_content: bool


class DocumentPage(Page):
    items: list[DocumentOut]


def _out(entry: DocumentEntry) -> dict[str, object]:
    values = {name: getattr(entry, name) for name in DocumentOut.model_fields
              if name not in ("status", "status_urn")}
    return {**values, "status": STATUS_NAMES[entry.status], "status_urn": entry.status}


def _query(status: list[StatusName] | None) -> DocumentQuery:
    return DocumentQuery(statuses=tuple(STATUS_URNS[s] for s in status) if status else None)


def _find(tx: UnitOfWork, workspace: str, document_id: str) -> DocumentEntry:
    """By entryUUID (one version), else by uniqueId (its latest version)."""
    found = tx.documents.get(workspace, document_id)
    if found is None:
        latest = tx.documents.by_unique_ids(workspace, [document_id])
        found = latest[0] if latest else None
    if found is None:
        raise ApiError(404, f"no document with entryUUID or uniqueId {document_id!r} in workspace {workspace!r}")
    return found


def _page(tx: UnitOfWork, workspace: str, ins: str | None, status: list[StatusName] | None, limit: int,
          offset: int) -> DocumentPage:
    query = _query(status)
    items = tx.documents.find(workspace, ins, query, limit=limit, offset=offset)
    return DocumentPage(items=[DocumentOut(**_out(e)) for e in items], total=tx.documents.count(workspace, ins, query),
                        limit=limit, offset=offset)


STATUS_QUERY = Query(None, description="Only these statuses (repeat the parameter for several); default: all")


@router.get("/workspaces/{workspace}/documents")
def list_documents(workspace: str, request: Request, patient: str | None = Query(None, description="INS"),
                   status: list[StatusName] | None = STATUS_QUERY, limit: int = Query(100, ge=1, le=MAX_PAGE),
                   offset: int = Query(0, ge=0, le=MAX_ID)) -> DocumentPage:
    """Every document entry of the workspace (or of one patient), newest creation time first."""
    with workspace_tx(request, workspace, readonly=True) as tx:
        return _page(tx, workspace, patient, status, limit, offset)


@router.get("/workspaces/{workspace}/patients/{ins}/documents")
def list_patient_documents(workspace: str, ins: str, request: Request,
                           status: list[StatusName] | None = STATUS_QUERY,
                           limit: int = Query(100, ge=1, le=MAX_PAGE),
                           offset: int = Query(0, ge=0, le=MAX_ID)) -> DocumentPage:
    """The patient's document entries (every version), newest creation time first."""
    with workspace_tx(request, workspace, readonly=True) as tx:
        tx.patients.require(workspace, ins)
        return _page(tx, workspace, ins, status, limit, offset)


@router.get("/workspaces/{workspace}/documents/{document_id}")
def get_document(workspace: str, document_id: str, request: Request) -> DocumentDetail:
    """A document entry by entryUUID (``urn:uuid:…``) or uniqueId (then its latest version)."""
    with workspace_tx(request, workspace, readonly=True) as tx:
        entry = _find(tx, workspace, document_id)
        has_content = tx.documents.get_content(workspace, entry.unique_id) is not None
        return DocumentDetail(**_out(entry), metadata_xml=entry.metadata_xml, has_content=has_content)


@router.get("/workspaces/{workspace}/documents/{document_id}/content",
            responses={200: {"content": {"application/octet-stream": {}}, "description": "The document's bytes"}})
def get_document_content(workspace: str, document_id: str, request: Request) -> Response:
    """The document's bytes, with its mimeType."""
    with workspace_tx(request, workspace, readonly=True) as tx:
        entry = _find(tx, workspace, document_id)
        content = tx.documents.get_content(workspace, entry.unique_id)
    if content is None:
        raise ApiError(404, f"document {entry.unique_id} has no stored content")
    return Response(content=content, media_type=entry.mime_type, headers=UNTRUSTED_BYTES_HEADERS)


@router.delete("/workspaces/{workspace}/documents/{document_id}", responses=CONFLICT)
def delete_document(workspace: str, document_id: str, request: Request) -> DocumentOut:
    """Logical delete, as TD3.3c: the status becomes Deleted (from Approved or Archived). 409 when it is
    already Deleted, or Deprecated (an old version: delete the current one)."""
    with workspace_tx(request, workspace) as tx:
        entry = _find(tx, workspace, document_id)
        if entry.status == DELETED:
            raise ApiError(409, f"document {entry.entry_uuid} is already Deleted")
        if entry.status == DEPRECATED:
            latest = tx.documents.by_lids(workspace, [entry.lid or entry.entry_uuid])
            hint = f": delete the current version {latest[0].entry_uuid}" if latest else ""
            raise ApiError(409, f"document {entry.entry_uuid} is Deprecated (an old version){hint}")
        return DocumentOut(**_out(tx.documents.set_status(workspace, entry.entry_uuid, expected=entry.status,
                                                          new=DELETED)))


class DocumentStatusIn(BaseModel):
    status: Literal["Approved", "Archived"] = Field(description="Archived hides it from default searches (TD3.3b); "
                                                                "Approved brings it back")


@router.patch("/workspaces/{workspace}/documents/{document_id}", responses=CONFLICT)
def change_document_status(workspace: str, document_id: str, body: DocumentStatusIn, request: Request) -> DocumentOut:
    """Archive or un-archive a document, as TD3.3b would (a test's set-up without signing a request). 409 from
    Deprecated or Deleted: only the current, live version moves between Approved and Archived."""
    target = STATUS_URNS[body.status]
    with workspace_tx(request, workspace) as tx:
        entry = _find(tx, workspace, document_id)
        if entry.status == target:
            return DocumentOut(**_out(entry))
        if entry.status not in (APPROVED, ARCHIVED):
            raise ApiError(409, f"document {entry.entry_uuid} is {STATUS_NAMES[entry.status]}: only an Approved or "
                                "Archived document can be archived or un-archived")
        return DocumentOut(**_out(tx.documents.set_status(workspace, entry.entry_uuid, expected=entry.status,
                                                          new=target)))
