"""Plan ``ins``: the national health identity (INS) is retrieved from INSi — by Vitale card and by traits — and
only a qualified identity is used to reach the DMP (Référentiel INS; RNIV EXI SI 07; no DMP feed without a
qualified INS since 10/2023)."""
from __future__ import annotations

from segur_sandbox.simulator.insi.cnda import CASES as CNDA_CASES

from . import checks
from .context import CaseContext
from .model import Case, Check, Step

PLAN = "ins"
BY_CARD = "rechercherInsAvecCarteVitale"
BY_TRAITS = "rechercherInsAvecTraitsIdentite"


def _cnda(name: str):  # type: ignore[no-untyped-def]
    return next(case for case in CNDA_CASES if case.name == name)


def _lookup(action: str, title: str, instructions: str):  # type: ignore[no-untyped-def]
    def step(ctx: CaseContext) -> Step:
        return Step(action, title, instructions)
    return step


def _setup_patient(ctx: CaseContext) -> None:
    ctx.choose_patient()
    ctx.state["expected_ins"] = ctx.ins
    # the client must find the INS itself
    ctx.task_patient.update({"ins": None, "ins_oid": None, "identity_status": "provisoire"})


def _identity_found(ctx: CaseContext, check_id: str) -> Check:
    identity = (ctx.last().result or {}).get("identity") or {}
    expected = ctx.state["expected_ins"]
    return Check(check_id, "The identity reported is the one INSi returned", identity.get("ins") == expected,
                 f"identity.ins = {expected}", f"identity.ins = {identity.get('ins')!r}", ("RNIV EXI SI 07",))


def _grade_by_card(ctx: CaseContext) -> list[Check]:
    return [
        checks.client_finished(ctx, "INS-01.1"),
        checks.some_of(ctx, "INS-01.2", BY_CARD, "INSi is called with the Vitale card's data"),
        _identity_found(ctx, "INS-01.3"),
        checks.exchanges_conform(ctx, "INS-01.4", rule_prefixes=("INSI",), title="The INSi request conforms"),
    ]


def _grade_by_traits(ctx: CaseContext) -> list[Check]:
    return [
        checks.client_finished(ctx, "INS-02.1"),
        checks.some_of(ctx, "INS-02.2", BY_TRAITS, "INSi is called with the identity traits"),
        _identity_found(ctx, "INS-02.3"),
        checks.exchanges_conform(ctx, "INS-02.4", rule_prefixes=("INSI",),
                                 title="The traits are sent as the INSi expects them"),
    ]


def _setup_traits(name: str):  # type: ignore[no-untyped-def]
    def setup(ctx: CaseContext) -> None:
        query = _cnda(name).query
        ctx.task_patient.update({
            "ins": None, "ins_oid": None, "identity_status": "provisoire", "vitale": {"file": None, "reader": None},
            "traits": {"family": query.birth_name, "given": " ".join(query.first_names),
                       "first_given": query.first_names[0].split(" ")[0], "sex": query.sex,
                       "birth_date": query.birth_date, "birth_place": query.birth_place}})
    return setup


def _grade_no_identity(case_id: str, expected_status: str, what: str):  # type: ignore[no-untyped-def]
    def grade(ctx: CaseContext) -> list[Check]:
        identity = (ctx.last().result or {}).get("identity") or {}
        return [
            checks.client_finished(ctx, f"{case_id}.1"),
            checks.some_of(ctx, f"{case_id}.2", BY_TRAITS, "INSi is called with the identity traits"),
            checks.status_is(ctx, f"{case_id}.3", (expected_status,), f"The user is told {what}"),
            Check(f"{case_id}.4", "No identity is made up", not identity.get("ins"), "no identity.ins",
                  f"identity.ins = {identity.get('ins')!r}", ("RNIV EXI SI 07",)),
        ]
    return grade


def _grade_unqualified(ctx: CaseContext) -> list[Check]:
    return [
        checks.client_finished(ctx, "INS-05.1"),
        checks.no_dmp_request(ctx, "INS-05.2", "A non-qualified identity is never sent to the DMP"),
        checks.status_is(ctx, "INS-05.3", ("refused",), "The user is told the identity must be qualified first"),
    ]


def _feed(ctx: CaseContext) -> Step:
    return Step("feed", "Feed a VAC-NOTE document",
                "Send a vaccination note to the patient's DMP. Their identity was retrieved from INSi but not yet "
                "checked against an identity document.", {"document": {"kind": "VAC-NOTE"}})


CASES: tuple[Case, ...] = (
    Case("INS-01", PLAN, "INS retrieved with the Vitale card", ("RNIV EXI SI 07", "INSi RECVITALE"), _setup_patient,
         (_lookup("ins-vitale", "Retrieve the patient's INS with their Vitale card",
                  "Read the patient's Vitale card and ask INSi for their INS."),), _grade_by_card),
    Case("INS-02", PLAN, "INS retrieved with the identity traits", ("RNIV EXI SI 07", "INSi RECSANSVITALE"),
         _setup_patient, (_lookup("ins-traits", "Retrieve the patient's INS from their identity traits",
                                  "Ask INSi for the patient's INS with the traits of their identity document."),),
         _grade_by_traits),
    Case("INS-03", PLAN, "INSi finds no identity: none is used", ("CNDA REP_CR01",),
         _setup_traits("HOUILLES PIERRE"),
         (_lookup("ins-traits", "Retrieve an INS that does not exist",
                  "Ask INSi for the INS of this person (INSi will find none)."),),
         _grade_no_identity("INS-03", "not-found", "no identity was found")),
    Case("INS-04", PLAN, "INSi finds several identities: none is chosen", ("CNDA CR02",),
         _setup_traits("DE VINCI LEONARDO (homonymes)"),
         (_lookup("ins-traits", "Retrieve the INS of a person with namesakes",
                  "Ask INSi for the INS of this person (INSi will find several)."),),
         _grade_no_identity("INS-04", "ambiguous", "several identities match")),
    Case("INS-05", PLAN, "A non-qualified identity is not used with the DMP", ("Référentiel INS", "RNIV EXI SI 07"),
         checks.setup_unqualified, (_feed,), _grade_unqualified),
)
