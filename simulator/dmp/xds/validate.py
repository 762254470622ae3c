"""The DMP's server-side checks of a feeding (ITI-41), a metadata update (ITI-57) and a retrieve (ITI-43).

Each check returns ``XdsError`` values instead of raising, so one answer lists every problem; the app rejects the
request when any has severity Error. Every error names the offending object in ``location`` (the entry's, the
submission set's or the association's id) and says in ``context`` what was expected and what was found.

Sources: dmp.md §3.2–3.7 (metadata, patient ids, associations, XAdES document, server checks), cda-xds.md §3
(value sets, CDA → XDS mapping), IHE ITI TF-3 §4.2 (formats of uniqueId, DTM, hash/size). What the DMP really
rejects is partly inferred (dmp.md open question 14): each family of checks can be switched off in
``ValidationOptions`` for a lenient workspace.
"""
from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from segur_sandbox.fixtures import terminology
from segur_sandbox.fixtures.metadata import xds_metadata

from . import constants as c
from .errors import (UNRESOLVED_REFERENCE_EXCEPTION, XDS_DOCUMENT_UNIQUE_ID_ERROR, XDS_NON_IDENTICAL_HASH,
                     XDS_PATIENT_ID_DOES_NOT_MATCH, XDS_REGISTRY_DUPLICATE_UNIQUE_ID_IN_MESSAGE,
                     XDS_REGISTRY_METADATA_ERROR, XDS_REPOSITORY_METADATA_ERROR, XDS_UNKNOWN_PATIENT_ID,
                     XDS_UNKNOWN_REPOSITORY_ID, XdsError)
from .hl7v2 import is_oid, parse_cx, parse_xcn, parse_xon
from .model import Author, Coded, DocumentEntry, RetrieveItem, Submission, SubmissionSet
from .queries import parse_dtm

__all__ = [
    "CDA_FIELDS", "DEFAULT_OPTIONS", "Caller", "ValidationOptions", "validate_provide_and_register",
    "validate_retrieve", "validate_update",
]

# Fields compared between the metadata and the CDA it carries (cda-xds.md §3.8)
CDA_FIELDS = frozenset({"typeCode", "classCode", "formatCode", "practiceSettingCode", "healthcareFacilityTypeCode",
                        "confidentialityCode", "patientId", "uniqueId", "creationTime", "mimeType"})
CDA_MIME_TYPES = frozenset({"text/xml", "application/xslt+xml"})
# typeCodes of JDV_J07 that the DMP's J66 leaves out (cda-xds.md §3.2); E1762 is only for the signature document
_NOT_DMP_TYPE_CODES = frozenset({"FEUILLE-DE-STYLE", "FICHE-CONTACTS", c.SIGNATURE_TYPE_CODE})
# classCodes of JDV_J06 that the DMP's J57 leaves out (cda-xds.md §3.3); the signature class is its own case
_NOT_DMP_CLASS_CODES = frozenset({"99", c.SIGNATURE_CLASS_CODE})
_HL7_CONFIDENTIALITY = frozenset({"N", "R", "V"})
_DMP_VISIBILITY = frozenset({c.MASQUE_PS, c.INVISIBLE_PATIENT, c.INVISIBLE_REPRESENTANTS_LEGAUX})
_DTM = re.compile(r"^[0-9]{4}([0-9]{2}){0,5}$")
_SHA1 = re.compile(r"^[0-9a-fA-F]{40}$")
_STATUS_TRANSITIONS = frozenset({  # UpdateAvailabilityStatus (dmp.md §1.11)
    (c.STATUS_APPROVED, c.STATUS_ARCHIVED), (c.STATUS_ARCHIVED, c.STATUS_APPROVED),
    (c.STATUS_APPROVED, c.STATUS_DELETED), (c.STATUS_ARCHIVED, c.STATUS_DELETED),
})


@dataclass(frozen=True)
class ValidationOptions:
    """What to check; the defaults are the homologation-grade DMP."""

    require_signature: bool = True  # the XAdES document + its ``signs`` association (dmp.md §3.6)
    check_value_sets: bool = True  # JDV J57/J66/J60/J02/J04/J08 and ASS_X04 (cda-xds.md §3)
    check_cda: bool = True  # metadata consistent with the CDA (``fixtures.metadata.xds_metadata``)
    cda_fields: frozenset[str] = CDA_FIELDS
    accepted_mime_types: frozenset[str] = CDA_MIME_TYPES  # of clinical documents: the DMP takes CDA R2 only
    patient_oids: frozenset[str] = c.INS_OIDS
    repository_unique_id: str = c.DMP_REPOSITORY_UNIQUE_ID
    association_types: frozenset[str] = frozenset({c.HAS_MEMBER, c.RPLC, c.SIGNS})


@dataclass(frozen=True)
class Caller:
    """Who sends the feeding, from the VIHF, for rule EX_2.1-1140 (dmp.md §1.8).

    Direct mode: ``ps_id`` (VIHF NameID) must be the id of an authorPerson or of the legalAuthenticator of each
    document. Indirect mode or CPE (``by_structure``): ``structure_id`` (Identifiant_Structure) must be the id of
    one of the document's authorInstitution.
    """

    ps_id: str | None = None
    structure_id: str | None = None
    by_structure: bool = False


DEFAULT_OPTIONS = ValidationOptions()


def validate_provide_and_register(submission: Submission, *, expected_patient: str | None = None,
                                  require_signature: bool | None = None,
                                  options: ValidationOptions = DEFAULT_OPTIONS,
                                  caller: Caller | None = None) -> list[XdsError]:
    """Every problem the DMP finds in an ITI-41 submission; empty when it would be accepted.

    ``expected_patient`` is the patient CX of the VIHF (resource-id); ``require_signature`` overrides
    ``options.require_signature``. Checks that need the registry (uniqueId already registered, RPLC target exists
    and is Approved) are the app's: ``submission.replacements`` lists the RPLC targets to look up.
    """
    if require_signature is not None:
        options = replace(options, require_signature=require_signature)
    checker = _Checker(options)
    checker.submission(submission, expected_patient, documents=submission.documents, feeding=True)
    if caller is not None:
        checker.authorship(submission, caller)
    return checker.errors


def validate_update(submission: Submission, *, expected_patient: str | None = None,
                    options: ValidationOptions = DEFAULT_OPTIONS) -> list[XdsError]:
    """Checks of an ITI-57 UpdateDocumentSet (TD3.3a–d): the submission set as in ITI-41, new entry versions
    (metadata only, ``lid`` = the entryUUID they replace), HasMember with ``PreviousVersion``, and
    UpdateAvailabilityStatus associations with a transition the DMP allows."""
    update_options = replace(options, require_signature=False, check_cda=False,
                             association_types=frozenset({c.HAS_MEMBER, c.UPDATE_AVAILABILITY_STATUS}))
    checker = _Checker(update_options)
    checker.submission(submission, expected_patient, documents={}, feeding=False)
    return checker.errors


def validate_retrieve(items: Iterable[RetrieveItem | tuple[str, str] | tuple[str, str, str | None]], *,
                      repository_unique_id: str = c.DMP_REPOSITORY_UNIQUE_ID) -> list[XdsError]:
    """ITI-43 requests the repository refuses before looking anything up (dmp.md §1.10)."""
    errors = []
    for item in items:
        repository, unique_id = item[0], item[1]
        if repository != repository_unique_id:
            errors.append(XdsError(XDS_UNKNOWN_REPOSITORY_ID, f"RepositoryUniqueId {repository!r} is not the DMP "
                                   f"repository {repository_unique_id}", unique_id or repository))
        if unique_id.startswith("urn:uuid:"):
            errors.append(XdsError(XDS_DOCUMENT_UNIQUE_ID_ERROR, f"uniqueId={unique_id}: DocumentUniqueId must be "
                                   "the document's uniqueId (an OID), not its entryUUID", unique_id))
        elif not _valid_unique_id(unique_id):
            errors.append(XdsError(XDS_DOCUMENT_UNIQUE_ID_ERROR, f"uniqueId={unique_id}: not an XDS document "
                                   "uniqueId (OID of at most 64 characters)", unique_id or None))
    return errors


def _valid_unique_id(value: str | None) -> bool:
    """IHE ITI TF-3 §4.2.3.2.26: an OID of at most 64 characters, optionally ``^extension`` (≤ 16 chars)."""
    if not value:
        return False
    root, caret, extension = value.partition("^")
    return is_oid(root) and len(root) <= 64 and (not caret or 0 < len(extension) <= 16)


class _Checker:
    def __init__(self, options: ValidationOptions) -> None:
        self.options = options
        self.errors: list[XdsError] = []

    def error(self, code: str, context: str, location: str | None) -> None:
        self.errors.append(XdsError(code, context, location))

    def metadata(self, context: str, location: str | None) -> None:
        self.error(XDS_REGISTRY_METADATA_ERROR, context, location)

    # --- whole submission ----------------------------------------------------------------------------------------
    def submission(self, submission: Submission, expected_patient: str | None, *, documents: Mapping[str, bytes],
                   feeding: bool) -> None:
        submission_set = submission.submission_set
        if submission_set is None:
            self.metadata("the request has no SubmissionSet", None)
            return
        self.submission_set(submission_set)
        patient = self.patient(submission_set.patient_id, "XDSSubmissionSet.patientId", submission_set.id)
        expected = parse_cx(expected_patient) if expected_patient else None
        if expected_patient and expected is None:
            raise ValueError(f"expected_patient {expected_patient!r} is not a CX")
        if patient is not None and expected is not None and patient != expected.key:
            self.error(XDS_PATIENT_ID_DOES_NOT_MATCH, f"XDSSubmissionSet.patientId {submission_set.patient_id!r} is "
                       f"not the patient of the VIHF {expected_patient!r}", submission_set.id)
        signatures = self.signature_entries(submission)
        for entry in submission.entries:
            self.entry(entry, signature=entry.id in signatures, document=documents.get(entry.id) if feeding else None,
                       feeding=feeding)
            entry_patient = self.patient(entry.patient_id, "XDSDocumentEntry.patientId", entry.id)
            if entry_patient is not None and patient is not None and entry_patient != patient:
                self.error(XDS_PATIENT_ID_DOES_NOT_MATCH, f"XDSDocumentEntry.patientId {entry.patient_id!r} differs "
                           f"from XDSSubmissionSet.patientId {submission_set.patient_id!r}", entry.id)
            elif entry_patient is not None and expected is not None and entry_patient != expected.key:
                self.error(XDS_PATIENT_ID_DOES_NOT_MATCH, f"XDSDocumentEntry.patientId {entry.patient_id!r} is not "
                           f"the patient of the VIHF {expected_patient!r}", entry.id)
        self.unique_ids(submission)
        self.associations(submission, signatures, feeding=feeding)
        if feeding and self.options.require_signature:
            self.signature_present(submission, signatures)

    def signature_entries(self, submission: Submission) -> set[str]:
        """Entries that are, or claim to be, the XAdES signature document."""
        signing = {a.source for a in submission.associations if a.type == c.SIGNS}
        return {entry.id for entry in submission.entries
                if entry.is_signature or entry.id in signing
                or (entry.type_code is not None and entry.type_code.code == c.SIGNATURE_TYPE_CODE)
                or (entry.format_code is not None and entry.format_code.code == c.SIGNATURE_FORMAT_CODE)}

    # --- submission set ------------------------------------------------------------------------------------------
    def submission_set(self, submission_set: SubmissionSet) -> None:
        location = submission_set.id
        for name, value in (("uniqueId", submission_set.unique_id), ("sourceId", submission_set.source_id),
                            ("patientId", submission_set.patient_id),
                            ("submissionTime", submission_set.submission_time)):
            if not value:
                self.metadata(f"XDSSubmissionSet.{name} is missing; it is required", location)
        if submission_set.unique_id and not (is_oid(submission_set.unique_id) and len(submission_set.unique_id) <= 64):
            self.metadata(f"XDSSubmissionSet.uniqueId must be an OID of at most 64 characters, found "
                          f"{submission_set.unique_id!r}", location)
        if submission_set.source_id and not is_oid(submission_set.source_id):
            self.metadata(f"XDSSubmissionSet.sourceId must be an OID (the LPS's), found {submission_set.source_id!r}",
                          location)
        self.timestamp(submission_set.submission_time, "XDSSubmissionSet.submissionTime", location)
        if submission_set.content_type is None:
            self.metadata("XDSSubmissionSet.contentTypeCode is missing; it is required (JDV_J59)", location)
        else:
            self.coded(submission_set.content_type, "XDSSubmissionSet.contentTypeCode", location)
        self.authors(submission_set.authors, "XDSSubmissionSet", location)

    # --- one entry -------------------------------------------------------------------------------------------------
    def entry(self, entry: DocumentEntry, *, signature: bool, document: bytes | None, feeding: bool) -> None:
        location = entry.id
        what = "XDSDocumentEntry"
        if entry.object_type != c.STABLE_DOCUMENT_ENTRY:
            self.metadata(f"objectType must be {c.STABLE_DOCUMENT_ENTRY} (stable document); found "
                          f"{entry.object_type!r}: on-demand documents are not supported by the DMP", location)
        required: dict[str, Any] = {
            "uniqueId": entry.unique_id, "patientId": entry.patient_id, "mimeType": entry.mime_type,
            "classCode": entry.class_code, "typeCode": entry.type_code, "formatCode": entry.format_code,
            "healthcareFacilityTypeCode": entry.facility_type, "practiceSettingCode": entry.practice_setting,
            "confidentialityCode": entry.confidentiality, "creationTime": entry.creation_time,
            "languageCode": entry.language, "sourcePatientId": entry.source_patient_id,
        }
        for name, value in required.items():
            if not value:
                self.metadata(f"{what}.{name} is missing; the DMP requires it", location)
        if entry.unique_id and not _valid_unique_id(entry.unique_id):
            self.metadata(f"{what}.uniqueId must be an OID of at most 64 characters (optionally ^extension of at "
                          f"most 16), found {entry.unique_id!r}", location)
        for name, value in (("creationTime", entry.creation_time), ("serviceStartTime", entry.service_start),
                            ("serviceStopTime", entry.service_stop)):
            self.timestamp(value, f"{what}.{name}", location)
        if entry.source_patient_id and parse_cx(entry.source_patient_id) is None:
            self.metadata(f"{what}.sourcePatientId must be a CX 'id^^^&oid&ISO^PI', found "
                          f"{entry.source_patient_id!r}", location)
        if entry.legal_authenticator is not None:
            self.person(entry.legal_authenticator, f"{what}.legalAuthenticator", location)
        for code, name in ((entry.class_code, "classCode"), (entry.type_code, "typeCode"),
                           (entry.format_code, "formatCode"), (entry.facility_type, "healthcareFacilityTypeCode"),
                           (entry.practice_setting, "practiceSettingCode")):
            if code is not None:
                self.coded(code, f"{what}.{name}", location)
        for code in (*entry.confidentiality, *entry.event_codes):
            self.coded(code, f"{what}.confidentialityCode" if code in entry.confidentiality
                       else f"{what}.eventCodeList", location)
        self.authors(entry.authors, what, location)
        if signature:
            self.signature_codes(entry)
        elif entry.mime_type and entry.mime_type not in self.options.accepted_mime_types:
            self.metadata(f"mimeType must be one of {', '.join(sorted(self.options.accepted_mime_types))} (the DMP "
                          f"accepts CDA R2 documents only), found {entry.mime_type!r}", location)
        if self.options.check_value_sets:
            self.value_sets(entry, signature=signature)
        if feeding:
            self.repository_attributes(entry, document)
            if (self.options.check_cda and not signature and document is not None
                    and entry.mime_type in CDA_MIME_TYPES):
                self.cda(entry, document)

    def timestamp(self, value: str | None, what: str, location: str) -> None:
        if value and (not _DTM.match(value) or parse_dtm(value) is None):
            self.metadata(f"{what} must be a UTC time YYYY[MM[DD[hh[mm[ss]]]]], found {value!r}", location)

    def coded(self, code: Coded, what: str, location: str) -> None:
        if not code.code or not code.scheme:
            self.metadata(f"{what} needs a code (nodeRepresentation) and a codingScheme slot, found "
                          f"code={code.code!r} codingScheme={code.scheme!r}", location)

    def patient(self, value: str | None, what: str, location: str) -> tuple[str, str] | None:
        if not value:
            return None
        cx = parse_cx(value)
        if cx is None:
            self.metadata(f"{what} must be a CX 'INS^^^&oid&ISO^NH', found {value!r}", location)
            return None
        if cx.oid not in self.options.patient_oids:
            self.error(XDS_UNKNOWN_PATIENT_ID, f"{what} {value!r} is not an INS: its assigning authority {cx.oid} is "
                       f"none of {', '.join(sorted(self.options.patient_oids))}", location)
            return None
        return cx.key

    # --- people and organisations ------------------------------------------------------------------------------------
    def person(self, value: str, what: str, location: str) -> None:
        """XCN ``idNat^FAMILY^Given^^^^^^&oid&ISO^D^^^IDNPS``: id, family and given names (RG_2230) and the
        assigning authority."""
        xcn = parse_xcn(value)
        assert xcn is not None
        missing = [name for name, part in (("identifier (component 1)", xcn.id), ("family name (component 2)",
                                           xcn.family), ("given name (component 3)", xcn.given),
                                           ("assigning authority OID (component 9)", xcn.oid)) if not part]
        if missing:
            self.metadata(f"{what} lacks its {', '.join(missing)}: expected "
                          f"'idNat^NOM^Prénom^^^^^^&{c.PS_ID_OID}&ISO^D^^^IDNPS' (RG_2230: nom et prénom de l'auteur "
                          f"obligatoires), found {value!r}", location)

    def institution(self, value: str, what: str, location: str) -> None:
        xon = parse_xon(value)
        assert xon is not None
        if xon.oid != c.STRUCTURE_ID_OID or xon.oid_type != "ISO" or xon.id_type != "IDNST" or not xon.id:
            self.metadata(f"{what} must be 'NOM^^^^^&{c.STRUCTURE_ID_OID}&ISO^IDNST^^^idNatStruct', found "
                          f"{value!r}", location)
        elif not xon.name:
            self.metadata(f"{what} lacks the organisation name (component 1), found {value!r}", location)

    def authors(self, authors: tuple[Author, ...], owner: str, location: str) -> None:
        if not authors:
            self.metadata(f"{owner}.author is missing; at least one author is required", location)
        for number, author in enumerate(authors, start=1):
            what = f"{owner}.author[{number}]"
            if author.person is None:
                self.metadata(f"{what} has no authorPerson; the DMP requires one", location)
            else:
                self.person(author.person, f"{what}.authorPerson", location)
            if not author.institutions:
                self.metadata(f"{what} has no authorInstitution; the DMP requires the author's structure", location)
            for institution in author.institutions:
                self.institution(institution, f"{what}.authorInstitution", location)
            for specialty in author.specialty:
                parts = specialty.split("^")
                if len(parts) < 3 or not parts[0] or not is_oid(parts[2]):
                    self.metadata(f"{what}.authorSpecialty must be 'code^label^OID' (JDV_J01), found {specialty!r}",
                                  location)

    # --- value sets --------------------------------------------------------------------------------------------------
    def value_sets(self, entry: DocumentEntry, *, signature: bool) -> None:
        location = entry.id
        if not signature:
            class_code, type_code = entry.class_code, entry.type_code
            if class_code and class_code.code and (class_code.code in _NOT_DMP_CLASS_CODES
                                                   or not _in("class_code", class_code)):
                self.metadata(f"classCode {_show(class_code)} is not in JDV_J57 ClassCode-DMP "
                              f"(codingScheme 1.2.250.1.213.1.1.4.1)", location)
            if type_code and type_code.code and (type_code.code in _NOT_DMP_TYPE_CODES
                                                 or not _in("type_code", type_code)):
                self.metadata(f"typeCode {_show(type_code)} is not in JDV_J66 TypeCode-DMP", location)
            elif class_code and type_code and type_code.code:
                expected = terminology.mapping("type_to_class").get(type_code.code)
                if expected is not None and expected != class_code.code:
                    self.metadata(f"classCode must be {expected!r} for typeCode {type_code.code!r} (ASS_X04), "
                                  f"found {class_code.code!r}", location)
            format_code = entry.format_code
            if format_code and format_code.code and not _in("format_code", format_code):
                self.metadata(f"formatCode {_show(format_code)} is not in JDV_J60 FormatCode-DMP", location)
        if entry.facility_type and entry.facility_type.code and not _in("healthcare_facility_type",
                                                                        entry.facility_type):
            self.metadata(f"healthcareFacilityTypeCode {_show(entry.facility_type)} is not in JDV_J02 "
                          "(codingScheme 1.2.250.1.71.4.2.4)", location)
        if entry.practice_setting and entry.practice_setting.code and not _in("practice_setting",
                                                                              entry.practice_setting):
            self.metadata(f"practiceSettingCode {_show(entry.practice_setting)} is not in JDV_J04 "
                          "(codingScheme 1.2.250.1.213.1.1.4.9)", location)
        self.confidentiality(entry)

    def confidentiality(self, entry: DocumentEntry) -> None:
        location = entry.id
        for code in entry.confidentiality:
            if code.code and not _in("confidentiality_xds", code):
                self.metadata(f"confidentialityCode {_show(code)} is not in JDV_J08: N, R, V "
                              f"({c.HL7_CONFIDENTIALITY_SCHEME}) or {', '.join(sorted(_DMP_VISIBILITY))} "
                              f"({c.DMP_VISIBILITY_SCHEME})", location)
        counts = Counter(code.code for code in entry.confidentiality)
        repeated = sorted(code for code, count in counts.items() if count > 1)
        if repeated:
            self.metadata(f"confidentialityCode repeats {', '.join(repeated)}", location)
        levels = sorted(code for code in counts if code in _HL7_CONFIDENTIALITY)
        if entry.confidentiality and len(levels) != 1:
            self.metadata(f"confidentialityCode must hold exactly one of N, R, V (plus optional DMP visibility "
                          f"codes), found {', '.join(levels) or 'none'}", location)

    def signature_codes(self, entry: DocumentEntry) -> None:
        """The XAdES document's fixed metadata (dmp.md §3.6)."""
        location = entry.id
        for code, expected, name in ((entry.class_code, c.SIGNATURE_CLASS_CODE, "classCode"),
                                     (entry.type_code, c.SIGNATURE_TYPE_CODE, "typeCode"),
                                     (entry.format_code, c.SIGNATURE_FORMAT_CODE, "formatCode")):
            if code is not None and code.code != expected:
                self.metadata(f"the XAdES signature document must have {name} {expected!r}, found {code.code!r}",
                              location)
        if entry.mime_type and entry.mime_type != "text/xml":
            self.metadata(f"the XAdES signature document must be text/xml, found {entry.mime_type!r}", location)

    # --- repository-computed attributes -------------------------------------------------------------------------------
    def repository_attributes(self, entry: DocumentEntry, document: bytes | None) -> None:
        location = entry.id
        if document is None:
            return
        if entry.hash is not None:
            actual = hashlib.sha1(document).hexdigest()
            if not _SHA1.match(entry.hash) or entry.hash.lower() != actual:
                self.error(XDS_NON_IDENTICAL_HASH, f"hash {entry.hash!r} does not match the document: its SHA-1 is "
                           f"{actual}", location)
        if entry.size is not None and entry.size != len(document):
            self.error(XDS_REPOSITORY_METADATA_ERROR, f"size {entry.size} does not match the document: it has "
                       f"{len(document)} bytes", location)
        if entry.repository_unique_id is not None and entry.repository_unique_id != self.options.repository_unique_id:
            self.error(XDS_REPOSITORY_METADATA_ERROR, f"repositoryUniqueId must be {self.options.repository_unique_id} "
                       f"(the DMP repository) or absent, found {entry.repository_unique_id!r}", location)

    # --- CDA vs metadata ----------------------------------------------------------------------------------------------
    def cda(self, entry: DocumentEntry, document: bytes) -> None:
        location = entry.id
        try:
            meta = xds_metadata(document, file_path=entry.id)
        except ValueError as exc:
            self.metadata(f"the document of this entry is not a CDA R2 the DMP can read: {exc}", location)
            return
        fields = self.options.cda_fields

        def differ(name: str, expected: object, found: object) -> None:
            self.metadata(f"{name} does not match the CDA document: expected {expected!r} (from the CDA), found "
                          f"{found!r}", location)

        for name, code in (("typeCode", entry.type_code), ("classCode", entry.class_code),
                           ("practiceSettingCode", entry.practice_setting),
                           ("healthcareFacilityTypeCode", entry.facility_type)):
            if name in fields and code is not None:
                wanted = meta[name]
                if (code.code, code.scheme) != (wanted["code"], wanted["codingScheme"]):
                    differ(name, f"{wanted['code']}^^{wanted['codingScheme']}", f"{code.code}^^{code.scheme}")
        if "formatCode" in fields and entry.format_code is not None and entry.format_code.code != meta["formatCode"][
                "code"]:
            differ("formatCode", meta["formatCode"]["code"], entry.format_code.code)
        if "patientId" in fields and entry.patient_id:
            found, wanted = parse_cx(entry.patient_id), parse_cx(meta["patientId"])
            if found is not None and wanted is not None and found.key != wanted.key:
                differ("patientId", meta["patientId"], entry.patient_id)
        if "uniqueId" in fields and entry.unique_id and entry.unique_id not in (meta["uniqueId"],
                                                                               meta["uniqueId"].split("^")[0]):
            differ("uniqueId", meta["uniqueId"], entry.unique_id)
        if "creationTime" in fields and entry.creation_time:
            wanted_time = meta["creationTime"]
            if not (wanted_time.startswith(entry.creation_time) or entry.creation_time.startswith(wanted_time)):
                differ("creationTime", wanted_time, entry.creation_time)
        if "confidentialityCode" in fields and entry.confidentiality:
            missing = [code["code"] for code in meta["confidentialityCode"]
                       if code["code"] not in entry.confidentiality_codes]
            if missing:
                differ("confidentialityCode", " + ".join(code["code"] for code in meta["confidentialityCode"]),
                       " + ".join(code.code for code in entry.confidentiality))
        if "mimeType" in fields and entry.mime_type and entry.mime_type != meta["mimeType"]:
            differ("mimeType", meta["mimeType"], entry.mime_type)

    # --- across objects -----------------------------------------------------------------------------------------------
    def unique_ids(self, submission: Submission) -> None:
        seen: dict[str, str] = {}
        holders = ([(submission.submission_set.id, submission.submission_set.unique_id)]
                   if submission.submission_set else []) + [(entry.id, entry.unique_id) for entry in submission.entries]
        for holder, unique_id in holders:
            if not unique_id:
                continue
            if unique_id in seen:
                self.error(XDS_REGISTRY_DUPLICATE_UNIQUE_ID_IN_MESSAGE, f"uniqueId {unique_id!r} is already used by "
                           f"{seen[unique_id]!r} in this request", holder)
            else:
                seen[unique_id] = holder

    def associations(self, submission: Submission, signatures: set[str], *, feeding: bool) -> None:
        submission_set = submission.submission_set
        assert submission_set is not None
        entries = {entry.id: entry for entry in submission.entries}
        members: set[str] = set()
        for item in submission.associations:
            location = item.id
            if item.type not in self.options.association_types:
                self.metadata(f"association type {item.type!r} is not accepted here; expected one of "
                              f"{', '.join(sorted(self.options.association_types))}", location)
                continue
            if item.type == c.HAS_MEMBER:
                if item.source != submission_set.id:
                    self.metadata(f"HasMember must start from the SubmissionSet {submission_set.id!r}, found "
                                  f"sourceObject {item.source!r}", location)
                if item.target not in entries:
                    self.error(UNRESOLVED_REFERENCE_EXCEPTION, f"HasMember targetObject {item.target!r} is not a "
                               "DocumentEntry of this request", location)
                    continue
                members.add(item.target)
                status = item.slot("SubmissionSetStatus")
                if status != "Original":
                    self.metadata(f"HasMember to a submitted DocumentEntry needs the slot SubmissionSetStatus = "
                                  f"'Original', found {status!r}", location)
                if not feeding and entries[item.target].lid and not item.slot("PreviousVersion"):
                    self.metadata("a new version of a DocumentEntry (metadata update) needs the slot PreviousVersion "
                                  "on its HasMember association", location)
            elif item.type == c.SIGNS:
                if item.source not in signatures:
                    self.metadata(f"the signs association must start from the XAdES signature document, found "
                                  f"sourceObject {item.source!r}", location)
                if item.target != submission_set.id:
                    self.metadata(f"the signs association must point to the SubmissionSet {submission_set.id!r}, "
                                  f"found targetObject {item.target!r}", location)
            elif item.type == c.RPLC:
                if item.source not in entries or item.source in signatures:
                    self.metadata(f"the RPLC association must start from a clinical DocumentEntry of this request, "
                                  f"found sourceObject {item.source!r}", location)
                if not item.target.startswith("urn:uuid:") or item.target in entries:
                    self.metadata(f"the RPLC association must point to the entryUUID (urn:uuid:…) of the registered "
                                  f"document it replaces, found targetObject {item.target!r}", location)
            elif item.type == c.UPDATE_AVAILABILITY_STATUS:
                self.availability(item, submission_set.id)
        for entry in submission.entries:
            if entry.id not in members:
                self.metadata(f"DocumentEntry {entry.id!r} is not a member of the SubmissionSet: a HasMember "
                              "association SubmissionSet → entry is required", entry.id)
            if not feeding and not (entry.lid and entry.lid.startswith("urn:uuid:")):
                self.metadata("a metadata update must carry the logicalId (lid) of the registered document it "
                              f"versions, found {entry.lid!r}", entry.id)

    def availability(self, item: Any, submission_set_id: str) -> None:
        location = item.id
        if item.source != submission_set_id:
            self.metadata(f"UpdateAvailabilityStatus must start from the SubmissionSet {submission_set_id!r}, found "
                          f"{item.source!r}", location)
        if not item.target.startswith("urn:uuid:"):
            self.metadata(f"UpdateAvailabilityStatus must point to an entryUUID (urn:uuid:…), found {item.target!r}",
                          location)
        original, new = item.slot("OriginalStatus"), item.slot("NewStatus")
        if not original or not new:
            self.metadata("UpdateAvailabilityStatus needs the slots OriginalStatus and NewStatus", location)
        elif (original, new) not in _STATUS_TRANSITIONS:
            self.metadata(f"status change {original} → {new} is not allowed by the DMP (archive, unarchive or "
                          "delete only)", location)

    def signature_present(self, submission: Submission, signatures: set[str]) -> None:
        submission_set = submission.submission_set
        assert submission_set is not None
        if not signatures:
            self.metadata("the submission carries no XAdES signature document (classCode "
                          f"{c.SIGNATURE_CLASS_CODE}, typeCode {c.SIGNATURE_TYPE_CODE}, formatCode "
                          f"{c.SIGNATURE_FORMAT_CODE}) signing the SubmissionSet; the DMP requires one",
                          submission_set.id)
            return
        if len(signatures) > 1:
            self.metadata(f"the submission carries {len(signatures)} signature documents; exactly one is expected",
                          submission_set.id)
        signed = {a.source for a in submission.associations if a.type == c.SIGNS and a.target == submission_set.id}
        for entry_id in sorted(signatures):
            if entry_id not in signed:
                self.metadata(f"the signature document has no association {c.SIGNS} to the SubmissionSet "
                              f"{submission_set.id!r}", entry_id)

    # --- EX_2.1-1140 --------------------------------------------------------------------------------------------------
    def authorship(self, submission: Submission, caller: Caller) -> None:
        for entry in submission.clinical_entries:
            if caller.by_structure:
                structures = {parsed.id for author in entry.authors for value in author.institutions
                              if (parsed := parse_xon(value)) is not None}
                if caller.structure_id not in structures:
                    self.metadata(f"Aucun AuthorInstitution ne correspond à l'utilisateur du VIHF: no "
                                  f"authorInstitution has the VIHF Identifiant_Structure {caller.structure_id!r} "
                                  f"(EX_2.1-1140), found {', '.join(sorted(structures)) or 'none'}", entry.id)
            else:
                people = {parsed.id for author in entry.authors
                          if (parsed := parse_xcn(author.person)) is not None}
                legal = parse_xcn(entry.legal_authenticator)
                if legal is not None:
                    people.add(legal.id)
                if caller.ps_id not in people:
                    self.metadata(f"Aucun auteur ne correspond à l'utilisateur du VIHF: the VIHF NameID "
                                  f"{caller.ps_id!r} is neither an authorPerson nor the legalAuthenticator "
                                  f"(EX_2.1-1140), found {', '.join(sorted(p for p in people if p)) or 'none'}",
                                  entry.id)


def _in(value_set: str, code: Coded) -> bool:
    return terminology.contains(value_set, code.code, code.scheme)


def _show(code: Coded) -> str:
    return f"{code.code!r} (codingScheme {code.scheme!r})"

