#!/usr/bin/env python3
"""CPU time of one DMP search inside the server process: the bench/dmp_load.py FindDocuments (a patient with 50
documents, VIHF verified each time), run through DmpService.process in this process, no HTTP and no load generator.

    .venv/bin/python bench/dmp_search_cpu.py [--db sqlite|postgresql] [--searches 1500] [--rounds 3] [--json PATH]

What dmp_load.py cannot give: its figures move with the machine's speed and with the other processes sharing the
cores. Here one process does the work, its CPU time (time.process_time) is counted per search over several rounds,
and the database's own CPU is not included. To compare two versions of the code, run this script on each in turn,
several times, alternating (the machine's speed drifts over minutes). It also prints how many garbage collections
ran per generation and how long they took, the one pause a worker makes by itself.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from dmp_load import _closed_loop, _database, _machine, _prepare
from harness import LiveServer

SEED = 1


def measure(db_kind: str, searches: int, rounds: int) -> dict[str, Any]:
    from segur_sandbox.simulator.config import Settings
    from segur_sandbox.simulator.dmp.service import DmpService
    from segur_sandbox.simulator.runtime import build_runtime

    with tempfile.TemporaryDirectory() as tmp, _database(db_kind) as db:
        data = Path(tmp) / "data"
        with LiveServer(data, db=db, patients=60, seed=SEED) as server:  # seeds, authorises, feeds 50 documents
            prepared = _prepare(server, 0)
            fed = asyncio.run(_closed_loop(server.port, prepared.warm, 8))
            if fed.failed:
                raise SystemExit(f"{fed.failed} of the 50 feeds failed (BENCH_DEBUG=1 shows why)")
        body, content_type = prepared.search_soap
        settings = Settings(data_dir=data, db=db or "", seed=SEED)
        runtime = build_runtime(settings)
        service = DmpService(runtime)
        answer = service.process("default", "registry", body, content_type)
        if answer.status != 200 or answer.body.count(b"ExtrinsicObject ") < 50:
            raise SystemExit(f"the search did not answer 50 documents: {answer.body[:800]!r}")
        for _ in range(100):  # caches warm, as in a server that has answered before
            service.process("default", "registry", body, content_type)
        pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
        started: dict[int, float] = {}

        def on_gc(phase: str, info: dict[str, Any]) -> None:
            if phase == "start":
                started[info["generation"]] = time.perf_counter()
            else:
                pauses[info["generation"]].append(time.perf_counter() - started[info["generation"]])

        per_round = []
        gc.callbacks.append(on_gc)
        try:
            for _ in range(rounds):
                cpu = time.process_time()
                for _ in range(searches):
                    service.process("default", "registry", body, content_type)
                per_round.append((time.process_time() - cpu) / searches * 1000)
        finally:
            gc.callbacks.remove(on_gc)
            runtime.store.dispose()
    return {"database": db_kind, "searches_per_round": searches, "rounds": rounds,
            "cpu_ms_per_search": [round(v, 3) for v in per_round],
            "cpu_ms_per_search_median": round(statistics.median(per_round), 3),
            "gc": {str(g): {"collections": len(v), "total_ms": round(sum(v) * 1000, 2),
                            "max_ms": round(max(v, default=0.0) * 1000, 2)} for g, v in pauses.items()},
            "machine": _machine()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--searches", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = measure(args.db, args.searches, args.rounds)
    rounds = " / ".join(f"{v:.3f}" for v in result["cpu_ms_per_search"])
    collections = ", ".join(f"gen {g}: {v['collections']} ({v['total_ms']} ms, longest {v['max_ms']} ms)"
                            for g, v in result["gc"].items())
    print(f"{result['database']}: {result['cpu_ms_per_search_median']:.3f} ms CPU a search in process "
          f"(median of {args.rounds} rounds of {args.searches}: {rounds}); garbage collections: {collections}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
