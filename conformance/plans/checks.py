"""The graded expectations cases are made of. Each returns one ``Check`` whose ``expected`` and ``found`` say, in
plain words, what the requirement asks and what the run shows; ``exchanges`` names the frames that show it."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from .context import CaseContext
from .model import Check, StepRecord

ACCESS_TRANSACTIONS = frozenset({"TD3.1", "TD3.2", "TD2.1", "TD3.3", "TD0.3", "TD1.6"})
CONSULT_TRANSACTIONS = frozenset({"TD3.1", "TD3.2"})
FEED_TRANSACTIONS = frozenset({"TD2.1", "TD3.3"})


def _ids(exchanges: Iterable[dict[str, Any]]) -> tuple[int, ...]:
    return tuple(int(e["id"]) for e in exchanges)


def _sequence(exchanges: Sequence[dict[str, Any]]) -> str:
    return ", ".join(str(e.get("transaction") or e.get("service")) for e in exchanges) or "no exchange"


def client_finished(ctx: CaseContext, check_id: str, record: StepRecord | None = None) -> Check:
    """The client ended on its own, in time, with a readable result."""
    record = record or ctx.last()
    problems = []
    if record.timed_out:
        problems.append(f"still running after {record.step.timeout_s:g} s (killed)")
    if record.result is None:
        problems.append(record.result_error or "no result JSON written")
    return Check(check_id, "The client finishes in time and reports its result", not problems,
                 "the client exits within the step's time limit and writes its result JSON",
                 "; ".join(problems) or f"exit code {record.exit_code}, status {record.status!r}")


def status_is(ctx: CaseContext, check_id: str, expected: Sequence[str], title: str, *,
              record: StepRecord | None = None, requirements: tuple[str, ...] = ()) -> Check:
    record = record or ctx.last()
    found = record.status
    return Check(check_id, title, found in expected, f"result status {' or '.join(map(repr, expected))}",
                 f"result status {found!r}" + (f" ({(record.result or {}).get('reason')})"
                                               if (record.result or {}).get("reason") else ""),
                 requirements)


def td02_first(ctx: CaseContext, check_id: str, *, requirements: tuple[str, ...] = ("RG_0310",)) -> Check:
    """TD0.2 precedes any other DMP access for the patient (RG_0310)."""
    dmp = ctx.exchanges(dmp_only=True)
    first_access = next((i for i, e in enumerate(dmp) if e.get("transaction") in ACCESS_TRANSACTIONS), None)
    td02 = next((i for i, e in enumerate(dmp) if e.get("transaction") == "TD0.2"), None)
    passed = td02 is not None and (first_access is None or td02 < first_access)
    return Check(check_id, "TD0.2 (existence and authorisation test) before any other access to the DMP", passed,
                 "a TD0.2 request before the first search, retrieval, feed or update",
                 f"DMP requests in order: {_sequence(dmp)}", requirements, _ids(dmp[:3]))


def none_of(ctx: CaseContext, check_id: str, transactions: frozenset[str], title: str, *,
            requirements: tuple[str, ...] = (), record: StepRecord | None = None) -> Check:
    exchanges = record.exchanges if record else ctx.exchanges()
    offending = [e for e in exchanges if e.get("transaction") in transactions]
    return Check(check_id, title, not offending, f"no {'/'.join(sorted(transactions))} request",
                 f"{len(offending)} such request(s): {_sequence(offending)}" if offending
                 else f"requests: {_sequence(exchanges)}", requirements, _ids(offending))


def some_of(ctx: CaseContext, check_id: str, transaction: str, title: str, *, succeeded: bool = True,
            requirements: tuple[str, ...] = (), record: StepRecord | None = None) -> Check:
    exchanges = record.exchanges if record else ctx.exchanges()
    matching = [e for e in exchanges if e.get("transaction") == transaction]
    good = [e for e in matching if not succeeded or (e.get("http_status") == 200 and e.get("verdict") == "pass")]
    found = (f"{len(matching)} {transaction} request(s), {len(good)} accepted" if matching
             else f"no {transaction} request (requests: {_sequence(exchanges)})")
    return Check(check_id, title, bool(good), f"a {transaction} request the DMP accepts", found, requirements,
                 _ids(matching))


def exchanges_conform(ctx: CaseContext, check_id: str, *, rule_prefixes: tuple[str, ...] = (),
                      title: str = "Every request conforms (transport, VIHF, INSi rules)",
                      requirements: tuple[str, ...] = (), record: StepRecord | None = None) -> Check:
    """No error finding of the live rules on the recorded requests (optionally only rules with these prefixes)."""
    exchanges = record.exchanges if record else ctx.exchanges()
    bad: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for exchange in exchanges:
        for finding in exchange.get("findings") or []:
            if finding.get("severity") != "error":
                continue
            if rule_prefixes and not str(finding.get("rule", "")).startswith(rule_prefixes):
                continue
            bad.append((exchange, finding))
    found = "; ".join(f"#{e['id']} {e.get('transaction')}: {f.get('rule')} {f.get('message')}" for e, f in bad[:5])
    return Check(check_id, title, not bad, "no error finding on the client's requests",
                 found or f"{len(exchanges)} request(s), no error finding", requirements,
                 _ids({e["id"]: e for e, _ in bad}.values()))


def at_most(ctx: CaseContext, check_id: str, transaction: str | None, limit: int, title: str, *,
            requirements: tuple[str, ...] = ()) -> Check:
    exchanges = [e for e in ctx.exchanges() if transaction is None or e.get("transaction") == transaction]
    return Check(check_id, title, len(exchanges) <= limit, f"at most {limit} {transaction or ''} request(s)",
                 f"{len(exchanges)} request(s)", requirements, _ids(exchanges))


def error_reported(ctx: CaseContext, check_id: str, code: str, *, requirements: tuple[str, ...] = ("PRE_ERR",),
                   record: StepRecord | None = None) -> Check:
    """PRE_ERR: the client shows the user the DMP's error: status "error" with the code among its errors."""
    record = record or ctx.last()
    result = record.result or {}
    errors = result.get("errors") or []
    codes = [str(e.get("code", "")) for e in errors if isinstance(e, dict)]
    passed = record.status == "error" and any(code in c for c in codes)
    return Check(check_id, "The DMP's error is reported to the user (code and text)", passed,
                 f"result status 'error' with an error whose code contains {code!r} and its text",
                 f"status {record.status!r}, error codes {codes}", requirements,
                 _ids(e for e in record.exchanges if e.get("http_status") != 200 or e.get("verdict") != "pass"))


def reported_list(ctx: CaseContext, check_id: str, key: str, expected: set[str], title: str, *,
                  requirements: tuple[str, ...] = (), record: StepRecord | None = None) -> Check:
    record = record or ctx.last()
    found = set((record.result or {}).get(key) or [])
    missing, extra = expected - found, found - expected
    detail = []
    if missing:
        detail.append(f"missing {sorted(missing)}")
    if extra:
        detail.append(f"not expected {sorted(extra)}")
    return Check(check_id, title, not missing and not extra, f"{key} = {sorted(expected)}",
                 "; ".join(detail) or f"{key} = {sorted(found)}", requirements)


def fed_documents(ctx: CaseContext, record: StepRecord | None = None) -> list[str]:
    """uniqueIds the client says it fed in the step."""
    record = record or ctx.last()
    return [str(u) for u in (record.result or {}).get("fed") or []]


def stored(ctx: CaseContext, unique_id: str) -> dict[str, Any] | None:
    return ctx.api.document(ctx.workspace, unique_id)


def no_dmp_request(ctx: CaseContext, check_id: str, title: str) -> Check:
    """Nothing at all was sent to the DMP (the identity is not qualified: Référentiel INS, RNIV)."""
    dmp = ctx.exchanges(dmp_only=True)
    return Check(check_id, title, not dmp, "no DMP request for a patient whose identity is not qualified",
                 f"{len(dmp)} DMP request(s): {_sequence(dmp)}" if dmp else "no DMP request",
                 ("Référentiel INS", "RNIV EXI SI 07"), _ids(dmp))


def setup_unqualified(ctx: CaseContext) -> None:
    """A patient with an open DMP and the persona authorised, whose identity the client only retrieved."""
    ctx.choose_patient(index=1)
    ctx.open_dmp("VALIDE")
    ctx.task_patient["identity_status"] = "recuperee"
