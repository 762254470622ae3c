"""Hostile XML inside the MTOM parts of an ITI-41 feed (issue #8): ``test_hostile_http.py`` covers the envelope
and the MTOM root part; here the attack is the *document* part (parsed by the CDA check) or the *XAdES* part
(parsed by the signature verifier) of an otherwise valid, signed feed. Each is refused within a second with an
XDS error naming the problem, never reads a local file, keeps memory bounded, and stores nothing."""
from __future__ import annotations

import random
import resource
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient

from fuzzing import FuzzTarget
from support import SEED, Sandbox
from segur_sandbox.fixtures.documents import DocumentContext, build_document
from segur_sandbox.fixtures.documents.cda import uuid_oid
from segur_sandbox.simulator.app import create_app
from segur_sandbox.simulator.config import Settings
from segur_sandbox.simulator.dmp import xds
from segur_sandbox.simulator.dmp.xds import compose
from segur_sandbox.simulator.runtime import build_runtime
from segur_sandbox.simulator.seed import seed_workspace
from segur_sandbox.simulator.testing import parse_reply

DEADLINE = 1.0
CANARY = "CANARY-5e1f"
LAUGHS = ('<?xml version="1.0"?>\n<!DOCTYPE lolz [\n<!ENTITY lol "lol">\n'
          + "".join(f'<!ENTITY lol{i} "{("&lol%s;" % (i - 1 if i > 1 else "")) * 10}">\n' for i in range(1, 10))
          + ']>\n<ClinicalDocument xmlns="urn:hl7-org:v3">&lol9;</ClinicalDocument>')


def _cases(canary_uri: str) -> dict[str, bytes]:
    return {
        "external-entity": (f'<!DOCTYPE c [<!ENTITY x SYSTEM "{canary_uri}">]><ClinicalDocument '
                            'xmlns="urn:hl7-org:v3"><title>&x;</title></ClinicalDocument>').encode(),
        "external-dtd": f'<!DOCTYPE c SYSTEM "{canary_uri}"><ClinicalDocument xmlns="urn:hl7-org:v3"/>'.encode(),
        "billion-laughs": LAUGHS.encode(),
        "quadratic-blowup": ('<!DOCTYPE s [<!ENTITY a "' + "A" * 50_000 + '">]><ClinicalDocument '
                             'xmlns="urn:hl7-org:v3">' + "&a;" * 20_000 + "</ClinicalDocument>").encode(),
        "deep-nesting": ("<a>" * 10_000 + "</a>" * 10_000).encode(),
        "huge-attribute": ('<ClinicalDocument xmlns="urn:hl7-org:v3" v="' + "A" * 10_000_000 + '"/>').encode(),
        "not-xml": b"\x00\x01\xff garbage",
        "utf16-undeclared": '<ClinicalDocument xmlns="urn:hl7-org:v3"/>'.encode("utf-16-le"),
    }


# part -> (words every refusal has, words per case)
EXPECTED = {
    "Document01": ("is not a CDA R2 the DMP can read", {}),
    "Signature01": ("Signature XAdES invalide (malformed)", {
        "external-entity": "DOCTYPE", "external-dtd": "DOCTYPE", "billion-laughs": "DOCTYPE",
        "quadratic-blowup": "DOCTYPE", "deep-nesting": "deeper than", "huge-attribute": "attribute value over"}),
}


@pytest.fixture(scope="module")
def target(tmp_path_factory, sandbox_pki):
    folder = tmp_path_factory.mktemp("parts")
    settings = Settings(data_dir=folder, seed=SEED, patients=12, documents_per_patient=0)
    runtime = build_runtime(settings, pki=sandbox_pki)
    summary = seed_workspace(runtime.store, "default", seed=SEED, patients=12)
    canary = folder / "canary.txt"
    canary.write_text(CANARY)
    with TestClient(create_app(runtime)) as http:
        target = FuzzTarget(Sandbox(runtime=runtime, http=http, summary=summary, settings=settings))
        target.canary_uri = canary.as_uri()
        yield target
    runtime.store.dispose()


def _feed_with(target: FuzzTarget, part: str, data: bytes, seed: str):  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    now = datetime.now(timezone.utc)
    cda = build_document("VAC-NOTE", DocumentContext(target.record, target.professional, target.structure,
                                                     now - timedelta(days=1), rng))
    submission = compose.signed_feeding(cda, signer=target.signer, submission_set_unique_id=uuid_oid(rng),
                                        signature_unique_id=uuid_oid(rng), source_id="1.2.250.1.999.1.1.7898",
                                        submitted=now, title="Note de vaccination")
    submission = replace(submission, documents={**submission.documents, part: data})
    return target.feed_request(*xds.provide_and_register_mtom(submission))


@pytest.mark.parametrize("case", list(_cases("file:///x")))
@pytest.mark.parametrize("part", list(EXPECTED))
def test_hostile_part_is_refused(target, part, case):
    request = _feed_with(target, part, _cases(target.canary_uri)[case], f"{part}-{case}")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    response = target.http.post(request.path, content=request.body, headers=request.headers)
    elapsed = time.perf_counter() - t0
    assert elapsed < DEADLINE, f"{case} in {part}: {elapsed:.2f} s"
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024 < 150  # MB: the 10 MB body, parsed
    assert CANARY not in response.text
    result = xds.parse_registry_response(parse_reply(response).body)
    assert result.status == "Failure", result
    common, specific = EXPECTED[part]
    contexts = " | ".join(e.context for e in result.errors if e.code == "XDSRegistryMetadataError")
    assert common in contexts and specific.get(case, "") in contexts, contexts
    # the property of the fuzzers too: one log line, no internal error, nothing stored
    assert target.check(request) == "xds-error"
    with target.store.transaction(readonly=True) as tx:
        logged = tx.exchanges.get("default", tx.exchanges.latest_id("default"))
    assert CANARY.encode() not in (logged.response or b"")
