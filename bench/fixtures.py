#!/usr/bin/env python3
"""Fixtures generator benchmark: throughput with documents, and peak memory of a large run.

    .venv/bin/python bench/fixtures.py [--patients 1000] [--documents 5] [--big 100000]

Prints patients/s for N patients with K documents each (targets: >= 50 patients/s with K=5 on 2 cores), and
the peak RSS of a separate process generating --big patients without documents (target: < 250 MB). Each run
is a real `segur-sandbox fixtures generate` process, so start-up and file writing are included.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLI = [sys.executable, "-m", "segur_sandbox.simulator.cli"]


def run(patients: int, documents: int) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of one generator process."""
    with tempfile.TemporaryDirectory() as tmp:
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        started = time.perf_counter()
        subprocess.run([*CLI, "fixtures", "generate", "--seed", "1", "--patients", str(patients),
                        "--documents-per-patient", str(documents), "--out", str(Path(tmp) / "pop")],
                       check=True, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - started
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the maximum over all waited-for children: run the big case last.
    return seconds, max(peak_kb, before) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--documents", type=int, default=5)
    parser.add_argument("--big", type=int, default=100_000)
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()

    seconds, _ = run(args.patients, args.documents)
    rate = args.patients / seconds
    big_seconds, peak_mb = run(args.big, 0)
    figures = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "throughput": {"patients": args.patients, "documents_per_patient": args.documents,
                       "seconds": round(seconds, 2), "patients_per_s": round(rate, 1),
                       "documents_per_s": round(rate * args.documents, 1)},
        "memory": {"patients": args.big, "documents_per_patient": 0, "seconds": round(big_seconds, 2),
                   "peak_rss_mb": round(peak_mb, 1)},
    }
    print(f"machine: {figures['machine']}")
    print(f"N={args.patients}, K={args.documents}: {seconds:.2f} s, {rate:.1f} patients/s "
          f"({rate * args.documents:.0f} documents/s)   target >= 50 patients/s")
    print(f"N={args.big}, K=0: {big_seconds:.2f} s, peak RSS {peak_mb:.1f} MB   target < 250 MB")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
