"""XML shown readably: indented, coloured by CSS classes, with the elements a finding points at marked.

``render`` escapes everything it writes (the XML comes from whoever called the sandbox); ``locate`` turns a
finding's location (an XPath, possibly prefixed with where an embedded artifact was found, as
``conformance.rules.engine.evaluate`` writes them) into the element to mark. A location that no longer resolves
falls back to its nearest existing ancestor: a finding about a *missing* element then marks where it should be.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lxml import etree
from markupsafe import Markup, escape

from ..soap import namespaces as soap_ns

LONG_TEXT = 600  # longer texts (base64, certificates) are cut: the raw frame keeps every byte
KEEP_TEXT = 160
MAX_DEPTH = 256
MAX_ELEMENTS = 20_000  # past this the rest of a huge message is summarised, the page must stay usable

NAMESPACES: Mapping[str, str] = {
    "wsa": soap_ns.WSA, "wsse": soap_ns.WSSE, "wsu": soap_ns.WSU, "xop": soap_ns.XOP,
    "saml2": "urn:oasis:names:tc:SAML:2.0:assertion", "ds": "http://www.w3.org/2000/09/xmldsig#",
    "h": soap_ns.HL7V3, "hl7": soap_ns.HL7V3, "xsi": soap_ns.XSI, "xds-b": soap_ns.XDS_B, "rim": soap_ns.RIM,
    "lcm": soap_ns.LCM, "query": soap_ns.QUERY, "rs": soap_ns.RS,
    "ctxlps": "urn:siram:lps:ctxlps", "ctxbam": "urn:siram:bam:ctxbam",
}


@dataclass(frozen=True)
class Mark:
    """An element to highlight: its anchor id and the finding labels shown on hover."""

    anchor: str
    titles: tuple[str, ...]


def render(root: etree._Element, marks: Mapping[etree._Element, Mark] | None = None) -> Markup:
    """The element and its subtree as escaped, indented HTML for a ``<pre>``; marked elements are wrapped in
    ``<mark id=…>`` so that a finding can link to them."""
    writer = _Writer(marks or {})
    writer.element(root, 0, {})
    return Markup("".join(writer.out))


class _Writer:
    def __init__(self, marks: Mapping[etree._Element, Mark]) -> None:
        self.marks = marks
        self.out: list[str] = []
        self.count = 0

    def element(self, element: etree._Element, depth: int, parent_nsmap: Mapping[str | None, str]) -> None:
        indent = "  " * depth
        if not isinstance(element.tag, str):  # comment or processing instruction
            self.out.append(f'{indent}<span class="x-c">{escape(_short(str(element)))}</span>\n')
            return
        self.count += 1
        if self.count > MAX_ELEMENTS or depth > MAX_DEPTH:
            if self.count == MAX_ELEMENTS + 1 or depth == MAX_DEPTH + 1:
                self.out.append(f'{indent}<span class="x-c">… (la suite est trop longue pour être affichée : '
                                'téléchargez la trame brute)</span>\n')
            return
        mark = self.marks.get(element)
        if mark is not None:
            self.out.append(f'<mark class="x-mark" id="{escape(mark.anchor)}" tabindex="-1" '
                            f'title="{escape(" ; ".join(mark.titles))}">')
        name = _qname(element)
        attributes = "".join(self._namespaces(element, parent_nsmap)) + "".join(
            f' <span class="x-an">{escape(_attr_name(element, key))}</span>=<span class="x-av">"'
            f'{escape(_short(value))}"</span>' for key, value in element.attrib.items())
        children = list(element)
        text = (element.text or "").strip()
        start = f'{indent}&lt;<span class="x-t">{escape(name)}</span>{attributes}'
        if not children and not text:
            self.out.append(start + "/&gt;\n")
        elif not children:
            self.out.append(f'{start}&gt;<span class="x-tx">{escape(_short(text))}</span>'
                            f'&lt;/<span class="x-t">{escape(name)}</span>&gt;\n')
        else:
            self.out.append(start + "&gt;\n")
            if text:
                self.out.append(f'{indent}  <span class="x-tx">{escape(_short(text))}</span>\n')
            for child in children:
                self.element(child, depth + 1, element.nsmap)
                tail = (child.tail or "").strip()
                if tail:
                    self.out.append(f'{indent}  <span class="x-tx">{escape(_short(tail))}</span>\n')
            self.out.append(f'{indent}&lt;/<span class="x-t">{escape(name)}</span>&gt;\n')
        if mark is not None:
            self.out.append("</mark>")

    @staticmethod
    def _namespaces(element: etree._Element, parent_nsmap: Mapping[str | None, str]) -> list[str]:
        declared = [(prefix, uri) for prefix, uri in element.nsmap.items() if parent_nsmap.get(prefix) != uri]
        return [f' <span class="x-ns">{escape("xmlns" + (":" + prefix if prefix else ""))}="{escape(uri)}"</span>'
                for prefix, uri in declared]


def _qname(element: etree._Element) -> str:
    qname = etree.QName(element)
    return f"{element.prefix}:{qname.localname}" if element.prefix else qname.localname


def _attr_name(element: etree._Element, key: str) -> str:
    if not key.startswith("{"):
        return key
    qname = etree.QName(key)
    prefix = next((p for p, uri in element.nsmap.items() if uri == qname.namespace and p), None)
    if qname.namespace == "http://www.w3.org/XML/1998/namespace":
        prefix = "xml"
    return f"{prefix}:{qname.localname}" if prefix else qname.localname


def _short(text: str) -> str:
    """The text as shown: on one line (the view re-indents, a line break inside a value — base64 of a
    certificate — would break it; the raw frame keeps every byte), long values cut."""
    if "\n" in text or "\r" in text:
        text = " ".join(text.split())
    if len(text) <= LONG_TEXT:
        return text
    return f"{text[:KEEP_TEXT]}… ({len(text)} caractères)"


# -- finding locations ------------------------------------------------------------------------------------------
_EMBEDDED = {  # where conformance.rules.engine found an embedded artifact → how to find it in the envelope
    "wsse:Security/saml2:Assertion": "/*[local-name()='Envelope']/*[local-name()='Header']"
                                     "/wsse:Security/saml2:Assertion",
}
_DOCUMENT = re.compile(r"xds-b:Document\[@id='([^']*)'\]")


def locate(root: etree._Element, location: str | None) -> etree._Element | None:
    """The element a finding location names in the message whose root is ``root``, or its nearest existing
    ancestor; None when nothing of it resolves (a location in a CDA carried as an attachment, say)."""
    if not location:
        return None
    envelope_ns = etree.QName(root).namespace
    # the rules write soap: for the envelope's own namespace, SOAP 1.1 or 1.2
    namespaces = {**NAMESPACES, "soap": envelope_ns if envelope_ns in (soap_ns.SOAP11, soap_ns.SOAP12)
                  else soap_ns.SOAP12}
    context: etree._Element = root
    path = location.strip()
    while ": " in path:  # "where: inner" (embedded artifact), possibly nested
        where, _, path = path.partition(": ")
        found = _embedded(context, where.strip(), namespaces)
        if found is None:
            return None
        if etree.QName(found).localname == "Document":  # a CDA inside an ITI-41: its bytes are not in this tree
            return found
        context = found
    return _resolve(context, path, namespaces)


def _embedded(context: etree._Element, where: str, namespaces: Mapping[str, str]) -> etree._Element | None:
    document = _DOCUMENT.fullmatch(where)
    if document:
        found = _xpath(context, f"//xds-b:Document[@id='{document.group(1)}']", namespaces)
    else:
        found = _xpath(context, _EMBEDDED.get(where, where), namespaces)
    return found[0] if found else None


def _resolve(context: etree._Element, path: str, namespaces: Mapping[str, str]) -> etree._Element | None:
    steps = _steps(path)
    if not steps:
        return None
    absolute = path.startswith("/")
    while steps:
        while steps and steps[-1].startswith("@"):  # an attribute: mark its element
            steps = steps[:-1]
        if not steps:
            return context
        if absolute and context.getparent() is not None:  # "/saml2:Assertion/…" inside an envelope
            expression = "self::" + "/".join(steps)
        else:
            expression = ("/" if absolute else "") + "/".join(steps)
        found = [item for item in _xpath(context, expression, namespaces) if isinstance(item, etree._Element)]
        if found:
            return found[0]
        steps = steps[:-1]
    return None


def _steps(path: str) -> list[str]:
    """The steps of an XPath, split on the slashes outside predicates and quotes."""
    steps: list[str] = []
    current: list[str] = []
    depth, quote = 0, ""
    for char in path:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif char == "/" and depth == 0:
            if current:
                steps.append("".join(current))
            current = []
            continue
        current.append(char)
    if current:
        steps.append("".join(current))
    return [s for s in steps if s]


def _xpath(context: etree._Element, expression: str, namespaces: Mapping[str, str]) -> Sequence[object]:
    try:
        result = context.xpath(expression, namespaces=dict(namespaces))
    except (etree.XPathError, ValueError, TypeError):
        return []
    return result if isinstance(result, list) else []
