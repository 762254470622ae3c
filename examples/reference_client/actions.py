"""What the software does for each action of the task: the order of the calls and the decisions between them.

The rules every DMP action follows (``open_dmp``):

1. only a *qualified* identity reaches the DMP (the INS was checked with INSi and the identity on a document);
2. TD0.2 comes first, before any other DMP request about the patient;
3. no DMP, a closed DMP or a patient who blocked us: stop and say so ("refused");
4. no authorisation yet, or an expired one: with the patient's consent, declare it (TD0.3) and go on;
   without consent, stop.

Any error answer stops the action: the user is shown the DMP's code and text (``ServiceError``, PRE_ERR).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from segur_sandbox.simulator.dmp import xds
from segur_sandbox.simulator.dmp.xds import constants as c

from . import documents
from .breaks import Breaks
from .cards import read_vitale
from .dmp import APPROVED, ARCHIVED, DELETED, DEPRECATED, Dmp, DmpStatus
from .insi import Insi, InsiAnswer
from .signing import Assertions, open_signer
from .task import EVENT_KINDS, INS_OID_DEFAULT, Result, Task
from .transport import DEFAULT_TIMEOUT_S, ServiceError, Transport

log = logging.getLogger("reference_client")


class Refused(Exception):
    """The software decides not to act; the message is what the user reads."""


class BadTask(Exception):
    """The task lacks something the action needs (a runner or hand-written task problem, not the DMP's)."""


@dataclass
class Run:
    """One action being carried out: the task, the breaks, the HTTP transport and the result being filled in."""

    task: Task
    breaks: Breaks
    transport: Transport
    result: Result = field(default_factory=Result)

    @cached_property
    def assertions(self) -> Assertions:
        try:
            signer = open_signer(self.task)
        except ValueError as exc:  # no credentials given, or unreadable PEM files
            raise BadTask(str(exc)) from None
        except Exception as exc:  # noqa: BLE001 - whatever the PC/SC stack raises: no card, wrong PIN, no pcscd
            raise ServiceError("CPS", "CARD", f"Carte CPS illisible : {exc}") from None
        return Assertions(self.task, signer, self.breaks)


def run(task: Task, breaks: Breaks, timeout_s: float = DEFAULT_TIMEOUT_S) -> Result:
    action = ACTIONS.get(task.action)
    current = Run(task, breaks, Transport.open(breaks, timeout_s))
    try:
        if action is None:
            raise BadTask(f"unknown action {task.action!r}; known: {', '.join(ACTIONS)}")
        action(current)
    except Refused as refusal:
        current.result.status, current.result.reason = "refused", str(refusal)
        log.info("refused: %s", refusal)
    except ServiceError as error:
        log.info("error: %s", error)
        if "hide-errors" in breaks:  # BREAK hide-errors: the user never learns the DMP refused
            current.result.status = "done"
        else:
            current.result.status, current.result.errors = "error", [error.as_dict()]
            current.result.reason = f"{error.transaction} : {error.message} ({error.code})"
    except BadTask as problem:
        current.result.status, current.result.reason = "error", f"Tâche incomplète : {problem}"
    finally:
        current.transport.close()
    return current.result


# -- the DMP: the way in --------------------------------------------------------------------------------------------
def open_dmp(run: Run) -> Dmp:
    """The patient's DMP, once we know we may use it (rules 1 to 4 of the module docstring)."""
    task, breaks = run.task, run.breaks
    if not task.identity_qualified and "feed-unqualified" not in breaks:  # BREAK feed-unqualified
        raise Refused(f"L'identité du patient n'est pas qualifiée ({task.patient.get('identity_status')}) : "
                      "elle ne peut pas être utilisée pour accéder au DMP.")
    if not task.ins:
        raise BadTask("patient.ins is missing")
    dmp = Dmp(task.dmp_url, run.transport, run.assertions, task.ins)
    if "no-td02" in breaks:  # BREAK no-td02: straight to the documents
        return dmp
    status = dmp.test_access()
    run.result.dmp = status.as_result()
    log.info("TD0.2: %s", run.result.dmp)
    problem = access_problem(status, task.consents, breaks)
    if problem == DECLARE:
        dmp.declare_authorization()
        run.result.dmp["declared"] = True
        log.info("TD0.3: authorisation declared")
    elif problem is not None:
        if "ignore-access" not in breaks:  # BREAK ignore-access: go on whatever TD0.2 said
            raise Refused(problem)
    return dmp


DECLARE = "declare"


def access_problem(status: DmpStatus, consents: bool, breaks: Breaks) -> str | None:
    """None when we may go on, DECLARE when TD0.3 must come first, else why we must stop (for the user)."""
    if not status.exists:
        return "Ce patient n'a pas de DMP."
    if status.closed:
        return "Le DMP de ce patient est fermé."
    if status.authorization == "VALIDE":
        return None
    if status.authorization == "INTERDIT":
        return "Le patient a bloqué votre accès à son DMP."
    # NON_EXISTE or EXPIRE: the patient's consent lets us declare (again) our authorisation
    if not consents:
        return (f"Vous n'êtes pas autorisé à accéder à ce DMP (autorisation {status.authorization}) et le patient "
                "n'a pas donné son consentement.")
    if "no-td03" in breaks:  # BREAK no-td03: never declare, so no access
        return f"Vous n'êtes pas autorisé à accéder à ce DMP (autorisation {status.authorization})."
    return DECLARE


def find_current(dmp: Dmp, reference: str | None) -> xds.DocumentEntry:
    """The document the task names (uniqueId or entryUUID), as the DMP has it now (TD3.1)."""
    if not reference:
        raise BadTask("document.unique_id is missing")
    entry = dmp.document(reference)
    if entry is None:
        raise Refused(f"Le document {reference} n'est pas (ou plus) dans le DMP de ce patient.")
    return entry


# -- DMP actions ------------------------------------------------------------------------------------------------------
def consult(run: Run) -> None:
    dmp = open_dmp(run)
    show_all = "show-all" in run.breaks  # BREAK show-all: deprecated and archived documents shown as current ones
    statuses = (APPROVED, DEPRECATED, ARCHIVED) if show_all else (APPROVED,)
    entries = [e for e in dmp.find_documents(statuses) if show_all or e.status == APPROVED]
    shown = list(dict.fromkeys(e.unique_id for e in entries if e.unique_id))
    run.result.documents_shown, run.result.documents_retrieved = shown, []
    log.info("TD3.1: %d document(s)", len(shown))
    for entry in entries:  # the user opens each one
        if entry.unique_id in run.result.documents_retrieved:
            continue
        dmp.retrieve(entry)
        run.result.documents_retrieved.append(entry.unique_id)


def feed(run: Run) -> None:
    kind = run.task.document.get("kind")
    if not kind:
        raise BadTask("document.kind is missing")
    feed_document(run, open_dmp(run), kind)


def act(run: Run) -> None:
    """A care act is over: feed the document it implies, with no extra step for the user."""
    event = run.task.event
    if "skip-feed" in run.breaks or ("skip-feed-entretien" in run.breaks and event == "entretien"):
        return  # BREAK skip-feed / skip-feed-entretien: the act is recorded locally only
    kind = EVENT_KINDS.get(event or "") or run.task.document.get("kind")
    if not kind:
        raise BadTask(f"no document for the event {event!r} (known: {', '.join(EVENT_KINDS)})")
    dmp = open_dmp(run)
    replaces = run.task.document.get("replaces")
    if replaces:  # an updated bilan: a new version of the earlier one
        replace_document(run, dmp, replaces, kind)
    else:
        feed_document(run, dmp, kind)


def replace(run: Run) -> None:
    replace_document(run, open_dmp(run), run.task.document.get("unique_id"), run.task.document.get("kind"))


def mask(run: Run) -> None:
    """Hide the document from other professionals (its author and the médecin traitant still see it)."""
    dmp = open_dmp(run)
    entry = find_current(dmp, run.task.document.get("unique_id"))
    if "no-mask" in run.breaks:  # BREAK no-mask: says done, never asks the DMP (which refuses an update that
        return                   # changes no visibility code, so "the update without MASQUE_PS" cannot be sent)
    if c.MASQUE_PS not in entry.confidentiality_codes:
        dmp.set_confidentiality(entry, add=(c.MASQUE_PS,))


def delete(run: Run) -> None:
    dmp = open_dmp(run)
    entry = find_current(dmp, run.task.document.get("unique_id"))
    dmp.set_status(entry, ARCHIVED if "no-delete" in run.breaks else DELETED)  # BREAK no-delete: archived


def feed_document(run: Run, dmp: Dmp, kind: str, *, replaces: str | None = None) -> None:
    cda = documents.write_document(run.task, kind, run.breaks)
    feeding = documents.submission(cda, run.assertions.signer, run.breaks, replaces=replaces)
    dmp.feed(feeding)
    run.result.fed = [documents.fed_unique_id(feeding)]
    log.info("TD2.1: fed %s %s", kind, run.result.fed[0])


def replace_document(run: Run, dmp: Dmp, reference: str | None, kind: str | None) -> None:
    """A new version of a document (TD2.1 with an RPLC association): the DMP deprecates the old one."""
    old = find_current(dmp, reference)
    kind = kind or documents.kind_of(old)
    if not kind:
        raise BadTask(f"document.kind is missing and the type of {reference} is not one we write")
    if "no-replace" in run.breaks:  # BREAK no-replace: a second document instead of a new version
        feed_document(run, dmp, kind)
    else:
        feed_document(run, dmp, kind, replaces=old.id)


# -- INSi actions -----------------------------------------------------------------------------------------------------
def ins_vitale(run: Run) -> None:
    try:
        card = read_vitale(run.task.patient.get("vitale") or {})
    except Exception as exc:  # noqa: BLE001 - whatever the PC/SC stack or the card file raise
        raise ServiceError("Vitale", "CARD", f"Carte Vitale illisible : {exc}") from None
    rank = int(run.task.patient.get("beneficiary") or 0)  # position on the card, 0: the insured
    if not 0 <= rank < len(card["beneficiaries"]):
        raise BadTask(f"patient.beneficiary {rank} but the card has {len(card['beneficiaries'])} beneficiaries")
    beneficiary = card["beneficiaries"][rank]
    if "skip-insi" in run.breaks:  # BREAK skip-insi: the card's identity is not an INS
        run.result.identity = {"ins": beneficiary["nir"] + beneficiary["key"], "ins_oid": INS_OID_DEFAULT,
                               "family": beneficiary["birth_name"], "given": beneficiary["first_name"],
                               "birth_date": beneficiary["birth_date"]}
        return
    report(run, _insi(run).by_vitale(card, beneficiary))


def ins_traits(run: Run) -> None:
    traits = run.task.patient.get("traits") or {}
    given = traits.get("given") or traits.get("first_given") or ""
    birth_date = traits.get("birth_date") or ""
    if "bad-traits" in run.breaks:  # BREAK bad-traits: what a careless form would send
        given = given.lower()
        birth_date = f"{birth_date[:4]}-{birth_date[8:10]}-{birth_date[5:7]}" if len(birth_date) == 10 else birth_date
    answer = _insi(run).by_traits(traits.get("family") or "", given, traits.get("sex") or "", birth_date,
                                  traits.get("birth_place"))
    if answer.code in ("01", "02") and "guess-identity" in run.breaks:  # BREAK guess-identity
        run.result.identity = made_up_identity(traits)
        return
    report(run, answer)


def _insi(run: Run) -> Insi:
    return Insi(run.task.insi_url, run.transport, run.assertions)


def report(run: Run, answer: InsiAnswer) -> None:
    """INSi's answer as the result: the identity INSi returned (never the one we sent or read)."""
    if answer.code == "00" and answer.identity:
        run.result.identity = answer.identity
    elif answer.code == "01":
        run.result.status, run.result.reason = "not-found", f"INSi : {answer.label}"
    elif answer.code == "02":
        run.result.status, run.result.reason = "ambiguous", f"INSi : {answer.label}"
    else:
        raise ServiceError("INSi", answer.code, answer.label)


def made_up_identity(traits: dict[str, Any]) -> dict[str, Any]:
    """For the guess-identity break only: a NIR-shaped number built from the traits, which INSi never gave."""
    birth = (traits.get("birth_date") or "0000-00-00").replace("-", "")
    place = traits.get("birth_place") if str(traits.get("birth_place") or "").isdigit() else "75056"
    nir = f"{'2' if traits.get('sex') == 'F' else '1'}{birth[2:4]}{birth[4:6]}{place}001"
    return {"ins": f"{nir}{97 - int(nir) % 97:02d}", "ins_oid": INS_OID_DEFAULT, "family": traits.get("family"),
            "given": traits.get("given"), "birth_date": traits.get("birth_date"), "sex": traits.get("sex")}


ACTIONS: dict[str, Callable[[Run], None]] = {
    "ins-vitale": ins_vitale, "ins-traits": ins_traits, "consult": consult, "feed": feed, "act": act,
    "replace": replace, "mask": mask, "delete": delete,
}
