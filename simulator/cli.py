"""The one command line, ``segur-sandbox``: a group per area (fixtures, later serve, cards, conformance)."""
from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import click

from segur_sandbox.fixtures.cli import fixtures_group, print_summary
from segur_sandbox.fixtures.generate import GenerationRequest, generate


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version("segur-sandbox"), prog_name="segur-sandbox")
def main() -> None:
    """Ségur Sandbox: an offline replica of the French e-health services (DMP, INSi, CPS and Vitale cards)."""


main.add_command(fixtures_group)


@main.command(name="start")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the sandbox population.")
@click.option("--patients", type=click.IntRange(min=1), default=200, show_default=True)
@click.option("--documents-per-patient", type=click.IntRange(min=0), default=3, show_default=True)
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=Path(".sandbox"),
              show_default=True, help="Where the sandbox keeps its state.")
def start_command(seed: int, patients: int, documents_per_patient: int, data_dir: Path) -> None:
    """Set up the sandbox's state: generate the seeded population and print what it holds."""
    summary = generate(GenerationRequest(seed=seed, patients=patients, out=data_dir / "population",
                                         documents_per_patient=documents_per_patient, force=True))
    print_summary(summary)
    click.echo(f"\nBrowse {data_dir / 'population'}: patients.ndjson, professionals.ndjson, documents.ndjson, documents/")


if __name__ == "__main__":
    main()
