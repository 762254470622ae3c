"""Rules of the CDA volets the sandbox generates: VAC-NOTE 2023.01 and eDISP-MED 2024.01 (N3), the generic N1 body.

Facts: cda-xds.md §2 "Body-level facts" (VAC-NOTE, from CI-SIS_VAC-NOTE_2023.01.sch and
E_Vaccination_VAC-Note.sch) and §1.5 (N1 media types); eDISP-MED from TestContenuCDA-3-0
schematrons/include/specificationsVolets/eDISP-MED_2024.01 (Entete_eDISP-MED_2024.01.sch,
S_dispensationMedicaments.sch, E_dispensationMedicament.sch), beyond the document templateIds of cda-xds.md §2.
"""
from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator

from ..artifacts import CdaDocument
from .engine import rule

RULE_SET = "cda-volets"
VAC_NOTE_TEMPLATE = "1.2.250.1.213.1.1.1.46"
VAC_NOTE_REFS = ("CI-SIS VAC-NOTE 2023.01",)
N1_REFS = ("CI-SIS StrucMin", "IHE XDS-SD")
SECTION_TEMPLATES = ("2.16.840.1.113883.10.20.1.6", "1.3.6.1.4.1.19376.1.5.3.1.3.23", "1.2.250.1.213.1.1.2.147")
ENTRY_TEMPLATE = "1.2.250.1.213.1.1.3.45"
RANK_TEMPLATE = "1.2.250.1.213.1.1.3.82"
CIS = "1.2.250.1.213.2.3.1"
ATC = "2.16.840.1.113883.6.73"
N1_MEDIA_TYPES = ("application/pdf", "text/plain", "text/rtf", "image/jpeg", "image/tiff")
_DAY = re.compile(r"^\d{8}$")

Issues = Iterator[tuple[str, str | None]]


def _is_vac_note(doc: CdaDocument) -> bool:
    return VAC_NOTE_TEMPLATE in doc.template_roots


def _vac(rule_id: str, title: str):  # type: ignore[no-untyped-def]
    return rule(rule_id, title, rule_set=RULE_SET, applies_to=CdaDocument, refs=VAC_NOTE_REFS, when=_is_vac_note)


def _n1(rule_id: str, title: str, severity: str = "error"):  # type: ignore[no-untyped-def]
    return rule(rule_id, title, rule_set=RULE_SET, applies_to=CdaDocument, refs=N1_REFS, severity=severity,  # type: ignore[arg-type]
                when=lambda doc: doc.is_n1)


_SECTION = ("h:component/h:structuredBody/h:component/h:section"
            f"[h:templateId/@root='{SECTION_TEMPLATES[2]}']")
_ENTRIES = f"{_SECTION}/h:entry/h:substanceAdministration[h:templateId/@root='{ENTRY_TEMPLATE}']"


def _entries(doc: CdaDocument) -> Iterator[tuple[str, object]]:
    for n, entry in enumerate(doc.xpath(_ENTRIES), start=1):
        yield f"/h:ClinicalDocument/{_ENTRIES}[{n}]", entry


@_vac("CDA-VAC-001", "VAC-NOTE: templateId 1.2.250.1.213.1.1.1.46 exactly once and code 87273-9")
def vac_header(doc: CdaDocument) -> Issues:
    count = doc.template_roots.count(VAC_NOTE_TEMPLATE)
    if count != 1:
        yield f"expected templateId {VAC_NOTE_TEMPLATE} exactly once, found {count}", "/h:ClinicalDocument/h:templateId"
    code = doc.first("h:code")
    if code is None or code.get("code") != "87273-9":
        yield (f"expected code 87273-9 (LOINC) for a Note de vaccination, found "
               f"{code.get('code') if code is not None else None!r}", "/h:ClinicalDocument/h:code")


@_vac("CDA-VAC-002", "VAC-NOTE: a FR-Vaccinations section (three templateIds, code 11369-6) with entries")
def vac_section(doc: CdaDocument) -> Issues:
    sections = doc.xpath(_SECTION)
    where = "/h:ClinicalDocument/h:component/h:structuredBody/h:component/h:section"
    if len(sections) != 1:
        yield f"expected one FR-Vaccinations section (templateId {SECTION_TEMPLATES[2]}), found {len(sections)}", where
        return
    roots = {str(r) for r in doc.xpath("h:templateId/@root", sections[0])}
    missing = [t for t in SECTION_TEMPLATES if t not in roots]
    if missing:
        yield f"the section lacks templateId(s) {', '.join(missing)}", f"{where}/h:templateId"
    if doc.xpath("h:code/@code", sections[0]) != ["11369-6"]:
        yield "expected section code 11369-6 (Historique des vaccinations)", f"{where}/h:code"
    if not doc.xpath(_ENTRIES):
        yield f"expected at least one vaccination entry (substanceAdministration {ENTRY_TEMPLATE}), found none", where


@_vac("CDA-VAC-003", "VAC-NOTE: vaccination effectiveTime@value is exactly YYYYMMDD")
def vac_date(doc: CdaDocument) -> Issues:
    for where, entry in _entries(doc):
        values = [str(v) for v in doc.xpath("h:effectiveTime/@value", entry)]
        if len(values) != 1 or not _DAY.match(values[0]):
            yield f"expected effectiveTime/@value as YYYYMMDD, found {values or 'none'}", f"{where}/h:effectiveTime"


@_vac("CDA-VAC-004", "VAC-NOTE: vaccine code from CIS with an ATC translation carrying displayName")
def vac_product(doc: CdaDocument) -> Issues:
    for where, entry in _entries(doc):
        path = "h:consumable/h:manufacturedProduct/h:manufacturedMaterial/h:code"
        code = doc.first(path, entry)
        if code is None or code.get("codeSystem") != CIS:
            yield (f"expected manufacturedMaterial/code in CIS ({CIS}), found "
                   f"{code.get('codeSystem') if code is not None else None!r}", f"{where}/{path}")
            continue
        if not doc.xpath(f"h:translation[@codeSystem='{ATC}'][@code][@displayName]", code):
            yield f"expected a translation in ATC ({ATC}) with @code and @displayName, found none", \
                f"{where}/{path}/h:translation"


@_vac("CDA-VAC-005", "VAC-NOTE: lotNumberText is present")
def vac_lot(doc: CdaDocument) -> Issues:
    for where, entry in _entries(doc):
        path = "h:consumable/h:manufacturedProduct/h:manufacturedMaterial/h:lotNumberText"
        if not "".join(t for e in doc.xpath(path, entry) for t in e.itertext()).strip():
            yield "lotNumberText missing or empty", f"{where}/{path}"


@_vac("CDA-VAC-006", "VAC-NOTE: entry author with id, code (with displayName) and assignedPerson/name")
def vac_author(doc: CdaDocument) -> Issues:
    for where, entry in _entries(doc):
        authors = doc.xpath("h:author/h:assignedAuthor", entry)
        if not authors:
            yield "the vaccination entry has no author", f"{where}/h:author"
            continue
        assigned = authors[0]
        for label, path in (("id", "h:id"), ("code with @displayName", "h:code[@code][@displayName]"),
                            ("assignedPerson/name", "h:assignedPerson/h:name")):
            if not doc.xpath(path, assigned):
                yield f"the entry author lacks {label}", f"{where}/h:author/h:assignedAuthor/{path}"


@_vac("CDA-VAC-007", "VAC-NOTE: rank observation is completed with an INT value")
def vac_rank(doc: CdaDocument) -> Issues:
    for where, entry in _entries(doc):
        path = f"h:entryRelationship/h:observation[h:templateId/@root='{RANK_TEMPLATE}']"
        for observation in doc.xpath(path, entry):
            if doc.xpath("h:statusCode/@code", observation) != ["completed"]:
                yield "the rank observation must have statusCode 'completed'", f"{where}/{path}/h:statusCode"
            value = doc.first("h:value", observation)
            kind = value.get("{http://www.w3.org/2001/XMLSchema-instance}type") if value is not None else None
            if kind != "INT" or not (value.get("value") or "").isdigit():
                yield f"expected value xsi:type='INT' with an integer @value, found type {kind!r}", f"{where}/{path}/h:value"


@_vac("CDA-VAC-008", "VAC-NOTE: substanceAdministration negationInd absent or false")
def vac_negation(doc: CdaDocument) -> Issues:
    for where, entry in _entries(doc):
        if entry.get("negationInd") not in (None, "false"):
            yield f"expected negationInd absent or 'false', found {entry.get('negationInd')!r}", f"{where}/@negationInd"


@_vac("CDA-VAC-009", "VAC-NOTE: displayName on routeCode, approachSiteCode and code")
def vac_display_names(doc: CdaDocument) -> Issues:
    for where, entry in _entries(doc):
        for local in ("code", "routeCode", "approachSiteCode"):
            for element in doc.xpath(f"h:{local}", entry):
                if element.get("code") and not element.get("displayName"):
                    yield f"{local} {element.get('code')!r} has no @displayName", f"{where}/h:{local}"


@_vac("CDA-VAC-010", "VAC-NOTE: patient birthTime is present")
def vac_birth_time(doc: CdaDocument) -> Issues:
    if not doc.xpath("h:recordTarget/h:patientRole/h:patient/h:birthTime/@value"):
        yield "the patient's birthTime is mandatory in a VAC-NOTE", \
            "/h:ClinicalDocument/h:recordTarget/h:patientRole/h:patient/h:birthTime"


EDISP_TEMPLATE = "1.2.250.1.213.1.1.1.54"
EDISP_REFS = ("CI-SIS eDISP-MED 2024.01",)
EDISP_DOCUMENT_TEMPLATES = ("1.3.6.1.4.1.19376.1.9.1.1.3", "1.3.6.1.4.1.19376.1.5.3.1.1.1")
EDISP_SECTION_TEMPLATES = ("1.3.6.1.4.1.19376.1.9.1.2.3", "1.2.250.1.213.1.1.2.236")
EDISP_ENTRY_TEMPLATES = ("1.3.6.1.4.1.19376.1.9.1.3.4", "1.2.250.1.213.1.1.3.204")
_DISP_SECTION = ("h:component/h:structuredBody/h:component/h:section"
                 f"[h:templateId/@root='{EDISP_SECTION_TEMPLATES[0]}']")
_DISP_ENTRIES = f"{_DISP_SECTION}/h:entry/h:supply[h:templateId/@root='{EDISP_ENTRY_TEMPLATES[0]}']"


def _disp(rule_id: str, title: str):  # type: ignore[no-untyped-def]
    return rule(rule_id, title, rule_set=RULE_SET, applies_to=CdaDocument, refs=EDISP_REFS,
                when=lambda doc: EDISP_TEMPLATE in doc.template_roots)


@_disp("CDA-DISP-001", "eDISP-MED: IHE PHARM DIS and PCC templateIds, code 60593-1, serviceEvent code 60593-1")
def disp_header(doc: CdaDocument) -> Issues:
    missing = [t for t in EDISP_DOCUMENT_TEMPLATES if t not in doc.template_roots]
    if missing:
        yield f"the document lacks templateId(s) {', '.join(missing)}", "/h:ClinicalDocument/h:templateId"
    code = doc.first("h:code")
    if code is None or (code.get("code"), code.get("codeSystem")) != ("60593-1", "2.16.840.1.113883.6.1"):
        yield (f"expected code 60593-1 (LOINC) for a dispensation, found "
               f"{code.get('code') if code is not None else None!r}", "/h:ClinicalDocument/h:code")
    if "60593-1" not in [str(v) for v in doc.xpath("h:documentationOf/h:serviceEvent/h:code/@code")]:
        yield "expected documentationOf/serviceEvent/code 60593-1 (the act documented)", \
            "/h:ClinicalDocument/h:documentationOf/h:serviceEvent/h:code"


@_disp("CDA-DISP-002", "eDISP-MED: a FR-Dispensation-medicaments section (two templateIds, code 60590-7) with "
                       "FR-Traitement-dispense entries")
def disp_section(doc: CdaDocument) -> Issues:
    where = "/h:ClinicalDocument/h:component/h:structuredBody/h:component/h:section"
    sections = doc.xpath(_DISP_SECTION)
    if not sections:
        yield f"expected a FR-Dispensation-medicaments section (templateId {EDISP_SECTION_TEMPLATES[0]})", where
        return
    for section in sections:
        if EDISP_SECTION_TEMPLATES[1] not in {str(r) for r in doc.xpath("h:templateId/@root", section)}:
            yield f"the section lacks templateId {EDISP_SECTION_TEMPLATES[1]}", f"{where}/h:templateId"
        if doc.xpath("h:code[@code='60590-7'][@codeSystem='2.16.840.1.113883.6.1']", section) == []:
            yield "expected section code 60590-7 (LOINC)", f"{where}/h:code"
        for code in doc.xpath("h:author/h:assignedAuthor/h:code", section):
            if (code.get("code"), code.get("codeSystem")) != ("G15_21", "1.2.250.1.213.1.1.4.5"):
                yield (f"a section author (the dispenser) must be coded G15_21, found {code.get('code')!r}",
                       f"{where}/h:author/h:assignedAuthor/h:code")
    if not doc.xpath(_DISP_ENTRIES):
        yield f"expected at least one supply entry (templateId {EDISP_ENTRY_TEMPLATES[0]}), found none", where


@_disp("CDA-DISP-003", "eDISP-MED: each FR-Traitement-dispense has the CI-SIS templateId, one text, one quantity "
                       "and one product")
def disp_entries(doc: CdaDocument) -> Issues:
    for n, entry in enumerate(doc.xpath(_DISP_ENTRIES), start=1):
        where = f"/h:ClinicalDocument/{_DISP_ENTRIES}[{n}]"
        if EDISP_ENTRY_TEMPLATES[1] not in {str(r) for r in doc.xpath("h:templateId/@root", entry)}:
            yield f"the entry lacks templateId {EDISP_ENTRY_TEMPLATES[1]}", f"{where}/h:templateId"
        for local in ("text", "quantity", "product"):
            count = len(doc.xpath(f"h:{local}", entry))
            if count != 1:
                yield f"expected exactly one {local}, found {count}", f"{where}/h:{local}"


_N1_TEXT = "/h:ClinicalDocument/h:component/h:nonXMLBody/h:text"


def _n1_content(doc: CdaDocument) -> tuple[bytes | None, str | None]:
    """Decoded body and the decoding error, computed once per document."""
    def decode() -> tuple[bytes | None, str | None]:
        text = doc.first("h:component/h:nonXMLBody/h:text")
        if text is None:
            return None, "nonXMLBody/text missing"
        data = "".join((text.text or "").split())
        if not data:
            return None, "nonXMLBody/text is empty"
        try:
            return base64.b64decode(data, validate=True), None
        except (binascii.Error, ValueError) as exc:
            return None, f"nonXMLBody/text is not valid base64: {exc}"
    return doc.memo("n1-content", decode)  # type: ignore[no-any-return]


@_n1("CDA-N1-001", "N1: nonXMLBody/text is non-empty valid base64")
def n1_base64(doc: CdaDocument) -> Issues:
    content, error = _n1_content(doc)
    if error:
        yield error, _N1_TEXT


@_n1("CDA-N1-002", "N1: an application/pdf body is a PDF (starts with %PDF-)")
def n1_pdf(doc: CdaDocument) -> Issues:
    text = doc.first("h:component/h:nonXMLBody/h:text")
    content, _ = _n1_content(doc)
    if text is not None and text.get("mediaType") == "application/pdf" and content is not None \
            and not content.startswith(b"%PDF-"):
        yield f"mediaType is application/pdf but the content starts with {content[:8]!r}, not %PDF-", _N1_TEXT


@_n1("CDA-N1-003", "N1: mediaType is one the DMP maps to an XDS-SD formatCode", severity="warning")
def n1_media_type(doc: CdaDocument) -> Issues:
    text = doc.first("h:component/h:nonXMLBody/h:text")
    if text is not None and text.get("mediaType") and text.get("mediaType") not in N1_MEDIA_TYPES:
        yield f"expected one of {', '.join(N1_MEDIA_TYPES)}, found {text.get('mediaType')!r}", f"{_N1_TEXT}/@mediaType"
