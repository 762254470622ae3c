"""XDS errors: what becomes an ``rs:RegistryError`` (dmp.md §3.8).

``XdsError`` is both a value (validation returns lists of them) and an exception (parsing raises one). When a
parser finds several problems at once it raises ``XdsErrors``, itself an ``XdsError`` whose ``errors`` holds
them all, so one ``except XdsError as exc: registry_response(exc.errors)`` covers both cases.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from . import constants as c

Severity = Literal["Error", "Warning"]

# IHE XDS error codes the DMP emits (dmp.md §3.8, IPF enum)
XDS_MISSING_DOCUMENT = "XDSMissingDocument"
XDS_MISSING_DOCUMENT_METADATA = "XDSMissingDocumentMetadata"
XDS_REGISTRY_ERROR = "XDSRegistryError"
XDS_REPOSITORY_ERROR = "XDSRepositoryError"
XDS_REGISTRY_DUPLICATE_UNIQUE_ID_IN_MESSAGE = "XDSRegistryDuplicateUniqueIdInMessage"
XDS_REPOSITORY_DUPLICATE_UNIQUE_ID_IN_MESSAGE = "XDSRepositoryDuplicateUniqueIdInMessage"
XDS_DUPLICATE_UNIQUE_ID_IN_REGISTRY = "XDSDuplicateUniqueIdInRegistry"
XDS_NON_IDENTICAL_HASH = "XDSNonIdenticalHash"
XDS_REGISTRY_METADATA_ERROR = "XDSRegistryMetadataError"
XDS_REPOSITORY_METADATA_ERROR = "XDSRepositoryMetadataError"
XDS_TOO_MANY_RESULTS = "XDSTooManyResults"
XDS_UNKNOWN_PATIENT_ID = "XDSUnknownPatientId"
XDS_PATIENT_ID_DOES_NOT_MATCH = "XDSPatientIdDoesNotMatch"
XDS_UNKNOWN_STORED_QUERY = "XDSUnknownStoredQuery"
XDS_STORED_QUERY_MISSING_PARAM = "XDSStoredQueryMissingParam"
XDS_STORED_QUERY_PARAM_NUMBER = "XDSStoredQueryParamNumber"
XDS_REGISTRY_DEPRECATED_DOCUMENT_ERROR = "XDSRegistryDeprecatedDocumentError"
XDS_UNKNOWN_REPOSITORY_ID = "XDSUnknownRepositoryId"
XDS_DOCUMENT_UNIQUE_ID_ERROR = "XDSDocumentUniqueIdError"
XDS_RESULT_NOT_SINGLE_PATIENT = "XDSResultNotSinglePatient"
UNRESOLVED_REFERENCE_EXCEPTION = "UnresolvedReferenceException"


class XdsError(Exception):
    """One RegistryError: ``code`` (errorCode), ``context`` (codeContext), ``location``, ``severity``."""

    def __init__(self, code: str, context: str, location: str | None = None, severity: Severity = "Error") -> None:
        severity = _short_severity(severity)
        super().__init__(f"{code}: {context}" + (f" (at {location})" if location else ""))
        self.code = code
        self.context = context
        self.location = location
        self.severity: Severity = severity

    @property
    def errors(self) -> tuple[XdsError, ...]:
        """Every error this exception stands for (just itself, for a single error)."""
        return (self,)

    @property
    def is_error(self) -> bool:
        return self.severity == "Error"

    @property
    def severity_urn(self) -> str:
        return c.SEVERITY_ERROR if self.severity == "Error" else c.SEVERITY_WARNING

    def _key(self) -> tuple[str, str, str | None, str]:
        return (self.code, self.context, self.location, self.severity)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, XdsError):
            return NotImplemented
        return [e._key() for e in self.errors] == [e._key() for e in other.errors]

    def __hash__(self) -> int:
        return hash(tuple(e._key() for e in self.errors))

    def __repr__(self) -> str:
        return (f"XdsError({self.code!r}, {self.context!r}, location={self.location!r}, "
                f"severity={self.severity!r})")


class XdsErrors(XdsError):
    """Several errors raised together; reads as the first one, ``errors`` lists them all."""

    def __init__(self, errors: Iterable[XdsError]) -> None:
        flat = tuple(inner for error in errors for inner in error.errors)
        if not flat:
            raise ValueError("XdsErrors needs at least one error")
        first = flat[0]
        super().__init__(first.code, first.context, first.location, first.severity)
        self._errors = flat
        self.args = ("; ".join(str(error) for error in flat),)

    @property
    def errors(self) -> tuple[XdsError, ...]:
        return self._errors

    def __repr__(self) -> str:
        return f"XdsErrors({list(self._errors)!r})"


def raise_if_errors(errors: Iterable[XdsError]) -> None:
    """Raise the collected problems whose severity is Error (one ``XdsError``, or ``XdsErrors`` for several)."""
    fatal = [error for error in errors if error.is_error]
    if len(fatal) == 1:
        raise fatal[0]
    if fatal:
        raise XdsErrors(fatal)


def has_errors(errors: Iterable[XdsError]) -> bool:
    return any(error.is_error for error in errors)


def _short_severity(severity: str) -> Severity:
    if severity in ("Error", c.SEVERITY_ERROR):
        return "Error"
    if severity in ("Warning", c.SEVERITY_WARNING):
        return "Warning"
    raise ValueError(f"severity must be Error or Warning, not {severity!r}")
