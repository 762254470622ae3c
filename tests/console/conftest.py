"""Fixtures of the console tests (issue #7).

The seeded in-process sandbox, the session PKI and the PostgreSQL schema factory are those of
``tests/simulator/conftest.py``, loaded from its file so that both folders share one definition.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_spec = importlib.util.spec_from_file_location("_segur_console_simulator_conftest",
                                               ROOT / "tests" / "simulator" / "conftest.py")
assert _spec is not None and _spec.loader is not None
simulator_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(simulator_conftest)

# pytest registers the fixture functions it finds in a conftest's namespace
sandbox_pki = simulator_conftest.sandbox_pki
sandbox = simulator_conftest.sandbox
make_pg_schema = simulator_conftest.make_pg_schema
SEED = simulator_conftest.SEED
