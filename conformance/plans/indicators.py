"""Figures computed over a whole run, beyond pass/fail: each plan may add its own (``officine``: the share of
finalised acts fed to the DMP, against the incentive threshold)."""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .runner import RunOutcome

INDICATORS: dict[str, Callable[[RunOutcome], dict[str, Any]]] = {}


def indicator(plan: str):  # type: ignore[no-untyped-def]
    def register(func: Callable[[RunOutcome], dict[str, Any]]) -> Callable[[RunOutcome], dict[str, Any]]:
        INDICATORS[plan] = func
        return func
    return register


def indicators_for(outcome: RunOutcome) -> dict[str, Any]:
    plans = {r.case.plan for r in outcome.results}
    return {plan: func(outcome) for plan, func in INDICATORS.items() if plan in plans}
