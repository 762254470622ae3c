"""The pytest plugin (`-p segur_sandbox.conformance.pytest_plugin`) run on an inner vendor-like test file."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path


INNER = '''
from pathlib import Path

import json

from segur_sandbox.simulator.dmp.messages import demographics_request

HL7 = {"h": "urn:hl7-org:v3"}


def test_sandbox_and_workspace(segur_sandbox, sandbox_workspace):
    assert segur_sandbox.url.startswith("http://127.0.0.1:")
    assert segur_sandbox.seed == 1
    detail = sandbox_workspace.api("")
    assert detail.status_code == 200, detail.text
    assert detail.json()["id"] == sandbox_workspace.id
    assert detail.json()["counts"]["patients"] == 12
    assert sandbox_workspace.base_url == f"{segur_sandbox.url}/w/{sandbox_workspace.id}"
    assert sandbox_workspace.dmp_url("patients").endswith(f"/w/{sandbox_workspace.id}/si-dmp-server/v2/services/patients")
    assert sandbox_workspace.insi_url.endswith("/lps")
    pytest_workspace_ids.append(sandbox_workspace.id)


def test_the_previous_workspace_was_deleted(segur_sandbox, sandbox_workspace):
    assert sandbox_workspace.id not in pytest_workspace_ids
    import httpx
    for old in pytest_workspace_ids:
        assert httpx.get(f"{segur_sandbox.url}/api/workspaces/{old}").status_code == 404


def test_patients_and_scenarios(sandbox_patients, sandbox_scenarios):
    assert len(sandbox_patients) == 12
    assert all("record" in p for p in sandbox_patients)
    assert len(sandbox_scenarios) == 6
    states = [record["dmp_state"] for _, _, record in sandbox_scenarios]
    assert states == ["OPEN", "OPEN", "OPEN", "OPEN", "NONE", "CLOSED"]
    assert {ins for _, ins, _ in sandbox_scenarios} <= {p["ins"] for p in sandbox_patients}


def test_dmp_client_on_the_first_scenario(sandbox_dmp_client, sandbox_scenarios, sandbox_workspace):
    assert sandbox_dmp_client.workspace == sandbox_workspace.id
    patient = sandbox_scenarios[0].patient
    reply = sandbox_dmp_client.call("patients", demographics_request(patient), patient=patient)
    assert reply.status == 200, reply.raw[:500]
    status = reply.body.xpath(
        "string(h:attentionLine[h:keyWordText/@code='AUTORISATION']/h:value/@code)", namespaces=HL7)
    assert status == "VALIDE"


def test_credentials(sandbox_credentials):
    assert sandbox_credentials.index.is_file()
    index = json.loads(sandbox_credentials.index.read_text())
    assert index["seed"] == 1
    assert len(sandbox_credentials.files) == 3
    for usages in sandbox_credentials.files.values():
        assert set(usages) == {"auth", "sign"}
        for paths in usages.values():
            assert paths["cert"].is_file() and paths["key"].is_file()
            assert b"BEGIN CERTIFICATE" in paths["cert"].read_bytes()


pytest_workspace_ids = []
'''


def _run_inner(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run pytest on the vendor-style test file in its own process (pytester's sys.modules snapshot would drop
    modules the outer session still uses)."""
    (folder / "test_vendor.py").write_text(INNER)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "segur_sandbox.conformance.pytest_plugin",
                           "-p", "no:schemathesis", "-p", "no:cacheprovider", "--rootdir", str(folder), *args],
                          cwd=folder, capture_output=True, text=True, timeout=300)


def test_plugin_gives_a_sandbox_workspace_patients_and_credentials(tmp_path):
    result = _run_inner(tmp_path)
    assert result.returncode == 0 and "5 passed" in result.stdout, result.stdout + result.stderr


def test_plugin_documents_its_options(tmp_path):
    result = _run_inner(tmp_path, "--help")
    for option in ("--segur-sandbox-url=URL", "--segur-sandbox-db=URL", "--segur-sandbox-seed=N"):
        assert option in result.stdout


def test_plugin_uses_an_already_running_sandbox(tmp_path):
    import httpx

    from segur_sandbox.conformance.pytest_plugin import _start, _stop

    server_dir, vendor_dir = tmp_path / "server", tmp_path / "vendor"
    server_dir.mkdir()
    vendor_dir.mkdir()
    process, url = _start(server_dir, 1, None)
    try:
        result = _run_inner(vendor_dir, f"--segur-sandbox-url={url}/")
        assert result.returncode == 0 and "5 passed" in result.stdout, result.stdout + result.stderr
        # the vendor's workspaces are gone, only the server's own remains
        assert [w["id"] for w in httpx.get(url + "/api/workspaces").json()] == ["default"]
    finally:
        _stop(process)
