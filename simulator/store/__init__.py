"""The sandbox state: SQLite by default, PostgreSQL for an instance shared by several workers.

    store = Store("sqlite:///.sandbox/sandbox.db")          # or "postgresql://user@host/db"
    with store.transaction() as tx:                         # one unit of work, committed at the end
        tx.workspaces.ensure("team-a")
        status = tx.authorizations.status("team-a", ins, ps_id_nat, now)

Every repository call takes the workspace; results are frozen dataclasses; errors are ``StoreError``s.
"""
from __future__ import annotations

from ._common import DEFAULT_WORKSPACE, UNSET, check_workspace_id
from .authorizations import (
    Authorization,
    AuthorizationRepository,
    AuthorizationStatus,
    DateType,
    ListMode,
    ProfessionalPatient,
)
from .controls import FAULT_KINDS, ControlRepository, Fault, FaultKind
from .db import MIGRATIONS, Store, UnitOfWork, make_engine, normalise_url, sqlite_url
from .directory import DirectoryRepository, Professional, Structure
from .documents import (
    APPROVED,
    ARCHIVED,
    DELETED,
    DEPRECATED,
    DOCUMENT_STATUSES,
    HAS_MEMBER,
    REPLACING_TYPES,
    RPLC,
    SIGNS,
    UPDATE_AVAILABILITY_STATUS,
    XFRM_RPLC,
    Association,
    DocumentEntry,
    DocumentQuery,
    DocumentRepository,
    StatusChange,
    Submission,
    SubmissionSet,
    UpdateResult,
    VersionUpdate,
    digest,
)
from .errors import (
    AuthorizationNotFound,
    DmpStateConflict,
    DocumentNotFound,
    DuplicateEntryUuid,
    DuplicateUniqueId,
    InvalidWorkspaceId,
    MetadataUpdateError,
    PatientMismatch,
    PatientNotFound,
    ProtectedWorkspace,
    SchemaError,
    StatusConflict,
    StoreError,
    VersionConflict,
    WorkspaceExists,
    WorkspaceNotFound,
)
from .exchanges import VERDICTS, Exchange, ExchangeRepository, Finding, PreparedExchange, Verdict
from .identities import HistoricMatricule, Identity, IdentityRepository, name_key
from .models import SCHEMA_VERSION
from .patients import DMP_STATES, DmpState, Patient, PatientRepository
from .workspaces import CallState, Workspace, WorkspaceCounts, WorkspaceRepository

__all__ = [
    # db
    "Store", "UnitOfWork", "make_engine", "normalise_url", "sqlite_url", "SCHEMA_VERSION", "MIGRATIONS",
    # workspaces
    "DEFAULT_WORKSPACE", "CallState", "Workspace", "WorkspaceCounts", "WorkspaceRepository", "check_workspace_id",
    "UNSET",
    # patients, directory, authorizations
    "Patient", "PatientRepository", "DmpState", "DMP_STATES",
    "Professional", "Structure", "DirectoryRepository",
    "Authorization", "AuthorizationRepository", "AuthorizationStatus", "ListMode", "DateType",
    "ProfessionalPatient",
    # documents
    "DocumentEntry", "SubmissionSet", "Association", "Submission", "VersionUpdate", "StatusChange",
    "UpdateResult", "DocumentQuery", "DocumentRepository", "digest",
    "APPROVED", "DEPRECATED", "ARCHIVED", "DELETED", "DOCUMENT_STATUSES",
    "HAS_MEMBER", "RPLC", "XFRM_RPLC", "SIGNS", "UPDATE_AVAILABILITY_STATUS", "REPLACING_TYPES",
    # exchanges, controls
    "Exchange", "Finding", "Verdict", "VERDICTS", "ExchangeRepository", "PreparedExchange",
    "Fault", "FaultKind", "FAULT_KINDS", "ControlRepository",
    # INSi identities
    "Identity", "HistoricMatricule", "IdentityRepository", "name_key",
    # errors
    "StoreError", "SchemaError", "InvalidWorkspaceId", "WorkspaceNotFound", "WorkspaceExists",
    "ProtectedWorkspace", "PatientNotFound", "DmpStateConflict", "AuthorizationNotFound", "DocumentNotFound",
    "DuplicateUniqueId", "DuplicateEntryUuid", "StatusConflict", "VersionConflict", "MetadataUpdateError",
    "PatientMismatch",
]
