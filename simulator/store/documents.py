"""The XDS registry (document entries, submission sets, associations) and the repository (content bytes).

Identifiers are the registry's: ``entry_uuid`` values are ``urn:uuid:…`` (the handler replaces the symbolic ids
of a submission before calling), codes are stored as their code value (the coding scheme stays in
``metadata_xml``), author and legal authenticator as idNat. Every multi-statement operation runs in a savepoint:
it happens entirely or not at all, even if the caller catches the error and goes on.
"""
from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import (Connection, Integer, Row, Text, and_, bindparam, cast, exists, false, func, insert, literal,
                        or_, select, union_all, update)
from sqlalchemy.exc import IntegrityError

from . import models as m
from ._common import atomic, check_aware, utcnow
from .errors import (
    DocumentNotFound,
    DuplicateEntryUuid,
    DuplicateUniqueId,
    MetadataUpdateError,
    PatientMismatch,
    StatusConflict,
    VersionConflict,
)

APPROVED: Final = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
DEPRECATED: Final = "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated"
ARCHIVED: Final = "urn:asip:ci-sis:2010:StatusType:Archived"
DELETED: Final = "urn:asip:ci-sis:2010:StatusType:Deleted"
DOCUMENT_STATUSES: Final = (APPROVED, DEPRECATED, ARCHIVED, DELETED)

HAS_MEMBER: Final = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"
RPLC: Final = "urn:ihe:iti:2007:AssociationType:RPLC"
XFRM_RPLC: Final = "urn:ihe:iti:2007:AssociationType:XFRM_RPLC"
SIGNS: Final = "urn:ihe:iti:2007:AssociationType:signs"
UPDATE_AVAILABILITY_STATUS: Final = "urn:ihe:iti:2010:AssociationType:UpdateAvailabilityStatus"
REPLACING_TYPES: Final = (RPLC, XFRM_RPLC)


@dataclass(frozen=True)
class DocumentEntry:
    """A registry DocumentEntry (one version of a logical document)."""

    entry_uuid: str
    unique_id: str
    patient_ins: str
    mime_type: str
    submitted_at: datetime  # when the registry accepted it (workspace clock)
    metadata_xml: str = ""  # the ExtrinsicObject as submitted/normalised
    lid: str | None = None  # set by the store: the entryUUID of version 1
    version: int = 1  # set by the store
    status: str = APPROVED
    title: str | None = None
    confidentiality_codes: tuple[str, ...] = ()
    type_code: str | None = None
    class_code: str | None = None
    format_code: str | None = None
    practice_setting: str | None = None
    facility_type: str | None = None
    event_codes: tuple[str, ...] = ()
    creation_time: datetime | None = None
    service_start: datetime | None = None
    service_stop: datetime | None = None
    author_person_ids: tuple[str, ...] = ()
    author_institution_ids: tuple[str, ...] = ()
    legal_authenticator_id: str | None = None
    is_signature: bool = False  # the XAdES signature document of its submission set
    hash: str | None = None  # SHA-1, hex
    size: int | None = None
    submission_set_uuid: str | None = None
    submitter: str | None = None  # the VIHF NameID of the caller who submitted it
    reference_ids: tuple[str, ...] = ()

    def __hash__(self) -> int:
        # the dataclass hash of the fields, computed once: a search hashes each entry it answers twice (the
        # row → wire and row → rights caches), and the same decoded entries serve search after search
        cached = self.__dict__.get("_hash")
        if cached is None:
            cached = hash(tuple(getattr(self, name) for name in _ENTRY_FIELDS))
            object.__setattr__(self, "_hash", cached)
        return cached

    def __getstate__(self) -> dict[str, Any]:
        # the cached hash stays in its process: str hashes differ between processes (PYTHONHASHSEED)
        return {name: value for name, value in self.__dict__.items() if name != "_hash"}


_ENTRY_FIELDS = tuple(f.name for f in fields(DocumentEntry))


@dataclass(frozen=True)
class SubmissionSet:
    entry_uuid: str
    unique_id: str
    patient_ins: str
    submission_time: datetime
    source_id: str | None = None
    content_type_code: str | None = None
    title: str | None = None
    author: Mapping[str, Any] = field(default_factory=dict)  # e.g. {"person": …, "institutions": […]}
    submitter: str | None = None
    metadata_xml: str = ""  # the RegistryPackage


@dataclass(frozen=True)
class Association:
    id: str  # urn:uuid:…
    type: str  # full URN, e.g. HAS_MEMBER
    source: str
    target: str
    slots: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    submission_set_uuid: str | None = None


@dataclass(frozen=True)
class Submission:
    """An ITI-41 submission: everything is stored, or nothing. ``contents`` is keyed by document uniqueId.
    RPLC/XFRM_RPLC associations from a new entry deprecate their (Approved) target in the same transaction."""

    submission_set: SubmissionSet
    entries: tuple[DocumentEntry, ...] = ()
    associations: tuple[Association, ...] = ()
    contents: Mapping[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class VersionUpdate:
    """ITI-57 metadata update: ``entry`` is the new version (new ``entry_uuid``, ``lid`` = the logical id
    updated, same uniqueId and patient); ``previous_version`` the version it replaces, which must be the
    latest and in ``expected_status``."""

    entry: DocumentEntry
    previous_version: int
    expected_status: str = APPROVED


@dataclass(frozen=True)
class StatusChange:
    """ITI-57 UpdateAvailabilityStatus: compare-and-set of one entry's status."""

    entry_uuid: str
    original_status: str
    new_status: str


@dataclass(frozen=True)
class UpdateResult:
    versions: tuple[DocumentEntry, ...]  # the new versions
    status_changes: tuple[DocumentEntry, ...]  # the entries whose status changed, as they are now


@dataclass(frozen=True)
class DocumentQuery:
    """FindDocuments filters. ``None`` = no filter; a tuple = any of its values (an empty tuple matches
    nothing). Times: ``*_from`` inclusive, ``*_to`` exclusive (IHE). ``author_persons`` values are idNat and may
    hold SQL LIKE wildcards (``%``, ``_``) as IHE allows."""

    statuses: tuple[str, ...] | None = None
    class_codes: tuple[str, ...] | None = None
    type_codes: tuple[str, ...] | None = None
    practice_settings: tuple[str, ...] | None = None
    facility_types: tuple[str, ...] | None = None
    format_codes: tuple[str, ...] | None = None
    confidentiality_codes: tuple[str, ...] | None = None
    event_codes: tuple[str, ...] | None = None
    author_persons: tuple[str, ...] | None = None
    reference_ids: tuple[str, ...] | None = None
    creation_from: datetime | None = None
    creation_to: datetime | None = None
    service_start_from: datetime | None = None
    service_start_to: datetime | None = None
    service_stop_from: datetime | None = None
    service_stop_to: datetime | None = None
    is_signature: bool | None = None


def digest(content: bytes) -> tuple[str, int]:
    """The XDS ``hash`` (SHA-1, lower-case hex) and ``size`` of a document's bytes."""
    return hashlib.sha1(content).hexdigest(), len(content)


# -- rows <-> dataclasses ----------------------------------------------------------------------------------
_E, _V, _S, _A, _C = m.document_entries, m.document_values, m.submission_sets, m.associations, m.document_contents
# Built once: an alias made per query rebuilds its 30-column collection every search (a few % of a search's CPU).
_NEWER = _E.alias("newer")


# The JSON list columns of an entry (codes, author ids…) are read as their JSON text (``_ENTRY_COLUMNS``) and
# decoded by ``_strings``, which remembers the few distinct texts: a 50-document search decoded 250 small JSON
# arrays per call, about a tenth of its CPU. Rows read with ``select(_E)`` (lists) work as well.
_LIST_COLUMNS = ("confidentiality_codes", "event_codes", "author_person_ids", "author_institution_ids",
                 "reference_ids")
# Datetimes and the flag are read as text too: SQLAlchemy's result processors (string → datetime on SQLite, zone
# conversion) cost a 50-document search about as much as SQLite's own work, on every row of every search; as
# text, a row is a tuple of strings, decoded once (``_cached_entry``) and then found in the cache.
_DATETIME_COLUMNS = ("creation_time", "service_start", "service_stop", "submitted_at")
_ENTRY_COLUMNS = tuple(cast(c, Text).label(c.name) if c.name in (*_LIST_COLUMNS, *_DATETIME_COLUMNS, "is_signature")
                       else c for c in _E.c)


@lru_cache(maxsize=4096)
def _decoded(text: str) -> tuple[str, ...]:
    return tuple(json.loads(text))


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return _decoded(value) if isinstance(value, str) else tuple(value)


_ENTRY_NAMES = tuple(c.name for c in _E.c)


def _entry(row: Row[Any]) -> DocumentEntry:
    # Searches read the same rows again and again: the same values give the same (immutable) DocumentEntry object,
    # which also makes the registry's caches keyed by entry (entry_to_wire, document facts) cheap to hit.
    try:
        return _cached_entry(tuple(row))
    except TypeError:  # a value that cannot be a key (lists: a row read with select(_E))
        return _build_entry(row._mapping)


@lru_cache(maxsize=2048)
def _cached_entry(values: tuple[Any, ...]) -> DocumentEntry:
    return _build_entry(dict(zip(_ENTRY_NAMES, values, strict=True)))


# FindDocuments reads the keys of the matching rows first, then the entries it has not decoded yet. A row never
# changes but for its status (``_compare_and_set``: every other change is a new version, a new row), so an entry
# read before under the same key is the row as it is now: the search then reads 5 short columns per row instead of
# 31 (the metadata XML of 50 entries is ~250 KB), and decodes nothing. The submission time and the hash keep a row
# apart from another one that would reuse its entryUUID after a workspace reset.
_KEY_COLUMNS = (_E.c.entry_uuid, _E.c.status, cast(_E.c.submitted_at, Text).label("submitted_at"), _E.c.unique_id,
                _E.c.hash)
_BY_KEY_MAX = 8192


class _EntriesByKey:
    """Entries by (workspace, entryUUID, status, submission time, uniqueId, hash), the oldest forgotten first.
    Shared by the threads of a process: reads take no lock (a dict lookup is atomic), writes do."""

    def __init__(self) -> None:
        self._entries: dict[tuple[Any, ...], DocumentEntry] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> DocumentEntry | None:
        return self._entries.get(key)

    def put(self, key: tuple[Any, ...], entry: DocumentEntry) -> None:
        with self._lock:
            self._entries[key] = entry
            while len(self._entries) > _BY_KEY_MAX:
                del self._entries[next(iter(self._entries))]


_BY_KEY = _EntriesByKey()


def _datetime(value: Any) -> datetime | None:
    """A datetime column read as text (SQLite: naive UTC ``2026-01-02 03:04:05.000006``; PostgreSQL: with its
    offset, ``…+00``) or as a datetime (rows read with ``select(_E)``): aware, in UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _flag(value: Any) -> bool:
    """A boolean column read as text: SQLite ``1``/``0``, PostgreSQL ``true``/``false``."""
    return value in ("1", "true", "t") if isinstance(value, str) else bool(value)


def _build_entry(row: Mapping[str, Any]) -> DocumentEntry:
    return DocumentEntry(
        entry_uuid=row["entry_uuid"], unique_id=row["unique_id"], patient_ins=row["patient_ins"],
        mime_type=row["mime_type"], submitted_at=_datetime(row["submitted_at"]), metadata_xml=row["metadata_xml"],
        lid=row["lid"], version=row["version"], status=row["status"], title=row["title"],
        confidentiality_codes=_strings(row["confidentiality_codes"]), type_code=row["type_code"],
        class_code=row["class_code"], format_code=row["format_code"], practice_setting=row["practice_setting"],
        facility_type=row["facility_type"], event_codes=_strings(row["event_codes"]),
        creation_time=_datetime(row["creation_time"]), service_start=_datetime(row["service_start"]),
        service_stop=_datetime(row["service_stop"]),
        author_person_ids=_strings(row["author_person_ids"]),
        author_institution_ids=_strings(row["author_institution_ids"]),
        legal_authenticator_id=row["legal_authenticator_id"], is_signature=_flag(row["is_signature"]),
        hash=row["hash"],
        size=row["size"], submission_set_uuid=row["submission_set_uuid"], submitter=row["submitter"],
        reference_ids=_strings(row["reference_ids"]),
    )


def _entry_row(workspace: str, e: DocumentEntry) -> dict[str, Any]:
    for name in ("submitted_at", "creation_time", "service_start", "service_stop"):
        check_aware(getattr(e, name), name)
    if e.status not in DOCUMENT_STATUSES:
        raise ValueError(f"status {e.status!r}: expected one of {DOCUMENT_STATUSES}")
    return {
        "workspace": workspace, "entry_uuid": e.entry_uuid, "lid": e.lid, "version": e.version,
        "unique_id": e.unique_id, "patient_ins": e.patient_ins, "status": e.status, "title": e.title,
        "confidentiality_codes": list(e.confidentiality_codes), "type_code": e.type_code,
        "class_code": e.class_code, "format_code": e.format_code, "practice_setting": e.practice_setting,
        "facility_type": e.facility_type, "event_codes": list(e.event_codes), "creation_time": e.creation_time,
        "service_start": e.service_start, "service_stop": e.service_stop,
        "author_person_ids": list(e.author_person_ids), "author_institution_ids": list(e.author_institution_ids),
        "legal_authenticator_id": e.legal_authenticator_id, "is_signature": e.is_signature,
        "mime_type": e.mime_type, "hash": e.hash, "size": e.size, "submission_set_uuid": e.submission_set_uuid,
        "submitted_at": e.submitted_at, "submitter": e.submitter, "reference_ids": list(e.reference_ids),
        "metadata_xml": e.metadata_xml,
    }


def _value_rows(workspace: str, e: DocumentEntry) -> list[dict[str, Any]]:
    kinds = (("conf", e.confidentiality_codes), ("event", e.event_codes), ("author", e.author_person_ids),
             ("institution", e.author_institution_ids), ("ref", e.reference_ids))
    return [{"workspace": workspace, "entry_uuid": e.entry_uuid, "kind": kind, "value": value}
            for kind, values in kinds for value in dict.fromkeys(values)]


def _submission_set(row: Row[Any]) -> SubmissionSet:
    return SubmissionSet(entry_uuid=row.entry_uuid, unique_id=row.unique_id, patient_ins=row.patient_ins,
                         submission_time=row.submission_time, source_id=row.source_id,
                         content_type_code=row.content_type_code, title=row.title, author=row.author,
                         submitter=row.submitter, metadata_xml=row.metadata_xml)


def _submission_set_row(workspace: str, s: SubmissionSet) -> dict[str, Any]:
    check_aware(s.submission_time, "submission_time")
    return {"workspace": workspace, "entry_uuid": s.entry_uuid, "unique_id": s.unique_id,
            "patient_ins": s.patient_ins, "submission_time": s.submission_time, "source_id": s.source_id,
            "content_type_code": s.content_type_code, "title": s.title, "author": dict(s.author),
            "submitter": s.submitter, "metadata_xml": s.metadata_xml}


def _association(row: Row[Any]) -> Association:
    return Association(id=row.id, type=row.type, source=row.source, target=row.target,
                       slots={k: tuple(v) for k, v in (row.slots or {}).items()},
                       submission_set_uuid=row.submission_set_uuid)


def _association_row(workspace: str, a: Association, now: datetime) -> dict[str, Any]:
    return {"workspace": workspace, "id": a.id, "type": a.type, "source": a.source, "target": a.target,
            "slots": {k: list(v) for k, v in a.slots.items()}, "submission_set_uuid": a.submission_set_uuid,
            "created_at": now}


# A search's WHERE clause is built once per shape (which filters are set, how many LIKE patterns) and its values go
# in as parameters: building the SQLAlchemy expressions and their cache key anew for every search cost about as
# much as running it.
_IN_FILTERS = (("statuses", _E.c.status), ("class_codes", _E.c.class_code), ("type_codes", _E.c.type_code),
               ("practice_settings", _E.c.practice_setting), ("facility_types", _E.c.facility_type),
               ("format_codes", _E.c.format_code))
_VALUE_FILTERS = (("confidentiality_codes", "conf"), ("event_codes", "event"), ("reference_ids", "ref"))
_TIME_FILTERS = (("creation_from", _E.c.creation_time, ">="), ("creation_to", _E.c.creation_time, "<"),
                 ("service_start_from", _E.c.service_start, ">="), ("service_start_to", _E.c.service_start, "<"),
                 ("service_stop_from", _E.c.service_stop, ">="), ("service_stop_to", _E.c.service_stop, "<"))


def _filters(workspace: str, patient_ins: str | None, q: DocumentQuery) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The shape of the query's WHERE clause and the values of its parameters."""
    shape: list[Any] = []
    params: dict[str, Any] = {"workspace": workspace}
    if patient_ins is not None:
        shape.append("patient")
        params["patient"] = patient_ins
    for name, _column in _IN_FILTERS:
        if (values := getattr(q, name)) is not None:
            shape.append(name)
            params[name] = list(values)
    for name, _kind in _VALUE_FILTERS:
        if (values := getattr(q, name)) is not None:
            shape.append(name)
            params[name] = list(values)
    if q.author_persons is not None:
        # values holding % or _ are LIKE patterns (an author given as a partial XCN)
        plain = [v for v in q.author_persons if "%" not in v and "_" not in v]
        patterns = [v for v in q.author_persons if v not in plain]
        shape.append(("author_persons", bool(plain), len(patterns)))
        params["author_persons"] = plain
        params.update({f"author_like_{i}": p for i, p in enumerate(patterns)})
    for name, column, _op in _TIME_FILTERS:
        if (value := getattr(q, name)) is not None:
            check_aware(value, column.name)
            shape.append(name)
            params[name] = value
    if q.is_signature is not None:
        shape.append(("is_signature", q.is_signature))
    return tuple(shape), params


def _has_value(kind: str, matches: Sequence[Any]) -> Any:
    """EXISTS a ``document_values`` row of ``kind`` matching one of ``matches`` for the outer entry."""
    return exists().where(_V.c.workspace == _E.c.workspace, _V.c.entry_uuid == _E.c.entry_uuid,
                          _V.c.kind == kind, or_(*matches) if matches else false())


@lru_cache(maxsize=256)
def _where(shape: tuple[Any, ...]) -> tuple[Any, ...]:
    """The conditions of a query shape, with bound parameters (``_filters`` gives their values)."""
    conditions: list[Any] = [_E.c.workspace == bindparam("workspace")]
    present = set(shape)
    if "patient" in present:
        conditions.append(_E.c.patient_ins == bindparam("patient"))
    conditions += [column.in_(bindparam(name, expanding=True)) for name, column in _IN_FILTERS if name in present]
    conditions += [_has_value(kind, [_V.c.value.in_(bindparam(name, expanding=True))])
                   for name, kind in _VALUE_FILTERS if name in present]
    for item in shape:
        if isinstance(item, tuple) and item[0] == "author_persons":
            _, plain, patterns = item
            matches = [_V.c.value.in_(bindparam("author_persons", expanding=True))] if plain else []
            matches += [_V.c.value.like(bindparam(f"author_like_{i}")) for i in range(patterns)]
            conditions.append(_has_value("author", matches))
        elif isinstance(item, tuple) and item[0] == "is_signature":
            conditions.append(_E.c.is_signature.is_(item[1]))
    for name, column, op in _TIME_FILTERS:
        if name in present:
            conditions.append(column >= bindparam(name, type_=column.type) if op == ">="
                              else column < bindparam(name, type_=column.type))
    return tuple(conditions)


_ORDER = (_E.c.creation_time.desc().nulls_last(), _E.c.entry_uuid)
# "the latest version of its document" as a correlated max (one index probe per row whatever the planner believes),
# not NOT EXISTS (a newer version): PostgreSQL made that an anti join, and on a table fed since its last ANALYZE
# (a fresh sandbox) its estimates chose one that scanned every version of the workspace per row: 6 ms for 50 rows.
_LATEST = _E.c.version == (select(func.max(_NEWER.c.version))
                           .where(_NEWER.c.workspace == _E.c.workspace, _NEWER.c.lid == _E.c.lid).scalar_subquery())


@lru_cache(maxsize=256)
def _count_statement(shape: tuple[Any, ...]) -> Any:
    return select(func.count()).select_from(_E).where(*_where(shape))


@lru_cache(maxsize=512)
def _find_statement(shape: tuple[Any, ...], keys_only: bool, latest_only: bool, limit: bool, offset: bool) -> Any:
    stmt = (select(*(_KEY_COLUMNS if keys_only else _ENTRY_COLUMNS))
            .where(*_where(shape), *((_LATEST,) if latest_only else ())).order_by(*_ORDER))
    if limit:
        stmt = stmt.limit(bindparam("limit", type_=Integer))
    if offset:
        stmt = stmt.offset(bindparam("offset", type_=Integer))
    return stmt


@lru_cache(maxsize=None)
def _registered_check(doc_unique_ids: bool, ss_unique_id: bool, uuids: bool) -> Any:
    """The lookup of ``_check_not_registered``: one UNION ALL round trip instead of five queries, built once per
    shape (every feed makes this check). Rows: (0, a uniqueId already taken) or (1, an entryUUID/association id
    already in use)."""
    workspace = bindparam("workspace")
    parts = []
    if doc_unique_ids:
        parts.append(select(literal(0).label("kind"), _E.c.unique_id.label("value")).where(
            _E.c.workspace == workspace, _E.c.unique_id.in_(bindparam("doc_unique_ids", expanding=True))))
    if ss_unique_id:
        parts.append(select(literal(0), _S.c.unique_id).where(_S.c.workspace == workspace,
                                                              _S.c.unique_id == bindparam("ss_unique_id")))
    if uuids:
        for column, table in ((_E.c.entry_uuid, _E), (_S.c.entry_uuid, _S), (_A.c.id, _A)):
            parts.append(select(literal(1), column).where(table.c.workspace == workspace,
                                                          column.in_(bindparam("uuids", expanding=True))))
    return union_all(*parts) if parts else None


def _duplicates(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(v for v, n in Counter(values).items() if n > 1))


class DocumentRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    # -- ITI-41 -------------------------------------------------------------------------------------------
    def register_submission(self, workspace: str, submission: Submission) -> tuple[DocumentEntry, ...]:
        """Store a whole submission (submission set, entries, associations, contents) or nothing.

        New entries get ``lid`` = ``entry_uuid`` and version 1. Raises ``DuplicateUniqueId`` (registry or
        in-message), ``DuplicateEntryUuid``, and for replacements ``DocumentNotFound``, ``PatientMismatch``,
        ``StatusConflict`` (target not Approved)."""
        ss = submission.submission_set
        entries = tuple(replace(e, lid=e.entry_uuid, version=1) for e in submission.entries)
        doc_unique_ids = [e.unique_id for e in entries]
        in_message = _duplicates([ss.unique_id, *doc_unique_ids])
        if in_message:
            raise DuplicateUniqueId(in_message, in_message=True)
        uuids = [ss.entry_uuid, *(e.entry_uuid for e in entries), *(a.id for a in submission.associations)]
        repeated = _duplicates(uuids)
        if repeated:
            raise DuplicateEntryUuid(repeated)
        unknown = set(submission.contents) - set(doc_unique_ids)
        if unknown:
            raise ValueError(f"contents for uniqueIds not in the submission: {sorted(unknown)}")
        try:
            with atomic(self._conn, workspace):
                self._check_not_registered(workspace, doc_unique_ids, ss.unique_id, uuids)
                now = utcnow()
                self._conn.execute(insert(_S), [_submission_set_row(workspace, ss)])
                self._insert_entries(workspace, entries)
                new_uuids = {e.entry_uuid: e for e in entries}
                for a in submission.associations:
                    if a.type in REPLACING_TYPES and a.source in new_uuids:
                        self._deprecate_replaced(workspace, a.target, new_uuids[a.source].patient_ins)
                self._insert_associations(workspace, submission.associations, now)
                if submission.contents:
                    self._conn.execute(insert(_C), [
                        {"workspace": workspace, "unique_id": uid, "content": bytes(content),
                         "size": len(content), "created_at": now}
                        for uid, content in submission.contents.items()])
        except IntegrityError:
            # a concurrent transaction registered the same ids between our check and our insert
            self._check_not_registered(workspace, doc_unique_ids, ss.unique_id, uuids)
            raise
        return entries

    def _check_not_registered(self, workspace: str, doc_unique_ids: Sequence[str], ss_unique_id: str | None,
                              uuids: Sequence[str]) -> None:
        stmt = _registered_check(bool(doc_unique_ids), ss_unique_id is not None, bool(uuids))
        if stmt is None:
            return
        found: tuple[set[str], set[str]] = (set(), set())
        rows = self._conn.execute(stmt, {"workspace": workspace, "doc_unique_ids": list(doc_unique_ids),
                                         "ss_unique_id": ss_unique_id, "uuids": list(uuids)})
        for kind, value in rows:
            found[kind].add(value)
        if found[0]:
            raise DuplicateUniqueId(tuple(sorted(found[0])))
        if found[1]:
            raise DuplicateEntryUuid(tuple(sorted(found[1])))

    def _insert_entries(self, workspace: str, entries: Sequence[DocumentEntry]) -> None:
        if not entries:
            return
        self._conn.execute(insert(_E), [_entry_row(workspace, e) for e in entries])
        values = [row for e in entries for row in _value_rows(workspace, e)]
        if values:
            self._conn.execute(insert(_V), values)

    def _insert_associations(self, workspace: str, associations: Sequence[Association], now: datetime) -> None:
        if associations:
            self._conn.execute(insert(_A), [_association_row(workspace, a, now) for a in associations])

    def _deprecate_replaced(self, workspace: str, target: str, patient_ins: str) -> None:
        current = self.get(workspace, target)
        if current is None:
            raise DocumentNotFound(target)
        if current.patient_ins != patient_ins:
            raise PatientMismatch(target, patient_ins, current.patient_ins)
        if not self._compare_and_set(workspace, target, APPROVED, DEPRECATED):
            actual = self.get(workspace, target)
            raise StatusConflict(target, APPROVED, actual.status if actual else "absent",
                                 xds_code="XDSRegistryDeprecatedDocumentError")

    def _compare_and_set(self, workspace: str, entry_uuid: str, expected: str, new: str) -> bool:
        result = self._conn.execute(update(_E).where(_E.c.workspace == workspace, _E.c.entry_uuid == entry_uuid,
                                                     _E.c.status == expected).values(status=new))
        return bool(result.rowcount)

    # -- ITI-57 -------------------------------------------------------------------------------------------
    def set_status(self, workspace: str, entry_uuid: str, *, expected: str, new: str) -> DocumentEntry:
        """UpdateAvailabilityStatus as a compare-and-set: ``StatusConflict`` when the entry is not in
        ``expected`` (checked in the same UPDATE), ``DocumentNotFound`` when it does not exist."""
        with atomic(self._conn, workspace):
            return self._set_status(workspace, entry_uuid, expected, new)

    def _set_status(self, workspace: str, entry_uuid: str, expected: str, new: str) -> DocumentEntry:
        if new not in DOCUMENT_STATUSES:
            raise ValueError(f"status {new!r}: expected one of {DOCUMENT_STATUSES}")
        if not self._compare_and_set(workspace, entry_uuid, expected, new):
            current = self.get(workspace, entry_uuid)
            if current is None:
                raise DocumentNotFound(entry_uuid)
            raise StatusConflict(entry_uuid, expected, current.status)
        found = self.get(workspace, entry_uuid)
        assert found is not None
        return found

    def add_version(self, workspace: str, version: VersionUpdate) -> DocumentEntry:
        """A new metadata version (ITI-57): the previous version becomes Deprecated, the new one is stored with
        the same lid and uniqueId and version + 1 — in one transaction."""
        self._check_not_registered(workspace, (), None, [version.entry.entry_uuid])
        with atomic(self._conn, workspace):
            return self._add_version(workspace, version)

    def _add_version(self, workspace: str, version: VersionUpdate) -> DocumentEntry:
        entry = version.entry
        if not entry.lid:
            raise ValueError("a new version needs the lid of the document it updates")
        row = self._conn.execute(select(*_ENTRY_COLUMNS).where(_E.c.workspace == workspace, _E.c.lid == entry.lid)
                                 .order_by(_E.c.version.desc()).limit(1).with_for_update()).first()
        if row is None:
            raise DocumentNotFound(entry.lid)
        latest = _entry(row)
        if latest.version != version.previous_version:
            raise VersionConflict(entry.lid, version.previous_version, latest.version)
        if entry.unique_id != latest.unique_id:
            raise MetadataUpdateError(f"{entry.lid}: a new version keeps uniqueId {latest.unique_id}, "
                                      f"not {entry.unique_id}")
        if entry.patient_ins != latest.patient_ins:
            raise PatientMismatch(entry.lid, entry.patient_ins, latest.patient_ins)
        if not self._compare_and_set(workspace, latest.entry_uuid, version.expected_status, DEPRECATED):
            raise StatusConflict(latest.entry_uuid, version.expected_status, latest.status)
        new = replace(entry, version=latest.version + 1,
                      hash=entry.hash if entry.hash is not None else latest.hash,
                      size=entry.size if entry.size is not None else latest.size)
        self._insert_entries(workspace, [new])
        return new

    def update_submission(self, workspace: str, submission_set: SubmissionSet | None, *,
                          versions: Sequence[VersionUpdate] = (), status_changes: Sequence[StatusChange] = (),
                          associations: Sequence[Association] = ()) -> UpdateResult:
        """A whole ITI-57 request, all or nothing: its submission set, new metadata versions, status changes
        (compare-and-set) and associations (HasMember, UpdateAvailabilityStatus…)."""
        uuids = [*(v.entry.entry_uuid for v in versions), *(a.id for a in associations)]
        if submission_set is not None:
            uuids.append(submission_set.entry_uuid)
        repeated = _duplicates(uuids)
        if repeated:
            raise DuplicateEntryUuid(repeated)
        ss_unique_id = submission_set.unique_id if submission_set else None
        try:
            with atomic(self._conn, workspace):
                self._check_not_registered(workspace, (), ss_unique_id, uuids)
                if submission_set is not None:
                    self._conn.execute(insert(_S), [_submission_set_row(workspace, submission_set)])
                new_versions = tuple(self._add_version(workspace, v) for v in versions)
                changed = tuple(self._set_status(workspace, c.entry_uuid, c.original_status, c.new_status)
                                for c in status_changes)
                self._insert_associations(workspace, associations, utcnow())
        except IntegrityError:
            self._check_not_registered(workspace, (), ss_unique_id, uuids)
            raise
        return UpdateResult(versions=new_versions, status_changes=changed)

    # -- queries ------------------------------------------------------------------------------------------
    def find(self, workspace: str, patient_ins: str | None, query: DocumentQuery | None = None, *,
             limit: int | None = None, offset: int = 0, latest_only: bool = False) -> tuple[DocumentEntry, ...]:
        """FindDocuments: the patient's entries matching ``query`` (every version: filter on status to get
        only current ones), newest creation time first. ``latest_only``: only the rows that are the latest
        version of their logical document (what ``by_lids`` would return for their lid), in the same query:
        the registry's search otherwise reads every matching row twice."""
        shape, params = _filters(workspace, patient_ins, query or DocumentQuery())
        if limit is not None:
            params["limit"] = limit
        if offset:
            params["offset"] = offset
        options = (latest_only, limit is not None, bool(offset))
        # .all(): one fetch of every row, where iterating the result fetches them one by one
        keys = [(workspace, *row) for row in self._conn.execute(_find_statement(shape, True, *options), params).all()]
        found = {key: _BY_KEY.get(key) for key in keys}
        missing = [key[1] for key, entry in found.items() if entry is None]
        for row in self._rows_by_uuid(workspace, missing):
            entry = _entry(row)
            key = (workspace, entry.entry_uuid, row.status, row.submitted_at, entry.unique_id, entry.hash)
            if key in found:
                found[key] = entry
                _BY_KEY.put(key, entry)
        if any(entry is None for entry in found.values()):
            # a row changed status between the two reads (another unit of work committed meanwhile, PostgreSQL
            # READ COMMITTED): read them all again in one statement
            rows = self._conn.execute(_find_statement(shape, False, *options), params).all()
            return tuple(_entry(r) for r in rows)
        return tuple(entry for entry in found.values() if entry is not None)

    def _rows_by_uuid(self, workspace: str, entry_uuids: Sequence[str]) -> Sequence[Row[Any]]:
        if not entry_uuids:
            return ()
        return self._conn.execute(select(*_ENTRY_COLUMNS).where(_E.c.workspace == workspace,
                                                                _E.c.entry_uuid.in_(list(entry_uuids)))).all()

    def count(self, workspace: str, patient_ins: str | None = None, query: DocumentQuery | None = None) -> int:
        shape, params = _filters(workspace, patient_ins, query or DocumentQuery())
        return int(self._conn.execute(_count_statement(shape), params).scalar_one())

    def get(self, workspace: str, entry_uuid: str) -> DocumentEntry | None:
        row = self._conn.execute(select(*_ENTRY_COLUMNS).where(_E.c.workspace == workspace,
                                                  _E.c.entry_uuid == entry_uuid)).first()
        return _entry(row) if row else None

    def get_many(self, workspace: str, entry_uuids: Sequence[str]) -> tuple[DocumentEntry, ...]:
        """The entries with these entryUUIDs (exact versions), in the order asked; unknown ones are skipped."""
        if not entry_uuids:
            return ()
        rows = self._conn.execute(select(*_ENTRY_COLUMNS).where(_E.c.workspace == workspace,
                                                   _E.c.entry_uuid.in_(list(entry_uuids))))
        found = {r.entry_uuid: _entry(r) for r in rows}
        return tuple(found[u] for u in dict.fromkeys(entry_uuids) if u in found)

    def by_unique_ids(self, workspace: str, unique_ids: Sequence[str], *,
                      all_versions: bool = False) -> tuple[DocumentEntry, ...]:
        """Entries by uniqueId: the latest version of each (or every version, oldest first)."""
        return self._by(workspace, _E.c.unique_id, unique_ids, all_versions)

    def by_lids(self, workspace: str, lids: Sequence[str], *, all_versions: bool = False) -> tuple[DocumentEntry, ...]:
        """Entries by logical id: the latest version of each (or every version, oldest first)."""
        return self._by(workspace, _E.c.lid, lids, all_versions)

    def _by(self, workspace: str, column: Any, keys: Sequence[str], all_versions: bool) -> tuple[DocumentEntry, ...]:
        if not keys:
            return ()
        rows = self._conn.execute(select(*_ENTRY_COLUMNS).where(_E.c.workspace == workspace, column.in_(list(keys)))
                                  .order_by(column, _E.c.version))
        entries = [_entry(r) for r in rows]
        if all_versions:
            order = {k: i for i, k in enumerate(dict.fromkeys(keys))}
            return tuple(sorted(entries, key=lambda e: (order[getattr(e, column.name)], e.version)))
        latest: dict[str, DocumentEntry] = {}
        for e in entries:
            latest[getattr(e, column.name)] = e  # ordered by version: the last one wins
        return tuple(latest[k] for k in dict.fromkeys(keys) if k in latest)

    def get_content(self, workspace: str, unique_id: str) -> bytes | None:
        content = self._conn.execute(select(_C.c.content).where(_C.c.workspace == workspace,
                                                                _C.c.unique_id == unique_id)).scalar()
        return bytes(content) if content is not None else None

    # -- associations and submission sets -----------------------------------------------------------------
    def associations(self, workspace: str, *, sources: Sequence[str] | None = None,
                     targets: Sequence[str] | None = None, involving: Sequence[str] | None = None,
                     types: Sequence[str] | None = None) -> tuple[Association, ...]:
        """Associations by source, target, or either (``involving``, GetAssociations), optionally by type."""
        conditions: list[Any] = [_A.c.workspace == workspace]
        if sources is not None:
            conditions.append(_A.c.source.in_(list(sources)))
        if targets is not None:
            conditions.append(_A.c.target.in_(list(targets)))
        if involving is not None:
            conditions.append(or_(_A.c.source.in_(list(involving)), _A.c.target.in_(list(involving))))
        if types is not None:
            conditions.append(_A.c.type.in_(list(types)))
        rows = self._conn.execute(select(_A).where(and_(*conditions)).order_by(_A.c.created_at, _A.c.id))
        return tuple(_association(r) for r in rows)

    def get_submission_sets(self, workspace: str, *, entry_uuids: Sequence[str] | None = None,
                            unique_ids: Sequence[str] | None = None) -> tuple[SubmissionSet, ...]:
        conditions: list[Any] = [_S.c.workspace == workspace]
        if entry_uuids is not None:
            conditions.append(_S.c.entry_uuid.in_(list(entry_uuids)))
        if unique_ids is not None:
            conditions.append(_S.c.unique_id.in_(list(unique_ids)))
        rows = self._conn.execute(select(_S).where(*conditions).order_by(_S.c.submission_time, _S.c.entry_uuid))
        return tuple(_submission_set(r) for r in rows)

    def find_submission_sets(self, workspace: str, patient_ins: str, *, time_from: datetime | None = None,
                             time_to: datetime | None = None, source_ids: Sequence[str] | None = None,
                             content_type_codes: Sequence[str] | None = None,
                             limit: int | None = None) -> tuple[SubmissionSet, ...]:
        """FindSubmissionSets: by patient and submission time (``time_from`` inclusive, ``time_to``
        exclusive), oldest first."""
        conditions: list[Any] = [_S.c.workspace == workspace, _S.c.patient_ins == patient_ins]
        if time_from is not None:
            check_aware(time_from, "time_from")
            conditions.append(_S.c.submission_time >= time_from)
        if time_to is not None:
            check_aware(time_to, "time_to")
            conditions.append(_S.c.submission_time < time_to)
        if source_ids is not None:
            conditions.append(_S.c.source_id.in_(list(source_ids)))
        if content_type_codes is not None:
            conditions.append(_S.c.content_type_code.in_(list(content_type_codes)))
        stmt = select(_S).where(*conditions).order_by(_S.c.submission_time, _S.c.entry_uuid)
        if limit is not None:
            stmt = stmt.limit(limit)
        return tuple(_submission_set(r) for r in self._conn.execute(stmt))

    def count_submission_sets(self, workspace: str, patient_ins: str | None = None) -> int:
        stmt = select(func.count()).select_from(_S).where(_S.c.workspace == workspace)
        if patient_ins is not None:
            stmt = stmt.where(_S.c.patient_ins == patient_ins)
        return int(self._conn.execute(stmt).scalar_one())


__all__ = [
    "APPROVED", "ARCHIVED", "DELETED", "DEPRECATED", "DOCUMENT_STATUSES", "HAS_MEMBER", "REPLACING_TYPES", "RPLC",
    "SIGNS", "UPDATE_AVAILABILITY_STATUS", "XFRM_RPLC", "Association", "DocumentEntry", "DocumentQuery",
    "DocumentRepository", "StatusChange", "Submission", "SubmissionSet", "UpdateResult", "VersionUpdate",
    "digest",
]
