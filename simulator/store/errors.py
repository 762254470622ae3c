"""Typed errors of the store: the caller turns each into its service's own answer.

``xds_code`` is the IHE/XDS error code a registry would most likely answer, set where the error is raised
(the same conflict means a different code in ITI-41 and in ITI-57); handlers may choose differently.
"""
from __future__ import annotations


class StoreError(Exception):
    """Base of every error the store raises on purpose."""

    xds_code: str | None = None


class SchemaError(StoreError):
    """The database holds a schema this code cannot use (e.g. written by a newer version)."""


class InvalidWorkspaceId(StoreError, ValueError):
    def __init__(self, workspace: str) -> None:
        super().__init__(f"invalid workspace id {workspace!r}: expected 1 to 64 of [a-z0-9-]")
        self.workspace = workspace


class WorkspaceNotFound(StoreError, LookupError):
    def __init__(self, workspace: str) -> None:
        super().__init__(f"no workspace {workspace!r}")
        self.workspace = workspace


class WorkspaceExists(StoreError):
    def __init__(self, workspace: str) -> None:
        super().__init__(f"workspace {workspace!r} already exists")
        self.workspace = workspace


class ProtectedWorkspace(StoreError):
    def __init__(self, workspace: str) -> None:
        super().__init__(f"workspace {workspace!r} always exists: reset it instead of deleting it")
        self.workspace = workspace


class PatientNotFound(StoreError, LookupError):
    xds_code = "XDSUnknownPatientId"

    def __init__(self, ins: str) -> None:
        super().__init__(f"no patient with INS {ins!r}")
        self.ins = ins


class DmpStateConflict(StoreError):
    """A compare-and-set on the DMP state found another state (e.g. creating a DMP that exists)."""

    def __init__(self, ins: str, expected: str, actual: str) -> None:
        super().__init__(f"DMP of {ins!r} is {actual}, expected {expected}")
        self.ins, self.expected, self.actual = ins, expected, actual


class AuthorizationNotFound(StoreError, LookupError):
    def __init__(self, patient_ins: str, ps_id_nat: str) -> None:
        super().__init__(f"no authorization of {ps_id_nat!r} on {patient_ins!r}")
        self.patient_ins, self.ps_id_nat = patient_ins, ps_id_nat


class DocumentNotFound(StoreError, LookupError):
    """A referenced registry object (entryUUID or logical id) does not exist in the workspace."""

    xds_code = "UnresolvedReferenceException"

    def __init__(self, reference: str) -> None:
        super().__init__(f"no registry object {reference!r}")
        self.reference = reference


class DuplicateUniqueId(StoreError):
    """uniqueIds already registered (``in_message=False``) or repeated within the submission."""

    def __init__(self, unique_ids: tuple[str, ...], *, in_message: bool = False) -> None:
        where = "in the submission" if in_message else "in the registry"
        super().__init__(f"uniqueId already {where}: {', '.join(unique_ids)}")
        self.unique_ids = unique_ids
        self.in_message = in_message
        self.xds_code = ("XDSRegistryDuplicateUniqueIdInMessage" if in_message
                         else "XDSDuplicateUniqueIdInRegistry")


class DuplicateEntryUuid(StoreError):
    """entryUUIDs (documents, submission sets, associations) already used, or repeated in the submission."""

    xds_code = "XDSRegistryMetadataError"

    def __init__(self, entry_uuids: tuple[str, ...]) -> None:
        super().__init__(f"entryUUID already used: {', '.join(entry_uuids)}")
        self.entry_uuids = entry_uuids


class StatusConflict(StoreError):
    """A compare-and-set of a document's availability status found another status."""

    def __init__(self, entry_uuid: str, expected: str, actual: str, *, xds_code: str | None = None) -> None:
        super().__init__(f"{entry_uuid} is {actual}, expected {expected}")
        self.entry_uuid, self.expected, self.actual = entry_uuid, expected, actual
        self.xds_code = xds_code or "XDSMetadataUpdateError"


class VersionConflict(StoreError):
    """ITI-57: the PreviousVersion given is not the latest version of the logical document."""

    xds_code = "XDSMetadataVersionError"

    def __init__(self, lid: str, expected: int, actual: int) -> None:
        super().__init__(f"{lid}: latest version is {actual}, the update names {expected}")
        self.lid, self.expected, self.actual = lid, expected, actual


class MetadataUpdateError(StoreError):
    """ITI-57: the new version changes what a metadata update may not change (uniqueId, patient)."""

    xds_code = "XDSMetadataUpdateError"


class PatientMismatch(StoreError):
    """A replacement or update names a document of another patient."""

    xds_code = "XDSPatientIdDoesNotMatch"

    def __init__(self, reference: str, expected: str, actual: str) -> None:
        super().__init__(f"{reference} belongs to patient {actual}, not {expected}")
        self.reference, self.expected, self.actual = reference, expected, actual
