#!/usr/bin/env python3
"""DMP server load: ITI-41 feeds and ITI-18 FindDocuments, 32 concurrent clients, VIHF verified on every request.

    .venv/bin/python bench/dmp_load.py [--db sqlite|postgresql] [--clients 32] [--feeds 400] [--seconds 20]

Starts a real `segur-sandbox serve` process (--workers, default 1) on a fresh database, authorises the first seeded
professional on the open DMPs through the admin API, then:
  1. feeds 50 documents to one patient, then --feeds documents spread over the other patients (CDA + XAdES,
     MTOM), with --clients concurrent clients: feeds/s;
  2. runs FindDocuments (LeafClass, Approved) on the patient with 50 documents for --seconds: searches/s, p50,
     p95 latency.
Requests are built and signed before the clock starts (one VIHF per request body, verified by the server each
time), so the figures measure the server. Targets on a 2-core machine: >= 300 searches/s with p95 <= 50 ms,
>= 80 feeds/s. The load generator shares the machine's two cores with the server.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from segur_sandbox.fixtures.documents import DocumentContext, build_document
from segur_sandbox.fixtures.documents.cda import uuid_oid
from segur_sandbox.fixtures.professionals import ProfessionalDirectory
from segur_sandbox.simulator.dmp import xds
from segur_sandbox.simulator.dmp.xds import compose
from segur_sandbox.simulator.pki import TestPKI
from segur_sandbox.simulator.security.principal import PatientRef
from segur_sandbox.simulator.testing import DmpTestClient

PG_ADMIN = os.environ.get("SEGUR_SANDBOX_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SEED = 1
REPOSITORY = "/si-dmp-server/v2/services/repository"
REGISTRY = "/si-dmp-server/v2/services/registry"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(data_dir: Path, db: str | None, patients: int, workers: int) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    cmd = [sys.executable, "-m", "segur_sandbox.simulator.cli", "serve", "--data-dir", str(data_dir), "--port",
           str(port), "--patients", str(patients), "--documents-per-patient", "0", "--seed", str(SEED),
           "--workers", str(workers)]
    if db:
        cmd += ["--db", db]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/health", timeout=1).status_code == 200:
                return server, base
        except httpx.TransportError:
            time.sleep(0.3)
    server.kill()
    raise SystemExit("the server did not start")


def _prepare(base: str, data_dir: Path, feeds: int) -> tuple[list[tuple[bytes, str]], list[tuple[bytes, str]],
                                                            tuple[bytes, str], int]:
    directory = ProfessionalDirectory(SEED, 60)
    professional = directory.professionals[0]
    structure = directory.structures_by_id[professional["structure_id"]]
    pki = TestPKI.open(data_dir / "pki", SEED)
    signer = pki.professional(professional, structure, usage="sign")
    with httpx.Client(base_url=base, timeout=60) as http:
        listing = http.get("/api/workspaces/default/patients", params={"dmp_state": "OPEN", "limit": 500}).json()
        records = [http.get(f"/api/workspaces/default/patients/{p['ins']}").json()["record"]
                   for p in listing["items"]]
        for record in records:
            ins = record["ins"]["nir"] + record["ins"]["key"]
            response = http.put(f"/api/workspaces/default/patients/{ins}/authorizations/{professional['id_nat']}",
                                json={"status": "VALIDE", "expires_at": None})
            response.raise_for_status()
        client = DmpTestClient(http, pki, professional, structure)
        rng = random.Random(42)
        now = datetime.now(timezone.utc)

        def feed(record: dict) -> tuple[bytes, str]:
            patient = PatientRef(record["ins"]["nir"] + record["ins"]["key"], record["ins"]["oid"])
            cda = build_document("CR-CONSULTATION", DocumentContext(record, professional, structure, now,
                                                                    random.Random(rng.getrandbits(64))))
            submission = compose.signed_feeding(cda, signer=signer, submission_set_unique_id=uuid_oid(rng),
                                                signature_unique_id=uuid_oid(rng), source_id="1.2.250.1.999.9",
                                                submitted=now)
            body, attachments = xds.provide_and_register_mtom(submission)
            return client.encode("repository", body, patient=patient, attachments=attachments)

        target, others = records[0], records[1:]
        warm = [feed(target) for _ in range(50)]
        load = [feed(others[i % len(others)]) for i in range(feeds)]
        patient = PatientRef(target["ins"]["nir"] + target["ins"]["key"], target["ins"]["oid"])
        query = xds.StoredQuery.of("FindDocuments", {
            "$XDSDocumentEntryPatientId": patient.cx(),
            "$XDSDocumentEntryStatus": ["urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"]})
        search = client.encode("registry", xds.adhoc_query_request(query), patient=patient)
        cda_size = len(build_document("CR-CONSULTATION", DocumentContext(target, professional, structure, now,
                                                                         random.Random(1))))
    return warm, load, search, cda_size


async def _run(base: str, path: str, requests: list[tuple[bytes, str]], clients: int,
               seconds: float | None = None) -> tuple[int, float, list[float], int]:
    """Send the requests with ``clients`` concurrent connections (cycling when ``seconds`` is given)."""
    latencies: list[float] = []
    failures = 0
    queue = list(reversed(requests))
    deadline = None if seconds is None else time.perf_counter() + seconds

    async def worker(http: httpx.AsyncClient, index: int) -> None:
        nonlocal failures
        i = index
        while True:
            if deadline is None:
                if not queue:
                    return
                data, ctype = queue.pop()
            else:
                if time.perf_counter() >= deadline:
                    return
                data, ctype = requests[i % len(requests)]
                i += clients
            t0 = time.perf_counter()
            response = await http.post(path, content=data, headers={"content-type": ctype})
            latencies.append(time.perf_counter() - t0)
            if response.status_code != 200 or b"ResponseStatusType:Success" not in response.content:
                failures += 1
                if failures <= 3 and os.environ.get("BENCH_DEBUG"):
                    print(response.status_code, response.content[:1500].decode(errors="replace"))

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as http:
        started = time.perf_counter()
        await asyncio.gather(*(worker(http, i) for i in range(clients)))
        elapsed = time.perf_counter() - started
    return len(latencies), elapsed, latencies, failures


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1000 if len(values) >= 2 else float("nan")


def bench(db_kind: str, clients: int, feeds: int, seconds: float, patients: int, workers: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        db = None
        dropper = None
        if db_kind == "postgresql":
            name = f"sandbox_bench_{uuid.uuid4().hex[:8]}"
            admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            db = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"

            def drop_database() -> None:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            dropper = drop_database
        server, base = _start_server(data_dir, db, patients, workers)
        try:
            warm, load, search, cda_size = _prepare(base, data_dir, feeds)
            done, _, _, failed = asyncio.run(_run(base, REPOSITORY, warm, clients))
            assert failed == 0, f"{failed} of the 50 warm-up feeds failed"
            n_feeds, feed_time, feed_lat, feed_failed = asyncio.run(_run(base, REPOSITORY, load, clients))
            n_search, search_time, search_lat, search_failed = asyncio.run(
                _run(base, REGISTRY, [search], clients, seconds))
        finally:
            server.terminate()
            server.wait(timeout=20)
            if dropper:
                dropper()
    return {
        "database": db_kind, "clients": clients, "workers": workers, "cda_bytes": cda_size,
        "feeds": {"count": n_feeds, "failed": feed_failed, "per_s": round(n_feeds / feed_time, 1),
                  "p50_ms": round(_pct(feed_lat, 50), 1), "p95_ms": round(_pct(feed_lat, 95), 1)},
        "searches": {"count": n_search, "failed": search_failed, "documents_per_answer": 50,
                     "per_s": round(n_search / search_time, 1), "p50_ms": round(_pct(search_lat, 50), 1),
                     "p95_ms": round(_pct(search_lat, 95), 1)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--feeds", type=int, default=400)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--patients", type=int, default=60)
    parser.add_argument("--workers", type=int, default=1, help="server processes (serve --workers)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    results = [bench(kind, args.clients, args.feeds, args.seconds, args.patients, args.workers) for kind in kinds]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"{args.workers} server worker(s), {args.clients} concurrent clients")
    for r in results:
        f, s = r["feeds"], r["searches"]
        print(f"{r['database']:>10}: ITI-41 {f['per_s']} feeds/s (p95 {f['p95_ms']} ms, {f['failed']} failed, "
              f"CDA {r['cda_bytes']} B + XAdES)   target >= 80/s")
        print(f"{'':>10}  ITI-18 {s['per_s']} searches/s, p50 {s['p50_ms']} ms, p95 {s['p95_ms']} ms "
              f"(50 documents, {s['failed']} failed)   target >= 300/s, p95 <= 50 ms")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
