"""Console pages of the DMP's content: workspaces, patients (identity, INS, Vitale card, DMP state and its
actions, authorisations, médecin traitant) and documents (metadata, visibility, versions, the CDA rendered)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from ..api.common import MAX_ID
from ..api.documents import STATUS_NAMES
from ..api.patients import DmpChange, _dmp_fields
from ..store import Authorization, DocumentEntry, Patient, UnitOfWork
from ..soap import SoapError, parse_xml
from . import cda, labels, xmlview
from .common import (ConsoleError, ConsoleRoute, choice, flag, names, read_form, redirect, render, runtime_of,
                     workspace_now, workspace_tx)

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

PAGE = 50


# -- workspaces ---------------------------------------------------------------------------------------------------
@router.get("/")  # /ui redirects here (the app redirects slashes)
def home(request: Request) -> HTMLResponse:
    with runtime_of(request).store.transaction(readonly=True) as tx:
        rows = [(w, tx.workspaces.counts(w.id)) for w in tx.workspaces.list()]
    return render(request, "workspaces.html", {"rows": rows})


@router.get("/w/{workspace}")
def workspace_page(workspace: str, request: Request) -> HTMLResponse:
    with workspace_tx(request, workspace) as tx:
        exchanges = tx.exchanges.list(workspace, limit=10)
        context = {
            "workspace": tx.workspaces.require(workspace), "counts": tx.workspaces.counts(workspace),
            "now": workspace_now(tx, workspace), "faults": tx.controls.list_faults(workspace),
            "exchanges": exchanges, "names": names(tx, workspace, exchanges),
            "latest_id": tx.exchanges.latest_id(workspace) or 0, "ws": workspace,
        }
    return render(request, "workspace.html", context)


# -- patients -----------------------------------------------------------------------------------------------------
@router.get("/w/{workspace}/patients")
def patients_page(workspace: str, request: Request, q: str = Query("", max_length=100),
                  dmp_state: str | None = None, offset: int = Query(0, ge=0, le=MAX_ID)) -> HTMLResponse:
    state = choice(dmp_state, labels.DMP_STATES, "état du DMP")
    query = q.strip()
    with workspace_tx(request, workspace) as tx:
        if query:  # an INS, else a name prefix (birth or used name), as the DMP's TD0.5 searches
            exact = tx.patients.get(workspace, query)
            found = (exact,) if exact else tx.patients.search(workspace, family=query, limit=PAGE)
            items = tuple(p for p in found if state is None or p.dmp_state == state)
            total = len(items)
        else:
            items = tx.patients.list(workspace, limit=PAGE, offset=offset, dmp_state=state)  # type: ignore[arg-type]
            total = tx.patients.count(workspace, dmp_state=state)  # type: ignore[arg-type]
    return render(request, "patients.html", {"ws": workspace, "patients": items, "total": total, "q": query,
                                             "dmp_state": state, "offset": offset, "page": PAGE})


@dataclass(frozen=True)
class AuthorizationRow:
    authorization: Authorization
    status: str
    professional: dict[str, Any] | None


def _authorization_rows(tx: UnitOfWork, workspace: str, patient: Patient) -> list[AuthorizationRow]:
    now = workspace_now(tx, workspace)
    rows = []
    for item in tx.authorizations.list_by_patient(workspace, patient.ins, mode="TOUTE", now=now):
        professional = tx.directory.get_professional(workspace, item.ps_id_nat)
        rows.append(AuthorizationRow(item, item.status_at(now), dict(professional.record) if professional else None))
    return rows


@router.get("/w/{workspace}/patients/{ins}")
def patient_page(workspace: str, ins: str, request: Request) -> HTMLResponse:
    with workspace_tx(request, workspace) as tx:
        patient = tx.patients.require(workspace, ins)
        authorizations = _authorization_rows(tx, workspace, patient)
        documents = tx.documents.find(workspace, ins, None, limit=200)
        exchanges = tx.exchanges.list(workspace, patient_ins=ins, limit=10)
        latest_id = tx.exchanges.latest_id(workspace) or 0
        who = names(tx, workspace, exchanges)
    mt = next((row for row in authorizations if row.authorization.is_mt), None)
    return render(request, "patient.html", {
        "ws": workspace, "patient": patient, "record": patient.record, "authorizations": authorizations, "mt": mt,
        "documents": documents, "status_names": STATUS_NAMES, "exchanges": exchanges, "latest_id": latest_id,
        "names": who, "saved": request.query_params.get("saved"),
    })


@router.post("/w/{workspace}/patients/{ins}/dmp")
async def change_dmp(workspace: str, ins: str, request: Request) -> Response:
    """The DMP state form: the same rules as ``PATCH /api/…/patients/{ins}/dmp`` (closing dates the closure at
    the workspace clock; opening or removing clears it)."""
    form = await read_form(request)
    fields: dict[str, Any] = {}
    if form.get("state"):
        fields["state"] = form["state"]
    if fields.get("state") == "CLOSED" and form.get("closure_reason"):
        fields["closure_reason"] = form["closure_reason"]
    if "flags" in form:  # the check boxes were on the form: an unticked box is sent as nothing
        for name in ("mes_attached", "internet_account", "opposition_bris_de_glace", "opposition_acces_urgence"):
            fields[name] = flag(form, name)
    try:
        change = DmpChange(**fields)
    except ValidationError as exc:
        raise ConsoleError(422, "Changement refusé : " + "; ".join(e["msg"] for e in exc.errors())) from None
    with workspace_tx(request, workspace, readonly=False) as tx:
        current = tx.patients.require(workspace, ins)
        tx.patients.set_state(workspace, ins, **_dmp_fields(change, current, workspace_now(tx, workspace)))
    return redirect(request, f"/w/{workspace}/patients/{ins}", saved="dmp")


# -- documents ----------------------------------------------------------------------------------------------------
def _document(tx: UnitOfWork, workspace: str, entry_uuid: str) -> DocumentEntry:
    entry = tx.documents.get(workspace, entry_uuid)
    if entry is None:
        raise ConsoleError(404, f"Aucun document d'entryUUID « {entry_uuid} » dans l'espace « {workspace} ».")
    return entry


@router.get("/w/{workspace}/documents/{entry_uuid}")
def document_page(workspace: str, entry_uuid: str, request: Request) -> HTMLResponse:
    with workspace_tx(request, workspace) as tx:
        entry = _document(tx, workspace, entry_uuid)
        versions = tx.documents.by_lids(workspace, [entry.lid or entry.entry_uuid], all_versions=True)
        content = tx.documents.get_content(workspace, entry.unique_id)
        patient = tx.patients.get(workspace, entry.patient_ins)
        authors = {i: tx.directory.get_professional(workspace, i) for i in entry.author_person_ids}
        siblings = tx.documents.find(workspace, entry.patient_ins, None, limit=500) \
            if entry.submission_set_uuid else ()
    signature = next((d for d in siblings if d.is_signature and d.submission_set_uuid == entry.submission_set_uuid
                      and d.entry_uuid != entry.entry_uuid), None)
    view = cda.render(content) if content is not None else None
    other_xml = None  # not a CDA (the XAdES signature document of the set): shown as XML all the same
    if view is not None and view.error and content is not None:
        try:
            other_xml = xmlview.render(parse_xml(content, what="document"))
        except SoapError:
            other_xml = None
    visibility = [code for code in entry.confidentiality_codes if code in labels.VISIBILITY_CODES]
    return render(request, "document.html", {
        "ws": workspace, "entry": entry, "status": STATUS_NAMES.get(entry.status, entry.status),
        "versions": versions, "patient": patient, "authors": authors, "signature": signature, "cda": view,
        "has_content": content is not None, "visibility": visibility, "status_names": STATUS_NAMES,
        "other_xml": other_xml,
    })


@router.get("/w/{workspace}/documents/{entry_uuid}/pdf")
def document_pdf(workspace: str, entry_uuid: str, request: Request) -> Response:
    """The PDF an N1 document carries, shown inline (the console embeds it in the document page)."""
    with workspace_tx(request, workspace) as tx:
        entry = _document(tx, workspace, entry_uuid)
        content = tx.documents.get_content(workspace, entry.unique_id)
    root = cda.parse(content) if content is not None else None
    pdf = cda.embedded_pdf(root) if root is not None else None
    if pdf is None:
        raise ConsoleError(404, "Ce document ne contient pas de PDF (ce n'est pas un document N1).")
    return Response(content=pdf, media_type="application/pdf",
                    headers={"content-disposition": f'inline; filename="{entry.unique_id}.pdf"',
                             "x-content-type-options": "nosniff"})
