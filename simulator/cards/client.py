"""Client side: read and use CPS and Vitale cards through PC/SC (pyscard) -- or in process, same code.

What a reference client (an LPS) does with the cards::

    from segur_sandbox.simulator.cards.client import connect, CpsClient, VitaleClient

    cps = CpsClient(connect("Virtual PCD 00 00"))          # any PC/SC reader name; None = first with a card
    holder = cps.read_holder()                             # idNat, names, profession, card type and serial
    cert = cps.read_certificate("sign")
    cps.verify_pin("1234")                                 # WrongPin(tries_left) / PinBlocked on failure
    signature = cps.sign(b"data", "sha256")                # PKCS#1 v1.5, the card's signature key
    vihf = build_vihf(signer=cps.signer(), ...)            # a VIHF signed by the card (signxml calls it)

    card = VitaleClient(connect("Virtual PCD 00 01")).read()   # VitaleData: insured, beneficiaries...

``CardChannel.in_process(card)`` gives the same channel on a ``CpsCard``/``VitaleCard`` object without
pcscd. pyscard is imported only when a PC/SC function is called, so the rest works without it.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils
from cryptography.x509.oid import NameOID

from ..pki import read_card_extensions
from . import tlv
from .apdu import SW_OK, SW_PIN_BLOCKED, SW_SECURITY_NOT_SATISFIED, apdu
from .cps import (ALG_AUTH_PKCS1, ALG_HASH_SHA1, ALG_HASH_SHA256, ALG_SIGN_SHA1, ALG_SIGN_SHA256, ATR_CPS3,
                  ATR_CPS4, AUTH_KEY_REF, CERT_AUTH_PATH, CERT_SIGN_PATH, CPS4_AUTH_KEY_ID, PATH_EF_SN_ICC,
                  PATH_SITUATION_01, PIN_REF, PUK_REF, SIGN_KEY_REF, Situation, digest_info)
from .iso7816 import CardOS
from .sha import HashState
from .transport import InProcessReader
from .vitale import (AID_MF_VITALE, AID_VITALE, ATR_VITALE2, ATR_VITALE2_PHOTO, POINTER_FID, Beneficiary,
                     VitaleData, parse_pointers)

READ_CHUNK = 0xE7  # Cryptolib's max_recv_size for a CPS3
VIRTUAL_READER_PREFIX = "Virtual PCD"


class CardStatusError(Exception):
    """The card answered a status word other than 9000."""

    def __init__(self, sw: int, what: str) -> None:
        super().__init__(f"{what}: card answered {sw:04X}")
        self.sw = sw


class WrongPin(CardStatusError):
    def __init__(self, sw: int, what: str) -> None:
        super().__init__(sw, what)
        self.tries_left = sw & 0x0F


class PinBlocked(CardStatusError):
    pass


class PcscUnavailable(RuntimeError):
    pass


# --- PC/SC ----------------------------------------------------------------------------------------------
def pcsc_readers() -> list[str]:
    """Reader names pcscd lists (empty when pcscd runs without readers). Raises PcscUnavailable when pyscard
    is missing or pcscd cannot be reached."""
    try:
        from smartcard.System import readers
    except ImportError as exc:  # pragma: no cover - depends on the machine
        raise PcscUnavailable("pyscard is not installed (pip install pyscard; it builds against libpcsclite-dev "
                              "with swig)") from exc
    try:
        return [str(r) for r in readers()]
    except Exception as exc:  # EstablishContextException and friends: pcscd not running
        raise PcscUnavailable(f"cannot reach pcscd: {exc}") from exc


def pcsc_status() -> tuple[bool, str]:
    """(True, "") when pyscard, pcscd and the vpcd virtual readers are all there; else (False, why)."""
    try:
        names = pcsc_readers()
    except PcscUnavailable as exc:
        return False, str(exc)
    if not any(n.startswith(VIRTUAL_READER_PREFIX) for n in names):
        return False, (f"pcscd lists no '{VIRTUAL_READER_PREFIX}' reader (readers: {names or 'none'}): install "
                       f"vsmartcard-vpcd and restart pcscd")
    return True, ""


def connect(reader: str | None = None, *, timeout: float = 3.0) -> CardChannel:
    """Open a PC/SC connection to the card in ``reader`` (a name, or a prefix of one); None = the first
    reader holding a card. Waits up to ``timeout`` seconds for a card just inserted."""
    from smartcard.Exceptions import CardConnectionException, NoCardException
    from smartcard.System import readers

    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        candidates = [r for r in readers() if reader is None or str(r) == reader or str(r).startswith(reader)]
        for candidate in candidates:
            connection = candidate.createConnection()
            try:
                connection.connect()
                return CardChannel(connection, str(candidate))
            except (NoCardException, CardConnectionException) as exc:
                last_error = exc
        if time.monotonic() >= deadline:
            where = reader or "any reader"
            raise CardStatusError(0, f"no card in {where} ({last_error or 'no such reader'})")
        time.sleep(0.05)


# --- channel --------------------------------------------------------------------------------------------
class CardChannel:
    """APDU exchange with one card: GET RESPONSE (61xx) and wrong-Le (6Cxx) handled, a lock so that
    multi-APDU operations (MSE then PSO) are not interleaved by threads."""

    def __init__(self, connection: Any, reader: str = "") -> None:
        self.connection = connection
        self.reader = reader
        self.lock = threading.RLock()
        self.atr = bytes(connection.getATR())

    @classmethod
    def in_process(cls, card: CardOS | InProcessReader) -> CardChannel:
        reader = card if isinstance(card, InProcessReader) else InProcessReader(card)
        connection = reader.createConnection()
        connection.connect()
        return cls(connection, reader.name)

    def transmit(self, command: bytes) -> tuple[bytes, int]:
        with self.lock:
            data, sw1, sw2 = self.connection.transmit(list(command))
            sw = (sw1 << 8) | sw2
            if sw1 == 0x6C:  # wrong Le: resend with the exact length
                data, sw1, sw2 = self.connection.transmit(list(command[:-1]) + [sw2])
                sw = (sw1 << 8) | sw2
            out = bytes(data)
            while sw >> 8 == 0x61:
                more, sw1, sw2 = self.connection.transmit([0x00, 0xC0, 0x00, 0x00, sw & 0xFF])
                out += bytes(more)
                sw = (sw1 << 8) | sw2
            return out, sw

    def check(self, command: bytes, what: str) -> bytes:
        data, sw = self.transmit(command)
        if sw != SW_OK:
            raise CardStatusError(sw, what)
        return data

    def select_aid(self, aid: bytes) -> None:
        self.check(apdu(0x00, 0xA4, 0x04, 0x0C, aid), f"SELECT AID {aid.hex().upper()}")

    def select_file(self, fid: int) -> int:
        """SELECT an EF of the current DF (P1=02) with its FCP; returns the file size."""
        return self._size(self.check(apdu(0x00, 0xA4, 0x02, 0x04, fid.to_bytes(2, "big"), ne=256),
                                     f"SELECT {fid:04X}"))

    def select_path(self, path: bytes) -> int:
        """SELECT by path the way Cryptolib does on a CPS3 (P1=09, 3F00 kept); returns the file size."""
        return self._size(self.check(apdu(0x00, 0xA4, 0x09, 0x04, path, ne=256), f"SELECT {path.hex().upper()}"))

    @staticmethod
    def _size(fcp: bytes) -> int:
        size = tlv.find(fcp, 0x62, 0x80)
        return int.from_bytes(size, "big") if size else 0

    def read_binary(self, size: int) -> bytes:
        out = b""
        while len(out) < size:
            chunk = self.check(apdu(0x00, 0xB0, len(out) >> 8, len(out) & 0xFF, ne=min(READ_CHUNK, size - len(out))),
                               f"READ BINARY at {len(out)}")
            if not chunk:
                break
            out += chunk
        return out

    def read_path(self, path: bytes) -> bytes:
        with self.lock:
            return self.read_binary(self.select_path(path))

    def close(self) -> None:
        try:
            self.connection.disconnect()
        except Exception:
            pass

    def __enter__(self) -> CardChannel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- CPS ------------------------------------------------------------------------------------------------
HashName = Literal["sha1", "sha256"]
_SIGN_ALG = {"sha1": ALG_SIGN_SHA1, "sha256": ALG_SIGN_SHA256}
_HASH_ALG = {"sha1": ALG_HASH_SHA1, "sha256": ALG_HASH_SHA256}
_HASH_CLASSES: dict[str, Callable[[], hashes.HashAlgorithm]] = {"sha1": hashes.SHA1, "sha256": hashes.SHA256}


@dataclass(frozen=True)
class CpsHolder:
    id_nat: str
    family: str
    given: str
    title: str  # the certificate's title: the profession label
    card_type: str  # "CPS", "CPE", …
    card_serial: str  # "8025000001/NNNNNNNNNN" (certificate) -- the card's EF.SN.ICC carries the same
    profession: int | None
    structure_name: str | None
    structure_id_nat: str | None
    situation: Situation


_CARD_TYPES = {0: "CPS", 1: "CPF", 2: "CPE", 3: "CPA"}


class CpsClient:
    """The APDUs Cryptolib sends to a CPS3/CPS4 (spec §B.5), as plain methods."""

    def __init__(self, channel: CardChannel) -> None:
        self.channel = channel
        if channel.atr not in (ATR_CPS3, ATR_CPS4):
            raise CardStatusError(0, f"not a CPS: ATR {channel.atr.hex(' ').upper()}")
        self.model = "cps4" if channel.atr == ATR_CPS4 else "cps3"
        self._certificates: dict[str, x509.Certificate] = {}

    # -- reading
    def serial(self) -> str:
        """Card serial from EF.SN.ICC: the BCD PAN after the issuer number 80 25 00 00 01."""
        value = tlv.as_dict(self.channel.read_path(PATH_EF_SN_ICC)).get(0x5A, b"")
        digits = value.hex().upper().rstrip("F")
        if not digits.startswith("8025000001"):
            raise CardStatusError(0, f"EF.SN.ICC does not carry the ANS issuer number: {digits}")
        return digits[10:]

    def read_certificate(self, usage: Literal["auth", "sign"] = "auth") -> x509.Certificate:
        if usage not in self._certificates:
            path = CERT_AUTH_PATH if usage == "auth" else CERT_SIGN_PATH
            self._certificates[usage] = x509.load_der_x509_certificate(self.channel.read_path(path))
        return self._certificates[usage]

    def read_situation(self) -> Situation:
        return Situation.decode(self.channel.read_path(PATH_SITUATION_01))

    def read_holder(self) -> CpsHolder:
        cert = self.read_certificate("auth")
        subject = cert.subject

        def first(oid: x509.ObjectIdentifier) -> str | None:
            values = subject.get_attributes_for_oid(oid)
            return str(values[0].value) if values else None

        extensions = read_card_extensions(cert)
        return CpsHolder(
            id_nat=first(NameOID.COMMON_NAME) or "", family=first(NameOID.SURNAME) or "",
            given=first(NameOID.GIVEN_NAME) or "", title=first(NameOID.TITLE) or "",
            card_type=_CARD_TYPES.get(extensions.card_type if extensions.card_type is not None else -1, "?"),
            card_serial=extensions.card_serial or "", profession=extensions.profession,
            structure_name=first(NameOID.ORGANIZATION_NAME), structure_id_nat=first(NameOID.ORGANIZATIONAL_UNIT_NAME),
            situation=self.read_situation())

    # -- PIN
    def pin_tries_left(self, reference: int = PIN_REF) -> int:
        """CPS3: GET DATA of the PIN object (9B); CPS4: VERIFY with no data (63Cx)."""
        with self.channel.lock:
            if self.model == "cps3":
                self.channel.check(apdu(0x00, 0xA4, 0x09, 0x0C, bytes.fromhex("3F00")), "SELECT MF")
                # Cryptolib's template: 4D 08 70 06 BF 81 <ref> 02 A0 80 (header list asking for the A0 part)
                query = bytes.fromhex("4D087006BF81") + bytes([reference]) + bytes.fromhex("02A080")
                data = self.channel.check(apdu(0x00, 0xCB, 0x3F, 0xFF, query, ne=256), "GET DATA PIN counter")
                left = tlv.find(data, 0xBF8100 | reference, 0xA0, 0x9B)
                return left[0] if left else 0
            _, sw = self.channel.transmit(apdu(0x00, 0x20, 0x00, reference))
            if sw == SW_OK:
                return 3
            if sw == SW_PIN_BLOCKED:
                return 0
            if sw >> 4 == 0x63C:
                return sw & 0x0F
            raise CardStatusError(sw, "VERIFY (counter)")

    def verify_pin(self, pin: str) -> None:
        self._pin_command(apdu(0x00, 0x20, 0x00, PIN_REF, pin.encode("ascii")), "VERIFY")

    def change_pin(self, old: str, new: str) -> None:
        self._pin_command(apdu(0x00, 0x24, 0x00, PIN_REF, old.encode("ascii") + new.encode("ascii")),
                          "CHANGE REFERENCE DATA")

    def unblock_pin(self, puk: str, new_pin: str | None = None) -> None:
        """RESET RETRY COUNTER with the PUK (code de déblocage), optionally setting a new PIN."""
        if new_pin is None:
            command = apdu(0x00, 0x2C, 0x01, PIN_REF, puk.encode("ascii"))
        else:
            command = apdu(0x00, 0x2C, 0x00, PIN_REF, puk.encode("ascii") + new_pin.encode("ascii"))
        self._pin_command(command, "RESET RETRY COUNTER")

    def puk_tries_left(self) -> int:
        return self.pin_tries_left(PUK_REF)

    def _pin_command(self, command: bytes, what: str) -> None:
        _, sw = self.channel.transmit(command)
        if sw == SW_OK:
            return
        if sw >> 4 == 0x63C:
            raise WrongPin(sw, what)
        if sw == SW_PIN_BLOCKED:
            raise PinBlocked(sw, what)
        raise CardStatusError(sw, what)

    # -- cryptography
    def _mse(self, template: int, algorithm: int, key_ref: int) -> None:
        if self.model == "cps4" and template == 0xB6:
            command = apdu(0x00, 0x22, 0x81, 0xB6, tlv.tlv(0x91, bytes([algorithm, key_ref | 0x80])))
        elif self.model == "cps4" and template in (0xA4, 0xB8):
            command = apdu(0x00, 0x22, 0x41, 0xB8, tlv.tlv(0x83, bytes([CPS4_AUTH_KEY_ID])))
        else:
            objects = tlv.tlv(0x80, bytes([algorithm])) + tlv.tlv(0x84, bytes([key_ref]))
            command = apdu(0x00, 0x22, 0x41, template, objects)
        self.channel.check(command, f"MSE SET {template:02X}")

    def sign_digest(self, digest: bytes, hash_name: HashName = "sha256") -> bytes:
        """MSE SET DST + PSO COMPUTE DIGITAL SIGNATURE on a hash computed by the caller."""
        with self.channel.lock:
            self._mse(0xB6, _SIGN_ALG[hash_name], SIGN_KEY_REF)
            return self.channel.check(apdu(0x00, 0x2A, 0x9E, 0x9A, digest, ne=256), "PSO COMPUTE DIGITAL SIGNATURE")

    def sign(self, data: bytes, hash_name: HashName = "sha256", *, card_hash: bool = False) -> bytes:
        """RSA PKCS#1 v1.5 signature of ``data`` by the signature key. ``card_hash`` makes the card finish the
        hash (PSO HASH with the intermediate state, then PSO CDS without data), as Cryptolib does."""
        if not card_hash:
            digest = hashes.Hash(_HASH_CLASSES[hash_name]())
            digest.update(data)
            return self.sign_digest(digest.finalize(), hash_name)
        state, tail = HashState.initial(hash_name).absorb(data)
        intermediate = state.to_bytes() + state.bits.to_bytes(8, "big") if state.bits else b""
        with self.channel.lock:
            self.channel.check(apdu(0x00, 0x22, 0x41, 0xAA, tlv.tlv(0x80, bytes([_HASH_ALG[hash_name]]))), "MSE SET HT")
            self.channel.check(apdu(0x00, 0x2A, 0x90, 0xA0, tlv.tlv(0x90, intermediate) + tlv.tlv(0x80, tail)),
                               "PSO HASH")
            self._mse(0xB6, _SIGN_ALG[hash_name], SIGN_KEY_REF)
            return self.channel.check(apdu(0x00, 0x2A, 0x9E, 0x9A, ne=256), "PSO COMPUTE DIGITAL SIGNATURE")

    def authenticate(self, data: bytes) -> bytes:
        """INTERNAL AUTHENTICATE with the authentication key: the card pads ``data`` (e.g. a DigestInfo,
        or a TLS challenge) with PKCS#1 type 1 and signs it."""
        with self.channel.lock:
            self._mse(0xA4, ALG_AUTH_PKCS1, AUTH_KEY_REF)
            return self.channel.check(apdu(0x00, 0x88, 0x00, 0x00, data, ne=256), "INTERNAL AUTHENTICATE")

    def decipher(self, cryptogram: bytes) -> bytes:
        """PSO DECIPHER (PKCS#1 v1.5) with the authentication key; the 257-byte body goes by command chaining."""
        body = b"\x81" + cryptogram
        with self.channel.lock:
            self.channel.check(apdu(0x00, 0x22, 0x41, 0xB8, tlv.tlv(0x80, bytes([ALG_AUTH_PKCS1]))
                                    + tlv.tlv(0x84, bytes([AUTH_KEY_REF]))), "MSE SET CT")
            chunks = [body[i : i + 255] for i in range(0, len(body), 255)]
            for chunk in chunks[:-1]:
                self.channel.check(apdu(0x10, 0x2A, 0x80, 0x86, chunk), "PSO DECIPHER (chained)")
            return self.channel.check(apdu(0x00, 0x2A, 0x80, 0x86, chunks[-1], ne=256), "PSO DECIPHER")

    def signer(self, pin: str | None = None, *, usage: Literal["sign", "auth"] = "sign",
               card_hash: bool = False) -> CardSigner:
        """A signer for ``build_vihf`` (``.certificate``, ``.private_key``) whose key is this card."""
        return CardSigner(self, pin=pin, usage=usage, card_hash=card_hash)


class CardPrivateKey(rsa.RSAPrivateKey):
    """An ``RSAPrivateKey`` whose private operations run on the card: drop it wherever cryptography's keys
    go (signxml, XAdES code...). It signs (PKCS#1 v1.5, SHA-1/SHA-256 or Prehashed); nothing exports it."""

    def __init__(self, signer: CardSigner) -> None:
        self._signer = signer
        public = signer.certificate.public_key()
        if not isinstance(public, rsa.RSAPublicKey):
            raise TypeError("the card certificate does not hold an RSA key")
        self._public = public

    @property
    def key_size(self) -> int:
        return self._public.key_size

    def public_key(self) -> rsa.RSAPublicKey:
        return self._public

    def sign(self, data: bytes, padding: padding.AsymmetricPadding,  # type: ignore[override]
             algorithm: utils.Prehashed | hashes.HashAlgorithm) -> bytes:
        if not isinstance(padding, _PKCS1v15):
            raise ValueError("the CPS signs with PKCS#1 v1.5 only")
        if isinstance(algorithm, utils.Prehashed):
            return self._signer.sign_digest(data, algorithm._algorithm.name)
        return self._signer.sign(data, algorithm.name)

    def decrypt(self, ciphertext: bytes, padding: padding.AsymmetricPadding) -> bytes:  # type: ignore[override]
        if self._signer.usage != "auth" or not isinstance(padding, _PKCS1v15):
            raise ValueError("only the authentication key deciphers, with PKCS#1 v1.5")
        return self._signer.cps.decipher(ciphertext)

    def private_numbers(self) -> rsa.RSAPrivateNumbers:
        raise TypeError("a card key never leaves the card")

    def private_bytes(self, *args: Any, **kwargs: Any) -> bytes:
        raise TypeError("a card key never leaves the card")

    def __copy__(self) -> CardPrivateKey:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> CardPrivateKey:
        return self


_PKCS1v15 = padding.PKCS1v15


class CardSigner:
    """Certificate + card-backed private key: what ``build_vihf(signer=...)`` needs from an ``Issued``.

    The PIN given here is presented once, and again whenever the card says 6982 (it was reset or powered
    down by pcscd), as Cryptolib re-validates a PIN."""

    def __init__(self, cps: CpsClient, *, pin: str | None = None, usage: Literal["sign", "auth"] = "sign",
                 card_hash: bool = False) -> None:
        self.cps = cps
        self.usage = usage
        self.card_hash = card_hash
        self._pin = pin
        self.certificate = cps.read_certificate(usage)
        self.private_key = CardPrivateKey(self)
        if pin is not None:
            cps.verify_pin(pin)

    @property
    def chain(self) -> tuple[x509.Certificate, ...]:
        return ()

    def _retrying(self, operation: Callable[[], bytes]) -> bytes:
        try:
            return operation()
        except CardStatusError as exc:
            if exc.sw != SW_SECURITY_NOT_SATISFIED or self._pin is None:
                raise
            self.cps.verify_pin(self._pin)
            return operation()

    def sign(self, data: bytes, hash_name: str = "sha256") -> bytes:
        if hash_name not in _SIGN_ALG:
            raise ValueError(f"the card signs SHA-1 or SHA-256 hashes, not {hash_name}")
        if self.usage == "auth":
            digest = hashes.Hash(_HASH_CLASSES[hash_name]())
            digest.update(data)
            return self.sign_digest(digest.finalize(), hash_name)
        return self._retrying(lambda: self.cps.sign(data, hash_name, card_hash=self.card_hash))  # type: ignore[arg-type]

    def sign_digest(self, digest: bytes, hash_name: str = "sha256") -> bytes:
        if hash_name not in _SIGN_ALG:
            raise ValueError(f"the card signs SHA-1 or SHA-256 hashes, not {hash_name}")
        if self.usage == "auth":
            return self._retrying(lambda: self.cps.authenticate(digest_info(hash_name, digest)))
        return self._retrying(lambda: self.cps.sign_digest(digest, hash_name))  # type: ignore[arg-type]


# --- Vitale ---------------------------------------------------------------------------------------------
class VitaleClient:
    """Reads the clear data of a Vitale 2 card through its pointer file (spec §C.2)."""

    def __init__(self, channel: CardChannel) -> None:
        vitale2 = channel.atr in (ATR_VITALE2, ATR_VITALE2_PHOTO) or channel.atr.startswith(bytes.fromhex("3B751300"))
        if not vitale2:
            raise CardStatusError(0, f"not a Vitale 2: ATR {channel.atr.hex(' ').upper()}")
        self.channel = channel

    def read_pan(self) -> str:
        with self.channel.lock:
            self.channel.select_aid(AID_MF_VITALE)
            value = tlv.as_dict(self.channel.read_binary(self.channel.select_file(0x2F02))).get(0x5A, b"")
            return value.hex().upper().rstrip("F")

    def read(self) -> VitaleData:
        with self.channel.lock:
            self.channel.select_aid(AID_VITALE)
            applications, files = parse_pointers(self.channel.read_binary(self.channel.select_file(POINTER_FID)))
            contents: dict[str, bytes] = {}
            current: bytes | None = AID_VITALE
            for name, entry, fid in files:
                aid = applications.get(entry)
                if aid is None:
                    raise CardStatusError(0, f"pointer file names unknown application entry {entry}")
                if aid != current:
                    self.channel.select_aid(aid)
                    current = aid
                contents[name] = self.channel.read_binary(self.channel.select_file(fid))
        serial, card_type = VitaleData.decode_card_file(contents["CARTE"])
        insured = VitaleData.decode_insured_file(contents["ASSURE"])
        beneficiaries = tuple(Beneficiary.decode(contents[name]) for name in sorted(contents)
                              if name.startswith("BENEF"))
        return VitaleData(serial=serial, card_type=card_type, beneficiaries=beneficiaries, **insured)


__all__ = ["CardChannel", "CardPrivateKey", "CardSigner", "CardStatusError", "CpsClient", "CpsHolder",
           "PcscUnavailable", "PinBlocked", "VitaleClient", "WrongPin", "connect", "pcsc_readers", "pcsc_status"]
