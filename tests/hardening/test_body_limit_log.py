"""A body over the configured limit is refused with HTTP 413 *and* leaves its line in the exchange log (issue #8:
before, the 413 was answered before the pipeline that writes the log, so the refusal left no trace)."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from segur_sandbox.simulator.app import create_app

LIMIT = 10_000
CT = "application/soap+xml; charset=UTF-8"
BIG = b"<s:Envelope xmlns:s='http://www.w3.org/2003/05/soap-envelope'><s:Body>" + b"A" * 20_000 + b"</s:Body></s:Envelope>"


@pytest.fixture
def small(sandbox):
    with TestClient(create_app(sandbox.runtime, max_body_bytes=LIMIT), raise_server_exceptions=False) as http:
        yield sandbox.runtime, http


@pytest.mark.parametrize(("path", "workspace", "service"), [
    ("/si-dmp-server/v2/services/repository", "default", "repository"),
    ("/w/default/si-dmp-server/v2/services/registry", "default", "registry"),
    ("/lps", "default", "lps"),
    ("/w/default/lps", "default", "lps"),
])
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_413_is_logged(small, path, workspace, service, chunked):
    runtime, http = small
    content = (BIG[i:i + 4096] for i in range(0, len(BIG), 4096)) if chunked else BIG
    response = http.post(path, content=content, headers={"content-type": CT})
    assert response.status_code == 413
    with runtime.store.transaction(readonly=True) as tx:
        logged = tx.exchanges.list(workspace, limit=1)[0]
        full = tx.exchanges.get(workspace, logged.id)
    assert (logged.service, logged.http_status, logged.verdict) == (service, 413, "fail")
    assert [f.rule for f in logged.findings] == ["HTTP-413"]
    assert f"{LIMIT} octets" in logged.findings[0].message
    assert full.request is None and full.request_content_type == CT  # the refused body is not kept
    assert full.response == response.content
    # the admin API shows it like any other exchange
    listed = http.get(f"/api/workspaces/{workspace}/exchanges", params={"limit": 1}).json()["items"][0]
    assert listed["http_status"] == 413 and listed["verdict"] == "fail"


def test_413_on_an_unknown_workspace_is_answered_and_logs_nothing(small):
    runtime, http = small
    with runtime.store.transaction(readonly=True) as tx:
        before = tx.exchanges.latest_id("default")
    for path in ("/w/nope/si-dmp-server/v2/services/registry", "/w/nope/lps", "/w/NOT%20VALID/lps"):
        response = http.post(path, content=BIG, headers={"content-type": CT})
        assert response.status_code == 413, path
    with runtime.store.transaction(readonly=True) as tx:
        assert tx.exchanges.latest_id("default") == before
