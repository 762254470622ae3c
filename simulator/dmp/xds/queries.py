"""The ITI-18 stored queries the DMP answers, their parameters, and their typed form (dmp.md §1.9).

``to_query_spec(query)`` checks a parsed ``StoredQuery`` against the catalogue (required parameters, single vs
multiple values, value formats) and returns a ``QuerySpec`` the app hands to the store. ``entry_matches`` and
``submission_set_matches`` apply a spec's filters to one object, with IHE's semantics, for in-memory stores and
tests.

Parameter semantics (IHE ITI TF-2a §3.18.4.1.2.3): several values of one parameter are ORed, except for
``$XDSDocumentEntryEventCodeList`` and ``$XDSDocumentEntryConfidentialityCode`` where each ``rim:Value`` element is
an OR-list and the lists are ANDed. ``…From`` bounds are inclusive, ``…To`` bounds exclusive. Codes are written
``code^^codingScheme``; author names are SQL LIKE patterns (``%`` any run, ``_`` one character).
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta, timezone
from types import MappingProxyType
from typing import Literal

from . import constants as c
from .errors import (XDS_REGISTRY_ERROR, XDS_STORED_QUERY_MISSING_PARAM, XDS_STORED_QUERY_PARAM_NUMBER,
                     XDS_UNKNOWN_PATIENT_ID, XDS_UNKNOWN_STORED_QUERY, XdsError, raise_if_errors)
from .hl7v2 import parse_cx
from .model import DocumentEntry, StoredQuery, SubmissionSet

__all__ = [
    "DMP_SUPPORTED_QUERIES", "STORED_QUERIES", "CodeFilter", "Parameter", "PatientId", "QueryDefinition",
    "QuerySpec", "TimeRange", "entry_matches", "parse_dtm", "submission_set_matches", "to_query_spec",
]

Kind = Literal["patient", "status", "code", "time", "author", "string", "uuid", "number", "object_type"]


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str
    kind: Kind
    required: bool = False
    multiple: bool = False
    and_or: bool = False  # each rim:Value is an OR-list, Value elements are ANDed


@dataclass(frozen=True)
class QueryDefinition:
    name: str
    parameters: tuple[Parameter, ...]
    # exactly one parameter of each group must be given (e.g. GetDocuments: entryUUID or uniqueId)
    one_of: tuple[tuple[str, ...], ...] = ()

    @property
    def query_id(self) -> str:
        return c.STORED_QUERY_IDS[self.name]

    def parameter(self, name: str) -> Parameter | None:
        return next((p for p in self.parameters if p.name == name), None)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters if p.required)


def _p(name: str, kind: Kind, flags: str = "") -> Parameter:
    return Parameter(name, kind, required="R" in flags, multiple="M" in flags, and_or="A" in flags)


_DE = "$XDSDocumentEntry"
_DOCUMENT_FILTERS = (
    _p(f"{_DE}PatientId", "patient", "R"),
    _p(f"{_DE}ClassCode", "code", "M"),
    _p(f"{_DE}TypeCode", "code", "M"),
    _p(f"{_DE}PracticeSettingCode", "code", "M"),
    _p(f"{_DE}CreationTimeFrom", "time"),
    _p(f"{_DE}CreationTimeTo", "time"),
    _p(f"{_DE}ServiceStartTimeFrom", "time"),
    _p(f"{_DE}ServiceStartTimeTo", "time"),
    _p(f"{_DE}ServiceStopTimeFrom", "time"),
    _p(f"{_DE}ServiceStopTimeTo", "time"),
    _p(f"{_DE}HealthcareFacilityTypeCode", "code", "M"),
    _p(f"{_DE}EventCodeList", "code", "MA"),
    _p(f"{_DE}ConfidentialityCode", "code", "MA"),
    _p(f"{_DE}AuthorPerson", "author", "M"),
    _p(f"{_DE}FormatCode", "code", "M"),
    _p(f"{_DE}Status", "status", "RM"),
    _p(f"{_DE}Type", "object_type", "M"),
)
_HOME = _p("$homeCommunityId", "string")
_LEVEL = _p("$MetadataLevel", "number")

STORED_QUERIES: Mapping[str, QueryDefinition] = MappingProxyType({
    definition.name: definition for definition in (
        QueryDefinition("FindDocuments", _DOCUMENT_FILTERS + (_LEVEL,)),
        QueryDefinition("FindDocumentsByReferenceId",
                        _DOCUMENT_FILTERS + (_p(f"{_DE}ReferenceIdList", "string", "RM"), _LEVEL)),
        QueryDefinition("FindSubmissionSets", (
            _p("$XDSSubmissionSetPatientId", "patient", "R"),
            _p("$XDSSubmissionSetSourceId", "string", "M"),
            _p("$XDSSubmissionSetSubmissionTimeFrom", "time"),
            _p("$XDSSubmissionSetSubmissionTimeTo", "time"),
            _p("$XDSSubmissionSetAuthorPerson", "author"),
            _p("$XDSSubmissionSetContentType", "code", "M"),
            _p("$XDSSubmissionSetStatus", "status", "RM"),
        )),
        QueryDefinition("GetDocuments", (
            _p(f"{_DE}EntryUUID", "uuid", "M"), _p(f"{_DE}UniqueId", "string", "M"),
            _p(f"{_DE}LogicalID", "uuid", "M"), _HOME, _LEVEL,
        ), one_of=((f"{_DE}EntryUUID", f"{_DE}UniqueId", f"{_DE}LogicalID"),)),
        QueryDefinition("GetAssociations", (_p("$uuid", "uuid", "RM"), _HOME, _LEVEL)),
        QueryDefinition("GetSubmissionSets", (_p("$uuid", "uuid", "RM"), _HOME, _LEVEL)),
        QueryDefinition("GetSubmissionSetAndContents", (
            _p("$XDSSubmissionSetEntryUUID", "uuid"), _p("$XDSSubmissionSetUniqueId", "string"),
            _p(f"{_DE}FormatCode", "code", "M"), _p(f"{_DE}ConfidentialityCode", "code", "MA"),
            _p(f"{_DE}Type", "object_type", "M"), _HOME, _LEVEL,
        ), one_of=(("$XDSSubmissionSetEntryUUID", "$XDSSubmissionSetUniqueId"),)),
        QueryDefinition("GetRelatedDocuments", (
            _p(f"{_DE}EntryUUID", "uuid"), _p(f"{_DE}UniqueId", "string"),
            _p("$AssociationTypes", "string", "RM"), _p(f"{_DE}Type", "object_type", "M"), _HOME, _LEVEL,
        ), one_of=((f"{_DE}EntryUUID", f"{_DE}UniqueId"),)),
    )
})

# What the DMP answers (dmp.md §1.9, §7.7). GetSubmissionSets is defined above but off by default: pass
# ``supported=`` to enable it. Folder queries are not defined at all: the DMP has no folders.
DMP_SUPPORTED_QUERIES = frozenset({
    "FindDocuments", "FindSubmissionSets", "GetDocuments", "GetAssociations", "GetSubmissionSetAndContents",
    "GetRelatedDocuments", "FindDocumentsByReferenceId",
})


@dataclass(frozen=True, slots=True)
class PatientId:
    ins: str
    oid: str
    cx: str  # as sent

    def matches(self, value: str | None) -> bool:
        other = parse_cx(value)
        return other is not None and other.key == (self.ins, self.oid)


@dataclass(frozen=True, slots=True)
class TimeRange:
    start: datetime | None = None  # inclusive
    end: datetime | None = None  # exclusive

    def contains(self, moment: datetime | None) -> bool:
        if moment is None:
            return False
        return (self.start is None or moment >= self.start) and (self.end is None or moment < self.end)


CodeFilter = tuple[str, str | None]  # (code, codingScheme or None when the value had no scheme)


@dataclass(frozen=True)
class QuerySpec:
    """A validated stored query; empty fields mean "no filter"."""

    name: str
    query_id: str
    return_type: str = "LeafClass"
    patient: PatientId | None = None
    statuses: frozenset[str] = frozenset()
    class_codes: tuple[CodeFilter, ...] = ()
    type_codes: tuple[CodeFilter, ...] = ()
    practice_setting_codes: tuple[CodeFilter, ...] = ()
    facility_type_codes: tuple[CodeFilter, ...] = ()
    format_codes: tuple[CodeFilter, ...] = ()
    event_codes: tuple[tuple[CodeFilter, ...], ...] = ()  # AND of OR-lists
    confidentiality_codes: tuple[tuple[CodeFilter, ...], ...] = ()  # AND of OR-lists
    creation_time: TimeRange | None = None
    service_start_time: TimeRange | None = None
    service_stop_time: TimeRange | None = None
    submission_time: TimeRange | None = None
    author_persons: tuple[str, ...] = ()  # LIKE patterns, ORed
    document_types: tuple[str, ...] = ()  # objectType (stable / on-demand)
    reference_ids: tuple[str, ...] = ()
    source_ids: tuple[str, ...] = ()
    content_type_codes: tuple[CodeFilter, ...] = ()
    entry_uuids: tuple[str, ...] = ()
    unique_ids: tuple[str, ...] = ()
    logical_ids: tuple[str, ...] = ()
    submission_set_uuid: str | None = None
    submission_set_unique_id: str | None = None
    uuids: tuple[str, ...] = ()  # GetAssociations / GetSubmissionSets $uuid
    association_types: tuple[str, ...] = ()
    home_community_id: str | None = None
    metadata_level: int | None = None
    warnings: tuple[XdsError, ...] = field(default=(), compare=False)


# parameter name → QuerySpec field
_FIELDS = {
    "$XDSDocumentEntryPatientId": "patient", "$XDSSubmissionSetPatientId": "patient",
    "$XDSDocumentEntryStatus": "statuses", "$XDSSubmissionSetStatus": "statuses",
    "$XDSDocumentEntryClassCode": "class_codes", "$XDSDocumentEntryTypeCode": "type_codes",
    "$XDSDocumentEntryPracticeSettingCode": "practice_setting_codes",
    "$XDSDocumentEntryHealthcareFacilityTypeCode": "facility_type_codes",
    "$XDSDocumentEntryFormatCode": "format_codes", "$XDSDocumentEntryEventCodeList": "event_codes",
    "$XDSDocumentEntryConfidentialityCode": "confidentiality_codes",
    "$XDSDocumentEntryAuthorPerson": "author_persons", "$XDSSubmissionSetAuthorPerson": "author_persons",
    "$XDSDocumentEntryType": "document_types", "$XDSDocumentEntryReferenceIdList": "reference_ids",
    "$XDSSubmissionSetSourceId": "source_ids", "$XDSSubmissionSetContentType": "content_type_codes",
    "$XDSDocumentEntryEntryUUID": "entry_uuids", "$XDSDocumentEntryUniqueId": "unique_ids",
    "$XDSDocumentEntryLogicalID": "logical_ids", "$XDSSubmissionSetEntryUUID": "submission_set_uuid",
    "$XDSSubmissionSetUniqueId": "submission_set_unique_id", "$uuid": "uuids",
    "$AssociationTypes": "association_types", "$homeCommunityId": "home_community_id",
    "$MetadataLevel": "metadata_level",
}
_TUPLE_FIELDS = frozenset(f.name for f in fields(QuerySpec) if isinstance(f.default, tuple))
_RANGES = {
    "CreationTime": "creation_time", "ServiceStartTime": "service_start_time", "ServiceStopTime": "service_stop_time",
    "SubmissionTime": "submission_time",
}
_DTM = re.compile(r"^([0-9]{4})([0-9]{2})?([0-9]{2})?([0-9]{2})?([0-9]{2})?([0-9]{2})?$")


def parse_dtm(value: str | None) -> datetime | None:
    """An XDS DTM (UTC, ``YYYY[MM[DD[hh[mm[ss]]]]]``) as an aware UTC datetime at the start of its precision;
    None for anything else (a time zone offset is read and applied if present)."""
    if not value:
        return None
    text = value.strip()
    offset = None
    zone = re.search(r"([+-])([0-9]{2})([0-9]{2})$", text)
    if zone and len(text) > 8:
        offset, text = zone, text[: zone.start()]
    match = _DTM.match(text)
    if not match or (len(text) % 2):
        return None
    year, month, day, hour, minute, second = (int(part) if part else None for part in match.groups())
    try:
        moment = datetime(year, month or 1, day or 1, hour or 0, minute or 0, second or 0,  # type: ignore[arg-type]
                          tzinfo=timezone.utc)
    except ValueError:
        return None
    if offset:
        sign = 1 if offset.group(1) == "+" else -1
        moment -= sign * timedelta(hours=int(offset.group(2)), minutes=int(offset.group(3)))
    return moment


def to_query_spec(query: StoredQuery, *, supported: Iterable[str] = DMP_SUPPORTED_QUERIES,
                  patient_oids: Iterable[str] | None = c.INS_OIDS) -> QuerySpec:
    """Validate ``query`` against the catalogue and type its parameters; raises ``XdsError`` / ``XdsErrors``.

    Missing required parameter → XDSStoredQueryMissingParam; several values for a single-valued parameter, or
    more than one of an exclusive group (GetDocuments by entryUUID *and* uniqueId) → XDSStoredQueryParamNumber;
    malformed value → XDSRegistryError; patient id outside ``patient_oids`` (the INS authorities; None = any)
    → XDSUnknownPatientId. Parameters the query does not define are ignored with a Warning in ``warnings``.
    """
    definition = STORED_QUERIES.get(query.name)
    if definition is None or query.name not in set(supported):
        raise XdsError(XDS_UNKNOWN_STORED_QUERY, f"stored query {query.name} ({query.query_id}) is not supported by "
                       "the DMP", query.query_id)
    errors: list[XdsError] = []
    warnings: list[XdsError] = []
    values: dict[str, object] = {}
    given = {name: groups for name, groups in query.groups.items() if any(group for group in groups)}
    for name in given:
        if definition.parameter(name) is None:
            warnings.append(XdsError(XDS_REGISTRY_ERROR, f"parameter {name} is not defined for {query.name}; it was "
                                     "ignored", name, "Warning"))
    for parameter in definition.parameters:
        groups = given.get(parameter.name)
        if not groups:
            if parameter.required:
                errors.append(XdsError(XDS_STORED_QUERY_MISSING_PARAM, f"{query.name} requires the parameter "
                                       f"{parameter.name}", parameter.name))
            continue
        flat = [value for group in groups for value in group]
        if not parameter.multiple and len(flat) > 1:
            errors.append(XdsError(XDS_STORED_QUERY_PARAM_NUMBER, f"{parameter.name} takes a single value, "
                                   f"{len(flat)} were given", parameter.name))
            continue
        try:
            values[parameter.name] = _convert(parameter, groups, patient_oids)
        except XdsError as exc:
            errors.extend(exc.errors)
    for group in definition.one_of:
        present = [name for name in group if name in given]
        if len(present) > 1:
            errors.append(XdsError(XDS_STORED_QUERY_PARAM_NUMBER, f"{query.name} takes only one of "
                                   f"{', '.join(group)}; {' and '.join(present)} were given", present[1]))
        elif not present:
            errors.append(XdsError(XDS_STORED_QUERY_MISSING_PARAM, f"{query.name} requires one of "
                                   f"{', '.join(group)}", group[0]))
    raise_if_errors(errors)

    typed: dict[str, object] = {}
    for name, value in values.items():
        for suffix, range_field in _RANGES.items():
            if name.endswith(f"{suffix}From") or name.endswith(f"{suffix}To"):
                current = typed.get(range_field) or TimeRange()
                is_from = name.endswith("From")
                typed[range_field] = TimeRange(value if is_from else current.start,  # type: ignore[union-attr]
                                                current.end if is_from else value)  # type: ignore[union-attr,arg-type]
                break
        else:
            target = _FIELDS[name]
            typed[target] = (value,) if target in _TUPLE_FIELDS and isinstance(value, str) else value
    return QuerySpec(name=query.name, query_id=query.query_id, return_type=query.return_type,
                     warnings=tuple(warnings), **typed)  # type: ignore[arg-type]


def _convert(parameter: Parameter, groups: tuple[tuple[str, ...], ...], patient_oids: Iterable[str] | None
             ) -> object:
    flat = [value for group in groups for value in group]
    name = parameter.name
    if parameter.kind == "patient":
        cx = parse_cx(flat[0])
        if cx is None:
            raise XdsError(XDS_REGISTRY_ERROR, f"{name} must be a CX 'id^^^&oid&ISO^NH', found {flat[0]!r}", name)
        if patient_oids is not None and cx.oid not in set(patient_oids):
            raise XdsError(XDS_UNKNOWN_PATIENT_ID, f"{name} {flat[0]!r} is not an INS: its assigning authority "
                           f"{cx.oid} is none of {', '.join(sorted(patient_oids))}", name)
        return PatientId(cx.id, cx.oid, flat[0])
    if parameter.kind == "time":
        moment = parse_dtm(flat[0])
        if moment is None:
            raise XdsError(XDS_REGISTRY_ERROR, f"{name} must be a UTC time YYYYMMDD[hhmm[ss]], found {flat[0]!r}",
                           name)
        return moment
    if parameter.kind == "number":
        if not flat[0].isdigit():
            raise XdsError(XDS_REGISTRY_ERROR, f"{name} must be a number, found {flat[0]!r}", name)
        return int(flat[0])
    if parameter.kind == "code":
        converted = tuple(tuple(_code(name, value) for value in group) for group in groups if group)
        return converted if parameter.and_or else tuple(code for group in converted for code in group)
    if parameter.kind == "status":
        for value in flat:
            if ":" not in value:
                raise XdsError(XDS_REGISTRY_ERROR, f"{name}: {value!r} is not a status URN such as "
                               f"{c.STATUS_APPROVED}", name)
        return frozenset(flat)
    if parameter.kind == "object_type":
        for value in flat:
            if value not in (c.STABLE_DOCUMENT_ENTRY, c.ON_DEMAND_DOCUMENT_ENTRY):
                raise XdsError(XDS_REGISTRY_ERROR, f"{name}: {value!r} is not a DocumentEntry objectType", name)
        return tuple(flat)
    if not all(flat):
        raise XdsError(XDS_REGISTRY_ERROR, f"{name} has an empty value", name)
    return tuple(flat) if parameter.multiple else flat[0]


def _code(name: str, value: str) -> CodeFilter:
    code, _, scheme = value.partition("^^")
    if not code or "^" in code:
        raise XdsError(XDS_REGISTRY_ERROR, f"{name}: {value!r} is not a code 'code^^codingScheme'", name)
    return (code, scheme or None)


# --- applying a spec --------------------------------------------------------------------------------------------------

def _code_in(code, filters: Iterable[CodeFilter]) -> bool:  # type: ignore[no-untyped-def]
    return code is not None and any(code.code == wanted and (scheme is None or code.scheme == scheme)
                                    for wanted, scheme in filters)


def _like(pattern: str, value: str | None) -> bool:
    if value is None:
        return False
    regex = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, value, re.DOTALL) is not None


def entry_matches(spec: QuerySpec, entry: DocumentEntry) -> bool:
    """Whether ``entry`` passes the DocumentEntry filters of ``spec`` (FindDocuments, FindDocumentsByReferenceId,
    and the format/confidentiality/type filters of GetSubmissionSetAndContents)."""
    if spec.patient is not None and not spec.patient.matches(entry.patient_id):
        return False
    if spec.statuses and entry.status not in spec.statuses:
        return False
    for filters, code in ((spec.class_codes, entry.class_code), (spec.type_codes, entry.type_code),
                          (spec.practice_setting_codes, entry.practice_setting),
                          (spec.facility_type_codes, entry.facility_type), (spec.format_codes, entry.format_code)):
        if filters and not _code_in(code, filters):
            return False
    for groups, codes in ((spec.event_codes, entry.event_codes), (spec.confidentiality_codes, entry.confidentiality)):
        if any(not any(_code_in(code, group) for code in codes) for group in groups):
            return False
    for window, value in ((spec.creation_time, entry.creation_time), (spec.service_start_time, entry.service_start),
                          (spec.service_stop_time, entry.service_stop)):
        if window is not None and not window.contains(parse_dtm(value)):
            return False
    if spec.author_persons and not any(_like(pattern, author.person) for author in entry.authors
                                       for pattern in spec.author_persons):
        return False
    if spec.document_types and entry.object_type not in spec.document_types:
        return False
    if spec.reference_ids and not set(spec.reference_ids) & set(entry.reference_ids):
        return False
    return True


def submission_set_matches(spec: QuerySpec, submission_set: SubmissionSet) -> bool:
    """Whether ``submission_set`` passes the filters of FindSubmissionSets."""
    if spec.patient is not None and not spec.patient.matches(submission_set.patient_id):
        return False
    if spec.statuses and submission_set.status not in spec.statuses:
        return False
    if spec.source_ids and submission_set.source_id not in spec.source_ids:
        return False
    if spec.content_type_codes and not _code_in(submission_set.content_type, spec.content_type_codes):
        return False
    if spec.submission_time is not None and not spec.submission_time.contains(
            parse_dtm(submission_set.submission_time)):
        return False
    if spec.author_persons and not any(_like(pattern, author.person) for author in submission_set.authors
                                       for pattern in spec.author_persons):
        return False
    return True

