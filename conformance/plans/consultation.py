"""Plan ``consultation``: a professional consults a patient's DMP (TD0.2, TD0.3, TD3.1, TD3.2) and handles every
answer the DMP can give, errors and slowness included (PRE_ERR), with a correct VIHF (PRE_TPS)."""
from __future__ import annotations

from typing import Any

from . import checks
from .context import CaseContext
from .model import Case, Check, Step

PLAN = "consultation"
HIDDEN_FROM_OTHERS = ("MASQUE_PS", "INVISIBLE_PATIENT", "INVISIBLE_REPRESENTANTS_LEGAUX")


def _consult(ctx: CaseContext) -> Step:
    return Step("consult", "Consult the patient's DMP",
                "Open the patient's DMP as the professional: check it exists and that you may access it (TD0.2), "
                "then list the documents shown by default and open each one.")


def shown_by_default(ctx: CaseContext) -> tuple[set[str], set[str]]:
    """(uniqueIds a search shows this professional by default, uniqueIds of XAdES signature documents): Approved,
    not masked from professionals unless the professional wrote it (the DMP hides those server-side anyway)."""
    shown: set[str] = set()
    signatures: set[str] = set()
    for doc in ctx.api.documents(ctx.workspace, ctx.ins, statuses=("Approved",)):
        if doc["is_signature"]:
            signatures.add(doc["unique_id"])
            continue
        own = ctx.id_nat in doc.get("author_person_ids", [])
        if own or not set(doc.get("confidentiality_codes") or ()) & {"MASQUE_PS"}:
            shown.add(doc["unique_id"])
    return shown, signatures


def without_signatures(ctx: CaseContext, key: str, signatures: set[str]) -> None:
    # Listing the submission's XAdES signature document is not a fault of the client: grade the clinical ones.
    result = ctx.last().result
    if result and isinstance(result.get(key), list):
        result[key] = [u for u in result[key] if u not in signatures]


# -- CONS-01 ----------------------------------------------------------------------------------------------------------
def _setup_authorised(ctx: CaseContext) -> None:
    ctx.choose_patient(need_documents=True)
    ctx.open_dmp("VALIDE")


def _grade_consult(ctx: CaseContext) -> list[Check]:
    expected, signatures = shown_by_default(ctx)
    without_signatures(ctx, "documents_shown", signatures)
    without_signatures(ctx, "documents_retrieved", signatures)
    return [
        checks.client_finished(ctx, "CONS-01.1"),
        checks.td02_first(ctx, "CONS-01.2"),
        checks.some_of(ctx, "CONS-01.3", "TD3.1", "The documents are searched (TD3.1)", requirements=("RG_3010",)),
        checks.reported_list(ctx, "CONS-01.4", "documents_retrieved", expected,
                             "Every document shown is retrieved (TD3.2)"),
        checks.status_is(ctx, "CONS-01.5", ("done",), "The consultation completes"),
        checks.exchanges_conform(ctx, "CONS-01.6"),
    ]


# -- CONS-02 ----------------------------------------------------------------------------------------------------------
def _setup_no_authorization(ctx: CaseContext) -> None:
    ctx.choose_patient(index=1)
    ctx.open_dmp(None)


def _grade_declare(case_id: str, what: str):  # type: ignore[no-untyped-def]
    def grade(ctx: CaseContext) -> list[Check]:
        dmp = ctx.exchanges(dmp_only=True)
        td03 = [e["id"] for e in dmp if e.get("transaction") == "TD0.3" and e.get("http_status") == 200]
        search = [e["id"] for e in dmp if e.get("transaction") == "TD3.1"]
        ordered = bool(td03) and bool(search) and min(td03) < min(search)
        return [
            checks.client_finished(ctx, f"{case_id}.1"),
            checks.td02_first(ctx, f"{case_id}.2"),
            Check(f"{case_id}.3", f"With the patient's consent, the authorisation is {what} (TD0.3) before searching",
                  ordered, "an accepted TD0.3, then a TD3.1",
                  f"TD0.3 at {td03 or 'none'}, TD3.1 at {search or 'none'}", ("RG_0330",), tuple(td03 + search)),
            checks.status_is(ctx, f"{case_id}.4", ("done",), "The consultation completes"),
        ]
    return grade


def _setup_expired(ctx: CaseContext) -> None:
    ctx.choose_patient(index=4)
    ctx.open_dmp("EXPIRE")


# -- CONS-03/04/05: no access ----------------------------------------------------------------------------------------
def _setup_state(state: str, authorization: str | None, index: int):  # type: ignore[no-untyped-def]
    def setup(ctx: CaseContext) -> None:
        ctx.choose_patient(index=index)
        ctx.open_dmp(authorization, state=state)
    return setup


def _grade_no_access(case_id: str, why: str, requirement: str):  # type: ignore[no-untyped-def]
    def grade(ctx: CaseContext) -> list[Check]:
        return [
            checks.client_finished(ctx, f"{case_id}.1"),
            checks.td02_first(ctx, f"{case_id}.2"),
            checks.none_of(ctx, f"{case_id}.3", checks.CONSULT_TRANSACTIONS | {"TD2.1"},
                           f"No search or retrieval when {why}", requirements=(requirement,)),
            checks.status_is(ctx, f"{case_id}.4", ("refused",), f"The user is told access is not possible ({why})",
                             requirements=(requirement,)),
        ]
    return grade


# -- CONS-06: active documents by default ---------------------------------------------------------------------------
def _setup_archived(ctx: CaseContext) -> None:
    ctx.choose_patient(index=2, need_documents=True)
    ctx.open_dmp("VALIDE")
    clinical = [d for d in ctx.api.documents(ctx.workspace, ctx.ins, statuses=("Approved",)) if not d["is_signature"]]
    archived = clinical[0]
    ctx.api.set_document_status(ctx.workspace, archived["entry_uuid"], "Archived")
    ctx.state["archived"] = archived["unique_id"]


def _grade_default_view(ctx: CaseContext) -> list[Check]:
    expected, signatures = shown_by_default(ctx)
    without_signatures(ctx, "documents_shown", signatures)
    return [
        checks.client_finished(ctx, "CONS-06.1"),
        checks.reported_list(ctx, "CONS-06.2", "documents_shown", expected,
                             "By default only active (Approved) documents are shown — not the archived one "
                             f"({ctx.state['archived']})", requirements=("EX_3.1-1030",)),
    ]


# -- CONS-07/08/09: errors -------------------------------------------------------------------------------------------
def _setup_fault(fault: dict[str, Any], index: int = 3):  # type: ignore[no-untyped-def]
    def setup(ctx: CaseContext) -> None:
        ctx.choose_patient(index=index)
        ctx.open_dmp("VALIDE")
        ctx.api.add_fault(ctx.workspace, {**fault, "patient_ins": ctx.ins})
    return setup


def _grade_registry_error(ctx: CaseContext) -> list[Check]:
    return [checks.client_finished(ctx, "CONS-07.1"),
            checks.error_reported(ctx, "CONS-07.2", "XDSRegistryError")]


def _grade_503(ctx: CaseContext) -> list[Check]:
    return [checks.client_finished(ctx, "CONS-08.1"),
            checks.error_reported(ctx, "CONS-08.2", "503"),
            checks.at_most(ctx, "CONS-08.3", "TD3.1", 2, "An unavailable service is not hammered (one retry at most)",
                           requirements=("PRE_ERR",))]


TIMEOUT_LATENCY_MS = 45_000
TIMEOUT_STEP_S = 25.0


def _consult_slow(ctx: CaseContext) -> Step:
    return Step("consult", "Consult the patient's DMP (the DMP is slow today)",
                "Consult the DMP as usual. The search will not answer in time: the software must give up after "
                "a reasonable time and tell the user.", timeout_s=TIMEOUT_STEP_S)


def _grade_timeout(ctx: CaseContext) -> list[Check]:
    return [checks.client_finished(ctx, "CONS-09.1"),
            checks.status_is(ctx, "CONS-09.2", ("error",), "A time-out is reported to the user as an error",
                             requirements=("PRE_ERR",))]


# -- VIHF-01: the assertion and the clock ------------------------------------------------------------------------------
def _grade_vihf(ctx: CaseContext) -> list[Check]:
    return [
        checks.client_finished(ctx, "VIHF-01.1"),
        checks.exchanges_conform(ctx, "VIHF-01.2", rule_prefixes=("VIHF",),
                                 title="Every VIHF is well formed, signed and current (clock within the tolerance)",
                                 requirements=("PRE_TPS",)),
        checks.status_is(ctx, "VIHF-01.3", ("done",), "The DMP accepts the client's VIHF", requirements=("PRE_TPS",)),
    ]


CASES: tuple[Case, ...] = (
    Case("CONS-01", PLAN, "Consult the DMP of a patient who authorised you",
         ("RG_0310", "RG_3010", "EF_DMP31_01"), _setup_authorised, (_consult,), _grade_consult),
    Case("CONS-02", PLAN, "No authorisation yet: declare it with the patient's consent (TD0.3)",
         ("RG_0330", "EF_DMP04_01"), _setup_no_authorization, (_consult,), _grade_declare("CONS-02", "declared")),
    Case("CONS-03", PLAN, "The patient blocked you (INTERDIT): no access", ("RG_0330", "EF_DMP04_01"),
         _setup_state("OPEN", "INTERDIT", 2), (_consult,),
         _grade_no_access("CONS-03", "the patient blocked this professional", "RG_0330")),
    Case("CONS-04", PLAN, "Closed DMP: no access", ("RG_0320", "EF_DMP12_01"),
         _setup_state("CLOSED", "VALIDE", 3), (_consult,),
         _grade_no_access("CONS-04", "the DMP is closed", "RG_0320")),
    Case("CONS-05", PLAN, "No DMP (TD0.2 answers NF): no access", ("RG_0310", "EF_DMP12_01"),
         _setup_state("NONE", None, 4), (_consult,),
         _grade_no_access("CONS-05", "the patient has no DMP", "RG_0310")),
    Case("CONS-06", PLAN, "Only active documents are shown by default", ("EX_3.1-1030",),
         _setup_archived, (_consult,), _grade_default_view),
    Case("CONS-10", PLAN, "Expired authorisation: renew it with the patient's consent (TD0.3)",
         ("RG_0330", "EF_DMP04_01"), _setup_expired, (_consult,), _grade_declare("CONS-10", "renewed")),
    Case("CONS-07", PLAN, "A registry error is shown to the user (PRE_ERR)", ("PRE_ERR",),
         _setup_fault({"kind": "registry_error", "transaction": "TD3.1",
                       "params": {"code": "XDSRegistryError", "context": "Erreur interne du registre (injectée)"}}),
         (_consult,), _grade_registry_error),
    Case("CONS-08", PLAN, "HTTP 503: the error is shown, the service not hammered (PRE_ERR)", ("PRE_ERR",),
         _setup_fault({"kind": "http_503", "transaction": "TD3.1"}), (_consult,), _grade_503),
    Case("CONS-09", PLAN, "A DMP that does not answer: the client gives up and says so (PRE_ERR)", ("PRE_ERR",),
         _setup_fault({"kind": "latency", "transaction": "TD3.1", "remaining": 1,
                       "params": {"ms": TIMEOUT_LATENCY_MS}}), (_consult_slow,), _grade_timeout),
    Case("VIHF-01", PLAN, "The VIHF is correct and its dates current (PRE_TPS)", ("PRE_TPS", "EX_GEN-1350"),
         _setup_state("OPEN", "VALIDE", 0), (_consult,), _grade_vihf),
)
