import json

import click
import pytest
from click.testing import CliRunner

from segur_sandbox.simulator.cli import main


def _commands(group: click.Group, prefix=()):
    for name, command in group.commands.items():
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert "segur-sandbox, version 0." in result.output


@pytest.mark.parametrize("path", [(), *_commands(main)], ids=lambda p: " ".join(p) or "root")
def test_every_command_has_help(path):
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output
    assert len(result.output.splitlines()) > 3


def test_generate_writes_a_population_and_refuses_to_overwrite_without_force(tmp_path):
    out = tmp_path / "pop"
    args = ["fixtures", "generate", "--seed", "3", "--patients", "12", "--documents-per-patient", "1", "--out", str(out)]
    result = CliRunner().invoke(main, [*args, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["patients"] == 12 and summary["documents"] == 12
    assert len((out / "patients.ndjson").read_text().splitlines()) == 12

    again = CliRunner().invoke(main, args)
    assert again.exit_code != 0
    assert "not empty" in again.output
    assert CliRunner().invoke(main, [*args, "--force"]).exit_code == 0


def test_bad_arguments_give_a_clear_error(tmp_path):
    result = CliRunner().invoke(main, ["fixtures", "generate", "--seed", "1", "--patients", "-5", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "--patients" in result.output


def test_refuses_to_wipe_a_folder_that_is_not_a_population(tmp_path):
    (tmp_path / "precious.txt").write_text("keep me")
    result = CliRunner().invoke(main, ["fixtures", "generate", "--seed", "1", "--patients", "1", "--out", str(tmp_path), "--force"])
    assert result.exit_code == 1
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_too_few_professionals_for_documents_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(main, ["fixtures", "generate", "--seed", "1", "--patients", "2", "--professionals", "2",
                                       "--documents-per-patient", "1", "--out", str(tmp_path / "p")])
    assert result.exit_code == 1
    assert "leaves no author for" in result.output


def test_credentials_export_writes_an_index_of_existing_files(tmp_path):
    out = tmp_path / "creds"
    result = CliRunner().invoke(main, ["credentials", "export", "--out", str(out), "--data-dir", str(tmp_path / "d"),
                                       "--professionals", "1", "--structures", "1"])
    assert result.exit_code == 0, result.output
    index = json.loads((out / "index.json").read_text())
    owners = {(c["owner"], c.get("usage") or c.get("kind")) for c in index["credentials"]}
    assert ("professional", "auth") in owners and ("professional", "sign") in owners
    files = [f for c in index["credentials"] for f in c["files"].values()]
    files += [c["file"] for c in index["cas"]]
    assert files and all((out / f).exists() for f in files)
