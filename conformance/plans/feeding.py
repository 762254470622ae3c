"""Plan ``feeding``: a professional feeds the DMP (TD2.1/TD2.2 with the XAdES signature), then replaces, masks
and deletes what they fed (TD3.3), never into a DMP that cannot take it, and shows the DMP's errors (PRE_ERR).

Feeds are graded on what reached the sandbox: the recorded request goes through the XDS metadata and CDA rule
sets (the same rules as ``segur-sandbox validate``), and the registry is read back through the admin API.
"""
from __future__ import annotations

import base64
from typing import Any

from segur_sandbox.conformance.artifacts import UnreadableInput, load
from segur_sandbox.conformance.rules.engine import evaluate

from . import checks
from .context import CaseContext
from .model import Case, Check, Step, StepRecord

PLAN = "feeding"
FEED_RULE_SETS = ("xds", "cda-header", "cda-volets")


def feed_step(kind: str = "VAC-NOTE"):  # type: ignore[no-untyped-def]
    def step(ctx: CaseContext) -> Step:
        return Step("feed", f"Feed a {kind} document",
                    f"Write a {kind} document for the patient and send it to their DMP, signed (XAdES).",
                    {"document": {"kind": kind}})
    return step


def _on_fed(action: str, title: str, instructions: str, kind: str = "VAC-NOTE"):  # type: ignore[no-untyped-def]
    def step(ctx: CaseContext) -> Step:
        fed = checks.fed_documents(ctx, ctx.records[0]) if ctx.records else []
        unique_id = fed[0] if fed else None
        ctx.state["target"] = unique_id
        return Step(action, title, instructions, {"document": {"kind": kind, "unique_id": unique_id}})
    return step


def _setup_open(ctx: CaseContext) -> None:
    ctx.choose_patient()
    ctx.open_dmp("VALIDE")


def request_of(ctx: CaseContext, exchange: dict[str, Any]) -> tuple[bytes, str | None] | None:
    detail = ctx.api.exchange(ctx.workspace, int(exchange["id"]))
    body = detail.get("request")
    if not body:
        return None
    data = base64.b64decode(body["data"]) if body.get("encoding") == "base64" else body["data"].encode("utf-8")
    return data, body.get("content_type")


def feed_conforms(ctx: CaseContext, check_id: str, record: StepRecord | None = None,
                  requirements: tuple[str, ...] = ("EX_2.1-1140", "RG_2230")) -> Check:
    """The accepted TD2.1 requests pass the XDS metadata and CDA rule sets."""
    record = record or ctx.last()
    feeds = [e for e in record.exchanges if e.get("transaction") == "TD2.1"]
    if not feeds:
        return Check(check_id, "The feed's metadata and CDA conform", False, "a TD2.1 request to grade",
                     "no TD2.1 request", requirements)
    errors: list[str] = []
    for exchange in feeds:
        request = request_of(ctx, exchange)
        if request is None:
            errors.append(f"#{exchange['id']}: request body not recorded")
            continue
        try:
            artifact = load(request[0], name=f"exchange-{exchange['id']}", content_type=request[1])
        except UnreadableInput as exc:
            errors.append(f"#{exchange['id']}: {exc}")
            continue
        report = evaluate(artifact, FEED_RULE_SETS)
        errors += [f"#{exchange['id']} {f.rule_id}: {f.message}" for f in report.findings if f.is_error]
    return Check(check_id, "The feed's XDS metadata and CDA conform (DMP constraints, CI-SIS value sets, CDA "
                           "header and volet)", not errors, "no error finding of the xds, cda-header and cda-volets "
                                                            "rules", "; ".join(errors[:6]) or
                 f"{len(feeds)} feed(s), no error finding", requirements, tuple(int(e["id"]) for e in feeds))


def fed_and_stored(ctx: CaseContext, check_id: str, record: StepRecord | None = None,
                   statuses: tuple[str, ...] = ("Approved",)) -> Check:
    record = record or ctx.last()
    fed = checks.fed_documents(ctx, record)
    found = {u: (ctx.api.document(ctx.workspace, u) or {}).get("status") for u in fed}
    passed = bool(fed) and all(s in statuses for s in found.values())
    return Check(check_id, "What the client says it fed is in the DMP", passed,
                 f"the result lists the fed uniqueIds, each {' or '.join(statuses)} in the registry",
                 f"registry status per fed uniqueId: {found}" if fed else "no uniqueId in the result's 'fed'")


def author_is_user(ctx: CaseContext, check_id: str, record: StepRecord | None = None) -> Check:
    """EX_2.1-1140: in DIRECTE mode the author of the document is the professional of the VIHF."""
    record = record or ctx.last()
    fed = checks.fed_documents(ctx, record)
    authors = {u: (ctx.api.document(ctx.workspace, u) or {}).get("author_person_ids") for u in fed}
    passed = bool(fed) and all(ctx.id_nat in (a or []) for a in authors.values())
    return Check(check_id, "The document's author is the professional who signed the VIHF", passed,
                 f"authorPerson {ctx.id_nat} on every fed document", f"authors: {authors}", ("EX_2.1-1140",))


def signed_by_xades(ctx: CaseContext, check_id: str, record: StepRecord | None = None) -> Check:
    record = record or ctx.last()
    fed = checks.fed_documents(ctx, record)
    signed_sets = {d["submission_set_uuid"] for d in ctx.api.documents(ctx.workspace, ctx.ins) if d["is_signature"]}
    found = {u: (ctx.api.document(ctx.workspace, u) or {}).get("submission_set_uuid") in signed_sets for u in fed}
    return Check(check_id, "The submission carries its XAdES signature document", bool(fed) and all(found.values()),
                 "a signature document in the same submission set as each fed document",
                 f"signature present per document: {found}", ("SC.DMP/CONF.12",))


# -- FEED-01 ----------------------------------------------------------------------------------------------------------
def _grade_feed(ctx: CaseContext) -> list[Check]:
    return [
        checks.client_finished(ctx, "FEED-01.1"),
        checks.td02_first(ctx, "FEED-01.2"),
        checks.some_of(ctx, "FEED-01.3", "TD2.1", "The document is fed (TD2.1) and accepted"),
        fed_and_stored(ctx, "FEED-01.4"),
        feed_conforms(ctx, "FEED-01.5"),
        author_is_user(ctx, "FEED-01.6"),
        signed_by_xades(ctx, "FEED-01.7"),
        checks.none_of(ctx, "FEED-01.8", frozenset({"TD3.1"}), "No automatic search right after feeding",
                       requirements=("EX_3.1-2030",)),
    ]


# -- FEED-02 replacement ----------------------------------------------------------------------------------------------
def _grade_replace(ctx: CaseContext) -> list[Check]:
    first, second = ctx.records[0], ctx.last()
    old = ctx.state.get("target")
    new = checks.fed_documents(ctx, second)
    old_status = (ctx.api.document(ctx.workspace, old) or {}).get("status") if old else None
    new_status = {u: (ctx.api.document(ctx.workspace, u) or {}).get("status") for u in new}
    approved = [d for d in ctx.api.documents(ctx.workspace, ctx.ins, statuses=("Approved",)) if not d["is_signature"]
                and d["unique_id"] in set(checks.fed_documents(ctx, first)) | set(new)]
    return [
        checks.client_finished(ctx, "FEED-02.1"),
        fed_and_stored(ctx, "FEED-02.2", first, statuses=("Approved", "Deprecated")),
        Check("FEED-02.3", "The replaced version is Deprecated and the new one Approved (RPLC)",
              old_status == "Deprecated" and bool(new) and all(s == "Approved" for s in new_status.values()),
              "the first document Deprecated, its replacement Approved",
              f"first {old}: {old_status}; replacement {new_status or 'none reported'}", ("EF_DMP31_01",),
              tuple(int(e["id"]) for e in second.exchanges if e.get("transaction") == "TD2.1")),
        Check("FEED-02.4", "No duplicate: one current version of the document", len(approved) == 1,
              "exactly one Approved document among the fed versions",
              f"{len(approved)} Approved: {[d['unique_id'] for d in approved]}"),
        feed_conforms(ctx, "FEED-02.5", second),
    ]


# -- FEED-03 masking, FEED-04 deletion ----------------------------------------------------------------------------
def _grade_mask(ctx: CaseContext) -> list[Check]:
    target = ctx.state.get("target")
    doc = ctx.api.document(ctx.workspace, target) if target else None
    codes = (doc or {}).get("confidentiality_codes") or []
    return [
        checks.client_finished(ctx, "FEED-03.1"),
        checks.some_of(ctx, "FEED-03.2", "TD3.3", "The metadata update (TD3.3a) is sent and accepted"),
        Check("FEED-03.3", "The document is hidden from other professionals (MASQUE_PS)", "MASQUE_PS" in codes,
              "MASQUE_PS among the current version's confidentiality codes",
              f"{target}: {codes}" if doc else f"document {target!r} not found"),
    ]


def _grade_delete(ctx: CaseContext) -> list[Check]:
    target = ctx.state.get("target")
    doc = ctx.api.document(ctx.workspace, target) if target else None
    return [
        checks.client_finished(ctx, "FEED-04.1"),
        checks.some_of(ctx, "FEED-04.2", "TD3.3", "The status update (TD3.3) is sent and accepted"),
        Check("FEED-04.3", "The document is deleted", (doc or {}).get("status") == "Deleted",
              "status Deleted", f"{target}: {(doc or {}).get('status')}" if doc else f"document {target!r} not found"),
    ]


# -- FEED-05 closed DMP, FEED-06 error ----------------------------------------------------------------------------
def _setup_closed(ctx: CaseContext) -> None:
    ctx.choose_patient(index=1)
    ctx.open_dmp("VALIDE", state="CLOSED")


def _grade_closed(ctx: CaseContext) -> list[Check]:
    return [
        checks.client_finished(ctx, "FEED-05.1"),
        checks.td02_first(ctx, "FEED-05.2"),
        checks.none_of(ctx, "FEED-05.3", frozenset({"TD2.1"}), "Nothing is fed into a closed DMP",
                       requirements=("RG_0320",)),
        checks.status_is(ctx, "FEED-05.4", ("refused",), "The user is told the DMP is closed",
                         requirements=("RG_0320",)),
    ]


def _setup_feed_error(ctx: CaseContext) -> None:
    ctx.choose_patient(index=2)
    ctx.open_dmp("VALIDE")
    ctx.api.add_fault(ctx.workspace, {"kind": "registry_error", "transaction": "TD2.1", "patient_ins": ctx.ins,
                                      "params": {"code": "XDSRepositoryError",
                                                 "context": "Erreur interne de l'entrepôt (injectée)"}})


def _grade_feed_error(ctx: CaseContext) -> list[Check]:
    return [checks.client_finished(ctx, "FEED-06.1"),
            checks.error_reported(ctx, "FEED-06.2", "XDSRepositoryError")]


CASES: tuple[Case, ...] = (
    Case("FEED-01", PLAN, "Feed a VAC-NOTE with valid metadata, a valid CDA and its XAdES signature",
         ("EX_2.1-1140", "RG_2230", "SC.DMP/CONF.12", "EX_3.1-2030"), _setup_open, (feed_step(),), _grade_feed),
    Case("FEED-02", PLAN, "Replace a fed document with a new version (TD2.2, RPLC)", ("EF_DMP31_01",), _setup_open,
         (feed_step(), _on_fed("replace", "Replace the document you fed",
                               "You corrected the document you just fed: send the new version so it replaces it.")),
         _grade_replace),
    Case("FEED-03", PLAN, "Mask a fed document from other professionals (TD3.3a)", ("TD3.3a",), _setup_open,
         (feed_step(), _on_fed("mask", "Mask the document you fed",
                               "The patient asks that the document be hidden from other professionals.")),
         _grade_mask),
    Case("FEED-04", PLAN, "Delete a fed document (TD3.3)", ("TD3.3c",), _setup_open,
         (feed_step(), _on_fed("delete", "Delete the document you fed",
                               "The document was fed by mistake: delete it from the DMP.")), _grade_delete),
    Case("FEED-05", PLAN, "No feed into a closed DMP", ("RG_0320",), _setup_closed, (feed_step(),), _grade_closed),
    Case("FEED-06", PLAN, "A feeding error is shown to the user (PRE_ERR)", ("PRE_ERR",), _setup_feed_error,
         (feed_step(),), _grade_feed_error),
)
