"""Conformance rules: fixture documents pass, each header rule fails on a document broken for it, ITI-41 and VIHF
rule sets on messages built by the simulator's own builders, stable rule ids."""
from __future__ import annotations

import copy
import random
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from lxml import etree

from segur_sandbox.fixtures import samples
from segur_sandbox.conformance.artifacts import CdaDocument, SamlAssertion, SoapArtifact, load
from segur_sandbox.conformance.rules import evaluate, rules, run
from segur_sandbox.conformance.rules.xds import classify
from segur_sandbox.fixtures.documents import KINDS, DocumentContext, build_document, kind_profile
from segur_sandbox.simulator.dmp import xds
from segur_sandbox.simulator.dmp.xds import XdsError, compose
from segur_sandbox.simulator.dmp.xds.errors import XDS_REGISTRY_METADATA_ERROR
from segur_sandbox.simulator.pki import TestPKI
from segur_sandbox.simulator.security import PatientRef, build_vihf, wsse_security
from segur_sandbox.simulator.soap import build_envelope, encode_mtom, new_message_id, parse_request

NS = {"h": "urn:hl7-org:v3"}
WHEN = datetime(2024, 4, 9, 15, 35, tzinfo=timezone(timedelta(hours=2)))
PATIENT, PHARMACIST, DOCTOR, STRUCTURE = samples.PATIENT, samples.PHARMACIST, samples.DOCTOR, samples.OFFICINE
CDA_SETS = ["cda-header", "cda-volets"]


def document(kind: str = "VAC-NOTE", seed: int = 7) -> bytes:
    author = PHARMACIST if "21" in kind_profile(kind).author_professions else DOCTOR
    return build_document(kind, DocumentContext(copy.deepcopy(PATIENT), author, STRUCTURE, WHEN, random.Random(seed)))


def errors(findings) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted({f.rule_id for f in findings if f.is_error})


# --------------------------------------------------------------------------------------------- CDA
@pytest.mark.parametrize("kind", KINDS)
def test_fixture_documents_pass(kind: str) -> None:
    artifact = load(document(kind), name=kind)
    assert isinstance(artifact, CdaDocument)
    report = evaluate(artifact, CDA_SETS)
    assert report.findings == []
    assert len(report.applied) >= 27


def _remove(path: str):  # type: ignore[no-untyped-def]
    def change(root: etree._Element) -> None:
        for node in root.xpath(path, namespaces=NS):
            if isinstance(node, etree._Element):
                node.getparent().remove(node)
            else:  # attribute
                del node.getparent().attrib[node.attrname]
    return change


def _set(path: str, attribute: str, value: str):  # type: ignore[no-untyped-def]
    def change(root: etree._Element) -> None:
        for node in root.xpath(path, namespaces=NS):
            node.set(attribute, value)
    return change


def _text(path: str, value: str):  # type: ignore[no-untyped-def]
    def change(root: etree._Element) -> None:
        for node in root.xpath(path, namespaces=NS):
            node.text = value
    return change


PATIENT_X = "h:recordTarget/h:patientRole/h:patient"
PERFORMER_ORG = ("h:documentationOf/h:serviceEvent/h:performer/h:assignedEntity/h:representedOrganization/"
                 "h:standardIndustryClassCode")
BROKEN: dict[str, tuple[str, Any]] = {
    "CDA-HDR-001": ("VAC-NOTE", _set("h:realmCode", "code", "BE")),
    "CDA-HDR-002": ("VAC-NOTE", _set("h:typeId", "extension", "POCD_HD000041")),
    "CDA-HDR-003": ("VAC-NOTE", _remove("h:templateId[@root='2.16.840.1.113883.2.8.2.1']")),
    "CDA-HDR-004": ("VAC-NOTE", _remove("h:templateId[@root='1.2.250.1.213.1.1.1.1']")),
    "CDA-HDR-005": ("VAC-NOTE", _remove("h:templateId[not(@root='2.16.840.1.113883.2.8.2.1' or "
                                         "@root='1.2.250.1.213.1.1.1.1')]")),
    "CDA-HDR-006": ("VAC-NOTE", _remove("h:id/@root")),
    "CDA-HDR-007": ("BPM", _set("h:code", "code", "99999-9")),
    "CDA-HDR-008": ("VAC-NOTE", _remove("h:title")),
    "CDA-HDR-009": ("VAC-NOTE", _set("h:effectiveTime", "value", "20240409153500")),
    "CDA-HDR-010": ("VAC-NOTE", _set("h:confidentialityCode", "code", "X")),
    "CDA-HDR-011": ("VAC-NOTE", _set("h:languageCode", "code", "french")),
    "CDA-HDR-012": ("VAC-NOTE", _set("h:versionNumber", "value", "one")),
    "CDA-HDR-013": ("VAC-NOTE", _remove("h:recordTarget/h:patientRole/h:id/@extension")),
    "CDA-HDR-014": ("BPM", _remove(f"{PATIENT_X}/h:birthplace")),
    "CDA-HDR-015": ("BPM", _set(f"{PATIENT_X}/h:name/h:family[@qualifier='CL']", "qualifier", "SP")),
    "CDA-HDR-016": ("BPM", _set(f"{PATIENT_X}/h:administrativeGenderCode", "code", "X")),
    "CDA-HDR-017": ("VAC-NOTE", _remove("h:author/h:time")),
    "CDA-HDR-018": ("VAC-NOTE", _remove("h:author/h:assignedAuthor/h:code")),
    "CDA-HDR-019": ("VAC-NOTE", _set("h:custodian//h:representedCustodianOrganization/h:id", "root", "1.2.3")),
    "CDA-HDR-020": ("VAC-NOTE", _set("h:legalAuthenticator/h:signatureCode", "code", "X")),
    "CDA-HDR-021": ("VAC-NOTE", _remove("h:documentationOf/h:serviceEvent/h:effectiveTime")),
    "CDA-HDR-022": ("VAC-NOTE", _set(PERFORMER_ORG, "code", "NOPE")),
    "CDA-HDR-023": ("VAC-NOTE", _set("h:componentOf//h:healthCareFacility/h:code", "code", "SA99X")),
    "CDA-HDR-024": ("VAC-NOTE", _set("h:componentOf/h:encompassingEncounter/h:code", "code", "XYZ")),
    "CDA-HDR-025": ("BPM", _remove("h:component")),
    "CDA-HDR-026": ("BPM", lambda root: root.insert(4, etree.Element("{urn:hl7-org:v3}templateId",
                                                                        root="1.2.250.1.213.1.1.1.99"))),
    "CDA-HDR-027": ("BPM", _set("h:component/h:nonXMLBody/h:text", "representation", "TXT")),
    "CDA-VAC-003": ("VAC-NOTE", _set("//h:substanceAdministration/h:effectiveTime", "value", "202404091200+0200")),
    "CDA-VAC-005": ("VAC-NOTE", _remove("//h:manufacturedMaterial/h:lotNumberText")),
    "CDA-VAC-007": ("VAC-NOTE", _set("//h:entryRelationship/h:observation/h:statusCode", "code", "active")),
    "CDA-VAC-008": ("VAC-NOTE", _set("//h:substanceAdministration", "negationInd", "true")),
    "CDA-VAC-009": ("VAC-NOTE", _remove("//h:substanceAdministration/h:routeCode/@displayName")),
    "CDA-N1-001": ("BPM", _text("h:component/h:nonXMLBody/h:text", "not base64!")),
    "CDA-N1-002": ("BPM", _text("h:component/h:nonXMLBody/h:text", "SGVsbG8gd29ybGQ=")),
}


@pytest.mark.parametrize("rule_id", sorted(BROKEN))
def test_each_cda_rule_fails_on_a_document_broken_for_it(rule_id: str) -> None:
    kind, change = BROKEN[rule_id]
    root = etree.fromstring(document(kind))
    change(root)
    findings = run(load(etree.tostring(root, xml_declaration=True, encoding="UTF-8")), CDA_SETS)
    assert errors(findings) == [rule_id], [f.message for f in findings]
    assert all(f.location for f in findings)


def test_every_header_rule_has_a_broken_case() -> None:
    header = [r.id for r in rules(["cda-header"])]
    assert [r for r in header if r not in BROKEN] == []


# --------------------------------------------------------------------------------------------- ITI-41 / VIHF
@pytest.fixture(scope="module")
def pki() -> TestPKI:
    return TestPKI.in_memory(1)


def _vihf(pki: TestPKI, **options: Any) -> etree._Element:
    signer = pki.professional(PHARMACIST, STRUCTURE, usage="sign")
    patient = PatientRef("285077511412342", "1.2.250.1.213.1.4.10")
    return build_vihf(signer=signer, professional=PHARMACIST, structure=STRUCTURE, patient=patient,
                      now=datetime.now(timezone.utc), **options)


def _iti41(pki: TestPKI, entry_change=None, *, mtom: bool = True) -> SoapArtifact:  # type: ignore[no-untyped-def]
    ids = random.Random(5)
    from segur_sandbox.fixtures.documents.cda import uuid_oid
    submission = compose.signed_feeding(
        document("VAC-NOTE"), signer=pki.professional(PHARMACIST, STRUCTURE, usage="sign"),
        submission_set_unique_id=uuid_oid(ids), signature_unique_id=uuid_oid(ids), source_id="1.2.250.1.999.1.1.7898",
        submitted=datetime.now(timezone.utc), title="Note de vaccination", entry_change=entry_change)
    action = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"
    if mtom:
        body, attachments = xds.provide_and_register_mtom(submission)
    else:
        body, attachments = xds.provide_and_register_request(submission), None
    envelope = build_envelope(body, action=action, message_id=new_message_id(), to=None,
                              extra_headers=[wsse_security(_vihf(pki))])
    if attachments:
        encoded = encode_mtom(envelope, attachments, action=action)
        data, content_type = encoded.body, encoded.content_type
    else:
        data, content_type = etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"), "application/soap+xml"
    return SoapArtifact("iti41", message=parse_request(data, content_type))


def test_iti41_from_the_simulator_passes(pki: TestPKI) -> None:
    report = evaluate(_iti41(pki))
    assert errors(report.findings) == [], [f.message for f in report.findings]
    applied = {r.rule_set for r in report.applied}
    assert applied == {"transport", "xds", "vihf", "cda-header", "cda-volets"}


def test_iti41_inline_base64_is_a_transport_warning(pki: TestPKI) -> None:
    findings = run(_iti41(pki, mtom=False))
    assert errors(findings) == []
    assert [f.rule_id for f in findings] == ["TRN-006"]


def test_broken_iti41_yields_xds_meta_findings(pki: TestPKI) -> None:
    from dataclasses import replace
    findings = run(_iti41(pki, lambda e: replace(e, class_code=None, language=None)), ["xds"])
    assert errors(findings) == ["XDS-META-010"]
    assert all("XDSRegistryMetadataError" in f.message for f in findings)


@pytest.mark.parametrize(("context", "expected"), [
    ("XDSDocumentEntry.classCode is missing; the DMP requires it", "XDS-META-010"),
    ("typeCode does not match the CDA document: expected 'x'", "XDS-META-013"),
    ("classCode '1' (codingScheme 'x') is not in JDV_J06", "XDS-META-012"),
    ("something new", "XDS-META-019"),
])
def test_xds_classification(context: str, expected: str) -> None:
    assert classify(XdsError(XDS_REGISTRY_METADATA_ERROR, context)) == expected
    assert classify(XdsError("XDSNonIdenticalHash", context)) == "XDS-META-020"


def test_vihf_from_the_builder_passes(pki: TestPKI) -> None:
    artifact = load(etree.tostring(_vihf(pki)))
    assert isinstance(artifact, SamlAssertion)
    assert run(artifact) == []


@pytest.mark.parametrize(("options", "rule_id"), [
    ({"omit": ["Ressource_URN"]}, "VIHF-006"),
    ({"mode": "SEMI_DIRECTE"}, "VIHF-007"),
    ({"purpose": "curiosite"}, "VIHF-008"),
    ({"extra": {"Ressource_URN": "urn:autre"}}, "VIHF-009"),
    ({"name_id": "12345"}, "VIHF-005"),
    ({"sign": False}, "VIHF-004"),
])
def test_broken_vihf_fails_with_the_right_id(pki: TestPKI, options: dict[str, Any], rule_id: str) -> None:
    assert errors(run(load(etree.tostring(_vihf(pki, **options))))) == [rule_id]


# --------------------------------------------------------------------------------------------- INSi
def _insi(**options: Any) -> SoapArtifact:
    from segur_sandbox.simulator.insi.client import insi_envelope
    from segur_sandbox.simulator.insi.constants import TRAITS
    from segur_sandbox.simulator.insi.messages import traits_request
    body = traits_request(options.pop("name", "DUPONT"), ["MARIE"], "F", "1985-07-12")
    envelope = insi_envelope(body, TRAITS, **options)
    return load(etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"))  # type: ignore[return-value]


def test_insi_request_passes_and_missing_headers_fail() -> None:
    assert errors(run(_insi())) == []
    assert errors(run(_insi(omit=["ContexteLPS"]))) == ["INSI-001"]
    assert errors(run(_insi(omit=["ContexteBAM"]))) == ["INSI-002"]
    assert errors(run(_insi(name=None))) == ["INSI-006"]


# --------------------------------------------------------------------------------------------- catalogue
RULE_IDS = [
    "CDA-DISP-001", "CDA-DISP-002", "CDA-DISP-003",
    "CDA-HDR-001", "CDA-HDR-002", "CDA-HDR-003", "CDA-HDR-004", "CDA-HDR-005", "CDA-HDR-006", "CDA-HDR-007",
    "CDA-HDR-008", "CDA-HDR-009", "CDA-HDR-010", "CDA-HDR-011", "CDA-HDR-012", "CDA-HDR-013", "CDA-HDR-014",
    "CDA-HDR-015", "CDA-HDR-016", "CDA-HDR-017", "CDA-HDR-018", "CDA-HDR-019", "CDA-HDR-020", "CDA-HDR-021",
    "CDA-HDR-022", "CDA-HDR-023", "CDA-HDR-024", "CDA-HDR-025", "CDA-HDR-026", "CDA-HDR-027",
    "CDA-N1-001", "CDA-N1-002", "CDA-N1-003",
    "CDA-VAC-001", "CDA-VAC-002", "CDA-VAC-003", "CDA-VAC-004", "CDA-VAC-005", "CDA-VAC-006", "CDA-VAC-007",
    "CDA-VAC-008", "CDA-VAC-009", "CDA-VAC-010",
    "INSI-001", "INSI-002", "INSI-003", "INSI-004", "INSI-005", "INSI-006",
    "TRN-001", "TRN-002", "TRN-003", "TRN-004", "TRN-005", "TRN-006", "TRN-007",
    "VIHF-001", "VIHF-002", "VIHF-003", "VIHF-004", "VIHF-005", "VIHF-006", "VIHF-007", "VIHF-008", "VIHF-009",
    "VIHF-010", "VIHF-011", "VIHF-012", "VIHF-013", "VIHF-014", "VIHF-015",
    "XDS-META-001", "XDS-META-010", "XDS-META-011", "XDS-META-012", "XDS-META-013", "XDS-META-014",
    "XDS-META-015", "XDS-META-016", "XDS-META-019", "XDS-META-020", "XDS-META-021", "XDS-META-022",
    "XDS-META-023", "XDS-META-024", "XDS-META-025", "XDS-META-029",
]


def test_rule_ids_are_unique_and_stable() -> None:
    ids = [r.id for r in rules()]
    assert len(ids) == len(set(ids))
    assert ids == RULE_IDS
    assert all(r.severity in ("error", "warning", "info") and r.title for r in rules())


def test_mtom_package_is_detected_from_its_content(pki: TestPKI) -> None:
    artifact = load(_iti41(pki).message.raw, name="iti41.mime")
    assert isinstance(artifact, SoapArtifact) and artifact.is_iti41
    assert errors(run(artifact)) == []
