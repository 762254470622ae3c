"""The HL7 v2 data types XDS metadata carries as strings: CX (patient ids), XCN (people), XON (organisations).

Only splitting: the values stay escaped as sent (``\\S\\`` …), which is what comparisons need.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["CX", "XCN", "XON", "components", "is_oid", "parse_cx", "parse_xcn", "parse_xon"]

_OID = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")


def is_oid(value: str | None) -> bool:
    return bool(value) and _OID.match(value) is not None  # type: ignore[arg-type]


def components(value: str, count: int) -> list[str]:
    """``value`` cut on ``^``, padded with empty strings to at least ``count`` components."""
    parts = value.split("^")
    return parts + [""] * (count - len(parts))


def _authority(hd: str) -> tuple[str, str]:
    """Universal id and its type from an HD ``namespace&universalId&type``."""
    parts = hd.split("&") + ["", "", ""]
    return parts[1], parts[2]


@dataclass(frozen=True, slots=True)
class CX:
    """``id^^^&oid&ISO^type``: e.g. an INS ``207058575627097^^^&1.2.250.1.213.1.4.10&ISO^NH``."""

    id: str
    oid: str
    oid_type: str
    id_type: str

    @property
    def key(self) -> tuple[str, str]:
        """What identifies the patient: the id within its assigning authority (later components ignored)."""
        return (self.id, self.oid)

    def __str__(self) -> str:
        suffix = f"^{self.id_type}" if self.id_type else ""
        return f"{self.id}^^^&{self.oid}&{self.oid_type}{suffix}"


@lru_cache(maxsize=4096)  # every search entry's patient id is parsed again: the same few values
def parse_cx(value: str | None) -> CX | None:
    """The CX, or None when there is no id or no assigning authority OID."""
    if not value:
        return None
    parts = components(value.strip(), 5)
    oid, oid_type = _authority(parts[3])
    if not parts[0] or not oid:
        return None
    return CX(parts[0], oid, oid_type, parts[4])


@dataclass(frozen=True, slots=True)
class XCN:
    """``id^FAMILY^Given^^^^^^&oid&ISO^D^^^IDNPS``."""

    id: str
    family: str
    given: str
    oid: str
    oid_type: str
    id_type: str


def parse_xcn(value: str | None) -> XCN | None:
    if value is None:
        return None
    parts = components(value.strip(), 13)
    oid, oid_type = _authority(parts[8])
    return XCN(parts[0], parts[1], parts[2], oid, oid_type, parts[12])


@dataclass(frozen=True, slots=True)
class XON:
    """``NAME^^^^^&oid&ISO^IDNST^^^idNatStruct``."""

    name: str
    oid: str
    oid_type: str
    id_type: str
    id: str


def parse_xon(value: str | None) -> XON | None:
    if value is None:
        return None
    parts = components(value.strip(), 10)
    oid, oid_type = _authority(parts[5])
    return XON(parts[0], oid, oid_type, parts[6], parts[9])
