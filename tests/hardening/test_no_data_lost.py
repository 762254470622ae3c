"""No data lost (issue #8), on SQLite and on PostgreSQL.

* Concurrent feeders: 8 threads × 25 ITI-41 feeds against a real uvicorn server; afterwards the registry holds
  exactly what was acknowledged — each document once, with the hash and size of the bytes sent, its content
  stored, its submission set complete — and nothing else.
* SIGKILL mid-feed: a ``segur-sandbox serve`` process is killed while 4 threads feed it, then started again on
  the same database: no entry without its content, no content without its entry, no submission set without its
  documents; every acknowledged feed is there; a feed that was in flight is there whole or not at all, and
  sending it again either stores it or is refused as a duplicate accordingly.

The full-size run (8 × 500) is ``bench/durability.py``.
"""
from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from support import SEED  # also puts bench/ on sys.path
from harness import REPOSITORY, FeedRequest, LiveServer, Pipeline, ThreadServer, acknowledged, audit
from segur_sandbox.simulator.app import create_app
from segur_sandbox.simulator.config import Settings
from segur_sandbox.simulator.pki import TestPKI
from segur_sandbox.simulator.runtime import build_runtime
from segur_sandbox.simulator.seed import seed_workspace
from segur_sandbox.simulator.store import Store

THREADS, FEEDS_PER_THREAD = 8, 25


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path, make_pg_schema):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'sandbox.db'}"
    else:
        yield from make_pg_schema("nolost")


def _post_all(base: str, feeds: list[FeedRequest]) -> list[bool | None]:
    """Post the feeds in order on one connection: True acknowledged, False refused, None no answer."""
    outcome: list[bool | None] = []
    with httpx.Client(base_url=base, timeout=120) as http:
        for feed in feeds:
            try:
                response = http.post(REPOSITORY, content=feed.body, headers={"content-type": feed.content_type})
            except httpx.TransportError:
                outcome.append(None)
                continue
            outcome.append(acknowledged(response))
    return outcome


def test_concurrent_feeders_lose_nothing(tmp_path, sandbox_pki, database_url):
    settings = Settings(data_dir=tmp_path, seed=SEED, patients=8, documents_per_patient=0)
    runtime = build_runtime(settings, store=Store(database_url), pki=sandbox_pki)
    seed_workspace(runtime.store, "default", seed=SEED, patients=8)
    try:
        with ThreadServer(create_app(runtime)) as base:
            pipeline = Pipeline(base, pki=sandbox_pki, seed=SEED)
            patients = pipeline.authorise()
            rng = random.Random(8)
            batches = [[pipeline.feed(patients[(t + i) % len(patients)], rng) for i in range(FEEDS_PER_THREAD)]
                       for t in range(THREADS)]
            pipeline.close()
            with ThreadPoolExecutor(THREADS) as pool:
                outcomes = list(pool.map(lambda batch: _post_all(base, batch), batches))
    finally:
        runtime.store.dispose()
    feeds = [feed for batch in batches for feed in batch]
    acked = [feed for batch, outcome in zip(batches, outcomes) for feed, ok in zip(batch, outcome) if ok]
    assert len(acked) == len(feeds), f"{len(feeds) - len(acked)} feeds were not acknowledged"
    registry = audit(database_url)
    assert registry.problems == []
    assert {feed.submission_set_unique_id for feed in acked} == set(registry.submission_sets)
    expected = {uid: value for feed in acked for uid, value in feed.documents.items()}
    assert {uid: versions[0] for uid, versions in registry.entries.items()} == expected
    assert all(len(versions) == 1 for versions in registry.entries.values())
    assert all(registry.holds(feed) == "all" for feed in acked)


def test_sigkill_mid_feed_leaves_no_half_stored_document(tmp_path, database_url):
    server = LiveServer(tmp_path / "data", db=database_url, patients=8, seed=1)
    server.start()
    try:
        pipeline = Pipeline(server.base, pki=TestPKI.open(tmp_path / "data" / "pki", 1), seed=1)
        patients = pipeline.authorise()
        rng = random.Random(9)
        feeds = [pipeline.feed(patients[i % len(patients)], rng) for i in range(60)]
        pipeline.close()
        state: list[bool | None | str] = ["unsent"] * len(feeds)
        lock = threading.Lock()
        cursor = iter(range(len(feeds)))

        def feeder() -> None:
            with httpx.Client(base_url=server.base, timeout=60) as http:
                while True:
                    with lock:
                        index = next(cursor, None)
                    if index is None:
                        return
                    state[index] = "in flight"
                    try:
                        response = http.post(REPOSITORY, content=feeds[index].body,
                                             headers={"content-type": feeds[index].content_type})
                    except httpx.TransportError:
                        state[index] = None
                        return
                    state[index] = acknowledged(response)

        threads = [threading.Thread(target=feeder) for _ in range(4)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while sum(s is True for s in state) < 12 and time.monotonic() < deadline:
            time.sleep(0.005)
        server.kill()  # SIGKILL while the feeders keep posting
        for thread in threads:
            thread.join(timeout=60)
        acked = [f for f, s in zip(feeds, state) if s is True]
        in_flight = [f for f, s in zip(feeds, state) if s is None or s == "in flight"]
        unsent = [f for f, s in zip(feeds, state) if s == "unsent"]
        assert len(acked) >= 12 and in_flight and unsent, (len(acked), len(in_flight), len(unsent))
        assert not [s for s in state if s is False], "a feed was refused before the kill"

        server.start()  # same data directory, same database
        registry = audit(database_url)
        assert registry.problems == []
        assert all(registry.holds(feed) == "all" for feed in acked)
        assert all(registry.holds(feed) == "none" for feed in unsent)
        outcome = {id(feed): registry.holds(feed) for feed in in_flight}
        assert set(outcome.values()) <= {"all", "none"}, outcome
        assert registry.documents == 2 * (len(acked) + list(outcome.values()).count("all"))

        # the restarted server works, and an in-flight feed sent again is stored once or refused as a duplicate
        with httpx.Client(base_url=server.base, timeout=60) as http:
            for feed in in_flight:
                response = http.post(REPOSITORY, content=feed.body, headers={"content-type": feed.content_type})
                assert response.status_code == 200, response.text[:300]
                if outcome[id(feed)] == "all":
                    assert b"XDSDuplicateUniqueIdInRegistry" in response.content, response.text[:800]
                else:
                    assert acknowledged(response), response.text[:800]
        registry = audit(database_url)
        assert registry.problems == []
        assert all(registry.holds(feed) == "all" for feed in acked + in_flight)
    finally:
        server.kill()
