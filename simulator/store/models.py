"""The tables (SQLAlchemy Core). Every table but ``schema_version`` and ``conformance_runs`` is keyed by
``workspace``.

Times are timezone-aware UTC datetimes in Python (``UtcDateTime``): naive UTC text on SQLite, ``timestamptz``
on PostgreSQL. JSON is ``JSONB`` on PostgreSQL.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

SCHEMA_VERSION = 3  # 2: conformance_runs; 3: exchanges.body_codec
"""Bump with an entry in ``db.MIGRATIONS`` (additive changes only: new tables via ``create_all``, new columns
or indexes via the migration step)."""


class UtcDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out. Naive datetimes are refused: their zone is a guess."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()}: pass an aware (UTC) datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _json() -> TypeEngine[Any]:
    return JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


_ID = BigInteger().with_variant(Integer(), "sqlite")  # SQLite: INTEGER PRIMARY KEY is the rowid

metadata = MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
})


def _in_workspace() -> ForeignKeyConstraint:
    return ForeignKeyConstraint(["workspace"], ["workspaces.id"], ondelete="CASCADE")


def _ws() -> Column[str]:
    return Column("workspace", String(64), nullable=False)


schema_version = Table(
    "schema_version", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # a single row, id 1
    Column("version", Integer, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

workspaces = Table(
    "workspaces", metadata,
    Column("id", String(64), primary_key=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("settings", _json(), nullable=False),
    Column("clock_offset_seconds", Integer, nullable=False, default=0),
)

patients = Table(
    "patients", metadata,
    _ws(),
    Column("ins", String(15), nullable=False),
    Column("ins_oid", String(64), nullable=False),
    Column("record", _json(), nullable=False),
    Column("dmp_state", String(8), nullable=False),
    Column("closed_at", UtcDateTime),
    Column("closure_reason", String),
    Column("mes_attached", Boolean, nullable=False),
    Column("internet_account", Boolean, nullable=False),
    Column("opposition_bris_de_glace", Boolean, nullable=False),
    Column("opposition_acces_urgence", Boolean, nullable=False),
    # search columns, copied from the record on upsert (upper case, as the fixtures normalise names)
    Column("birth_name", String),
    Column("used_name", String),
    Column("first_names", String),
    Column("birth_date", String(10)),
    Column("sex", String(1)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("workspace", "ins"),
    _in_workspace(),
    Index(None, "workspace", "birth_name"),
    Index(None, "workspace", "used_name"),
)

professionals = Table(
    "professionals", metadata,
    _ws(),
    Column("id_nat", String(64), nullable=False),
    Column("ref", String),  # the fixtures id (PS-00001)
    Column("record", _json(), nullable=False),
    Column("family", String),
    Column("given", String),
    Column("profession_code", String(8)),
    Column("structure_ref", String),  # the fixtures id of the structure (ST-0001)
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("workspace", "id_nat"),
    _in_workspace(),
    Index(None, "workspace", "ref"),
    Index(None, "workspace", "structure_ref"),
)

structures = Table(
    "structures", metadata,
    _ws(),
    Column("id_nat", String(64), nullable=False),
    Column("ref", String),  # the fixtures id (ST-0001)
    Column("record", _json(), nullable=False),
    Column("name", String),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("workspace", "id_nat"),
    _in_workspace(),
    Index(None, "workspace", "ref"),
)

authorizations = Table(
    "authorizations", metadata,
    _ws(),
    Column("patient_ins", String(15), nullable=False),
    Column("ps_id_nat", String(64), nullable=False),
    Column("status", String(10), nullable=False),  # VALIDE | EXPIRE | INTERDIT
    Column("is_mt", Boolean, nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("last_action_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime),
    PrimaryKeyConstraint("workspace", "patient_ins", "ps_id_nat"),
    _in_workspace(),
    Index(None, "workspace", "ps_id_nat"),
)

submission_sets = Table(
    "submission_sets", metadata,
    _ws(),
    Column("entry_uuid", String, nullable=False),
    Column("unique_id", String, nullable=False),
    Column("patient_ins", String(15), nullable=False),
    Column("submission_time", UtcDateTime, nullable=False),
    Column("source_id", String),
    Column("content_type_code", String),
    Column("title", String),
    Column("author", _json(), nullable=False),
    Column("submitter", String),
    Column("metadata_xml", Text, nullable=False),
    PrimaryKeyConstraint("workspace", "entry_uuid"),
    UniqueConstraint("workspace", "unique_id"),
    _in_workspace(),
    Index(None, "workspace", "patient_ins", "submission_time"),
)

document_entries = Table(
    "document_entries", metadata,
    _ws(),
    Column("entry_uuid", String, nullable=False),
    Column("lid", String, nullable=False),
    Column("version", Integer, nullable=False),
    Column("unique_id", String, nullable=False),
    Column("patient_ins", String(15), nullable=False),
    Column("status", String, nullable=False),
    Column("title", String),
    Column("confidentiality_codes", _json(), nullable=False),
    Column("type_code", String),
    Column("class_code", String),
    Column("format_code", String),
    Column("practice_setting", String),
    Column("facility_type", String),
    Column("event_codes", _json(), nullable=False),
    Column("creation_time", UtcDateTime),
    Column("service_start", UtcDateTime),
    Column("service_stop", UtcDateTime),
    Column("author_person_ids", _json(), nullable=False),
    Column("author_institution_ids", _json(), nullable=False),
    Column("legal_authenticator_id", String),
    Column("is_signature", Boolean, nullable=False),
    Column("mime_type", String, nullable=False),
    Column("hash", String(64)),
    Column("size", BigInteger),
    Column("submission_set_uuid", String),
    Column("submitted_at", UtcDateTime, nullable=False),
    Column("submitter", String),
    Column("reference_ids", _json(), nullable=False),
    Column("metadata_xml", Text, nullable=False),
    PrimaryKeyConstraint("workspace", "entry_uuid"),
    UniqueConstraint("workspace", "unique_id", "version"),
    UniqueConstraint("workspace", "lid", "version"),
    _in_workspace(),
    Index(None, "workspace", "patient_ins", "status", "creation_time"),
    Index(None, "workspace", "submission_set_uuid"),
)

# The multi-valued metadata of an entry, one row per value, so that filters on them are index lookups.
# kind: conf (confidentialityCode), event (eventCodeList), author (authorPerson idNat),
#       institution (authorInstitution idNat), ref (referenceIdList)
document_values = Table(
    "document_values", metadata,
    _ws(),
    Column("entry_uuid", String, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("value", String, nullable=False),
    PrimaryKeyConstraint("workspace", "entry_uuid", "kind", "value"),
    ForeignKeyConstraint(["workspace", "entry_uuid"], ["document_entries.workspace", "document_entries.entry_uuid"],
                         ondelete="CASCADE"),
    Index(None, "workspace", "kind", "value"),
)

document_contents = Table(
    "document_contents", metadata,
    _ws(),
    Column("unique_id", String, nullable=False),
    Column("content", LargeBinary, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("workspace", "unique_id"),
    _in_workspace(),
)

associations = Table(
    "associations", metadata,
    _ws(),
    Column("id", String, nullable=False),
    Column("type", String, nullable=False),
    Column("source", String, nullable=False),
    Column("target", String, nullable=False),
    Column("slots", _json(), nullable=False),
    Column("submission_set_uuid", String),
    Column("created_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("workspace", "id"),
    _in_workspace(),
    Index(None, "workspace", "source"),
    Index(None, "workspace", "target"),
)

exchanges = Table(
    "exchanges", metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    _ws(),
    Column("started_at", UtcDateTime, nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("service", String, nullable=False),
    Column("transaction", String),
    Column("action", String),
    Column("http_status", Integer, nullable=False),
    Column("request_content_type", String),
    Column("request", LargeBinary),
    Column("response_content_type", String),
    Column("response", LargeBinary),
    # how request and response are stored: NULL as sent, "zstd" compressed (see store.exchanges)
    Column("body_codec", String(8)),
    Column("principal", _json()),
    Column("patient_ins", String(15)),
    Column("professional", String(64)),
    Column("verdict", String(8)),
    Column("findings", _json(), nullable=False),
    _in_workspace(),
    Index(None, "workspace", "id"),
    Index(None, "workspace", "transaction", "id"),
    Index(None, "workspace", "verdict", "id"),
    Index(None, "workspace", "patient_ins", "id"),
    Index(None, "workspace", "professional", "id"),
    Index(None, "workspace", "started_at"),
    sqlite_autoincrement=True,  # ids never reused after a prune: live pollers rely on since_id
)

faults = Table(
    "faults", metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    _ws(),
    Column("transaction", String),  # NULL: any transaction
    Column("kind", String(32), nullable=False),
    Column("params", _json(), nullable=False),
    Column("remaining", Integer),  # NULL: until removed
    Column("patient_ins", String(15)),  # NULL: any patient
    Column("professional", String(64)),  # NULL: any caller
    Column("created_at", UtcDateTime, nullable=False),
    _in_workspace(),
    Index(None, "workspace", "transaction", "id"),
)

# INSi identities: the base the INSi replica answers from (one row per person, the RNIPP of the sandbox).
# ``birth_name_key`` is the birth name reduced to its letters (RNIV normalisation, then separators dropped), so
# that a trait search is one index lookup on (name key, birth date, sex); the finer comparison rules run on the
# few rows found. ``insured_nir`` / ``birth_rank`` are the Vitale card data (RECVITALE without a beneficiary NIR).
identities = Table(
    "identities", metadata,
    _ws(),
    Column("nir", String(13), nullable=False),
    Column("nir_key", String(2), nullable=False),
    Column("oid", String(64), nullable=False),
    Column("matricule_type", String(3), nullable=False),  # NIR | NIA
    Column("birth_name", String, nullable=False),
    Column("first_names", String, nullable=False),  # ListePrenom: birth first names, space-separated, in order
    Column("sex", String(1), nullable=False),
    Column("birth_date", String(10), nullable=False),  # DateLunaire, verbatim (YYYY-00-00 allowed)
    Column("birth_place", String(5)),
    Column("birth_name_key", String, nullable=False),
    Column("insured_nir", String(13)),
    Column("birth_rank", Integer),
    Column("has_history", Boolean, nullable=False),
    Column("source", String(16), nullable=False),  # population | cnda | api | bench
    Column("ref", String),  # the fixtures id (PAT-0000001) or the CNDA case
    PrimaryKeyConstraint("workspace", "nir"),
    _in_workspace(),
    Index(None, "workspace", "birth_name_key", "birth_date", "sex"),
    Index(None, "workspace", "insured_nir", "birth_date"),
)

# Earlier matricules of an identity (INSi INSHISTO), in the order INSi returns them.
identity_history = Table(
    "identity_history", metadata,
    _ws(),
    Column("identity_nir", String(13), nullable=False),
    Column("position", Integer, nullable=False),
    Column("nir", String(13), nullable=False),
    Column("nir_key", String(2), nullable=False),
    Column("oid", String(64), nullable=False),
    Column("matricule_type", String(3)),
    Column("date_start", String(10)),
    Column("date_end", String(10)),
    PrimaryKeyConstraint("workspace", "identity_nir", "position"),
    ForeignKeyConstraint(["workspace", "identity_nir"], ["identities.workspace", "identities.nir"],
                         ondelete="CASCADE"),
    Index(None, "workspace", "nir"),
)

# Results of `segur-sandbox conformance run`, kept for the console and the evidence pack. Not workspace data: a run
# spans the workspaces its cases prepare, and its evidence must survive a reset of any of them. ``report`` is the
# runner's JSON as text (large, read one run at a time, never queried into); ``summary`` holds the counts.
conformance_runs = Table(
    "conformance_runs", metadata,
    Column("id", String(128), primary_key=True),
    Column("plan", String(64), nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=False),
    Column("verdict", String(8), nullable=False),  # pass | fail
    Column("summary", _json(), nullable=False),
    Column("report", Text, nullable=False),
    Column("evidence_html", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index(None, "started_at"),
)

WORKSPACE_TABLES: tuple[Table, ...] = (
    identity_history, identities,
    document_values, document_contents, associations, document_entries, submission_sets,
    authorizations, patients, professionals, structures, exchanges, faults,
)
"""Every table holding workspace data, children first (the order ``reset`` deletes in)."""
