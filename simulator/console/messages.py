"""A logged request or response made readable: its MIME parts apart (MTOM), each XML part pretty-printed with the
findings' places marked, and the VIHF of a DMP request decoded as a table.

Everything here reads bytes whoever called the sandbox sent: it parses with the SOAP layer's hardened parser and
never fails a page on a malformed message; it says what it could not read instead.
"""
from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography import x509
from lxml import etree
from markupsafe import Markup

from ..security import dn
from ..security import namespaces as sec_ns
from ..soap import SoapError, parse_content_type, parse_xml, split_multipart
from ..store import Finding
from . import labels, xmlview

MAX_TEXT = 20_000  # characters of a non-XML body shown inline

_SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
_DS = "http://www.w3.org/2000/09/xmldsig#"
_NS = {"saml2": _SAML, "ds": _DS, "wsse": xmlview.NAMESPACES["wsse"]}


@dataclass(frozen=True)
class PartView:
    number: int  # 1-based position in the MIME package (1 for a plain body)
    role: str  # "body", "root" (the SOAP envelope of a package) or "attachment"
    content_type: str | None
    content_id: str | None
    size: int
    headers: tuple[tuple[str, str], ...] = ()
    xml: Markup | None = None  # pretty-printed XML
    text: str | None = None  # a body that is text but not XML, cut to MAX_TEXT
    note: str | None = None  # why it is not shown as XML


@dataclass
class MessageView:
    content_type: str | None
    size: int
    parts: list[PartView] = field(default_factory=list)
    error: str | None = None  # the package could not be split: shown as one body
    root: etree._Element | None = None  # the SOAP envelope, when it parsed
    anchors: dict[int, str] = field(default_factory=dict)  # finding index → anchor of its marked element


def message_view(data: bytes | None, content_type: str | None, *, anchor_prefix: str,
                 findings: Sequence[Finding] = ()) -> MessageView | None:
    """The parts of a logged body; findings (of a request) are marked in its root part."""
    if data is None:
        return None
    view = MessageView(content_type=content_type, size=len(data))
    raw_parts, root_index, view.error = split_parts(data, content_type)
    for number, (headers, content) in enumerate(raw_parts, start=1):
        role = "body" if len(raw_parts) == 1 and view.error is None and not headers else (
            "root" if number - 1 == root_index else "attachment")
        part_type = headers.get("content-type") if headers else content_type
        parsed, note = _parse(content, part_type)
        marks: dict[etree._Element, xmlview.Mark] = {}
        if parsed is not None and role in ("body", "root"):
            view.root = parsed
            marks = _marks(parsed, findings, anchor_prefix, view.anchors)
        text = None
        if parsed is None and _looks_textual(part_type, content):
            text = content[:MAX_TEXT * 4].decode("utf-8", errors="replace")[:MAX_TEXT]
        content_id = headers.get("content-id", "").strip("<> ") or None if headers else None
        view.parts.append(PartView(
            number=number, role=role, content_type=part_type, content_id=content_id, size=len(content),
            headers=tuple(headers.items()) if headers else (),
            xml=xmlview.render(parsed, marks) if parsed is not None else None, text=text,
            note=None if parsed is not None or text is not None else note))
    return view


def split_parts(data: bytes, content_type: str | None
                ) -> tuple[list[tuple[dict[str, str], bytes]], int, str | None]:
    """(headers, content) of each part, the index of the root part, and why the package did not split."""
    try:
        parsed = parse_content_type(content_type) if content_type else None
    except SoapError:
        parsed = None
    if parsed is None or not parsed.media_type.startswith("multipart/"):
        return [({}, data)], 0, None
    boundary = parsed.param("boundary")
    if not boundary:
        return [({}, data)], 0, "multipart sans paramètre boundary : le corps est montré d'un seul tenant"
    try:
        parts = split_multipart(data, boundary)
    except SoapError as exc:
        return [({}, data)], 0, f"paquet MIME illisible ({exc.reason}) : le corps est montré d'un seul tenant"
    start = (parsed.param("start") or "").strip("<> ")
    root = next((i for i, part in enumerate(parts) if start and part.content_id == start), 0)
    return [(dict(part.headers), part.content) for part in parts], root, None


def _parse(content: bytes, content_type: str | None) -> tuple[etree._Element | None, str | None]:
    media = (content_type or "").lower()
    stripped = content.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not ("xml" in media or stripped.startswith(b"<")):
        return None, f"contenu binaire ({content_type or 'type non précisé'})"
    charset = None
    try:
        charset = parse_content_type(content_type).charset if content_type else None
    except SoapError:
        pass
    try:
        return parse_xml(content, charset=charset, what="part"), None
    except SoapError as exc:
        return None, f"XML illisible : {exc.reason}"


def _looks_textual(content_type: str | None, content: bytes) -> bool:
    media = (content_type or "").lower()
    if media.startswith("text/") or "xml" in media or "json" in media:
        return True
    return b"\x00" not in content[:1024] and not media.startswith(("application/pdf", "application/octet"))


def _marks(root: etree._Element, findings: Sequence[Finding], prefix: str,
           anchors: dict[int, str]) -> dict[etree._Element, xmlview.Mark]:
    marks: dict[etree._Element, xmlview.Mark] = {}
    for index, finding in enumerate(findings):
        element = xmlview.locate(root, finding.location)
        if element is None:
            continue
        current = marks.get(element)
        title = f"{finding.rule} : {finding.message}"
        if current is None:
            current = xmlview.Mark(anchor=f"{prefix}-{len(marks) + 1}", titles=(title,))
        else:
            current = xmlview.Mark(anchor=current.anchor, titles=current.titles + (title,))
        marks[element] = current
        anchors[index] = current.anchor
    return marks


# -- the VIHF ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Value:
    text: str
    label: str | None = None  # the French label of a code


@dataclass(frozen=True)
class VihfRow:
    name: str
    label: str | None
    values: tuple[Value, ...]


def vihf_rows(envelope: etree._Element | None) -> list[VihfRow] | None:
    """The VIHF of a DMP request as rows, read as sent (the verification verdict is in the findings); None when
    the request carries no assertion."""
    if envelope is None:
        return None
    found = envelope.xpath("//wsse:Security/saml2:Assertion", namespaces=_NS)
    if not found:
        return None
    assertion = found[0]
    rows = [
        VihfRow("Issuer", "Émetteur", (Value(_text(assertion.find(f"{{{_SAML}}}Issuer"))),)),
        VihfRow("NameID", "Identifiant de l'utilisateur",
                (Value(_text(assertion.find(f"{{{_SAML}}}Subject/{{{_SAML}}}NameID"))),)),
        VihfRow("IssueInstant", "Émis le", (Value(assertion.get("IssueInstant") or "—"),)),
    ]
    conditions = assertion.find(f"{{{_SAML}}}Conditions")
    if conditions is not None:
        rows.append(VihfRow("Conditions", "Validité", (
            Value(f"du {conditions.get('NotBefore') or '—'} au {conditions.get('NotOnOrAfter') or '—'}"),)))
    authn = assertion.find(f"{{{_SAML}}}AuthnStatement")
    if authn is not None:
        context = authn.findtext(f".//{{{_SAML}}}AuthnContextClassRef") or "—"
        rows.append(VihfRow("AuthnStatement", "Authentification",
                            (Value(f"{authn.get('AuthnInstant') or '—'} ({context})"),)))
    rows.append(VihfRow("ds:Signature", "Signature", (_signature(assertion),)))
    for attribute in assertion.iterfind(f"{{{_SAML}}}AttributeStatement/{{{_SAML}}}Attribute"):
        name = attribute.get("Name") or "?"
        values = tuple(_attribute_value(name, value)
                       for value in attribute.iterfind(f"{{{_SAML}}}AttributeValue"))
        rows.append(VihfRow(name, labels.label("vihf_attribute", name), values or (Value("(aucune valeur)"),)))
    return rows


def _text(element: etree._Element | None) -> str:
    return "".join(element.itertext()).strip() if element is not None else "(absent)"


def _signature(assertion: etree._Element) -> Value:
    signature = assertion.find(f"{{{_DS}}}Signature")
    if signature is None:
        return Value("absente", "le DMP refuse un VIHF non signé (le bac à sable l'accepte en mode tolérant)")
    method_element = signature.find(f"{{{_DS}}}SignedInfo/{{{_DS}}}SignatureMethod")
    method = method_element.get("Algorithm", "?") if method_element is not None else "?"
    certificate = signature.findtext(f".//{{{_DS}}}X509Certificate")
    if not certificate:
        return Value(f"présente ({method.rpartition('#')[2]}), sans certificat dans KeyInfo")
    try:
        cert = x509.load_der_x509_certificate(base64.b64decode("".join(certificate.split()), validate=True))
        who = (f"certificat {dn.render_dn(cert.subject)}, émis par {dn.render_dn(cert.issuer)}, "
               f"valable jusqu'au {cert.not_valid_after_utc:%d/%m/%Y}")
    except (ValueError, binascii.Error):
        who = "certificat illisible"
    return Value(f"présente ({method.rpartition('#')[2]})", who)


def _attribute_value(name: str, value: etree._Element) -> Value:
    coded = next((child for child in value if isinstance(child.tag, str)), None)
    if coded is not None:  # an HL7 CE: Role, PurposeOfUse
        code = coded.get("code") or "?"
        if name == "urn:oasis:names:tc:xspa:1.0:subject:purposeofuse":
            found = labels.label("purpose", code)
        elif coded.get("codeSystem") == sec_ns.OID_SPECIALTY:
            found = labels.label("specialty", code)
        else:
            found = labels.label("profession", code)
        return Value(f"{code} ({coded.get('codeSystem') or 'sans codeSystem'})", found or coded.get("displayName"))
    text = (value.text or "").strip()
    code = text.partition("^")[0]
    if name == "Secteur_Activite":
        return Value(text, labels.label("facility", code))
    if name == "Authentification_mode":
        return Value(text, labels.label("auth_mode", text))
    if name.endswith(":confidentiality-code"):
        return Value(text, labels.label("confidentiality", code))
    if name.endswith(":resource-id"):
        oid = text.split("&")[1] if text.count("&") >= 2 else None
        return Value(text, f"INS {code} ({labels.label('ins_oid', oid) or oid or 'OID absent'})")
    return Value(text or "(vide)")
