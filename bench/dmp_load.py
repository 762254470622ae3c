#!/usr/bin/env python3
"""DMP server load: ITI-41 feeds and ITI-18 FindDocuments, 32 concurrent clients, VIHF verified on every request.

    .venv/bin/python bench/dmp_load.py [--db sqlite|postgresql|both] [--clients 32] [--feeds 400] [--seconds 20]
                                       [--rate 300] [--patients 60] [--workers 1] [--soap-threads N]
                                       [--pg-durable-read-log] [--pg-waits] [--json PATH]

Starts a real `segur-sandbox serve` process (--workers, default 1) on a fresh database, authorises the first seeded
professional on the open DMPs through the admin API, then:
  1. feeds 50 documents to one patient (warm-up), then --feeds documents spread over the other patients, each a
     CR-CONSULTATION CDA padded to >= 30 KB (DocumentContext.min_bytes) + XAdES, in MTOM, with --clients
     connections back to back: feeds/s;
  2. checks one FindDocuments answer (LeafClass, Approved) on the patient with 50 documents in full: the XML part
     must hold exactly 50 ExtrinsicObjects, so that fast failures can never pass for throughput;
  3. closed loop: --clients connections send that search back to back for --seconds: the maximum searches/s,
     p50/p95/p99;
  4. open loop: searches offered at a fixed --rate for --seconds, request i due at t0 + i/rate on the next free
     connection (waiting for one when all are busy). Latency runs from the due time, not the send time, so time
     spent queueing behind a slow server counts (no coordinated omission): p50/p95/p99 and the achieved rate.
     Requests still unsent when the window ends (every connection busy) are not sent; they count in the
     percentiles with the time they had waited (a lower bound) and as "never sent".

Every request is built and signed before the clock starts (one VIHF per request body, verified by the server each
time). The load generator shares the machine's cores with the server, so it is kept lean: plain asyncio streams
on keep-alive HTTP/1.1 connections, pre-built request bytes, a response read by Content-Length (or chunked) and
checked by a substring search; its CPU time is reported per phase, and so is the server's (its worker processes'
user + system time from /proc, per request; not PostgreSQL's). A response fails when its status is not 200 or
its body lacks ResponseStatusType:Success (BENCH_DEBUG=1 prints the first ones).
Targets on a 2-core machine: >= 300 searches/s (closed loop), p95 <= 50 ms at 300 searches/s (open loop),
>= 80 feeds/s. The JSON records the machine (CPU model, cores, Python, a CPU speed probe) to compare runs.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import statistics
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from harness import FeedRequest, LiveServer, Pipeline, pg_database
from segur_sandbox.simulator.pki import TestPKI
from segur_sandbox.simulator.soap import parse_request

SEED = 1
HOST = "127.0.0.1"
REPOSITORY = "/si-dmp-server/v2/services/repository"
REGISTRY = "/si-dmp-server/v2/services/registry"
CDA_MIN_BYTES = 30_000  # the "ITI-41 (30 KB CDA + XAdES)"
SEARCH_DOCUMENTS = 50
EXTRINSIC_OBJECT = "{urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0}ExtrinsicObject"
SUCCESS = b"ResponseStatusType:Success"
EXCHANGE_TIMEOUT = 120.0
KEPT_UP = 0.97  # the open loop kept up when it achieved this share of the offered rate
TARGET_SEARCHES_PER_S, TARGET_P95_MS, TARGET_RATE, TARGET_FEEDS_PER_S = 300.0, 50.0, 300.0, 80.0


# ------------------------------------------------------------------------------------------------ server and data
def _http_request(port: int, path: str, body: bytes, content_type: str) -> bytes:
    """The whole HTTP/1.1 request, built once so that sending it costs one write."""
    head = (f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode("latin-1") + body


@dataclass(frozen=True)
class Prepared:
    warm: list[bytes]  # 50 feeds to the searched patient
    load: list[bytes]  # the timed feeds, over the other patients
    search: bytes  # FindDocuments on the searched patient
    search_soap: tuple[bytes, str]  # the same, its SOAP body and content type (bench/dmp_search_cpu.py)
    cda_bytes: list[int]  # size of every fed CDA


def _prepare(server: LiveServer, feeds: int) -> Prepared:
    """The scenario professional authorised on every open DMP; 50 warm-up feeds to the searched patient, ``feeds``
    over the others (a CR-CONSULTATION padded to CDA_MIN_BYTES, XAdES, MTOM), the search: all built and signed now."""
    pipeline = Pipeline(server.base, TestPKI.open(server.data_dir / "pki", SEED), SEED)
    try:
        target, *others = pipeline.authorise(limit=500)
        rng = random.Random(42)

        def feed(record: dict[str, Any]) -> FeedRequest:
            return pipeline.feed(record, rng, min_bytes=CDA_MIN_BYTES)

        warm = [feed(target) for _ in range(SEARCH_DOCUMENTS)]
        load = [feed(others[i % len(others)]) for i in range(feeds)]
        search_soap = pipeline.search(target)
    finally:
        pipeline.close()
    return Prepared([_http_request(server.port, REPOSITORY, f.body, f.content_type) for f in warm],
                    [_http_request(server.port, REPOSITORY, f.body, f.content_type) for f in load],
                    _http_request(server.port, REGISTRY, *search_soap), search_soap,
                    [f.cda_bytes for f in (*warm, *load)])


# ------------------------------------------------------------------------------------------------ lean HTTP client
@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[bytes, bytes]  # lower-case names
    body: bytes


class Connection:
    """One keep-alive HTTP/1.1 connection that writes pre-built requests and reads only what the check needs.

    httpx parses, decodes and wraps every 310 KB answer: on a 2-core machine that CPU is taken from the server.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        # a large buffer limit: reading a 310 KB body then pauses and resumes the socket less often
        self.reader, self.writer = await asyncio.open_connection(HOST, self.port, limit=1 << 20)

    async def close(self) -> None:
        writer, self.reader, self.writer = self.writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def exchange(self, request: bytes) -> Answer:
        try:
            status_line = await self._send(request)
            if not status_line:
                # no status line at all: the server had closed this keep-alive connection (idle timeout) before
                # reading the request, so it is sent once more on a fresh connection, as HTTP clients do
                await self.close()
                status_line = await self._send(request)
            if not status_line:
                raise ConnectionError("the server closed the connection without answering")
            assert self.reader is not None
            status = int(status_line.split(maxsplit=2)[1])
            headers = await self._headers()
            body, reusable = await self._body(headers)
        except BaseException:
            await self.close()  # half-read answer: the stream is out of step
            raise
        if not reusable or headers.get(b"connection", b"").lower() == b"close":
            await self.close()
        return Answer(status, headers, body)

    async def _send(self, request: bytes) -> bytes:
        if self.writer is None:
            await self.connect()
        assert self.reader is not None and self.writer is not None
        try:
            self.writer.write(request)
            await self.writer.drain()
            return await self.reader.readline()
        except ConnectionError:
            return b""

    async def _headers(self) -> dict[bytes, bytes]:
        assert self.reader is not None
        headers: dict[bytes, bytes] = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b"\n"):
            if not line:
                raise ConnectionError("the connection closed inside the headers")
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        return headers

    async def _body(self, headers: dict[bytes, bytes]) -> tuple[bytes, bool]:
        """The body, and whether the connection can carry another request."""
        assert self.reader is not None
        if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
            return await self._chunked(), True
        if (length := headers.get(b"content-length")) is not None:
            return await self.reader.readexactly(int(length)), True
        return await self.reader.read(), False  # no length: the body ends when the server closes

    async def _chunked(self) -> bytes:
        assert self.reader is not None
        parts: list[bytes] = []
        while True:
            size_line = await self.reader.readline()
            if not size_line:
                raise ConnectionError("the connection closed inside a chunked body")
            size = int(size_line.split(b";", 1)[0].strip(), 16)  # chunk extensions are ignored
            if size == 0:
                while (await self.reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass  # trailer fields
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)  # the CRLF closing the chunk


async def _open(port: int, clients: int) -> list[Connection]:
    """Connections opened before the clock starts, so the handshakes are not measured."""
    connections = [Connection(port) for _ in range(clients)]
    await asyncio.gather(*(c.connect() for c in connections))
    return connections


async def _close(connections: list[Connection]) -> None:
    await asyncio.gather(*(c.close() for c in connections))


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    since: list[float] = field(default_factory=list)  # when each latency started (perf_counter), same order
    t0: float = 0.0  # when the phase's clock started
    failed: int = 0
    unsent: int = 0  # open loop: due within the window but never sent, every connection still busy at its end
    elapsed: float = 0.0
    generator_cpu_s: float = 0.0
    server_cpu_s: float | None = None  # the server's worker processes, over the phase (None: /proc unreadable)
    worker_cpu_s: list[float] = field(default_factory=list)  # the same, per worker process
    database_cpu_s: float | None = None  # PostgreSQL's processes, over the phase
    database_waits: dict[str, float] | None = None  # --pg-waits: what the active sessions waited on, share of samples

    async def exchange(self, connection: Connection, request: bytes, since: float) -> None:
        """One request; its latency runs from ``since`` (send time in a closed loop, due time in an open one)."""
        try:
            answer = await asyncio.wait_for(connection.exchange(request), EXCHANGE_TIMEOUT)
        except (OSError, EOFError, ValueError, asyncio.TimeoutError) as error:  # IncompleteReadError is an EOFError
            self.latencies.append(time.perf_counter() - since)
            self.since.append(since)
            self._fail(f"transport error: {error!r}")
            return
        self.latencies.append(time.perf_counter() - since)
        self.since.append(since)
        if answer.status != 200 or SUCCESS not in answer.body:
            self._fail(f"{answer.status} {answer.body[:1500].decode(errors='replace')}")

    def _fail(self, detail: str) -> None:
        self.failed += 1
        if self.failed <= 3 and os.environ.get("BENCH_DEBUG"):
            print(detail)

    def percentile_ms(self, q: int) -> float:
        return _percentile_ms(self.latencies, q)


def _percentile_ms(values: list[float], q: int) -> float:
    """The q-th percentile of these latencies (seconds) in ms; NaN for fewer than two."""
    if len(values) < 2:
        return float("nan")
    return round(statistics.quantiles(values, n=100)[q - 1] * 1000, 1)


async def _closed_loop(port: int, requests: list[bytes], clients: int, seconds: float | None = None) -> Tally:
    """Each connection sends its next request as soon as the last one is answered: the server's maximum pace.
    Without ``seconds`` every request is sent once; with it they are cycled until the time is up."""
    connections = await _open(port, clients)
    tally = Tally()
    pending = list(reversed(requests))
    cpu, started = time.process_time(), time.perf_counter()
    deadline = None if seconds is None else started + seconds

    async def client(connection: Connection, index: int) -> None:
        i = index
        while True:
            if deadline is None:
                if not pending:
                    return
                request = pending.pop()
            else:
                if time.perf_counter() >= deadline:
                    return
                request = requests[i % len(requests)]
                i += clients
            await tally.exchange(connection, request, time.perf_counter())

    await asyncio.gather(*(client(c, i) for i, c in enumerate(connections)))
    tally.elapsed, tally.generator_cpu_s = time.perf_counter() - started, time.process_time() - cpu
    await _close(connections)
    return tally


async def _open_loop(port: int, request: bytes, clients: int, rate: float, seconds: float) -> Tally:
    """Request i is due at t0 + i/rate and goes on the next free connection; its latency counts from the due time,
    so a server that falls behind is charged for the queue it causes instead of slowing the sender down."""
    connections = await _open(port, clients)
    free: asyncio.Queue[Connection] = asyncio.Queue()
    for connection in connections:
        free.put_nowait(connection)
    tally = Tally()
    in_flight: set[asyncio.Task[None]] = set()

    async def send(connection: Connection, due: float) -> None:
        try:
            await tally.exchange(connection, request, due)
        finally:
            free.put_nowait(connection)  # a lost connection would stall the schedule for good

    total = max(1, round(rate * seconds))
    cpu, t0 = time.process_time(), time.perf_counter()
    end = t0 + total / rate
    sent = 0
    for i in range(total):
        due = t0 + i / rate
        if (delay := due - time.perf_counter()) > 0:
            await asyncio.sleep(delay)
        try:  # a server far behind would otherwise stretch the run to the whole backlog's time
            connection = await asyncio.wait_for(free.get(), max(0.0, end - time.perf_counter()))
        except asyncio.TimeoutError:
            break
        task = asyncio.create_task(send(connection, due))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
        sent = i + 1
    await asyncio.gather(*in_flight)
    # the requests left unsent waited at least until now: their latency is that lower bound
    finished = time.perf_counter()
    tally.unsent = total - sent
    tally.latencies.extend(finished - (t0 + i / rate) for i in range(sent, total))
    tally.since.extend(t0 + i / rate for i in range(sent, total))
    tally.t0 = t0
    # the schedule spans total/rate seconds: a server that keeps up achieves the offered rate, not a hair above it
    tally.elapsed = max(time.perf_counter() - t0, total / rate)
    tally.generator_cpu_s = time.process_time() - cpu
    await _close(connections)
    return tally


# ------------------------------------------------------------------------------------------------ answer check
async def _check_search(port: int, request: bytes) -> int:
    """One FindDocuments answer parsed in full: the timed phases only check a substring, so a server answering
    fast with the wrong content must be caught here."""
    connection = Connection(port)
    try:
        answer = await connection.exchange(request)
    finally:
        await connection.close()
    if answer.status != 200:
        raise SystemExit(f"FindDocuments answered HTTP {answer.status}: {answer.body[:1500]!r}")
    message = parse_request(answer.body, answer.headers.get(b"content-type", b"").decode("latin-1"))
    found = sum(1 for _ in message.body_element.iter(EXTRINSIC_OBJECT))
    if found != SEARCH_DOCUMENTS or SUCCESS not in answer.body:
        raise SystemExit(f"FindDocuments answered {found} ExtrinsicObject(s), expected {SEARCH_DOCUMENTS} "
                         "with a Success status: the bench would measure failures")
    return len(answer.body)


# ------------------------------------------------------------------------------------------------ the bench
def _machine() -> dict[str, Any]:
    model = None
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    probes = []
    for _ in range(3):  # the best of 3: the least disturbed by whatever else runs
        started = time.perf_counter()
        sum(range(10**7))
        probes.append(time.perf_counter() - started)
    return {"cpu_model": model or platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "python": platform.python_version(), "cpu_probe_s": round(min(probes), 3)}


@contextlib.contextmanager
def _database(db_kind: str) -> Iterator[str | None]:
    """The server's database URL: None (its default SQLite file) or a fresh PostgreSQL database."""
    if db_kind != "postgresql":
        yield None
        return
    with pg_database() as url:
        yield url


def _figures(tally: Tally) -> dict[str, Any]:
    answered = len(tally.latencies) - tally.unsent
    server_ms = (round(tally.server_cpu_s * 1000 / answered, 2)
                 if tally.server_cpu_s is not None and answered else None)
    database_ms = (round(tally.database_cpu_s * 1000 / answered, 2)
                   if tally.database_cpu_s is not None and answered else None)
    return {"count": answered, "failed": tally.failed,
            "per_s": round(answered / tally.elapsed, 1) if tally.elapsed else 0.0,
            "p50_ms": tally.percentile_ms(50), "p95_ms": tally.percentile_ms(95), "p99_ms": tally.percentile_ms(99),
            "generator_cpu_s": round(tally.generator_cpu_s, 2), "server_cpu_ms_per_request": server_ms,
            "worker_cpu_shares": _shares(tally.worker_cpu_s), "database_cpu_ms_per_request": database_ms,
            **({"database_waits": tally.database_waits} if tally.database_waits is not None else {})}


def _late_seconds(tally: Tally) -> list[list[float]]:
    """Open loop: the seconds of the schedule (by due time) whose p95 latency is over the target, with that p95:
    whether the late answers come in bursts, and when."""
    by_second: dict[int, list[float]] = {}
    for since, latency in zip(tally.since, tally.latencies):
        by_second.setdefault(int(since - tally.t0), []).append(latency)
    late = []
    for second, values in sorted(by_second.items()):
        p95 = _percentile_ms(values, 95) if len(values) > 1 else round(values[0] * 1000, 1)
        if p95 > TARGET_P95_MS:
            late.append([second, p95])
    return late


def _shares(parts: list[float]) -> list[float]:
    total = sum(parts)
    return [round(part / total, 3) for part in parts] if total else []


def _split(figures: dict[str, Any]) -> str:
    """The workers' shares of the server CPU, PostgreSQL's CPU a request and its sessions' waits, where measured."""
    shares = figures.get("worker_cpu_shares") or []
    out = f", workers' CPU {'/'.join(f'{share * 100:.0f}' for share in shares)} %" if len(shares) > 1 else ""
    database_ms = figures.get("database_cpu_ms_per_request")
    out += f", PostgreSQL {database_ms} ms CPU a request" if database_ms is not None else ""
    waits = figures.get("database_waits")
    if waits is not None:
        out += ", active PostgreSQL sessions: " + (", ".join(f"{event} {share * 100:.0f} %"
                                                             for event, share in waits.items()) or "none sampled")
    return out


def _cpu_of(pid: int) -> float | None:
    """User + system CPU time of this process so far (Linux /proc), None where it cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime (proc(5) 14 and 15)
    except (OSError, IndexError, ValueError):
        return None


def _cpu_seconds(pids: list[int]) -> list[float] | None:
    """The CPU time of each of these processes so far, None when one cannot be read."""
    times = [_cpu_of(pid) for pid in pids]
    return None if None in times else cast(list[float], times)


def _postgres_pids() -> list[int]:
    """Every PostgreSQL server process of this machine (backends, WAL writer, checkpointer…)."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "comm").read_text().strip() in ("postgres", "postmaster"):
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


class _WaitSampler:
    """What the server's PostgreSQL sessions wait on, sampled every ``INTERVAL`` in a thread of the load generator
    (``--pg-waits``: a query every 20 ms, taken from the generator's CPU, so off by default). Each sample counts the
    database's active sessions by wait event, ``CPU`` for those waiting on none (running or runnable)."""

    INTERVAL = 0.02
    _QUERY = ("SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU') FROM pg_stat_activity "
              "WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()")

    def __init__(self, url: str) -> None:
        self.url, self.counts, self._stop = url, Counter[str](), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _WaitSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self._stop.wait(self.INTERVAL):
                self.counts.update(row[0] for row in conn.execute(self._QUERY))

    def shares(self) -> dict[str, float]:
        """Each wait event's share of the sampled active sessions, largest first (the five largest)."""
        total = sum(self.counts.values())
        return {event: round(n / total, 3) for event, n in self.counts.most_common(5)} if total else {}


async def _measured(phase: Awaitable[Tally], pids: list[int], database: bool = False,
                    waits_url: str | None = None) -> Tally:
    """The phase, with the CPU time its server's worker processes spent: in all, and each worker's (how evenly
    the kernel's spread of the keep-alive connections over the workers loaded them); with ``database``, the
    PostgreSQL server's too (its processes that lived through the phase); with ``waits_url``, what that
    database's sessions waited on (``_WaitSampler``)."""
    before = _cpu_seconds(pids)
    db_before = {pid: _cpu_of(pid) for pid in _postgres_pids()} if database else {}
    with (_WaitSampler(waits_url) if waits_url else contextlib.nullcontext()) as sampler:
        tally = await phase
    if sampler is not None:
        tally.database_waits = sampler.shares()
    after = _cpu_seconds(pids)
    if before is not None and after is not None:
        tally.worker_cpu_s = [b - a for a, b in zip(before, after)]
        tally.server_cpu_s = sum(tally.worker_cpu_s)
    if database:
        tally.database_cpu_s = sum(now - was for pid, was in db_before.items()
                                   if was is not None and (now := _cpu_of(pid)) is not None)
    return tally


async def _phases(port: int, prepared: Prepared, clients: int, seconds: float,
                  rate: float, pids: list[int], database: bool, waits_url: str | None = None
                  ) -> tuple[Tally, Tally, Tally, int]:
    warm = await _closed_loop(port, prepared.warm, clients)
    if warm.failed:
        raise SystemExit(f"{warm.failed} of the {len(prepared.warm)} warm-up feeds failed (BENCH_DEBUG=1 shows why)")
    feeds = await _measured(_closed_loop(port, prepared.load, clients), pids, database, waits_url)
    answer_bytes = await _check_search(port, prepared.search)
    closed = await _measured(_closed_loop(port, [prepared.search], clients, seconds), pids, database, waits_url)
    opened = await _measured(_open_loop(port, prepared.search, clients, rate, seconds), pids, database, waits_url)
    return feeds, closed, opened, answer_bytes


def bench(db_kind: str, clients: int, feeds: int, seconds: float, rate: float, patients: int, workers: int,
          machine: dict[str, Any], soap_threads: int | None = None, durable_read_log: bool = False,
          pg_waits: bool = False) -> dict[str, Any]:
    env = {} if soap_threads is None else {"SEGUR_SANDBOX_SOAP_THREADS": str(soap_threads)}
    if durable_read_log:
        env["SEGUR_SANDBOX_PG_DURABLE_READ_LOG"] = "1"
    with tempfile.TemporaryDirectory() as tmp, _database(db_kind) as db:
        with LiveServer(Path(tmp) / "data", db=db, workers=workers, patients=patients, seed=SEED,
                        env=env) as server:
            prepared = _prepare(server, feeds)
            feed, closed, opened, answer_bytes = asyncio.run(
                _phases(server.port, prepared, clients, seconds, rate, server.worker_pids(),
                        db_kind == "postgresql", db if pg_waits else None))
    open_figures = _figures(opened)
    achieved = open_figures.pop("per_s")
    return {
        "database": db_kind, "clients": clients, "workers": workers,
        "soap_threads": soap_threads if soap_threads is not None else "default (0: on the event loop)",
        "pg_durable_read_log": durable_read_log, "pg_waits_sampled": bool(pg_waits and db),
        "cda_bytes": round(statistics.mean(prepared.cda_bytes)), "cda_min_bytes": CDA_MIN_BYTES,
        "feeds": _figures(feed),
        "searches": {**_figures(closed), "documents_per_answer": SEARCH_DOCUMENTS, "answer_bytes": answer_bytes},
        "searches_open_loop": {"offered_per_s": rate, "achieved_per_s": achieved, **open_figures,
                               "unsent": opened.unsent, "kept_up": achieved >= KEPT_UP * rate,
                               "late_seconds": _late_seconds(opened)},
        "machine": machine,
    }


def _verdict(ok: bool | None, target: str, figure: str) -> str:
    """``ok`` None: the run did not measure what the target asks (e.g. a lower offered rate)."""
    label = "n/a " if ok is None else "PASS" if ok else "FAIL"
    return f"{'':>10}  {label}  {target:<26} {figure}"


def _report(r: dict[str, Any]) -> None:
    f, s, o = r["feeds"], r["searches"], r["searches_open_loop"]
    print(f"{r['database']:>10}: ITI-41 {f['per_s']} feeds/s, p50 {f['p50_ms']} ms, p95 {f['p95_ms']} ms "
          f"({f['count']} feeds, {f['failed']} failed, CDA {r['cda_bytes']} B + XAdES, "
          f"generator {f['generator_cpu_s']} s CPU, server {f['server_cpu_ms_per_request']} ms CPU a feed{_split(f)})")
    print(f"{'':>10}  ITI-18 closed loop: {s['per_s']} searches/s, p50 {s['p50_ms']} ms, p95 {s['p95_ms']} ms, "
          f"p99 {s['p99_ms']} ms ({s['count']} searches of {s['documents_per_answer']} documents, "
          f"{s.get('answer_bytes', '?')} B answer, "
          f"{s['failed']} failed, generator {s['generator_cpu_s']} s CPU, "
          f"server {s['server_cpu_ms_per_request']} ms CPU a search{_split(s)})")
    print(f"{'':>10}  ITI-18 open loop at {o['offered_per_s']}/s: achieved {o['achieved_per_s']}/s, "
          f"p50 {o['p50_ms']} ms, p95 {o['p95_ms']} ms, p99 {o['p99_ms']} ms from the due time "
          f"({o['count']} searches, {o['unsent']} never sent, {o['failed']} failed, "
          f"generator {o['generator_cpu_s']} s CPU{_split(o)})")
    late = o.get("late_seconds", [])
    print(f"{'':>10}  open loop, seconds of the schedule with a p95 over {TARGET_P95_MS:.0f} ms: {len(late)} "
          f"of {max(1, round((o['count'] + o['unsent']) / o['offered_per_s']))}"
          + (f" ({', '.join(f'{second} s: {p95} ms' for second, p95 in late)})" if late else ""))
    clean = f["failed"] == 0 and s["failed"] == 0 and o["failed"] == 0
    print(_verdict(s["per_s"] >= TARGET_SEARCHES_PER_S and s["failed"] == 0,
                   f">= {TARGET_SEARCHES_PER_S:.0f} searches/s", f"{s['per_s']}/s closed loop"))
    open_ok = o["kept_up"] and o["p95_ms"] <= TARGET_P95_MS and o["failed"] == 0
    lower = o["offered_per_s"] < TARGET_RATE  # a pass at a lower rate says nothing about the target
    print(_verdict(None if lower and open_ok else open_ok, f"p95 <= {TARGET_P95_MS:.0f} ms at {TARGET_RATE:.0f}/s",
                   f"p95 {o['p95_ms']} ms at {o['offered_per_s']}/s offered, "
                   f"{'kept up' if o['kept_up'] else 'did NOT keep up'}"))
    print(_verdict(f["per_s"] >= TARGET_FEEDS_PER_S and f["failed"] == 0,
                   f">= {TARGET_FEEDS_PER_S:.0f} feeds/s", f"{f['per_s']}/s"))
    if not clean:
        print(f"{'':>10}  some requests failed: the figures above do not measure the server's normal work")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--feeds", type=int, default=400)
    parser.add_argument("--seconds", type=float, default=20, help="duration of each search phase")
    parser.add_argument("--rate", type=float, default=TARGET_RATE, help="open loop: searches offered per second")
    parser.add_argument("--patients", type=int, default=60)
    parser.add_argument("--workers", type=int, default=1, help="server processes (serve --workers)")
    parser.add_argument("--soap-threads", type=int, default=None,
                        help="SEGUR_SANDBOX_SOAP_THREADS for the server (default: its own, 0 = on the event loop)")
    parser.add_argument("--pg-durable-read-log", action="store_true",
                        help="SEGUR_SANDBOX_PG_DURABLE_READ_LOG=1: a search's log line waits for PostgreSQL's WAL "
                             "flush like every other write, as before 2026-11-26 (to compare both)")
    parser.add_argument("--pg-waits", action="store_true",
                        help="sample what the PostgreSQL sessions wait on every 20 ms during each phase (a query "
                             "from the load generator's process: off by default)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.rate <= 0 or args.clients < 1:
        parser.error("--rate must be positive and --clients at least 1")
    machine = _machine()  # before any server runs: the probe should see an idle machine
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    results = [bench(kind, args.clients, args.feeds, args.seconds, args.rate, args.patients, args.workers, machine,
                     args.soap_threads, args.pg_durable_read_log, args.pg_waits) for kind in kinds]
    print(f"machine: {machine['cpu_model']}, {machine['cores']} cores, Python {machine['python']}, "
          f"CPU probe {machine['cpu_probe_s']} s; {args.workers} server worker(s), {args.clients} connections, "
          f"SOAP threads: {'server default' if args.soap_threads is None else args.soap_threads}"
          + ("; PostgreSQL: search log lines wait for the WAL flush" if args.pg_durable_read_log else ""))
    for r in results:
        _report(r)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
