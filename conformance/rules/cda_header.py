"""CI-SIS CDA header ("en-tête", structuration minimale) rules: cda-xds.md §1.2–1.5.

One rule per header element so that a failing document names exactly what is wrong. Locations are XPaths with the
``h:`` prefix for urn:hl7-org:v3.
"""
from __future__ import annotations

import re
from collections.abc import Iterator

from segur_sandbox.fixtures import terminology

from ..artifacts import CdaDocument
from .engine import rule

RULE_SET = "cda-header"
STRUCMIN = ("CI-SIS StrucMin",)

HL7_FRANCE = "2.16.840.1.113883.2.8.2.1"
CISIS = "1.2.250.1.213.1.1.1.1"
XDS_SD = "1.3.6.1.4.1.19376.1.2.20"
INS_ROOTS = frozenset({"1.2.250.1.213.1.4.8", "1.2.250.1.213.1.4.9", "1.2.250.1.213.1.4.10", "1.2.250.1.213.1.4.11"})
CUSTODIAN_ROOTS = frozenset({"1.2.250.1.71.4.2.2", "1.2.250.1.213.4.1"})
_TS_WITH_OFFSET = re.compile(r"^\d{8}(\d{2}(\d{2}(\d{2})?)?)?[+-]\d{4}$|^\d{4}(\d{2}(\d{2})?)?$")
_LANGUAGE = re.compile(r"^[a-z]{2}-[A-Z]{2}$")

Issues = Iterator[tuple[str, str | None]]


def _header(rule_id: str, title: str, **kwargs: object):  # type: ignore[no-untyped-def]
    kwargs.setdefault("refs", STRUCMIN)
    return rule(rule_id, title, rule_set=RULE_SET, applies_to=CdaDocument, **kwargs)  # type: ignore[arg-type]


def _count(doc: CdaDocument, path: str, expected: int, what: str) -> Issues:
    found = len(doc.xpath(path))
    if found != expected:
        yield f"expected exactly {expected} {what}, found {found}", path


def _coded(doc: CdaDocument, path: str, value_set: str | None, label: str) -> Issues:
    element = doc.first(path)
    if element is None:
        yield f"{label}: element missing", path
        return
    missing = [name for name in ("code", "codeSystem", "displayName") if not element.get(name)]
    if missing:
        yield f"{label}: @{', @'.join(missing)} missing (code, codeSystem and displayName are required)", path
    code, system = element.get("code"), element.get("codeSystem")
    if value_set and code and not terminology.contains(value_set, code, system):
        info = terminology.info(value_set)
        yield (f"{label}: expected a code of {info.name} ({info.oid}), found {code!r} (codeSystem {system!r})",
               path)


@_header("CDA-HDR-001", "realmCode/@code is FR, exactly once")
def realm_code(doc: CdaDocument) -> Issues:
    codes = [str(v) for v in doc.xpath("h:realmCode/@code")]
    if codes != ["FR"]:
        yield f"expected one realmCode code='FR', found {codes or 'none'}", "/h:ClinicalDocument/h:realmCode"


@_header("CDA-HDR-002", "typeId is 2.16.840.1.113883.1.3 / POCD_HD000040")
def type_id(doc: CdaDocument) -> Issues:
    found = [(t.get("root"), t.get("extension")) for t in doc.xpath("h:typeId")]
    if found != [("2.16.840.1.113883.1.3", "POCD_HD000040")]:
        yield (f"expected one typeId root='2.16.840.1.113883.1.3' extension='POCD_HD000040', found {found or 'none'}",
               "/h:ClinicalDocument/h:typeId")


@_header("CDA-HDR-003", "templateId of HL7 France (2.16.840.1.113883.2.8.2.1), exactly once")
def template_hl7_france(doc: CdaDocument) -> Issues:
    yield from _count(doc, f"h:templateId[@root='{HL7_FRANCE}']", 1, f"templateId root='{HL7_FRANCE}'")


@_header("CDA-HDR-004", "templateId of CI-SIS conformance (1.2.250.1.213.1.1.1.1), exactly once")
def template_cisis(doc: CdaDocument) -> Issues:
    yield from _count(doc, f"h:templateId[@root='{CISIS}']", 1, f"templateId root='{CISIS}'")


@_header("CDA-HDR-005", "at least one volet templateId (or IHE XDS-SD for N1) besides the two mandatory ones")
def template_volet(doc: CdaDocument) -> Issues:
    others = [r for r in doc.template_roots if r not in (HL7_FRANCE, CISIS)]
    if not others:
        yield ("expected a volet templateId (or 1.3.6.1.4.1.19376.1.2.20 for N1) besides the HL7 France and CI-SIS "
               "ones, found none", "/h:ClinicalDocument/h:templateId")


@_header("CDA-HDR-006", "id with @root, exactly once, no nullFlavor")
def document_id(doc: CdaDocument) -> Issues:
    ids = doc.xpath("h:id")
    if len(ids) != 1:
        yield f"expected exactly one id, found {len(ids)}", "/h:ClinicalDocument/h:id"
    elif not ids[0].get("root") or ids[0].get("nullFlavor"):
        yield (f"id needs @root and no nullFlavor, found root={ids[0].get('root')!r} "
               f"nullFlavor={ids[0].get('nullFlavor')!r}", "/h:ClinicalDocument/h:id")


@_header("CDA-HDR-007", "code with code/codeSystem/displayName in JDV_J07 (XdsTypeCode)")
def document_code(doc: CdaDocument) -> Issues:
    yield from _count(doc, "h:code", 1, "code")
    yield from _coded(doc, "h:code", "type_code", "ClinicalDocument/code")


@_header("CDA-HDR-008", "title, exactly once and not empty")
def title(doc: CdaDocument) -> Issues:
    titles = doc.xpath("h:title")
    if len(titles) != 1 or not "".join(titles[0].itertext()).strip():
        yield f"expected exactly one non-empty title, found {len(titles)} title element(s)", "/h:ClinicalDocument/h:title"


@_header("CDA-HDR-009", "effectiveTime@value, exactly once, a time with a UTC offset")
def effective_time(doc: CdaDocument) -> Issues:
    values = [str(v) for v in doc.xpath("h:effectiveTime/@value")]
    if len(values) != 1:
        yield f"expected exactly one effectiveTime/@value, found {len(values)}", "/h:ClinicalDocument/h:effectiveTime"
    elif not _TS_WITH_OFFSET.match(values[0]) or len(values[0]) <= 8:
        yield (f"expected YYYYMMDDhhmm[ss]+zzzz (a time with its offset), found {values[0]!r}",
               "/h:ClinicalDocument/h:effectiveTime/@value")


@_header("CDA-HDR-010", "confidentialityCode in HL7 Confidentiality (N, R, V…), exactly once")
def confidentiality(doc: CdaDocument) -> Issues:
    yield from _count(doc, "h:confidentialityCode", 1, "confidentialityCode")
    yield from _coded(doc, "h:confidentialityCode", "confidentiality_cda", "confidentialityCode")


@_header("CDA-HDR-011", "languageCode@code of the form xx-XX (fr-FR)")
def language(doc: CdaDocument) -> Issues:
    codes = [str(v) for v in doc.xpath("h:languageCode/@code")]
    if len(codes) != 1 or not _LANGUAGE.match(codes[0]):
        yield f"expected one languageCode code like 'fr-FR', found {codes or 'none'}", "/h:ClinicalDocument/h:languageCode"


@_header("CDA-HDR-012", "setId@root and an integer versionNumber@value")
def set_id_version(doc: CdaDocument) -> Issues:
    roots = doc.xpath("h:setId/@root")
    if len(roots) != 1 or not str(roots[0]):
        yield f"expected exactly one setId with @root, found {len(roots)}", "/h:ClinicalDocument/h:setId"
    versions = [str(v) for v in doc.xpath("h:versionNumber/@value")]
    if len(versions) != 1 or not versions[0].isdigit():
        yield f"expected one versionNumber with an integer @value, found {versions or 'none'}", \
            "/h:ClinicalDocument/h:versionNumber"


@_header("CDA-HDR-013", "recordTarget/patientRole with an id (root+extension) and a patient, exactly once")
def record_target(doc: CdaDocument) -> Issues:
    roles = doc.xpath("h:recordTarget/h:patientRole")
    if len(roles) != 1:
        yield f"expected exactly one recordTarget/patientRole, found {len(roles)}", "/h:ClinicalDocument/h:recordTarget"
        return
    ids = [i for i in doc.xpath("h:id", roles[0]) if i.get("root") and i.get("extension")]
    if not ids:
        yield "expected a patientRole/id with @root and @extension, found none", \
            "/h:ClinicalDocument/h:recordTarget/h:patientRole/h:id"
    if doc.first("h:patient", roles[0]) is None:
        yield "expected patientRole/patient, found none", "/h:ClinicalDocument/h:recordTarget/h:patientRole/h:patient"


_PATIENT = "/h:ClinicalDocument/h:recordTarget/h:patientRole/h:patient"


@_header("CDA-HDR-014", "INS used as patient id ⇒ every INS trait is present", refs=("CI-SIS StrucMin", "INS"))
def ins_traits(doc: CdaDocument) -> Issues:
    roots = {str(r) for r in doc.xpath("h:recordTarget/h:patientRole/h:id/@root")}
    if not roots & INS_ROOTS:
        return
    patient = doc.first("h:recordTarget/h:patientRole/h:patient")
    if patient is None:
        return
    required = {
        "name/family[@qualifier='BR'] (birth name)": "h:name/h:family[@qualifier='BR']",
        "name/given[@qualifier='BR'] (first birth given name)": "h:name/h:given[@qualifier='BR']",
        "name/given without qualifier (birth given names)": "h:name/h:given[not(@qualifier)]",
        "birthTime/@value": "h:birthTime/@value",
        "birthplace/place/addr/county (COG)": "h:birthplace/h:place/h:addr/h:county",
        "administrativeGenderCode/@code": "h:administrativeGenderCode/@code",
    }
    for label, path in required.items():
        if not doc.xpath(path, patient):
            yield f"the patient is identified by an INS, so {label} is required; not found", f"{_PATIENT}/{path}"


@_header("CDA-HDR-015", "patient name/family carries @qualifier BR or CL")
def family_qualifier(doc: CdaDocument) -> Issues:
    for n, family in enumerate(doc.xpath("h:recordTarget/h:patientRole/h:patient/h:name/h:family"), start=1):
        if family.get("qualifier") not in ("BR", "CL"):
            yield (f"expected family/@qualifier BR (birth name) or CL (used name), found {family.get('qualifier')!r}",
                   f"{_PATIENT}/h:name/h:family[{n}]")


@_header("CDA-HDR-016", "patient administrativeGenderCode in JDV_J143 (F, M, UN)")
def gender(doc: CdaDocument) -> Issues:
    if doc.first("h:recordTarget/h:patientRole/h:patient/h:administrativeGenderCode") is not None:
        element = doc.first("h:recordTarget/h:patientRole/h:patient/h:administrativeGenderCode")
        code, system = element.get("code"), element.get("codeSystem")
        if not code or not terminology.contains("administrative_gender", code, system):
            yield (f"expected F, M or UN (codeSystem 2.16.840.1.113883.5.1), found {code!r} (codeSystem {system!r})",
                   f"{_PATIENT}/h:administrativeGenderCode")


@_header("CDA-HDR-017", "author with time@value and assignedAuthor/id (root+extension)")
def author(doc: CdaDocument) -> Issues:
    authors = doc.xpath("h:author")
    if not authors:
        yield "expected at least one author, found none", "/h:ClinicalDocument/h:author"
    for n, element in enumerate(authors, start=1):
        where = f"/h:ClinicalDocument/h:author[{n}]"
        if not doc.xpath("h:time/@value", element):
            yield "author/time/@value missing", f"{where}/h:time"
        if not doc.xpath("h:assignedAuthor/h:id[@root and @extension]", element):
            yield "expected assignedAuthor/id with @root and @extension, found none", f"{where}/h:assignedAuthor/h:id"


@_header("CDA-HDR-018", "a professional author has assignedAuthor/code (code, codeSystem, displayName)")
def author_code(doc: CdaDocument) -> Issues:
    for n, element in enumerate(doc.xpath("h:author/h:assignedAuthor"), start=1):
        if doc.first("h:assignedPerson", element) is None:
            continue
        where = f"/h:ClinicalDocument/h:author[{n}]/h:assignedAuthor/h:code"
        code = doc.first("h:code", element)
        if code is None:
            yield "the professional author has no code (profession/specialty, JDV_J01)", where
            continue
        missing = [a for a in ("code", "codeSystem", "displayName") if not code.get(a)]
        if missing:
            yield f"assignedAuthor/code lacks @{', @'.join(missing)}", where


@_header("CDA-HDR-019", "custodian organisation id@root is 1.2.250.1.71.4.2.2 or 1.2.250.1.213.4.1")
def custodian(doc: CdaDocument) -> Issues:
    path = "h:custodian/h:assignedCustodian/h:representedCustodianOrganization/h:id/@root"
    roots = [str(r) for r in doc.xpath(path)]
    if len(doc.xpath("h:custodian")) != 1 or not roots or not set(roots) <= CUSTODIAN_ROOTS:
        yield (f"expected one custodian whose organisation id root is one of {', '.join(sorted(CUSTODIAN_ROOTS))}, "
               f"found {roots or 'none'}", f"/h:ClinicalDocument/{path}")


@_header("CDA-HDR-020", "legalAuthenticator with time, signatureCode S, assignedEntity/id and a family name")
def legal_authenticator(doc: CdaDocument) -> Issues:
    where = "/h:ClinicalDocument/h:legalAuthenticator"
    found = doc.xpath("h:legalAuthenticator")
    if len(found) != 1:
        yield f"expected exactly one legalAuthenticator, found {len(found)}", where
        return
    element = found[0]
    if not doc.xpath("h:time/@value", element):
        yield "legalAuthenticator/time/@value missing", f"{where}/h:time"
    if doc.xpath("h:signatureCode/@code", element) != ["S"]:
        yield (f"expected signatureCode code='S', found {[str(v) for v in doc.xpath('h:signatureCode/@code', element)]}",
               f"{where}/h:signatureCode")
    if not doc.xpath("h:assignedEntity/h:id[@root and @extension]", element):
        yield "expected assignedEntity/id with @root and @extension, found none", f"{where}/h:assignedEntity/h:id"
    if not doc.xpath("h:assignedEntity/h:assignedPerson/h:name/h:family", element):
        yield "expected assignedEntity/assignedPerson/name/family, found none", \
            f"{where}/h:assignedEntity/h:assignedPerson/h:name/h:family"


@_header("CDA-HDR-021", "documentationOf/serviceEvent: one performer and effectiveTime/low@value")
def service_event(doc: CdaDocument) -> Issues:
    events = doc.xpath("h:documentationOf/h:serviceEvent")
    where = "/h:ClinicalDocument/h:documentationOf[1]/h:serviceEvent"
    if not events:
        yield "expected at least one documentationOf/serviceEvent, found none", where
        return
    performers = doc.xpath("h:performer", events[0])
    if len(performers) != 1:
        yield f"expected exactly one performer in the first serviceEvent, found {len(performers)}", f"{where}/h:performer"
    if not doc.xpath("h:effectiveTime/h:low/@value", events[0]):
        yield "expected serviceEvent/effectiveTime/low/@value, found none", f"{where}/h:effectiveTime/h:low"


@_header("CDA-HDR-022", "serviceEvent performer (PRF) organisation standardIndustryClassCode in JDV_J04")
def practice_setting(doc: CdaDocument) -> Issues:
    path = ("h:documentationOf/h:serviceEvent/h:performer[@typeCode='PRF']/h:assignedEntity/"
            "h:representedOrganization/h:standardIndustryClassCode")
    if not doc.xpath("h:documentationOf/h:serviceEvent/h:performer[@typeCode='PRF']"):
        return  # CDA-HDR-021 reports the missing performer
    yield from _coded(doc, path, "practice_setting", "performer standardIndustryClassCode (practiceSettingCode)")


@_header("CDA-HDR-023", "componentOf/encompassingEncounter with effectiveTime and healthCareFacility/code in JDV_J02")
def encounter(doc: CdaDocument) -> Issues:
    encounters = doc.xpath("h:componentOf/h:encompassingEncounter")
    where = "/h:ClinicalDocument/h:componentOf/h:encompassingEncounter"
    if len(encounters) != 1:
        yield f"expected exactly one componentOf/encompassingEncounter, found {len(encounters)}", where
        return
    if doc.first("h:effectiveTime", encounters[0]) is None:
        yield "encompassingEncounter/effectiveTime missing", f"{where}/h:effectiveTime"
    yield from _coded(doc, "h:componentOf/h:encompassingEncounter/h:location/h:healthCareFacility/h:code",
                      "healthcare_facility_type", "healthCareFacility/code (healthcareFacilityTypeCode)")


@_header("CDA-HDR-024", "encompassingEncounter/code, when present, in JDV_J142 TypeRencontre")
def encounter_code(doc: CdaDocument) -> Issues:
    code = doc.first("h:componentOf/h:encompassingEncounter/h:code")
    if code is not None and not terminology.contains("encounter_type", code.get("code") or "", code.get("codeSystem")):
        yield (f"expected a JDV_J142 code (IMP, EMER, AMB, FLD, HH, VR…), found {code.get('code')!r} "
               f"(codeSystem {code.get('codeSystem')!r})", "/h:ClinicalDocument/h:componentOf/h:encompassingEncounter/h:code")


@_header("CDA-HDR-025", "component holds exactly one structuredBody (N3) or nonXMLBody (N1)")
def body(doc: CdaDocument) -> Issues:
    bodies = doc.xpath("h:component/h:structuredBody | h:component/h:nonXMLBody")
    if len(doc.xpath("h:component")) != 1 or len(bodies) != 1:
        yield (f"expected one component with one structuredBody or nonXMLBody, found {len(bodies)} body element(s)",
               "/h:ClinicalDocument/h:component")


@_header("CDA-HDR-026", "an N1 document carries exactly the three templateIds HL7 France, CI-SIS and IHE XDS-SD",
         refs=("CI-SIS StrucMin", "IHE XDS-SD"), when=lambda doc: doc.is_n1)
def n1_templates(doc: CdaDocument) -> Issues:
    roots = sorted(doc.template_roots)
    if roots != sorted([HL7_FRANCE, CISIS, XDS_SD]):
        yield f"expected templateIds {HL7_FRANCE}, {CISIS} and {XDS_SD} only, found {roots}", \
            "/h:ClinicalDocument/h:templateId"


@_header("CDA-HDR-027", "an N1 nonXMLBody/text has @mediaType and @representation='B64'",
         refs=("CI-SIS StrucMin", "IHE XDS-SD"), when=lambda doc: doc.is_n1)
def n1_text(doc: CdaDocument) -> Issues:
    text = doc.first("h:component/h:nonXMLBody/h:text")
    where = "/h:ClinicalDocument/h:component/h:nonXMLBody/h:text"
    if text is None:
        yield "nonXMLBody/text missing", where
        return
    if not text.get("mediaType"):
        yield "nonXMLBody/text/@mediaType missing", where
    if text.get("representation") != "B64":
        yield f"expected @representation='B64', found {text.get('representation')!r}", where
