"""Plan ``officine``: what a pharmacy's software (LGO) must do with the DMP. The pharmacist consults with their
CPS and the patient's INS; after each act — a vaccination, a finished entretien pharmaceutique, a finalised bilan
partagé de médication — the software feeds the DMP by itself, with the metadata a pharmacist author implies;
never before the identity is qualified; an updated bilan replaces the previous one.

The run's indicator mirrors the incentive paid to pharmacies (since 2023): the share of finalised entretiens and
bilans that were fed to the DMP, against a 90 % threshold, listing each act not fed.
"""
from __future__ import annotations

from typing import Any

from lxml import etree

from . import checks
from .consultation import shown_by_default, without_signatures
from .context import CaseContext
from .feeding import author_is_user, feed_conforms, signed_by_xades
from .indicators import indicator
from .model import Case, Check, Step, StepRecord

PLAN = "officine"
INCENTIVE_THRESHOLD = 0.90
INCENTIVE_EVENTS = ("entretien", "bilan")

# event -> (document kind, typeCode, classCode) a pharmacy's software feeds for it (cda-xds.md §2)
EVENTS: dict[str, tuple[str, str, str]] = {
    "vaccination": ("VAC-NOTE", "87273-9", "52"),
    "entretien": ("CR-ENTRETIEN-PHARMA", "78601-2", "10"),
    "bilan": ("BPM", "56445-0", "11"),
}
EVENT_WORDS = {"vaccination": "You vaccinated the patient (the injection is recorded in your software)",
               "entretien": "You finished an entretien pharmaceutique with the patient",
               "bilan": "You finalised the patient's bilan partagé de médication (with its fiche bilan)"}
PHARMACIST_SPECIALTY = "G15_21"  # TRE_G15 profession 21, pharmacien (G15_21/A: titulaire d'officine)
OFFICINE_FACILITY = "SA33"  # Pharmacie d'officine
_RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"


def act(event: str, *, replaces_first: bool = False):  # type: ignore[no-untyped-def]
    def step(ctx: CaseContext) -> Step:
        replaces = None
        if replaces_first and ctx.records:
            fed = checks.fed_documents(ctx, ctx.records[0])
            replaces = fed[0] if fed else None
            ctx.state["replaced"] = replaces
        words = EVENT_WORDS[event] + (" — an updated version of the bilan you fed before" if replaces_first else "")
        return Step("act", words, f"{words}. Your software does what this act implies for the DMP, with no extra "
                                  "action from you.", {"event": event, "document": {"event": event,
                                                                                     "replaces": replaces}})
    return step


def _consult(ctx: CaseContext) -> Step:
    return Step("consult", "Consult the patient's DMP at the counter",
                "With your CPS and the patient's INS, open their DMP and look at the documents shown.")


def _setup_open(ctx: CaseContext) -> None:
    ctx.choose_patient(need_documents=True)
    ctx.open_dmp("VALIDE")


def _slot_values(metadata_xml: str, name: str) -> list[str]:
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    root = etree.fromstring(metadata_xml.encode("utf-8"), parser)
    return [v.text or "" for slot in root.iter(f"{{{_RIM}}}Slot") if slot.get("name") == name
            for v in slot.iter(f"{{{_RIM}}}Value")]


def pharmacist_metadata(ctx: CaseContext, check_id: str, event: str, record: StepRecord | None = None) -> Check:
    """The fed document says what it is (typeCode/classCode of the act) and who wrote it: a pharmacist
    (authorSpecialty G15_21…) of an officine (healthcareFacilityTypeCode SA33)."""
    record = record or ctx.last()
    kind, type_code, class_code = EVENTS[event]
    problems: list[str] = []
    fed = checks.fed_documents(ctx, record)
    for unique_id in fed:
        doc = ctx.api.document(ctx.workspace, unique_id)
        if doc is None:
            problems.append(f"{unique_id} not in the DMP")
            continue
        if doc.get("type_code") != type_code or doc.get("class_code") != class_code:
            problems.append(f"{unique_id}: typeCode {doc.get('type_code')} / classCode {doc.get('class_code')}")
        if doc.get("facility_type") != OFFICINE_FACILITY:
            problems.append(f"{unique_id}: healthcareFacilityTypeCode {doc.get('facility_type')}")
        specialties = [v.split("^")[0] for v in _slot_values(doc.get("metadata_xml") or "", "authorSpecialty")]
        if not specialties or not all(s.startswith(PHARMACIST_SPECIALTY) for s in specialties):
            problems.append(f"{unique_id}: authorSpecialty {specialties}")
    if not fed:
        problems.append("nothing fed")
    return Check(check_id, f"The document fed after the {event} is a {kind} written by a pharmacist of an officine",
                 not problems, f"typeCode {type_code}, classCode {class_code}, facility {OFFICINE_FACILITY}, "
                               f"authorSpecialty {PHARMACIST_SPECIALTY}…", "; ".join(problems) or "as expected",
                 ("SC.DMP/CONF.12", "EX_2.1-1140"))


def _grade_act(case_id: str, event: str):  # type: ignore[no-untyped-def]
    def grade(ctx: CaseContext) -> list[Check]:
        return [
            checks.client_finished(ctx, f"{case_id}.1"),
            checks.some_of(ctx, f"{case_id}.2", "TD2.1", f"The {event} is fed to the DMP automatically"),
            pharmacist_metadata(ctx, f"{case_id}.3", event),
            feed_conforms(ctx, f"{case_id}.4"),
            author_is_user(ctx, f"{case_id}.5"),
            signed_by_xades(ctx, f"{case_id}.6"),
            checks.td02_first(ctx, f"{case_id}.7"),
        ]
    return grade


def _grade_consult(ctx: CaseContext) -> list[Check]:
    expected, signatures = shown_by_default(ctx)
    without_signatures(ctx, "documents_retrieved", signatures)
    return [
        checks.client_finished(ctx, "OFF-01.1"),
        checks.td02_first(ctx, "OFF-01.2"),
        checks.some_of(ctx, "OFF-01.3", "TD3.1", "The pharmacist's search is accepted (TD3.1)"),
        checks.reported_list(ctx, "OFF-01.4", "documents_retrieved", expected, "Every document shown is opened"),
        checks.exchanges_conform(ctx, "OFF-01.5"),
    ]


def _grade_unqualified(ctx: CaseContext) -> list[Check]:
    return [
        checks.client_finished(ctx, "OFF-05.1"),
        checks.no_dmp_request(ctx, "OFF-05.2", "Nothing is fed for a patient whose identity is not qualified"),
        checks.status_is(ctx, "OFF-05.3", ("refused",), "The pharmacist is told the identity must be qualified"),
    ]


def _grade_updated_bilan(ctx: CaseContext) -> list[Check]:
    first, second = ctx.records[0], ctx.last()
    old = ctx.state.get("replaced")
    new = checks.fed_documents(ctx, second)
    old_status = (ctx.api.document(ctx.workspace, old) or {}).get("status") if old else None
    bilans = [d for d in ctx.api.documents(ctx.workspace, ctx.ins, statuses=("Approved",))
              if d.get("type_code") == EVENTS["bilan"][1] and ctx.id_nat in d.get("author_person_ids", [])]
    return [
        checks.client_finished(ctx, "OFF-06.1", first),
        checks.client_finished(ctx, "OFF-06.2", second),
        Check("OFF-06.3", "The updated bilan replaces the previous one (RPLC)", old_status == "Deprecated" and bool(new),
              "the first bilan Deprecated, the update fed", f"first {old}: {old_status}; update {new or 'not fed'}",
              ("EF_DMP31_01",)),
        Check("OFF-06.4", "One current bilan, not a duplicate", len(bilans) == 1,
              "exactly one Approved bilan by this pharmacist", f"{len(bilans)} Approved bilan(s)"),
    ]


CASES: tuple[Case, ...] = (
    Case("OFF-01", PLAN, "Consultation with the CPS and the patient's INS", ("RG_0310", "RG_3010"), _setup_open,
         (_consult,), _grade_consult, professional="pharmacien"),
    Case("OFF-02", PLAN, "A vaccination is fed automatically (note de vaccination)", ("SC.DMP/CONF.12",),
         _setup_open, (act("vaccination"),), _grade_act("OFF-02", "vaccination"), professional="pharmacien"),
    Case("OFF-03", PLAN, "A finished entretien pharmaceutique is fed automatically", ("SC.DMP/CONF.12",),
         _setup_open, (act("entretien"),), _grade_act("OFF-03", "entretien"), professional="pharmacien"),
    Case("OFF-04", PLAN, "A finalised bilan partagé de médication is fed automatically", ("SC.DMP/CONF.12",),
         _setup_open, (act("bilan"),), _grade_act("OFF-04", "bilan"), professional="pharmacien"),
    Case("OFF-05", PLAN, "No feed before the identity is qualified", ("Référentiel INS",), checks.setup_unqualified,
         (act("vaccination"),), _grade_unqualified, professional="pharmacien"),
    Case("OFF-06", PLAN, "An updated bilan replaces the previous one", ("EF_DMP31_01",), _setup_open,
         (act("bilan"), act("bilan", replaces_first=True)), _grade_updated_bilan, professional="pharmacien"),
)


@indicator(PLAN)
def incentive(outcome: Any) -> dict[str, Any]:
    """Finalised entretiens and bilans of the run (acts on a qualified identity), and which of them reached the DMP:
    a feed the sandbox accepted during the step, stored with the act's typeCode (a later replacement does not
    undo a feed)."""
    acts: list[dict[str, Any]] = []
    for result in outcome.results:
        if result.case.plan != PLAN:
            continue
        for record in result.steps:
            event = record.task.get("event")
            if record.step.action != "act" or event not in INCENTIVE_EVENTS:
                continue
            if (record.task.get("patient") or {}).get("identity_status") != "qualifiee":
                continue  # not an act the pharmacy could feed
            accepted = any(e.get("transaction") == "TD2.1" and e.get("http_status") == 200
                           and e.get("verdict") == "pass" for e in record.exchanges)
            documents = [str(u) for u in (record.result or {}).get("fed") or []] if accepted else []
            type_code = EVENTS[event][1]
            fed = any((outcome.api.document(result.workspace, u) or {}).get("type_code") == type_code
                      for u in documents)
            acts.append({"case": result.case.id, "step": record.number, "event": event, "fed": fed,
                         "documents": documents})
    total = len(acts)
    done = sum(1 for a in acts if a["fed"])
    rate = done / total if total else None
    return {"threshold": INCENTIVE_THRESHOLD, "finalised": total, "fed": done,
            "rate": round(rate, 4) if rate is not None else None,
            "met": rate is not None and rate >= INCENTIVE_THRESHOLD,
            "not_fed": [a for a in acts if not a["fed"]],
            "summary": f"{done}/{total} finalised entretiens and bilans fed"
                       + (f" ({rate:.0%}, threshold {INCENTIVE_THRESHOLD:.0%})" if rate is not None else "")}
