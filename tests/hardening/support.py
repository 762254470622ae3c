"""What the hardening tests share with ``tests/simulator``: its conftest (the seeded sandbox, the session PKI,
the PostgreSQL schema factory), loaded once from its file under a name of its own, so that both folders use one
definition. ``bench/`` goes on ``sys.path``: the live-server helpers of ``bench/harness.py`` serve the tests here
and the benches alike. Import this module (not ``conftest``) from the test modules."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "bench") not in sys.path:
    sys.path.insert(0, str(ROOT / "bench"))

_NAME = "_segur_simulator_conftest"
simulator_conftest = sys.modules.get(_NAME)
if simulator_conftest is None:
    _spec = importlib.util.spec_from_file_location(_NAME, ROOT / "tests" / "simulator" / "conftest.py")
    assert _spec is not None and _spec.loader is not None
    simulator_conftest = importlib.util.module_from_spec(_spec)
    sys.modules[_NAME] = simulator_conftest
    _spec.loader.exec_module(simulator_conftest)

Sandbox = simulator_conftest.Sandbox
SEED = simulator_conftest.SEED
PG_URL = simulator_conftest.PG_URL
postgres_schema = simulator_conftest.postgres_schema


def scenario_professional(sandbox) -> tuple[dict, dict]:  # type: ignore[no-untyped-def]
    """(record, structure record) of the seeding's scenario professional — the one the scenario patients are set
    up for — read from the seed summary rather than from a directory listing's order."""
    professional = dict(sandbox.summary.scenario_professional)
    with sandbox.runtime.store.transaction(readonly=True) as tx:
        structure = tx.directory.get_structure_by_ref("default", professional["structure_id"])
    return professional, dict(structure.record)


def scenario_client(sandbox, **options):  # type: ignore[no-untyped-def]
    """A ``DmpTestClient`` of the scenario professional."""
    from segur_sandbox.simulator.testing import DmpTestClient

    professional, structure = scenario_professional(sandbox)
    return DmpTestClient(sandbox.http, sandbox.pki, professional, structure, **options)
