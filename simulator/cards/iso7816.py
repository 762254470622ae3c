"""A small ISO/IEC 7816-4 card OS: file tree, SELECT, READ BINARY, GET RESPONSE, command chaining.

The CPS and Vitale cards subclass ``CardOS`` and add their own instructions. Every transport (vpcd socket,
in-process) calls the same ``CardOS.transmit``, so the APDU behaviour cannot differ between them.

SELECT follows what the clients of these cards send (spec insi-cards.md §B.5, §D.6):

* P1=00 by FID (3F00 or empty data = MF), 01 child DF, 02 EF of the current DF, 03 parent DF,
  04 by DF name (AID, exact or right-truncated), 08 path from the MF, 09 path from the current DF -- where a
  path starting with 3F00 is taken from the MF, as Cryptolib sends it to a CPS3 (vsmartcard gets this wrong);
* P2=00 returns the FCI (6F), 04 the FCP (62), 0C nothing.

Responses longer than the command's Le (or any response to a command without Le, the T=0 way) are held back
and announced with 61xx, then fetched with GET RESPONSE (00 C0 00 00 xx).
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from . import tlv
from .apdu import (SW_CLA_NOT_SUPPORTED, SW_COMMAND_NOT_ALLOWED_NO_EF, SW_FILE_NOT_FOUND,
                   SW_FUNCTION_NOT_SUPPORTED, SW_INCORRECT_P1P2, SW_INS_NOT_SUPPORTED, SW_NO_PRECISE_DIAGNOSIS,
                   SW_OK, SW_SECURITY_NOT_SATISFIED, SW_SM_NOT_SUPPORTED, SW_WRONG_LENGTH, SW_WRONG_P1P2,
                   CardError, Command)

Access = Literal["always", "pin", "never"]


@dataclass(eq=False)
class EF:
    """Transparent elementary file."""

    fid: int
    data: bytes = b""
    read: Access = "always"
    name: str = ""  # for people reading a dump
    parent: DF | None = field(default=None, repr=False)

    def fcp(self) -> bytes:
        return tlv.tlv(0x62, [tlv.tlv(0x80, len(self.data).to_bytes(2, "big")), tlv.tlv(0x82, b"\x01"),
                              tlv.tlv(0x83, self.fid.to_bytes(2, "big")), tlv.tlv(0x8A, b"\x05")])


@dataclass(eq=False)
class DF:
    fid: int
    aid: bytes | None = None
    name: str = ""
    parent: DF | None = field(default=None, repr=False)
    children: list[DF | EF] = field(default_factory=list, repr=False)

    def add(self, node: DF | EF) -> DF | EF:
        if any(child.fid == node.fid for child in self.children):
            raise ValueError(f"{node.fid:04X} already exists under {self.fid:04X}")
        node.parent = self
        self.children.append(node)
        return node

    def df(self, fid: int, aid: bytes | None = None, name: str = "") -> DF:
        node = DF(fid, aid, name)
        self.add(node)
        return node

    def ef(self, fid: int, data: bytes, read: Access = "always", name: str = "") -> EF:
        node = EF(fid, bytes(data), read, name)
        self.add(node)
        return node

    def child(self, fid: int) -> DF | EF | None:
        return next((c for c in self.children if c.fid == fid), None)

    def walk(self) -> Iterator[DF | EF]:
        yield self
        for child in self.children:
            if isinstance(child, DF):
                yield from child.walk()
            else:
                yield child

    def fcp(self) -> bytes:
        items = [tlv.tlv(0x82, b"\x38"), tlv.tlv(0x83, self.fid.to_bytes(2, "big"))]
        if self.aid:
            items.append(tlv.tlv(0x84, self.aid))
        items.append(tlv.tlv(0x8A, b"\x05"))
        return tlv.tlv(0x62, items)


def path_of(node: DF | EF) -> bytes:
    parts = []
    current: DF | EF | None = node
    while current is not None:
        parts.append(current.fid.to_bytes(2, "big"))
        current = current.parent
    return b"".join(reversed(parts))


Handler = Callable[[Command], bytes]

MF_FID = 0x3F00


class CardOS:
    """Card state and the instructions every sandbox card shares. Thread-safe: one APDU at a time."""

    atr: bytes = b""

    def __init__(self, mf: DF) -> None:
        self.mf = mf
        self._lock = threading.RLock()
        self._handlers: dict[int, Handler] = {0xA4: self._select, 0xB0: self._read_binary, 0xC0: self._get_response}
        self._current: DF | EF = mf
        self._pending = b""  # response bytes waiting for GET RESPONSE
        self._chain: tuple[int, bytes] | None = None  # (INS, data so far) of a chained command
        self.apdu_count = 0

    # --- life cycle -----------------------------------------------------------------------------------
    def power_up(self) -> None:
        with self._lock:
            self.reset_session()

    def power_down(self) -> None:
        with self._lock:
            self.reset_session()

    def reset(self) -> None:
        with self._lock:
            self.reset_session()

    def reset_session(self) -> None:
        """Volatile state back to what a fresh power-up gives (subclasses extend: PIN status, MSE...)."""
        self._current = self.mf
        self._pending = b""
        self._chain = None

    # --- dispatch -------------------------------------------------------------------------------------
    def register(self, ins: int, handler: Handler) -> None:
        self._handlers[ins] = handler

    def transmit(self, raw: bytes) -> bytes:
        """One C-APDU in, its R-APDU (data + SW1 SW2) out."""
        with self._lock:
            self.apdu_count += 1
            try:
                command = Command.parse(raw)
                data, sw = self._execute(command)
            except CardError as exc:
                data, sw = b"", exc.sw
            except Exception:  # a bug in a handler must look like a card error, not kill the reader thread
                data, sw = b"", SW_NO_PRECISE_DIAGNOSIS
            return data + sw.to_bytes(2, "big")

    def _execute(self, command: Command) -> tuple[bytes, int]:
        if command.cla == 0xFF or command.cla & 0x80:
            raise CardError(SW_CLA_NOT_SUPPORTED)
        if command.cla & 0x0C:
            raise CardError(SW_SM_NOT_SUPPORTED)
        if command.ins != 0xC0:
            self._pending = b""
        chained = bool(command.cla & 0x10)
        if self._chain is not None:
            ins, so_far = self._chain
            if ins != command.ins:
                self._chain = None
                raise CardError(0x6883, "chained command interrupted")  # last command of the chain expected
            command = Command(command.cla & ~0x10, command.ins, command.p1, command.p2, so_far + command.data,
                              command.ne, command.extended)
        if chained:
            self._chain = (command.ins, command.data)
            return b"", SW_OK
        self._chain = None
        handler = self._handlers.get(command.ins)
        if handler is None:
            raise CardError(SW_INS_NOT_SUPPORTED)
        data = handler(command)
        if command.ins == 0xC0:
            return data, self._remaining_sw()
        return self._deliver(data, command.ne)

    def _deliver(self, data: bytes, ne: int | None) -> tuple[bytes, int]:
        if not data:
            return b"", SW_OK
        if ne is None:  # no Le: T=0 style, the client fetches it with GET RESPONSE
            self._pending = data
            return b"", 0x6100 | (min(len(data), 256) & 0xFF)
        if len(data) <= ne:
            return data, SW_OK
        self._pending = data[ne:]
        return data[:ne], self._remaining_sw()

    def _remaining_sw(self) -> int:
        if not self._pending:
            return SW_OK
        return 0x6100 | (min(len(self._pending), 256) & 0xFF)

    def _get_response(self, command: Command) -> bytes:
        if command.p1 or command.p2:
            raise CardError(SW_WRONG_P1P2)
        if not self._pending:
            raise CardError(0x6985, "no response data waiting")
        ne = command.ne or 256
        out, self._pending = self._pending[:ne], self._pending[ne:]
        return out

    # --- files ----------------------------------------------------------------------------------------
    @property
    def current_df(self) -> DF:
        node = self._current
        return node if isinstance(node, DF) else node.parent or self.mf

    @property
    def current_ef(self) -> EF | None:
        return self._current if isinstance(self._current, EF) else None

    def resolve_path(self, path: bytes, start: DF) -> DF | EF:
        if len(path) % 2 or not path:
            raise CardError(SW_WRONG_LENGTH, "a path is a sequence of 2-byte file identifiers")
        fids = [int.from_bytes(path[i : i + 2], "big") for i in range(0, len(path), 2)]
        node: DF | EF = start
        if fids[0] == MF_FID:
            node, fids = self.mf, fids[1:]
        for fid in fids:
            if not isinstance(node, DF):
                raise CardError(SW_FILE_NOT_FOUND)
            child = node.child(fid)
            if child is None:
                raise CardError(SW_FILE_NOT_FOUND)
            node = child
        return node

    def find_by_aid(self, name: bytes) -> DF:
        matches = [n for n in self.mf.walk() if isinstance(n, DF) and n.aid and n.aid.startswith(name)]
        exact = [n for n in matches if n.aid == name]
        if not (exact or matches):
            raise CardError(SW_FILE_NOT_FOUND)
        return (exact or matches)[0]

    def _select(self, command: Command) -> bytes:
        p1, data = command.p1, command.data
        df = self.current_df
        target: DF | EF | None
        if p1 == 0x00:
            if not data or data == b"\x3f\x00":
                target = self.mf
            elif len(data) != 2:
                raise CardError(SW_WRONG_LENGTH)
            else:
                fid = int.from_bytes(data, "big")
                target = df.child(fid) or (df.parent.child(fid) if df.parent else None)
                if target is None and df.fid == fid:
                    target = df
        elif p1 in (0x01, 0x02):
            if len(data) != 2:
                raise CardError(SW_WRONG_LENGTH)
            target = df.child(int.from_bytes(data, "big"))
            if target is not None and isinstance(target, DF) != (p1 == 0x01):
                target = None
        elif p1 == 0x03:
            target = df.parent or self.mf
        elif p1 == 0x04:
            target = self.find_by_aid(data)
        elif p1 == 0x08:
            target = self.resolve_path(data, self.mf)
        elif p1 == 0x09:
            target = self.resolve_path(data, df)
        else:
            raise CardError(SW_INCORRECT_P1P2)
        if target is None:
            raise CardError(SW_FILE_NOT_FOUND)
        p2 = command.p2 & 0xFC
        if p2 not in (0x00, 0x04, 0x0C) or command.p2 & 0x03 not in (0, 2):  # first/only occurrence
            raise CardError(SW_INCORRECT_P1P2)
        self._current = target
        self.on_select(target)
        if p2 == 0x0C:
            return b""
        fcp = target.fcp()
        if p2 == 0x04:
            return fcp
        return tlv.tlv(0x6F, next(tlv.parse(fcp))[1])  # FCI: the same objects under tag 6F

    def on_select(self, node: DF | EF) -> None:
        """Hook: a card resets what depends on the current application (MSE...)."""

    def can_read(self, ef: EF) -> bool:
        return ef.read == "always"

    def _read_binary(self, command: Command) -> bytes:
        if command.p1 & 0x80:
            raise CardError(SW_FUNCTION_NOT_SUPPORTED, "short EF identifiers are not supported")
        ef = self.current_ef
        if ef is None:
            raise CardError(SW_COMMAND_NOT_ALLOWED_NO_EF)
        if not self.can_read(ef):
            raise CardError(SW_SECURITY_NOT_SATISFIED)
        offset = (command.p1 << 8) | command.p2
        if offset >= len(ef.data):
            raise CardError(SW_WRONG_P1P2, "offset beyond the end of the file")
        ne = command.ne or 256
        return ef.data[offset : offset + ne]
