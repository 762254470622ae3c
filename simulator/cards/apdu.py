"""ISO/IEC 7816-4 command and response APDUs: parsing (short and extended), status words.

A card handler raises ``CardError(sw)`` to answer with a bare status word; the card OS turns it into the
response. Status words used by the sandbox cards are named here once (spec insi-cards.md §B.5, §D.6).
"""
from __future__ import annotations

from dataclasses import dataclass

SW_OK = 0x9000
SW_END_OF_FILE = 0x6282  # fewer bytes than asked (not used: see iso7816.read_binary)
SW_WRONG_LENGTH = 0x6700
SW_SM_NOT_SUPPORTED = 0x6882
SW_CHAINING_NOT_SUPPORTED = 0x6884
SW_SECURITY_NOT_SATISFIED = 0x6982
SW_PIN_BLOCKED = 0x6983  # authentication method blocked
SW_CONDITIONS_NOT_SATISFIED = 0x6985
SW_COMMAND_NOT_ALLOWED_NO_EF = 0x6986
SW_WRONG_DATA = 0x6A80
SW_FUNCTION_NOT_SUPPORTED = 0x6A81
SW_FILE_NOT_FOUND = 0x6A82
SW_INCORRECT_P1P2 = 0x6A86
SW_REFERENCE_NOT_FOUND = 0x6A88
SW_WRONG_P1P2 = 0x6B00
SW_INS_NOT_SUPPORTED = 0x6D00
SW_CLA_NOT_SUPPORTED = 0x6E00
SW_NO_PRECISE_DIAGNOSIS = 0x6F00


def sw_tries_left(count: int) -> int:
    """63Cx: verification failed, x tries left."""
    return 0x63C0 | (count & 0x0F)


class CardError(Exception):
    """A status word other than 9000, raised by a command handler."""

    def __init__(self, sw: int, message: str = "") -> None:
        super().__init__(message or f"SW {sw:04X}")
        self.sw = sw


@dataclass(frozen=True)
class Command:
    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    ne: int | None = None  # expected response length (Le decoded: 00 -> 256 / 65536); None: no Le field
    extended: bool = False

    @classmethod
    def parse(cls, raw: bytes) -> Command:
        """Decode cases 1, 2, 3, 4 in short and extended form (ISO/IEC 7816-3 §12.1.3)."""
        raw = bytes(raw)
        if len(raw) < 4:
            raise CardError(SW_WRONG_LENGTH, "APDU shorter than its header")
        cla, ins, p1, p2 = raw[:4]
        body = raw[4:]
        if not body:
            return cls(cla, ins, p1, p2)
        if len(body) == 1:
            return cls(cla, ins, p1, p2, ne=body[0] or 256)
        if body[0] != 0:
            lc = body[0]
            if len(body) == 1 + lc:
                return cls(cla, ins, p1, p2, body[1:])
            if len(body) == 2 + lc:
                return cls(cla, ins, p1, p2, body[1:-1], ne=body[-1] or 256)
            raise CardError(SW_WRONG_LENGTH, "Lc does not match the APDU length")
        # extended length: 00 then two bytes
        if len(body) == 3:
            return cls(cla, ins, p1, p2, ne=int.from_bytes(body[1:3], "big") or 65536, extended=True)
        lc = int.from_bytes(body[1:3], "big")
        if lc and len(body) == 3 + lc:
            return cls(cla, ins, p1, p2, body[3:], extended=True)
        if lc and len(body) == 5 + lc:
            return cls(cla, ins, p1, p2, body[3:-2], ne=int.from_bytes(body[-2:], "big") or 65536, extended=True)
        raise CardError(SW_WRONG_LENGTH, "malformed extended APDU")

    def to_bytes(self) -> bytes:
        """Encode, choosing the short form whenever it fits (client side)."""
        header = bytes([self.cla, self.ins, self.p1, self.p2])
        ne = self.ne
        extended = self.extended or len(self.data) > 255 or (ne is not None and ne > 256)
        if not extended:
            out = header
            if self.data:
                out += bytes([len(self.data)]) + self.data
            if ne is not None:
                out += bytes([0 if ne == 256 else ne])
            return out
        out = header + b"\x00"
        if self.data:
            out += len(self.data).to_bytes(2, "big") + self.data
        if ne is not None:
            out += (0 if ne == 65536 else ne).to_bytes(2, "big")
        return out


def apdu(cla: int, ins: int, p1: int, p2: int, data: bytes = b"", ne: int | None = None) -> bytes:
    """Bytes of a command APDU, for clients and tests."""
    return Command(cla, ins, p1, p2, bytes(data), ne).to_bytes()


def split_response(raw: bytes) -> tuple[bytes, int]:
    if len(raw) < 2:
        raise ValueError(f"response APDU too short: {raw.hex()}")
    return bytes(raw[:-2]), int.from_bytes(raw[-2:], "big")
