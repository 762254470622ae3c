"""What a plan is made of: cases (one requirement each, a clear verdict), their steps (one run of the client),
what a step recorded, and the checks that grade it.

A case prepares its own workspace (``setup``), then runs its steps one after the other: a step is built from the
context when it is due, so a later step can use what an earlier one produced (the uniqueId the client fed, say).
``grade`` turns what the sandbox recorded and what the client reported into checks; the case passes when every
check passes.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from .context import CaseContext

Verdict = Literal["pass", "fail", "error"]


@dataclass(frozen=True)
class Step:
    """One run of the client: the action and what the task adds to the common fields."""

    action: str
    title: str
    instructions: str
    extra: Mapping[str, Any] = field(default_factory=dict)  # merged into the task JSON (document, event, patient…)
    timeout_s: float = 60.0


@dataclass(frozen=True)
class Check:
    """One graded expectation of a case: ``id`` is stable (``CONS-01.2``), ``expected``/``found`` say it plainly."""

    id: str
    title: str
    passed: bool
    expected: str
    found: str
    requirements: tuple[str, ...] = ()
    exchanges: tuple[int, ...] = ()  # exchange ids that show it (evidence)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "passed": self.passed, "expected": self.expected,
                "found": self.found, "requirements": list(self.requirements), "exchanges": list(self.exchanges)}


@dataclass(frozen=True)
class Case:
    id: str
    plan: str
    title: str
    requirements: tuple[str, ...]
    setup: Callable[[CaseContext], None]
    steps: Sequence[Callable[[CaseContext], Step]]
    grade: Callable[[CaseContext], list[Check]]
    mandatory: bool = True
    professional: str = "medecin"  # which seeded professional plays the client's user (see context.PERSONAS)
    description: str = ""


@dataclass
class StepRecord:
    """What one run of the client left: its task, result, exit, output and the exchanges of the step."""

    number: int
    step: Step
    task: dict[str, Any]
    result: dict[str, Any] | None = None
    result_error: str | None = None  # why the result JSON could not be used
    exit_code: int | None = None
    timed_out: bool = False
    duration_s: float = 0.0
    output_tail: str = ""
    exchanges: list[dict[str, Any]] = field(default_factory=list)  # the sandbox's records, oldest first

    @property
    def status(self) -> str | None:
        return (self.result or {}).get("status")


@dataclass
class CaseResult:
    case: Case
    workspace: str
    verdict: Verdict
    checks: list[Check]
    steps: list[StepRecord]
    error: str | None = None  # the runner's own trouble (setup failed…), verdict "error"
    duration_s: float = 0.0

    def as_dict(self, *, frames: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.case.id, "plan": self.case.plan, "title": self.case.title,
            "requirements": list(self.case.requirements), "mandatory": self.case.mandatory,
            "workspace": self.workspace, "verdict": self.verdict, "error": self.error,
            "duration_s": round(self.duration_s, 3),
            "checks": [c.as_dict() for c in self.checks],
            "steps": [{"number": s.number, "action": s.step.action, "title": s.step.title, "task": s.task,
                       "result": s.result, "result_error": s.result_error, "exit_code": s.exit_code,
                       "timed_out": s.timed_out, "duration_s": round(s.duration_s, 3),
                       "output_tail": s.output_tail,
                       "exchanges": [_exchange_summary(e, frames) for e in s.exchanges]} for s in self.steps],
        }
        return out


def _exchange_summary(exchange: Mapping[str, Any], frames: bool) -> dict[str, Any]:
    keys = ("id", "started_at", "duration_ms", "service", "transaction", "action", "http_status", "verdict",
            "patient_ins", "professional", "findings")
    out = {k: exchange.get(k) for k in keys}
    if frames:
        out["request"] = exchange.get("request")
        out["response"] = exchange.get("response")
    return out
