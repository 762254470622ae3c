"""XDS.b for the DMP: ITI-41 requests parsed and checked, ITI-18 stored queries, ITI-43, ebRIM round trips."""
from __future__ import annotations

import copy

import base64
import hashlib
import random
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from segur_sandbox.fixtures import samples
from segur_sandbox.fixtures.documents import DocumentContext, build_document
from segur_sandbox.fixtures.metadata import xds_metadata
from segur_sandbox.simulator import soap
from segur_sandbox.simulator.dmp import xds
from segur_sandbox.simulator.dmp.xds import compose
from segur_sandbox.simulator.dmp.xds import constants as c
from segur_sandbox.simulator.dmp.xds.parse import parse_query_value
from segur_sandbox.simulator.soap import namespaces as ns

WHEN = datetime(2024, 4, 9, 15, 35, tzinfo=timezone(timedelta(hours=2)))
DS = "http://www.w3.org/2000/09/xmldsig#"
SS_ID, DOC_ID, SIG_ID = "SubmissionSet01", "DocumentME2", "Signature01"
SS_UNIQUE_ID = "1.2.250.1.999.1.1.7898.1.1622814651504"
SIG_UNIQUE_ID = "1.2.250.1.999.1.1.7898.4.1622814651504"
OTHER_INS = "279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH"
RIM = f"{{{ns.RIM}}}"


# --- a feeding as an LPS sends it -----------------------------------------------------------------------------------

def records() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    patient, author, structure = (copy.deepcopy(r) for r in (samples.PATIENT_BORN_ABROAD, samples.GP, samples.CABINET))
    patient["traits"]["birth_date"] = "1969-02-11"
    return patient, author, structure


@cache
def cda(kind: str = "VAC-NOTE") -> bytes:
    patient, author, structure = records()
    if kind in ("BPM", "CR-ENTRETIEN-PHARMA"):
        author = dict(author, profession={"code": "21", "label": "Pharmacien"},
                      specialty={"code": "G15_21", "codeSystem": "1.2.250.1.213.1.1.4.5", "displayName": "Pharmacien"})
    return build_document(kind, DocumentContext(patient, author, structure, WHEN, random.Random(11)))


@cache
def metadata(kind: str = "VAC-NOTE") -> dict[str, Any]:
    return xds_metadata(cda(kind), file_path=f"{kind}.xml")


def patient_cx(kind: str = "VAC-NOTE") -> str:
    return metadata(kind)["patientId"]


def xades(unique_ids: list[str]) -> bytes:
    """A stand-in for the XAdES document: a ds:Signature whose IHE manifest references the submitted items."""
    signature = etree.Element(f"{{{DS}}}Signature", nsmap={None: DS}, Id="sig-0")
    manifest = etree.SubElement(etree.SubElement(signature, f"{{{DS}}}Object"), f"{{{DS}}}Manifest",
                                Id="IHEManifest")
    for unique_id in unique_ids:
        reference = etree.SubElement(manifest, f"{{{DS}}}Reference", URI=f"urn:oid:{unique_id}")
        etree.SubElement(reference, f"{{{DS}}}DigestMethod", Algorithm=f"{DS}sha1")
        etree.SubElement(reference, f"{{{DS}}}DigestValue").text = base64.b64encode(
            hashlib.sha1(unique_id.encode()).digest()).decode()
    return etree.tostring(signature, xml_declaration=True, encoding="UTF-8")


def feeding(kind: str = "VAC-NOTE") -> xds.Submission:
    entry = compose.entry_from_metadata(metadata(kind), entry_id=DOC_ID)
    signature = compose.signature_entry(entry, unique_id=SIG_UNIQUE_ID, created="20240409133600")
    return compose.feeding_submission(
        [(entry, cda(kind))], (signature, xades([SS_UNIQUE_ID, entry.unique_id or ""])), unique_id=SS_UNIQUE_ID,
        source_id="1.2.250.1.999.1.1.7898", submission_time="20240409133600", title="Note de vaccination")


def on_the_wire(submission: xds.Submission, *, mtom: bool = True) -> soap.SoapMessage:
    """The submission as an ITI-41 HTTP request, read back by the SOAP layer."""
    if mtom:
        body, attachments = xds.provide_and_register_mtom(submission)
        envelope = soap.build_envelope(body, action=c.ACTION_ITI41)
        wire = soap.encode_mtom(envelope, attachments, action=c.ACTION_ITI41)
    else:
        envelope = soap.build_envelope(xds.provide_and_register_request(submission), action=c.ACTION_ITI41)
        wire = soap.EncodedMessage(etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"),
                                   "application/soap+xml; charset=UTF-8")
    return soap.parse_request(wire.body, wire.content_type)


def check(submission: xds.Submission, **kwargs: Any) -> list[xds.XdsError]:
    parsed = xds.parse_provide_and_register(on_the_wire(submission))
    return xds.validate_provide_and_register(parsed, expected_patient=kwargs.pop("expected", patient_cx()), **kwargs)


@pytest.mark.parametrize("kind", ["VAC-NOTE", "BPM", "CR-BIO"])
@pytest.mark.parametrize("mtom", [True, False], ids=["mtom", "inline"])
def test_full_iti41_request_parses_back_and_validates_clean(kind: str, mtom: bool) -> None:
    submission = feeding(kind)
    message = on_the_wire(submission, mtom=mtom)
    assert message.transport is (soap.Transport.MTOM if mtom else soap.Transport.PLAIN)
    parsed = xds.parse_provide_and_register(message)
    assert parsed == submission
    assert parsed.documents[DOC_ID] == cda(kind)  # raw bytes, not a base64 round trip
    assert parsed.entry(DOC_ID).element is not None
    assert xds.validate_provide_and_register(parsed, expected_patient=patient_cx(kind)) == []


def test_hash_and_size_when_sent_must_match_and_then_pass() -> None:
    entry = compose.entry_from_metadata(metadata(), entry_id=DOC_ID, with_hash=True)
    submission = feeding()
    submission = replace(submission, entries=(entry, *submission.entries[1:]))
    assert entry.hash == hashlib.sha1(cda()).hexdigest() and entry.size == len(cda())
    assert check(submission) == []


# --- each rule broken once --------------------------------------------------------------------------------------------

Mutation = Callable[[xds.Submission], xds.Submission]


def entry_change(entry_id: str, change: Callable[[xds.DocumentEntry], dict[str, Any]] | None = None,
                 **changes: Any) -> Mutation:
    def mutate(submission: xds.Submission) -> xds.Submission:
        entries = tuple(replace(e, **(change(e) if change else changes)) if e.id == entry_id else e
                        for e in submission.entries)
        return replace(submission, entries=entries)
    return mutate


def set_change(**changes: Any) -> Mutation:
    return lambda s: replace(s, submission_set=replace(s.submission_set, **changes))


def drop(*, entries: tuple[str, ...] = (), associations: tuple[str, ...] = ()) -> Mutation:
    def mutate(s: xds.Submission) -> xds.Submission:
        return replace(s, entries=tuple(e for e in s.entries if e.id not in entries),
                       associations=tuple(a for a in s.associations if a.id not in associations),
                       documents={k: v for k, v in s.documents.items() if k not in entries})
    return mutate


def add_association(item: xds.Association) -> Mutation:
    return lambda s: replace(s, associations=(*s.associations, item))


def first_author(**changes: Any) -> Callable[[xds.DocumentEntry], dict[str, Any]]:
    return lambda e: {"authors": (replace(e.authors[0], **changes), *e.authors[1:])}


def everyone_patient(cx: str) -> Mutation:
    def mutate(s: xds.Submission) -> xds.Submission:
        return replace(s, submission_set=replace(s.submission_set, patient_id=cx),
                       entries=tuple(replace(e, patient_id=cx) for e in s.entries))
    return mutate


LOINC, CLASS_SCHEME = "2.16.840.1.113883.6.1", "1.2.250.1.213.1.1.4.1"
GIVEN_MISSING = "899000000098^GARNIER^^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS"

BROKEN: dict[str, tuple[Mutation, str, str, str]] = {
    # name: (mutation, error code, location, a phrase of codeContext)
    "classCode missing": (entry_change(DOC_ID, class_code=None), "XDSRegistryMetadataError", DOC_ID,
                          "classCode is missing"),
    "classCode outside J57": (entry_change(DOC_ID, class_code=xds.Coded("99", CLASS_SCHEME)),
                              "XDSRegistryMetadataError", DOC_ID, "not in JDV_J57"),
    "classCode with a wrong scheme": (entry_change(DOC_ID, class_code=xds.Coded("52", "1.2.3")),
                                      "XDSRegistryMetadataError", DOC_ID, "not in JDV_J57"),
    "typeCode outside J66": (entry_change(DOC_ID, type_code=xds.Coded("FICHE-CONTACTS", "1.2.250.1.213.1.1.4.12")),
                             "XDSRegistryMetadataError", DOC_ID, "not in JDV_J66"),
    "classCode inconsistent with typeCode (ASS_X04)": (
        entry_change(DOC_ID, class_code=xds.Coded("10", CLASS_SCHEME, "Compte rendu")),
        "XDSRegistryMetadataError", DOC_ID, "classCode must be '52' for typeCode '87273-9'"),
    "formatCode outside J60": (entry_change(DOC_ID, format_code=xds.Coded("urn:x:y", "1.2.250.1.213.1.1.4.2.282")),
                               "XDSRegistryMetadataError", DOC_ID, "not in JDV_J60"),
    "formatCode inconsistent with the CDA templateId (ASS_A11)": (
        entry_change(DOC_ID, format_code=xds.Coded("urn:asip:ci-sis:vac:2019", "1.2.250.1.213.1.1.4.2.282")),
        "XDSRegistryMetadataError", DOC_ID, "formatCode does not match the CDA document: expected "
                                            "'urn:asip:ci-sis:vac-note:2021'"),
    "healthcareFacilityTypeCode outside J02": (
        entry_change(DOC_ID, facility_type=xds.Coded("SA99", "1.2.250.1.71.4.2.4")),
        "XDSRegistryMetadataError", DOC_ID, "not in JDV_J02"),
    "practiceSettingCode outside J04": (
        entry_change(DOC_ID, practice_setting=xds.Coded("CLINIQUE", "1.2.250.1.213.1.1.4.9")),
        "XDSRegistryMetadataError", DOC_ID, "not in JDV_J04"),
    "confidentialityCode outside J08": (
        entry_change(DOC_ID, confidentiality=(xds.Coded("N", c.HL7_CONFIDENTIALITY_SCHEME),
                                              xds.Coded("SECRET", c.DMP_VISIBILITY_SCHEME))),
        "XDSRegistryMetadataError", DOC_ID, "'SECRET'"),
    "confidentiality without N, R or V": (
        entry_change(DOC_ID, confidentiality=(xds.Coded(c.MASQUE_PS, c.DMP_VISIBILITY_SCHEME),)),
        "XDSRegistryMetadataError", DOC_ID, "exactly one of N, R, V"),
    "authorPerson without given name (RG_2230)": (
        entry_change(DOC_ID, first_author(person=GIVEN_MISSING)), "XDSRegistryMetadataError", DOC_ID,
        "given name (component 3)"),
    "authorInstitution without IDNST": (
        entry_change(DOC_ID, first_author(institutions=("CABINET^^^^^&1.2.3&ISO^FINESS^^^123",))),
        "XDSRegistryMetadataError", DOC_ID, "&1.2.250.1.71.4.2.2&ISO^IDNST"),
    "author without authorInstitution": (
        entry_change(DOC_ID, first_author(institutions=())), "XDSRegistryMetadataError", DOC_ID,
        "no authorInstitution"),
    "entry patient differs from the submission set": (
        entry_change(DOC_ID, patient_id=OTHER_INS), "XDSPatientIdDoesNotMatch", DOC_ID, "differs from"),
    "patient id outside the INS authorities": (
        everyone_patient("123^^^&1.2.250.1.999&ISO^PI"), "XDSUnknownPatientId", SS_ID, "is not an INS"),
    "patient is not the VIHF's": (everyone_patient(OTHER_INS), "XDSPatientIdDoesNotMatch", SS_ID,
                                  "not the patient of the VIHF"),
    "uniqueId longer than 64 characters": (entry_change(DOC_ID, unique_id="1." + "2" * 63),
                                           "XDSRegistryMetadataError", DOC_ID, "at most 64 characters"),
    "uniqueId not an OID": (entry_change(DOC_ID, unique_id="urn:uuid:1234"), "XDSRegistryMetadataError", DOC_ID,
                            "must be an OID"),
    "uniqueId repeated in the message": (entry_change(SIG_ID, unique_id=SS_UNIQUE_ID),
                                         "XDSRegistryDuplicateUniqueIdInMessage", SIG_ID, "already used by"),
    "hash not the document's": (entry_change(DOC_ID, hash="0" * 40), "XDSNonIdenticalHash", DOC_ID,
                                "does not match the document"),
    "size not the document's": (entry_change(DOC_ID, size=12), "XDSRepositoryMetadataError", DOC_ID,
                                "size 12 does not match"),
    "repositoryUniqueId not the DMP's": (entry_change(DOC_ID, repository_unique_id="1.2.3"),
                                         "XDSRepositoryMetadataError", DOC_ID, "1.2.250.1.213.4.1.1.1.2"),
    "typeCode differs from the CDA": (entry_change(DOC_ID, type_code=xds.Coded("11369-6", LOINC)),
                                      "XDSRegistryMetadataError", DOC_ID, "typeCode does not match the CDA"),
    "practiceSettingCode differs from the CDA": (
        entry_change(DOC_ID, practice_setting=xds.Coded("ETABLISSEMENT", "1.2.250.1.213.1.1.4.9")),
        "XDSRegistryMetadataError", DOC_ID, "practiceSettingCode does not match the CDA"),
    "healthcareFacilityTypeCode differs from the CDA": (
        entry_change(DOC_ID, facility_type=xds.Coded("SA01", "1.2.250.1.71.4.2.4")),
        "XDSRegistryMetadataError", DOC_ID, "healthcareFacilityTypeCode does not match the CDA"),
    "patientId differs from the CDA": (everyone_patient(OTHER_INS), "XDSRegistryMetadataError", DOC_ID,
                                       "patientId does not match the CDA"),
    "uniqueId differs from the CDA id": (entry_change(DOC_ID, unique_id="1.2.250.1.999.3.42"),
                                         "XDSRegistryMetadataError", DOC_ID, "uniqueId does not match the CDA"),
    "creationTime differs from the CDA": (entry_change(DOC_ID, creation_time="20240409153500"),
                                          "XDSRegistryMetadataError", DOC_ID,
                                          "creationTime does not match the CDA document: expected '20240409133500'"),
    "creationTime not an XDS time": (entry_change(DOC_ID, creation_time="2024-04-09"), "XDSRegistryMetadataError",
                                     DOC_ID, "must be a UTC time"),
    "mimeType not a CDA": (entry_change(DOC_ID, mime_type="application/pdf"), "XDSRegistryMetadataError", DOC_ID,
                           "CDA R2 documents only"),
    "no XAdES signature document": (drop(entries=(SIG_ID,), associations=("HasMember02", "Signs01")),
                                    "XDSRegistryMetadataError", SS_ID, "no XAdES signature document"),
    "signature without its signs association": (drop(associations=("Signs01",)), "XDSRegistryMetadataError", SIG_ID,
                                                "has no association urn:ihe:iti:2007:AssociationType:signs"),
    "signature with another typeCode": (entry_change(SIG_ID, type_code=xds.Coded("11488-4", LOINC)),
                                        "XDSRegistryMetadataError", SIG_ID, "must have typeCode 'E1762'"),
    "entry not a member of the submission set": (drop(associations=("HasMember01",)), "XDSRegistryMetadataError",
                                                 DOC_ID, "not a member of the SubmissionSet"),
    "RPLC target not an entryUUID": (add_association(xds.Association("Replaces01", c.RPLC, DOC_ID, "OldDoc")),
                                     "XDSRegistryMetadataError", "Replaces01", "entryUUID (urn:uuid:…)"),
    "association type the DMP does not take": (
        add_association(xds.Association("Xfrm01", c.XFRM, DOC_ID, "urn:uuid:8a5b51b5-5b2b-4c1c-9d53-4f2e4d7e2f11")),
        "XDSRegistryMetadataError", "Xfrm01", "is not accepted here"),
    "submission set without contentTypeCode": (set_change(content_type=None), "XDSRegistryMetadataError", SS_ID,
                                               "contentTypeCode is missing"),
    "submission set without sourceId": (set_change(source_id=None), "XDSRegistryMetadataError", SS_ID,
                                        "sourceId is missing"),
}


@pytest.mark.parametrize("name", list(BROKEN))
def test_each_rule_broken_once_gives_its_error_at_its_location(name: str) -> None:
    mutation, code, location, phrase = BROKEN[name]
    errors = check(mutation(feeding()))
    matching = [e for e in errors if e.code == code and e.location == location and phrase in e.context]
    assert matching, f"expected {code} at {location} mentioning {phrase!r}; got {errors}"
    assert all(e.severity == "Error" for e in matching)


def test_lenient_options_turn_families_of_checks_off() -> None:
    broken = BROKEN["creationTime differs from the CDA"][0](drop(associations=("Signs01",))(feeding()))
    assert check(broken)
    options = xds.ValidationOptions(cda_fields=frozenset({"typeCode"}))
    assert check(broken, options=options, require_signature=False) == []


def test_rplc_to_an_entry_uuid_is_accepted_and_listed_for_the_app() -> None:
    target = "urn:uuid:7953af1a-ba1c-11eb-816f-0050569e422e"
    submission = add_association(xds.Association("Replaces01", c.RPLC, DOC_ID, target))(feeding())
    assert check(submission) == []
    assert submission.replacements == ((DOC_ID, target),)


@pytest.mark.parametrize("caller, ok", [
    (xds.Caller(ps_id="899000000098"), True),
    (xds.Caller(ps_id="899700366240"), False),
    (xds.Caller(structure_id="399000000000091", by_structure=True), True),
    (xds.Caller(structure_id="10B0172805", by_structure=True), False),
])
def test_authorship_follows_ex_2_1_1140(caller: xds.Caller, ok: bool) -> None:
    errors = check(feeding(), caller=caller)
    assert (errors == []) is ok
    if not ok:
        assert errors[0].location == DOC_ID and "ne correspond à l'utilisateur du VIHF" in errors[0].context


# --- structure of the ITI-41 request ----------------------------------------------------------------------------------

def request_element(submission: xds.Submission) -> etree._Element:
    return etree.fromstring(etree.tostring(xds.provide_and_register_request(submission)))


def documents_of(body: etree._Element) -> dict[str, etree._Element]:
    return {d.get("id"): d for d in body.iterchildren(f"{{{ns.XDS_B}}}Document")}


def test_entry_without_document_and_document_without_entry() -> None:
    body = request_element(feeding())
    signature_document = documents_of(body)[SIG_ID]
    body.remove(signature_document)
    stray = etree.SubElement(body, f"{{{ns.XDS_B}}}Document", id="Orphan01")
    stray.text = base64.b64encode(b"<x/>").decode()
    with pytest.raises(xds.XdsError) as raised:
        xds.parse_provide_and_register(body)
    found = {(e.code, e.location) for e in raised.value.errors}
    assert found == {("XDSMissingDocument", SIG_ID), ("XDSMissingDocumentMetadata", "Orphan01")}


def test_document_id_differing_only_by_case_is_tolerated_with_a_warning() -> None:
    body = request_element(feeding())
    documents_of(body)[DOC_ID].set("id", "documentME2")  # as in the official TD2.1 example
    parsed = xds.parse_provide_and_register(body)
    assert parsed.documents[DOC_ID] == cda()
    assert [(w.severity, w.location) for w in parsed.warnings] == [("Warning", DOC_ID)]


def test_unreadable_size_and_missing_submission_set_are_structural_errors() -> None:
    body = request_element(feeding())
    size = etree.SubElement(body.find(f".//{RIM}ExtrinsicObject"), f"{RIM}Slot", name="size")
    etree.SubElement(etree.SubElement(size, f"{RIM}ValueList"), f"{RIM}Value").text = "12kB"
    package = body.find(f".//{RIM}RegistryPackage")
    package.getparent().remove(package)
    with pytest.raises(xds.XdsError) as raised:
        xds.parse_provide_and_register(body)
    contexts = " | ".join(e.context for e in raised.value.errors)
    assert "size must be a number" in contexts and "no SubmissionSet" in contexts


def test_folders_are_refused() -> None:
    body = request_element(feeding())
    folder = etree.SubElement(body.find(f".//{RIM}RegistryObjectList"), f"{RIM}RegistryPackage", id="Folder01")
    etree.SubElement(folder, f"{RIM}Classification", classificationNode=c.FOLDER_NODE, classifiedObject="Folder01",
                     id="cl-folder")
    with pytest.raises(xds.XdsError, match="folders") as raised:
        xds.parse_provide_and_register(body)
    assert raised.value.location == "Folder01"


# The shape of the official TD2.1 body (default rim namespace, ns3/ns4 prefixes, classifications without
# classifiedObject, patient id with a trailing date component), reduced to what the parser reads.
OFFICIAL_SHAPE = b"""<ns4:ProvideAndRegisterDocumentSetRequest xmlns="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
 xmlns:ns3="urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0" xmlns:ns4="urn:ihe:iti:xds-b:2007">
 <ns3:SubmitObjectsRequest><RegistryObjectList>
  <RegistryPackage id="SubmissionSet01">
   <Slot name="submissionTime"><ValueList><Value>20210604135051</Value></ValueList></Slot>
   <Classification classificationScheme="urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d" id="cla1" nodeRepresentation="">
    <Slot name="authorPerson"><ValueList>
     <Value>899900063480^MAX^LIBRE^^^^^^&amp;1.2.250.1.71.4.2.1&amp;ISO^D^^^IDNPS</Value></ValueList></Slot>
   </Classification>
   <Classification classificationNode="urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
    classifiedObject="SubmissionSet01" id="cla3"/>
   <ExternalIdentifier id="ei1" identificationScheme="urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446"
    value="207058575627097^^^&amp;1.2.250.1.213.1.4.10&amp;ISO^NH^^20100907"/>
  </RegistryPackage>
  <ExtrinsicObject id="DocumentME2" mimeType="text/xml" objectType="urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1">
   <Slot name="sourcePatientInfo"><ValueList><Value>PID-5|patb-quatre^LAURENCE^^^^^L</Value>
    <Value>PID-7|19070525</Value></ValueList></Slot>
   <Classification classificationScheme="urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a" classifiedObject="DocumentME2"
    id="cla5" nodeRepresentation="10"><Slot name="codingScheme"><ValueList><Value>1.2.250.1.213.1.1.4.1</Value>
    </ValueList></Slot><Name><LocalizedString charset="UTF8" value="Compte rendu" xml:lang="FR"/></Name>
   </Classification>
  </ExtrinsicObject>
  <Association associationType="urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember" id="assoc1"
   sourceObject="SubmissionSet01" targetObject="DocumentME2">
   <Slot name="SubmissionSetStatus"><ValueList><Value>Original</Value></ValueList></Slot></Association>
 </RegistryObjectList></ns3:SubmitObjectsRequest>
 <ns4:Document id="documentME2">PENsaW5pY2FsRG9jdW1lbnQvPg==</ns4:Document>
</ns4:ProvideAndRegisterDocumentSetRequest>"""


def test_official_request_shape_is_read() -> None:
    parsed = xds.parse_provide_and_register(etree.fromstring(OFFICIAL_SHAPE))
    assert parsed.submission_set.patient_id == "207058575627097^^^&1.2.250.1.213.1.4.10&ISO^NH^^20100907"
    assert parsed.submission_set.authors[0].person.startswith("899900063480^MAX^LIBRE")
    entry = parsed.entry(DOC_ID)
    assert entry.class_code == xds.Coded("10", "1.2.250.1.213.1.1.4.1", "Compte rendu")
    assert entry.source_patient_info == ("PID-5|patb-quatre^LAURENCE^^^^^L", "PID-7|19070525")
    assert parsed.documents == {DOC_ID: b"<ClinicalDocument/>"}
    assert parsed.associations[0].slot("SubmissionSetStatus") == "Original"


# --- ITI-57 -----------------------------------------------------------------------------------------------------------

def archive_request(original: str, new: str) -> xds.Submission:
    submission_set = replace(feeding().submission_set, id="SubmissionSet01")
    association = xds.Association("association1", c.UPDATE_AVAILABILITY_STATUS, "SubmissionSet01",
                                  "urn:uuid:fe5287a2-ae6a-11eb-8f5d-0050569e422e",
                                  {"OriginalStatus": (original,), "NewStatus": (new,)})
    return xds.Submission(submission_set, (), (association,))


def test_iti57_availability_status_update_round_trips_and_validates() -> None:
    submission = archive_request(c.STATUS_APPROVED, c.STATUS_ARCHIVED)
    parsed = xds.parse_submit_objects(etree.fromstring(etree.tostring(xds.submit_objects_request(submission))))
    assert parsed == submission and parsed.documents == {}
    assert xds.validate_update(parsed, expected_patient=patient_cx()) == []
    refused = xds.validate_update(archive_request(c.STATUS_DELETED, c.STATUS_APPROVED))
    assert [(e.code, e.location) for e in refused] == [("XDSRegistryMetadataError", "association1")]


# --- stored queries (ITI-18) ------------------------------------------------------------------------------------------

# The official TD3.1 request body: quoted CX with &amp;, a status list in parentheses.
FIND_DOCUMENTS = b"""<ns3:AdhocQueryRequest xmlns="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
 xmlns:ns3="urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0">
 <ns3:ResponseOption returnComposedObjects="true" returnType="LeafClass"/>
 <AdhocQuery id="urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d">
  <Slot name="$XDSDocumentEntryPatientId"><ValueList>
   <Value>'207058575627097^^^&amp;1.2.250.1.213.1.4.10&amp;ISO^NH'</Value></ValueList></Slot>
  <Slot name="$XDSDocumentEntryStatus"><ValueList>
   <Value>('urn:oasis:names:tc:ebxml-regrep:StatusType:Approved')</Value></ValueList></Slot>
  <Slot name="$XDSDocumentEntryConfidentialityCode"><ValueList>
   <Value>('N^^2.16.840.1.113883.5.25','R^^2.16.840.1.113883.5.25')</Value>
   <Value>('MASQUE_PS^^1.2.250.1.213.1.1.4.13')</Value></ValueList></Slot>
  <Slot name="$XDSDocumentEntryCreationTimeFrom"><ValueList><Value>20240101</Value></ValueList></Slot>
  <Slot name="$XDSDocumentEntryCreationTimeTo"><ValueList><Value>202405011230</Value></ValueList></Slot>
  <Slot name="$XDSDocumentEntryClassCode"><ValueList><Value>('10^^1.2.250.1.213.1.1.4.1')</Value>
   <Value>('52^^1.2.250.1.213.1.1.4.1')</Value></ValueList></Slot>
 </AdhocQuery>
</ns3:AdhocQueryRequest>"""


def test_official_find_documents_request_is_parsed_and_typed() -> None:
    query = xds.parse_stored_query(soap.parse_xml(FIND_DOCUMENTS))
    assert (query.name, query.return_type) == ("FindDocuments", "LeafClass")
    assert query.params["$XDSDocumentEntryPatientId"] == ["207058575627097^^^&1.2.250.1.213.1.4.10&ISO^NH"]
    assert query.params["$XDSDocumentEntryStatus"] == [c.STATUS_APPROVED]
    assert query.groups["$XDSDocumentEntryConfidentialityCode"] == (
        ("N^^2.16.840.1.113883.5.25", "R^^2.16.840.1.113883.5.25"), ("MASQUE_PS^^1.2.250.1.213.1.1.4.13",))
    spec = xds.to_query_spec(query)
    assert (spec.patient.ins, spec.patient.oid) == ("207058575627097", "1.2.250.1.213.1.4.10")
    assert spec.statuses == {c.STATUS_APPROVED}
    assert spec.confidentiality_codes == ((("N", c.HL7_CONFIDENTIALITY_SCHEME), ("R", c.HL7_CONFIDENTIALITY_SCHEME)),
                                          ((c.MASQUE_PS, c.DMP_VISIBILITY_SCHEME),))
    assert spec.class_codes == (("10", "1.2.250.1.213.1.1.4.1"), ("52", "1.2.250.1.213.1.1.4.1"))  # ORed
    assert spec.creation_time == xds.TimeRange(datetime(2024, 1, 1, tzinfo=timezone.utc),
                                               datetime(2024, 5, 1, 12, 30, tzinfo=timezone.utc))


@pytest.mark.parametrize("text, values", [
    ("'abc'", ["abc"]),
    ("  'a^^^&1.2&ISO^NH' ", ["a^^^&1.2&ISO^NH"]),
    ("('a','b')", ["a", "b"]),
    ("( 'a' , 'b' )", ["a", "b"]),
    ("('it''s')", ["it's"]),
    ("('a,b', 'c')", ["a,b", "c"]),
    ("20240101", ["20240101"]),
    ("(20240101, 'x')", ["20240101", "x"]),
    ("()", []),
])
def test_slot_value_syntax(text: str, values: list[str]) -> None:
    assert parse_query_value(text) == values


@pytest.mark.parametrize("text", ["'abc", "('a',)", "('a' 'b')", "('a'", "'a' 'b'"])
def test_malformed_slot_values_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_query_value(text)


PATIENT = "'207058575627097^^^&1.2.250.1.213.1.4.10&ISO^NH'"
MINIMAL: dict[str, dict[str, list[str]]] = {
    "FindDocuments": {"$XDSDocumentEntryPatientId": ["207058575627097^^^&1.2.250.1.213.1.4.10&ISO^NH"],
                      "$XDSDocumentEntryStatus": [c.STATUS_APPROVED]},
    "FindDocumentsByReferenceId": {"$XDSDocumentEntryPatientId": ["207058575627097^^^&1.2.250.1.213.1.4.10&ISO^NH"],
                                   "$XDSDocumentEntryStatus": [c.STATUS_APPROVED],
                                   "$XDSDocumentEntryReferenceIdList": [
                                       "ORD-1^^^&1.2.3&ISO^urn:ihe:iti:xds:2013:order"]},
    "FindSubmissionSets": {"$XDSSubmissionSetPatientId": ["207058575627097^^^&1.2.250.1.213.1.4.10&ISO^NH"],
                           "$XDSSubmissionSetStatus": [c.STATUS_APPROVED]},
    "GetDocuments": {"$XDSDocumentEntryUniqueId": ["1.2.250.1.999.1.1.7898.3.1622814651504"]},
    "GetAssociations": {"$uuid": ["urn:uuid:7953af1a-ba1c-11eb-816f-0050569e422e"]},
    "GetSubmissionSetAndContents": {"$XDSSubmissionSetUniqueId": [SS_UNIQUE_ID]},
    "GetRelatedDocuments": {"$XDSDocumentEntryEntryUUID": ["urn:uuid:7953af1a-ba1c-11eb-816f-0050569e422e"],
                            "$AssociationTypes": [c.RPLC]},
}


def test_the_catalogue_is_the_dmps() -> None:
    assert set(MINIMAL) == xds.DMP_SUPPORTED_QUERIES
    for name, definition in xds.STORED_QUERIES.items():
        assert definition.query_id == c.STORED_QUERY_IDS[name]


@pytest.mark.parametrize("name", sorted(MINIMAL))
def test_each_query_with_its_required_parameters_goes_through_the_wire(name: str) -> None:
    query = xds.StoredQuery.of(name, MINIMAL[name], return_type="ObjectRef")
    parsed = xds.parse_stored_query(etree.fromstring(etree.tostring(xds.adhoc_query_request(query))))
    assert parsed == query
    spec = xds.to_query_spec(parsed)
    assert (spec.name, spec.return_type, spec.warnings) == (name, "ObjectRef", ())
    if name == "GetRelatedDocuments":
        assert (spec.entry_uuids, spec.association_types) == (("urn:uuid:7953af1a-ba1c-11eb-816f-0050569e422e",),
                                                              (c.RPLC,))
    if name == "GetSubmissionSetAndContents":
        assert spec.submission_set_unique_id == SS_UNIQUE_ID


REQUIRED = [(name, param) for name, definition in sorted(xds.STORED_QUERIES.items())
            if name in xds.DMP_SUPPORTED_QUERIES for param in definition.required]


@pytest.mark.parametrize("name, param", REQUIRED)
def test_each_required_parameter_missing(name: str, param: str) -> None:
    params = {k: v for k, v in MINIMAL[name].items() if k != param}
    with pytest.raises(xds.XdsError) as raised:
        xds.to_query_spec(xds.StoredQuery.of(name, params))
    assert [(e.code, e.location) for e in raised.value.errors] == [("XDSStoredQueryMissingParam", param)]


@pytest.mark.parametrize("name, params, code", [
    ("GetDocuments", {"$XDSDocumentEntryUniqueId": ["1.2.3"], "$XDSDocumentEntryEntryUUID": ["urn:uuid:1"]},
     "XDSStoredQueryParamNumber"),
    ("GetDocuments", {"$homeCommunityId": "urn:oid:1.2.3"}, "XDSStoredQueryMissingParam"),
    ("GetSubmissionSetAndContents", {"$XDSSubmissionSetUniqueId": "1.2", "$XDSSubmissionSetEntryUUID": "urn:uuid:2"},
     "XDSStoredQueryParamNumber"),
    ("FindDocuments", {**MINIMAL["FindDocuments"], "$XDSDocumentEntryCreationTimeFrom": [["20240101"], ["20240102"]]},
     "XDSStoredQueryParamNumber"),
    ("FindDocuments", {**MINIMAL["FindDocuments"], "$XDSDocumentEntryPatientId": ["a", "b"]},
     "XDSStoredQueryParamNumber"),
    ("FindDocuments", {**MINIMAL["FindDocuments"], "$XDSDocumentEntryCreationTimeFrom": "2024-01-01"},
     "XDSRegistryError"),
    ("FindDocuments", {**MINIMAL["FindDocuments"], "$XDSDocumentEntryPatientId": "042^^^&1.2.250.1.999&ISO^PI"},
     "XDSUnknownPatientId"),
    ("FindDocuments", {**MINIMAL["FindDocuments"], "$XDSDocumentEntryPatientId": "207058575627097"},
     "XDSRegistryError"),
    ("FindDocuments", {**MINIMAL["FindDocuments"], "$XDSDocumentEntryClassCode": ["^^1.2"]}, "XDSRegistryError"),
])
def test_parameter_errors(name: str, params: dict[str, Any], code: str) -> None:
    with pytest.raises(xds.XdsError) as raised:
        xds.to_query_spec(xds.StoredQuery.of(name, params))
    assert raised.value.code == code


def test_unknown_and_unsupported_queries() -> None:
    request = etree.fromstring(FIND_DOCUMENTS)
    request.find(f"{RIM}AdhocQuery").set("id", "urn:uuid:00000000-0000-0000-0000-000000000000")
    with pytest.raises(xds.XdsError) as raised:
        xds.parse_stored_query(request)
    assert raised.value.code == "XDSUnknownStoredQuery"
    folders = xds.StoredQuery.of("GetFolders", {"$XDSFolderEntryUUID": "urn:uuid:1"})
    with pytest.raises(xds.XdsError) as raised:
        xds.to_query_spec(folders)
    assert raised.value.code == "XDSUnknownStoredQuery"


def test_undefined_parameters_are_ignored_with_a_warning() -> None:
    spec = xds.to_query_spec(xds.StoredQuery.of("FindDocuments", {**MINIMAL["FindDocuments"], "$Foo": "'x'"}))
    assert [(w.severity, w.location) for w in spec.warnings] == [("Warning", "$Foo")]


def registered(entry: xds.DocumentEntry, uuid: str = "urn:uuid:7953af1a-ba1c-11eb-816f-0050569e422e",
               status: str = c.STATUS_APPROVED) -> xds.DocumentEntry:
    return replace(entry, id=uuid, lid=uuid, status=status, version="1", hash=hashlib.sha1(cda()).hexdigest(),
                   size=len(cda()), repository_unique_id=c.DMP_REPOSITORY_UNIQUE_ID)


def test_query_spec_matches_entries_with_ihe_semantics() -> None:
    entry = registered(feeding().entry(DOC_ID))  # class 52, confidentiality N, created 20240409133500
    find = dict(MINIMAL["FindDocuments"], **{"$XDSDocumentEntryPatientId": patient_cx()})

    def matches(extra: dict[str, Any]) -> bool:
        return xds.entry_matches(xds.to_query_spec(xds.StoredQuery.of("FindDocuments", {**find, **extra})), entry)

    assert matches({})
    assert matches({"$XDSDocumentEntryClassCode": ["10^^1.2.250.1.213.1.1.4.1", "52^^1.2.250.1.213.1.1.4.1"]})
    assert not matches({"$XDSDocumentEntryClassCode": ["10^^1.2.250.1.213.1.1.4.1"]})
    assert matches({"$XDSDocumentEntryConfidentialityCode": [["N^^2.16.840.1.113883.5.25",
                                                              "R^^2.16.840.1.113883.5.25"]]})
    assert not matches({"$XDSDocumentEntryConfidentialityCode": [["N^^2.16.840.1.113883.5.25"],
                                                                 [f"{c.MASQUE_PS}^^{c.DMP_VISIBILITY_SCHEME}"]]})
    assert matches({"$XDSDocumentEntryCreationTimeFrom": "20240409133500"})  # From is inclusive
    assert not matches({"$XDSDocumentEntryCreationTimeTo": "20240409133500"})  # To is exclusive
    assert matches({"$XDSDocumentEntryCreationTimeTo": "20240410"})
    assert matches({"$XDSDocumentEntryAuthorPerson": ["899000000098^GARNIER%"]})
    assert not matches({"$XDSDocumentEntryAuthorPerson": ["%DUPONT%"]})
    assert not matches({"$XDSDocumentEntryStatus": [c.STATUS_DEPRECATED]})
    assert not matches({"$XDSDocumentEntryPatientId": OTHER_INS})


# --- responses --------------------------------------------------------------------------------------------------------

def test_registry_response_statuses_and_errors() -> None:
    assert xds.registry_response().get("status") == c.RESPONSE_SUCCESS
    assert xds.registry_response().find(f"{{{ns.RS}}}RegistryErrorList") is None
    errors = [xds.XdsError("XDSRegistryMetadataError", "classCode is missing", DOC_ID),
              xds.XdsError("XDSRegistryError", "just so you know", None, "Warning")]
    element = xds.registry_response(errors)
    assert element.get("status") == c.RESPONSE_FAILURE
    error_list = element.find(f"{{{ns.RS}}}RegistryErrorList")
    assert error_list.get("highestSeverity") == c.SEVERITY_ERROR
    first = error_list[0]
    assert (first.get("errorCode"), first.get("codeContext"), first.get("location"), first.get("severity")) == (
        "XDSRegistryMetadataError", "classCode is missing", DOC_ID, c.SEVERITY_ERROR)
    assert "location" not in error_list[1].attrib
    parsed = xds.parse_registry_response(etree.fromstring(etree.tostring(element)))
    assert parsed == ("Failure", tuple(errors))
    assert xds.registry_response(errors[1:]).get("status") == c.RESPONSE_SUCCESS
    assert xds.registry_response(errors, status="PartialSuccess").get("status") == c.RESPONSE_PARTIAL_SUCCESS
    raised = xds.XdsErrors(errors)
    assert xds.registry_response([raised]).find(f"{{{ns.RS}}}RegistryErrorList").__len__() == 2


def test_leaf_class_response_carries_what_the_dmp_returns() -> None:
    submission = feeding()
    entry = registered(submission.entry(DOC_ID))
    package = replace(submission.submission_set, id="urn:uuid:1d0c5f3a-43b0-4b09-a0e4-3f5d5c3b7f10",
                      status=c.STATUS_APPROVED)
    link = xds.Association("urn:uuid:2e6b8b8c-3d8f-4a77-8d25-9d6d7d3e0c11", c.HAS_MEMBER, package.id, entry.id,
                           {"SubmissionSetStatus": ("Original",)}, status=c.STATUS_APPROVED)
    element = xds.adhoc_query_response([entry, package, link], "LeafClass", total=21)
    assert (element.get("status"), element.get("totalResultCount"), element.get("startIndex")) == (
        c.RESPONSE_SUCCESS, "21", "0")
    extrinsic = element.find(f"{RIM}RegistryObjectList/{RIM}ExtrinsicObject")
    assert dict(extrinsic.attrib) == {"id": entry.id, "isOpaque": "false", "lid": entry.id, "mimeType": "text/xml",
                                      "objectType": c.STABLE_DOCUMENT_ENTRY, "status": c.STATUS_APPROVED}
    slots = [slot.get("name") for slot in extrinsic.iterchildren(f"{RIM}Slot")]
    assert slots == sorted(slots, key=str.casefold)
    assert {"hash", "size", "repositoryUniqueId", "creationTime", "sourcePatientId"} <= set(slots)
    assert extrinsic.find(f"{RIM}VersionInfo").get("versionName") == "1"
    assert extrinsic.xpath("rim:Slot[@name='repositoryUniqueId']/rim:ValueList/rim:Value/text()",
                           namespaces={"rim": ns.RIM}) == [c.DMP_REPOSITORY_UNIQUE_ID]
    parsed = xds.parse_adhoc_query_response(etree.fromstring(etree.tostring(element)))
    assert parsed.objects == (entry, package, link) and parsed.total == 21 and parsed.status == "Success"
    refs = xds.adhoc_query_response([entry, package.id], "ObjectRef")
    assert [r.get("id") for r in refs.iter(f"{RIM}ObjectRef")] == [entry.id, package.id]
    failed = xds.adhoc_query_response([], errors=[xds.XdsError("XDSTooManyResults", "more than 1000 results")])
    assert failed.get("status") == c.RESPONSE_FAILURE
    partial = xds.adhoc_query_response([entry], errors=[xds.XdsError("XDSRegistryError", "one entry unreadable")])
    assert partial.get("status") == c.RESPONSE_PARTIAL_SUCCESS


@pytest.mark.parametrize("version", [soap.SoapVersion.V12, soap.SoapVersion.V11])
@pytest.mark.parametrize("mtom", [False, True])
def test_spliced_search_answer_is_byte_identical_to_the_built_one(version, mtom) -> None:
    """The server's search path splices pre-serialised ExtrinsicObjects into the answer (xds.build.splice): the
    bytes on the wire must be exactly those of the answer built as one tree."""
    from segur_sandbox.simulator.dmp.xds.build import splice

    submission = feeding()
    first = registered(submission.entry(DOC_ID))
    second = replace(first, id="urn:uuid:7f1c2a55-1b0e-4c8e-9d35-2f1e0c9b8a77", title="Compte rendu « é » & <2>",
                     lid="urn:uuid:7f1c2a55-1b0e-4c8e-9d35-2f1e0c9b8a77", status=c.STATUS_DEPRECATED)
    package = replace(submission.submission_set, id="urn:uuid:1d0c5f3a-43b0-4b09-a0e4-3f5d5c3b7f10",
                      status=c.STATUS_APPROVED)
    warning = xds.XdsError("XDSRegistryError", "<?segur-splice-0 0?> is text here", None, "Warning")
    for objects in ([first, second, first], [package, second], [], [first]):
        options = dict(version=version, action="urn:ihe:iti:2007:RegistryStoredQueryResponse",
                       relates_to="urn:uuid:0", message_id="urn:uuid:1", force_mtom=mtom,
                       boundary="b" if mtom else None, root_content_id="root@x" if mtom else None)
        built = soap.build_response(xds.adhoc_query_response(objects, total=len(objects), errors=[warning]),
                                    **options)
        fragments: list[bytes] = []
        body = xds.adhoc_query_response(objects, total=len(objects), errors=[warning], fragments=fragments)
        assert len(fragments) == sum(isinstance(o, xds.DocumentEntry) for o in objects)
        spliced = soap.build_response(body, **options)
        assert splice(spliced.body, fragments) == built.body
        assert spliced.content_type == built.content_type


# --- retrieve (ITI-43) ------------------------------------------------------------------------------------------------

def test_retrieve_request_parse_and_checks() -> None:
    request = xds.retrieve_request([(c.DMP_REPOSITORY_UNIQUE_ID, "1.2.250.1.999.1.1.7898.3.1"),
                                    ("1.2.3.4", "urn:uuid:7953af1a-ba1c-11eb-816f-0050569e422e", "urn:oid:1.2")])
    items = xds.parse_retrieve(etree.fromstring(etree.tostring(request)))
    assert items == [(c.DMP_REPOSITORY_UNIQUE_ID, "1.2.250.1.999.1.1.7898.3.1", None),
                     ("1.2.3.4", "urn:uuid:7953af1a-ba1c-11eb-816f-0050569e422e", "urn:oid:1.2")]
    errors = xds.validate_retrieve(items)
    assert [(e.code, e.context.split(":")[0]) for e in errors] == [
        ("XDSUnknownRepositoryId", "RepositoryUniqueId '1.2.3.4' is not the DMP repository 1.2.250.1.213.4.1.1.1.2"),
        ("XDSDocumentUniqueIdError", "uniqueId=urn")]
    assert errors[1].context.startswith("uniqueId=urn:uuid:7953af1a-ba1c-11eb-816f-0050569e422e")
    empty = etree.Element(f"{{{ns.XDS_B}}}RetrieveDocumentSetRequest")
    with pytest.raises(xds.XdsError):
        xds.parse_retrieve(empty)


def test_retrieve_response_travels_as_mtom_with_the_raw_bytes() -> None:
    unique_id = metadata()["uniqueId"]
    body = xds.retrieve_response([(c.DMP_REPOSITORY_UNIQUE_ID, unique_id, "text/xml", "doc1@dmp")],
                                 [xds.XdsError("XDSDocumentUniqueIdError", "uniqueId=1.2.3", "1.2.3")])
    wire = soap.build_response(body, action=c.ACTION_ITI43_RESPONSE,
                               mtom_attachments={"doc1@dmp": (cda(), "text/xml")})
    message = soap.parse_request(wire.body, wire.content_type)
    assert message.transport is soap.Transport.MTOM
    result, documents = xds.parse_retrieve_response(message)
    assert result.status == "PartialSuccess" and result.errors[0].code == "XDSDocumentUniqueIdError"
    assert documents == [(c.DMP_REPOSITORY_UNIQUE_ID, unique_id, "text/xml", cda(), None)]
    failure = xds.retrieve_response([], [xds.XdsError("XDSDocumentUniqueIdError", "uniqueId=1.2.3")])
    assert failure.find(f"{{{ns.RS}}}RegistryResponse").get("status") == c.RESPONSE_FAILURE


# --- round trips ------------------------------------------------------------------------------------------------------

text = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Cn")), min_size=1, max_size=16).map(str.strip) \
    .filter(bool)
optional = st.none() | text
codes = st.builds(xds.Coded, text, text, st.just("") | text)
authors = st.builds(xds.Author, optional, st.lists(text, max_size=2).map(tuple), st.lists(text, max_size=2).map(tuple),
                    st.lists(text, max_size=2).map(tuple), st.lists(text, max_size=1).map(tuple))
times = st.none() | st.from_regex(r"\A[0-9]{14}\Z")
entries = st.builds(
    xds.DocumentEntry,
    id=text, unique_id=optional, patient_id=optional, mime_type=optional, lid=optional,
    status=st.none() | st.sampled_from(sorted(c.DMP_STATUSES)), version=st.none() | st.from_regex(r"\A[1-9]\Z"),
    object_type=st.sampled_from([c.STABLE_DOCUMENT_ENTRY, c.ON_DEMAND_DOCUMENT_ENTRY]),
    source_patient_id=optional, source_patient_info=st.lists(text, max_size=3).map(tuple),
    class_code=st.none() | codes, type_code=st.none() | codes, format_code=st.none() | codes,
    practice_setting=st.none() | codes, facility_type=st.none() | codes,
    confidentiality=st.lists(codes, max_size=3).map(tuple), event_codes=st.lists(codes, max_size=2).map(tuple),
    creation_time=times, service_start=times, service_stop=times, language=optional,
    legal_authenticator=optional, authors=st.lists(authors, max_size=2).map(tuple),
    title=st.none() | st.just("") | text,
    comments=optional, hash=st.none() | st.from_regex(r"\A[0-9a-f]{40}\Z"),
    size=st.none() | st.integers(0, 10**12), repository_unique_id=optional,
    reference_ids=st.lists(text, max_size=2).map(tuple),
)


def through_bytes(element: etree._Element) -> etree._Element:
    return soap.parse_xml(etree.tostring(element, encoding="UTF-8"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entries)
def test_entry_round_trip(entry: xds.DocumentEntry) -> None:
    assert xds.parse_extrinsic_object(through_bytes(xds.extrinsic_object(entry))) == entry


@settings(max_examples=60, deadline=None)
@given(st.builds(xds.SubmissionSet, id=text, unique_id=optional, source_id=optional, patient_id=optional,
                 submission_time=times, authors=st.lists(authors, max_size=2).map(tuple),
                 content_type=st.none() | codes, title=optional, comments=optional, lid=optional,
                 status=st.none() | st.just(c.STATUS_APPROVED), version=st.none() | st.just("1")),
       st.dictionaries(text, st.lists(text, min_size=1, max_size=2).map(tuple), max_size=3))
def test_submission_set_and_association_round_trip(submission_set: xds.SubmissionSet,
                                                   slots: dict[str, tuple[str, ...]]) -> None:
    assert xds.parse_registry_package(through_bytes(xds.registry_package(submission_set))) == submission_set
    item = xds.Association("a1", c.HAS_MEMBER, submission_set.id, "Doc", slots)
    assert xds.parse_association(through_bytes(xds.association(item))) == item


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(sorted(MINIMAL)), st.lists(st.lists(text, min_size=1, max_size=3), min_size=1, max_size=3))
def test_query_values_round_trip(name: str, groups: list[list[str]]) -> None:
    query = xds.StoredQuery.of(name, {**MINIMAL[name], "$XDSDocumentEntryFormatCode": groups})
    assert xds.parse_stored_query(through_bytes(xds.adhoc_query_request(query))) == query


def test_whole_submission_round_trips_through_submit_objects() -> None:
    submission = feeding()
    parsed = xds.parse_submit_objects(through_bytes(xds.submit_objects_request(submission)))
    assert parsed == replace(submission, documents={})
