"""Regressions for the bugs the hardening fuzzers found (issue #8), each over HTTP."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from support import scenario_client
from segur_sandbox.simulator.dmp.messages import patient_list_request


def _listed(reply) -> int:  # type: ignore[no-untyped-def]
    assert reply.status == 200 and reply.fault is None, reply.raw[:500]
    return sum(1 for e in reply.body.iter() if isinstance(e.tag, str) and e.tag.endswith("}patientlistData"))


def test_patient_list_with_a_start_date_answers(sandbox):
    """TD0.4 with ``startDate`` compared a naive date with the stored aware ones: an internal error (HTTP 500
    SandboxInternalError) for any client that sent the optional date. The date is read as UTC, like the dates
    of the answer."""
    client = scenario_client(sandbox)
    everyone = _listed(client.call("patientsSpecific", patient_list_request(None), patient=None))
    assert everyone >= 1
    now = datetime.now(timezone.utc)
    assert _listed(client.call("patientsSpecific", patient_list_request(now - timedelta(days=1)), patient=None)) \
        == everyone  # the seeding's authorisations are a moment old
    assert _listed(client.call("patientsSpecific", patient_list_request(now + timedelta(days=1), "LASTAUTORIZATION"),
                               patient=None)) == 0
    assert _listed(client.call("patientsSpecific", patient_list_request(now - timedelta(days=1), "LASTDOC"),
                               patient=None)) == 0  # no document fed yet
