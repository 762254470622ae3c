"""The IGC-Santé private extensions (card category, card type, card serial, profession).

cryptography carries unknown extensions as raw DER, so the three ASN.1 primitives they use are encoded and
decoded here by hand; pulling in an ASN.1 library for three TLVs is not worth a dependency.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from cryptography import x509

from .names import Oid

_OCTET_STRING = 0x04
_INTEGER = 0x02
_PRINTABLE_STRING = 0x13
_PRINTABLE = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?")


def _tlv(tag: int, body: bytes) -> bytes:
    size = len(body)
    if size < 0x80:
        return bytes([tag, size]) + body
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + body


def _untlv(expected_tag: int, der: bytes) -> bytes:
    if len(der) < 2 or der[0] != expected_tag:
        raise ValueError(f"expected ASN.1 tag 0x{expected_tag:02x}, got {der[:1].hex() or 'nothing'}")
    size, offset = der[1], 2
    if size & 0x80:
        count = size & 0x7F
        size, offset = int.from_bytes(der[2 : 2 + count], "big"), 2 + count
    if offset + size != len(der):
        raise ValueError("ASN.1 length does not match the extension value")
    return der[offset:]


def encode_octet_string(value: bytes) -> bytes:
    return _tlv(_OCTET_STRING, value)


def encode_integer(value: int) -> bytes:
    # Two's complement on the fewest octets: 0 -> 00, 128 -> 00 80.
    return _tlv(_INTEGER, value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True))


def encode_printable(value: str) -> bytes:
    if not set(value) <= _PRINTABLE:
        raise ValueError(f"not a PrintableString: {value!r}")
    return _tlv(_PRINTABLE_STRING, value.encode("ascii"))


def decode_octet_string(der: bytes) -> bytes:
    return _untlv(_OCTET_STRING, der)


def decode_integer(der: bytes) -> int:
    return int.from_bytes(_untlv(_INTEGER, der), "big", signed=True)


def decode_printable(der: bytes) -> str:
    return _untlv(_PRINTABLE_STRING, der).decode("ascii")


@dataclass(frozen=True)
class CardExtensions:
    """Decoded private extensions; a field is None when the certificate does not carry it."""

    category: str | None  # TRE_G01 code as its two digits, e.g. "80"
    card_type: int | None  # TRE_G02 code, 0 = CPS, 2 = CPE
    card_serial: str | None  # "<issuer number>/<card serial>"
    profession: int | None  # TRE_G15 code, e.g. 21 = Pharmacien

    def extensions(self) -> list[x509.UnrecognizedExtension]:
        """The extensions to add, in the order the test CPS certificate lists them."""
        out: list[x509.UnrecognizedExtension] = []
        if self.category is not None:
            out.append(x509.UnrecognizedExtension(Oid.CARD_CATEGORY, encode_octet_string(bytes.fromhex(self.category))))
        if self.card_type is not None:
            out.append(x509.UnrecognizedExtension(Oid.CARD_TYPE, encode_integer(self.card_type)))
        if self.card_serial is not None:
            out.append(x509.UnrecognizedExtension(Oid.CARD_SERIAL, encode_printable(self.card_serial)))
        if self.profession is not None:
            out.append(x509.UnrecognizedExtension(Oid.PROFESSION, encode_integer(self.profession)))
        return out


@lru_cache(maxsize=1024)  # the same few signer certificates on every call; the result is immutable
def read_card_extensions(cert: x509.Certificate) -> CardExtensions:
    """Decode the private extensions of any certificate (ours or a real IGC-Santé test one)."""
    raw: dict[str, bytes] = {}
    for ext in cert.extensions:
        if isinstance(ext.value, x509.UnrecognizedExtension):
            raw[ext.oid.dotted_string] = ext.value.value
    category = raw.get(Oid.CARD_CATEGORY.dotted_string)
    card_type = raw.get(Oid.CARD_TYPE.dotted_string)
    serial = raw.get(Oid.CARD_SERIAL.dotted_string)
    profession = raw.get(Oid.PROFESSION.dotted_string)
    return CardExtensions(
        category=decode_octet_string(category).hex() if category is not None else None,
        card_type=decode_integer(card_type) if card_type is not None else None,
        card_serial=decode_printable(serial) if serial is not None else None,
        profession=decode_integer(profession) if profession is not None else None,
    )
