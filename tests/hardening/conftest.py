"""Fixtures of the hardening tests (issue #8): those of ``tests/simulator/conftest.py``, shared through
``support.py`` (the seeded in-process sandbox, the session PKI, the PostgreSQL schema factory)."""
from __future__ import annotations

import sys
from pathlib import Path

if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from support import simulator_conftest  # noqa: E402

# pytest registers the fixture functions found in a conftest's namespace
sandbox_pki = simulator_conftest.sandbox_pki
sandbox = simulator_conftest.sandbox
make_pg_schema = simulator_conftest.make_pg_schema
