"""Run plans against a client: a workspace per case, the case's state set through the admin API, the client run
once per step with its task, then the case graded on what the sandbox recorded and what the client reported.

Without ``server_url`` a sandbox is started in this process (SQLite in the report folder). With one, the runner
needs the server's seed (the personas' credentials come from the same deterministic test PKI).
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .context import PERSONAS, CaseContext, Persona
from .model import Case, CaseResult, Check, Step, StepRecord
from .sandbox import LocalServer, SandboxApi, SandboxError

OUTPUT_TAIL = 4000


@dataclass
class RunOptions:
    client_cmd: str | None
    report_dir: Path
    server_url: str | None = None
    seed: int = 1
    interactive: bool = False
    keep_workspaces: bool = True
    publish: bool = True  # send the reports to the server (its console lists runs)
    pki: Any = None  # the server's TestPKI when the caller holds it (tests); else rebuilt from the seed
    echo: Callable[[str], None] = print
    ask: Callable[[str], str] = input


@dataclass
class RunOutcome:
    run_id: str
    started_at: datetime
    finished_at: datetime
    server: str
    results: list[CaseResult]
    indicators: dict[str, Any] = field(default_factory=dict)
    frames: dict[int, dict[str, Any]] = field(default_factory=dict)  # exchange id -> request/response bodies
    api: SandboxApi | None = None  # while the run lasts: indicators read the registry back

    @property
    def passed(self) -> bool:
        return all(r.verdict == "pass" for r in self.results if r.case.mandatory)

    def summary(self) -> dict[str, int]:
        counts = {"cases": len(self.results), "passed": 0, "failed": 0, "errors": 0, "mandatory_failed": 0}
        for r in self.results:
            counts[{"pass": "passed", "fail": "failed", "error": "errors"}[r.verdict]] += 1
            if r.case.mandatory and r.verdict != "pass":
                counts["mandatory_failed"] += 1
        return counts


def run_cases(cases: Sequence[Case], options: RunOptions) -> RunOutcome:
    if not options.interactive and not options.client_cmd:
        raise ValueError("give --client-cmd, or --interactive to drive the client by hand")
    options.report_dir.mkdir(parents=True, exist_ok=True)
    run_id = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S") + "-" + secrets.token_hex(2)
    started = datetime.now(timezone.utc)
    with ExitStack() as stack:
        if options.server_url:
            api = SandboxApi.connect(options.server_url)
            api.health()  # before building anything: an unreachable server is the first thing to say
            pki = options.pki or _remote_pki(options)
        else:
            server = LocalServer(options.report_dir / "sandbox", seed=options.seed)
            server.start()
            stack.callback(server.stop)
            api = SandboxApi.connect(server.url)
            pki = server.runtime.pki
        stack.callback(api.close)
        api.health()
        personas = _personas(pki, options)
        results = []
        for case in cases:
            results.append(_run_case(case, api, personas[case.professional], run_id, options))
            _echo_result(results[-1], options.echo)
        outcome = RunOutcome(run_id, started, datetime.now(timezone.utc), api.base_url, results, api=api)
        from .indicators import indicators_for

        outcome.indicators = indicators_for(outcome)
        from .report import write_reports

        write_reports(outcome, options.report_dir, api)
        if options.publish:
            _publish(outcome, api, options)
    return outcome


# -- set-up of the run -----------------------------------------------------------------------------------------------
def _remote_pki(options: RunOptions) -> Any:
    from segur_sandbox.simulator.pki import TestPKI

    import hashlib

    from .sandbox import cache_root

    base = options.server_url.rstrip("/") if options.server_url else ""
    key = hashlib.sha256(base.encode()).hexdigest()[:12]
    return TestPKI.open(cache_root() / f"pki-seed-{options.seed}-{key}", options.seed, base_url=f"{base}/pki")


def _personas(pki: Any, options: RunOptions) -> dict[str, Persona]:
    from segur_sandbox.fixtures.professionals import ProfessionalDirectory

    directory = ProfessionalDirectory(options.seed, max(PERSONAS.values()) + 1)
    folder = options.report_dir / "credentials"
    folder.mkdir(parents=True, exist_ok=True)
    ca_chain = folder / "ca-chain.pem"
    ca_chain.write_bytes(pki.ca_chain_pem())
    personas: dict[str, Persona] = {}
    for name, index in PERSONAS.items():
        professional = directory.professionals[index]
        structure = directory.structures_by_id[professional["structure_id"]]
        files: dict[str, str] = {"ca_chain": str(ca_chain.resolve())}
        for usage in ("sign", "auth"):
            issued = pki.professional(professional, structure, usage)
            cert, key = folder / f"{name}.{usage}.cert.pem", folder / f"{name}.{usage}.key.pem"
            cert.write_bytes(issued.cert_pem())
            key.write_bytes(issued.key_pem())
            files[f"{usage}_cert"], files[f"{usage}_key"] = str(cert.resolve()), str(key.resolve())
        personas[name] = Persona(name, professional, structure, files)
    return personas


# -- one case --------------------------------------------------------------------------------------------------------
def _run_case(case: Case, api: SandboxApi, persona: Persona, run_id: str, options: RunOptions) -> CaseResult:
    workspace = f"cr-{run_id}-{case.id}".lower()
    ctx = CaseContext(api, workspace, persona, options.report_dir, case.id)
    started = time.monotonic()
    try:
        api.create_workspace(workspace, populate=True)
        if api.professional(workspace, persona.professional["id_nat"]) is None:
            raise SandboxError(f"professional {persona.professional['id_nat']} of seed {options.seed} is not in the "
                               "server's directory: give --seed with the server's seed")
        case.setup(ctx)
    except Exception as exc:  # noqa: BLE001 - reported as the case's error, the run goes on
        return CaseResult(case, workspace, "error", [], [], error=f"set-up failed: {exc}",
                          duration_s=time.monotonic() - started)
    for number, make_step in enumerate(case.steps, start=1):
        step = make_step(ctx)
        ctx.records.append(_run_step(ctx, case, number, step, options))
    try:
        checks: list[Check] = case.grade(ctx)
        verdict = "pass" if checks and all(c.passed for c in checks) else "fail"
        error = None
    except Exception as exc:  # noqa: BLE001
        checks, verdict, error = [], "error", f"grading failed: {type(exc).__name__}: {exc}"
    result = CaseResult(case, workspace, verdict, checks, ctx.records, error=error,
                        duration_s=time.monotonic() - started)
    if not options.keep_workspaces:
        try:
            api.delete_workspace(workspace)
        except SandboxError:
            pass
    return result


def _run_step(ctx: CaseContext, case: Case, number: int, step: Step, options: RunOptions) -> StepRecord:
    task = ctx.task(case.plan, number, step)
    tasks = options.report_dir / "tasks"
    tasks.mkdir(parents=True, exist_ok=True)
    task_file = tasks / f"{case.id}-{number}.json"
    result_file = tasks / f"{case.id}-{number}.result.json"
    result_file.unlink(missing_ok=True)
    task_file.write_text(json.dumps(task, ensure_ascii=False, indent=2), encoding="utf-8")
    record = StepRecord(number, step, task)
    since = ctx.api.latest_exchange_id(ctx.workspace)
    started = time.monotonic()
    if options.interactive:
        _interactive(task, task_file, result_file, options)
    else:
        env = {**os.environ, "SEGUR_SANDBOX_TASK": str(task_file.resolve()),
               "SEGUR_SANDBOX_RESULT": str(result_file.resolve()), "SEGUR_SANDBOX_DMP_URL": task["endpoints"]["dmp"],
               "SEGUR_SANDBOX_INSI_URL": task["endpoints"]["insi"], "SEGUR_SANDBOX_CASE": case.id}
        record.exit_code, record.timed_out, record.output_tail = _run_client(options.client_cmd or "", env,
                                                                              step.timeout_s)
    record.duration_s = time.monotonic() - started
    record.result, record.result_error = _read_result(result_file)
    record.exchanges = ctx.api.exchanges_since(ctx.workspace, since)
    return record


def _run_client(command: str, env: dict[str, str], timeout_s: float) -> tuple[int | None, bool, str]:
    # A session of its own so that a time-out kills the client and anything it started.
    process = subprocess.Popen(command, shell=True, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        output, _ = process.communicate(timeout=timeout_s)
        timed_out = False
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        timed_out = True
    text = output.decode("utf-8", errors="replace")
    return (None if timed_out else process.returncode), timed_out, text[-OUTPUT_TAIL:]


def _read_result(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    if not path.exists():
        return None, "no result JSON written"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return None, f"unreadable result JSON: {exc}"
    if not isinstance(data, dict):
        return None, "the result JSON is not an object"
    return data, None


def _interactive(task: dict[str, Any], task_file: Path, result_file: Path, options: RunOptions) -> None:
    """A person drives the application: print the task, wait, then ask what the application showed."""
    echo, ask = options.echo, options.ask
    echo("")
    echo(f"== {task['case']} step {task['step']}: {task['title']}")
    echo(task["instructions"])
    echo(f"   DMP: {task['endpoints']['dmp']}")
    echo(f"   INSi: {task['endpoints']['insi']}")
    patient = task.get("patient") or {}
    if patient.get("ins"):
        echo(f"   Patient INS: {patient['ins']} ({patient.get('identity_status')})")
    echo(f"   Full task: {task_file}")
    ask("Press Enter when the application has finished… ")
    if result_file.exists():
        return  # the application (or the person) wrote the result itself
    status = ""
    while status not in {"done", "refused", "error", "not-found", "ambiguous"}:
        status = ask("What did the application show? [done/refused/error/not-found/ambiguous] ").strip().lower()
    result: dict[str, Any] = {"status": status}
    if status == "error":
        result["errors"] = [{"code": ask("Error code shown: ").strip(), "message": ask("Error text shown: ").strip()}]
    elif status == "refused":
        result["reason"] = ask("Reason shown: ").strip()
    result_file.write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")


def _echo_result(result: CaseResult, echo: Callable[[str], None]) -> None:
    mark = {"pass": "PASS", "fail": "FAIL", "error": "ERROR"}[result.verdict]
    echo(f"{mark:5} {result.case.id:8} {result.case.title} ({result.duration_s:.1f} s)")
    for check in result.checks:
        if not check.passed:
            echo(f"      {check.id}: {check.title}\n        expected: {check.expected}\n        found:    {check.found}")
    if result.error:
        echo(f"      {result.error}")


def _publish(outcome: RunOutcome, api: SandboxApi, options: RunOptions) -> None:
    from .report import evidence_html, report_json

    body = {"id": outcome.run_id, "plan": ",".join(dict.fromkeys(r.case.plan for r in outcome.results)),
            "started_at": outcome.started_at.isoformat(), "finished_at": outcome.finished_at.isoformat(),
            "verdict": "pass" if outcome.passed else "fail", "summary": outcome.summary(),
            "report": report_json(outcome), "evidence_html": evidence_html(outcome)}
    try:
        api.post_run(body)
    except SandboxError as exc:  # an older server without the endpoint: the files are the reports
        options.echo(f"note: the run was not published to the sandbox ({exc})")
