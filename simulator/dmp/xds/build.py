"""Typed XDS objects → ebRIM / XDS.b elements, for the simulator's responses and for clients' requests.

Everything is built with lxml element factories, never by pasting strings. Objects are written the way the DMP's
official TD3.1 response writes them: slots sorted by name, then Name, Description, VersionInfo, classifications
ordered by metadata attribute name, then external identifiers; ``LocalizedString`` carries ``charset="UTF8"`` and
``xml:lang="FR"``. Classification and ExternalIdentifier ids are derived from the owner's id (uuid5), so the same
object always serialises the same way.
"""
from __future__ import annotations

from copy import deepcopy
from functools import lru_cache

import base64
import uuid
from collections.abc import Iterable, Mapping, Sequence

from lxml import etree

from ...soap import namespaces as ns
from ...soap import new_content_id, xop_include
from . import constants as c
from .errors import XdsError
from .model import Association, Author, Coded, DocumentEntry, RegistryObject, StoredQuery, Submission, SubmissionSet
from .parse import format_query_value
from .queries import STORED_QUERIES

__all__ = [
    "adhoc_query_request", "adhoc_query_response", "association", "extrinsic_object", "provide_and_register_mtom",
    "provide_and_register_request", "registry_package", "registry_response", "response_status",
    "retrieve_request", "retrieve_response", "submit_objects_request",
]

NSMAP_RIM = {"rim": ns.RIM}
_XML_LANG = f"{{{ns.XML}}}lang"
_ID_NAMESPACE = uuid.UUID("0d5c3f4e-6c1b-5a55-9b0e-5e6775725853")  # "segur sandbox xds" ids


def _rim(local: str) -> str:
    return f"{{{ns.RIM}}}{local}"


def _derived_id(owner: str, role: str, index: int = 0) -> str:
    return f"urn:uuid:{uuid.uuid5(_ID_NAMESPACE, f'{owner}|{role}|{index}')}"


# --- ebRIM pieces ---------------------------------------------------------------------------------------------------

def _slot(parent: etree._Element, name: str, values: Iterable[str]) -> etree._Element:
    slot = etree.SubElement(parent, _rim("Slot"), name=name)
    value_list = etree.SubElement(slot, _rim("ValueList"))
    for value in values:
        etree.SubElement(value_list, _rim("Value")).text = value
    return slot


def _slots(parent: etree._Element, slots: Mapping[str, Sequence[str]], *, sort: bool = True) -> None:
    names = sorted(slots, key=str.casefold) if sort else list(slots)
    for name in names:
        if slots[name]:
            _slot(parent, name, slots[name])


def _localized(parent: etree._Element, local: str, value: str | None) -> None:
    if value is None:
        return
    holder = etree.SubElement(parent, _rim(local))
    etree.SubElement(holder, _rim("LocalizedString"), {"charset": "UTF8", "value": value, _XML_LANG: "FR"})


def _version(parent: etree._Element, version: str | None) -> None:
    if version is not None:
        etree.SubElement(parent, _rim("VersionInfo"), versionName=version)


def _classification(parent: etree._Element, scheme: str, owner: str, node: str, identifier: str
                    ) -> etree._Element:
    return etree.SubElement(parent, _rim("Classification"), classificationScheme=scheme, classifiedObject=owner,
                            id=identifier, nodeRepresentation=node)


def _coded(parent: etree._Element, scheme: str, owner: str, code: Coded, role: str, index: int = 0) -> None:
    classification = _classification(parent, scheme, owner, code.code, _derived_id(owner, role, index))
    _slot(classification, "codingScheme", [code.scheme])
    if code.display:
        _localized(classification, "Name", code.display)


def _author(parent: etree._Element, scheme: str, owner: str, author: Author, index: int) -> None:
    classification = _classification(parent, scheme, owner, "", _derived_id(owner, "author", index))
    _slots(classification, {
        "authorInstitution": author.institutions,
        "authorPerson": [author.person] if author.person is not None else [],
        "authorRole": author.role,
        "authorSpecialty": author.specialty,
        "authorTelecommunication": author.telecom,
    })


def _external_identifier(parent: etree._Element, scheme: str, owner: str, value: str | None) -> None:
    if value is None:
        return
    identifier = etree.SubElement(parent, _rim("ExternalIdentifier"), id=_derived_id(owner, scheme),
                                  identificationScheme=scheme, registryObject=owner, value=value)
    _localized(identifier, "Name", c.EXTERNAL_IDENTIFIER_NAMES[scheme])


def _attributes(**values: str | None) -> dict[str, str]:
    return {name: value for name, value in values.items() if value is not None}


# --- the three registry objects ---------------------------------------------------------------------------------------

def extrinsic_object(entry: DocumentEntry) -> etree._Element:
    """``rim:ExtrinsicObject`` of a DocumentEntry, with every slot, classification and external identifier set.

    A registered entry (``status`` set) also gets ``isOpaque="false"`` like the DMP's responses.
    """
    attributes = _attributes(id=entry.id, isOpaque="false" if entry.status is not None else None, lid=entry.lid,
                             mimeType=entry.mime_type, objectType=entry.object_type, status=entry.status)
    element = etree.Element(_rim("ExtrinsicObject"), attributes, nsmap=NSMAP_RIM)

    def one(value: str | None) -> list[str]:
        return [value] if value is not None else []

    _slots(element, {
        "creationTime": one(entry.creation_time),
        "hash": one(entry.hash),
        "languageCode": one(entry.language),
        "legalAuthenticator": one(entry.legal_authenticator),
        "repositoryUniqueId": one(entry.repository_unique_id),
        "serviceStartTime": one(entry.service_start),
        "serviceStopTime": one(entry.service_stop),
        "size": one(str(entry.size) if entry.size is not None else None),
        "sourcePatientId": one(entry.source_patient_id),
        "sourcePatientInfo": entry.source_patient_info,
        c.SLOT_REFERENCE_ID_LIST: entry.reference_ids,
    })
    _localized(element, "Name", entry.title)
    _localized(element, "Description", entry.comments)
    _version(element, entry.version)
    owner = entry.id
    for index, author in enumerate(entry.authors):
        _author(element, c.DE_AUTHOR, owner, author, index)
    if entry.class_code is not None:
        _coded(element, c.DE_CLASS_CODE, owner, entry.class_code, "classCode")
    for index, code in enumerate(entry.confidentiality):
        _coded(element, c.DE_CONFIDENTIALITY_CODE, owner, code, "confidentialityCode", index)
    for index, code in enumerate(entry.event_codes):
        _coded(element, c.DE_EVENT_CODE, owner, code, "eventCodeList", index)
    if entry.format_code is not None:
        _coded(element, c.DE_FORMAT_CODE, owner, entry.format_code, "formatCode")
    if entry.facility_type is not None:
        _coded(element, c.DE_FACILITY_TYPE_CODE, owner, entry.facility_type, "healthcareFacilityTypeCode")
    if entry.practice_setting is not None:
        _coded(element, c.DE_PRACTICE_SETTING_CODE, owner, entry.practice_setting, "practiceSettingCode")
    if entry.type_code is not None:
        _coded(element, c.DE_TYPE_CODE, owner, entry.type_code, "typeCode")
    _external_identifier(element, c.DE_PATIENT_ID, owner, entry.patient_id)
    _external_identifier(element, c.DE_UNIQUE_ID, owner, entry.unique_id)
    return element


def registry_package(submission_set: SubmissionSet) -> etree._Element:
    """``rim:RegistryPackage`` of a SubmissionSet, classified with the SubmissionSet node."""
    registered = submission_set.status is not None
    attributes = _attributes(id=submission_set.id, lid=submission_set.lid,
                             objectType=c.OBJECT_TYPE_REGISTRY_PACKAGE if registered else None,
                             status=submission_set.status)
    element = etree.Element(_rim("RegistryPackage"), attributes, nsmap=NSMAP_RIM)
    if submission_set.submission_time is not None:
        _slot(element, "submissionTime", [submission_set.submission_time])
    _localized(element, "Name", submission_set.title)
    _localized(element, "Description", submission_set.comments)
    _version(element, submission_set.version)
    owner = submission_set.id
    for index, author in enumerate(submission_set.authors):
        _author(element, c.SS_AUTHOR, owner, author, index)
    if submission_set.content_type is not None:
        _coded(element, c.SS_CONTENT_TYPE_CODE, owner, submission_set.content_type, "contentTypeCode")
    etree.SubElement(element, _rim("Classification"), classificationNode=c.SUBMISSION_SET_NODE,
                     classifiedObject=owner, id=_derived_id(owner, "SubmissionSet"))
    _external_identifier(element, c.SS_PATIENT_ID, owner, submission_set.patient_id)
    _external_identifier(element, c.SS_SOURCE_ID, owner, submission_set.source_id)
    _external_identifier(element, c.SS_UNIQUE_ID, owner, submission_set.unique_id)
    return element


def association(item: Association) -> etree._Element:
    """``rim:Association``; slots in the order given."""
    attributes = _attributes(associationType=item.type, id=item.id,
                             objectType=c.OBJECT_TYPE_ASSOCIATION if item.status is not None else None,
                             sourceObject=item.source, status=item.status, targetObject=item.target)
    element = etree.Element(_rim("Association"), attributes, nsmap=NSMAP_RIM)
    _slots(element, item.slots, sort=False)
    return element


@lru_cache(maxsize=4096)
def _cached_extrinsic_object(entry: DocumentEntry) -> etree._Element:
    return extrinsic_object(entry)


# --- pre-serialised ExtrinsicObjects, spliced into search answers -----------------------------------------------------
# A 50-document LeafClass answer is ~300 KB, and deep-copying 50 cached elements into the tree and serialising them
# again on every search was a tenth of a search's CPU. Searches answer the same entries again and again, so each
# entry is serialised once, *in the context it appears in* (under query:AdhocQueryResponse/rim:RegistryObjectList,
# so the bytes are exactly those the tree would have produced: no redundant xmlns:rim), and the answer carries a
# placeholder processing instruction that ``splice`` replaces after the envelope is serialised. SOAP forbids
# processing instructions, so none can come from elsewhere in an answer; the target also holds a random token.
SPLICE_TARGET = f"segur-splice-{uuid.uuid4().hex[:12]}"
_SPLICE_MARK = f"<?{SPLICE_TARGET} ".encode()
_RESPONSE_NSMAP = {"query": ns.QUERY, "rim": ns.RIM, "rs": ns.RS}
_FRAGMENTS: dict[int, tuple[DocumentEntry, bytes]] = {}  # id(entry) -> (entry, bytes); see _entry_bytes
_FRAGMENTS_MAX = 4096  # ~6 KB each: bounded like the caches of wire entries and elements


def _entry_bytes(entry: DocumentEntry) -> bytes:
    """The serialised ExtrinsicObject of ``entry``. Keyed by identity, not by value: the registry hands out the
    same wire entry object for the same row (``feeding.entry_to_wire`` is cached), and hashing a DocumentEntry
    by value costs as much as a lookup saves. The cache holds the entry itself, so its id cannot be reused while
    cached; a miss only costs one serialisation."""
    found = _FRAGMENTS.get(id(entry))
    if found is not None and found[0] is entry:
        return found[1]
    wrapper = etree.Element(f"{{{ns.QUERY}}}AdhocQueryResponse", nsmap=_RESPONSE_NSMAP)
    holder = etree.SubElement(wrapper, _rim("RegistryObjectList"))
    holder.append(deepcopy(_cached_extrinsic_object(entry)))
    data = etree.tostring(wrapper, encoding="UTF-8", xml_declaration=False)  # as soap.build_response writes answers
    start = data.index(b"<rim:RegistryObjectList>") + len(b"<rim:RegistryObjectList>")
    end = data.rindex(b"</rim:RegistryObjectList>")
    fragment = data[start:end]
    if len(_FRAGMENTS) >= _FRAGMENTS_MAX:
        _FRAGMENTS.clear()
    _FRAGMENTS[id(entry)] = (entry, fragment)
    return fragment


def splice(data: bytes, fragments: Sequence[bytes]) -> bytes:
    """Replace the placeholders ``adhoc_query_response(..., fragments=…)`` left in serialised ``data``."""
    if not fragments:
        return data
    head, *rest = data.split(_SPLICE_MARK)
    parts = [head]
    for part in rest:
        index, _, tail = part.partition(b"?>")
        parts.append(fragments[int(index)])
        parts.append(tail)
    return b"".join(parts)


def _registry_object(item: RegistryObject) -> etree._Element:
    if isinstance(item, DocumentEntry):
        # searches answer the same entries again and again: build each once, hand out copies
        return deepcopy(_cached_extrinsic_object(item))
    if isinstance(item, SubmissionSet):
        return registry_package(item)
    if isinstance(item, Association):
        return association(item)
    raise TypeError(f"not a registry object: {type(item).__name__}")


# --- responses --------------------------------------------------------------------------------------------------------

def response_status(errors: Sequence[XdsError], *, has_content: bool = False) -> str:
    """Success without Error-severity errors; PartialSuccess with errors and some content; else Failure."""
    if not any(error.is_error for error in errors):
        return c.RESPONSE_SUCCESS
    return c.RESPONSE_PARTIAL_SUCCESS if has_content else c.RESPONSE_FAILURE


def _status_urn(status: str) -> str:
    if status in c.RESPONSE_STATUSES:
        return c.RESPONSE_STATUSES[status]
    if status in c.RESPONSE_STATUSES.values():
        return status
    raise ValueError(f"unknown response status {status!r}; expected Success, Failure or PartialSuccess")


def _error_list(parent: etree._Element, errors: Sequence[XdsError]) -> None:
    flat = [inner for error in errors for inner in error.errors]
    if not flat:
        return
    highest = c.SEVERITY_ERROR if any(e.is_error for e in flat) else c.SEVERITY_WARNING
    error_list = etree.SubElement(parent, f"{{{ns.RS}}}RegistryErrorList", highestSeverity=highest)
    for error in flat:
        etree.SubElement(error_list, f"{{{ns.RS}}}RegistryError", _attributes(
            codeContext=error.context, errorCode=error.code, location=error.location,
            severity=error.severity_urn))


def registry_response(errors: Sequence[XdsError] = (), status: str | None = None) -> etree._Element:
    """``rs:RegistryResponse``: status from the errors unless given (Success / Failure / PartialSuccess)."""
    errors = [inner for error in errors for inner in error.errors]
    element = etree.Element(f"{{{ns.RS}}}RegistryResponse", nsmap={"rs": ns.RS})
    element.set("status", _status_urn(status) if status else response_status(errors))
    _error_list(element, errors)
    return element


def adhoc_query_response(objects: Sequence[RegistryObject | str], return_type: str = "LeafClass",
                         total: int | None = None, errors: Sequence[XdsError] = (), *,
                         start_index: int = 0, status: str | None = None,
                         fragments: list[bytes] | None = None) -> etree._Element:
    """``query:AdhocQueryResponse``.

    LeafClass: full objects; ObjectRef: ``rim:ObjectRef id=`` for each object (or id string). ``total`` defaults
    to the number of objects (the DMP writes ``totalResultCount`` and ``startIndex`` on every answer).
    ``fragments``: DocumentEntries are written as placeholders and their serialised bytes appended to this list;
    pass the serialised answer and the list to ``splice`` (the server's search path, see ``_entry_bytes``).
    """
    if return_type not in c.RETURN_TYPES:
        raise ValueError(f"return_type must be LeafClass or ObjectRef, not {return_type!r}")
    errors = [inner for error in errors for inner in error.errors]
    element = etree.Element(f"{{{ns.QUERY}}}AdhocQueryResponse",
                            nsmap={"query": ns.QUERY, "rim": ns.RIM, "rs": ns.RS})
    element.set("status", _status_urn(status) if status else response_status(errors, has_content=bool(objects)))
    element.set("startIndex", str(start_index))
    element.set("totalResultCount", str(len(objects) if total is None else total))
    _error_list(element, errors)
    object_list = etree.SubElement(element, _rim("RegistryObjectList"))
    for item in objects:
        if return_type == "ObjectRef" or isinstance(item, str):
            object_id = item if isinstance(item, str) else item.id
            etree.SubElement(object_list, _rim("ObjectRef"), id=object_id)
        elif fragments is not None and isinstance(item, DocumentEntry):
            object_list.append(etree.ProcessingInstruction(SPLICE_TARGET, str(len(fragments))))
            fragments.append(_entry_bytes(item))
        else:
            object_list.append(_registry_object(item))
    return element


def retrieve_response(items: Sequence[tuple[str, str, str, str]], errors: Sequence[XdsError] = (), *,
                      home_community_id: str | None = None) -> etree._Element:
    """``xds-b:RetrieveDocumentSetResponse``; each item is ``(repository id, unique id, mime type, cid)``.

    Each ``Document`` holds an ``xop:Include`` to ``cid``: the caller sends the bytes as MTOM attachments
    (``soap.build_response(..., mtom_attachments={cid: bytes})``).
    """
    errors = [inner for error in errors for inner in error.errors]
    element = etree.Element(f"{{{ns.XDS_B}}}RetrieveDocumentSetResponse",
                            nsmap={"xdsb": ns.XDS_B, "rs": ns.RS})
    status = response_status(errors, has_content=bool(items))
    response = etree.SubElement(element, f"{{{ns.RS}}}RegistryResponse", status=status)
    _error_list(response, errors)
    for repository_id, unique_id, mime_type, content_id in items:
        document = etree.SubElement(element, f"{{{ns.XDS_B}}}DocumentResponse")
        if home_community_id is not None:
            etree.SubElement(document, f"{{{ns.XDS_B}}}HomeCommunityId").text = home_community_id
        etree.SubElement(document, f"{{{ns.XDS_B}}}RepositoryUniqueId").text = repository_id
        etree.SubElement(document, f"{{{ns.XDS_B}}}DocumentUniqueId").text = unique_id
        etree.SubElement(document, f"{{{ns.XDS_B}}}mimeType").text = mime_type
        xop_include(etree.SubElement(document, f"{{{ns.XDS_B}}}Document"), content_id)
    return element


# --- requests (reference client, benches, tests) ----------------------------------------------------------------------

def submit_objects_request(submission: Submission) -> etree._Element:
    """``lcm:SubmitObjectsRequest``: submission set, entries, then associations (ITI-57, or inside ITI-41)."""
    element = etree.Element(f"{{{ns.LCM}}}SubmitObjectsRequest", nsmap={"lcm": ns.LCM, "rim": ns.RIM})
    object_list = etree.SubElement(element, _rim("RegistryObjectList"))
    if submission.submission_set is not None:
        object_list.append(registry_package(submission.submission_set))
    for entry in submission.entries:
        object_list.append(extrinsic_object(entry))
    for item in submission.associations:
        object_list.append(association(item))
    return element


def provide_and_register_request(submission: Submission,
                                 content_ids: Mapping[str, str] | None = None) -> etree._Element:
    """``xds-b:ProvideAndRegisterDocumentSetRequest`` (ITI-41).

    Each document of ``submission.documents`` becomes an ``xds-b:Document id=<entry id>``: inline base64, or an
    ``xop:Include`` when ``content_ids`` maps its entry id to a Content-ID (see ``provide_and_register_mtom``).
    """
    element = etree.Element(f"{{{ns.XDS_B}}}ProvideAndRegisterDocumentSetRequest",
                            nsmap={"xdsb": ns.XDS_B, "lcm": ns.LCM, "rim": ns.RIM})
    element.append(submit_objects_request(submission))
    for document_id, content in submission.documents.items():
        document = etree.SubElement(element, f"{{{ns.XDS_B}}}Document", id=document_id)
        if content_ids and document_id in content_ids:
            xop_include(document, content_ids[document_id])
        else:
            document.text = base64.b64encode(content).decode("ascii")
    return element


def provide_and_register_mtom(submission: Submission) -> tuple[etree._Element, dict[str, tuple[bytes, str]]]:
    """The ITI-41 body with ``xop:Include`` for every document, and the attachments to send with it
    (Content-ID → (bytes, media type)), ready for ``soap.encode_mtom``."""
    content_ids: dict[str, str] = {}
    attachments: dict[str, tuple[bytes, str]] = {}
    for document_id, content in submission.documents.items():
        entry = submission.entry(document_id)
        content_id = new_content_id()
        content_ids[document_id] = content_id
        attachments[content_id] = (content, (entry.mime_type if entry and entry.mime_type else
                                             "application/octet-stream"))
    return provide_and_register_request(submission, content_ids), attachments


def adhoc_query_request(query: StoredQuery, *, return_composed_objects: bool = True) -> etree._Element:
    """``query:AdhocQueryRequest`` for a stored query, each value written in the syntax its parameter takes."""
    element = etree.Element(f"{{{ns.QUERY}}}AdhocQueryRequest", nsmap={"query": ns.QUERY, "rim": ns.RIM})
    etree.SubElement(element, f"{{{ns.QUERY}}}ResponseOption", returnComposedObjects=str(
        return_composed_objects).lower(), returnType=query.return_type)
    adhoc = etree.SubElement(element, _rim("AdhocQuery"), _attributes(id=query.query_id,
                                                                      home=query.home_community_id))
    definition = STORED_QUERIES.get(query.name)
    for name, groups in query.groups.items():
        parameter = definition.parameter(name) if definition else None
        as_list = parameter.multiple if parameter else any(len(group) != 1 for group in groups)
        numeric = parameter.kind in ("time", "number") if parameter else False
        slot = etree.SubElement(adhoc, _rim("Slot"), name=name)
        value_list = etree.SubElement(slot, _rim("ValueList"))
        for group in groups:
            etree.SubElement(value_list, _rim("Value")).text = format_query_value(
                group, as_list=as_list or len(group) != 1, numeric=numeric)
    return element


def retrieve_request(items: Iterable[tuple[str, str] | tuple[str, str, str | None]]) -> etree._Element:
    """``xds-b:RetrieveDocumentSetRequest`` for ``(repository id, document unique id[, home community id])``."""
    element = etree.Element(f"{{{ns.XDS_B}}}RetrieveDocumentSetRequest", nsmap={"xdsb": ns.XDS_B})
    for item in items:
        repository_id, unique_id = item[0], item[1]
        home = item[2] if len(item) > 2 else None
        request = etree.SubElement(element, f"{{{ns.XDS_B}}}DocumentRequest")
        if home:
            etree.SubElement(request, f"{{{ns.XDS_B}}}HomeCommunityId").text = home
        etree.SubElement(request, f"{{{ns.XDS_B}}}RepositoryUniqueId").text = repository_id
        etree.SubElement(request, f"{{{ns.XDS_B}}}DocumentUniqueId").text = unique_id
    return element
