"""The conformance plans graded on the reference client: every case passes with it, and each ``--break`` switch
makes the cases of the rule it breaks fail, on the check that says so (a case that cannot fail proves nothing)."""
from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest
from lxml import etree

from segur_sandbox.conformance.plans.registry import cases_for
from segur_sandbox.conformance.plans.runner import RunOptions, run_cases

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "examples" / "reference_client" / "client.py"


def client_cmd(*breaks: str) -> str:
    return " ".join([shlex.quote(sys.executable), shlex.quote(str(CLIENT)), *(f"--break {b}" for b in breaks)])


def run(server, tmp_path: Path, plans: tuple[str, ...], *, only: tuple[str, ...] = (),
        breaks: tuple[str, ...] = (), cmd: str | None = None, **options):  # type: ignore[no-untyped-def]
    return run_cases(cases_for(plans, only), RunOptions(
        client_cmd=cmd or client_cmd(*breaks), report_dir=tmp_path / "report", server_url=server.url,
        pki=server.runtime.pki, echo=lambda _line: None, **options))


def verdicts(outcome) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {r.case.id: r.verdict for r in outcome.results}


def failed_checks(outcome, case_id: str) -> set[str]:  # type: ignore[no-untyped-def]
    result = next(r for r in outcome.results if r.case.id == case_id)
    return {c.id for c in result.checks if not c.passed}


def test_reference_client_passes_every_case(server, tmp_path):  # type: ignore[no-untyped-def]
    outcome = run(server, tmp_path, ("all",))
    problems = {r.case.id: (r.error or [f"{c.id}: expected {c.expected}; found {c.found}"
                                        for c in r.checks if not c.passed]) for r in outcome.results
                if r.verdict != "pass"}
    assert problems == {}
    assert outcome.passed and outcome.summary()["passed"] == len(cases_for(("all",)))
    indicator = outcome.indicators["officine"]
    assert (indicator["finalised"], indicator["fed"], indicator["met"]) == (4, 4, True)

    report = tmp_path / "report"
    data = json.loads((report / "report.json").read_text())
    assert data["run"]["verdict"] == "pass" and len(data["cases"]) == len(outcome.results)
    suites = etree.parse(str(report / "junit.xml")).getroot()
    testcases = suites.findall(".//testcase")
    assert len(testcases) == len(outcome.results) and not suites.findall(".//failure")
    assert {p.get("value") for p in suites.iter("property") if p.get("name") == "requirement"} >= {
        "RG_0310", "PRE_ERR", "PRE_TPS", "EX_3.1-1030"}
    html = (report / "evidence.html").read_text()
    assert "CONS-01" in html and "VIHF" in html and "<pre>" in html  # frames included


# (break, cases that must fail, a check that must be among the failed ones of the first case)
BREAKS = [
    ("no-td02", ("CONS-01", "FEED-01"), "CONS-01.2"),
    ("ignore-access", ("CONS-03", "CONS-04", "CONS-05", "FEED-05"), "CONS-03.3"),
    ("no-td03", ("CONS-02", "CONS-10"), "CONS-02.3"),
    ("show-all", ("CONS-06",), "CONS-06.2"),
    ("hide-errors", ("CONS-07", "FEED-06"), "CONS-07.2"),
    ("retry-storm", ("CONS-08",), "CONS-08.3"),
    ("stale-clock", ("VIHF-01",), "VIHF-01.3"),
    ("bad-metadata", ("FEED-01",), "FEED-01.3"),
    ("no-replace", ("FEED-02", "OFF-06"), "FEED-02.3"),
    ("no-mask", ("FEED-03",), "FEED-03.3"),
    ("no-delete", ("FEED-04",), "FEED-04.3"),
    ("feed-unqualified", ("INS-05", "OFF-05"), "INS-05.2"),
    ("skip-insi", ("INS-01",), "INS-01.2"),
    ("bad-traits", ("INS-02",), "INS-02.3"),
    ("guess-identity", ("INS-03", "INS-04"), "INS-03.4"),
    ("skip-feed", ("OFF-02", "OFF-03", "OFF-04"), "OFF-02.2"),
    ("medecin-metadata", ("OFF-02",), "OFF-02.3"),
]


@pytest.mark.parametrize(("switch", "cases", "check"), BREAKS, ids=[b[0] for b in BREAKS])
def test_each_break_fails_its_cases(server, tmp_path, switch, cases, check):  # type: ignore[no-untyped-def]
    outcome = run(server, tmp_path, ("all",), only=cases, breaks=(switch,))
    assert verdicts(outcome) == {case: "fail" for case in cases}
    assert check in failed_checks(outcome, cases[0])
    assert not outcome.passed


def test_no_timeout_break_is_killed_and_fails(server, tmp_path):  # type: ignore[no-untyped-def]
    outcome = run(server, tmp_path, ("consultation",), only=("CONS-09",), breaks=("no-timeout",))
    result = outcome.results[0]
    assert result.verdict == "fail" and result.steps[0].timed_out
    assert "CONS-09.1" in failed_checks(outcome, "CONS-09")


def test_incentive_indicator_counts_each_act(server, tmp_path):  # type: ignore[no-untyped-def]
    outcome = run(server, tmp_path, ("officine",), breaks=("skip-feed-entretien",))
    indicator = outcome.indicators["officine"]
    assert (indicator["finalised"], indicator["fed"], indicator["rate"], indicator["met"]) == (4, 3, 0.75, False)
    assert [(a["case"], a["event"]) for a in indicator["not_fed"]] == [("OFF-03", "entretien")]
    assert verdicts(outcome)["OFF-03"] == "fail" and verdicts(outcome)["OFF-04"] == "pass"
