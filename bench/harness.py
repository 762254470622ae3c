"""Live-server helpers shared by the benches (durability, scale, fuzz) and ``tests/hardening``.

* ``LiveServer``: a real ``segur-sandbox serve`` process (``--workers N``, ``--db``) on a free port, started,
  waited for, stopped or killed (SIGKILL) and started again on the same data;
* ``pg_database``: a throw-away PostgreSQL database (or ``pg_schema`` inside the test database);
* ``Pipeline``: one professional's LPS against one workspace over HTTP — ITI-41 feeds (CDA + XAdES, MTOM) built
  and signed ahead, with what the registry must hold once each is acknowledged; ITI-18 searches;
* ``audit``: what the registry holds, read straight from the database, and every inconsistency in it (an entry
  without its content, content without its entry, a hash that does not match, a submission set without its
  documents…).

Not a benchmark itself: ``bench/durability.py``, ``bench/scale.py`` and the tests import it.
"""
from __future__ import annotations

import hashlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx

REPOSITORY = "/si-dmp-server/v2/services/repository"
REGISTRY = "/si-dmp-server/v2/services/registry"
PG_ADMIN = os.environ.get("SEGUR_SANDBOX_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
SUCCESS = b"ResponseStatusType:Success"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the server process ---------------------------------------------------------------------------------------------

class LiveServer:
    """``segur-sandbox serve`` in a subprocess. ``start()`` waits for ``/health``; ``kill()`` sends SIGKILL (to the
    whole process group: with ``--workers N`` the workers die too); ``start()`` again restarts it on the same
    data directory and database, on the same port."""

    def __init__(self, data_dir: Path, *, db: str | None = None, workers: int = 1, patients: int = 8, seed: int = 1,
                 port: int | None = None, env: dict[str, str] | None = None, log: Path | None = None) -> None:
        self.data_dir, self.db, self.workers, self.patients, self.seed = data_dir, db, workers, patients, seed
        self.port = port or free_port()
        self.env = env or {}
        self.log = log or data_dir / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "segur_sandbox.simulator.cli", "serve", "--data-dir", str(self.data_dir),
               "--port", str(self.port), "--patients", str(self.patients), "--documents-per-patient", "0",
               "--seed", str(self.seed), "--workers", str(self.workers)]
        return cmd + (["--db", self.db] if self.db else [])

    def start(self, timeout: float = 120) -> LiveServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env}
        for key in [k for k in env if k.startswith("SEGUR_SANDBOX_") and k not in self.env]:
            del env[key]  # only the flags given here (no settings leaking from the caller's environment)
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(self.command(), stdout=out, stderr=subprocess.STDOUT, env=env,
                                            start_new_session=True)
        deadline = time.monotonic() + timeout
        # one client for every poll: a new one loads the CA bundle each time (tens of ms, seconds on a slow machine)
        with httpx.Client(timeout=2) as poll:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"the server exited with {self.process.returncode}: {self.tail()}")
                try:
                    if poll.get(self.base + "/health").status_code == 200:
                        return self
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"the server did not answer /health within {timeout} s: {self.tail()}")

    def worker_pids(self) -> list[int]:
        """The processes serving requests: the children of the supervisor with ``--workers N``, else itself."""
        assert self.process is not None
        if self.workers == 1:
            return [self.process.pid]
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        return [int(pid) for pid in children if not _is_resource_tracker(int(pid))]

    def kill(self) -> None:
        """SIGKILL, no shutdown of any kind (the whole process group)."""
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def _is_resource_tracker(pid: int) -> bool:
    """multiprocessing's helper process (started with spawned workers), which serves nothing."""
    try:
        return b"resource_tracker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def serving_pid(server_port: int, client_port: int, candidates: list[int]) -> int | None:
    """Which of ``candidates`` (worker pids) holds the server side of the TCP connection from ``client_port`` to
    ``server_port`` on 127.0.0.1 (read from /proc: Linux only)."""
    inode = None
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, remote = fields[1], fields[2]
            if int(local.rsplit(":", 1)[1], 16) == server_port and int(remote.rsplit(":", 1)[1], 16) == client_port:
                inode = fields[9]
                break
        if inode:
            break
    if not inode or inode == "0":
        return None
    target = f"socket:[{inode}]"
    for pid in candidates:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                try:
                    if os.readlink(fd) == target:
                        return pid
                except OSError:
                    continue
        except OSError:
            continue
    return None


class ThreadServer:
    """uvicorn serving an ASGI app in a thread of the calling process, on a real socket (``with`` → base URL)."""

    def __init__(self, app: Any) -> None:
        import threading

        import uvicorn

        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@contextmanager
def pg_database(admin_url: str = PG_ADMIN, prefix: str = "sandbox_bench") -> Iterator[str]:
    """A fresh PostgreSQL database for a server (``--db``), dropped afterwards (even with connections left)."""
    import psycopg
    from sqlalchemy.engine import make_url

    plain = make_url(admin_url).set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(plain, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(plain).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(plain, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- one LPS against one workspace ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class FeedRequest:
    """An ITI-41 request ready to post, and what the registry holds once it is acknowledged."""

    body: bytes
    content_type: str
    submission_set_unique_id: str
    documents: dict[str, tuple[str, int]]  # uniqueId -> (sha1 hex, size): the CDA and its XAdES document
    patient_ins: str
    cda_bytes: int


@dataclass
class Pipeline:
    """The scenario professional of a seeded sandbox (``seed``) feeding and searching in ``workspace``."""

    base: str
    pki: Any
    seed: int
    workspace: str = "default"
    http: httpx.Client | None = None
    clock_offset: float = 0.0  # seconds: the workspace clock's offset, for the VIHF IssueInstant
    professional: dict[str, Any] = field(init=False)
    structure: dict[str, Any] = field(init=False)
    patients: list[dict[str, Any]] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        from segur_sandbox.fixtures.professionals import ProfessionalDirectory

        directory = ProfessionalDirectory(self.seed, 60)
        self.professional = directory.professionals[0]
        self.structure = directory.structures_by_id[self.professional["structure_id"]]
        self.signer = self.pki.professional(self.professional, self.structure, usage="sign")
        self._own_http = self.http is None
        if self.http is None:
            self.http = httpx.Client(base_url=self.base, timeout=60)

    @property
    def prefix(self) -> str:
        return "" if self.workspace == "default" else f"/w/{self.workspace}"

    def api(self, path: str) -> str:
        return f"/api/workspaces/{self.workspace}{path}"

    def client(self):  # type: ignore[no-untyped-def]
        from segur_sandbox.simulator.testing import DmpTestClient

        return DmpTestClient(self.http, self.pki, self.professional, self.structure,
                             workspace=None if self.workspace == "default" else self.workspace)

    def authorise(self, limit: int = 50) -> list[dict[str, Any]]:
        """Authorise the professional on every open DMP of the workspace (through the admin API); returns the
        patients' records."""
        assert self.http is not None
        listing = self.http.get(self.api("/patients"), params={"dmp_state": "OPEN", "limit": limit})
        listing.raise_for_status()
        self.patients = []
        for item in listing.json()["items"]:
            record = self.http.get(self.api(f"/patients/{item['ins']}")).json()["record"]
            ins = record["ins"]["nir"] + record["ins"]["key"]
            response = self.http.put(self.api(f"/patients/{ins}/authorizations/{self.professional['id_nat']}"),
                                     json={"status": "VALIDE", "expires_at": None})
            response.raise_for_status()
            self.patients.append(record)
        return self.patients

    @staticmethod
    def patient_ref(record: dict[str, Any]):  # type: ignore[no-untyped-def]
        from segur_sandbox.simulator.security.principal import PatientRef

        return PatientRef(record["ins"]["nir"] + record["ins"]["key"], record["ins"]["oid"])

    def feed(self, record: dict[str, Any], rng: random.Random, kind: str = "CR-CONSULTATION",
             min_bytes: int | None = None) -> FeedRequest:
        """``min_bytes``: pad the (N1) CDA to at least that size (``DocumentContext.min_bytes``)."""
        from segur_sandbox.fixtures.documents import DocumentContext, build_document
        from segur_sandbox.fixtures.documents.cda import uuid_oid
        from segur_sandbox.simulator.dmp import xds
        from segur_sandbox.simulator.dmp.xds import compose

        now = datetime.now(timezone.utc)  # the CDA and XAdES times stay real: a shifted clock only moves the VIHF
        cda = build_document(kind, DocumentContext(record, self.professional, self.structure, now,
                                                   random.Random(rng.getrandbits(64)), min_bytes=min_bytes))
        submission = compose.signed_feeding(cda, signer=self.signer, submission_set_unique_id=uuid_oid(rng),
                                            signature_unique_id=uuid_oid(rng), source_id="1.2.250.1.999.9",
                                            submitted=now)
        body, attachments = xds.provide_and_register_mtom(submission)
        data, content_type = self.client().encode("repository", body, patient=self.patient_ref(record),
                                                  attachments=attachments, now=self.now())
        documents = {entry.unique_id: (hashlib.sha1(submission.documents[entry.id]).hexdigest(),
                                       len(submission.documents[entry.id])) for entry in submission.entries}
        return FeedRequest(data, content_type, submission.submission_set.unique_id, documents,
                           self.patient_ref(record).ins, len(cda))

    def search(self, record: dict[str, Any]) -> tuple[bytes, str]:
        from segur_sandbox.simulator.dmp import xds

        patient = self.patient_ref(record)
        query = xds.StoredQuery.of("FindDocuments", {
            "$XDSDocumentEntryPatientId": patient.cx(),
            "$XDSDocumentEntryStatus": ["urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"]})
        return self.client().encode("registry", xds.adhoc_query_request(query), patient=patient, now=self.now())

    def now(self) -> datetime:
        """The workspace's now (real time + ``clock_offset``): VIHFs are issued at it."""
        return datetime.fromtimestamp(time.time() + self.clock_offset, timezone.utc)

    def url(self, service: str) -> str:
        return f"{self.prefix}/si-dmp-server/v2/services/{service}"

    def close(self) -> None:
        if self._own_http and self.http is not None:
            self.http.close()


def acknowledged(response: httpx.Response) -> bool:
    """A feed the registry acknowledged: HTTP 200 and a RegistryResponse in Success."""
    return response.status_code == 200 and SUCCESS in response.content


# --- what the registry holds --------------------------------------------------------------------------------------

@dataclass
class Audit:
    entries: dict[str, list[tuple[str, int]]]  # uniqueId -> [(hash, size)] (one per stored version)
    contents: dict[str, tuple[str, int]]  # uniqueId -> (sha1 of the stored bytes, size)
    submission_sets: dict[str, str]  # uniqueId -> entryUUID
    problems: list[str]

    @property
    def documents(self) -> int:
        return len(self.entries)

    def holds(self, feed: FeedRequest) -> str:
        """``"all"`` when every part of the feed is stored right, ``"none"`` when nothing of it is, else
        ``"part"`` (a half-stored feed)."""
        present = [feed.submission_set_unique_id in self.submission_sets]
        present += [uid in self.entries for uid in feed.documents]
        present += [uid in self.contents for uid in feed.documents]
        if not any(present):
            return "none"
        right = all(present) and all(self.entries[uid] == [value] and self.contents[uid] == value
                                     for uid, value in feed.documents.items())
        return "all" if right else "part"


def audit(url: str, workspace: str = "default") -> Audit:
    """Read the registry of ``workspace`` from the database at ``url`` and list every inconsistency."""
    from sqlalchemy import select

    from segur_sandbox.simulator.store import HAS_MEMBER, Store
    from segur_sandbox.simulator.store import models as m

    store = Store(url, create_schema=False)
    try:
        with store.transaction(readonly=True) as tx:
            conn = tx.connection
            e, c, s, a = m.document_entries, m.document_contents, m.submission_sets, m.associations
            entry_rows = conn.execute(select(e.c.entry_uuid, e.c.unique_id, e.c.hash, e.c.size,
                                             e.c.submission_set_uuid).where(e.c.workspace == workspace)).all()
            content_rows = conn.execute(select(c.c.unique_id, c.c.content, c.c.size)
                                        .where(c.c.workspace == workspace)).all()
            set_rows = conn.execute(select(s.c.entry_uuid, s.c.unique_id).where(s.c.workspace == workspace)).all()
            members = conn.execute(select(a.c.source, a.c.target).where(
                a.c.workspace == workspace, a.c.type == HAS_MEMBER)).all()
    finally:
        store.dispose()
    problems: list[str] = []
    entries: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for row in entry_rows:
        entries[row.unique_id].append((row.hash, row.size))
    contents: dict[str, tuple[str, int]] = {}
    for row in content_rows:
        data = bytes(row.content)
        contents[row.unique_id] = (hashlib.sha1(data).hexdigest(), len(data))
        if row.size != len(data):
            problems.append(f"content {row.unique_id}: size column {row.size} for {len(data)} bytes")
    for unique_id, versions in entries.items():
        if unique_id not in contents:
            problems.append(f"entry {unique_id} without its content")
        elif any(v != contents[unique_id] for v in versions):
            problems.append(f"entry {unique_id}: hash/size {versions} but the content is {contents[unique_id]}")
    for unique_id in contents.keys() - entries.keys():
        problems.append(f"content {unique_id} without an entry")
    sets = {row.entry_uuid: row.unique_id for row in set_rows}
    members_of: dict[str, set[str]] = defaultdict(set)
    for source, target in members:
        members_of[source].add(target)
    entry_uuids = {row.entry_uuid for row in entry_rows}
    for set_uuid, unique_id in sets.items():
        if not members_of.get(set_uuid):
            problems.append(f"submission set {unique_id} without documents")
        missing = members_of.get(set_uuid, set()) - entry_uuids
        if missing:
            problems.append(f"submission set {unique_id}: HasMember to missing entries {sorted(missing)}")
    for row in entry_rows:
        if row.submission_set_uuid is not None and row.submission_set_uuid not in sets:
            problems.append(f"entry {row.unique_id} of a missing submission set {row.submission_set_uuid}")
    repeated = [uid for uid, n in Counter(row.unique_id for row in set_rows).items() if n > 1]
    problems += [f"submission set uniqueId {uid} stored twice" for uid in repeated]
    return Audit(dict(entries), contents, {unique_id: entry for entry, unique_id in sets.items()}, problems)
