"""The storage and API of conformance-run results (what `segur-sandbox conformance run` posts and the console
shows): SQLite through the app, the store on PostgreSQL, and the schema migration from version 1."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from segur_sandbox.simulator.store import SCHEMA_VERSION, Store, sqlite_url
from segur_sandbox.simulator.store.conformance_runs import ConformanceRun, ConformanceRunExists

START = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)


def run_body(run_id: str = "run-1", **changes):
    body = {
        "id": run_id, "plan": "consultation", "started_at": START.isoformat(),
        "finished_at": (START + timedelta(seconds=42)).isoformat(), "verdict": "fail",
        "summary": {"cases": 3, "passed": 2, "failed": 1, "errors": 0},
        "report": {"cases": [{"id": "CONS-01", "title": "Consulter", "verdict": "pass", "checks": []}],
                   "note": "é ✓", "order": [3, 1, 2]},
        "evidence_html": "<!doctype html><title>Preuves</title><h1>Run 1</h1>",
    }
    body.update(changes)
    return body


def test_post_get_list_download_delete(sandbox):
    http = sandbox.http
    created = http.post("/api/conformance-runs", json=run_body())
    assert created.status_code == 201, created.text
    assert created.json()["summary"]["failed"] == 1 and "report" not in created.json()

    one = http.get("/api/conformance-runs/run-1").json()
    assert one["report"] == run_body()["report"]  # given back as posted, key order included
    assert list(one["report"]) == ["cases", "note", "order"]
    assert one["verdict"] == "fail" and one["plan"] == "consultation"

    http.post("/api/conformance-runs", json=run_body("run-2", verdict="pass",
                                                     started_at=(START + timedelta(hours=1)).isoformat(),
                                                     finished_at=(START + timedelta(hours=2)).isoformat()))
    page = http.get("/api/conformance-runs").json()
    assert page["total"] == 2 and [r["id"] for r in page["items"]] == ["run-2", "run-1"]  # newest first
    assert all("report" not in r and "evidence_html" not in r for r in page["items"])
    assert http.get("/api/conformance-runs", params={"plan": "feeding"}).json()["total"] == 0

    evidence = http.get("/api/conformance-runs/run-1/evidence.html")
    assert evidence.status_code == 200
    assert evidence.headers["content-type"].startswith("text/html")
    assert evidence.headers["content-disposition"] == 'attachment; filename="evidence-run-1.html"'
    assert "<h1>Run 1</h1>" in evidence.text

    assert http.delete("/api/conformance-runs/run-1").status_code == 204
    assert http.get("/api/conformance-runs/run-1").status_code == 404
    assert http.delete("/api/conformance-runs/run-1").status_code == 404
    assert http.get("/api/conformance-runs/run-1/evidence.html").status_code == 404


def test_a_second_post_of_one_id_is_a_conflict(sandbox):
    assert sandbox.http.post("/api/conformance-runs", json=run_body()).status_code == 201
    again = sandbox.http.post("/api/conformance-runs", json=run_body(verdict="pass"))
    assert again.status_code == 409 and "already exists" in again.json()["error"]
    assert sandbox.http.get("/api/conformance-runs/run-1").json()["verdict"] == "fail"  # the first one stays


@pytest.mark.parametrize("changes,problem", [
    ({"verdict": "error"}, "verdict"),
    ({"id": "a/b"}, "id"),
    ({"id": ""}, "id"),
    ({"id": "x" * 129}, "id"),
    ({"started_at": "2025-03-04T10:00:00"}, "started_at"),  # no zone: ambiguous
    ({"finished_at": "2025-03-04T09:00:00Z"}, "finished_at is before started_at"),
    ({"evidence_html": "a\x00b"}, "NUL"),
    ({"report": {"text": "a\x00b"}}, "NUL"),
    ({"summary": {"\x00": 1}}, "NUL"),
    ({"unknown": 1}, "unknown"),
])
def test_bad_input_is_a_clear_422(sandbox, changes, problem):
    answer = sandbox.http.post("/api/conformance-runs", json=run_body(**changes))
    assert answer.status_code == 422, answer.text
    assert problem in answer.json()["error"]


def test_non_finite_numbers_and_deep_nesting_are_refused(sandbox):
    raw = json.dumps(run_body()).replace('"passed": 2', '"passed": 1e999')
    answer = sandbox.http.post("/api/conformance-runs", content=raw, headers={"content-type": "application/json"})
    assert answer.status_code == 422 and "infinite" in answer.json()["error"]
    deep: object = 1
    for _ in range(100):
        deep = [deep]
    answer = sandbox.http.post("/api/conformance-runs", json=run_body(report=deep))
    assert answer.status_code == 422 and "deeper" in answer.json()["error"]


def test_runs_survive_a_workspace_reset(sandbox):
    sandbox.http.post("/api/conformance-runs", json=run_body())
    with sandbox.runtime.store.transaction() as tx:
        tx.workspaces.reset("default")
    assert sandbox.http.get("/api/conformance-runs/run-1").status_code == 200


def test_schema_version_1_is_migrated(tmp_path):
    url = sqlite_url(tmp_path / "old.db")
    with Store(url) as store:  # make it look like a version-1 database: no table, version 1
        with store.engine.begin() as conn:
            conn.execute(text("DROP TABLE conformance_runs"))
            conn.execute(text("UPDATE schema_version SET version = 1"))
    with Store(url) as store:
        assert store.schema_version() == SCHEMA_VERSION == 3
        _round_trip(store)


def _round_trip(store: Store) -> None:
    run = ConformanceRun(id="pg-1", plan="feeding", started_at=START, finished_at=START + timedelta(minutes=1),
                         verdict="pass", summary={"cases": 1, "passed": 1},
                         report={"cases": [], "text": "guillemets « » et \\u0000 échappé"},
                         evidence_html="<p>ok</p>")
    with store.transaction() as tx:
        stored = tx.conformance_runs.add(run)
        assert stored.created_at is not None
    with store.transaction() as tx:
        with pytest.raises(ConformanceRunExists):
            tx.conformance_runs.add(run)
    with store.transaction(readonly=True) as tx:
        found = tx.conformance_runs.get("pg-1")
        assert found is not None and found.report == run.report and found.evidence_html == "<p>ok</p>"
        assert found.started_at == START and found.summary == {"cases": 1, "passed": 1}
        listed = tx.conformance_runs.list()
        assert [r.id for r in listed] == ["pg-1"] and listed[0].report is None and listed[0].evidence_html is None
        assert tx.conformance_runs.evidence_html("pg-1") == "<p>ok</p>"
    with store.transaction() as tx:
        assert tx.conformance_runs.delete("pg-1") and not tx.conformance_runs.delete("pg-1")


@pytest.fixture
def pg_url(make_pg_schema):
    yield from make_pg_schema("segur_console")


def test_store_round_trip_on_postgresql(pg_url):
    with Store(pg_url) as store:
        assert store.schema_version() == SCHEMA_VERSION
        _round_trip(store)
