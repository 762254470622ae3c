"""MTOM/XOP: multipart/related packages in and out, byte-exact for binary parts.

The MIME parser is our own, over bytes: the standard library's email parser normalises line endings in some
policies and cannot be trusted to hand back a binary part unchanged. Decoding never parses XML; the envelope
module feeds the root part to the hardened parser, then ``resolve_xop`` swaps each ``xop:Include`` for the
base64 text of its part so handlers see an ordinary document, while the raw bytes stay available.
"""
from __future__ import annotations

import base64
import binascii
import quopri
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import quote, unquote

from lxml import etree

from . import namespaces as ns
from .content_type import ContentType, format_content_type, parse_content_type
from .errors import (BrokenMultipart, DanglingCid, InvalidXopInclude, MissingBoundary, MissingStartPart,
                     MtomError, PartTooLarge, TooManyParts)
from .limits import DEFAULT_LIMITS, SoapLimits
from .version import SoapVersion
from .wire import EncodedMessage

XOP_MEDIA_TYPE = "application/xop+xml"
XOP_INCLUDE = f"{{{ns.XOP}}}Include"
_CRLF = b"\r\n"
# RFC 2046 §5.1.1 bchars; a space is allowed but not as the last character.
_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")

Attachment = bytes | tuple[bytes, str]


@dataclass(frozen=True)
class MimePart:
    """One part: header names lower-cased; ``content`` already undone from any transfer encoding."""

    headers: Mapping[str, str]
    content: bytes

    @property
    def content_id(self) -> str | None:
        value = self.headers.get("content-id")
        return normalize_content_id(value) if value is not None else None

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")


@dataclass(frozen=True)
class MtomPackage:
    """A decoded multipart/related request; the root part is not parsed yet."""

    root: MimePart
    root_content_type: ContentType | None
    parts: tuple[MimePart, ...]
    attachments: Mapping[str, MimePart] = field(default_factory=dict)


@dataclass(frozen=True)
class XopReference:
    """Where an ``xop:Include`` stood: ``element`` now holds the base64 text of part ``content_id``."""

    element: etree._Element
    content_id: str


def normalize_content_id(value: str) -> str:
    value = value.strip()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1].strip()
    return value


def new_content_id(local: str | None = None, domain: str = "segur-sandbox") -> str:
    """A fresh Content-ID (without angle brackets), unique unless ``local`` is given."""
    return f"{local or uuid.uuid4()}@{domain}"


def xop_include(element: etree._Element, content_id: str) -> etree._Element:
    """Make ``<xop:Include href="cid:…"/>`` the only content of ``element`` (XOP requires that)."""
    for child in list(element):
        element.remove(child)
    element.text = None
    include = etree.SubElement(element, XOP_INCLUDE, nsmap={"xop": ns.XOP})
    include.set("href", "cid:" + quote(content_id, safe="@!$&'()*+,;=:~"))
    return include


def split_multipart(body: bytes, boundary: str, limits: SoapLimits = DEFAULT_LIMITS) -> tuple[MimePart, ...]:
    """Cut a multipart body into its parts (RFC 2046 §5.1.1); part contents are returned byte for byte."""
    delimiter = b"--" + boundary.encode("latin-1")
    if body.startswith(delimiter):
        pos = 0
    else:
        pos = body.find(_CRLF + delimiter)
        if pos < 0:
            raise BrokenMultipart(f"the boundary {boundary!r} announced in the Content-Type never appears in the "
                                  "body (delimiters must be CRLF followed by '--' and the boundary)")
        pos += 2
    parts: list[MimePart] = []
    while True:
        after = pos + len(delimiter)
        if body.startswith(b"--", after):
            break  # closing delimiter; what follows is the epilogue
        line_end = after
        while body[line_end:line_end + 1] in (b" ", b"\t"):
            line_end += 1  # transport padding
        if not body.startswith(_CRLF, line_end):
            if line_end >= len(body):
                raise BrokenMultipart(f"the body ends after a delimiter without the closing --{boundary}--")
            raise BrokenMultipart(f"the boundary delimiter at offset {pos} is followed by "
                                  f"{body[line_end:line_end + 10]!r} instead of CRLF or '--': the boundary "
                                  "occurs inside a part, or the package is truncated")
        start = line_end + 2
        end = body.find(_CRLF + delimiter, start)
        if end < 0:
            raise BrokenMultipart(f"part {len(parts) + 1} is not terminated: the closing delimiter "
                                  f"--{boundary}-- is missing")
        if len(parts) >= limits.max_parts:
            raise TooManyParts(f"the package has more than {limits.max_parts} MIME parts")
        parts.append(_read_part(body[start:end], len(parts) + 1, limits))
        pos = end + 2
    if not parts:
        raise BrokenMultipart("the multipart package holds no part")
    return tuple(parts)


def decode_mtom(body: bytes, content_type: ContentType, limits: SoapLimits = DEFAULT_LIMITS) -> MtomPackage:
    """Split a multipart/related request and locate its root part (``start`` parameter, else the first)."""
    boundary = content_type.param("boundary")
    if not boundary:
        raise MissingBoundary("the multipart/related Content-Type has no boundary parameter")
    parts = split_multipart(body, boundary, limits)
    start = content_type.param("start")
    if start:
        wanted = normalize_content_id(start)
        root = next((part for part in parts if part.content_id == wanted), None)
        if root is None:
            found = ", ".join(repr(part.content_id) for part in parts)
            raise MissingStartPart(f"the start parameter names Content-ID <{wanted}> but no part carries it "
                                   f"(parts: {found})")
    else:
        root = parts[0]
    attachments: dict[str, MimePart] = {}
    for part in parts:
        if part is root or part.content_id is None:
            continue
        if part.content_id in attachments:
            raise MtomError(f"two MIME parts share the Content-ID <{part.content_id}>")
        attachments[part.content_id] = part
    root_type = parse_content_type(root.content_type) if root.content_type else None
    return MtomPackage(root, root_type, parts, MappingProxyType(attachments))


def resolve_xop(root: etree._Element, attachments: Mapping[str, bytes]) -> tuple[XopReference, ...]:
    """Replace every ``xop:Include`` under ``root`` by the base64 text of its part (mutates the tree)."""
    references: list[XopReference] = []
    for include in list(root.iter(XOP_INCLUDE)):
        href = include.get("href") or ""
        if not href.lower().startswith("cid:"):
            raise InvalidXopInclude(f"xop:Include has href {href!r}; XOP requires a cid: URL")
        content_id = unquote(href[4:])
        if content_id not in attachments:
            known = ", ".join(f"<{cid}>" for cid in attachments) or "none"
            raise DanglingCid(f"xop:Include refers to {href!r} but no MIME part has that Content-ID "
                              f"(attachments: {known})")
        parent = include.getparent()
        if parent is None:
            raise InvalidXopInclude("the root element cannot be an xop:Include")
        if len(parent) != 1 or (parent.text or "").strip() or (include.tail or "").strip():
            raise InvalidXopInclude(f"xop:Include {href!r} must be the only content of "
                                    f"<{etree.QName(parent).localname}>")
        parent.remove(include)
        parent.text = base64.b64encode(attachments[content_id]).decode("ascii")
        references.append(XopReference(parent, content_id))
    return tuple(references)


def encode_mtom(envelope: etree._Element, attachments: Mapping[str, Attachment], *,
                version: SoapVersion = SoapVersion.V12, action: str | None = None, boundary: str | None = None,
                root_content_id: str | None = None) -> EncodedMessage:
    """Package ``envelope`` (with its ``xop:Include`` elements in place) and the attachments as MTOM.

    ``attachments`` maps Content-ID (no angle brackets) to bytes or (bytes, content type). Boundary and root
    Content-ID are random unless given; a given boundary that occurs in a part is a ``ValueError``.
    """
    referenced = {unquote((include.get("href") or "")[4:]) for include in envelope.iter(XOP_INCLUDE)}
    missing = referenced - set(attachments)
    if missing:
        raise ValueError(f"xop:Include elements refer to Content-IDs with no attachment: {sorted(missing)}")
    root_cid = root_content_id or new_content_id("root.message." + uuid.uuid4().hex)
    if root_cid in attachments:
        raise ValueError(f"Content-ID {root_cid!r} is used both by the root part and by an attachment")
    xml = etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
    root_type = format_content_type(XOP_MEDIA_TYPE, {"charset": "UTF-8", "type": version.media_type})
    payloads: list[tuple[str, str, bytes]] = [(root_cid, root_type, xml)]
    for content_id, attachment in attachments.items():
        data, media = attachment if isinstance(attachment, tuple) else (attachment, "application/octet-stream")
        payloads.append((content_id, media, data))
    for content_id, media, _ in payloads:
        _check_header_value(content_id, "Content-ID")
        _check_header_value(media, "content type")
        if "<" in content_id or ">" in content_id:
            raise ValueError(f"Content-ID {content_id!r} must be given without angle brackets")
    chosen = _pick_boundary(boundary, [data for _, _, data in payloads])
    delimiter = b"--" + chosen.encode("ascii")
    chunks: list[bytes] = []
    for content_id, media, data in payloads:
        headers = (f"Content-Type: {media}\r\nContent-Transfer-Encoding: binary\r\n"
                   f"Content-ID: <{content_id}>\r\n\r\n")
        chunks += [delimiter, _CRLF, headers.encode("ascii"), data, _CRLF]
    chunks += [delimiter, b"--", _CRLF]
    params = {"type": XOP_MEDIA_TYPE, "boundary": chosen, "start": f"<{root_cid}>",
              "start-info": version.media_type}
    if action is not None and version is SoapVersion.V12:
        params["action"] = action
    return EncodedMessage(b"".join(chunks), format_content_type("multipart/related", params))


def _read_part(raw: bytes, number: int, limits: SoapLimits) -> MimePart:
    if raw.startswith(_CRLF):
        header_block, content = b"", raw[2:]
    else:
        split = raw.find(b"\r\n\r\n")
        if split < 0:
            raise BrokenMultipart(f"MIME part {number} has no blank line between its headers and its content")
        header_block, content = raw[:split], raw[split + 4:]
    headers: dict[str, str] = {}
    last: str | None = None
    for line in header_block.decode("latin-1").split("\r\n"):
        if line[:1] in (" ", "\t") and last is not None:
            headers[last] += " " + line.strip()  # folded header line
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise BrokenMultipart(f"MIME part {number} has a malformed header line {line[:60]!r}")
        last = name.strip().lower()
        headers[last] = value.strip()
    content = _undo_transfer_encoding(content, headers.get("content-transfer-encoding"), number)
    if len(content) > limits.max_part_bytes:
        raise PartTooLarge(f"MIME part {number} is {len(content)} bytes, over the limit of {limits.max_part_bytes}")
    return MimePart(MappingProxyType(headers), content)


def _undo_transfer_encoding(content: bytes, encoding: str | None, number: int) -> bytes:
    name = (encoding or "binary").strip().lower()
    if name in ("binary", "8bit", "7bit"):
        return content
    if name == "base64":
        try:
            return base64.b64decode(b"".join(content.split()), validate=True)
        except binascii.Error as exc:
            raise MtomError(f"MIME part {number} is declared base64 but does not decode: {exc}") from None
    if name == "quoted-printable":
        return quopri.decodestring(content)
    raise MtomError(f"MIME part {number} has an unknown Content-Transfer-Encoding {encoding!r}")


def _check_header_value(value: str, what: str) -> None:
    if not value or any(char in value for char in "\r\n") or not value.isascii():
        raise ValueError(f"{what} {value!r} cannot be written in a MIME header")


def _pick_boundary(boundary: str | None, payloads: list[bytes]) -> str:
    if boundary is not None:
        if not _BOUNDARY.fullmatch(boundary):
            raise ValueError(f"{boundary!r} is not a valid MIME boundary (1–70 characters of RFC 2046 bchars)")
        if _collides(boundary, payloads):
            raise ValueError(f"the boundary {boundary!r} occurs inside a part; choose another one")
        return boundary
    while True:
        candidate = f"uuid:{uuid.uuid4()}"
        if not _collides(candidate, payloads):
            return candidate


def _collides(boundary: str, payloads: list[bytes]) -> bool:
    delimiter = b"--" + boundary.encode("ascii")
    return any(data.startswith(delimiter) or _CRLF + delimiter in data for data in payloads)
