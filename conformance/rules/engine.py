"""The one rule engine of the conformance suite (HAPI FHIR's validator shape: one engine, many rule sets).

A ``Rule`` has a stable id (``CDA-HDR-012``, ``VIHF-007``…), a severity, the requirement references it serves and
a check function. The check receives a typed artifact (``CdaDocument``, ``SoapArtifact``, ``SamlAssertion``) and
yields ``(message, location)`` pairs, or whole ``Finding`` objects when it must override the severity; the engine
stamps the rule's id, severity and references on the pairs. Rules never parse bytes: artifacts carry parsed forms.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ..artifacts import Artifact

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")

Check = Callable[[Any], Iterable["Finding | tuple[str, str | None]"]]


@dataclass(frozen=True)
class Finding:
    """One problem: which rule, how bad, what was expected and found, where (XPath or field), which requirements."""

    rule_id: str
    severity: Severity
    message: str
    location: str | None = None
    refs: tuple[str, ...] = ()

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule_id, "severity": self.severity, "message": self.message,
                "location": self.location, "refs": list(self.refs)}


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    severity: Severity
    rule_set: str
    artifact_types: tuple[type[Artifact], ...]
    check: Check = field(repr=False)
    refs: tuple[str, ...] = ()
    when: Callable[[Any], bool] | None = field(default=None, repr=False)

    def applies(self, artifact: Artifact) -> bool:
        return isinstance(artifact, self.artifact_types) and (self.when is None or bool(self.when(artifact)))

    def run(self, artifact: Artifact, prefix: str = "") -> list[Finding]:
        findings = []
        for item in self.check(artifact):
            if isinstance(item, Finding):
                finding = item
            else:
                message, location = item
                finding = Finding(self.id, self.severity, message, location, self.refs)
            if prefix:
                finding = Finding(finding.rule_id, finding.severity, finding.message,
                                  prefix + (finding.location or ""), finding.refs)
            findings.append(finding)
        return findings

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "severity": self.severity, "rule_set": self.rule_set,
                "applies_to": [t.kind for t in self.artifact_types], "refs": list(self.refs)}


REGISTRY: dict[str, Rule] = {}


def rule(rule_id: str, title: str, *, rule_set: str, applies_to: type[Artifact] | tuple[type[Artifact], ...],
         severity: Severity = "error", refs: Sequence[str] = (),
         when: Callable[[Any], bool] | None = None) -> Callable[[Check], Check]:
    """Register the decorated check function as a rule; ids must be unique across every rule set."""
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}, not {severity!r}")
    types = applies_to if isinstance(applies_to, tuple) else (applies_to,)

    def register(check: Check) -> Check:
        if rule_id in REGISTRY:
            raise ValueError(f"rule id {rule_id} is registered twice")
        REGISTRY[rule_id] = Rule(rule_id, title, severity, rule_set, types, check, tuple(refs), when)
        return check
    return register


def finding(rule_id: str, severity: Severity, message: str, location: str | None = None) -> Finding:
    """A finding with an explicit severity (for checks that downgrade some cases); refs come from the rule."""
    registered = REGISTRY.get(rule_id)
    return Finding(rule_id, severity, message, location, registered.refs if registered else ())


def load_rule_sets() -> None:
    """Import every rule set module so its rules are registered."""
    from . import cda_header, cda_volets, insi, transport, vihf, xds  # noqa: F401


def rules(rule_sets: Iterable[str] | None = None) -> list[Rule]:
    """Registered rules, sorted by id, optionally restricted to some rule sets."""
    load_rule_sets()
    wanted = set(rule_sets) if rule_sets is not None else None
    if wanted is not None:
        unknown = wanted - set(rule_set_names())
        if unknown:
            raise ValueError(f"unknown rule set(s) {', '.join(sorted(unknown))}; known: "
                             f"{', '.join(rule_set_names())}")
    return sorted((r for r in REGISTRY.values() if wanted is None or r.rule_set in wanted), key=lambda r: r.id)


def rule_set_names() -> tuple[str, ...]:
    load_rule_sets()
    return tuple(sorted({r.rule_set for r in REGISTRY.values()}))


@dataclass
class Report:
    """What ``evaluate`` did: the rules that applied (to the artifact or an embedded one) and the findings."""

    artifact: Artifact
    applied: list[Rule] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(f.is_error for f in self.findings)

    def by_rule(self, rule_id: str) -> list[Finding]:
        return [f for f in self.findings if f.rule_id == rule_id]


def evaluate(artifact: Artifact, rule_sets: Iterable[str] | None = None) -> Report:
    """Run every applicable rule on the artifact and on what it embeds (a SOAP message's VIHF, the CDA documents
    of an ITI-41); locations of embedded findings are prefixed with where the embedded artifact was found."""
    selected = rules(rule_sets)
    # Only descend into embedded artifacts some selected rule checks: the server's live checks of every request
    # (transport, vihf, insi) have no CDA rule, and walking an ITI-41 parsed its submission and each CDA again.
    kinds = tuple({kind for candidate in selected for kind in candidate.artifact_types})
    report = Report(artifact)
    seen: set[str] = set()
    for target, prefix in _walk(artifact, "", kinds):
        for candidate in selected:
            if candidate.applies(target):
                if candidate.id not in seen:
                    seen.add(candidate.id)
                    report.applied.append(candidate)
                report.findings.extend(candidate.run(target, prefix))
    return report


def run(artifact: Artifact, rule_sets: Iterable[str] | None = None) -> list[Finding]:
    """The findings of every applicable rule (see ``evaluate``)."""
    return evaluate(artifact, rule_sets).findings


def _walk(artifact: Artifact, prefix: str, kinds: tuple[type[Artifact], ...] | None = None
          ) -> Iterator[tuple[Artifact, str]]:
    yield artifact, prefix
    for where, inner in artifact.embedded(kinds):
        yield from _walk(inner, f"{prefix}{where}: ", kinds)
