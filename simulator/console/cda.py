"""A CDA R2 document made readable: the header as a table, an N3 body as its sections (the narrative block turned
into HTML, every entry as a tree of labelled values), an N1 body as the PDF it carries.

The narrative is rebuilt element by element from an allow-list (tables, lists, paragraphs…), never copied: a
document is whatever a client sent, and must not bring its own markup, links or scripts into the console.
"""
from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field

from lxml import etree
from markupsafe import Markup, escape

from ..soap import SoapError, parse_xml
from . import labels, xmlview

HL7 = "urn:hl7-org:v3"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
NS = {"h": HL7}
MAX_DEPTH = 40

# narrative block element → the HTML element it becomes (anything else becomes a span)
_NARRATIVE = {"table": "table", "thead": "thead", "tbody": "tbody", "tfoot": "tfoot", "tr": "tr", "th": "th",
              "td": "td", "caption": "caption", "paragraph": "p", "item": "li", "content": "span", "sub": "sub",
              "sup": "sup", "footnote": "small", "br": "br"}
_STYLES = {"Bold": "cda-bold", "Italics": "cda-italics", "Underline": "cda-underline", "Emphasis": "cda-bold"}

_SKIP = {"templateId", "id", "text", "originalText", "addr", "telecom", "realmCode", "typeId", "reference",
         "setId", "classCode"}
_WRAPPERS = {"consumable", "manufacturedProduct", "assignedEntity", "assignedAuthor", "assignedPerson",
             "participantRole", "playingEntity", "specimenRole", "specimenPlayingEntity"}
_ELEMENT_LABELS = {
    "code": "Code", "statusCode": "Statut", "effectiveTime": "Date", "routeCode": "Voie d'administration",
    "approachSiteCode": "Site d'administration", "doseQuantity": "Dose", "manufacturedMaterial": "Produit",
    "lotNumberText": "N° de lot", "name": "Nom", "translation": "Traduction", "performer": "Exécutant",
    "author": "Auteur", "value": "Valeur", "entryRelationship": "Relation", "observation": "Observation",
    "substanceAdministration": "Administration", "participant": "Participant", "time": "Heure",
    "interpretationCode": "Interprétation", "methodCode": "Méthode", "targetSiteCode": "Site",
    "priorityCode": "Priorité", "referenceRange": "Valeurs de référence", "specimen": "Prélèvement",
    "representedOrganization": "Organisation", "standardIndustryClassCode": "Secteur", "act": "Acte",
    "organizer": "Regroupement", "procedure": "Acte", "encounter": "Rencontre", "supply": "Dispensation",
    "component": "Élément", "quantity": "Quantité", "repeatNumber": "Rang",
}
_ENTRY_KINDS = {"substanceAdministration": "Administration d'un produit de santé", "observation": "Observation",
                "act": "Acte", "organizer": "Regroupement d'observations", "procedure": "Acte",
                "encounter": "Rencontre", "supply": "Dispensation"}
_HL7_TIME = re.compile(r"(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.\d+)?([+-]\d{4})?")


@dataclass
class Item:
    label: str
    value: str | None = None
    code_label: str | None = None
    children: list[Item] = field(default_factory=list)


@dataclass
class Section:
    title: str | None
    code: Item | None
    narrative: Markup
    entries: list[tuple[str, list[Item]]] = field(default_factory=list)  # (kind, items)
    sections: list[Section] = field(default_factory=list)


@dataclass
class CdaView:
    level: str | None  # N1, N3, or None when the body is neither
    title: str | None = None
    header: list[Item] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    media_type: str | None = None  # of an N1 body
    has_pdf: bool = False
    xml: Markup = Markup("")
    error: str | None = None


def parse(content: bytes) -> etree._Element | None:
    """The ClinicalDocument element, or None when the bytes are not a CDA document."""
    try:
        root = parse_xml(content, what="document")
    except SoapError:
        return None
    return root if root.tag == f"{{{HL7}}}ClinicalDocument" else None


def render(content: bytes) -> CdaView:
    root = parse(content)
    if root is None:
        return CdaView(level=None, error="le contenu n'est pas un document CDA lisible")
    view = CdaView(level=None, title=_text(root.find("h:title", NS)), header=_header(root),
                   xml=xmlview.render(root))
    structured = root.find("h:component/h:structuredBody", NS)
    non_xml = root.find("h:component/h:nonXMLBody/h:text", NS)
    if structured is not None:
        view.level = "N3"
        view.sections = [_section(s, 0) for s in structured.iterfind("h:component/h:section", NS)]
    elif non_xml is not None:
        view.level = "N1"
        view.media_type = non_xml.get("mediaType")
        view.has_pdf = embedded_pdf(root) is not None
    return view


def embedded_pdf(root: etree._Element) -> bytes | None:
    """The PDF an N1 document carries (nonXMLBody/text, base64), or None."""
    text = root.find("h:component/h:nonXMLBody/h:text", NS)
    if text is None or (text.get("mediaType") or "").lower() != "application/pdf":
        return None
    if (text.get("representation") or "").upper() != "B64":
        return None
    try:
        data = base64.b64decode("".join((text.text or "").split()), validate=True)
    except (binascii.Error, ValueError):
        return None
    return data if data.startswith(b"%PDF") else None


# -- header -----------------------------------------------------------------------------------------------------
def _header(root: etree._Element) -> list[Item]:
    items: list[Item] = []
    code = root.find("h:code", NS)
    if code is not None:
        items.append(_coded("Type de document", code, "type"))
    items.append(Item("Date du document", hl7_time(_attr(root, "h:effectiveTime", "value"))))
    confidentiality = root.find("h:confidentialityCode", NS)
    if confidentiality is not None:
        items.append(_coded("Confidentialité", confidentiality, "confidentiality"))
    patient = root.find("h:recordTarget/h:patientRole", NS)
    if patient is not None:
        items.append(_patient(patient))
    for author in root.iterfind("h:author", NS):
        items.append(_person("Auteur", author.find("h:assignedAuthor", NS), author.find("h:time", NS)))
    custodian = root.find("h:custodian/h:assignedCustodian/h:representedCustodianOrganization/h:name", NS)
    if custodian is not None:
        items.append(Item("Organisation responsable", _text(custodian)))
    legal = root.find("h:legalAuthenticator", NS)
    if legal is not None:
        items.append(_person("Responsable légal", legal.find("h:assignedEntity", NS), legal.find("h:time", NS)))
    for event in root.iterfind("h:documentationOf/h:serviceEvent", NS):
        item = _coded("Acte documenté", event.find("h:code", NS), None) if event.find("h:code", NS) is not None \
            else Item("Acte documenté")
        item.children.append(Item("Période", _period(event.find("h:effectiveTime", NS))))
        items.append(item)
    encounter = root.find("h:componentOf/h:encompassingEncounter", NS)
    if encounter is not None:
        item = Item("Prise en charge")
        if encounter.find("h:code", NS) is not None:
            item.children.append(_coded("Type de rencontre", encounter.find("h:code", NS), "encounter"))
        facility = encounter.find("h:location/h:healthCareFacility/h:code", NS)
        if facility is not None:
            item.children.append(_coded("Cadre d'exercice", facility, "facility"))
        items.append(item)
    items.append(Item("Identifiant", _ii(root.find("h:id", NS)),
                      children=[Item("Version", _attr(root, "h:versionNumber", "value")),
                                Item("Ensemble (setId)", _ii(root.find("h:setId", NS)))]))
    return items


def _patient(role: etree._Element) -> Item:
    patient = role.find("h:patient", NS)
    name = _person_name(patient.find("h:name", NS)) if patient is not None else None
    item = Item("Patient", name)
    for identifier in role.iterfind("h:id", NS):
        root = identifier.get("root")
        item.children.append(Item("Identifiant", identifier.get("extension"),
                                   labels.label("ins_oid", root) or root))
    if patient is not None:
        item.children.append(Item("Né(e) le", hl7_time(_attr(patient, "h:birthTime", "value"))))
        gender = patient.find("h:administrativeGenderCode", NS)
        if gender is not None:
            item.children.append(_coded("Sexe", gender, "sex"))
    return item


def _person(title: str, assigned: etree._Element | None, time: etree._Element | None) -> Item:
    if assigned is None:
        return Item(title, "(absent)")
    item = Item(title, _person_name(assigned.find("h:assignedPerson/h:name", NS)))
    for identifier in assigned.iterfind("h:id", NS):
        item.children.append(Item("Identifiant", identifier.get("extension"), identifier.get("root")))
    code = assigned.find("h:code", NS)
    if code is not None:
        item.children.append(_coded("Profession", code, "specialty"))
    organisation = assigned.find("h:representedOrganization/h:name", NS)
    if organisation is not None:
        item.children.append(Item("Organisation", _text(organisation)))
    if time is not None:
        item.children.append(Item("Le", hl7_time(time.get("value"))))
    return item


# -- body -------------------------------------------------------------------------------------------------------
def _section(section: etree._Element, depth: int) -> Section:
    code = section.find("h:code", NS)
    text = section.find("h:text", NS)
    view = Section(title=_text(section.find("h:title", NS)),
                   code=_coded("Code de section", code, None) if code is not None else None,
                   narrative=narrative(text) if text is not None else Markup(""))
    for entry in section.iterfind("h:entry", NS):
        act = next((child for child in entry if isinstance(child.tag, str)), None)
        if act is not None:
            kind = etree.QName(act).localname
            view.entries.append((_ENTRY_KINDS.get(kind, kind), _items(act, 0)))
    if depth < MAX_DEPTH:
        view.sections = [_section(s, depth + 1) for s in section.iterfind("h:component/h:section", NS)]
    return view


def narrative(text: etree._Element) -> Markup:
    """The narrative block as HTML from an allow-list of elements; attributes are dropped but styleCode."""
    return Markup("".join(_narrative_nodes(text, 0)))


def _narrative_nodes(element: etree._Element, depth: int) -> list[str]:
    out = [str(escape(element.text or ""))]
    for child in element:
        if isinstance(child.tag, str) and depth < MAX_DEPTH:
            local = etree.QName(child).localname
            tag = _NARRATIVE.get(local, "span")
            if local == "list":
                tag = "ol" if child.get("listType") == "ordered" else "ul"
            classes = " ".join(_STYLES[s] for s in (child.get("styleCode") or "").split() if s in _STYLES)
            attributes = f' class="{classes}"' if classes else ""
            if tag == "br":
                out.append("<br>")
            else:
                out.append(f"<{tag}{attributes}>{''.join(_narrative_nodes(child, depth + 1))}</{tag}>")
        out.append(str(escape(child.tail or "")))
    return out


def _items(element: etree._Element, depth: int) -> list[Item]:
    """The labelled values of an entry: codes with their display name, times, quantities, names, nested acts."""
    items: list[Item] = []
    if depth > MAX_DEPTH:
        return items
    for child in element:
        if not isinstance(child.tag, str):
            continue
        local = etree.QName(child).localname
        if local in _SKIP:
            continue
        if local in _WRAPPERS:
            items += _items(child, depth + 1)
            continue
        label = _ELEMENT_LABELS.get(local, local)
        if local == "name" and child.find("h:family", NS) is not None:
            items.append(Item(label, _person_name(child)))
        elif child.get("code") is not None or child.get("nullFlavor") is not None:
            items.append(_coded(label, child, None, depth))
        elif child.find("h:low", NS) is not None or child.find("h:high", NS) is not None:
            items.append(Item(label, _period(child)))
        elif child.get("value") is not None:
            value = child.get("value") or ""
            if local in ("effectiveTime", "time") or (child.get(XSI_TYPE) or "").endswith("TS"):
                value = hl7_time(value) or value
            unit = child.get("unit")
            items.append(Item(label, f"{value} {unit}" if unit and unit != "1" else value))
        elif len(child) == 0:
            if (child.text or "").strip():
                items.append(Item(label, child.text.strip()))
        else:
            nested = _items(child, depth + 1)
            if nested:
                items.append(Item(label, children=nested))
    return items


def _coded(label: str, element: etree._Element, kind: str | None, depth: int = 0) -> Item:
    code = element.get("code")
    if code is None:
        return Item(label, f"nullFlavor {element.get('nullFlavor')}")
    known = labels.label(kind, code) if kind else None
    item = Item(label, code, known or element.get("displayName"))
    if depth <= MAX_DEPTH:
        for translation in element.iterfind("h:translation", NS):
            item.children.append(_coded("Traduction", translation, None, depth + 1))
        for qualifier in element.iterfind("h:qualifier/h:value", NS):
            item.children.append(_coded("Qualificatif", qualifier, None, depth + 1))
    return item


# -- values -----------------------------------------------------------------------------------------------------
def hl7_time(value: str | None) -> str | None:
    """``20260907154900+0200`` → ``07/09/2026 15:49:00 (+0200)``; ``20260907`` → ``07/09/2026``."""
    if not value:
        return None
    match = _HL7_TIME.fullmatch(value.strip())
    if not match:
        return value
    year, month, day, hour, minute, second, zone = match.groups()
    date = "/".join(p for p in (day, month, year) if p)
    time = ":".join(p for p in (hour, minute, second) if p)
    return " ".join(p for p in (date, time, f"({zone})" if zone else "") if p)


def _period(element: etree._Element | None) -> str | None:
    if element is None:
        return None
    if element.get("value"):
        return hl7_time(element.get("value"))
    low, high = _attr(element, "h:low", "value"), _attr(element, "h:high", "value")
    return f"du {hl7_time(low) or '?'} au {hl7_time(high) or '?'}" if high else f"depuis le {hl7_time(low) or '?'}"


def _person_name(name: etree._Element | None) -> str | None:
    if name is None:
        return None
    # a CI-SIS patient name repeats given names (birth first names, first name used…): each is shown once
    given = dict.fromkeys(_text(g) for g in name.iterfind("h:given", NS))
    family = dict.fromkeys(_text(f) for f in name.iterfind("h:family", NS))
    parts = [_text(p) for p in name.iterfind("h:prefix", NS)] + list(given) + list(family)
    return " ".join(p for p in parts if p) or _text(name)


def _ii(element: etree._Element | None) -> str | None:
    if element is None:
        return None
    root, extension = element.get("root"), element.get("extension")
    return f"{root} / {extension}" if extension else root


def _attr(element: etree._Element, path: str, name: str) -> str | None:
    found = element.find(path, NS)
    return found.get(name) if found is not None else None


def _text(element: etree._Element | None) -> str | None:
    if element is None:
        return None
    return " ".join("".join(element.itertext()).split()) or None
