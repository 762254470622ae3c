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
def validate_command(files: tuple[Path, ...], output_format: str, rule_sets: tuple[str, ...],
                     content_type: str | None) -> None:
    """Validate CDA documents, SOAP messages (plain or MTOM) and SAML assertions, detected from their content.

    Exit status: 0 when no finding is an error, 1 otherwise, 2 when a file cannot be read.
    """
    selected = _check_rule_sets(rule_sets)
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
    render = {"text": reports_text, "json": reports_json, "junit": reports_junit}[output_format]
    click.echo(render(reports))
    raise SystemExit(0 if all(r.ok for r in reports) else 1)
