"""The card side of vsmartcard's vpcd driver, spoken directly (spec insi-cards.md §D.2).

pcscd loads vpcd (Debian ``vsmartcard-vpcd``: ``/etc/reader.conf.d/vpcd``, readers ``Virtual PCD 00 00`` and
``Virtual PCD 00 01``), which listens on TCP 35963 + slot. A virtual card "is inserted" when it connects
and answers; closing the connection pulls it out. Every message either way is a 2-byte big-endian length
and a payload; vpcd always speaks first:

    00 01 00   power off            (no answer)
    00 01 01   power on             (no answer)
    00 01 02   reset                (no answer)
    00 01 04   get ATR              -> LL LL <ATR>
    LL LL <C-APDU>                  -> LL LL <R-APDU>

Why not the ``python3-virtualsmartcard`` library: it installs outside Debian's ``sys.path``, needs
PyCryptodome, is not on PyPI (so not in our venv), and its ISO 7816 layer gets the CPS details wrong (SELECT
by path with 3F00, 6300 instead of 63Cx, no PIN-counter GET DATA, no PSO HASH). The wire protocol above is
twenty lines, and our own ``CardOS`` then serves both this transport and the in-process one.
"""
from __future__ import annotations

import socket
import threading
import time

from .iso7816 import CardOS

VPCD_HOST = "127.0.0.1"
VPCD_PORT = 35963  # slot 0; slot n listens on VPCD_PORT + n
VPCD_SLOTS = 2  # what Debian's build configures: "Virtual PCD 00 00" and "Virtual PCD 00 01"

CTRL_OFF, CTRL_ON, CTRL_RESET, CTRL_ATR = 0, 1, 2, 4
_QUICKACK = getattr(socket, "TCP_QUICKACK", None)  # Linux only


class VpcdUnavailable(RuntimeError):
    """Nothing answers as vpcd on the slot's port: pcscd is not running, or not with the vpcd driver."""


def reader_name(slot: int) -> str:
    return f"Virtual PCD 00 {slot:02d}"


class VpcdLink:
    """One card plugged into one vpcd slot for as long as the link is open."""

    def __init__(self, card: CardOS, slot: int = 0, *, host: str = VPCD_HOST, port: int | None = None) -> None:
        if not 0 <= slot < 64:
            raise ValueError("slot must be 0..63")
        self.card = card
        self.slot = slot
        self.host = host
        self.port = VPCD_PORT + slot if port is None else port
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._powered = threading.Event()
        self._spoken = threading.Event()
        self._closed = threading.Event()
        self._ejecting = threading.Event()
        self.error: str | None = None

    @property
    def reader(self) -> str:
        return reader_name(self.slot)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._closed.is_set()

    def insert(self, timeout: float = 5.0) -> VpcdLink:
        """Connect and wait until pcscd has seen the card and powered it up."""
        try:
            sock = socket.create_connection((self.host, self.port), timeout=2.0)
        except OSError as exc:
            raise VpcdUnavailable(
                f"nothing listens on {self.host}:{self.port} (vpcd slot {self.slot}): start pcscd with the vpcd "
                f"reader driver (Debian packages pcscd and vsmartcard-vpcd, then `pcscd`)") from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(None)
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, name=f"vpicc-slot{self.slot}", daemon=True)
        self._thread.start()
        if not self._spoken.wait(timeout):
            self.remove()
            raise VpcdUnavailable(f"vpcd slot {self.slot} ({self.host}:{self.port}) accepted the connection but never "
                                  f"asked for the ATR: is another card already in that slot?")
        self._powered.wait(min(2.0, timeout / 2))  # pcscd powers a new card up right after seeing it
        return self

    def remove(self, timeout: float = 2.0) -> None:
        """Pull the card out, and wait until pcscd has noticed (its next presence poll, <= 0.4 s).

        Just closing the socket is not enough: vpcd sees the close at its next poll and, if a new card is
        already waiting in the slot, accepts it in the same poll -- pcscd then never sees the slot empty and
        does not power the new card up. So the card first answers vpcd's next GET ATR with an empty ATR, which
        pcscd takes as "no card" (vpcd keeps the socket open: Debian's 3.3), and only then hangs up."""
        if self.alive:
            self._ejecting.set()
            self._closed.wait(timeout)
        self._closed.set()
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)

    def __enter__(self) -> VpcdLink:
        return self.insert() if self._sock is None else self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    # --- the protocol ---------------------------------------------------------------------------------
    def _recv_exact(self, sock: socket.socket, size: int) -> bytes | None:
        chunks = bytearray()
        while len(chunks) < size:
            if _QUICKACK is not None:
                # vpcd writes the length and the APDU in two send() calls without TCP_NODELAY: Nagle holds the
                # APDU until our ACK of the length, which delayed ACK keeps for 40 ms. Acknowledge at once.
                sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
            chunk = sock.recv(size - len(chunks))
            if not chunk:
                return None
            chunks += chunk
        return bytes(chunks)

    def _serve(self) -> None:
        sock = self._sock
        assert sock is not None
        try:
            while not self._closed.is_set():
                header = self._recv_exact(sock, 2)
                if header is None:
                    break
                payload = self._recv_exact(sock, int.from_bytes(header, "big"))
                if payload is None:
                    break
                self._spoken.set()
                answer = self._handle(payload)
                if answer is not None:
                    sock.sendall(len(answer).to_bytes(2, "big") + answer)
                if answer == b"" and self._ejecting.is_set():
                    break  # vpcd has just been told "no card"; the slot is free once we hang up
        except OSError as exc:
            if not self._closed.is_set():
                self.error = str(exc)
        finally:
            self._closed.set()

    def _handle(self, payload: bytes) -> bytes | None:
        if len(payload) == 1:
            control = payload[0]
            if control == CTRL_ATR:
                return b"" if self._ejecting.is_set() else self.card.atr
            if control == CTRL_ON:
                self.card.power_up()
                self._powered.set()
            elif control == CTRL_OFF:
                self.card.power_down()
            elif control == CTRL_RESET:
                self.card.reset()
            return None
        return self.card.transmit(payload)


def wait_until(predicate, timeout: float, interval: float = 0.05) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
