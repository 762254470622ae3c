#!/usr/bin/env python3
"""Every benchmark's figures in one table: reads ``bench/results/*.json`` (what each bench script wrote), prints a
markdown table for the README and writes ``bench/results/summary.json``.

    .venv/bin/python bench/report.py                       # gather the results already there
    .venv/bin/python bench/report.py --run                 # run every bench first, quick settings (minutes)
    .venv/bin/python bench/report.py --run --results /tmp/quick   # … without overwriting bench/results

``--run`` runs each bench script with small settings (see QUICK below) writing into ``--results``; a bench that
fails (e.g. ``cards.py`` without pcscd, PostgreSQL unreachable) is reported as failed and the others go on.
Files this script does not know are summarised from their numeric fields.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

# name -> arguments of a quick run (--json <results>/<name>.json is added)
QUICK: dict[str, list[str]] = {
    "fixtures": ["--patients", "200", "--documents", "2", "--big", "10000"],
    "cards": ["--rounds", "50"],
    "insi_load": ["--identities", "20000", "--clients", "4", "--seconds", "5", "--http"],
    "dmp_load": ["--db", "both", "--feeds", "100", "--seconds", "5", "--clients", "16"],
    "durability": ["--db", "both", "--feeders", "8", "--feeds", "25", "--kill-after", "30"],
    "scale": ["--workers", "1,2,3,4", "--seconds", "5", "--clients", "8"],
    "fuzz": ["--examples", "100"],
}

Row = tuple[str, str, str]  # (bench, measure, figure)


def _get(data: Any, *path: str | int, default: Any = None) -> Any:
    for key in path:
        try:
            data = data[key]
        except (KeyError, IndexError, TypeError):
            return default
    return data


def _fixtures(d: dict) -> Iterator[Row]:
    t, m = d.get("throughput", {}), d.get("memory", {})
    yield ("fixtures", f"generate {t.get('patients')} patients x {t.get('documents_per_patient')} documents",
           f"{t.get('patients_per_s')} patients/s ({t.get('documents_per_s')} documents/s)")
    yield "fixtures", f"generate {m.get('patients')} patients, peak memory", f"{m.get('peak_rss_mb')} MB"


def _cards(d: dict) -> Iterator[Row]:
    yield ("cards", "CPS signature through PC/SC",
           f"median {_get(d, 'signature', 'median_ms')} ms, p95 {_get(d, 'signature', 'p95_ms')} ms")
    yield ("cards", "full Vitale read",
           f"median {_get(d, 'vitale_full_read', 'median_ms')} ms, p95 {_get(d, 'vitale_full_read', 'p95_ms')} ms")


def _insi(d: dict) -> Iterator[Row]:
    for backend in ("sqlite", "postgresql"):
        if backend not in d:
            continue
        store, http = _get(d, backend, "store", default={}), _get(d, backend, "http", default={})
        yield ("insi_load", f"{backend}: trait search on {d.get('identities')} identities, store",
               f"{store.get('per_second')} searches/s, p95 {store.get('p95_ms')} ms")
        if http:
            yield ("insi_load", f"{backend}: the same over HTTP (SOAP)",
                   f"{http.get('per_second')} requests/s, p95 {http.get('p95_ms')} ms")


def _dmp(d: list) -> Iterator[Row]:
    for r in d:
        f, s = r.get("feeds", {}), r.get("searches", {})
        yield ("dmp_load", f"{r.get('database')}: ITI-41 feeds, {r.get('clients')} clients, "
                           f"{r.get('workers', 1)} worker(s)",
               f"{f.get('per_s')} feeds/s, p95 {f.get('p95_ms')} ms, {f.get('failed')} failed")
        yield ("dmp_load", f"{r.get('database')}: ITI-18 FindDocuments ({s.get('documents_per_answer')} documents)",
               f"{s.get('per_s')} searches/s, p95 {s.get('p95_ms')} ms, {s.get('failed')} failed")
        if o := r.get("searches_open_loop"):  # results written before the open loop existed have none
            yield ("dmp_load", f"{r.get('database')}: ITI-18 FindDocuments, open loop at {o.get('offered_per_s')}/s",
                   f"{o.get('achieved_per_s')} searches/s achieved, p95 {o.get('p95_ms')} ms from the due time, "
                   f"{o.get('failed')} failed")


def _dmp_search_cpu(d: dict) -> Iterator[Row]:
    yield ("dmp_search_cpu", f"{d.get('database')}: CPU of one FindDocuments in process, median of {d.get('rounds')} "
                             f"rounds of {d.get('searches_per_round')}",
           f"{d.get('cpu_ms_per_search_median')} ms a search")


def _durability(d: dict) -> Iterator[Row]:
    for r in d.get("results", []):
        c, k = r["concurrent"], r["sigkill"]
        yield ("durability", f"{r['database']}: {c['feeders']} feeders x {c['feeds_sent'] // max(c['feeders'], 1)} "
                             "ITI-41, registry audit",
               f"{c['acknowledged']}/{c['feeds_sent']} acknowledged, {c['stored_right']} stored right, "
               f"{c['unacknowledged_stored']} extra, {len(c['problems'])} problems ({c['feeds_per_s']} feeds/s)")
        yield ("durability", f"{r['database']}: SIGKILL mid-feed, restart, audit",
               f"{k['in_flight']} in flight ({k['in_flight_stored_whole']} whole, {k['in_flight_absent']} absent), "
               f"{k['half_stored']} half-stored, {k['acknowledged_lost']} acknowledged lost, restart "
               f"{k['restart_seconds']} s")


def _scale(d: dict) -> Iterator[Row]:
    results = d.get("results", [])
    base = results[0]["per_s"] if results else None
    for r in results:
        speedup = f", x{r['per_s'] / base:.2f}" if base else ""
        yield ("scale", f"{r['database']} {r['workload']}, serve --workers {r['workers']}, {r['clients']} clients",
               f"{r['per_s']} requests/s, p95 {r['p95_ms']} ms, {r['failed']} failed{speedup}")
    if d.get("note"):
        yield "scale", "note", d["note"]


def _fuzz(d: dict) -> Iterator[Row]:
    for r in d.get("results", []):
        answers = ", ".join(f"{k} {v}" for k, v in sorted(r.get("answers", {}).items()))
        yield ("fuzz", f"{r['strategy']} (seed {d.get('seed')})",
               f"{r['requests']} requests ({answers}): {'no failure' if not r['failure'] else 'FAILURE FOUND'}")


def _generic(name: str, data: Any) -> Iterator[Row]:
    """Numeric leaves that look like figures (rates, latencies, sizes), at most 8."""
    found: list[Row] = []

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(inner, f"{path}.{key}" if path else str(key))
        elif isinstance(value, list):
            for i, inner in enumerate(value):
                walk(inner, f"{path}[{i}]")
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and \
                any(path.endswith(s) for s in ("per_s", "per_second", "_ms", "_mb", "seconds")):
            found.append((name, path, str(value)))
    walk(data, "")
    yield from found[:8]


EXTRACTORS: dict[str, Callable[[Any], Iterator[Row]]] = {
    "fixtures": _fixtures, "cards": _cards, "insi_load": _insi, "dmp_load": _dmp, "durability": _durability,
    "scale": _scale, "fuzz": _fuzz, "dmp_search_cpu": _dmp_search_cpu,
}


def run_all(results: Path, only: list[str]) -> dict[str, str]:
    """Run the benches with their quick settings; returns name -> "ok" | "failed (exit N)"."""
    status: dict[str, str] = {}
    for name, extra in QUICK.items():
        if only and name not in only:
            continue
        cmd = [sys.executable, str(HERE / f"{name}.py"), *extra, "--json", str(results / f"{name}.json")]
        print(f"$ {' '.join(cmd[1:])}", flush=True)
        t0 = time.perf_counter()
        code = subprocess.call(cmd, cwd=HERE.parent)
        status[name] = "ok" if code == 0 else f"failed (exit {code})"
        print(f"  -> {status[name]} in {time.perf_counter() - t0:.0f} s\n", flush=True)
    return status


def gather(results: Path) -> tuple[list[Row], dict[str, Any]]:
    rows: list[Row] = []
    raw: dict[str, Any] = {}
    for path in sorted(results.glob("*.json")):
        if path.name == "summary.json":
            continue
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            rows.append((path.stem, "unreadable", str(exc)))
            continue
        raw[path.stem] = data
        # scale_mixed.json: another run of scale.py; the longest name wins (dmp_search_cpu_x is not dmp_load's)
        script = path.stem if path.stem in EXTRACTORS else max(
            (name for name in EXTRACTORS if path.stem.startswith(name + "_")), key=len, default=None)
        try:
            found = list(EXTRACTORS[script](data)) if script else list(_generic(path.stem, data))
        except (AttributeError, KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
            found = [(script or path.stem, "unexpected shape", f"{type(exc).__name__}: {exc}")]
        if script and script != path.stem:  # several runs of one script: say which file each row is from
            found = [(bench, f"{measure} ({path.name})", figure) for bench, measure, figure in found]
        rows += found
    return rows, raw


def markdown(rows: list[Row]) -> str:
    lines = ["| Benchmark | Measure | Figure |", "|---|---|---|"]
    lines += [f"| `bench/{bench}.py` | {measure} | {figure} |" for bench, measure, figure in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", action="store_true", help="run every bench first with quick settings")
    parser.add_argument("--only", default="", help="with --run: comma-separated bench names")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the JSON files are (and go)")
    args = parser.parse_args()
    args.results.mkdir(parents=True, exist_ok=True)
    status = run_all(args.results, [n for n in args.only.split(",") if n]) if args.run else {}
    rows, raw = gather(args.results)
    table = markdown(rows)
    print(table)
    for name, outcome in status.items():
        if outcome != "ok":
            print(f"\n{name}: {outcome} (its row, if any, is from an earlier run)")
    summary = {"generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "run": status,
               "rows": [{"bench": b, "measure": m, "figure": f} for b, m, f in rows], "markdown": table,
               "sources": sorted(raw)}
    (args.results / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
