"""ebRIM / XDS.b request bodies → typed objects (ITI-41, ITI-57, ITI-18, ITI-43), plus the responses for clients.

Parsing is lenient about metadata *values* (a missing classCode is ``None``: ``validate`` reports it with the DMP's
rules) and strict about *structure* (no submission set, a document without its entry, an entry without its
document, an unreadable size…), which raises ``XdsError`` / ``XdsErrors``.
"""
from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from lxml import etree

from ...soap import SoapMessage
from ...soap import namespaces as ns
from ...soap.errors import SoapError
from . import constants as c
from .errors import (XDS_MISSING_DOCUMENT, XDS_MISSING_DOCUMENT_METADATA, XDS_REGISTRY_ERROR,
                     XDS_REGISTRY_METADATA_ERROR, XDS_REPOSITORY_ERROR, XDS_REPOSITORY_METADATA_ERROR,
                     XDS_UNKNOWN_STORED_QUERY, XdsError, raise_if_errors)
from .model import (Association, Author, Coded, DocumentEntry, RegistryObject, RetrievedDocument, RetrieveItem,
                    StoredQuery, Submission, SubmissionSet)

__all__ = [
    "QueryResponse", "RegistryResult", "format_query_value", "parse_adhoc_query_response", "parse_association",
    "parse_extrinsic_object", "parse_provide_and_register", "parse_query_value", "parse_registry_package",
    "parse_registry_response", "parse_retrieve", "parse_retrieve_response", "parse_stored_query",
    "parse_submit_objects",
]


def _q(namespace: str, local: str) -> str:
    return f"{{{namespace}}}{local}"


RIM_SLOT = _q(ns.RIM, "Slot")
RIM_VALUE_LIST = _q(ns.RIM, "ValueList")
RIM_VALUE = _q(ns.RIM, "Value")
RIM_NAME = _q(ns.RIM, "Name")
RIM_DESCRIPTION = _q(ns.RIM, "Description")
RIM_LOCALIZED_STRING = _q(ns.RIM, "LocalizedString")
RIM_VERSION_INFO = _q(ns.RIM, "VersionInfo")
RIM_CLASSIFICATION = _q(ns.RIM, "Classification")
RIM_EXTERNAL_IDENTIFIER = _q(ns.RIM, "ExternalIdentifier")
RIM_REGISTRY_OBJECT_LIST = _q(ns.RIM, "RegistryObjectList")
RIM_EXTRINSIC_OBJECT = _q(ns.RIM, "ExtrinsicObject")
RIM_REGISTRY_PACKAGE = _q(ns.RIM, "RegistryPackage")
RIM_ASSOCIATION = _q(ns.RIM, "Association")
RIM_OBJECT_REF = _q(ns.RIM, "ObjectRef")
RIM_ADHOC_QUERY = _q(ns.RIM, "AdhocQuery")
LCM_SUBMIT_OBJECTS_REQUEST = _q(ns.LCM, "SubmitObjectsRequest")
QUERY_ADHOC_QUERY_REQUEST = _q(ns.QUERY, "AdhocQueryRequest")
QUERY_ADHOC_QUERY_RESPONSE = _q(ns.QUERY, "AdhocQueryResponse")
QUERY_RESPONSE_OPTION = _q(ns.QUERY, "ResponseOption")
RS_REGISTRY_RESPONSE = _q(ns.RS, "RegistryResponse")
RS_REGISTRY_ERROR_LIST = _q(ns.RS, "RegistryErrorList")
RS_REGISTRY_ERROR = _q(ns.RS, "RegistryError")
XDS_PNR_REQUEST = _q(ns.XDS_B, "ProvideAndRegisterDocumentSetRequest")
XDS_DOCUMENT = _q(ns.XDS_B, "Document")
XDS_RETRIEVE_REQUEST = _q(ns.XDS_B, "RetrieveDocumentSetRequest")
XDS_RETRIEVE_RESPONSE = _q(ns.XDS_B, "RetrieveDocumentSetResponse")
XDS_DOCUMENT_REQUEST = _q(ns.XDS_B, "DocumentRequest")
XDS_DOCUMENT_RESPONSE = _q(ns.XDS_B, "DocumentResponse")
XDS_REPOSITORY_UNIQUE_ID = _q(ns.XDS_B, "RepositoryUniqueId")
XDS_DOCUMENT_UNIQUE_ID = _q(ns.XDS_B, "DocumentUniqueId")
XDS_HOME_COMMUNITY_ID = _q(ns.XDS_B, "HomeCommunityId")
XDS_MIME_TYPE = _q(ns.XDS_B, "mimeType")

# which metadata field each DocumentEntry classification fills
_ENTRY_SINGLE_CODES = {
    c.DE_CLASS_CODE: ("class_code", "classCode"),
    c.DE_TYPE_CODE: ("type_code", "typeCode"),
    c.DE_FORMAT_CODE: ("format_code", "formatCode"),
    c.DE_PRACTICE_SETTING_CODE: ("practice_setting", "practiceSettingCode"),
    c.DE_FACILITY_TYPE_CODE: ("facility_type", "healthcareFacilityTypeCode"),
}
_ENTRY_SINGLE_SLOTS = {
    "creationTime": "creation_time", "serviceStartTime": "service_start", "serviceStopTime": "service_stop",
    "languageCode": "language", "legalAuthenticator": "legal_authenticator", "sourcePatientId": "source_patient_id",
    "hash": "hash", "repositoryUniqueId": "repository_unique_id",
}


class _Problems:
    """Errors collected while reading one message."""

    def __init__(self) -> None:
        self.items: list[XdsError] = []

    def add(self, code: str, context: str, location: str | None = None, severity: str = "Error") -> None:
        self.items.append(XdsError(code, context, location, severity))  # type: ignore[arg-type]

    def extend(self, errors: Iterable[XdsError]) -> None:
        self.items.extend(errors)

    def raise_if_any(self) -> None:
        raise_if_errors(self.items)

    @property
    def warnings(self) -> tuple[XdsError, ...]:
        return tuple(error for error in self.items if not error.is_error)


# --- ebRIM building blocks ---------------------------------------------------------------------------------------

def _slots(element: etree._Element) -> dict[str, list[str]]:
    """The element's own slots; a slot repeated under the same name adds its values to the first one."""
    slots: dict[str, list[str]] = {}
    for slot in element.iterchildren(RIM_SLOT):
        values = [(value.text or "").strip() for value in slot.iterfind(f"{RIM_VALUE_LIST}/{RIM_VALUE}")]
        slots.setdefault(slot.get("name", ""), []).extend(values)
    return slots


def _localized(element: etree._Element, tag: str) -> str | None:
    holder = element.find(tag)
    if holder is None:
        return None
    string = holder.find(RIM_LOCALIZED_STRING)
    return None if string is None else string.get("value", "")


def _version(element: etree._Element) -> str | None:
    info = element.find(RIM_VERSION_INFO)
    return None if info is None else info.get("versionName")


def _coded(classification: etree._Element) -> Coded:
    schemes = _slots(classification).get("codingScheme") or [""]
    return Coded(classification.get("nodeRepresentation", ""), schemes[0], _localized(classification, RIM_NAME) or "")


def _author(classification: etree._Element) -> Author:
    slots = _slots(classification)
    persons = slots.get("authorPerson") or []
    return Author(
        person=persons[0] if persons else None,
        institutions=tuple(slots.get("authorInstitution", ())),
        role=tuple(slots.get("authorRole", ())),
        specialty=tuple(slots.get("authorSpecialty", ())),
        telecom=tuple(slots.get("authorTelecommunication", ())),
    )


def _external_identifiers(element: etree._Element) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for identifier in element.iterchildren(RIM_EXTERNAL_IDENTIFIER):
        found.setdefault(identifier.get("identificationScheme", ""), []).append(identifier.get("value", ""))
    return found


def _single(values: list[str] | None, what: str, location: str, problems: _Problems) -> str | None:
    if not values:
        return None
    if len(values) > 1:
        problems.add(XDS_REGISTRY_METADATA_ERROR, f"{what} has {len(values)} values where exactly one is allowed",
                     location)
    return values[0]


# --- DocumentEntry, SubmissionSet, Association ---------------------------------------------------------------------

def parse_extrinsic_object(element: etree._Element) -> DocumentEntry:
    """One ``rim:ExtrinsicObject`` → DocumentEntry; raises on what cannot be represented."""
    problems = _Problems()
    entry = _extrinsic_object(element, problems)
    problems.raise_if_any()
    return entry


def _extrinsic_object(element: etree._Element, problems: _Problems) -> DocumentEntry:
    entry_id = element.get("id") or ""
    location = entry_id or "ExtrinsicObject"
    if not entry_id:
        problems.add(XDS_REGISTRY_METADATA_ERROR, "an ExtrinsicObject has no id attribute", location)
    slots = _slots(element)
    values: dict[str, object] = {
        field: _single(slots.get(name), name, location, problems) for name, field in _ENTRY_SINGLE_SLOTS.items()
    }
    size_text = _single(slots.get("size"), "size", location, problems)
    size: int | None = None
    if size_text is not None:
        if re.fullmatch(r"[0-9]{1,18}", size_text):
            size = int(size_text)
        else:
            problems.add(XDS_REPOSITORY_METADATA_ERROR, f"size must be a number of bytes, found {size_text!r}",
                         location)
    codes: dict[str, Coded | None] = {field: None for field, _ in _ENTRY_SINGLE_CODES.values()}
    confidentiality: list[Coded] = []
    events: list[Coded] = []
    authors: list[Author] = []
    for classification in element.iterchildren(RIM_CLASSIFICATION):
        scheme = classification.get("classificationScheme")
        if scheme == c.DE_AUTHOR:
            authors.append(_author(classification))
        elif scheme == c.DE_CONFIDENTIALITY_CODE:
            confidentiality.append(_coded(classification))
        elif scheme == c.DE_EVENT_CODE:
            events.append(_coded(classification))
        elif scheme in _ENTRY_SINGLE_CODES:
            field, name = _ENTRY_SINGLE_CODES[scheme]
            if codes[field] is not None:
                problems.add(XDS_REGISTRY_METADATA_ERROR, f"{name} is given more than once; exactly one allowed",
                             location)
            else:
                codes[field] = _coded(classification)
    identifiers = _external_identifiers(element)
    return DocumentEntry(
        id=entry_id,
        unique_id=_single(identifiers.get(c.DE_UNIQUE_ID), "XDSDocumentEntry.uniqueId", location, problems),
        patient_id=_single(identifiers.get(c.DE_PATIENT_ID), "XDSDocumentEntry.patientId", location, problems),
        mime_type=element.get("mimeType"),
        lid=element.get("lid"),
        status=element.get("status"),
        version=_version(element),
        object_type=element.get("objectType", c.STABLE_DOCUMENT_ENTRY),
        source_patient_info=tuple(slots.get("sourcePatientInfo", ())),
        confidentiality=tuple(confidentiality),
        event_codes=tuple(events),
        authors=tuple(authors),
        title=_localized(element, RIM_NAME),
        comments=_localized(element, RIM_DESCRIPTION),
        size=size,
        reference_ids=tuple(slots.get(c.SLOT_REFERENCE_ID_LIST, ())),
        element=element,
        **codes,  # type: ignore[arg-type]
        **values,  # type: ignore[arg-type]
    )


def parse_registry_package(element: etree._Element) -> SubmissionSet:
    """One ``rim:RegistryPackage`` (a submission set) → SubmissionSet."""
    problems = _Problems()
    submission_set = _registry_package(element, problems)
    problems.raise_if_any()
    return submission_set


def _registry_package(element: etree._Element, problems: _Problems) -> SubmissionSet:
    package_id = element.get("id") or ""
    location = package_id or "RegistryPackage"
    if not package_id:
        problems.add(XDS_REGISTRY_METADATA_ERROR, "a RegistryPackage has no id attribute", location)
    slots = _slots(element)
    authors: list[Author] = []
    content_type: Coded | None = None
    for classification in element.iterchildren(RIM_CLASSIFICATION):
        scheme = classification.get("classificationScheme")
        if scheme == c.SS_AUTHOR:
            authors.append(_author(classification))
        elif scheme == c.SS_CONTENT_TYPE_CODE:
            if content_type is not None:
                problems.add(XDS_REGISTRY_METADATA_ERROR, "contentTypeCode is given more than once", location)
            else:
                content_type = _coded(classification)
    identifiers = _external_identifiers(element)
    return SubmissionSet(
        id=package_id,
        unique_id=_single(identifiers.get(c.SS_UNIQUE_ID), "XDSSubmissionSet.uniqueId", location, problems),
        source_id=_single(identifiers.get(c.SS_SOURCE_ID), "XDSSubmissionSet.sourceId", location, problems),
        patient_id=_single(identifiers.get(c.SS_PATIENT_ID), "XDSSubmissionSet.patientId", location, problems),
        submission_time=_single(slots.get("submissionTime"), "submissionTime", location, problems),
        authors=tuple(authors),
        content_type=content_type,
        title=_localized(element, RIM_NAME),
        comments=_localized(element, RIM_DESCRIPTION),
        lid=element.get("lid"),
        status=element.get("status"),
        version=_version(element),
        element=element,
    )


def parse_association(element: etree._Element) -> Association:
    problems = _Problems()
    association = _association(element, problems)
    problems.raise_if_any()
    return association


def _association(element: etree._Element, problems: _Problems) -> Association:
    location = element.get("id") or "Association"
    for attribute in ("id", "associationType", "sourceObject", "targetObject"):
        if not element.get(attribute):
            problems.add(XDS_REGISTRY_METADATA_ERROR, f"an Association has no {attribute} attribute", location)
    return Association(
        id=element.get("id", ""), type=element.get("associationType", ""), source=element.get("sourceObject", ""),
        target=element.get("targetObject", ""), slots={k: tuple(v) for k, v in _slots(element).items()},
        status=element.get("status"), element=element)


# --- SubmitObjectsRequest (ITI-41 metadata, ITI-57) --------------------------------------------------------------

def parse_submit_objects(element: etree._Element) -> Submission:
    """``lcm:SubmitObjectsRequest`` → Submission without documents (ITI-57, or the metadata of an ITI-41)."""
    problems = _Problems()
    submission = _submit_objects(element, problems)
    problems.raise_if_any()
    return _with_warnings(submission, problems.warnings)


def _submit_objects(element: etree._Element, problems: _Problems) -> Submission:
    if element.tag != LCM_SUBMIT_OBJECTS_REQUEST:
        raise XdsError(XDS_REGISTRY_ERROR, f"expected lcm:SubmitObjectsRequest, found {_name(element)}")
    object_list = element.find(RIM_REGISTRY_OBJECT_LIST)
    if object_list is None:
        raise XdsError(XDS_REGISTRY_METADATA_ERROR, "the SubmitObjectsRequest has no rim:RegistryObjectList")
    packages: list[etree._Element] = []
    entries: list[DocumentEntry] = []
    associations: list[Association] = []
    marked: dict[str, str] = {}  # package id -> classification node, from top-level Classification objects
    for child in object_list.iterchildren(RIM_REGISTRY_PACKAGE, RIM_EXTRINSIC_OBJECT, RIM_ASSOCIATION,
                                          RIM_CLASSIFICATION):
        if child.tag == RIM_REGISTRY_PACKAGE:
            packages.append(child)
        elif child.tag == RIM_EXTRINSIC_OBJECT:
            entries.append(_extrinsic_object(child, problems))
        elif child.tag == RIM_ASSOCIATION:
            associations.append(_association(child, problems))
        elif child.get("classificationNode") and child.get("classifiedObject"):
            marked[child.get("classifiedObject", "")] = child.get("classificationNode", "")
    submission_sets: list[SubmissionSet] = []
    for package in packages:
        package_id = package.get("id", "")
        nodes = {cl.get("classificationNode") for cl in package.iterchildren(RIM_CLASSIFICATION)}
        nodes.add(marked.get(package_id))
        if c.FOLDER_NODE in nodes:
            problems.add(XDS_REGISTRY_METADATA_ERROR, "folders (XDSFolder) are not supported by the DMP",
                         package_id or "RegistryPackage")
        elif c.SUBMISSION_SET_NODE in nodes or c.SS_UNIQUE_ID in _external_identifiers(package):
            submission_sets.append(_registry_package(package, problems))
        else:
            problems.add(XDS_REGISTRY_METADATA_ERROR,
                         f"RegistryPackage {package_id!r} is neither classified as a SubmissionSet "
                         f"({c.SUBMISSION_SET_NODE}) nor carries a SubmissionSet uniqueId",
                         package_id or "RegistryPackage")
    if not submission_sets:
        problems.add(XDS_REGISTRY_METADATA_ERROR, "the request has no SubmissionSet (RegistryPackage classified "
                     f"{c.SUBMISSION_SET_NODE}); exactly one is required")
    elif len(submission_sets) > 1:
        problems.add(XDS_REGISTRY_METADATA_ERROR, f"the request has {len(submission_sets)} SubmissionSets; exactly "
                     "one is allowed", submission_sets[1].id)
    seen: set[str] = set()
    for object_id in [s.id for s in submission_sets] + [e.id for e in entries] + [a.id for a in associations]:
        if object_id and object_id in seen:
            problems.add(XDS_REGISTRY_METADATA_ERROR, f"the id {object_id!r} is used by two objects of the request",
                         object_id)
        seen.add(object_id)
    return Submission(submission_sets[0] if submission_sets else None, tuple(entries), tuple(associations))


def _with_warnings(submission: Submission, warnings: tuple[XdsError, ...],
                   documents: Mapping[str, bytes] | None = None) -> Submission:
    return Submission(submission.submission_set, submission.entries, submission.associations,
                      documents if documents is not None else submission.documents, warnings)


# --- ProvideAndRegisterDocumentSetRequest (ITI-41) ------------------------------------------------------------------

def parse_provide_and_register(message: SoapMessage | etree._Element) -> Submission:
    """ITI-41 body → Submission with the documents' raw bytes keyed by their DocumentEntry id.

    Given a ``SoapMessage``, each ``xds-b:Document`` is read with ``message.binary_content`` (MTOM attachment
    or inline base64); given the body element alone, documents must be inline base64.
    """
    if isinstance(message, SoapMessage):
        body, reader = message.body_element, message.binary_content
    else:
        body, reader = message, _inline_content
    if body.tag != XDS_PNR_REQUEST:
        raise XdsError(XDS_REPOSITORY_ERROR, f"expected xds-b:ProvideAndRegisterDocumentSetRequest, found "
                       f"{_name(body)}")
    request = body.find(LCM_SUBMIT_OBJECTS_REQUEST)
    if request is None:
        raise XdsError(XDS_REPOSITORY_METADATA_ERROR, "the ProvideAndRegisterDocumentSetRequest has no "
                       "lcm:SubmitObjectsRequest")
    problems = _Problems()
    submission = _submit_objects(request, problems)
    contents: dict[str, bytes] = {}
    for document in body.iterchildren(XDS_DOCUMENT):
        document_id = document.get("id")
        if not document_id:
            problems.add(XDS_REPOSITORY_METADATA_ERROR, "an xds-b:Document has no id attribute", "Document")
            continue
        if document_id in contents:
            problems.add(XDS_REPOSITORY_METADATA_ERROR, f"two xds-b:Document elements have the id {document_id!r}",
                         document_id)
            continue
        try:
            contents[document_id] = reader(document)
        except SoapError as exc:
            problems.add(XDS_REPOSITORY_ERROR, f"the content of Document {document_id!r} cannot be read: {exc}",
                         document_id)
            contents[document_id] = b""
    documents = _match_documents(submission.entries, contents, problems)
    problems.raise_if_any()
    return _with_warnings(submission, problems.warnings, documents)


def _match_documents(entries: tuple[DocumentEntry, ...], contents: dict[str, bytes],
                     problems: _Problems) -> dict[str, bytes]:
    """Pair each entry with its Document. An id equal but for case is tolerated with a warning: the official
    TD2.1 example pairs ``DocumentME2`` with ``documentME2``."""
    documents: dict[str, bytes] = {}
    unused = dict(contents)
    for entry in entries:
        if entry.id in unused:
            documents[entry.id] = unused.pop(entry.id)
    for entry in entries:
        if entry.id in documents:
            continue
        folded = [key for key in unused if key.casefold() == entry.id.casefold()]
        if len(folded) == 1:
            documents[entry.id] = unused.pop(folded[0])
            problems.add(XDS_REPOSITORY_METADATA_ERROR, f"Document id {folded[0]!r} matches DocumentEntry "
                         f"{entry.id!r} only when case is ignored; ids are case-sensitive", entry.id, "Warning")
        else:
            problems.add(XDS_MISSING_DOCUMENT, f"DocumentEntry {entry.id!r} has no xds-b:Document with the same id "
                         "in the request", entry.id)
    for document_id in unused:
        problems.add(XDS_MISSING_DOCUMENT_METADATA, f"xds-b:Document {document_id!r} has no DocumentEntry "
                     "(ExtrinsicObject) with the same id", document_id)
    return documents


def _inline_content(element: etree._Element) -> bytes:
    if len(element):
        raise _ContentError(f"<{etree.QName(element).localname}> holds child elements (an unresolved "
                            "xop:Include?) where base64 content was expected")
    try:
        return base64.b64decode("".join((element.text or "").split()), validate=True)
    except binascii.Error as exc:
        raise _ContentError(f"invalid base64: {exc}") from None


class _ContentError(SoapError):
    pass


# --- AdhocQueryRequest (ITI-18) -----------------------------------------------------------------------------------

_NUMBER = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")


def parse_query_value(text: str) -> list[str]:
    """One ``rim:Value`` of a stored query slot → its values.

    ``'text'`` (a quote inside doubled: ``''``), a number ``20240101``, or a list ``('a', 'b', 20240101)``.
    Raises ValueError on an unterminated quote or a malformed list.
    """
    text = text.strip()
    if text.startswith("("):
        if not text.endswith(")"):
            raise ValueError(f"list value {text!r} does not end with ')'")
        items, position, inner = [], 0, text[1:-1]
        while True:
            while position < len(inner) and inner[position].isspace():
                position += 1
            if position >= len(inner):
                if items:
                    raise ValueError(f"list value {text!r} ends with a comma")
                return items
            item, position = _scan_item(inner, position, text)
            items.append(item)
            while position < len(inner) and inner[position].isspace():
                position += 1
            if position >= len(inner):
                return items
            if inner[position] != ",":
                raise ValueError(f"list value {text!r}: expected ',' at {inner[position:]!r}")
            position += 1
    if text.startswith("'"):
        item, position = _scan_item(text, 0, text)
        if text[position:].strip():
            raise ValueError(f"value {text!r} has text after its closing quote")
        return [item]
    return [text]


def _scan_item(text: str, position: int, whole: str) -> tuple[str, int]:
    if text[position] == "'":
        out: list[str] = []
        position += 1
        while True:
            end = text.find("'", position)
            if end < 0:
                raise ValueError(f"value {whole!r} has an unterminated quote")
            out.append(text[position:end])
            if text.startswith("''", end):
                out.append("'")
                position = end + 2
                continue
            return "".join(out), end + 1
    end = position
    while end < len(text) and text[end] not in ",":
        end += 1
    token = text[position:end].strip()
    if not token or "'" in token:
        raise ValueError(f"value {whole!r} has a malformed item {token!r}")
    return token, end


def format_query_value(values: Iterable[str], *, as_list: bool, numeric: bool = False) -> str:
    """The inverse of ``parse_query_value``: ``'x'``, ``20240101`` or ``('a','b')``."""
    rendered = [value if numeric and _NUMBER.match(value) else "'" + value.replace("'", "''") + "'"
                for value in values]
    if as_list:
        return "(" + ",".join(rendered) + ")"
    if len(rendered) != 1:
        raise ValueError("a single value was expected")
    return rendered[0]


def parse_stored_query(element: etree._Element) -> StoredQuery:
    """``query:AdhocQueryRequest`` → StoredQuery; unknown query id → XDSUnknownStoredQuery."""
    if element.tag != QUERY_ADHOC_QUERY_REQUEST:
        raise XdsError(XDS_REGISTRY_ERROR, f"expected query:AdhocQueryRequest, found {_name(element)}")
    option = element.find(QUERY_RESPONSE_OPTION)
    if option is None:
        raise XdsError(XDS_REGISTRY_ERROR, "the AdhocQueryRequest has no query:ResponseOption")
    return_type = option.get("returnType", "RegistryObject")
    if return_type not in c.RETURN_TYPES:
        raise XdsError(XDS_REGISTRY_ERROR, f"ResponseOption returnType {return_type!r} is not supported; use "
                       "LeafClass or ObjectRef")
    query = element.find(RIM_ADHOC_QUERY)
    if query is None:
        raise XdsError(XDS_REGISTRY_ERROR, "the AdhocQueryRequest has no rim:AdhocQuery")
    query_id = (query.get("id") or "").strip()
    name = c.STORED_QUERY_NAMES.get(query_id) or c.STORED_QUERY_NAMES.get(query_id.lower())
    if name is None:
        raise XdsError(XDS_UNKNOWN_STORED_QUERY, f"stored query id {query_id!r} is not an IHE stored query known "
                       "to the DMP", query_id or None)
    groups: dict[str, list[tuple[str, ...]]] = {}
    problems = _Problems()
    for slot in query.iterchildren(RIM_SLOT):
        slot_name = slot.get("name", "")
        for value in slot.iterfind(f"{RIM_VALUE_LIST}/{RIM_VALUE}"):
            try:
                groups.setdefault(slot_name, []).append(tuple(parse_query_value(value.text or "")))
            except ValueError as exc:
                problems.add(XDS_REGISTRY_ERROR, f"parameter {slot_name}: {exc}", slot_name)
    problems.raise_if_any()
    return StoredQuery(c.STORED_QUERY_IDS[name], name, return_type, {k: tuple(v) for k, v in groups.items()},
                       query.get("home"), element)


# --- RetrieveDocumentSetRequest (ITI-43) ------------------------------------------------------------------------------

def parse_retrieve(element: etree._Element) -> list[RetrieveItem]:
    """``xds-b:RetrieveDocumentSetRequest`` → ``[(repository id, document unique id, home community id)]``."""
    if element.tag != XDS_RETRIEVE_REQUEST:
        raise XdsError(XDS_REPOSITORY_ERROR, f"expected xds-b:RetrieveDocumentSetRequest, found {_name(element)}")
    problems = _Problems()
    items: list[RetrieveItem] = []
    for number, request in enumerate(element.iterchildren(XDS_DOCUMENT_REQUEST), start=1):
        repository = _text(request, XDS_REPOSITORY_UNIQUE_ID)
        document = _text(request, XDS_DOCUMENT_UNIQUE_ID)
        if not repository:
            problems.add(XDS_REPOSITORY_ERROR, f"DocumentRequest #{number} has no RepositoryUniqueId",
                         document or f"DocumentRequest[{number}]")
        if not document:
            problems.add(XDS_REPOSITORY_ERROR, f"DocumentRequest #{number} has no DocumentUniqueId",
                         f"DocumentRequest[{number}]")
        items.append(RetrieveItem(repository or "", document or "", _text(request, XDS_HOME_COMMUNITY_ID)))
    if not items:
        problems.add(XDS_REPOSITORY_ERROR, "the RetrieveDocumentSetRequest has no DocumentRequest")
    problems.raise_if_any()
    return items


def _text(parent: etree._Element, tag: str) -> str | None:
    found = parent.find(tag)
    if found is None or found.text is None:
        return None
    return found.text.strip() or None


def _name(element: etree._Element) -> str:
    name = etree.QName(element)
    return f"{{{name.namespace}}}{name.localname}" if name.namespace else name.localname


# --- responses, as a client reads them --------------------------------------------------------------------------------

class RegistryResult(NamedTuple):
    status: str  # Success | Failure | PartialSuccess
    errors: tuple[XdsError, ...]


@dataclass(frozen=True)
class QueryResponse:
    status: str
    objects: tuple[RegistryObject | str, ...]  # str = the id of an rim:ObjectRef
    errors: tuple[XdsError, ...] = ()
    total: int | None = None
    start_index: int | None = None


def _short_status(status: str | None) -> str:
    for short, urn in c.RESPONSE_STATUSES.items():
        if status in (short, urn):
            return short
    return status or ""


def _registry_errors(element: etree._Element) -> tuple[XdsError, ...]:
    errors = []
    for error in element.iterfind(f"{RS_REGISTRY_ERROR_LIST}/{RS_REGISTRY_ERROR}"):
        severity = error.get("severity", c.SEVERITY_ERROR)
        errors.append(XdsError(error.get("errorCode", ""), error.get("codeContext", ""), error.get("location"),
                               "Warning" if severity == c.SEVERITY_WARNING else "Error"))
    return tuple(errors)


def parse_registry_response(element: etree._Element) -> RegistryResult:
    """``rs:RegistryResponse`` → (short status, errors)."""
    if element.tag != RS_REGISTRY_RESPONSE:
        raise ValueError(f"expected rs:RegistryResponse, found {_name(element)}")
    return RegistryResult(_short_status(element.get("status")), _registry_errors(element))


def parse_adhoc_query_response(element: etree._Element) -> QueryResponse:
    """``query:AdhocQueryResponse`` → its objects (DocumentEntry, SubmissionSet, Association or ObjectRef id)."""
    if element.tag != QUERY_ADHOC_QUERY_RESPONSE:
        raise ValueError(f"expected query:AdhocQueryResponse, found {_name(element)}")
    objects: list[RegistryObject | str] = []
    object_list = element.find(RIM_REGISTRY_OBJECT_LIST)
    if object_list is not None:
        for child in object_list.iterchildren(RIM_EXTRINSIC_OBJECT, RIM_REGISTRY_PACKAGE, RIM_ASSOCIATION,
                                              RIM_OBJECT_REF):
            if child.tag == RIM_EXTRINSIC_OBJECT:
                objects.append(parse_extrinsic_object(child))
            elif child.tag == RIM_REGISTRY_PACKAGE:
                objects.append(parse_registry_package(child))
            elif child.tag == RIM_ASSOCIATION:
                objects.append(parse_association(child))
            else:
                objects.append(child.get("id", ""))
    total, start = element.get("totalResultCount"), element.get("startIndex")
    return QueryResponse(_short_status(element.get("status")), tuple(objects), _registry_errors(element),
                         int(total) if total and total.isdigit() else None,
                         int(start) if start and start.isdigit() else None)


def parse_retrieve_response(message: SoapMessage | etree._Element
                            ) -> tuple[RegistryResult, list[RetrievedDocument]]:
    """ITI-43 response → (status and errors, documents with their bytes)."""
    if isinstance(message, SoapMessage):
        body, reader = message.body_element, message.binary_content
    else:
        body, reader = message, _inline_content
    if body.tag != XDS_RETRIEVE_RESPONSE:
        raise ValueError(f"expected xds-b:RetrieveDocumentSetResponse, found {_name(body)}")
    response = body.find(RS_REGISTRY_RESPONSE)
    if response is None:
        raise ValueError("the RetrieveDocumentSetResponse has no rs:RegistryResponse")
    documents = []
    for item in body.iterchildren(XDS_DOCUMENT_RESPONSE):
        content = item.find(XDS_DOCUMENT)
        documents.append(RetrievedDocument(
            _text(item, XDS_REPOSITORY_UNIQUE_ID) or "", _text(item, XDS_DOCUMENT_UNIQUE_ID) or "",
            _text(item, XDS_MIME_TYPE) or "", reader(content) if content is not None else b"",
            _text(item, XDS_HOME_COMMUNITY_ID)))
    return parse_registry_response(response), documents
