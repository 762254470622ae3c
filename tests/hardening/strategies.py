"""Hypothesis strategies for hostile-but-plausible SOAP traffic (issue #8): used by ``test_fuzz_messages.py`` with
few examples and by ``bench/fuzz.py`` with many.

Each strategy starts from *valid* requests (skeletons a real client built: a signed VIHF, a real ITI-41 MTOM
package) and mutates them, so the fuzzer gets past the first checks into the VIHF verification, the SOAP/MTOM
layer, the XDS metadata parsing and validation, the handlers:

* ``soap_envelopes(skeletons)``: headers and body of a skeleton envelope mutated (elements removed, duplicated,
  replaced by random trees, texts and attributes set to random or tricky values, wsa:Action swapped…), then
  serialised with a random encoding, declaration and Content-Type (charset right or wrong, SOAP 1.1 or 1.2),
  sometimes cut short or sprinkled with stray bytes;
* ``mtom_packages(package)``: a multipart/related package rebuilt from an MTOM skeleton's parts with random
  boundaries, part headers (Content-ID forms, transfer encodings, types), line endings, preamble and epilogue,
  missing or extra parts, ``xop:Include`` hrefs pointing anywhere, and a Content-Type whose ``boundary``,
  ``start``, ``type`` may lie;
* ``xds_mutations()``: edits of the ebRIM metadata of an ITI-41 body (slots, classifications, external
  identifiers, object attributes, associations) with random or near-valid values, applied by
  ``apply_xds_mutations`` before the body is packaged.

A drawn value is a plain ``Request`` (path, body bytes, headers) or a list of mutations: nothing here talks to a
server.
"""
from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from hypothesis import strategies as st
from lxml import etree

SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
WSA = "http://www.w3.org/2005/08/addressing"
RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
XOP = "http://www.w3.org/2004/08/xop/include"

NAMESPACES = (SOAP12, SOAP11, WSA, RIM, XOP, "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd",
              "urn:oasis:names:tc:SAML:2.0:assertion", "urn:ihe:iti:xds-b:2007", "urn:hl7-org:v3",
              "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0", "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0",
              "urn:si-dmp-habilitations", "urn:si-dmp-patients", "urn:evil", "")
LOCAL_NAMES = ("Envelope", "Header", "Body", "Fault", "Action", "MessageID", "To", "ReplyTo", "RelatesTo",
               "Security", "Assertion", "Include", "Slot", "ValueList", "Value", "Classification",
               "ExternalIdentifier", "ExtrinsicObject", "RegistryPackage", "Association", "SubmitObjectsRequest",
               "RegistryObjectList", "ProvideAndRegisterDocumentSetRequest", "Document", "AdhocQueryRequest",
               "PRPA_IN201307UV02", "id", "patientIdentifier", "value", "x", "a")


@dataclass(frozen=True)
class Request:
    """One HTTP POST: what a fuzz example sends."""

    path: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:  # hypothesis prints failing examples: keep them readable
        return f"Request({self.path!r}, {len(self.body)} bytes, {self.headers!r}, {self.body[:300]!r}…)"


@dataclass(frozen=True)
class Skeleton:
    """A valid request of a real client: the endpoint, the envelope (parsed), its MTOM attachments if any."""

    path: str
    envelope: bytes
    attachments: tuple[tuple[str, str, bytes], ...] = ()  # (content id, content type, bytes)


# --- values --------------------------------------------------------------------------------------------------------

def _xml_char(c: str) -> bool:
    code = ord(c)
    return code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD or code >= 0x10000


xml_text = st.text(st.characters(exclude_categories=("Cs", "Cc", "Cn")) | st.sampled_from("\t\n\r "), max_size=40)
TRICKY = (
    "", " ", "\n", "0", "-1", "1e309", "NaN", "true", "null", "é", "\u202e", "<", "&", "&amp;", "]]>", "'\"",
    "^^^", "^^^&&ISO^NH", "&&&", "|", "~", "%", "_", "*", "../../etc/passwd", "file:///etc/passwd", "cid:", "#",
    "urn:uuid:", "urn:uuid:00000000-0000-0000-0000-000000000000", "urn:oid:", "1.2.250.1.213.1.4.10",
    "2.25.1", "0.0", "1..2", "1.2.250.1.213.1.4.10.", "207058575627097", "207058575627097^^^&1.2.250.1.213.1.4.10&ISO^NH",
    "20250101", "2025", "202501011200", "20251301", "99991231235959", "19000101", "20250101120000+0100",
    "text/xml", "application/pdf", "urn:ihe:iti:2007:AssociationType:RPLC",
    "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved", "urn:oasis:names:tc:ebxml-regrep:StatusType:Deleted",
    "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd", "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1",
    "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8", "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab",
    "A" * 300, "9" * 64, "\u00e9" * 100,
)
values = st.one_of(st.sampled_from(TRICKY), xml_text, st.from_regex(r"[0-9]{1,4}(\.[0-9]{1,6}){0,8}", fullmatch=True))


def _random_tree(draw, depth: int = 0) -> etree._Element:  # type: ignore[no-untyped-def]
    namespace = draw(st.sampled_from(NAMESPACES))
    local = draw(st.sampled_from(LOCAL_NAMES) | st.from_regex(r"[A-Za-z_][A-Za-z0-9_.\-]{0,12}", fullmatch=True))
    element = etree.Element(f"{{{namespace}}}{local}" if namespace else local)
    for name in draw(st.lists(st.sampled_from(("id", "ID", "Id", "value", "href", "classificationScheme",
                                               "identificationScheme", "mustUnderstand", "objectType", "x")),
                              max_size=3, unique=True)):
        element.set(name, draw(values))
    if draw(st.booleans()):
        element.text = draw(values)
    if depth < 3:
        for _ in range(draw(st.integers(0, 3))):
            element.append(_random_tree(draw, depth + 1))
    return element


@st.composite
def random_trees(draw) -> etree._Element:  # type: ignore[no-untyped-def]
    return _random_tree(draw)


# --- mutations of an element tree ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Mutation:
    """One edit of the n-th element (modulo the count) among those a scope selects."""

    op: str  # remove | duplicate | text | attribute | drop-attribute | insert | replace | comment
    index: int
    value: str = ""
    name: str = ""
    tree: etree._Element | None = None

    def __repr__(self) -> str:
        tree = "" if self.tree is None else f", tree={etree.tostring(self.tree)[:120]!r}"
        return f"Mutation({self.op}, #{self.index}, name={self.name!r}, value={self.value[:60]!r}{tree})"


ATTRIBUTE_NAMES = ("id", "ID", "mimeType", "objectType", "status", "classificationScheme", "classifiedObject",
                   "nodeRepresentation", "identificationScheme", "registryObject", "value", "associationType",
                   "sourceObject", "targetObject", "name", "Name", "href", "mustUnderstand", "lid", "home")


@st.composite
def mutations(draw, max_size: int = 4) -> list[Mutation]:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(draw(st.integers(1, max_size))):
        op = draw(st.sampled_from(("remove", "duplicate", "text", "attribute", "drop-attribute", "insert",
                                   "replace", "comment")))
        out.append(Mutation(op, draw(st.integers(0, 10_000)), draw(values), draw(st.sampled_from(ATTRIBUTE_NAMES)),
                            draw(random_trees()) if op in ("insert", "replace") else None))
    return out


def apply_mutations(root: etree._Element, scope: Sequence[etree._Element], edits: Sequence[Mutation]) -> None:
    """Apply ``edits`` to elements of ``scope`` (a list of elements of ``root``; re-listed after each edit)."""
    elements = [e for e in scope if isinstance(e.tag, str)]
    for edit in edits:
        elements = [e for e in elements if _attached(e, root)]
        if not elements:
            return
        target = elements[edit.index % len(elements)]
        parent = target.getparent()
        if edit.op == "remove" and parent is not None:
            parent.remove(target)
        elif edit.op == "duplicate" and parent is not None:
            twin = copy.deepcopy(target)
            target.addnext(twin)
            elements.append(twin)
        elif edit.op == "text":
            target.text = edit.value if all(_xml_char(c) for c in edit.value) else "x"
        elif edit.op == "attribute":
            target.set(edit.name, edit.value if all(_xml_char(c) for c in edit.value) else "x")
        elif edit.op == "drop-attribute" and target.attrib:
            name = sorted(target.attrib)[edit.index % len(target.attrib)]
            del target.attrib[name]
        elif edit.op == "insert" and edit.tree is not None:
            target.append(copy.deepcopy(edit.tree))
        elif edit.op == "replace" and edit.tree is not None and parent is not None:
            parent.replace(target, copy.deepcopy(edit.tree))
        elif edit.op == "comment":
            comment = etree.Comment(" x ")
            text = target.text or ""
            at = edit.index % (len(text) + 1)
            target.text, comment.tail = text[:at], text[at:]
            target.insert(0, comment)


def _attached(element: etree._Element, root: etree._Element) -> bool:
    while element is not None:
        if element is root:
            return True
        element = element.getparent()
    return False


# --- SOAP envelopes ------------------------------------------------------------------------------------------------

ENCODINGS = ("UTF-8", "UTF-16", "ISO-8859-1", "US-ASCII")


@st.composite
def serialised(draw, envelope: etree._Element, soap11: bool = False) -> tuple[bytes, dict[str, str]]:  # type: ignore[no-untyped-def]
    """Bytes and headers of ``envelope``: a random encoding, declaration and Content-Type, sometimes broken."""
    encoding = draw(st.sampled_from(ENCODINGS))
    declaration = draw(st.booleans())
    try:
        data = etree.tostring(envelope, encoding=encoding, xml_declaration=declaration)
    except (UnicodeEncodeError, ValueError, LookupError):
        encoding, data = "UTF-8", etree.tostring(envelope, encoding="UTF-8", xml_declaration=declaration)
    media = draw(st.sampled_from(("text/xml" if soap11 else "application/soap+xml",) * 4
                                 + ("application/soap+xml", "text/xml", "application/xml", "text/plain",
                                    "application/soap+xml;", "multipart/related")))
    charset = draw(st.sampled_from((encoding, encoding, "utf-8", "UTF-16LE", "latin1", "klingon", None)))
    content_type = media + (f"; charset={charset}" if charset else "")
    if draw(st.booleans()):
        content_type += f'; action="{draw(values)}"'
    headers = {"content-type": content_type.encode("ascii", "replace").decode()}
    if soap11 or draw(st.integers(0, 5)) == 0:
        headers["soapaction"] = '"' + draw(values).encode("ascii", "replace").decode() + '"'
    corruption = draw(st.sampled_from(("none",) * 6 + ("truncate", "insert", "flip")))
    if corruption == "truncate" and data:
        data = data[:draw(st.integers(0, len(data) - 1))]
    elif corruption == "insert":
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=16)) + data[at:]
    elif corruption == "flip" and data:
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1:]
    return data, headers


@st.composite
def soap_envelopes(draw, skeletons: Sequence[Skeleton], paths: Sequence[str] = ()) -> Request:  # type: ignore[no-untyped-def]
    """A skeleton's envelope with mutated headers and/or body, serialised by ``serialised``; sent to the
    skeleton's endpoint or (1 in 8) to another one of ``paths``."""
    skeleton = draw(st.sampled_from(list(skeletons)))
    envelope = etree.fromstring(skeleton.envelope)
    version = etree.QName(envelope).namespace
    header = envelope.find(f"{{{version}}}Header")
    body = envelope.find(f"{{{version}}}Body")
    where = draw(st.sampled_from(("header", "body", "both", "security", "action", "none")))
    if header is not None and where in ("header", "both"):
        apply_mutations(envelope, list(header.iter()), draw(mutations()))
    if header is not None and where == "security":
        security = [e for e in header if etree.QName(e).localname == "Security"]
        if security:
            apply_mutations(envelope, list(security[0].iter()), draw(mutations(max_size=2)))
    if header is not None and where == "action":
        action = header.find(f"{{{WSA}}}Action")
        if action is not None:
            action.text = draw(st.sampled_from([
                "urn:hl7-org:v3:PRPA_IN201307UV02", "urn:hl7-org:v3:PRPA_IN201305UV02",
                "urn:ihe:iti:2007:RegistryStoredQuery", "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b",
                "urn:ihe:iti:2007:RetrieveDocumentSet", "urn:ihe:iti:2010:UpdateDocumentSet",
                "urn:si-dmp-habilitations:HabilitationsEndPoint:setAuthorization", "", " "]) | values)
    if body is not None and where in ("body", "both"):
        apply_mutations(envelope, list(body.iter())[1:] or list(body.iter()), draw(mutations()))
    soap11 = draw(st.integers(0, 9)) == 0
    if soap11:  # the same envelope in SOAP 1.1
        for element in envelope.iter():
            if isinstance(element.tag, str) and etree.QName(element).namespace == SOAP12:
                element.tag = f"{{{SOAP11}}}{etree.QName(element).localname}"
        etree.cleanup_namespaces(envelope)
    data, headers = draw(serialised(envelope, soap11=soap11))
    path = skeleton.path
    if paths and draw(st.integers(0, 7)) == 0:
        path = draw(st.sampled_from(list(paths)))
    return Request(path, data, headers)


# --- MTOM packages -------------------------------------------------------------------------------------------------

boundaries = st.one_of(
    st.from_regex(r"[A-Za-z0-9'()+_,\-./:=?]{1,69}[A-Za-z0-9'()+_,\-./:=?]", fullmatch=True),
    st.sampled_from(("MIMEBoundary", "uuid:3b0c4b23-6b79-4b7e-9a8f-000000000000", "a b", "x" * 71, "--", "=",
                     '"quoted"', "", "é")),
)


@st.composite
def mtom_packages(draw, skeleton: Skeleton) -> Request:  # type: ignore[no-untyped-def]
    """The skeleton's envelope and attachments repackaged as multipart/related with random packaging."""
    root_cid = draw(st.sampled_from(("root.message@cxf.apache.org", "root@x", "<root@x>", "a b@x", "")) | xml_text)
    envelope = skeleton.envelope
    if draw(st.booleans()):  # point the xop:Include hrefs elsewhere
        cids = [cid for cid, _, _ in skeleton.attachments]
        target = draw(st.sampled_from(["cid:", "cid:missing@x", "http://127.0.0.1:9/x", "cid:" + root_cid,
                                       "cid:%3C" + (cids[0] if cids else "x") + "%3E"]
                                      + [f"cid:{c}" for c in cids]) | values)
        envelope = re.sub(rb'href="[^"]*"', b'href="' + target.encode("utf-8", "replace")
                          .replace(b'"', b"").replace(b"&", b"&amp;").replace(b"<", b"&lt;") + b'"', envelope, count=1)
    parts: list[tuple[dict[str, str], bytes]] = []
    root_type = draw(st.sampled_from(('application/xop+xml; charset=UTF-8; type="application/soap+xml"',) * 3
                                     + ("application/soap+xml", "text/xml", "application/xop+xml", "")))
    parts.append(({"Content-Type": root_type, "Content-Transfer-Encoding": "binary",
                   "Content-ID": f"<{root_cid}>"}, envelope))
    for cid, media, data in skeleton.attachments:
        parts.append(({"Content-Type": media, "Content-Transfer-Encoding": "binary", "Content-ID": f"<{cid}>"}, data))
    for _ in range(draw(st.integers(0, 2))):  # extra parts
        parts.append(({"Content-Type": draw(st.sampled_from(("application/octet-stream", "text/xml", "")))
                       , "Content-ID": f"<{draw(xml_text)}>"}, draw(st.binary(max_size=64))))
    edits = draw(st.lists(st.tuples(st.sampled_from(("drop-header", "header", "cid-form", "encoding", "truncate",
                                                     "drop-part", "swap", "duplicate")),
                                    st.integers(0, 100), values), max_size=4))
    for op, index, value in edits:
        if not parts:
            break
        n = index % len(parts)
        headers, data = parts[n]
        headers = dict(headers)
        if op == "drop-header" and headers:
            del headers[sorted(headers)[index % len(headers)]]
        elif op == "header":
            headers[draw(st.sampled_from(("Content-Type", "Content-ID", "Content-Transfer-Encoding",
                                          "Content-Length", "X-Evil")))] = value
        elif op == "cid-form" and "Content-ID" in headers:
            bare = headers["Content-ID"].strip("<>")
            headers["Content-ID"] = draw(st.sampled_from((bare, f"<<{bare}>>", f" <{bare}> ", "<>", f"<{bare}")))
        elif op == "encoding":
            headers["Content-Transfer-Encoding"] = draw(st.sampled_from(("base64", "8bit", "quoted-printable",
                                                                         "7bit", "x-evil", "")))
        elif op == "truncate":
            data = data[:index % (len(data) + 1)]
        elif op == "drop-part":
            del parts[n]
            continue
        elif op == "swap" and len(parts) > 1:
            parts[0], parts[n] = parts[n], parts[0]
            continue
        elif op == "duplicate":
            parts.insert(n, (headers, data))
        parts[n] = (headers, data)
    boundary = draw(boundaries)
    eol = draw(st.sampled_from((b"\r\n",) * 4 + (b"\n",)))
    out = draw(st.sampled_from((b"", b"preamble" + eol, eol)))
    for headers, data in parts:
        out += b"--" + boundary.encode("utf-8") + eol
        for name, value in headers.items():
            out += f"{name}: {value}".encode("utf-8", "replace") + eol
        out += eol + data + eol
    closing = draw(st.sampled_from(("close",) * 4 + ("none", "no-dashes", "epilogue")))
    if closing == "close":
        out += b"--" + boundary.encode("utf-8") + b"--" + eol
    elif closing == "no-dashes":
        out += b"--" + boundary.encode("utf-8") + eol
    elif closing == "epilogue":
        out += b"--" + boundary.encode("utf-8") + b"--" + eol + b"epilogue --" + boundary.encode("utf-8") + eol
    declared = draw(st.sampled_from((boundary,) * 5 + ("Other", "", boundary + " ")))
    params = [f'boundary="{declared}"' if draw(st.booleans()) else f"boundary={declared}"]
    if draw(st.integers(0, 5)):
        params.append(draw(st.sampled_from(('type="application/xop+xml"',) * 4 + ('type="text/xml"', "type="))))
    if draw(st.integers(0, 5)):
        params.append(f'start="<{draw(st.sampled_from((root_cid,) * 4 + ("other@x", "")))}>"')
    if draw(st.booleans()):
        params.append('start-info="application/soap+xml"')
    media = draw(st.sampled_from(("multipart/related",) * 6 + ("multipart/mixed", "application/soap+xml")))
    content_type = "; ".join([media, *draw(st.permutations(params))])
    return Request(skeleton.path, out, {"content-type": content_type.encode("ascii", "replace").decode()})


# --- XDS metadata --------------------------------------------------------------------------------------------------

XDS_SCOPES = ("Slot", "Value", "Classification", "ExternalIdentifier", "ExtrinsicObject", "RegistryPackage",
              "Association", "Name", "LocalizedString", "any")


@st.composite
def xds_mutations(draw, max_size: int = 4) -> list[tuple[str, list[Mutation]]]:  # type: ignore[no-untyped-def]
    """Edits of an ITI-41 body's ebRIM metadata: a list of (scope, mutations); the scope names the kind of rim
    element edited (``any``: any element of the SubmitObjectsRequest)."""
    return draw(st.lists(st.tuples(st.sampled_from(XDS_SCOPES), mutations(max_size=2)), min_size=1,
                         max_size=max_size))


def apply_xds_mutations(body: etree._Element, edits: Sequence[tuple[str, Sequence[Mutation]]]) -> None:
    """Apply ``xds_mutations`` to a ProvideAndRegisterDocumentSetRequest (or SubmitObjectsRequest) element."""
    submit = next((e for e in body.iter() if isinstance(e.tag, str)
                   and etree.QName(e).localname == "SubmitObjectsRequest"), body)
    for scope, scope_edits in edits:
        if scope == "any":
            elements = list(submit.iter())[1:]
        else:
            elements = [e for e in submit.iter() if isinstance(e.tag, str) and etree.QName(e).localname == scope]
        apply_mutations(body, elements, scope_edits)
