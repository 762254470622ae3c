"""Fuzzing the SOAP endpoints in process (issue #8): hypothesis mutates valid requests — SOAP envelopes (headers,
bodies, encodings, content types), MTOM packages (boundaries, part headers, cid references) and ITI-41 XDS
metadata (slots, classifications, external identifiers) — and every answer must be a SOAP response, a SOAP
fault or a 4xx with a message, logged once, never an internal error, with nothing stored unless acknowledged
(``fuzzing.FuzzTarget.check``). Examples are few and derandomised to keep the suite short and stable;
``bench/fuzz.py`` runs the same strategies with many more, on random seeds.
"""
from __future__ import annotations

from collections import Counter

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzzing import PATHS, FuzzTarget
from strategies import apply_xds_mutations, mtom_packages, soap_envelopes, xds_mutations
from support import SEED, Sandbox
from segur_sandbox.simulator.app import create_app
from segur_sandbox.simulator.config import Settings
from segur_sandbox.simulator.runtime import build_runtime
from segur_sandbox.simulator.seed import seed_workspace

FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def target(tmp_path_factory, sandbox_pki):
    settings_ = Settings(data_dir=tmp_path_factory.mktemp("fuzz"), seed=SEED, patients=12, documents_per_patient=0)
    runtime = build_runtime(settings_, pki=sandbox_pki)
    summary = seed_workspace(runtime.store, "default", seed=SEED, patients=12)
    with TestClient(create_app(runtime)) as http:  # raise_server_exceptions: an exception fails the example
        yield FuzzTarget(Sandbox(runtime=runtime, http=http, summary=summary, settings=settings_))
    runtime.store.dispose()


def test_skeletons_are_accepted(target):
    """The strategies start from valid requests: unmutated, each reaches its handler and gets its normal answer."""
    from strategies import Request

    kinds = {}
    for skeleton in target.skeletons():
        if skeleton.attachments:
            continue
        ct = "application/soap+xml; charset=UTF-8"
        kinds[skeleton.path.rsplit("/", 1)[1]] = target.check(Request(skeleton.path, skeleton.envelope,
                                                                      {"content-type": ct}))
    assert kinds == {"patients": "soap-response", "patientsSpecific": "soap-response",
                     "habilitations": "soap-response", "registry": "xds-success", "lps": "soap-response",
                     "repository": "xds-error",  # a retrieve of a uniqueId the registry does not have
                     "patientsPDQ": "fault"}  # TD0.5 is refused to this profile by the rights matrix


def test_mutated_soap_envelopes(target):
    kinds: Counter[str] = Counter()

    @FUZZ
    @given(request=soap_envelopes(target.skeletons(), PATHS))
    def run(request):
        kinds[target.check(request)] += 1

    run()
    # The property is checked on every example (target.check). Which mix of answers 60 examples give is not:
    # after other test modules ran in the same process, the derandomised run was seen drawing only mutations the
    # server refuses (every one a clear fault), so the mix is only required to show varied refusals; unmutated
    # requests getting their normal answers is test_skeletons_are_accepted.
    assert sum(kinds.values()) == 60 and kinds["fault"], kinds
    assert len(target.fault_reasons) > 1, target.fault_reasons


def test_mutated_mtom_packages(target):
    kinds: Counter[str] = Counter()

    @FUZZ
    @given(request=mtom_packages(target.feed_skeleton()))
    def run(request):
        kinds[target.check(request)] += 1

    run()
    assert kinds["fault"] and (kinds["xds-success"] or kinds["xds-error"]), kinds


def test_mutated_xds_metadata(target):
    kinds: Counter[str] = Counter()

    @FUZZ
    @given(edits=xds_mutations(), seed=st.integers(0, 2**63))
    def run(edits, seed):
        body, attachments = target.feed(seed)
        apply_xds_mutations(body, edits)
        kinds[target.check(target.feed_request(body, attachments))] += 1

    run()
    assert kinds["xds-error"], kinds
