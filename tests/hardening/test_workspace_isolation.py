"""Workspace isolation under concurrency, and state shared by worker processes (issue #8).

* Parallel pipelines: threads, each a CI pipeline with its own workspace created through ``/api``, its own clock
  offset (its VIHFs are issued at its own shifted time: a clock leaking from another workspace would refuse
  them), its own injected faults (a RegistryError with the pipeline's own code), feeding and searching at the
  same time against one real server. None ever sees another's documents, exchanges, faults or clock.
* Two worker processes (``serve --workers 2`` on PostgreSQL): with one connection held to each worker
  (identified through /proc), a clock offset, a fault and a setting changed through one worker apply to the
  requests the other serves, and the exchange log of either shows the calls of both.
"""
from __future__ import annotations

import http.client
import json
import random
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from lxml import etree

from support import SEED  # also puts bench/ on sys.path
from harness import LiveServer, Pipeline, ThreadServer, acknowledged, serving_pid
from segur_sandbox.simulator.app import create_app
from segur_sandbox.simulator.config import Settings
from segur_sandbox.simulator.dmp import xds
from segur_sandbox.simulator.dmp.messages import demographics_request
from segur_sandbox.simulator.pki import TestPKI
from segur_sandbox.simulator.runtime import build_runtime
from segur_sandbox.simulator.security import build_vihf, wsse_security
from segur_sandbox.simulator.seed import seed_workspace
from segur_sandbox.simulator.soap import build_envelope, new_message_id
from segur_sandbox.simulator.testing import SOAP12_CT, parse_reply

PIPELINES, FEEDS = 4, 4
HOUR = 3600


def _pipeline(base: str, pki, index: int, barrier: threading.Barrier) -> dict:  # type: ignore[no-untyped-def]
    """One CI pipeline: its workspace, clock, fault; feeds then searches. Returns what it saw."""
    workspace = f"pipe-{index}-{uuid.uuid4().hex[:8]}"
    offset = (index + 1) * 3 * HOUR  # 3 h apart: beyond the VIHF's 2 h age limit and 5 min skew
    with httpx.Client(base_url=base, timeout=120) as http:
        created = http.post("/api/workspaces", json={"id": workspace})
        assert created.status_code == 201, created.text
        assert http.put(f"/api/workspaces/{workspace}/clock", json={"offset_seconds": offset}).status_code == 200
        code = f"PipelineFault{index}"
        fault = http.post(f"/api/workspaces/{workspace}/faults", json={
            "kind": "registry_error", "transaction": "TD3.1", "remaining": 1, "params": {"code": code}})
        assert fault.status_code == 201, fault.text
        idle = http.post(f"/api/workspaces/{workspace}/faults", json={
            "kind": "latency", "transaction": "TD1.6", "params": {"ms": index}})
        assert idle.status_code == 201, idle.text
        pipeline = Pipeline(base, pki=pki, seed=SEED, workspace=workspace, http=http, clock_offset=offset)
        patients = pipeline.authorise()[:2]
        rng = random.Random(index)
        feeds = [pipeline.feed(patients[i % len(patients)], rng) for i in range(FEEDS)]
        barrier.wait(timeout=60)  # every pipeline feeds and searches at the same time
        for feed in feeds:
            response = http.post(pipeline.url("repository"), content=feed.body,
                                 headers={"content-type": feed.content_type})
            assert acknowledged(response), response.text[:800]
        found: dict[str, set[str]] = {}
        errors: list[str] = []
        for record in patients * 2:  # the first search meets the injected fault
            data, content_type = pipeline.search(record)
            reply = parse_reply(http.post(pipeline.url("registry"), content=data, headers={"content-type": content_type}))
            assert reply.status == 200 and reply.fault is None, reply.raw[:800]
            response = xds.parse_adhoc_query_response(reply.body)
            errors += [e.code for e in response.errors]
            if response.status == "Success":
                found.setdefault(pipeline.patient_ref(record).ins, set()).update(
                    e.unique_id for e in response.objects if isinstance(e, xds.DocumentEntry))
        return {
            "workspace": workspace, "offset": offset, "code": code, "feeds": feeds, "found": found, "errors": errors,
            "exchanges": http.get(f"/api/workspaces/{workspace}/exchanges", params={"limit": 100}).json()["items"],
            "documents": http.get(f"/api/workspaces/{workspace}/documents", params={"limit": 100}).json()["items"],
            "faults": http.get(f"/api/workspaces/{workspace}/faults").json(),
            "clock": http.get(f"/api/workspaces/{workspace}/clock").json(),
        }


def test_parallel_pipelines_never_see_each_other(tmp_path, sandbox_pki):
    settings = Settings(data_dir=tmp_path, seed=SEED, patients=6, documents_per_patient=0)
    runtime = build_runtime(settings, pki=sandbox_pki)
    seed_workspace(runtime.store, "default", seed=SEED, patients=6)
    barrier = threading.Barrier(PIPELINES)
    try:
        with ThreadServer(create_app(runtime)) as base, ThreadPoolExecutor(PIPELINES) as pool:
            seen = list(pool.map(lambda i: _pipeline(base, sandbox_pki, i, barrier), range(PIPELINES)))
            default_documents = httpx.get(base + "/api/workspaces/default/documents").json()["items"]
    finally:
        runtime.store.dispose()
    assert default_documents == []
    for mine in seen:
        own = {uid for feed in mine["feeds"] for uid in feed.documents}
        others = {uid for theirs in seen if theirs is not mine for feed in theirs["feeds"] for uid in feed.documents}
        # documents: the registry, the searches and the admin API show exactly this pipeline's
        assert {d["unique_id"] for d in mine["documents"]} == own
        for ins, unique_ids in mine["found"].items():
            expected = {uid for feed in mine["feeds"] if feed.patient_ins == ins for uid in feed.documents
                        if uid in {d["unique_id"] for d in mine["documents"] if not d.get("is_signature")}}
            assert expected <= unique_ids <= own, (ins, unique_ids - own)
            assert not unique_ids & others
        # faults: its own injected error once, nobody else's
        assert mine["errors"] == [mine["code"]]
        assert [(f["kind"], f["params"]) for f in mine["faults"]] == [
            ("latency", {"ms": seen.index(mine)})]
        # clock: its own offset (its shifted VIHFs were all accepted)
        assert mine["clock"]["offset_seconds"] == mine["offset"]
        # exchanges: exactly its own calls (FEEDS feeds, 4 searches), all passed except the injected error
        transactions = sorted(e["transaction"] for e in mine["exchanges"])
        assert transactions == sorted(["TD2.1"] * FEEDS + ["TD3.1"] * 4), transactions


# --- two worker processes on PostgreSQL ---------------------------------------------------------------------------

class Worker:
    """A keep-alive connection that one worker process of the server serves."""

    def __init__(self, server: LiveServer, connection: http.client.HTTPConnection, pid: int) -> None:
        self.server, self.connection, self.pid = server, connection, pid

    def request(self, method: str, path: str, body: bytes | dict | None = None,
                content_type: str = "application/json") -> tuple[int, str, bytes]:
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        headers = {"content-type": content_type} if data is not None else {}
        self.connection.request(method, path, body=data, headers=headers)
        response = self.connection.getresponse()
        content = response.read()
        assert response.getheader("connection", "").lower() != "close"
        pid = serving_pid(self.server.port, self.connection.sock.getsockname()[1], self.server.worker_pids())
        assert pid == self.pid, f"the connection moved from worker {self.pid} to {pid}"
        return response.status, response.getheader("content-type", ""), content

    def json(self, method: str, path: str, body: dict | None = None) -> dict:
        status, _, content = self.request(method, path, body)
        assert status < 300, (status, content[:300])
        return json.loads(content) if content else {}


def _one_connection_per_worker(server: LiveServer) -> list[Worker]:
    workers: dict[int, Worker] = {}
    spare = []
    for _ in range(60):
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        connection.request("GET", "/health")
        connection.getresponse().read()
        pid = serving_pid(server.port, connection.sock.getsockname()[1], server.worker_pids())
        if pid is not None and pid not in workers:
            workers[pid] = Worker(server, connection, pid)
            if len(workers) == 2:
                break
        else:
            spare.append(connection)  # kept open meanwhile: the next connection may go to the other worker
    for connection in spare:
        connection.close()
    assert len(workers) == 2, "could not reach both workers"
    return list(workers.values())


@pytest.fixture
def pg_url(make_pg_schema):
    yield from make_pg_schema("workers")


def test_two_workers_share_clock_faults_settings_and_log(tmp_path, pg_url):
    server = LiveServer(tmp_path / "data", db=pg_url, workers=2, patients=6, seed=1)
    try:
        server.start()
        workspace = f"multi-{uuid.uuid4().hex[:8]}"
        pki = TestPKI.open(tmp_path / "data" / "pki", 1)
        with httpx.Client(base_url=server.base, timeout=60) as http:  # the slow set-up first: uvicorn closes
            assert http.post("/api/workspaces", json={"id": workspace}).status_code == 201  # idle connections
            pipeline = Pipeline(server.base, pki=pki, seed=1, workspace=workspace, http=http)  # after 5 s
            patient = pipeline.patient_ref(pipeline.authorise()[0])
        path = pipeline.url("patients")
        a, b = _one_connection_per_worker(server)

        def demographics(worker: Worker, offset: float = 0.0, **vihf: object):  # type: ignore[no-untyped-def]
            pipeline.clock_offset = offset
            client = pipeline.client()
            if vihf:
                assertion = build_vihf(professional=pipeline.professional, structure=pipeline.structure,
                                       patient=patient, now=pipeline.now(), signer=None, **vihf)
                envelope = build_envelope(demographics_request(patient), action="urn:hl7-org:v3:PRPA_IN201307UV02",
                                          message_id=new_message_id(), to=None, extra_headers=[wsse_security(assertion)])
                data, content_type = etree.tostring(envelope), SOAP12_CT
            else:
                data, content_type = client.encode("patients", demographics_request(patient), patient=patient,
                                                   now=pipeline.now())
            status, ctype, content = worker.request("POST", path, data, content_type)
            return parse_reply(httpx.Response(status, headers={"content-type": ctype}, content=content))

        assert demographics(b).status == 200
        # the clock: shifted through worker A, read and applied by worker B
        a.json("PUT", f"/api/workspaces/{workspace}/clock", {"offset_seconds": 3 * HOUR})
        assert b.json("GET", f"/api/workspaces/{workspace}/clock")["offset_seconds"] == 3 * HOUR
        stale = demographics(b)  # a VIHF issued at real time is 3 h old for the workspace
        assert stale.status == 500 and "VIHF expiré" in stale.fault.reason, stale.raw[:500]
        assert demographics(b, offset=3 * HOUR).status == 200
        # a fault injected through worker B fires once, on worker A
        b.json("POST", f"/api/workspaces/{workspace}/faults", {
            "kind": "soap_fault", "transaction": "TD0.2", "remaining": 1,
            "params": {"code": "SandboxMultiWorker", "reason": "injectée par l'autre worker"}})
        injected = demographics(a, offset=3 * HOUR)
        assert injected.status == 500 and injected.fault.subcode.localname == "SandboxMultiWorker"
        assert demographics(a, offset=3 * HOUR).status == 200
        assert demographics(b, offset=3 * HOUR).status == 200
        # a setting changed through A (unsigned VIHF accepted) applies on B
        assert demographics(b, offset=3 * HOUR, sign=False).status == 500
        a.json("PATCH", f"/api/workspaces/{workspace}", {"settings": {"vihf_lenient": True}})
        assert demographics(b, offset=3 * HOUR, sign=False).status == 200
        # one log: each worker lists the calls both served, in order
        expected = [200, 500, 200, 500, 200, 200, 500, 200]
        for worker in (a, b):
            items = worker.json("GET", f"/api/workspaces/{workspace}/exchanges?limit=100")["items"]
            assert [e["http_status"] for e in reversed(items)] == expected
    finally:
        server.kill()
