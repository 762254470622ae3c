"""Schemathesis against the admin API's own ``/openapi.json`` (issue #8): whatever the generated input, the
sandbox never answers 5xx. A few examples per operation keep the run short; the point is malformed paths,
queries and bodies, not coverage of the happy paths (test_api.py does those).
"""
from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")

from fastapi.testclient import TestClient  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

from segur_sandbox.simulator.app import create_app  # noqa: E402
from segur_sandbox.simulator.config import Settings  # noqa: E402
from segur_sandbox.simulator.runtime import build_runtime  # noqa: E402
from segur_sandbox.simulator.seed import seed_workspace  # noqa: E402


@pytest.fixture(scope="module")
def fuzzed_app(tmp_path_factory, sandbox_pki):
    settings_ = Settings(data_dir=tmp_path_factory.mktemp("fuzz"), seed=7, patients=12, documents_per_patient=0)
    runtime = build_runtime(settings_, pki=sandbox_pki)
    seed_workspace(runtime.store, "default", seed=7, patients=12)
    app = create_app(runtime)
    app.state.known = _known_values(runtime)
    with TestClient(app):  # runs the lifespan, as the real server does
        yield app
    runtime.store.dispose()


def _known_values(runtime) -> dict[str, list[str]]:
    """Real values for path parameters, so the fuzzer also gets past the 404s into the handlers."""
    from segur_sandbox.simulator.pki.authority import CA_PROFILES

    with runtime.store.transaction(readonly=True) as tx:
        pros = tx.directory.list_professionals("default", limit=3)
        patients = tx.patients.list("default", limit=3)
        exchanges = tx.exchanges.list("default", limit=3)
    keys = [p.id_nat for p in pros] + [p.record["structure_id"] for p in pros] + [str(p.ref) for p in pros]
    return {"workspace": ["default"], "slug": list(CA_PROFILES), "key": keys,
            "ins": [p.ins for p in patients],
            "id_nat": [p.id_nat for p in pros], "exchange_id": [str(e.id) for e in exchanges] or ["1"],
            "part": ["request", "response"]}


@pytest.fixture(scope="module")
def api_schema(fuzzed_app):
    return schemathesis.openapi.from_asgi("/openapi.json", fuzzed_app)


# schemathesis' own pytest integration (``from_fixture`` / ``parametrize``) breaks on pytest 9 (it reaches for
# private ``Function`` attributes), so hypothesis is driven directly over each operation's strategy.
HYPOTHESIS = settings(max_examples=20, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck))


def test_no_server_error_on_any_operation(fuzzed_app, api_schema):
    # DELETE /api/workspaces/default is answered 409 (protected), so later operations still find it
    known = fuzzed_app.state.known
    failures: dict[str, str] = {}
    labels = []
    for result in api_schema.get_all_operations():
        operation = result.ok()
        labels.append(operation.label)

        @HYPOTHESIS
        @given(case=operation.as_strategy(), pin=st.booleans(), pick=st.integers(0, 50))
        def run(case, pin, pick):
            if pin and case.path_parameters:  # half the examples address real objects
                for name in case.path_parameters:
                    values = known.get(name)
                    if values:
                        case.path_parameters[name] = values[pick % len(values)]
            case.call_and_validate(checks=[not_a_server_error])

        try:
            run()
        except Exception as exc:  # noqa: BLE001 - gather every operation's failure, then report them together
            failures[operation.label] = f"{type(exc).__name__}: {exc}"[:2000]
    assert len(labels) >= 30, labels
    assert not failures, "\n\n".join(f"{label}\n{error}" for label, error in failures.items())
