"""The virtual CPS (CPx family: CPS, CPE): an IAS-ECC-like card OS holding a professional's two key pairs.

What the card answers, after spec insi-cards.md §B.2-B.6 and the Cryptolib sources it cites:

* ATR byte-exact: CPS3 contact (default) or CPS4 contact (``model="cps4"``);
* MF 3F00 with EF.DIR 2F00, EF.SN.ICC D003 (``5A 0A 80 25 00 00 01`` + the card serial in BCD, 12 bytes),
  EF_ACTUA D010 (``EC { 81 start, 82 end }``, BCD YYYYMMDDhhmmss);
* the IAS/PKCS#15 application DF 0001, AID ``E8 28 BD 08 0F 80 25 00 00 01 FF 00 10``, with the contact probe
  file 7001, the situation file D120 and the two certificates (DER) ``CERT_AUTH_PATH`` / ``CERT_SIGN_PATH``;
  on a CPS4 also the IDS, CPS2ter and ChipDoc AIDs Cryptolib reselects;
* PIN: 4 digits (ASCII, 0x00/0xFF padding up to 8 tolerated), 3 tries, reference ``PIN_REF``; PUK: 8 digits,
  10 tries, reference ``PUK_REF``. VERIFY answers 63Cx on a wrong PIN and 6983 once blocked; VERIFY with no
  data is the CPS4 counter query (9000 verified, else 63Cx/6983); CHANGE REFERENCE DATA (24); RESET RETRY
  COUNTER (2C, P1=00 PUK+new PIN, P1=01 PUK only); GET DATA ``CB 3F FF`` with ``4D 08 70 06 BF 81 <ref>
  02 A0 80`` answers ``BF 81 <ref> { A0 { 9A max, 9B left, 9D FF } }``;
* MSE SET ``00 22 41|81 B6|A4|B8|AA`` with ``80`` algorithm, ``83``/``84`` key reference (CPS3) or
  ``91 02 <alg> <key|80>`` (CPS4); PSO COMPUTE DIGITAL SIGNATURE ``2A 9E 9A`` on a SHA-1/SHA-256 hash (20/32
  bytes, the card adds the DigestInfo; a full DigestInfo is accepted too) or with no data after PSO HASH
  ``2A 90 A0`` (intermediate state + bit count, last block); INTERNAL AUTHENTICATE ``88 00 00`` (PKCS#1 type 1
  padding of the given bytes, the auth key); PSO DECIPHER ``2A 80 86`` (padding indicator 81, chaining).

Sandbox choices where the public material is silent (spec Open questions 8): PIN reference 01 (the default
Cryptolib puts in its GET DATA template), PUK reference 02, key references ``AUTH_KEY_REF`` 01 (0x20, the
CPS4 auth key id, is accepted for it) and ``SIGN_KEY_REF`` 02, certificate files C001/C002, the situation
file's content, PUK tries. Signing needs the PIN verified in this session (power-up or reset clears it).
The sign key only signs (PSO CDS); the auth key authenticates and deciphers. The private keys live in the
card object and no method returns them.

EF.SN.ICC keeps ANS's IAS issuer number 80 25 00 00 01 (Cryptolib refuses a card without it) before the
10-digit card serial; the certificates' card-serial extension carries the same serial after the sandbox
PKI's fictitious issuer number (``8099000001/<serial>``).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

from ..pki import CardType, TestPKI, read_card_extensions
from . import tlv
from .apdu import (SW_CONDITIONS_NOT_SATISFIED, SW_INCORRECT_P1P2, SW_PIN_BLOCKED, SW_REFERENCE_NOT_FOUND,
                   SW_SECURITY_NOT_SATISFIED, SW_WRONG_DATA, SW_WRONG_LENGTH, SW_WRONG_P1P2, CardError,
                   Command, sw_tries_left)
from .iso7816 import DF, CardOS
from .sha import HashState

Model = Literal["cps3", "cps4"]

ATR_CPS3 = bytes.fromhex("3BAC00402A001225006480000310009000")
ATR_CPS4 = bytes.fromhex("3B9B188001001225006480040100009044")
ATRS: dict[Model, bytes] = {"cps3": ATR_CPS3, "cps4": ATR_CPS4}

AID_CPS = bytes.fromhex("E828BD080F8025000001FF0010")
AID_IDS = bytes.fromhex("A0000001510000")
AID_CPS2TER = bytes.fromhex("8025000001FF0002")
AID_CHIPDOC = bytes.fromhex("8025000001FF0100")
ISSUER_NUMBER = "8025000001"  # ANS IAS issuer number, first bytes of EF.SN.ICC

PATH_EF_DIR = bytes.fromhex("3F002F00")
PATH_EF_SN_ICC = bytes.fromhex("3F00D003")
PATH_EF_ACTUA = bytes.fromhex("3F00D010")
PATH_CONTACT_PROBE = bytes.fromhex("3F0000017001")
PATH_SITUATION_01 = bytes.fromhex("3F000001D120")
CERT_AUTH_PATH = bytes.fromhex("3F000001C001")
CERT_SIGN_PATH = bytes.fromhex("3F000001C002")

PIN_REF = 0x01
PUK_REF = 0x02
AUTH_KEY_REF = 0x01
SIGN_KEY_REF = 0x02
CPS4_AUTH_KEY_ID = 0x20

# MSE algorithm references (Cryptolib, pkcs15-sec.c): DST 12 = SHA-1 + PKCS#1, 42 = SHA-256 + PKCS#1;
# AT 02 = PKCS#1 on the given bytes; HT 10 = SHA-1, 40 = SHA-256.
ALG_SIGN_SHA1 = 0x12
ALG_SIGN_SHA256 = 0x42
ALG_AUTH_PKCS1 = 0x02
ALG_HASH_SHA1 = 0x10
ALG_HASH_SHA256 = 0x40

DEFAULT_PIN = "1234"
DEFAULT_PUK = "12345678"
PIN_TRIES = 3
PUK_TRIES = 10

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"sha1": hashes.SHA1, "sha256": hashes.SHA256,
                                                  "sha384": hashes.SHA384, "sha512": hashes.SHA512}
_BY_LENGTH = {20: "sha1", 32: "sha256", 48: "sha384", 64: "sha512"}
DIGEST_INFO_PREFIXES: dict[str, bytes] = {
    "sha1": bytes.fromhex("3021300906052b0e03021a05000414"),
    "sha256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "sha384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "sha512": bytes.fromhex("3051300d060960864801650304020305000440"),
}


def digest_info(algorithm: str, digest: bytes) -> bytes:
    return DIGEST_INFO_PREFIXES[algorithm] + digest


def split_digest_info(data: bytes) -> tuple[str, bytes] | None:
    for name, prefix in DIGEST_INFO_PREFIXES.items():
        if data.startswith(prefix) and len(data) == len(prefix) + _HASHES[name]().digest_size:
            return name, data[len(prefix):]
    return None


def bcd(digits: str) -> bytes:
    if len(digits) % 2:
        digits += "F"
    return bytes.fromhex(digits)


def _bcd_time(moment: datetime) -> bytes:
    return bcd(moment.strftime("%Y%m%d%H%M%S"))


@dataclass
class _Pin:
    reference: int
    value: bytes
    max_tries: int
    left: int
    min_length: int
    max_length: int

    @property
    def blocked(self) -> bool:
        return self.left == 0


class _CardKey:
    """A private key as the card holds it: usable through the card's operations, never handed out."""

    __slots__ = ("_key", "usage", "reference")

    def __init__(self, key: rsa.RSAPrivateKey, usage: str, reference: int) -> None:
        self._key = key
        self.usage = usage
        self.reference = reference

    @property
    def size(self) -> int:
        return self._key.key_size // 8

    def sign_digest(self, algorithm: str, digest: bytes) -> bytes:
        return self._key.sign(digest, padding.PKCS1v15(), utils.Prehashed(_HASHES[algorithm]()))

    def sign_raw_pkcs1(self, data: bytes) -> bytes:
        """EMSA-PKCS1-v1_5 type 1 padding of arbitrary bytes, then the RSA private operation (what INTERNAL
        AUTHENTICATE does with a TLS 1.0 MD5+SHA-1 or any other challenge)."""
        known = split_digest_info(data)
        if known is not None:
            return self.sign_digest(*known)
        k = self.size
        if len(data) > k - 11:
            raise CardError(SW_WRONG_LENGTH, "input longer than the modulus allows")
        block = b"\x00\x01" + b"\xff" * (k - 3 - len(data)) + b"\x00" + data
        numbers = self._key.private_numbers()
        m = int.from_bytes(block, "big")
        # CRT: four times faster than pow(m, d, n)
        m1 = pow(m, numbers.dmp1, numbers.p)
        m2 = pow(m, numbers.dmq1, numbers.q)
        h = (numbers.iqmp * (m1 - m2)) % numbers.p
        return (m2 + h * numbers.q).to_bytes(k, "big")

    def decrypt(self, cryptogram: bytes) -> bytes:
        return self._key.decrypt(cryptogram, padding.PKCS1v15())


@dataclass(frozen=True)
class Situation:
    """What the sandbox writes in the first activity situation file (D120): the professional's exercise."""

    profession: str = ""
    specialty: str = ""
    structure_id_nat: str = ""
    structure_name: str = ""
    sector: str = ""

    def encode(self) -> bytes:
        # Sandbox TLV layout (the real situation format is not public): A0 { 80 profession (TRE_G15),
        # 81 specialty, 82 structure idNat, 83 structure name, 84 secteur d'activité }, UTF-8.
        fields = [(0x80, self.profession), (0x81, self.specialty), (0x82, self.structure_id_nat),
                  (0x83, self.structure_name), (0x84, self.sector)]
        return tlv.tlv(0xA0, [tlv.tlv(tag, value.encode("utf-8")) for tag, value in fields if value])

    @classmethod
    def decode(cls, data: bytes) -> Situation:
        inner = tlv.as_dict(tlv.as_dict(data).get(0xA0, b""))

        def text(tag: int) -> str:
            return inner.get(tag, b"").decode("utf-8")

        return cls(text(0x80), text(0x81), text(0x82), text(0x83), text(0x84))


class CpsCard(CardOS):
    """A CPS / CPE card. Build one with ``CpsCard.issue(pki, professional, structure, ...)``."""

    def __init__(self, *, auth_certificate: x509.Certificate, auth_key: rsa.RSAPrivateKey,
                 sign_certificate: x509.Certificate, sign_key: rsa.RSAPrivateKey, model: Model = "cps3",
                 pin: str = DEFAULT_PIN, puk: str = DEFAULT_PUK, situation: Situation | None = None,
                 label: str = "") -> None:
        if model not in ATRS:
            raise ValueError(f"model must be cps3 or cps4, not {model!r}")
        if not (pin.isdigit() and len(pin) == 4):
            raise ValueError("a CPS PIN is 4 digits")
        if not (puk.isdigit() and len(puk) == 8):
            raise ValueError("a CPS PUK (code de déblocage) is 8 digits")
        for cert, key in ((auth_certificate, auth_key), (sign_certificate, sign_key)):
            if cert.public_key() != key.public_key():
                raise ValueError("a certificate does not match its private key")
        self.model = model
        self.atr = ATRS[model]
        self.label = label
        extensions = read_card_extensions(auth_certificate)
        serial = (extensions.card_serial or f"{ISSUER_NUMBER}/0000000000").split("/")[-1]
        self.card_serial = serial
        self.__keys = {AUTH_KEY_REF: _CardKey(auth_key, "auth", AUTH_KEY_REF),
                       SIGN_KEY_REF: _CardKey(sign_key, "sign", SIGN_KEY_REF)}
        self._pins = {PIN_REF: _Pin(PIN_REF, pin.encode("ascii"), PIN_TRIES, PIN_TRIES, 4, 8),
                      PUK_REF: _Pin(PUK_REF, puk.encode("ascii"), PUK_TRIES, PUK_TRIES, 8, 8)}
        self._verified: set[int] = set()
        self._env: dict[int, tuple[int | None, int | None]] = {}  # CRT tag (B6, A4, B8, AA) -> (alg, key ref)
        self._hashed: tuple[str, bytes] | None = None  # digest left by PSO HASH for PSO CDS
        super().__init__(self._build_files(auth_certificate, sign_certificate, serial, situation or Situation()))
        self.register(0x20, self._verify)
        self.register(0x24, self._change_reference_data)
        self.register(0x2C, self._reset_retry_counter)
        self.register(0xCB, self._get_data)
        self.register(0x22, self._manage_security_environment)
        self.register(0x2A, self._perform_security_operation)
        self.register(0x88, self._internal_authenticate)

    @classmethod
    def issue(cls, pki: TestPKI, professional: Mapping[str, Any], structure: Mapping[str, Any] | None = None, *,
              card_type: CardType = "CPS", model: Model = "cps3", pin: str = DEFAULT_PIN,
              puk: str = DEFAULT_PUK) -> CpsCard:
        """The card of a fixtures professional: the PKI's auth and sign certificates and keys of that card."""
        auth = pki.professional(professional, structure, usage="auth", card_type=card_type)
        sign = pki.professional(professional, structure, usage="sign", card_type=card_type)
        situation = Situation(
            profession=str((professional.get("profession") or {}).get("code") or ""),
            specialty=str((professional.get("specialty") or {}).get("code") or ""),
            structure_id_nat=str((structure or {}).get("id_nat") or ""),
            structure_name=str((structure or {}).get("name") or ""),
            sector=str(((structure or {}).get("secteur_activite") or {}).get("code") or ""),
        )
        label = f"{card_type} {professional.get('given', '')} {professional.get('family', '')} " \
                f"({professional.get('id_nat', '')})"
        return cls(auth_certificate=auth.certificate, auth_key=auth.private_key, sign_certificate=sign.certificate,
                   sign_key=sign.private_key, model=model, pin=pin, puk=puk, situation=situation, label=label)

    # --- files ----------------------------------------------------------------------------------------
    def _build_files(self, auth: x509.Certificate, sign: x509.Certificate, serial: str,
                     situation: Situation) -> DF:
        mf = DF(0x3F00, name="MF")
        mf.ef(0x2F00, tlv.tlv(0x61, [tlv.tlv(0x4F, AID_CPS), tlv.tlv(0x50, b"CPS")]), name="EF.DIR")
        sn = tlv.tlv(0x5A, bcd(ISSUER_NUMBER + serial.rjust(10, "0")[-10:]))
        assert len(sn) == 12
        mf.ef(0xD003, sn, name="EF.SN.ICC")
        mf.ef(0xD010, tlv.tlv(0xEC, [tlv.tlv(0x81, _bcd_time(auth.not_valid_before_utc)),
                                     tlv.tlv(0x82, _bcd_time(auth.not_valid_after_utc))]), name="EF_ACTUA")
        app = mf.df(0x0001, AID_CPS, name="CPS (IAS-ECC PKCS#15)")
        app.ef(0x7001, b"\x00" * 16, name="contact probe")
        app.ef(0xD120, situation.encode(), name="situation 01")
        der = serialization.Encoding.DER
        app.ef(0xC001, auth.public_bytes(der), name="Certificat d'Authentification CPS")
        app.ef(0xC002, sign.public_bytes(der), name="Certificat de Signature CPS")
        if self.model == "cps4":
            mf.df(0x0002, AID_IDS, name="IDS")
            mf.df(0x0003, AID_CPS2TER, name="CPS2ter")
            mf.df(0x0004, AID_CHIPDOC, name="ChipDoc")
        return mf

    def reset_session(self) -> None:
        super().reset_session()
        self._verified = set()
        self._env = {}
        self._hashed = None

    # --- PIN ------------------------------------------------------------------------------------------
    def _pin(self, reference: int) -> _Pin:
        pin = self._pins.get(reference & 0x7F)
        if pin is None:
            raise CardError(SW_REFERENCE_NOT_FOUND)
        return pin

    @staticmethod
    def _unpad(value: bytes) -> bytes:
        return value.rstrip(b"\xff").rstrip(b"\x00")

    def _check(self, pin: _Pin, candidate: bytes) -> None:
        """Compare, counting the try; raises 63Cx / 6983."""
        if pin.blocked:
            raise CardError(SW_PIN_BLOCKED)
        candidate = self._unpad(candidate)
        if not (pin.min_length <= len(candidate) <= pin.max_length) or not candidate.isdigit():
            raise CardError(SW_WRONG_DATA, "a PIN is made of ASCII digits")
        if candidate != pin.value:
            pin.left -= 1
            self._verified.discard(pin.reference)
            raise CardError(sw_tries_left(pin.left))
        pin.left = pin.max_tries

    def _verify(self, command: Command) -> bytes:
        if command.p1 == 0xFF:  # ISO 7816-4:2013: reset the verification status
            self._pin(command.p2)
            self._verified.discard(command.p2 & 0x7F)
            return b""
        if command.p1 != 0x00:
            raise CardError(SW_INCORRECT_P1P2)
        pin = self._pin(command.p2)
        if not command.data:  # status query (CPS4 counter read)
            if pin.reference in self._verified:
                return b""
            if pin.blocked:
                raise CardError(SW_PIN_BLOCKED)
            raise CardError(sw_tries_left(pin.left))
        if pin.reference != PIN_REF:
            raise CardError(SW_CONDITIONS_NOT_SATISFIED, "only the user PIN is verified with VERIFY")
        self._check(pin, command.data)
        self._verified.add(pin.reference)
        return b""

    def _change_reference_data(self, command: Command) -> bytes:
        if command.p1 != 0x00:
            raise CardError(SW_INCORRECT_P1P2)
        pin = self._pin(command.p2)
        if pin.reference != PIN_REF:
            raise CardError(SW_CONDITIONS_NOT_SATISFIED)
        data = command.data
        if len(data) not in (8, 16):
            raise CardError(SW_WRONG_LENGTH, "old and new PIN, 4 digits each (or padded to 8)")
        half = len(data) // 2
        new = self._unpad(data[half:])
        if len(new) != 4 or not new.isdigit():
            raise CardError(SW_WRONG_DATA)
        self._check(pin, data[:half])
        pin.value = new
        self._verified.add(pin.reference)
        return b""

    def _reset_retry_counter(self, command: Command) -> bytes:
        pin = self._pin(command.p2)
        if pin.reference != PIN_REF:
            raise CardError(SW_REFERENCE_NOT_FOUND)
        puk = self._pins[PUK_REF]
        if command.p1 == 0x00:
            if len(command.data) < 12:
                raise CardError(SW_WRONG_LENGTH, "PUK (8 digits) then the new PIN")
            new = self._unpad(command.data[8:])
            if len(new) != 4 or not new.isdigit():
                raise CardError(SW_WRONG_DATA)
            self._check(puk, command.data[:8])
            pin.value = new
        elif command.p1 == 0x01:
            self._check(puk, command.data)
        else:
            raise CardError(SW_INCORRECT_P1P2)
        pin.left = pin.max_tries
        self._verified.discard(pin.reference)
        return b""

    def _get_data(self, command: Command) -> bytes:
        if (command.p1, command.p2) != (0x3F, 0xFF):
            raise CardError(SW_REFERENCE_NOT_FOUND)
        try:
            template = tlv.find(command.data, 0x4D, 0x70)
            sdo = next(tag for tag, _ in tlv.parse(template or b""))
        except (ValueError, StopIteration):
            raise CardError(SW_WRONG_DATA) from None
        if sdo >> 8 != 0xBF81:
            raise CardError(SW_REFERENCE_NOT_FOUND, "only PIN objects (BF 81 xx) are readable")
        pin = self._pin(sdo & 0xFF)
        header = tlv.tlv(0xA0, [tlv.tlv(0x9A, bytes([pin.max_tries])), tlv.tlv(0x9B, bytes([pin.left])),
                                tlv.tlv(0x9D, b"\xff")])
        return tlv.tlv(sdo, header)

    # --- security environment and operations -----------------------------------------------------------
    def _key(self, reference: int | None, usage: str) -> _CardKey:
        if reference is None:
            raise CardError(SW_CONDITIONS_NOT_SATISFIED, "no key set by MSE")
        key = self.__keys.get(AUTH_KEY_REF if reference == CPS4_AUTH_KEY_ID else reference)
        if key is None:
            raise CardError(SW_REFERENCE_NOT_FOUND)
        if key.usage != usage:
            raise CardError(SW_CONDITIONS_NOT_SATISFIED, f"the {key.usage} key cannot be used to {usage}")
        if PIN_REF not in self._verified:
            raise CardError(SW_SECURITY_NOT_SATISFIED, "PIN not verified")
        return key

    def _manage_security_environment(self, command: Command) -> bytes:
        if command.p1 == 0xF3:  # RESTORE: back to the default (empty) environment
            self._env = {}
            return b""
        if command.p1 & 0x0F != 0x01 or command.p2 not in (0xB6, 0xA4, 0xB8, 0xAA):
            raise CardError(SW_INCORRECT_P1P2)
        algorithm: int | None = None
        key_ref: int | None = None
        try:
            objects = list(tlv.parse(command.data))
        except ValueError:
            raise CardError(SW_WRONG_DATA) from None
        for tag, value in objects:
            if tag == 0x80 and len(value) == 1:
                algorithm = value[0]
            elif tag in (0x83, 0x84) and len(value) == 1:
                key_ref = value[0]
            elif tag == 0x91 and len(value) == 2:  # CPS4: algorithm, key reference | 0x80
                algorithm, key_ref = value[0], value[1] & 0x7F
            elif tag == 0x81:
                continue  # file reference: not sent to a CPS3, meaningless here
            else:
                raise CardError(SW_WRONG_DATA, f"unexpected MSE object {tag:X}")
        if command.p2 != 0xAA:
            if key_ref is None:
                raise CardError(SW_WRONG_DATA, "MSE without a key reference")
            if (AUTH_KEY_REF if key_ref == CPS4_AUTH_KEY_ID else key_ref) not in self.__keys:
                raise CardError(SW_REFERENCE_NOT_FOUND)
        self._env[command.p2] = (algorithm, key_ref)
        return b""

    def _perform_security_operation(self, command: Command) -> bytes:
        p1p2 = (command.p1, command.p2)
        if p1p2 == (0x9E, 0x9A):
            return self._compute_digital_signature(command)
        if p1p2 == (0x90, 0xA0):
            return self._hash(command)
        if p1p2 == (0x80, 0x86):
            return self._decipher(command)
        raise CardError(SW_INCORRECT_P1P2)

    def _compute_digital_signature(self, command: Command) -> bytes:
        algorithm, key_ref = self._env.get(0xB6, (None, None))
        key = self._key(key_ref, "sign")
        if command.data:
            hash_name = _BY_LENGTH.get(len(command.data))
            digest = command.data
            if hash_name is None:
                split = split_digest_info(command.data)
                if split is None:
                    raise CardError(SW_WRONG_DATA, "PSO CDS takes a SHA-1/SHA-256 hash or a DigestInfo")
                hash_name, digest = split
        elif self._hashed is not None:
            hash_name, digest = self._hashed
        else:
            raise CardError(SW_CONDITIONS_NOT_SATISFIED, "no data and no hash computed by PSO HASH")
        expected = {ALG_SIGN_SHA1: "sha1", ALG_SIGN_SHA256: "sha256"}.get(algorithm or -1)
        if expected is not None and expected != hash_name:
            raise CardError(SW_WRONG_DATA, f"MSE announced {expected}, got a {hash_name} hash")
        self._hashed = None
        return key.sign_digest(hash_name, digest)

    def _hash(self, command: Command) -> bytes:
        try:
            objects = tlv.as_dict(command.data)
        except ValueError:
            raise CardError(SW_WRONG_DATA) from None
        intermediate, tail = objects.get(0x90, b""), objects.get(0x80)
        if tail is None or not 0 < len(tail) <= 64:
            raise CardError(SW_WRONG_DATA, "PSO HASH needs the last block (80, 1..64 bytes)")
        try:
            if intermediate:
                state = HashState.from_bytes(intermediate[:-8], int.from_bytes(intermediate[-8:], "big"))
            else:
                algorithm = self._env.get(0xAA, (None, None))[0]
                state = HashState.initial("sha1" if algorithm == ALG_HASH_SHA1 else "sha256")
        except ValueError:
            raise CardError(SW_WRONG_DATA) from None
        self._hashed = (state.algorithm, state.finish(tail))
        return b""

    def _internal_authenticate(self, command: Command) -> bytes:
        if (command.p1, command.p2) != (0x00, 0x00):
            raise CardError(SW_WRONG_P1P2)
        _, key_ref = self._env.get(0xA4) or self._env.get(0xB8) or (None, None)
        key = self._key(key_ref, "auth")
        if not command.data:
            raise CardError(SW_WRONG_LENGTH)
        return key.sign_raw_pkcs1(command.data)

    def _decipher(self, command: Command) -> bytes:
        _, key_ref = self._env.get(0xB8, (None, None))
        key = self._key(key_ref, "auth")
        if not command.data or command.data[0] != 0x81:
            raise CardError(SW_WRONG_DATA, "padding indicator 81 expected")
        try:
            return key.decrypt(command.data[1:])
        except ValueError:
            raise CardError(SW_WRONG_DATA, "decryption failed") from None

    # --- inspection (tests, `cards list`) --------------------------------------------------------------
    def pin_status(self) -> dict[str, int]:
        return {"pin_tries_left": self._pins[PIN_REF].left, "puk_tries_left": self._pins[PUK_REF].left}

    def describe(self) -> dict[str, Any]:
        return {"kind": "cps", "model": self.model, "atr": self.atr.hex(" ").upper(), "serial": self.card_serial,
                "label": self.label, **self.pin_state()}

    def pin_state(self) -> dict[str, Any]:
        """What a holder could tell of the PIN: tries left, blocked, verified in this session (the bay publishes
        it in the slot file so that ``cards list`` and the console show it)."""
        pin = self._pins[PIN_REF]
        return {"pin_tries_left": pin.left, "pin_blocked": pin.blocked, "pin_verified": PIN_REF in self._verified}


__all__ = ["AID_CPS", "ATR_CPS3", "ATR_CPS4", "CERT_AUTH_PATH", "CERT_SIGN_PATH", "CpsCard", "Model", "PIN_REF",
           "PUK_REF", "Situation"]
