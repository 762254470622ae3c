"""Conformance plans: cases that set the sandbox's state, give a client its task, and grade what it did.

``segur-sandbox conformance run --plan consultation|feeding|ins|officine|all --client-cmd CMD --report-dir DIR``
(see ``runner``); the task given to the client is described in docs/client-task.md.
"""
from __future__ import annotations

from .model import Case, CaseResult, Check, Step, StepRecord
from .registry import PLANS, cases_for

__all__ = ["PLANS", "Case", "CaseResult", "Check", "Step", "StepRecord", "cases_for"]
