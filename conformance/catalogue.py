"""The rule catalogue (``segur-sandbox conformance rules``) and the renderings of validation reports."""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from lxml import etree

from .rules.engine import Report, rules


def catalogue(rule_sets: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Every rule as a dict: id, title, severity, rule_set, applies_to, refs (sorted by id)."""
    return [r.as_dict() for r in rules(rule_sets)]


def catalogue_text(rule_sets: Iterable[str] | None = None) -> str:
    lines = []
    for item in catalogue(rule_sets):
        refs = f"  [{', '.join(item['refs'])}]" if item["refs"] else ""
        lines.append(f"{item['id']:<14} {item['severity']:<8} {item['rule_set']:<11} {item['title']}{refs}")
    return "\n".join(lines)


def reports_text(reports: Sequence[Report]) -> str:
    lines = []
    for report in reports:
        errors = sum(f.is_error for f in report.findings)
        status = "OK" if report.ok else "FAILED"
        lines.append(f"{report.artifact.name} ({report.artifact.kind}): {status}, {len(report.applied)} rules, "
                     f"{errors} error(s), {len(report.findings) - errors} other finding(s)")
        for f in report.findings:
            where = f" at {f.location}" if f.location else ""
            lines.append(f"  {f.severity.upper():<7} {f.rule_id}: {f.message}{where}")
    return "\n".join(lines)


def reports_json(reports: Sequence[Report]) -> str:
    return json.dumps({"ok": all(r.ok for r in reports), "files": [
        {"file": r.artifact.name, "kind": r.artifact.kind, "ok": r.ok,
         "rules_applied": [rule.id for rule in r.applied],
         "findings": [f.as_dict() for f in r.findings]} for r in reports]}, ensure_ascii=False, indent=2)


def reports_junit(reports: Sequence[Report]) -> str:
    """One testsuite per file, one testcase per rule that applied; error findings are failures, the others go to
    system-out."""
    suites = etree.Element("testsuites", name="segur-sandbox conformance")
    for report in reports:
        failures = 0
        suite = etree.SubElement(suites, "testsuite", name=report.artifact.name, tests=str(len(report.applied)))
        for applied in report.applied:
            case = etree.SubElement(suite, "testcase", classname=f"{applied.rule_set}", name=f"{applied.id} "
                                    f"{applied.title}")
            found = report.by_rule(applied.id)
            errors = [f for f in found if f.is_error]
            if errors:
                failures += 1
                failure = etree.SubElement(case, "failure", type=applied.id,
                                           message=errors[0].message[:500])
                failure.text = "\n".join(f"{f.message} (at {f.location})" for f in errors)
            others = [f for f in found if not f.is_error]
            if others:
                etree.SubElement(case, "system-out").text = "\n".join(
                    f"{f.severity}: {f.message} (at {f.location})" for f in others)
        suite.set("failures", str(failures))
        suite.set("errors", "0")
    return etree.tostring(suites, pretty_print=True, xml_declaration=True, encoding="UTF-8").decode("utf-8")
