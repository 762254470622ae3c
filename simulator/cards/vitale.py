"""The virtual carte Vitale 2: the clear-text data of a fixtures card (spec insi-cards.md §C).

Layout (AIDs, pointer file and tags after cardpeek's ``vitale_2.lua``, spec §C.2)::

    MF 3F00 = MF_VITALE, AID D2 50 00 00 02 4D 46 5F 56 49 54 41 4C 45
    ├── 2F00  EF.DIR     61 { 4F AID, 50 label } for MF_VITALE and VITALE
    ├── 2F02  PAN        5A <card serial, BCD>
    ├── D001  CARTE      66 { 81 serial, 82 card type (TEST) }
    └── 0001  VITALE, AID D2 50 00 00 02 56 49 54 41 4C 45
        ├── 2001  POINTERS   E0 { A0 { 82 <entry(2) 00 00 AID> … } 80 <name(8) entry(2) EF(2)> … }
        ├── D002  ASSURE     67 { 93 insured NIR + key, 86 régime, 87 caisse, 88 centre }
        ├── D0nn  BENEFnn    65 { 93 NIR + key, 80 nom, 81 prénom, 82 date de naissance YYYYMMDD,
        │                         83 rang de naissance, 84 qualité, 85 nom d'usage }   (nn = 11, 12, …)
        └── E001  protected  6982 on READ BINARY ("data not accessible", like the real card's protected EFs)
    plus the two other AIDs the real card lists, each with a protected EF.

Everything listed by the pointer file reads in clear without authentication, as on the real card's
identity data. Tags 65/80-82/93 and 66 are the card's; 66/81-82, 67, and 65/83-85 are sandbox tags for data
the public sources place on the card without giving its coding (birth rank, quality, insured, AMO).
Birth dates are copied as they are, lunar dates included (``YYYY0000``).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import tlv
from .cps import bcd
from .iso7816 import DF, CardOS

ATR_VITALE2 = bytes.fromhex("3B751300004309EA9000")
ATR_VITALE2_PHOTO = bytes.fromhex("3B751300004409EA9000")
AID_MF_VITALE = bytes.fromhex("D2500000024D465F564954414C45")
AID_VITALE = bytes.fromhex("D250000002564954414C45")
OTHER_AIDS = (bytes.fromhex("E828BD080FD2500000044164E86C65"), bytes.fromhex("D2500000044164E86C650101"))
POINTER_FID = 0x2001
ENTRY_MF_VITALE = 1
ENTRY_VITALE = 2
MAX_BENEFICIARIES = 19  # a Vitale 1 family card's limit; plenty for a Vitale 2


@dataclass(frozen=True)
class Beneficiary:
    nir: str
    key: str
    birth_name: str
    first_name: str
    birth_date: str  # YYYY-MM-DD as in the fixtures (lunar dates allowed)
    birth_rank: int = 1
    quality: str = ""
    used_name: str | None = None

    def encode(self) -> bytes:
        items = [tlv.tlv(0x93, _ascii(self.nir + self.key)), tlv.tlv(0x80, _ascii(self.birth_name)),
                 tlv.tlv(0x81, _ascii(self.first_name)), tlv.tlv(0x82, _ascii(self.birth_date.replace("-", ""))),
                 tlv.tlv(0x83, _ascii(str(self.birth_rank)))]
        if self.quality:
            items.append(tlv.tlv(0x84, _ascii(self.quality)))
        if self.used_name:
            items.append(tlv.tlv(0x85, _ascii(self.used_name)))
        return tlv.tlv(0x65, items)

    @classmethod
    def decode(cls, data: bytes) -> Beneficiary:
        fields = {tag: value.decode("latin-1") for tag, value in tlv.parse(tlv.as_dict(data)[0x65])}
        nir_key = fields.get(0x93, "")
        date = fields.get(0x82, "")
        return cls(nir=nir_key[:13], key=nir_key[13:], birth_name=fields.get(0x80, ""),
                   first_name=fields.get(0x81, ""),
                   birth_date=f"{date[:4]}-{date[4:6]}-{date[6:8]}" if len(date) == 8 else date,
                   birth_rank=int(fields.get(0x83) or 1), quality=fields.get(0x84, ""),
                   used_name=fields.get(0x85) or None)


@dataclass(frozen=True)
class VitaleData:
    """What a reader gets out of the card (and what a fixtures ``vitale`` record turns into)."""

    serial: str
    card_type: str
    insured_nir: str
    insured_key: str
    regime: str
    caisse: str
    centre: str
    beneficiaries: tuple[Beneficiary, ...] = field(default_factory=tuple)

    @classmethod
    def from_fixtures(cls, card: Mapping[str, Any]) -> VitaleData:
        """From a patient's ``vitale`` record (fixtures ``patients.ndjson``)."""
        beneficiaries = tuple(
            Beneficiary(nir=b["nir"], key=b["key"], birth_name=b["birth_name"], first_name=b["first_name"],
                        birth_date=b["birth_date"], birth_rank=int(b.get("birth_rank") or 1),
                        quality=b.get("quality") or "", used_name=b.get("used_name"))
            for b in card["beneficiaries"])
        if not 1 <= len(beneficiaries) <= MAX_BENEFICIARIES:
            raise ValueError(f"a Vitale card holds 1 to {MAX_BENEFICIARIES} beneficiaries")
        amo = card.get("amo") or {}
        return cls(serial=str(card["serial"]), card_type=str(card.get("card_type") or "TEST"),
                   insured_nir=card["insured"]["nir"], insured_key=card["insured"]["key"],
                   regime=str(amo.get("regime", "")), caisse=str(amo.get("caisse", "")),
                   centre=str(amo.get("centre", "")), beneficiaries=beneficiaries)

    def card_file(self) -> bytes:
        return tlv.tlv(0x66, [tlv.tlv(0x81, _ascii(self.serial)), tlv.tlv(0x82, _ascii(self.card_type))])

    def insured_file(self) -> bytes:
        return tlv.tlv(0x67, [tlv.tlv(0x93, _ascii(self.insured_nir + self.insured_key)),
                              tlv.tlv(0x86, _ascii(self.regime)), tlv.tlv(0x87, _ascii(self.caisse)),
                              tlv.tlv(0x88, _ascii(self.centre))])

    @staticmethod
    def decode_card_file(data: bytes) -> tuple[str, str]:
        fields = tlv.as_dict(tlv.as_dict(data)[0x66])
        return fields.get(0x81, b"").decode("latin-1"), fields.get(0x82, b"").decode("latin-1")

    @staticmethod
    def decode_insured_file(data: bytes) -> dict[str, str]:
        fields = {tag: value.decode("latin-1") for tag, value in tlv.parse(tlv.as_dict(data)[0x67])}
        nir = fields.get(0x93, "")
        return {"insured_nir": nir[:13], "insured_key": nir[13:], "regime": fields.get(0x86, ""),
                "caisse": fields.get(0x87, ""), "centre": fields.get(0x88, "")}


def _ascii(text: str) -> bytes:
    return text.encode("latin-1", errors="replace")


def pointer_entry(name: str, entry: int, fid: int) -> bytes:
    return tlv.tlv(0x80, name.ljust(8)[:8].encode("ascii") + entry.to_bytes(2, "big") + fid.to_bytes(2, "big"))


def parse_pointers(data: bytes) -> tuple[dict[int, bytes], list[tuple[str, int, int]]]:
    """(entry -> AID, [(name, entry, EF)]) from the pointer file 2001."""
    body = tlv.as_dict(data)[0xE0]
    applications: dict[int, bytes] = {}
    files: list[tuple[str, int, int]] = []
    for tag, value in tlv.parse(body):
        if tag == 0xA0:
            for inner_tag, inner in tlv.parse(value):
                if inner_tag == 0x82:
                    applications[int.from_bytes(inner[:2], "big")] = inner[4:]
        elif tag == 0x80 and len(value) == 12:
            files.append((value[:8].decode("ascii").rstrip(), int.from_bytes(value[8:10], "big"),
                          int.from_bytes(value[10:12], "big")))
    return applications, files


class VitaleCard(CardOS):
    """A Vitale 2 card answering SELECT / READ BINARY / GET RESPONSE, its clear data readable."""

    def __init__(self, data: VitaleData, *, photo: bool = False, label: str = "") -> None:
        self.data = data
        self.atr = ATR_VITALE2_PHOTO if photo else ATR_VITALE2
        self.label = label or f"Vitale {data.serial}"
        super().__init__(self._build_files(data))

    @classmethod
    def from_fixtures(cls, card: Mapping[str, Any], **options: Any) -> VitaleCard:
        return cls(VitaleData.from_fixtures(card), **options)

    @staticmethod
    def _build_files(data: VitaleData) -> DF:
        mf = DF(0x3F00, AID_MF_VITALE, name="MF_VITALE")
        mf.ef(0x2F00, b"".join(tlv.tlv(0x61, [tlv.tlv(0x4F, aid), tlv.tlv(0x50, label)])
                               for aid, label in ((AID_MF_VITALE, b"MF_VITALE"), (AID_VITALE, b"VITALE"))),
              name="DIR")
        mf.ef(0x2F02, tlv.tlv(0x5A, bcd(data.serial)), name="PAN")
        mf.ef(0xD001, data.card_file(), name="CARTE")
        app = mf.df(0x0001, AID_VITALE, name="VITALE")
        pointers = [pointer_entry("CARTE", ENTRY_MF_VITALE, 0xD001), pointer_entry("ASSURE", ENTRY_VITALE, 0xD002)]
        app.ef(0xD002, data.insured_file(), name="ASSURE")
        for index, beneficiary in enumerate(data.beneficiaries, start=1):
            fid = 0xD010 + index
            app.ef(fid, beneficiary.encode(), name=f"BENEF{index:02d}")
            pointers.append(pointer_entry(f"BENEF{index:02d}", ENTRY_VITALE, fid))
        directory = tlv.tlv(0xA0, [tlv.tlv(0x82, ENTRY_MF_VITALE.to_bytes(2, "big") + b"\x00\x00" + AID_MF_VITALE),
                                   tlv.tlv(0x82, ENTRY_VITALE.to_bytes(2, "big") + b"\x00\x00" + AID_VITALE)])
        app.ef(POINTER_FID, tlv.tlv(0xE0, [directory, *pointers]), name="POINTERS")
        app.ef(0xE001, b"\x00" * 32, read="never", name="protected")
        for number, aid in enumerate(OTHER_AIDS, start=2):
            mf.df(number, aid).ef(0xE001, b"\x00" * 32, read="never", name="protected")
        return mf

    def describe(self) -> dict[str, Any]:
        return {"kind": "vitale", "atr": self.atr.hex(" ").upper(), "serial": self.data.serial, "label": self.label,
                "beneficiaries": len(self.data.beneficiaries)}
