"""Put together an ITI-41 submission the way an LPS does: CDA metadata + the XAdES signature document.

For the reference client, the benches and the tests. The metadata of a CDA come from
``fixtures.metadata.xds_metadata``; the signature document's fixed metadata follow the official TD2.1 example
(dmp.md §3.6). The XAdES bytes themselves are made elsewhere (they sign the uniqueIds of this submission).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from . import constants as c
from .model import Association, Author, Coded, DocumentEntry, Submission, SubmissionSet

__all__ = ["DEFAULT_CONTENT_TYPE", "entry_from_metadata", "feeding_submission", "signature_entry", "signed_feeding"]

# The contentTypeCode of the official TD2.1 example (JDV_J59)
DEFAULT_CONTENT_TYPE = Coded("04", "1.2.250.1.213.2.2", "Hospitalisation de jour")


def _coded(value: Mapping[str, str] | None) -> Coded | None:
    if value is None:
        return None
    return Coded(value["code"], value["codingScheme"], value.get("displayName") or "")


def _author(value: Mapping[str, Any]) -> Author:
    def many(key: str) -> tuple[str, ...]:
        found = value.get(key)
        return () if not found else (found,) if isinstance(found, str) else tuple(found)

    return Author(person=value.get("authorPerson"), institutions=many("authorInstitution"),
                  role=many("authorRole"), specialty=many("authorSpecialty"))


def entry_from_metadata(metadata: Mapping[str, Any], *, entry_id: str = "Document01",
                        with_hash: bool = False) -> DocumentEntry:
    """DocumentEntry of ``fixtures.metadata.xds_metadata(cda)``; ``with_hash`` also sends hash and size (the
    repository computes them anyway, and checks them when given)."""
    return DocumentEntry(
        id=entry_id,
        unique_id=metadata["uniqueId"],
        patient_id=metadata["patientId"],
        mime_type=metadata.get("mimeType", "text/xml"),
        source_patient_id=metadata.get("sourcePatientId"),
        source_patient_info=tuple(metadata.get("sourcePatientInfo") or ()),
        class_code=_coded(metadata.get("classCode")),
        type_code=_coded(metadata.get("typeCode")),
        format_code=_coded(metadata.get("formatCode")),
        practice_setting=_coded(metadata.get("practiceSettingCode")),
        facility_type=_coded(metadata.get("healthcareFacilityTypeCode")),
        confidentiality=tuple(Coded(v["code"], v["codingScheme"], v.get("displayName") or "")
                              for v in metadata.get("confidentialityCode") or ()),
        creation_time=metadata.get("creationTime"),
        service_start=metadata.get("serviceStartTime"),
        service_stop=metadata.get("serviceStopTime"),
        language=metadata.get("languageCode"),
        legal_authenticator=metadata.get("legalAuthenticator"),
        authors=tuple(_author(author) for author in metadata.get("authors") or [metadata["author"]]),
        title=metadata.get("title"),
        hash=metadata.get("hash") if with_hash else None,
        size=metadata.get("size") if with_hash else None,
    )


def signature_entry(clinical: DocumentEntry, *, unique_id: str, created: str,
                    entry_id: str = "Signature01") -> DocumentEntry:
    """The XAdES document's entry, with the fixed codes of dmp.md §3.6 and the clinical entry's context."""
    return DocumentEntry(
        id=entry_id,
        unique_id=unique_id,
        patient_id=clinical.patient_id,
        mime_type="text/xml",
        source_patient_id=clinical.patient_id,
        class_code=Coded(c.SIGNATURE_CLASS_CODE, "URN", "Digital Signature"),
        type_code=Coded(c.SIGNATURE_TYPE_CODE, "ASTM", "Full Document"),
        format_code=Coded(c.SIGNATURE_FORMAT_CODE, "URN", "Default Signature Style"),
        practice_setting=clinical.practice_setting,
        facility_type=clinical.facility_type,
        confidentiality=(Coded("N", c.HL7_CONFIDENTIALITY_SCHEME, "Normal"),
                         Coded(c.MASQUE_PS, c.DMP_VISIBILITY_SCHEME, "Masqué aux professionnels de santé"),
                         Coded(c.INVISIBLE_PATIENT, c.DMP_VISIBILITY_SCHEME, "Non visible par le patient")),
        event_codes=(Coded("1.2.840.10065.1.12.1.14", "1.2.840.10065.1.12", "Source"),),
        creation_time=created,
        service_start=created,
        service_stop=created,
        language="art",
        legal_authenticator=clinical.legal_authenticator,
        authors=clinical.authors,
        title="Source",
    )


def feeding_submission(clinical: Sequence[tuple[DocumentEntry, bytes]], signature: tuple[DocumentEntry, bytes] | None,
                       *, unique_id: str, source_id: str, submission_time: str,
                       content_type: Coded = DEFAULT_CONTENT_TYPE, title: str | None = None,
                       submission_set_id: str = "SubmissionSet01",
                       replaces: Mapping[str, str] | None = None) -> Submission:
    """A complete ITI-41 submission: submission set (author and patient of the first document), HasMember to
    every entry, ``signs`` from the signature document, RPLC for ``replaces`` (entry id → replaced entryUUID)."""
    if not clinical:
        raise ValueError("a feeding carries at least one clinical document")
    first = clinical[0][0]
    submission_set = SubmissionSet(
        id=submission_set_id, unique_id=unique_id, source_id=source_id, patient_id=first.patient_id,
        submission_time=submission_time, authors=first.authors[:1], content_type=content_type, title=title)
    entries = [entry for entry, _ in clinical] + ([signature[0]] if signature else [])
    documents = {entry.id: content for entry, content in clinical}
    if signature:
        documents[signature[0].id] = signature[1]
    associations = [Association(f"HasMember{n:02d}", c.HAS_MEMBER, submission_set_id, entry.id,
                                {"SubmissionSetStatus": ("Original",)})
                    for n, entry in enumerate(entries, start=1)]
    if signature:
        associations.append(Association("Signs01", c.SIGNS, signature[0].id, submission_set_id,
                                        {"SubmissionSetStatus": ("Original",)}))
    for n, (entry_id, target) in enumerate((replaces or {}).items(), start=1):
        associations.append(Association(f"Replaces{n:02d}", c.RPLC, entry_id, target))
    return Submission(submission_set, tuple(entries), tuple(associations), documents)


def signed_feeding(cda: bytes, *, signer: Any, submission_set_unique_id: str, signature_unique_id: str,
                   source_id: str, submitted: datetime, signed_content: bytes | None = None,
                   replaces: str | None = None, title: str | None = None,
                   entry_change: Callable[[DocumentEntry], DocumentEntry] | None = None) -> Submission:
    """What an LPS sends to feed one CDA: its metadata (derived from the CDA), the XAdES signature document
    signed by ``signer`` (a CPS or ORG SIGN credential of the test PKI) over the submission set's uniqueId and
    the document bytes, and the associations. ``signed_content`` signs other bytes (a negative test);
    ``entry_change`` alters the entry before signing; ``replaces`` is the entryUUID an RPLC points to."""
    from segur_sandbox.fixtures.metadata import xds_metadata

    from ...security import document_reference, sign_submission, submission_set_reference

    entry = entry_from_metadata(xds_metadata(cda, file_path="document.xml"), entry_id="Document01")
    if entry_change is not None:
        entry = entry_change(entry)
    stamp = submitted.astimezone(timezone.utc).strftime("%Y%m%d%H%M%S")
    content = sign_submission(signer=signer, now=submitted, references=dict([
        submission_set_reference(submission_set_unique_id),
        document_reference(entry.unique_id, cda if signed_content is None else signed_content)]))
    signature = (signature_entry(entry, unique_id=signature_unique_id, created=stamp), content)
    return feeding_submission([(entry, cda)], signature, unique_id=submission_set_unique_id, source_id=source_id,
                              submission_time=stamp, title=title or entry.title,
                              replaces={"Document01": replaces} if replaces else None)
