#!/usr/bin/env python3
"""Scale-out: throughput of `segur-sandbox serve --workers N --db postgresql://…` for N = 1..4 (issue #8).

    .venv/bin/python bench/scale.py [--workers 1,2,3,4] [--workload search|mixed] [--seconds 15]
                                    [--clients 16] [--load-processes 2] [--db postgresql|sqlite]
                                    [--json bench/results/scale.json]

For each N: a fresh PostgreSQL database, a real server with N worker processes, the scenario professional
authorised on every open DMP and 20 documents fed to one patient. Then --load-processes separate processes
(the load generator, started after the requests are built and signed) keep --clients connections busy for
--seconds with FindDocuments on that patient (``search``: a 20-document LeafClass answer, VIHF verified each
time), or 4 searches for 1 ITI-41 feed (``mixed``). Prints requests/s, p50/p95 latency and the speed-up over one
worker; writes JSON. The load generator runs on the same machine as the server and PostgreSQL: on a 2-core
machine, more than 2 workers cannot add throughput, and the generator's own processes take CPU from them.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import random
import statistics
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

from harness import REGISTRY, REPOSITORY, LiveServer, Pipeline, acknowledged, pg_database

RESULTS = Path(__file__).resolve().parent / "results"
SUCCESS = b"ResponseStatusType:Success"


Request = tuple[str, bytes, str]  # path, body, content type


def _load(args: tuple[str, Request, list[Request], int, int, float, float]) -> tuple[int, int, list[float], list[str]]:
    """One load-generator process: ``clients`` connections send the search, and every ``feed_every``-th request
    one of ``feeds`` (each sent once; searches only once they are used up), until ``start + seconds`` (wall
    clock shared by all processes). Returns requests, failures, latencies and a few failed answers."""
    base, search, feeds, feed_every, clients, start, seconds = args
    feeds = list(reversed(feeds))

    async def run() -> tuple[int, int, list[float], list[str]]:
        latencies: list[float] = []
        failed: list[str] = []
        failures = 0
        sent = 0
        while time.time() < start:
            await asyncio.sleep(0.01)
        deadline = start + seconds
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as http:
            async def worker() -> None:
                nonlocal failures, sent
                while time.time() < deadline:
                    sent += 1
                    use_feed = feed_every and sent % feed_every == 0 and feeds
                    path, data, content_type = feeds.pop() if use_feed else search
                    t0 = time.perf_counter()
                    try:
                        response = await http.post(path, content=data, headers={"content-type": content_type})
                        ok = response.status_code == 200 and SUCCESS in response.content
                        detail = f"HTTP {response.status_code} {response.content[:600]!r}"
                    except httpx.HTTPError as exc:
                        ok, detail = False, f"{type(exc).__name__}: {exc}"
                    latencies.append(time.perf_counter() - t0)
                    if not ok:
                        failures += 1
                        if len(failed) < 3:
                            failed.append(f"{path}: {detail}")
            await asyncio.gather(*(worker() for _ in range(clients)))
        return len(latencies), failures, latencies, failed

    return asyncio.run(run())


def _pct(values: list[float], q: int) -> float:
    return round(statistics.quantiles(values, n=100)[q - 1] * 1000, 1) if len(values) >= 2 else float("nan")


def bench(workers: int, db_kind: str, workload: str, seconds: float, clients: int, processes: int) -> dict:
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        db = stack.enter_context(pg_database(prefix="sandbox_scale")) if db_kind == "postgresql" else None
        server = LiveServer(tmp / "data", db=db, workers=workers, patients=30, seed=1)
        started = time.perf_counter()
        server.start()
        start_s = time.perf_counter() - started
        stack.callback(server.stop)
        from segur_sandbox.simulator.pki import TestPKI

        pipeline = Pipeline(server.base, pki=TestPKI.open(tmp / "data" / "pki", 1), seed=1)
        stack.callback(pipeline.close)
        patients = pipeline.authorise()
        rng = random.Random(7)
        target = patients[0]
        assert pipeline.http is not None
        for _ in range(20):
            feed = pipeline.feed(target, rng)
            assert acknowledged(pipeline.http.post(REPOSITORY, content=feed.body,
                                                   headers={"content-type": feed.content_type}))
        search = (REGISTRY, *pipeline.search(target))
        feed_every = 5 if workload == "mixed" else 0  # mixed: 4 searches for 1 feed, each feed new
        per_process: list[list[Request]] = []
        for _ in range(processes):
            feeds = []
            for _ in range(int(seconds * 300 / processes / max(feed_every, 1)) + 10 if feed_every else 0):
                feed = pipeline.feed(patients[1 + rng.randrange(len(patients) - 1)], rng)
                feeds.append((REPOSITORY, feed.body, feed.content_type))
            per_process.append(feeds)
        share = max(1, clients // processes)
        start = time.time() + 1.0
        with multiprocessing.get_context("spawn").Pool(processes) as pool:
            outcomes = pool.map(_load, [(server.base, search, feeds, feed_every, share, start, seconds)
                                        for feeds in per_process])
    count = sum(o[0] for o in outcomes)
    latencies = [v for o in outcomes for v in o[2]]
    return {"workers": workers, "database": db_kind, "workload": workload, "clients": share * processes,
            "load_processes": processes, "seconds": seconds, "requests": count,
            "failed": sum(o[1] for o in outcomes), "per_s": round(count / seconds, 1),
            "p50_ms": _pct(latencies, 50), "p95_ms": _pct(latencies, 95), "server_start_s": round(start_s, 1),
            "failed_examples": [f for o in outcomes for f in o[3]][:3]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", default="1,2,3,4", help="comma-separated worker counts")
    parser.add_argument("--workload", choices=["search", "mixed"], default="search")
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--load-processes", type=int, default=2)
    parser.add_argument("--json", type=Path, default=RESULTS / "scale.json")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",") if n.strip()]
    results = [bench(n, args.db, args.workload, args.seconds, args.clients, args.load_processes) for n in counts]
    cores = os.cpu_count() or 1
    base = results[0]["per_s"] or float("nan")
    print(f"machine: {platform.machine()}, {cores} cores, Python {platform.python_version()}; {args.db}, "
          f"{args.workload} workload, {results[0]['clients']} clients in {args.load_processes} load processes, "
          f"{args.seconds:g} s per run")
    print(f"{'workers':>7} | {'req/s':>7} | {'p50 ms':>7} | {'p95 ms':>7} | {'failed':>6} | speed-up")
    for r in results:
        print(f"{r['workers']:>7} | {r['per_s']:>7} | {r['p50_ms']:>7} | {r['p95_ms']:>7} | {r['failed']:>6} | "
              f"x{r['per_s'] / base:.2f}")
    note = (f"this machine has {cores} cores shared by the server workers, PostgreSQL and the load generator: "
            f"more than {cores} workers cannot add throughput here; the figures show the workers agree "
            "(no failures) rather than how far they scale")
    print("note: " + note)
    for r in results:
        for example in r["failed_examples"]:
            print(f"failed ({r['workers']} workers): {example[:400]}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                                     "cores": cores, "note": note, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
