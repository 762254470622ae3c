#!/usr/bin/env python3
"""INSi trait-search load: searches/s on a workspace of N identities (default 1,000,000), on SQLite and on
PostgreSQL, through the store query the endpoint uses and, with ``--http``, through the SOAP endpoint itself.

    .venv/bin/python bench/insi_load.py [--identities 1000000] [--clients 8] [--seconds 15]
        [--backends sqlite,postgresql] [--pg postgresql://postgres@127.0.0.1:5432/test] [--http] [--json FILE]

For each back end it:

1. creates a dedicated database (SQLite: a file in a temporary folder; PostgreSQL: a schema of its own, dropped
   at the end) and a workspace ``bench-insi``;
2. bulk-inserts N synthetic identities (``IdentityRepository.insert_new``; French names and first names,
   birth dates over a century, real COG birthplaces, valid NIR keys, 2 % with an INS history), then ANALYZE;
3. prints the query plan of the trait search (it must use ``ix_identities_workspace_birth_name_key_birth_date_sex``,
   not scan the table);
4. runs ``--clients`` threads for ``--seconds``, each doing ``match_traits`` in a read-only unit of work, exactly
   as ``InsiService`` does, with requests written in varied spellings (case, accents, separators) and 10 % of
   misses; prints searches/s, latency p50/p95/p99 and the CodeCR mix;
5. with ``--http``: starts the sandbox app (uvicorn, one process) on a loopback port against the same database,
   and posts complete RECSANSVITALE SOAP requests (INSI-AUTO certificate forwarded as a TLS proxy does) from
   ``--clients`` threads: requests/s of the whole pipeline (headers, caller check, matching, exchange log).

Target: >= 500 trait searches/s on 1,000,000 identities on both back ends (store query).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from segur_sandbox.fixtures import places
from segur_sandbox.fixtures.identity import nir_key
from segur_sandbox.simulator.insi import TraitQuery, match_traits
from segur_sandbox.simulator.store import HistoricMatricule, Identity, Store, models, sqlite_url

WORKSPACE = "bench-insi"
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
_ACCENTS = {"E": "É", "A": "À", "C": "Ç", "I": "Ï", "O": "Ô", "U": "Ü"}


# -- the synthetic base ---------------------------------------------------------------------------------------


def _names() -> tuple[list[str], list[str], list[str]]:
    from faker.providers.person.fr_FR import Provider

    from segur_sandbox.fixtures.traits import normalise_name

    def norm(values) -> list[str]:
        return sorted({normalise_name(v) for v in values if normalise_name(v)})

    return norm(Provider.last_names), norm(Provider.first_names_male), norm(Provider.first_names_female)


def generate(count: int, seed: int = 1) -> Iterator[Identity]:
    """``count`` identities, deterministic for a seed, unique NIRs (per-prefix order numbers)."""
    rng = random.Random(seed)
    last, male, female = _names()
    cogs = [p.code for p in places.places("metropole")]
    orders: Counter[str] = Counter()
    for n in range(count):
        sex = "M" if rng.random() < 0.5 else "F"
        name = rng.choice(last) if rng.random() < 0.93 else f"{rng.choice(last)}-{rng.choice(last)}"
        pool = male if sex == "M" else female
        firsts = tuple(dict.fromkeys(rng.choice(pool) for _ in range(rng.choice((1, 1, 2, 2, 3)))))
        year, month, day = rng.randint(1920, 2025), rng.randint(1, 12), rng.randint(1, 28)
        while True:
            place = rng.choice(cogs)
            prefix = f"{'1' if sex == 'M' else '2'}{year % 100:02d}{month:02d}{place}"
            orders[prefix] += 1
            if orders[prefix] <= 999:
                break
        nir = f"{prefix}{orders[prefix]:03d}"
        history: tuple[HistoricMatricule, ...] = ()
        if rng.random() < 0.02:
            nia = f"{prefix[:5]}99{rng.randint(100, 999)}{rng.randint(1, 999):03d}"
            history = (HistoricMatricule(nia, nir_key(nia), "1.2.250.1.213.1.4.9", "NIA", None, "2020-01-01"),)
        yield Identity(nir=nir, key=nir_key(nir), oid="1.2.250.1.213.1.4.10", birth_name=name, first_names=firsts,
                       sex=sex, birth_date=f"{year:04d}-{month:02d}-{day:02d}", birth_place=place, history=history,
                       insured_nir=nir, birth_rank=1, source="bench", ref=f"B{n}")


def _variant(rng: random.Random, text_: str) -> str:
    """A spelling the rules equate: lower case, an accent, a space for a hyphen."""
    out = text_
    if rng.random() < 0.5:
        out = out.lower()
    if rng.random() < 0.3:
        out = "".join(_ACCENTS.get(c, c) if rng.random() < 0.5 else c for c in out)
    if rng.random() < 0.3:
        out = out.replace("-", " ")
    return out


def queries(sample: list[Identity], count: int, seed: int = 2) -> list[TraitQuery]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        person = rng.choice(sample)
        first = rng.choice(person.first_names)
        date = person.birth_date if rng.random() < 0.9 else f"{int(person.birth_date[:4]) - 1}{person.birth_date[4:]}"
        out.append(TraitQuery(_variant(rng, person.birth_name), (_variant(rng, first),), person.sex, date))
    return out


# -- back ends ------------------------------------------------------------------------------------------------


@contextmanager
def sqlite_database() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="insi-bench-") as tmp:
        yield sqlite_url(Path(tmp) / "bench.db")


@contextmanager
def postgresql_database(url: str) -> Iterator[str]:
    import psycopg

    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    schema = f"bench_insi_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(plain, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            yield make_url(url).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
                hide_password=False)
        finally:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


def populate(store: Store, count: int) -> tuple[float, list[Identity]]:
    started = time.perf_counter()
    sample: list[Identity] = []
    rng = random.Random(3)
    with store.transaction() as tx:
        tx.workspaces.ensure(WORKSPACE)

    def kept(source: Iterator[Identity]) -> Iterator[Identity]:
        for i, identity in enumerate(source):
            if len(sample) < 50_000:
                sample.append(identity)
            elif rng.random() < 0.05:
                sample[rng.randrange(len(sample))] = identity
            yield identity
            if (i + 1) % 250_000 == 0:
                print(f"    {i + 1:>9,} identities  {time.perf_counter() - started:6.1f} s", flush=True)

    # Bulk load into a fresh database: the two search indexes are dropped during the load and built once at the
    # end (the primary key stays), the usual way to load a large table; rows go through the repository.
    secondary = [index for index in models.identities.indexes]
    with store.engine.begin() as conn:
        for index in secondary:
            index.drop(conn)
    batches = iter(kept(generate(count)))
    while True:  # one transaction per 100,000 rows: bounded WAL / memory, resumable progress
        chunk = [identity for _, identity in zip(range(100_000), batches)]
        if not chunk:
            break
        with store.transaction() as tx:
            tx.identities.insert_new(WORKSPACE, chunk, batch=20_000)
    indexing = time.perf_counter()
    with store.engine.begin() as conn:
        for index in secondary:
            index.create(conn)
    print(f"    indexes built in {time.perf_counter() - indexing:.1f} s", flush=True)
    with store.engine.connect() as conn:
        conn.execute(text("ANALYZE identities" if store.dialect == "postgresql" else "ANALYZE"))
        conn.commit()
    return time.perf_counter() - started, sample


def query_plan(store: Store, query: TraitQuery) -> str:
    from segur_sandbox.simulator.store import name_key

    sql = ("SELECT * FROM identities WHERE workspace = :w AND birth_name_key = :k AND birth_date = :d AND sex = :s")
    params = {"w": WORKSPACE, "k": name_key(query.birth_name), "d": query.birth_date, "s": query.sex}
    with store.engine.connect() as conn:
        if store.dialect == "sqlite":
            rows = conn.execute(text("EXPLAIN QUERY PLAN " + sql), params)
            return " | ".join(str(r[-1]) for r in rows)
        rows = conn.execute(text("EXPLAIN ANALYZE " + sql), params)
        return " | ".join(r[0].strip() for r in rows)


def run_store_load(store: Store, qs: list[TraitQuery], clients: int, seconds: float) -> dict:
    stop = time.perf_counter() + seconds
    latencies: list[list[float]] = [[] for _ in range(clients)]
    codes: list[Counter[str]] = [Counter() for _ in range(clients)]

    def worker(n: int) -> None:
        i = n
        while time.perf_counter() < stop:
            q = qs[i % len(qs)]
            i += clients
            t0 = time.perf_counter()
            with store.transaction(readonly=True) as tx:
                result = match_traits(tx.identities, WORKSPACE, q)
            latencies[n].append(time.perf_counter() - t0)
            codes[n][result.code] += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return _summary(time.perf_counter() - started, [x for xs in latencies for x in xs], sum(codes, Counter()))


def _summary(elapsed: float, latencies: list[float], codes: Counter[str]) -> dict:
    latencies.sort()

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 2) if latencies else 0.0

    return {"requests": len(latencies), "seconds": round(elapsed, 2), "per_second": round(len(latencies) / elapsed, 1),
            "p50_ms": pct(0.50), "p95_ms": pct(0.95), "p99_ms": pct(0.99), "codes": dict(sorted(codes.items())),
            "mean_ms": round(statistics.fmean(latencies) * 1000, 2) if latencies else 0.0}


# -- through HTTP ---------------------------------------------------------------------------------------------


def serve(url: str, data_dir: str, port: int) -> None:
    """Child process: the sandbox app on 127.0.0.1:port against ``url`` (no seeding: the base is there)."""
    import logging

    import uvicorn

    from segur_sandbox.simulator.app import create_app
    from segur_sandbox.simulator.config import Settings
    from segur_sandbox.simulator.runtime import build_runtime

    logging.getLogger("segur_sandbox").setLevel(logging.WARNING)
    settings = Settings(data_dir=Path(data_dir), db=url, seed=1)
    runtime = build_runtime(settings, store=Store(url, pool_size=16, max_overflow=16))
    uvicorn.run(create_app(runtime), host="127.0.0.1", port=port, log_level="warning", access_log=False)


def run_http_load(url: str, qs: list[TraitQuery], clients: int, seconds: float) -> dict:
    import httpx

    from segur_sandbox.fixtures.professionals import ProfessionalDirectory
    from segur_sandbox.simulator.insi import TRAITS, traits_request
    from segur_sandbox.simulator.insi.client import insi_envelope
    from segur_sandbox.simulator.pki import TestPKI

    with tempfile.TemporaryDirectory(prefix="insi-bench-http-") as data_dir:
        pki = TestPKI.open(Path(data_dir) / "pki", 1, base_url="http://127.0.0.1:8080/pki")
        structure = ProfessionalDirectory(1, 12).structures[0]
        cert = urllib.parse.quote(pki.organisation(structure, "INSI-AUTO").cert_pem().decode())
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        child = subprocess.Popen([sys.executable, __file__, "--serve", url, data_dir, str(port)])
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(base + "/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or child.poll() is not None:
                    raise RuntimeError("the sandbox server did not start")
                time.sleep(0.2)
            from lxml import etree

            bodies = [etree.tostring(insi_envelope(traits_request(q.birth_name, list(q.first_names), q.sex,
                                                                  q.birth_date), TRAITS)) for q in qs[:5000]]
            headers = {"content-type": "application/soap+xml; charset=UTF-8", "X-SSL-Client-Cert": cert}
            stop = time.perf_counter() + seconds
            latencies: list[list[float]] = [[] for _ in range(clients)]
            codes: list[Counter[str]] = [Counter() for _ in range(clients)]

            def worker(n: int) -> None:
                i = n
                with httpx.Client(base_url=base, timeout=30) as http:
                    while time.perf_counter() < stop:
                        t0 = time.perf_counter()
                        response = http.post(f"/w/{WORKSPACE}/lps", content=bodies[i % len(bodies)], headers=headers)
                        latencies[n].append(time.perf_counter() - t0)
                        i += clients
                        content = response.content
                        start = content.find(b"<CodeCR>")
                        code = content[start + 8:start + 10].decode() if start >= 0 else f"HTTP {response.status_code}"
                        codes[n][code] += 1

            started = time.perf_counter()
            threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            return _summary(time.perf_counter() - started, [x for xs in latencies for x in xs],
                            sum(codes, Counter()))
        finally:
            child.terminate()
            child.wait(timeout=30)


# -- main -----------------------------------------------------------------------------------------------------


def bench_backend(name: str, url: str, args: argparse.Namespace) -> dict:
    print(f"\n== {name} ==", flush=True)
    store = Store(url, pool_size=args.clients + 2, max_overflow=4)
    try:
        print(f"  inserting {args.identities:,} identities …", flush=True)
        seconds, sample = populate(store, args.identities)
        with store.transaction(readonly=True) as tx:
            stored = tx.identities.count(WORKSPACE)
        print(f"  built {stored:,} identities in {seconds:.1f} s ({stored / seconds:,.0f}/s)")
        qs = queries(sample, 20_000)
        plan = query_plan(store, qs[0])
        print(f"  plan: {plan}")
        uses_index = "ix_identities_workspace_birth_name_key_birth_date_sex" in plan and "Seq Scan" not in plan \
            and "SCAN identities" not in plan
        run_store_load(store, qs[:200], args.clients, 1.0)  # warm-up
        result = run_store_load(store, qs, args.clients, args.seconds)
        print(f"  store query, {args.clients} threads, {result['seconds']} s: {result['per_second']:,.0f} searches/s"
              f"  (p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms, p99 {result['p99_ms']} ms)  "
              f"codes {result['codes']}")
        out = {"identities": stored, "build_seconds": round(seconds, 1), "plan": plan, "index_used": uses_index,
               "store": result}
        if args.http:
            http = run_http_load(url, qs, args.clients, args.seconds)
            print(f"  HTTP SOAP endpoint, {args.clients} clients, {http['seconds']} s: {http['per_second']:,.0f} "
                  f"requests/s  (p50 {http['p50_ms']} ms, p95 {http['p95_ms']} ms)  codes {http['codes']}")
            out["http"] = http
        return out
    finally:
        with store.transaction() as tx:
            tx.workspaces.delete(WORKSPACE)
        store.dispose()


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--serve":
        serve(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--identities", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg", default=os.environ.get("SEGUR_SANDBOX_TEST_PG_URL", PG_DEFAULT))
    parser.add_argument("--http", action="store_true", help="also load the SOAP endpoint over HTTP")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args()
    print(f"INSi load: {args.identities:,} identities, {args.clients} clients, {args.seconds} s per run, "
          f"{platform.machine()} Python {platform.python_version()}, {os.cpu_count()} CPUs")
    figures: dict = {"identities": args.identities, "clients": args.clients, "seconds": args.seconds,
                     "machine": platform.machine(), "python": platform.python_version(), "cpus": os.cpu_count()}
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        if backend == "sqlite":
            with sqlite_database() as url:
                figures["sqlite"] = bench_backend("SQLite", url, args)
        elif backend == "postgresql":
            with postgresql_database(args.pg) as url:
                figures["postgresql"] = bench_backend("PostgreSQL", url, args)
        else:
            parser.error(f"unknown back end {backend!r}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n")
    ok = all(figures[b]["store"]["per_second"] >= 500 and figures[b]["index_used"]
             for b in ("sqlite", "postgresql") if b in figures)
    print(f"\nTarget >= 500 trait searches/s with an index lookup: {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
