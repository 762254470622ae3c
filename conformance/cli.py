"""``segur-sandbox conformance rules`` (the catalogue) and ``segur-sandbox validate FILE…``."""
from __future__ import annotations

from pathlib import Path

import click

from .artifacts import UnreadableInput, load
from .catalogue import catalogue, catalogue_text, reports_json, reports_junit, reports_text
from .rules.engine import evaluate, rule_set_names


def _check_rule_sets(values: tuple[str, ...]) -> list[str] | None:
    if not values:
        return None
    known = rule_set_names()
    unknown = [v for v in values if v not in known]
    if unknown:
        raise click.BadParameter(f"unknown rule set(s) {', '.join(unknown)}; known: {', '.join(known)}",
                                 param_hint="--rule-set")
    return list(values)


def _load_schematron_bundles(directories: tuple[Path, ...]) -> list:  # type: ignore[type-arg]
    """Compile every bundle up front so that a bad one stops the run (exit 2) before any file is checked."""
    if not directories:
        return []
    from .schematron import SchematronError, load_bundle
    bundles = []
    for directory in directories:
        try:
            bundle = load_bundle(directory)
        except SchematronError as exc:
            detail = exc.reason if exc.path is None or Path(exc.path) == directory else exc
            click.echo(f"error: schematron bundle {directory}: {detail}", err=True)
            raise SystemExit(2) from None
        for note in bundle.notes:
            click.echo(f"note: {note}", err=True)
        bundles.append(bundle)
    return bundles


@click.group(name="conformance")
def conformance_group() -> None:
    """The conformance suite: rules with stable ids checked on CDA documents, SOAP messages and VIHFs."""


@conformance_group.command(name="rules")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Output format.")
@click.option("--rule-set", "rule_sets", multiple=True, help="Only these rule sets (repeatable).")
def rules_command(output_format: str, rule_sets: tuple[str, ...]) -> None:
    """List every rule: id, severity, rule set, title and requirement references."""
    import json

    selected = _check_rule_sets(rule_sets)
    if output_format == "json":
        click.echo(json.dumps(catalogue(selected), ensure_ascii=False, indent=2))
    else:
        click.echo(catalogue_text(selected))


@click.command(name="validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "output_format", type=click.Choice(["text", "json", "junit"]), default="text",
              show_default=True, help="Output format.")
@click.option("--rule-set", "rule_sets", multiple=True,
              help="Only these rule sets (repeatable): cda-header, cda-volets, insi, transport, vihf, xds.")
@click.option("--content-type", default=None,
              help="HTTP Content-Type of the files (for MTOM packages); guessed from the content by default.")
@click.option("--schematron-bundle", "schematron_bundles", multiple=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path), metavar="DIR",
              help="Also run the ISO schematron bundle in DIR on every CDA document: its .sch files (compiled with "
                   "SaxonC-HE, cached) and/or pre-compiled SVRL .xsl files; findings are SCH:<file>:<id>. "
                   "Repeatable.")
def validate_command(files: tuple[Path, ...], output_format: str, rule_sets: tuple[str, ...],
                     content_type: str | None, schematron_bundles: tuple[Path, ...]) -> None:
    """Validate CDA documents, SOAP messages (plain or MTOM) and SAML assertions, detected from their content.

    Exit status: 0 when no finding is an error, 1 otherwise, 2 when a file cannot be read or a schematron bundle
    cannot be used (missing folder, nothing to run, a file that does not compile or fails at run time).
    """
    selected = _check_rule_sets(rule_sets)
    bundles = _load_schematron_bundles(schematron_bundles)
    artifacts = []
    for path in files:
        try:
            data = path.read_bytes()
        except OSError as exc:
            click.echo(f"error: cannot read {path}: {exc.strerror or exc}", err=True)
            raise SystemExit(2) from None
        try:
            artifacts.append(load(data, name=str(path), content_type=content_type))
        except UnreadableInput as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(2) from None
    reports = [evaluate(artifact, selected) for artifact in artifacts]
    if bundles:
        from .schematron import SchematronError, apply
        try:
            notes = apply(reports, bundles)
        except SchematronError as exc:
            click.echo(f"error: schematron {exc}", err=True)
            raise SystemExit(2) from None
        for note in notes:
            click.echo(f"note: {note}", err=True)
    render = {"text": reports_text, "json": reports_json, "junit": reports_junit}[output_format]
    click.echo(render(reports))
    raise SystemExit(0 if all(r.ok for r in reports) else 1)


@conformance_group.command(name="run")
@click.option("--plan", "plans", multiple=True, required=True,
              help="consultation, feeding, ins, officine or all (repeatable).")
@click.option("--client-cmd", default=None, metavar="CMD",
              help="The client to grade, run through the shell once per step (see docs/client-task.md).")
@click.option("--report-dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Where the tasks, credentials and reports (report.json, junit.xml, evidence.html) go.")
@click.option("--server", "server_url", default=None, metavar="URL",
              help="A running sandbox (e.g. http://127.0.0.1:8080); default: start one in process.")
@click.option("--seed", type=int, default=1, show_default=True, help="The server's seed (personas, test PKI).")
@click.option("--case", "only", multiple=True, help="Only these case ids (repeatable), e.g. CONS-01.")
@click.option("--interactive", is_flag=True,
              help="Print each task for a person driving a desktop application, wait, then grade.")
@click.option("--no-publish", is_flag=True, help="Do not send the reports to the sandbox (its console lists runs).")
def run_command(plans: tuple[str, ...], client_cmd: str | None, report_dir: Path, server_url: str | None, seed: int,
                only: tuple[str, ...], interactive: bool, no_publish: bool) -> None:
    """Grade a client: a fresh workspace per case, the case's state set, the client given its task, then the
    recorded traffic and the client's result graded.

    Exit status: 0 when every mandatory case passes, 1 otherwise, 2 when the run itself could not be made.
    """
    from .plans.registry import cases_for
    from .plans.runner import RunOptions, run_cases
    from .plans.sandbox import SandboxError

    if not client_cmd and not interactive:
        raise click.UsageError("give --client-cmd CMD, or --interactive to drive the application by hand")
    try:
        cases = cases_for(plans, only)
    except KeyError as exc:
        raise click.BadParameter(str(exc.args[0]), param_hint="--plan/--case") from None
    options = RunOptions(client_cmd=client_cmd, report_dir=report_dir, server_url=server_url, seed=seed,
                         interactive=interactive, publish=not no_publish, echo=click.echo,
                         ask=lambda prompt: click.prompt(prompt, default="", show_default=False))
    try:
        outcome = run_cases(cases, options)
    except SandboxError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
    summary = outcome.summary()
    click.echo(f"\n{summary['passed']}/{summary['cases']} cases passed "
               f"({summary['mandatory_failed']} mandatory failed). Reports: {report_dir}/report.json, junit.xml, "
               "evidence.html")
    for plan, values in outcome.indicators.items():
        click.echo(f"{plan} indicator: {values.get('summary', values)}")
    raise SystemExit(0 if outcome.passed else 1)
