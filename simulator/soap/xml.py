"""The one hardened XML parser: every incoming byte that is XML goes through ``parse_xml``.

Defences, in order: a size cap; the encoding is settled (BOM, Content-Type charset, XML declaration must
agree) and the bytes are decoded strictly in Python so a bad charset gets a clear message; any DOCTYPE is
refused before libxml2 sees the document (no entity expansion, no external DTD or entity, no billion
laughs); libxml2 then runs with entity resolution, DTD loading and network access off (and without huge_tree, so
its own depth and text-size caps hold), and the depth and attribute-length limits are checked on the tree.
"""
from __future__ import annotations

import codecs
import re
from functools import lru_cache

from lxml import etree

from .errors import (AttributeTooLong, CharsetError, CharsetMismatch, DepthLimitExceeded, DoctypeForbidden,
                     MessageTooLarge, NotXml, XmlLimitExceeded)
from .limits import DEFAULT_LIMITS, SoapLimits

_PARSER_OPTIONS = dict(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                       remove_comments=False, dtd_validation=False, attribute_defaults=False)
_PROTECTIVE_OPTIONS = frozenset({"resolve_entities", "no_network", "load_dtd", "huge_tree", "dtd_validation",
                                 "attribute_defaults"})

# Byte-order marks, longest first: the UTF-32 LE mark starts with the UTF-16 LE one.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_XML_DECL_ENCODING = re.compile(
    r"""\A<\?xml[ \t\r\n]+version[ \t\r\n]*=[ \t\r\n]*(["'])[^"']*\1[ \t\r\n]+"""
    r"""encoding[ \t\r\n]*=[ \t\r\n]*(["'])([A-Za-z][A-Za-z0-9._-]*)\2""")
_SPACES = re.compile(r"[ \t\r\n]*")
_LIBXML2_TEXT_CAP = 10_000_000


def hardened_parser(**overrides: object) -> etree.XMLParser:
    """An lxml parser with the safe options; ``parse_xml`` adds the checks lxml cannot express.

    ``overrides`` may tune harmless options (``remove_blank_text`` …) but never the protective ones.
    """
    unsafe = sorted(_PROTECTIVE_OPTIONS & overrides.keys())
    if unsafe:
        raise ValueError(f"the hardened parser's protective options cannot be overridden: {', '.join(unsafe)}")
    return etree.XMLParser(**{**_PARSER_OPTIONS, **overrides})


def parse_xml(data: bytes, *, charset: str | None = None, limits: SoapLimits = DEFAULT_LIMITS,
              what: str = "request body") -> etree._Element:
    """Parse untrusted bytes into an element tree, or raise a ``SoapError`` subclass naming the problem.

    ``charset`` is the one announced by the transport (Content-Type parameter), if any; ``what`` names the
    document in error messages ("request body", "MTOM root part" …).
    """
    if len(data) > limits.max_xml_bytes:
        raise MessageTooLarge(f"the {what} is {len(data)} bytes, over the limit of {limits.max_xml_bytes}")
    encoding, bom_length = detect_encoding(data, charset, what=what)
    try:
        text = data[bom_length:].decode(encoding)
    except LookupError:
        raise CharsetError(f"{encoding!r} is not a text encoding") from None
    except UnicodeDecodeError as exc:
        offset = bom_length + exc.start
        raise CharsetError(f"the {what} is not valid {encoding}: byte 0x{data[offset]:02x} at offset {offset} "
                           f"cannot be decoded ({exc.reason})") from None
    if not text or text.isspace():
        raise NotXml(f"the {what} is empty")
    if _has_doctype(text):
        raise DoctypeForbidden(f"the {what} contains a DOCTYPE; DTDs and entity declarations are not allowed "
                               "in SOAP messages")
    # libxml2 gets UTF-8 and is told so, which overrides whatever the XML declaration says: the encoding was
    # settled (and checked) above.
    utf8 = data[bom_length:] if encoding == "utf-8" else text.encode("utf-8")
    root = _parse_with_limits(utf8, text, limits, what)
    if root.getroottree().docinfo.internalDTD is not None:
        raise DoctypeForbidden(f"the {what} declares a DTD")
    return root


def detect_encoding(data: bytes, charset: str | None = None, *, what: str = "request body") -> tuple[str, int]:
    """Return (Python codec name, BOM length); BOM, transport charset and XML declaration must agree.

    Precedence follows RFC 7303 §3.2 (BOM, then charset parameter, then XML declaration, then UTF-8), but a
    disagreement is reported rather than silently resolved: the sandbox is there to surface client bugs.
    """
    bom_encoding, bom_length = _bom(data)
    sniffed = bom_encoding or _sniff_family(data)
    declared = _declared_encoding(data[bom_length:], sniffed)
    sources: list[tuple[str, str]] = []
    if bom_encoding:
        sources.append(("byte-order mark", bom_encoding))
    if charset:
        sources.append(("Content-Type charset", _codec_name(charset, "Content-Type charset")))
    if declared:
        sources.append(("XML declaration", _codec_name(declared, "XML declaration")))
    if not sources:
        return sniffed, 0
    first_source, chosen = sources[0]
    for source, codec in sources[1:]:
        if not _compatible(chosen, codec):
            raise CharsetMismatch(f"the {what} announces two encodings: {first_source} says {chosen}, "
                                  f"{source} says {codec}")
    if _code_unit(chosen) != _code_unit(sniffed):
        raise CharsetMismatch(f"the {what} is announced as {chosen} by the {first_source} but its first bytes "
                              f"look like {sniffed}")
    if chosen in ("utf-16", "utf-32"):
        chosen = sniffed  # the generic name says nothing of byte order; the first bytes do
    return chosen, bom_length


def _bom(data: bytes) -> tuple[str | None, int]:
    for mark, encoding in _BOMS:
        if data.startswith(mark):
            return encoding, len(mark)
    return None, 0


def _sniff_family(data: bytes) -> str:
    # XML 1.0 Appendix F: without a BOM the first characters are "<?" (or "<"), which reveals the code unit.
    head = data[:4]
    if head.startswith(b"<\x00\x00\x00"):
        return "utf-32-le"
    if head.startswith(b"\x00\x00\x00<"):
        return "utf-32-be"
    if head.startswith(b"<\x00"):
        return "utf-16-le"
    if head.startswith(b"\x00<"):
        return "utf-16-be"
    return "utf-8"


def _declared_encoding(data: bytes, family: str) -> str | None:
    if family == "utf-8":
        head = data[:512].decode("latin-1")
    else:
        head = data[:2048].decode(family, errors="replace")
    match = _XML_DECL_ENCODING.match(head)
    return match.group(3) if match else None


def _codec_name(name: str, source: str) -> str:
    try:
        return codecs.lookup(name.strip()).name
    except LookupError:
        raise CharsetError(f"unknown encoding {name!r} in the {source}") from None


def _code_unit(codec: str) -> str:
    for wide in ("utf-16", "utf-32"):
        if codec.startswith(wide):
            return wide
    return "8-bit"


def _compatible(left: str, right: str) -> bool:
    if left == right:
        return True
    if {left, right} == {"utf-8", "ascii"}:
        return True  # a common, harmless pairing: ASCII is a subset of UTF-8
    unit = _code_unit(left)
    # "UTF-16" without byte order agrees with either byte order.
    return unit != "8-bit" and unit == _code_unit(right) and unit in (left, right)


def _has_doctype(text: str) -> bool:
    # A DOCTYPE is only legal in the prolog, so scanning the prolog catches every one libxml2 would accept.
    pos = 1 if text.startswith("\ufeff") else 0
    while True:
        pos = _SPACES.match(text, pos).end()  # type: ignore[union-attr]
        if text.startswith("<?", pos):
            end = text.find("?>", pos + 2)
        elif text.startswith("<!--", pos):
            end = text.find("-->", pos + 4)
        else:
            return text[pos:pos + 9].upper() == "<!DOCTYPE"
        if end < 0:
            return False  # unterminated prolog construct: libxml2 reports it
        pos = end + 2 if text.startswith("<?", pos) else end + 3


def _parse_with_limits(utf8: bytes, text: str, limits: SoapLimits, what: str) -> etree._Element:
    # libxml2 parses the whole document in C (it is at most ``max_xml_bytes``, and without huge_tree it stops at
    # its own depth and text caps); the limits are then checked with XPath, in C too. A pull parser checking each
    # element in Python as it came cost a search request a twentieth of its CPU.
    try:
        # the exception's log can hold earlier documents' errors (the thread's global log, which _classify reads)
        etree.clear_error_log()
        root = etree.fromstring(utf8, etree.XMLParser(encoding="utf-8", **_PARSER_OPTIONS))
    except etree.XMLSyntaxError as exc:
        raise _classify(exc, text, limits, what) from None
    if _too_deep(limits.max_depth)(root):
        raise DepthLimitExceeded(f"the {what} nests elements deeper than {limits.max_depth} levels")
    if _LONG_ATTRIBUTE_EXISTS(root, n=limits.max_attribute_length):
        value = _LONG_ATTRIBUTES(root, n=limits.max_attribute_length)[0]
        raise AttributeTooLong(
            f"attribute {value.attrname} of <{etree.QName(value.getparent()).localname}> in the {what} is "
            f"{len(value)} characters long, over the limit of {limits.max_attribute_length}")
    return root


@lru_cache(maxsize=8)
def _too_deep(max_depth: int) -> etree.XPath:
    """True when some element sits deeper than ``max_depth`` (the root is at depth 1)."""
    return etree.XPath("boolean(/" + "/".join(["*"] * (max_depth + 1)) + ")")


_LONG_ATTRIBUTE_EXISTS = etree.XPath("boolean(//@*[string-length(.) > $n])")
_LONG_ATTRIBUTES = etree.XPath("//@*[string-length(.) > $n]")


def _classify(exc: etree.XMLSyntaxError, text: str, limits: SoapLimits, what: str) -> Exception:
    # The pull parser's exception text can be a generic "no element found"; its log has the real cause.
    errors = exc.error_log.filter_from_errors()
    message = f"{errors[0].message} (line {errors[0].line}, column {errors[0].column})" if errors else str(exc)
    if "Excessive depth" in message:
        return DepthLimitExceeded(f"the {what} nests elements deeper than {limits.max_depth} levels")
    if "Text node too long" in message or "huge text node" in message:
        return XmlLimitExceeded(f"a text node of the {what} exceeds libxml2's {_LIBXML2_TEXT_CAP:,}-byte cap; "
                                "send documents that large as MTOM attachments")
    if "Resource limit" in message or "Buffer size limit" in message or "too long" in message:
        # libxml2 stops a token over 10 MB before any event reaches us; find out whether it was an attribute.
        long_value = re.compile(r"""=[ \t\r\n]*(?:"[^"<]{%d}|'[^'<]{%d})""" % ((limits.max_attribute_length,) * 2))
        if long_value.search(text):
            return AttributeTooLong(f"the {what} has an attribute value over {limits.max_attribute_length} "
                                    "characters long")
        return XmlLimitExceeded(f"the {what} exceeds a parser limit: {message}")
    return NotXml(f"the {what} is not well-formed XML: {message}")
