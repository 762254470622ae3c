"""The plans by name, and ``all``."""
from __future__ import annotations

from collections.abc import Iterable

from . import consultation, feeding, ins, officine
from .model import Case

PLANS: dict[str, tuple[Case, ...]] = {
    "consultation": consultation.CASES,
    "feeding": feeding.CASES,
    "ins": ins.CASES,
    "officine": officine.CASES,
}


def plan_names() -> tuple[str, ...]:
    return (*PLANS, "all")


def cases_for(plans: Iterable[str], only: Iterable[str] = ()) -> list[Case]:
    """The cases of the named plans (``all``: every plan), optionally only the case ids in ``only``."""
    names = list(PLANS) if "all" in plans else list(dict.fromkeys(plans))
    unknown = [n for n in names if n not in PLANS]
    if unknown:
        raise KeyError(f"unknown plan(s) {', '.join(unknown)}; known: {', '.join(plan_names())}")
    cases = [case for name in names for case in PLANS[name]]
    wanted = {c.upper() for c in only}
    if wanted:
        missing = wanted - {c.id for c in cases}
        if missing:
            raise KeyError(f"no case {', '.join(sorted(missing))} in plan(s) {', '.join(names)}")
        cases = [c for c in cases if c.id in wanted]
    return cases
