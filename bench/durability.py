#!/usr/bin/env python3
"""Durability: concurrent ITI-41 feeders, then the registry must hold exactly what was acknowledged; then a server
killed with SIGKILL mid-feed must restart with no half-stored document (issue #8).

    .venv/bin/python bench/durability.py [--db sqlite|postgresql|both] [--feeders 8] [--feeds 500]
                                         [--kill-after 100] [--workers 1] [--json bench/results/durability.json]

For each database: a real `segur-sandbox serve` on a fresh database; --feeders threads each post --feeds signed
feeds (CDA + XAdES, MTOM, VIHF; built before the clock starts). Then the registry is read straight from the
database: every acknowledged document must be stored exactly once with the SHA-1 and size of the bytes sent and
its content, every submission set with its documents, nothing else. Kill round: the same feeders start again on
fresh feeds, the server gets SIGKILL once --kill-after more are acknowledged, it is restarted, and the audit runs
again: acknowledged feeds all there, in-flight feeds there whole or not at all, no entry without content, no
content without entry. Prints a table; writes JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx

from harness import REPOSITORY, FeedRequest, LiveServer, Pipeline, acknowledged, audit, pg_database

RESULTS = Path(__file__).resolve().parent / "results"


def _feed_all(base: str, batches: list[list[FeedRequest]]) -> list[list[bool | None | str]]:
    """Post each batch from its own thread, until the server goes away: per feed True (acknowledged), False
    (refused), None (no answer: the connection was lost with the feed in flight), "unsent"."""
    def run(batch: list[FeedRequest]) -> list[bool | None | str]:
        state: list[bool | None | str] = ["unsent"] * len(batch)
        with httpx.Client(base_url=base, timeout=120) as http:
            for i, feed in enumerate(batch):
                state[i] = None
                try:
                    response = http.post(REPOSITORY, content=feed.body, headers={"content-type": feed.content_type})
                except httpx.TransportError:
                    break  # the server is gone: this feed's fate is unknown
                state[i] = acknowledged(response)
        return state

    with ThreadPoolExecutor(len(batches)) as pool:
        return list(pool.map(run, batches))


def bench(kind: str, feeders: int, feeds: int, kill_after: int, workers: int) -> dict:
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        db = stack.enter_context(pg_database(prefix="sandbox_durability")) if kind == "postgresql" else None
        url = db or f"sqlite:///{(tmp / 'data' / 'sandbox.db').resolve()}"
        server = LiveServer(tmp / "data", db=db, workers=workers, patients=20, seed=1)
        server.start()
        stack.callback(server.kill)
        from segur_sandbox.simulator.pki import TestPKI

        pipeline = Pipeline(server.base, pki=TestPKI.open(tmp / "data" / "pki", 1), seed=1)
        patients = pipeline.authorise()
        rng = random.Random(2026)

        def batches(count: int) -> list[list[FeedRequest]]:
            return [[pipeline.feed(patients[(f * count + i) % len(patients)], rng) for i in range(count)]
                    for f in range(feeders)]

        t0 = time.perf_counter()
        load = batches(feeds)
        built_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        states = _feed_all(server.base, load)
        feed_s = time.perf_counter() - t0
        sent = [f for batch in load for f in batch]
        flat = [s for batch in states for s in batch]
        acked = [f for f, s in zip(sent, flat) if s is True]
        registry = audit(url)
        stored_right = sum(registry.holds(f) == "all" for f in acked)
        extra = registry.documents - 2 * len(acked)
        concurrent = {
            "feeders": feeders, "feeds_sent": len(sent), "acknowledged": len(acked),
            "refused": flat.count(False), "no_answer": flat.count(None), "stored_right": stored_right,
            "documents_stored": registry.documents, "unacknowledged_stored": extra,
            "problems": registry.problems[:20], "seconds": round(feed_s, 1),
            "feeds_per_s": round(len(sent) / feed_s, 1), "build_seconds": round(built_s, 1),
            "ok": len(acked) == len(sent) and stored_right == len(acked) and extra == 0 and not registry.problems,
        }

        # kill round: fresh feeds, SIGKILL once kill_after more are acknowledged, restart, audit
        per_feeder = max(10, (kill_after * 3) // feeders)
        kill_load = batches(per_feeder)
        result: dict[str, list] = {}
        runner = threading.Thread(target=lambda: result.setdefault("states", _feed_all(server.base, kill_load)))
        runner.start()
        before = registry.documents // 2
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and runner.is_alive():
            if audit_count(url) - before >= kill_after:
                break
            time.sleep(0.05)
        server.kill()
        killed_at = time.perf_counter()
        runner.join()
        server.start()
        restart_s = time.perf_counter() - killed_at
        kill_sent = [f for batch in kill_load for f in batch]
        kill_flat = [s for batch in result["states"] for s in batch]
        kill_acked = [f for f, s in zip(kill_sent, kill_flat) if s is True]
        in_flight = [f for f, s in zip(kill_sent, kill_flat) if s is None]
        unsent = [f for f, s in zip(kill_sent, kill_flat) if s == "unsent"]
        after = audit(url)
        fates = [after.holds(f) for f in in_flight]
        kill = {
            "acknowledged_before_kill": len(kill_acked), "in_flight": len(in_flight), "unsent": len(unsent),
            "in_flight_stored_whole": fates.count("all"), "in_flight_absent": fates.count("none"),
            "half_stored": fates.count("part") + sum(after.holds(f) == "part" for f in kill_acked + unsent),
            "acknowledged_lost": sum(after.holds(f) != "all" for f in kill_acked + acked),
            "problems": after.problems[:20], "restart_seconds": round(restart_s, 1),
            "documents_stored": after.documents,
        }
        kill["ok"] = (kill["half_stored"] == 0 and kill["acknowledged_lost"] == 0 and not after.problems
                      and all(after.holds(f) == "none" for f in unsent))
        pipeline.close()
    return {"database": kind, "workers": workers, "concurrent": concurrent, "sigkill": kill}


def audit_count(url: str) -> int:
    """Submission sets stored so far (cheap: one count)."""
    from sqlalchemy import func, select

    from segur_sandbox.simulator.store import Store
    from segur_sandbox.simulator.store import models as m

    store = Store(url, create_schema=False)
    try:
        with store.transaction(readonly=True) as tx:
            return tx.connection.execute(select(func.count()).select_from(m.submission_sets).where(
                m.submission_sets.c.workspace == "default")).scalar_one()
    finally:
        store.dispose()


def print_table(results: list[dict]) -> None:
    print(f"{'database':>10} | {'sent':>5} | {'acked':>5} | {'stored ok':>9} | {'extra':>5} | {'feeds/s':>7} | "
          f"kill: {'acked':>5} {'in flight':>9} {'whole':>5} {'absent':>6} {'half':>4} {'lost':>4} | verdict")
    for r in results:
        c, k = r["concurrent"], r["sigkill"]
        verdict = "OK" if c["ok"] and k["ok"] else "FAIL"
        print(f"{r['database']:>10} | {c['feeds_sent']:>5} | {c['acknowledged']:>5} | {c['stored_right']:>9} | "
              f"{c['unacknowledged_stored']:>5} | {c['feeds_per_s']:>7} | "
              f"      {k['acknowledged_before_kill']:>5} {k['in_flight']:>9} {k['in_flight_stored_whole']:>5} "
              f"{k['in_flight_absent']:>6} {k['half_stored']:>4} {k['acknowledged_lost']:>4} | {verdict}")
        for problem in c["problems"] + k["problems"]:
            print(f"{'':>10}   problem: {problem}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--feeders", type=int, default=8)
    parser.add_argument("--feeds", type=int, default=500, help="feeds per feeder")
    parser.add_argument("--kill-after", type=int, default=100, help="kill round: SIGKILL after this many stored")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--json", type=Path, default=RESULTS / "durability.json")
    args = parser.parse_args()
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    results = [bench(kind, args.feeders, args.feeds, args.kill_after, args.workers) for kind in kinds]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"{args.feeders} feeders x {args.feeds} ITI-41 feeds, {args.workers} server worker(s)")
    print_table(results)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"settings": vars(args) | {"json": str(args.json)}, "results": results},
                                    indent=2) + "\n")
    if not all(r["concurrent"]["ok"] and r["sigkill"]["ok"] for r in results):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
