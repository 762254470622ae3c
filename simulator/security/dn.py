"""Distinguished names written as text (the VIHF ``saml2:Issuer``) compared with certificate subjects.

The Issuer of a VIHF is the signer's subject rendered as an RFC 4514/2253 string, and each stack renders it its
own way: Java writes unknown attribute types as dotted OIDs with a hex DER value
(``CN=899900038839+2.5.4.4=#14045452414c+2.5.4.42=#…``), .NET writes ``S=`` and ``G=`` where the kit notes
``ST`` and ``GN``, some write ``title`` or ``T``. So the comparison parses the text into RDNs of
(OID, value), decodes hex values, and compares with the certificate attribute by attribute, ignoring case
and runs of white space (the caseIgnoreMatch of X.520). The RDN sequence must match in RFC 4514 order
(most specific first) or, tolerated, in the X.500 order some tools print.
"""
from __future__ import annotations

from functools import lru_cache

from cryptography import x509
from cryptography.x509.oid import NameOID

_KEYWORDS: dict[str, str] = {
    "CN": "2.5.4.3",
    "SN": "2.5.4.4",
    "SURNAME": "2.5.4.4",
    "SERIALNUMBER": "2.5.4.5",
    "C": "2.5.4.6",
    "L": "2.5.4.7",
    "ST": "2.5.4.8",
    "S": "2.5.4.8",
    "STREET": "2.5.4.9",
    "O": "2.5.4.10",
    "OU": "2.5.4.11",
    "T": "2.5.4.12",
    "TITLE": "2.5.4.12",
    "GN": "2.5.4.42",
    "G": "2.5.4.42",
    "GIVENNAME": "2.5.4.42",
    "INITIALS": "2.5.4.43",
    "DNQUALIFIER": "2.5.4.46",
    "ORGANIZATIONIDENTIFIER": "2.5.4.97",
    "DC": "0.9.2342.19200300.100.1.25",
    "UID": "0.9.2342.19200300.100.1.1",
    "E": "1.2.840.113549.1.9.1",
    "EMAIL": "1.2.840.113549.1.9.1",
    "EMAILADDRESS": "1.2.840.113549.1.9.1",
}

# ASN.1 string types a hex-encoded value may carry, and how to read their bytes.
_STRING_TAGS: dict[int, str] = {
    0x0C: "utf-8",  # UTF8String
    0x12: "ascii",  # NumericString
    0x13: "ascii",  # PrintableString
    0x14: "latin-1",  # TeletexString (T61): Latin-1 is what IGC-Santé card certificates put there
    0x16: "ascii",  # IA5String
    0x1A: "ascii",  # VisibleString
    0x1C: "utf-32-be",  # UniversalString
    0x1E: "utf-16-be",  # BMPString
}

# How the builder renders names: RFC 4514 short names, plus the kit's spelling for the types RFC 4514 lacks.
RENDER_NAMES = {NameOID.SURNAME: "SN", NameOID.GIVEN_NAME: "GN", NameOID.TITLE: "title"}

Rdn = frozenset[tuple[str, str]]


class DnSyntaxError(ValueError):
    pass


def normalise_value(value: str) -> str:
    return " ".join(value.split()).casefold()


def _decode_hex(hexstring: str) -> str:
    try:
        der = bytes.fromhex(hexstring)
    except ValueError:
        raise DnSyntaxError(f"invalid hex value #{hexstring}") from None
    if len(der) < 2:
        raise DnSyntaxError(f"hex value #{hexstring} is not a DER string")
    tag, size, offset = der[0], der[1], 2
    if size & 0x80:
        count = size & 0x7F
        size, offset = int.from_bytes(der[2:2 + count], "big"), 2 + count
    body = der[offset:]
    if len(body) != size:
        raise DnSyntaxError(f"hex value #{hexstring}: DER length does not match")
    encoding = _STRING_TAGS.get(tag)
    if encoding is None:
        raise DnSyntaxError(f"hex value #{hexstring}: ASN.1 tag 0x{tag:02x} is not a string type")
    try:
        return body.decode(encoding)
    except UnicodeDecodeError:
        raise DnSyntaxError(f"hex value #{hexstring} is not valid {encoding}") from None


def _attribute_type(text: str) -> str:
    name = text.strip()
    if name.upper().startswith("OID."):
        name = name[4:]
    if name and name[0].isdigit():
        parts = name.split(".")
        if len(parts) < 2 or not all(p.isdigit() for p in parts):
            raise DnSyntaxError(f"invalid attribute type {text!r}")
        return name
    oid = _KEYWORDS.get(name.upper())
    if oid is None:
        raise DnSyntaxError(f"unknown attribute type {text!r}")
    return oid


@lru_cache(maxsize=1024)  # every VIHF of a client carries the same Issuer text: parsed once (the result is immutable)
def parse_dn(text: str) -> tuple[Rdn, ...]:
    """RDNs of an RFC 4514 string, in the string's order, values normalised for comparison."""
    rdns: list[Rdn] = []
    current: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while True:
        equals = text.find("=", i)
        if equals < 0:
            raise DnSyntaxError(f"missing '=' after {text[i:]!r}")
        oid = _attribute_type(text[i:equals])
        i = equals + 1
        while i < n and text[i] == " ":
            i += 1
        if i < n and text[i] == "#":
            j = i + 1
            while j < n and text[j] not in ",;+ ":
                j += 1
            value = _decode_hex(text[i + 1:j])
            i = j
            while i < n and text[i] == " ":
                i += 1
        elif i < n and text[i] == '"':  # RFC 1779 quoted value, still written by a few tools
            end = text.find('"', i + 1)
            if end < 0:
                raise DnSyntaxError("unterminated quoted value")
            value = text[i + 1:end]
            i = end + 1
            while i < n and text[i] == " ":
                i += 1
        else:
            raw = bytearray()
            trailing_spaces = 0  # unescaped spaces at the end are not part of the value
            while i < n and text[i] not in ",;+":
                ch = text[i]
                if ch == "\\":
                    if i + 1 >= n:
                        raise DnSyntaxError("dangling escape at the end of the name")
                    pair = text[i + 1:i + 3]
                    if len(pair) == 2 and all(c in "0123456789abcdefABCDEF" for c in pair):
                        raw.append(int(pair, 16))
                        i += 3
                    else:
                        raw += text[i + 1].encode("utf-8")
                        i += 2
                    trailing_spaces = 0
                    continue
                raw += ch.encode("utf-8")
                trailing_spaces = trailing_spaces + 1 if ch == " " else 0
                i += 1
            if trailing_spaces:
                del raw[-trailing_spaces:]
            try:
                value = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise DnSyntaxError("escaped bytes are not valid UTF-8") from None
        current.append((oid, normalise_value(value)))
        if i >= n:
            rdns.append(frozenset(current))
            return tuple(rdns)
        separator = text[i]
        if separator not in ",;+":
            raise DnSyntaxError(f"unexpected {separator!r} at offset {i}")
        if separator != "+":
            rdns.append(frozenset(current))
            current = []
        i += 1
        while i < n and text[i] == " ":
            i += 1


@lru_cache(maxsize=1024)
def name_rdns(name: x509.Name) -> tuple[Rdn, ...]:
    """The certificate name's RDNs in RFC 4514 order (last RDN of the DER first)."""
    out: list[Rdn] = []
    for rdn in reversed(list(name.rdns)):
        out.append(frozenset((a.oid.dotted_string, normalise_value(a.value if isinstance(a.value, str)
                                                                    else a.value.hex())) for a in rdn))
    return tuple(out)


def dn_matches(text: str, name: x509.Name) -> bool:
    """Whether ``text`` names ``name``; raises ``DnSyntaxError`` when the text is not a DN at all."""
    parsed = parse_dn(text)
    wanted = name_rdns(name)
    return parsed == wanted or parsed == tuple(reversed(wanted))


def render_dn(name: x509.Name) -> str:
    """The Issuer text the builder writes: RFC 4514, with SN / GN / title for the person attributes."""
    return name.rfc4514_string(RENDER_NAMES)
