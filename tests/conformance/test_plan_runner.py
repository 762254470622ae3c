"""The runner itself: what it gives the client, how it treats a client that crashes, hangs or writes nonsense,
the interactive mode, the reports and the command line's exit codes."""
from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from lxml import etree

from segur_sandbox.conformance.plans.registry import cases_for
from segur_sandbox.conformance.plans.runner import RunOptions, run_cases
from segur_sandbox.simulator.cli import main


def script(tmp_path: Path, body: str) -> str:
    path = tmp_path / "client.py"
    path.write_text("import json, os, sys, time\n" + body)
    return f"{shlex.quote(sys.executable)} {shlex.quote(str(path))}"


def run(server, tmp_path, cmd, only=("CONS-03",), **options):  # type: ignore[no-untyped-def]
    return run_cases(cases_for(("all",), only), RunOptions(
        client_cmd=cmd, report_dir=tmp_path / "report", server_url=server.url, pki=server.runtime.pki,
        echo=lambda _l: None, **options))


def test_the_client_gets_its_task_and_environment(server, tmp_path):  # type: ignore[no-untyped-def]
    cmd = script(tmp_path, """
task = json.load(open(os.environ["SEGUR_SANDBOX_TASK"]))
seen = {k: v for k, v in os.environ.items() if k.startswith("SEGUR_SANDBOX_")}
json.dump({"status": "refused", "reason": "DMP bloqué", "task": task, "env": seen},
          open(os.environ["SEGUR_SANDBOX_RESULT"], "w"))
""")
    outcome = run(server, tmp_path, cmd)
    record = outcome.results[0].steps[0]
    task, env = record.result["task"], record.result["env"]
    assert task["case"] == "CONS-03" and task["action"] == "consult"
    assert env["SEGUR_SANDBOX_CASE"] == "CONS-03"
    assert env["SEGUR_SANDBOX_DMP_URL"] == task["endpoints"]["dmp"]
    assert task["endpoints"]["dmp"].startswith(f"{server.url}/w/cr-") and task["endpoints"]["dmp"].endswith(
        "/si-dmp-server/v2/services")
    assert len(task["patient"]["ins"]) == 15 and task["patient"]["identity_status"] == "qualifiee"
    for key in ("sign_cert", "sign_key", "auth_cert", "auth_key", "ca_chain"):
        assert Path(task["professional"]["credentials"][key]).read_bytes().startswith(b"-----BEGIN")
    # the sandbox holds the state the case promised: the patient blocked this professional
    workspace = outcome.results[0].workspace
    patient = httpx.get(f"{server.url}/api/workspaces/{workspace}/patients/{task['patient']['ins']}").json()
    statuses = {a["ps_id_nat"]: a["status"] for a in patient["authorizations"]}
    assert statuses[task["professional"]["id_nat"]] == "INTERDIT"


@pytest.mark.parametrize(("body", "why"), [
    ("sys.exit(3)", "no result JSON written"),
    ("open(os.environ['SEGUR_SANDBOX_RESULT'], 'w').write('{not json')", "unreadable result JSON"),
    ("open(os.environ['SEGUR_SANDBOX_RESULT'], 'w').write('[1, 2]')", "not an object"),
])
def test_a_broken_client_fails_its_case_clearly(server, tmp_path, body, why):  # type: ignore[no-untyped-def]
    outcome = run(server, tmp_path, script(tmp_path, body))
    result = outcome.results[0]
    assert result.verdict == "fail"
    finished = next(c for c in result.checks if c.id == "CONS-03.1")
    assert not finished.passed and why in finished.found


def test_a_hanging_client_is_killed_at_the_step_time_limit(server, tmp_path):  # type: ignore[no-untyped-def]
    from segur_sandbox.conformance.plans import consultation

    outcome = run(server, tmp_path, script(tmp_path, "time.sleep(60)"), only=("CONS-09",))
    record = outcome.results[0].steps[0]
    assert record.timed_out and record.duration_s < consultation.TIMEOUT_STEP_S + 5
    assert outcome.results[0].verdict == "fail"


def test_setup_trouble_is_an_error_verdict_not_a_crash(server, tmp_path):  # type: ignore[no-untyped-def]
    # another seed: its professionals are not in this server's directory
    outcome = run_cases(cases_for(("consultation",), ("CONS-01",)), RunOptions(
        client_cmd="true", report_dir=tmp_path / "r", server_url=server.url, pki=server.runtime.pki, seed=99,
        echo=lambda _l: None))
    result = outcome.results[0]
    assert result.verdict == "error" and "--seed" in (result.error or "")
    failure = etree.parse(str(tmp_path / "r" / "junit.xml")).getroot().find(".//error")
    assert failure is not None and "--seed" in failure.get("message")


def test_interactive_mode_prints_the_task_and_asks_what_happened(server, tmp_path):  # type: ignore[no-untyped-def]
    printed: list[str] = []
    answers = iter(["", "refused", "Accès refusé par le patient"])
    outcome = run_cases(cases_for(("consultation",), ("CONS-03",)), RunOptions(
        client_cmd=None, report_dir=tmp_path / "r", server_url=server.url, pki=server.runtime.pki, interactive=True,
        echo=printed.append, ask=lambda _prompt: next(answers)))
    text = "\n".join(printed)
    assert "CONS-03 step 1" in text and "/si-dmp-server/v2/services" in text
    record = outcome.results[0].steps[0]
    assert record.result == {"status": "refused", "reason": "Accès refusé par le patient"}
    # nothing was sent to the DMP by the "application", so TD0.2 is missing: the case fails on that check only
    assert {c.id for c in outcome.results[0].checks if not c.passed} == {"CONS-03.2"}


def test_cli_exit_codes(server, tmp_path):  # type: ignore[no-untyped-def]
    runner = CliRunner()
    failing = script(tmp_path, "json.dump({'status': 'done'}, open(os.environ['SEGUR_SANDBOX_RESULT'], 'w'))")
    result = runner.invoke(main, ["conformance", "run", "--plan", "consultation", "--case", "CONS-03",
                                  "--client-cmd", failing, "--report-dir", str(tmp_path / "cli"),
                                  "--server", server.url, "--no-publish"])
    assert result.exit_code == 1, result.output
    assert "FAIL  CONS-03" in result.output
    assert json.loads((tmp_path / "cli" / "report.json").read_text())["run"]["verdict"] == "fail"

    result = runner.invoke(main, ["conformance", "run", "--plan", "nope", "--client-cmd", "true",
                                  "--report-dir", str(tmp_path / "x")])
    assert result.exit_code == 2 and "unknown plan" in result.output
    result = runner.invoke(main, ["conformance", "run", "--plan", "ins", "--report-dir", str(tmp_path / "x")])
    assert result.exit_code == 2 and "--client-cmd" in result.output
    result = runner.invoke(main, ["conformance", "run", "--plan", "ins", "--client-cmd", "true",
                                  "--report-dir", str(tmp_path / "y"), "--server", "http://127.0.0.1:9"])
    assert result.exit_code == 2 and "error:" in result.output
