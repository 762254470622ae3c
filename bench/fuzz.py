#!/usr/bin/env python3
"""A longer fuzz run of the SOAP endpoints: the hypothesis strategies of ``tests/hardening/strategies.py`` with many
more examples than the test suite, on a random seed (issue #8).

    .venv/bin/python bench/fuzz.py [--examples 1000] [--seed N] [--only envelopes,mtom,xds]
                                   [--json bench/results/fuzz.json]

Each strategy (mutated SOAP envelopes, MTOM packages, ITI-41 XDS metadata) is run against a seeded sandbox in
process, every answer checked by ``tests/hardening/fuzzing.FuzzTarget.check``: a SOAP response, a SOAP fault or
a 4xx with a message, one exchange-log line without an internal error, nothing stored unless acknowledged.
Prints per strategy the examples run, the answers by kind, the time and the failure found (shrunk to a minimal
example), if any; writes JSON. Exit status 1 when a failure was found. ``--seed`` replays a run.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "hardening"))
RESULTS = HERE / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=1000, help="examples per strategy")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--only", default="envelopes,mtom,xds")
    parser.add_argument("--json", type=Path, default=RESULTS / "fuzz.json")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)

    from fastapi.testclient import TestClient
    from hypothesis import HealthCheck, given, seed as hypothesis_seed, settings
    from hypothesis import strategies as st

    from fuzzing import PATHS, FuzzTarget
    from strategies import apply_xds_mutations, mtom_packages, soap_envelopes, xds_mutations
    from support import Sandbox
    from segur_sandbox.simulator.app import create_app
    from segur_sandbox.simulator.config import Settings
    from segur_sandbox.simulator.pki import TestPKI
    from segur_sandbox.simulator.runtime import build_runtime
    from segur_sandbox.simulator.seed import seed_workspace

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        config = Settings(data_dir=Path(tmp), seed=7, patients=12, documents_per_patient=0)
        runtime = build_runtime(config, pki=TestPKI.open(Path(tmp) / "pki", 7, base_url="http://testserver/pki"))
        summary = seed_workspace(runtime.store, "default", seed=7, patients=12)
        with TestClient(create_app(runtime)) as http:
            target = FuzzTarget(Sandbox(runtime=runtime, http=http, summary=summary, settings=config))
            kinds: Counter[str] = Counter()

            def send(request) -> None:  # type: ignore[no-untyped-def]
                kinds[target.check(request)] += 1

            def send_xds(edits, feed_seed) -> None:  # type: ignore[no-untyped-def]
                feed, attachments = target.feed(feed_seed)
                apply_xds_mutations(feed, edits)
                send(target.feed_request(feed, attachments))

            tests = {
                "envelopes": given(request=soap_envelopes(target.skeletons(), PATHS))(send),
                "mtom": given(request=mtom_packages(target.feed_skeleton()))(send),
                "xds": given(edits=xds_mutations(), feed_seed=st.integers(0, 2**63))(send_xds),
            }
            for name in [n.strip() for n in args.only.split(",") if n.strip()]:
                kinds.clear()
                run = hypothesis_seed(seed)(settings(max_examples=args.examples, deadline=None, database=None,
                                                     suppress_health_check=list(HealthCheck))(tests[name]))
                sent_before, t0 = target.sent, time.perf_counter()
                failure = None
                try:
                    run()
                except Exception as exc:  # noqa: BLE001 - the finding of the run, reported below
                    failure = "".join(traceback.format_exception_only(type(exc), exc)).strip()[:4000]
                elapsed = time.perf_counter() - t0
                results.append({"strategy": name, "requests": target.sent - sent_before, "seconds": round(elapsed, 1),
                                "per_s": round((target.sent - sent_before) / elapsed, 1), "answers": dict(kinds),
                                "failure": failure})
        runtime.store.dispose()
    print(f"fuzz seed {seed}, up to {args.examples} examples per strategy (replay: --seed {seed})")
    print(f"{'strategy':>10} | {'requests':>8} | {'req/s':>6} | answers by kind{'':<40} | failure")
    for r in results:
        answers = ", ".join(f"{k} {v}" for k, v in sorted(r["answers"].items()))
        print(f"{r['strategy']:>10} | {r['requests']:>8} | {r['per_s']:>6} | {answers:<55} | "
              f"{'none' if r['failure'] is None else 'FOUND'}")
    for r in results:
        if r["failure"]:
            print(f"\n--- {r['strategy']}: {r['failure']}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"seed": seed, "examples": args.examples, "results": results}, indent=2) + "\n")
    if any(r["failure"] for r in results):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
