"""Typed XDS.b metadata: what ``parse`` reads from ebRIM and ``build`` writes back (dmp.md §3.2–3.5).

Values keep the wire form (timestamps as XDS DTM strings ``YYYYMMDDhhmmss``, people and patients as HL7 v2 XCN /
XON / CX strings) so that ``parse(build(x)) == x`` holds exactly; ``hl7v2`` splits them when a rule needs a part.
Optional single values are ``None`` when absent, repeated ones are empty tuples. Every object keeps the element it
was read from (``element``, excluded from equality) so a store can keep the submitted XML as is.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NamedTuple, Union

from lxml import etree

from . import constants as c

__all__ = [
    "Association", "Author", "Coded", "DocumentEntry", "RegistryObject", "RetrieveItem", "RetrievedDocument",
    "StoredQuery", "Submission", "SubmissionSet",
]


def _element_field() -> Any:
    return field(default=None, compare=False, repr=False, hash=False)


@dataclass(frozen=True, slots=True)
class Coded:
    """A classification code: ``nodeRepresentation``, ``codingScheme`` slot, ``Name`` (display)."""

    code: str
    scheme: str
    display: str = ""

    @property
    def pair(self) -> tuple[str, str]:
        return (self.code, self.scheme)


@dataclass(frozen=True, slots=True)
class Author:
    """One author classification. ``role`` and ``specialty`` are tuples: IHE lets each repeat."""

    person: str | None = None  # authorPerson (XCN), at most one
    institutions: tuple[str, ...] = ()  # authorInstitution (XON)
    role: tuple[str, ...] = ()  # authorRole
    specialty: tuple[str, ...] = ()  # authorSpecialty (code^label^OID)
    telecom: tuple[str, ...] = ()  # authorTelecommunication (XTN)


@dataclass(frozen=True)
class DocumentEntry:
    """An ``rim:ExtrinsicObject`` (XDSDocumentEntry).

    ``id`` is the entryUUID (``urn:uuid:…``) once registered, or the submitter's symbolic id (``DocumentME2``) in
    an ITI-41 request. ``hash``, ``size`` and ``repository_unique_id`` are set by the repository; ``status``,
    ``lid`` and ``version`` by the registry.
    """

    id: str
    unique_id: str | None = None
    patient_id: str | None = None
    mime_type: str | None = None
    lid: str | None = None
    status: str | None = None
    version: str | None = None  # rim:VersionInfo/@versionName
    object_type: str = c.STABLE_DOCUMENT_ENTRY
    source_patient_id: str | None = None
    source_patient_info: tuple[str, ...] = ()
    class_code: Coded | None = None
    type_code: Coded | None = None
    format_code: Coded | None = None
    practice_setting: Coded | None = None
    facility_type: Coded | None = None
    confidentiality: tuple[Coded, ...] = ()
    event_codes: tuple[Coded, ...] = ()
    creation_time: str | None = None
    service_start: str | None = None
    service_stop: str | None = None
    language: str | None = None
    legal_authenticator: str | None = None
    authors: tuple[Author, ...] = ()
    title: str | None = None
    comments: str | None = None
    hash: str | None = None
    size: int | None = None
    repository_unique_id: str | None = None
    reference_ids: tuple[str, ...] = ()
    element: etree._Element | None = _element_field()

    @property
    def entry_uuid(self) -> str | None:
        """The registry's entryUUID, or None while the id is still the submitter's symbolic one."""
        return None if self.is_symbolic else self.id

    @property
    def is_symbolic(self) -> bool:
        """True while the id is the submitter's own (not yet a registry entryUUID)."""
        return not self.id.startswith("urn:uuid:")

    @property
    def is_signature(self) -> bool:
        """The XAdES signature document of a submission (classCode Digital Signature, dmp.md §3.6)."""
        return self.class_code is not None and self.class_code.code == c.SIGNATURE_CLASS_CODE

    @property
    def confidentiality_codes(self) -> frozenset[str]:
        return frozenset(code.code for code in self.confidentiality)


@dataclass(frozen=True)
class SubmissionSet:
    """An ``rim:RegistryPackage`` classified as XDSSubmissionSet."""

    id: str
    unique_id: str | None = None
    source_id: str | None = None
    patient_id: str | None = None
    submission_time: str | None = None
    authors: tuple[Author, ...] = ()
    content_type: Coded | None = None
    title: str | None = None
    comments: str | None = None
    lid: str | None = None
    status: str | None = None
    version: str | None = None
    element: etree._Element | None = _element_field()


@dataclass(frozen=True)
class Association:
    """An ``rim:Association``; ``slots`` maps each slot name to its values (``SubmissionSetStatus`` …)."""

    id: str
    type: str
    source: str
    target: str
    slots: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    status: str | None = None
    element: etree._Element | None = _element_field()

    def __post_init__(self) -> None:
        object.__setattr__(self, "slots", MappingProxyType({k: tuple(v) for k, v in self.slots.items()}))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Association):
            return NotImplemented
        return ((self.id, self.type, self.source, self.target, dict(self.slots), self.status)
                == (other.id, other.type, other.source, other.target, dict(other.slots), other.status))

    def __hash__(self) -> int:
        return hash((self.id, self.type, self.source, self.target, self.status))

    def slot(self, name: str) -> str | None:
        """First value of slot ``name``, or None."""
        values = self.slots.get(name)
        return values[0] if values else None


RegistryObject = Union[DocumentEntry, SubmissionSet, Association]


@dataclass(frozen=True)
class Submission:
    """What a SubmitObjectsRequest carries: ITI-41 (with documents) or ITI-57 (metadata only).

    ``documents`` maps the id of a DocumentEntry to its raw bytes. ``warnings`` lists what was tolerated while
    parsing (e.g. a Document id that matched its entry only when case was ignored).
    """

    submission_set: SubmissionSet | None
    entries: tuple[DocumentEntry, ...] = ()
    associations: tuple[Association, ...] = ()
    documents: Mapping[str, bytes] = field(default_factory=dict)
    warnings: tuple[Any, ...] = ()  # XdsError with severity Warning

    def __post_init__(self) -> None:
        object.__setattr__(self, "documents", MappingProxyType(dict(self.documents)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Submission):
            return NotImplemented
        return ((self.submission_set, self.entries, self.associations, dict(self.documents))
                == (other.submission_set, other.entries, other.associations, dict(other.documents)))

    __hash__ = None  # type: ignore[assignment]

    def entry(self, entry_id: str) -> DocumentEntry | None:
        return next((entry for entry in self.entries if entry.id == entry_id), None)

    def associations_of_type(self, association_type: str) -> tuple[Association, ...]:
        return tuple(a for a in self.associations if a.type == association_type)

    @property
    def signature_entries(self) -> tuple[DocumentEntry, ...]:
        return tuple(entry for entry in self.entries if entry.is_signature)

    @property
    def clinical_entries(self) -> tuple[DocumentEntry, ...]:
        return tuple(entry for entry in self.entries if not entry.is_signature)

    @property
    def replacements(self) -> tuple[tuple[str, str], ...]:
        """``(new entry id, replaced entryUUID)`` of every RPLC association: the app checks each target."""
        return tuple((a.source, a.target) for a in self.associations if a.type == c.RPLC)


@dataclass(frozen=True)
class StoredQuery:
    """An ITI-18 ``AdhocQueryRequest``.

    ``groups`` keeps each slot as sent: one inner tuple per ``rim:Value`` element, each holding the values that
    element listed. IHE gives several Value elements AND semantics for ``$XDSDocumentEntryEventCodeList`` and
    ``$XDSDocumentEntryConfidentialityCode`` and OR semantics everywhere else; ``params`` flattens them.
    """

    query_id: str
    name: str
    return_type: str = "LeafClass"
    groups: Mapping[str, tuple[tuple[str, ...], ...]] = field(default_factory=dict)
    home_community_id: str | None = None
    element: etree._Element | None = _element_field()

    def __post_init__(self) -> None:
        object.__setattr__(self, "groups", MappingProxyType(
            {name: tuple(tuple(group) for group in groups) for name, groups in self.groups.items()}))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StoredQuery):
            return NotImplemented
        return ((self.query_id, self.name, self.return_type, dict(self.groups), self.home_community_id)
                == (other.query_id, other.name, other.return_type, dict(other.groups), other.home_community_id))

    __hash__ = None  # type: ignore[assignment]

    @property
    def params(self) -> dict[str, list[str]]:
        """Every value of every slot, Value elements flattened (OR semantics)."""
        return {name: [value for group in groups for value in group] for name, groups in self.groups.items()}

    @classmethod
    def of(cls, name: str, params: Mapping[str, str | Sequence[str] | Sequence[Sequence[str]]], *,
           return_type: str = "LeafClass", home_community_id: str | None = None) -> StoredQuery:
        """Build a query by name: a value is one string, a list (one Value element) or a list of lists."""
        groups: dict[str, tuple[tuple[str, ...], ...]] = {}
        for key, value in params.items():
            if isinstance(value, str):
                groups[key] = ((value,),)
            elif value and all(not isinstance(item, str) for item in value):
                groups[key] = tuple(tuple(group) for group in value)  # type: ignore[arg-type]
            else:
                groups[key] = (tuple(value),)  # type: ignore[arg-type]
        return cls(c.STORED_QUERY_IDS[name], name, return_type, groups, home_community_id)


class RetrieveItem(NamedTuple):
    """One ITI-43 ``DocumentRequest``."""

    repository_unique_id: str
    document_unique_id: str
    home_community_id: str | None = None


class RetrievedDocument(NamedTuple):
    """One ITI-43 ``DocumentResponse`` as a client reads it back."""

    repository_unique_id: str
    document_unique_id: str
    mime_type: str
    content: bytes
    home_community_id: str | None = None
