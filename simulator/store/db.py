"""The engine, the schema, and units of work.

``--db`` takes ``sqlite:///path`` (the default, one file) or ``postgresql://…`` (a shared instance; mapped to
the psycopg 3 driver). Nothing is kept in process memory: every worker process sharing the database sees the
same state.

SQLite: WAL journal, foreign keys on, a busy timeout, and the store emits BEGIN itself (``BEGIN IMMEDIATE`` for
a write unit of work, so concurrent writers queue on the busy timeout instead of failing when a read lock
would have to be upgraded). PostgreSQL: READ COMMITTED, writes that could race are compare-and-set UPDATEs or
rely on unique keys; schema creation takes an advisory lock so several workers can start at once.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, Final

from sqlalchemy import URL, Connection, Engine, create_engine, event, inspect, make_url, select, text
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

from . import models as m
from ._common import DEFAULT_WORKSPACE, insert_ignore, upsert, utcnow
from .authorizations import AuthorizationRepository
from .conformance_runs import ConformanceRunRepository
from .controls import ControlRepository
from .directory import DirectoryRepository
from .documents import DocumentRepository
from .errors import SchemaError
from .exchanges import ExchangeRepository
from .identities import IdentityRepository
from .patients import PatientRepository
from .workspaces import WorkspaceRepository

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS: Final = 15_000
_SCHEMA_LOCK_KEY: Final = 0x5E6A5B0  # pg_advisory_xact_lock key for schema creation
_BEGIN_OPTION: Final = "segur_sqlite_begin"

Migration = Callable[[Connection], None]
MIGRATIONS: dict[int, Migration] = {}
"""Steps run after ``create_all`` to reach version N from N-1 (additive: ADD COLUMN, CREATE INDEX…)."""


def _v2_conformance_runs(conn: Connection) -> None:
    """Version 2 adds the ``conformance_runs`` table, which ``create_all`` has just created: nothing left to do."""


MIGRATIONS[2] = _v2_conformance_runs


def _v3_exchange_body_codec(conn: Connection) -> None:
    """Version 3 stores exchange bodies compressed; older lines (NULL codec) are read as they are."""
    if "body_codec" not in {c["name"] for c in inspect(conn).get_columns(m.exchanges.name)}:
        conn.execute(text("ALTER TABLE exchanges ADD COLUMN body_codec VARCHAR(8)"))


MIGRATIONS[3] = _v3_exchange_body_codec


def normalise_url(url: str | URL) -> URL:
    """``postgresql://`` and ``postgres://`` → ``postgresql+psycopg://``; ``sqlite:///path`` as is. Other
    back ends are refused."""
    parsed = make_url(url) if isinstance(url, str) else url
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        return parsed
    if backend == "sqlite":
        if parsed.drivername != "sqlite":
            raise ValueError(f"unsupported SQLite driver {parsed.drivername!r}: use sqlite:///path")
        return parsed
    raise ValueError(f"unsupported database URL {parsed.render_as_string(hide_password=True)!r}: "
                     "use sqlite:///path or postgresql://user@host/db")


def sqlite_url(path: str | Path) -> str:
    """The URL of a SQLite database file."""
    return f"sqlite:///{Path(path)}"


def _is_memory(url: URL) -> bool:
    return url.database in (None, "", ":memory:") or "mode=memory" in str(url.query.get("mode", ""))


def make_engine(url: str | URL, *, echo: bool = False, pool_size: int = 5, max_overflow: int = 10,
                pool_timeout: float = 30.0, autocommit: bool = False, synchronous_commit: bool = True) -> Engine:
    """An engine for ``url`` with the store's connection settings (see the module docstring). PostgreSQL only:
    ``autocommit``, every statement its own transaction; ``synchronous_commit=False``, its commits do not wait for
    the WAL flush (``Store.transaction(autocommit=True)`` says when that is right)."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, echo=echo, pool_size=pool_size, max_overflow=max_overflow,
                              pool_timeout=pool_timeout)
    engine = create_engine(
        parsed, echo=echo, pool_size=pool_size, max_overflow=max_overflow, pool_timeout=pool_timeout,
        pool_recycle=1800, json_serializer=_dumps, **({"isolation_level": "AUTOCOMMIT"} if autocommit else {}),
    )
    event.listen(engine, "connect", _pg_on_connect if synchronous_commit else _pg_on_connect_asynchronous_commit)
    event.listen(engine, "checkin", _pg_on_checkin)
    event.listen(engine, "checkout", _pg_on_checkout)
    return engine


# A pooled PostgreSQL connection idle this long is pinged before use, and replaced when the server dropped it (a
# restart, an idle timeout). SQLAlchemy's pool_pre_ping pings on every checkout: a round trip per unit of work,
# most of them a few milliseconds after the last one. A connection that dies in the last seconds of its idle time
# fails one unit of work, which the pool then notices (the whole pool is replaced).
PING_AFTER_IDLE_SECONDS = 5.0


def _pg_on_checkin(_dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry) -> None:
    record.info["idle_since"] = time.monotonic()


def _pg_on_checkout(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry, _proxy: Any) -> None:
    idle_since = record.info.get("idle_since")
    if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
        return
    try:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT 1")
        finally:
            cursor.close()
        dbapi_connection.rollback()  # the ping opened a transaction: the unit of work begins its own
    except Exception as exc:  # noqa: BLE001 - any failure: the pool drops this connection and checks out another
        raise DisconnectionError(f"pooled connection lost while idle: {exc}") from exc


def _pg_on_connect(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    """Compress large values (exchange-log bodies: a 50-document search answer is ~300 KB; documents) with lz4
    rather than PostgreSQL's default pglz: storing one such answer took ~4 ms of server CPU with pglz, ~1 ms with
    lz4. A session setting: no schema change, values already stored are read whatever their compression. Servers
    without lz4 (before PostgreSQL 14, or built without it) keep pglz."""
    _pg_session_setting(dbapi_connection, "SET default_toast_compression = 'lz4'")


def _pg_on_connect_asynchronous_commit(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry) -> None:
    """The connections of ``Store.transaction(autocommit=True)``: a commit returns without waiting for the WAL
    flush (why that is right for those units of work only: ``Store.transaction``)."""
    _pg_on_connect(dbapi_connection, record)
    # not an error: the connection then waits for the flush, as every other one does
    if not _pg_session_setting(dbapi_connection, "SET synchronous_commit = off"):
        log.warning("could not turn synchronous_commit off: read-only calls wait for the WAL flush of their log line")


def _pg_session_setting(dbapi_connection: DBAPIConnection, statement: str) -> bool:
    """Run a SET for the whole session (committed: a SET rolled back with its transaction is undone)."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(statement)
        dbapi_connection.commit()
        return True
    except Exception:  # noqa: BLE001
        dbapi_connection.rollback()
        return False
    finally:
        cursor.close()


def _dumps(value: Any) -> str:
    import json
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _sqlite_engine(url: URL, *, echo: bool, pool_size: int, max_overflow: int, pool_timeout: float) -> Engine:
    memory = _is_memory(url)
    kwargs: dict[str, Any] = {
        "echo": echo, "json_serializer": _dumps,
        "connect_args": {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
    }
    if memory:
        kwargs["poolclass"] = StaticPool  # one shared connection: for tests, not for concurrent use
    else:
        Path(url.database or "").expanduser().parent.mkdir(parents=True, exist_ok=True)
        kwargs.update(pool_size=pool_size, max_overflow=max_overflow, pool_timeout=pool_timeout)
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        try:
            if not memory:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
        readonly = mode == "READONLY"
        info = conn.connection.info  # lives as long as the DBAPI connection
        if info.get("query_only", False) != readonly:  # a read-only unit of work refuses writes, as on PostgreSQL
            conn.exec_driver_sql(f"PRAGMA query_only={int(readonly)}")
            info["query_only"] = readonly
        conn.exec_driver_sql("BEGIN DEFERRED" if readonly else f"BEGIN {mode}")

    return engine


class UnitOfWork:
    """One database transaction and the repositories working in it. Every repository call takes the
    workspace; nothing crosses between workspaces."""

    def __init__(self, conn: Connection) -> None:
        self.connection = conn
        self.workspaces = WorkspaceRepository(conn)
        self.patients = PatientRepository(conn)
        self.directory = DirectoryRepository(conn)
        self.authorizations = AuthorizationRepository(conn)
        self.documents = DocumentRepository(conn)
        self.exchanges = ExchangeRepository(conn)
        self.controls = ControlRepository(conn)
        self.identities = IdentityRepository(conn)
        self.conformance_runs = ConformanceRunRepository(conn)

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Group several calls so that they happen together or not at all, inside the transaction."""
        with self.connection.begin_nested():
            yield


class Store:
    """The sandbox state. Thread-safe (one pooled connection per unit of work); create one per process.

    >>> store = Store("sqlite:///.sandbox/sandbox.db")
    >>> with store.transaction() as tx:
    ...     tx.patients.get("default", "123456789012345")
    """

    def __init__(self, url: str | URL, *, create_schema: bool = True, echo: bool = False,
                 pool_size: int = 5, max_overflow: int = 10, durable_read_log: bool = False) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(self.url, echo=echo, pool_size=pool_size, max_overflow=max_overflow)
        # PostgreSQL: the units of work of ``transaction(autocommit=True)`` get a pool of their own, in autocommit
        # and (unless ``durable_read_log``) with asynchronous commits, so no unit of work ever switches modes
        self._autocommit = (make_engine(self.url, echo=echo, pool_size=pool_size, max_overflow=max_overflow,
                                        autocommit=True, synchronous_commit=durable_read_log)
                            if self.engine.dialect.name == "postgresql" else None)
        sqlite_file = self.engine.dialect.name == "sqlite" and not _is_memory(self.url)
        # SQLite read-only units of work get their own pool: its connections stay ``query_only`` instead of
        # switching with a PRAGMA whenever a pooled connection goes from a read to a write unit of work.
        self._reader = (make_engine(self.url, echo=echo, pool_size=pool_size, max_overflow=max_overflow)
                        if sqlite_file else self.engine)
        # SQLite runs one writer at a time. Writers queue for it here, on locks that wake the next one as soon as
        # the writer commits, instead of in SQLite's busy handler, which polls with sleeps growing to 100 ms (under
        # load most of a request's latency) and holds a pooled connection while it waits: a thread lock within the
        # process, and an advisory lock on a file beside the database between the processes of ``serve --workers``.
        # Reentrant: a thread that opens a write unit of work inside another gets what it got before (SQLite's own
        # busy wait), and so does a writer that waited here as long as the busy timeout (it then goes on without
        # the lock and meets the busy handler).
        self._writer = _WriterLock(Path(self.url.database or "") if sqlite_file else None) \
            if self.engine.dialect.name == "sqlite" else None
        if create_schema:
            self.create_schema()

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @property
    def engines(self) -> tuple[Engine, ...]:
        """Every engine (connection pool) the units of work use: where to listen for events on all statements."""
        return tuple(dict.fromkeys(e for e in (self.engine, self._reader, self._autocommit) if e is not None))

    def __repr__(self) -> str:
        return f"Store({self.url.render_as_string(hide_password=True)!r})"

    @contextmanager
    def transaction(self, *, readonly: bool = False, autocommit: bool = False) -> Iterator[UnitOfWork]:
        """A unit of work: committed when the block ends, rolled back if it raises. Keep it short.
        ``readonly``: writes are refused (SQLite ``query_only``, PostgreSQL READ ONLY) and, on SQLite, no
        write lock is taken, so readers never wait for writers.
        ``autocommit`` (PostgreSQL; ignored on SQLite): each statement is its own transaction, which spares the
        BEGIN and COMMIT round trips. Only for a unit of work that reads, then writes at most one statement, last:
        its reads lose nothing (under READ COMMITTED every statement of a transaction takes its own snapshot
        anyway) and there is nothing to roll back with the write (a search and its exchange-log line).
        That write commits without waiting for PostgreSQL's WAL flush (``synchronous_commit = off``; the store's
        ``durable_read_log`` keeps the wait): a crash of the PostgreSQL server, not of the sandbox, may lose the
        log lines of the last fraction of a second, never a document or a state change, and the database stays
        consistent; a risk comparable to that of every commit on SQLite here (WAL, ``synchronous=NORMAL``). Under
        load the wait for that flush was a large share of a search's time, and one slow WAL write stalled every
        connection at once (the bursts of late answers in bench/dmp_load.py's open loop)."""
        with (self._writer.held() if self._writer is not None and not readonly else nullcontext()):
            engine = (self._autocommit if autocommit and self._autocommit is not None
                      else self._reader if readonly else self.engine)
            with engine.connect() as conn:
                if self.dialect == "sqlite":
                    conn.execution_options(**{_BEGIN_OPTION: "READONLY" if readonly else "IMMEDIATE"})
                elif readonly and not autocommit:
                    conn.execution_options(postgresql_readonly=True)
                with conn.begin():
                    yield UnitOfWork(conn)

    def create_schema(self) -> int:
        """Create missing tables, run pending migrations, record the version, ensure ``default`` exists.
        Safe to run from several processes at once. Returns the schema version."""
        with self.engine.connect() as conn:
            if self.dialect == "sqlite":
                conn.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
            with conn.begin():
                if self.dialect == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
                current = _stored_version(conn)
                if current is not None and current > m.SCHEMA_VERSION:
                    raise SchemaError(f"the database schema is version {current}, newer than this code's "
                                      f"{m.SCHEMA_VERSION}: upgrade segur-sandbox")
                m.metadata.create_all(conn)
                for version in range((current or m.SCHEMA_VERSION) + 1, m.SCHEMA_VERSION + 1):
                    log.info("migrating the store schema to version %d", version)
                    MIGRATIONS[version](conn)
                upsert(conn, m.schema_version, {"id": 1, "version": m.SCHEMA_VERSION, "updated_at": utcnow()},
                       ["id"], ["version", "updated_at"])
                insert_ignore(conn, m.workspaces, {"id": DEFAULT_WORKSPACE, "created_at": utcnow(), "settings": {},
                                                   "clock_offset_seconds": 0}, ["id"])
        return m.SCHEMA_VERSION

    def schema_version(self) -> int | None:
        with self.engine.connect() as conn:
            conn.execution_options(**{_BEGIN_OPTION: "READONLY"})
            return _stored_version(conn)

    def dispose(self) -> None:
        """Close the pooled connections (at shutdown, or in a child process after fork)."""
        for engine in self.engines:
            engine.dispose()
        if self._writer is not None:
            self._writer.close()

    close = dispose

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.dispose()


class _WriterLock:
    """The SQLite write queue: a thread lock, and when the database is a file an exclusive ``flock`` on
    ``<database>-writer.lock`` taken by the outermost holder of the thread lock (one waiter per process), so the
    processes of ``serve --workers`` take turns too. The kernel drops the ``flock`` of a process that dies."""

    def __init__(self, database: Path | None) -> None:
        self._thread = threading.RLock()
        self._depth = 0  # only read or written by the thread holding ``_thread``
        self._path = f"{database}-writer.lock" if database is not None and _flock is not None else None
        # opened on first use and closed by ``close`` (``Store.dispose``): a process forked with it open would share
        # the open file, and with it the lock
        self._file: Any = None

    @contextmanager
    def held(self) -> Iterator[None]:
        if not self._thread.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
            yield  # waited as long as the busy timeout: SQLite's own busy handling decides
            return
        try:
            self._depth += 1
            locked = self._depth == 1 and self._path is not None
            if locked:
                if self._file is None:
                    self._file = open(self._path, "a+b")  # noqa: SIM115 - kept open between writes
                _flock(self._file.fileno(), _LOCK_EX)
            try:
                yield
            finally:
                if locked and self._file is not None:  # None: closed meanwhile, which released it
                    _flock(self._file.fileno(), _LOCK_UN)
                self._depth -= 1
        finally:
            self._thread.release()

    def close(self) -> None:
        with self._thread:
            if self._file is not None:
                self._file.close()
                self._file = None


try:
    from fcntl import LOCK_EX as _LOCK_EX
    from fcntl import LOCK_UN as _LOCK_UN
    from fcntl import flock as _flock
except ImportError:  # pragma: no cover - Windows: the processes meet SQLite's busy handler
    _flock = None  # type: ignore[assignment]
    _LOCK_EX = _LOCK_UN = 0


def _stored_version(conn: Connection) -> int | None:
    if not inspect(conn).has_table(m.schema_version.name):
        return None
    return conn.execute(select(m.schema_version.c.version).where(m.schema_version.c.id == 1)).scalar()
