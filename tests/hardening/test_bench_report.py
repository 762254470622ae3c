"""bench/report.py gathers every bench's JSON into the README table: a file from a second run of a script must be
labelled with that script and its own file name, never taken for another script (dmp_search_cpu_x.json is not a
dmp_load result, though both names start with "dmp_")."""
from __future__ import annotations

import json
from pathlib import Path

import support  # noqa: F401  (puts bench/ on sys.path)
import report


def _dmp_load_run(database: str, rate: float, p95: float) -> list[dict]:
    return [{"database": database, "clients": 32, "workers": 2,
             "feeds": {"per_s": 150.0, "p95_ms": 200.0, "failed": 0},
             "searches": {"per_s": 500.0, "p95_ms": 80.0, "failed": 0, "documents_per_answer": 50},
             "searches_open_loop": {"offered_per_s": rate, "achieved_per_s": rate, "p95_ms": p95, "failed": 0}}]


def test_rows_name_their_script_and_file(tmp_path: Path) -> None:
    (tmp_path / "dmp_load.json").write_text(json.dumps(_dmp_load_run("sqlite", 300.0, 9.4)))
    (tmp_path / "dmp_load_2workers_pg.json").write_text(json.dumps(_dmp_load_run("postgresql", 400.0, 12.5)))
    (tmp_path / "dmp_search_cpu_other.json").write_text(json.dumps(
        {"database": "postgresql", "rounds": 3, "searches_per_round": 1500, "cpu_ms_per_search_median": 2.197,
         "gc": {"0": {"total_ms": 0.3}}}))
    (tmp_path / "summary.json").write_text("{}")  # the output of an earlier run is never read back

    rows, raw = report.gather(tmp_path)

    assert set(raw) == {"dmp_load", "dmp_load_2workers_pg", "dmp_search_cpu_other"}
    assert {bench for bench, _, _ in rows} == {"dmp_load", "dmp_search_cpu"}
    open_loops = [(measure, figure) for bench, measure, figure in rows if "open loop" in measure]
    assert open_loops == [
        ("sqlite: ITI-18 FindDocuments, open loop at 300.0/s",
         "300.0 searches/s achieved, p95 9.4 ms from the due time, 0 failed"),
        ("postgresql: ITI-18 FindDocuments, open loop at 400.0/s (dmp_load_2workers_pg.json)",
         "400.0 searches/s achieved, p95 12.5 ms from the due time, 0 failed"),
    ]
    cpu = [row for row in rows if row[0] == "dmp_search_cpu"]
    assert cpu == [("dmp_search_cpu", "postgresql: CPU of one FindDocuments in process, median of 3 rounds of 1500 "
                    "(dmp_search_cpu_other.json)", "2.197 ms a search")]


def test_a_file_of_unexpected_shape_is_reported_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "dmp_load_broken.json").write_text(json.dumps([{"database": "sqlite", "feeds": None}]))
    (tmp_path / "unknown_bench.json").write_text(json.dumps({"x": {"per_s": 12.5}}))

    rows, _ = report.gather(tmp_path)

    broken = [row for row in rows if row[0] == "dmp_load"]
    assert [(bench, measure) for bench, measure, _ in broken] == [
        ("dmp_load", "unexpected shape (dmp_load_broken.json)")]
    assert broken[0][2].startswith("AttributeError")
    assert ("unknown_bench", "x.per_s", "12.5") in rows
