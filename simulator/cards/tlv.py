"""BER-TLV as smart cards use it (ISO/IEC 7816-4 §5.2): multi-byte tags, definite lengths.

Tags are kept as integers of their raw bytes (``0x5F37``, ``0xBF8101``) so they read like the specs.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator


def _tag_bytes(tag: int) -> bytes:
    return tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big")


def encode_length(size: int) -> bytes:
    if size < 0x80:
        return bytes([size])
    raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def tlv(tag: int, value: bytes | str | Iterable[bytes]) -> bytes:
    """One TLV; a value given as several byte strings is their concatenation (a constructed object)."""
    if isinstance(value, str):
        body = value.encode("latin-1")
    elif isinstance(value, (bytes, bytearray)):
        body = bytes(value)
    else:
        body = b"".join(value)
    return _tag_bytes(tag) + encode_length(len(body)) + body


def parse(data: bytes) -> Iterator[tuple[int, bytes]]:
    """Top-level (tag, value) pairs; padding bytes 00/FF between objects are skipped."""
    data = bytes(data)
    i = 0
    while i < len(data):
        if data[i] in (0x00, 0xFF):
            i += 1
            continue
        start = i
        i += 1
        if data[start] & 0x1F == 0x1F:
            while i < len(data) and data[i] & 0x80:
                i += 1
            i += 1
        if i > len(data):
            raise ValueError("truncated tag")
        tag = int.from_bytes(data[start:i], "big")
        if i >= len(data):
            raise ValueError(f"missing length for tag {tag:X}")
        first = data[i]
        i += 1
        if first & 0x80:
            count = first & 0x7F
            if count == 0 or count > 3 or i + count > len(data):
                raise ValueError(f"bad length for tag {tag:X}")
            size = int.from_bytes(data[i : i + count], "big")
            i += count
        else:
            size = first
        if i + size > len(data):
            raise ValueError(f"value of tag {tag:X} overruns the data")
        yield tag, data[i : i + size]
        i += size


def as_dict(data: bytes) -> dict[int, bytes]:
    """First value of each top-level tag."""
    out: dict[int, bytes] = {}
    for tag, value in parse(data):
        out.setdefault(tag, value)
    return out


def find(data: bytes, *path: int) -> bytes | None:
    """The value at a path of nested tags (``find(fcp, 0x62, 0x83)``), or None."""
    current: bytes | None = data
    for tag in path:
        if current is None:
            return None
        current = as_dict(current).get(tag)
    return current
