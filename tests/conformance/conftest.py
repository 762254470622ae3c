"""A sandbox served on a free port for the plan tests (one per module): the runner and the clients it starts
reach it over HTTP, as they would a shared sandbox."""
from __future__ import annotations

import pytest

from segur_sandbox.conformance.plans.sandbox import LocalServer


@pytest.fixture(scope="module")
def server(tmp_path_factory):  # type: ignore[no-untyped-def]
    local = LocalServer(tmp_path_factory.mktemp("plans-sandbox"), seed=1)
    local.start()
    yield local
    local.stop()
