"""The run's reports: ``report.json`` (everything), ``junit.xml`` (one testcase per case, named by its
requirements, failures carrying the failed checks) and ``evidence.html``, a self-contained evidence pack for a
homologation file (verdicts, checks, tasks, results and the request/response frames of every exchange)."""
from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lxml import etree

from .sandbox import SandboxApi, SandboxError

if TYPE_CHECKING:
    from .runner import RunOutcome

FRAME_LIMIT = 200_000  # characters of one body kept in the evidence pack


def write_reports(outcome: RunOutcome, report_dir: Path, api: SandboxApi) -> None:
    """Fetches the frames of every exchange (kept on ``outcome`` for the evidence pack), then writes the files."""
    outcome.frames = collect_frames(outcome, api)
    (report_dir / "report.json").write_text(json.dumps(report_json(outcome), ensure_ascii=False, indent=2),
                                            encoding="utf-8")
    (report_dir / "junit.xml").write_bytes(junit_xml(outcome))
    (report_dir / "evidence.html").write_text(evidence_html(outcome), encoding="utf-8")


def collect_frames(outcome: RunOutcome, api: SandboxApi) -> dict[int, dict[str, Any]]:
    frames: dict[int, dict[str, Any]] = {}
    for result in outcome.results:
        for step in result.steps:
            for exchange in step.exchanges:
                try:
                    detail = api.exchange(result.workspace, int(exchange["id"]))
                except SandboxError as exc:
                    frames[int(exchange["id"])] = {"error": str(exc)}
                    continue
                frames[int(exchange["id"])] = {"request": _body_text(detail.get("request")),
                                               "response": _body_text(detail.get("response")),
                                               "request_content_type": detail.get("request_content_type"),
                                               "response_content_type": detail.get("response_content_type")}
    return frames


def _body_text(body: dict[str, Any] | None) -> str | None:
    if not body:
        return None
    if body.get("encoding") == "base64":
        raw = base64.b64decode(body["data"])
        text = raw.decode("utf-8", errors="replace")
    else:
        text = body["data"]
    text = _pretty(text)
    return text if len(text) <= FRAME_LIMIT else text[:FRAME_LIMIT] + f"\n… ({len(text) - FRAME_LIMIT} more characters)"


def _pretty(text: str) -> str:
    stripped = text.lstrip()
    if not stripped.startswith("<"):
        return text  # MTOM: the parts as they were sent
    try:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True, huge_tree=False)
        root = etree.fromstring(stripped.encode("utf-8"), parser)
    except etree.XMLSyntaxError:
        return text
    return etree.tostring(root, pretty_print=True, encoding="unicode")


def report_json(outcome: RunOutcome) -> dict[str, Any]:
    return {
        "format": "segur-sandbox/conformance-report/1",
        "run": {"id": outcome.run_id, "started_at": outcome.started_at.isoformat(),
                "finished_at": outcome.finished_at.isoformat(), "server": outcome.server,
                "verdict": "pass" if outcome.passed else "fail", "summary": outcome.summary()},
        "indicators": outcome.indicators,
        "cases": [r.as_dict() for r in outcome.results],
    }


def junit_xml(outcome: RunOutcome) -> bytes:
    suites = etree.Element("testsuites", name="segur-sandbox conformance", tests=str(len(outcome.results)))
    by_plan: dict[str, list[Any]] = {}
    for result in outcome.results:
        by_plan.setdefault(result.case.plan, []).append(result)
    for plan, results in by_plan.items():
        suite = etree.SubElement(suites, "testsuite", name=plan, tests=str(len(results)),
                                 failures=str(sum(r.verdict == "fail" for r in results)),
                                 errors=str(sum(r.verdict == "error" for r in results)),
                                 time=f"{sum(r.duration_s for r in results):.3f}")
        for result in results:
            case = result.case
            refs = f" [{', '.join(case.requirements)}]" if case.requirements else ""
            testcase = etree.SubElement(suite, "testcase", classname=f"segur_sandbox.{plan}",
                                        name=f"{case.id}{refs} {case.title}", time=f"{result.duration_s:.3f}")
            properties = etree.SubElement(testcase, "properties")
            for requirement in case.requirements:
                etree.SubElement(properties, "property", name="requirement", value=requirement)
            etree.SubElement(properties, "property", name="workspace", value=result.workspace)
            etree.SubElement(properties, "property", name="mandatory", value=str(case.mandatory).lower())
            if result.verdict == "error":
                node = etree.SubElement(testcase, "error", message=result.error or "error")
                node.text = result.error
            elif result.verdict == "fail":
                failed = [c for c in result.checks if not c.passed]
                node = etree.SubElement(testcase, "failure", message="; ".join(f"{c.id}: {c.title}" for c in failed),
                                        type="conformance")
                findings = {int(e["id"]): e.get("findings") or [] for step in result.steps for e in step.exchanges}
                node.text = "\n".join(_failure_text(c, findings) for c in failed)
            out = etree.SubElement(testcase, "system-out")
            out.text = "\n".join(f"{'PASS' if c.passed else 'FAIL'} {c.id} {c.title}: {c.found}" for c in result.checks)
    return etree.tostring(suites, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _failure_text(check: Any, findings: dict[int, list[dict[str, Any]]]) -> str:
    lines = [f"{check.id} {check.title}", f"  requirements: {', '.join(check.requirements) or '-'}",
             f"  expected: {check.expected}", f"  found: {check.found}",
             f"  exchanges: {', '.join(map(str, check.exchanges)) or '-'}"]
    for exchange_id in check.exchanges:
        for f in findings.get(exchange_id, []):
            if f.get("severity") == "error":
                lines.append(f"    #{exchange_id} {f.get('rule')} at {f.get('location') or '-'}: {f.get('message')}")
    return "\n".join(lines)


# -- the evidence pack -------------------------------------------------------------------------------------------------
_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#1b1b1b;line-height:1.4}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;
vertical-align:top}.pass{color:#0a6b2d;font-weight:bold}.fail,.error{color:#b00020;font-weight:bold}
pre{background:#f6f6f6;padding:.5rem;overflow:auto;max-height:30rem;font-size:.8rem;white-space:pre-wrap}
details{margin:.25rem 0}summary{cursor:pointer}.muted{color:#666}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def evidence_html(outcome: RunOutcome) -> str:
    summary = outcome.summary()
    verdict = "pass" if outcome.passed else "fail"
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Ségur Sandbox conformance evidence — run {_e(outcome.run_id)}</title><style>{_CSS}</style></head><body>",
        f"<h1>Conformance evidence pack — run {_e(outcome.run_id)}</h1>",
        f"<p>Verdict: <span class='{verdict}'>{verdict.upper()}</span> · {summary['passed']} of {summary['cases']} "
        f"cases passed · server {_e(outcome.server)} · {_e(outcome.started_at.isoformat())} → "
        f"{_e(outcome.finished_at.isoformat())}</p>",
        "<p class='muted'>Generated by Ségur Sandbox, an offline replica of the DMP and INSi test services. Test "
        "identities only. Checks are the sandbox's reading of the requirements named beside them.</p>",
    ]
    if outcome.indicators:
        parts.append("<h2>Indicators</h2>")
        for plan, values in outcome.indicators.items():
            parts.append(f"<h3>{_e(plan)}</h3><pre>{_e(json.dumps(values, ensure_ascii=False, indent=2))}</pre>")
    parts.append("<h2>Cases</h2><table><tr><th>Case</th><th>Requirements</th><th>Verdict</th><th>Title</th></tr>")
    for r in outcome.results:
        parts.append(f"<tr><td><a href='#{_e(r.case.id)}'>{_e(r.case.id)}</a></td>"
                     f"<td>{_e(', '.join(r.case.requirements))}</td><td class='{r.verdict}'>{r.verdict.upper()}</td>"
                     f"<td>{_e(r.case.title)}</td></tr>")
    parts.append("</table>")
    for r in outcome.results:
        parts.append(_case_html(r, outcome.frames))
    parts.append("</body></html>")
    return "".join(parts)


def _case_html(result: Any, frames: dict[int, dict[str, Any]]) -> str:
    case = result.case
    out = [f"<h2 id='{_e(case.id)}'>{_e(case.id)} — {_e(case.title)} "
           f"<span class='{result.verdict}'>{result.verdict.upper()}</span></h2>",
           f"<p>Requirements: {_e(', '.join(case.requirements))} · workspace <code>{_e(result.workspace)}</code>"
           f"{'' if case.mandatory else ' · optional'}</p>"]
    if result.error:
        out.append(f"<p class='error'>{_e(result.error)}</p>")
    if result.checks:
        out.append("<table><tr><th>Check</th><th>Verdict</th><th>Expected</th><th>Found</th><th>Exchanges</th></tr>")
        for c in result.checks:
            out.append(f"<tr><td>{_e(c.id)} {_e(c.title)}<br><span class='muted'>{_e(', '.join(c.requirements))}"
                       f"</span></td><td class='{'pass' if c.passed else 'fail'}'>{'PASS' if c.passed else 'FAIL'}</td>"
                       f"<td>{_e(c.expected)}</td><td>{_e(c.found)}</td>"
                       f"<td>{', '.join(f'#{i}' for i in c.exchanges)}</td></tr>")
        out.append("</table>")
    for step in result.steps:
        out.append(f"<h3>Step {step.number}: {_e(step.step.title)} <span class='muted'>({_e(step.step.action)}, "
                   f"{step.duration_s:.1f} s, exit {_e(step.exit_code)}{', timed out' if step.timed_out else ''})"
                   "</span></h3>")
        out.append(f"<details><summary>Task</summary><pre>{_e(json.dumps(step.task, ensure_ascii=False, indent=2))}"
                   "</pre></details>")
        out.append("<details><summary>Client result</summary><pre>"
                   f"{_e(json.dumps(step.result, ensure_ascii=False, indent=2) if step.result else step.result_error)}"
                   "</pre></details>")
        if step.output_tail:
            out.append(f"<details><summary>Client output (tail)</summary><pre>{_e(step.output_tail)}</pre></details>")
        for exchange in step.exchanges:
            frame = frames.get(int(exchange["id"]), {})
            findings = exchange.get("findings") or []
            out.append(f"<details><summary>#{exchange['id']} {_e(exchange.get('transaction') or exchange.get('service'))}"
                       f" — HTTP {_e(exchange.get('http_status'))}, {_e(exchange.get('verdict'))}, "
                       f"{len(findings)} finding(s)</summary>")
            if findings:
                out.append("<table><tr><th>Rule</th><th>Severity</th><th>Message</th><th>Where</th></tr>")
                for f in findings:
                    out.append(f"<tr><td>{_e(f.get('rule'))}</td><td>{_e(f.get('severity'))}</td>"
                               f"<td>{_e(f.get('message'))}</td><td><code>{_e(f.get('location'))}</code></td></tr>")
                out.append("</table>")
            out.append(f"<p>Request ({_e(frame.get('request_content_type'))})</p><pre>{_e(frame.get('request'))}</pre>")
            out.append(f"<p>Response ({_e(frame.get('response_content_type'))})</p><pre>{_e(frame.get('response'))}</pre>")
            out.append("</details>")
    return "".join(out)
