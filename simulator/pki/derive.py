"""Seed-derived randomness: every "random" choice of the PKI comes from here.

Nothing in the PKI reads the OS entropy pool (except PKCS#12 salts, which cryptography draws itself), so
one seed always yields byte-identical certificates. Derivation hashes the seed with a purpose label
instead of sharing one stream, so issuing certificates in a different order, or lazily, cannot shift
the values of any other certificate.
"""
from __future__ import annotations

import hashlib
import random
from datetime import datetime, timedelta

# Bumping the domain tag changes every derived value: do it only when the PKI layout changes on purpose.
_DOMAIN = "segur-sandbox/pki/v1"
LAYOUT = _DOMAIN


def digest(seed: int, *parts: str) -> bytes:
    """SHA-256 over the seed and labels; the separator byte keeps ("ab","c") apart from ("a","bc")."""
    material = "\x1f".join((_DOMAIN, str(seed), *parts)).encode("utf-8")
    return hashlib.sha256(material).digest()


def rng(seed: int, *parts: str) -> random.Random:
    """A Mersenne Twister stream for one purpose; integer seeding is stable across CPython versions."""
    return random.Random(int.from_bytes(digest(seed, *parts), "big"))


def serial_number(seed: int, label: str) -> int:
    """A positive 127-bit serial with its top bit set, so every serial encodes on exactly 16 octets."""
    raw = int.from_bytes(digest(seed, "serial", label)[:16], "big")
    return (raw >> 1) | (1 << 126)


def digits(seed: int, length: int, *parts: str) -> str:
    """A string of decimal digits, for card serial numbers and similar identifiers."""
    stream = rng(seed, "digits", *parts)
    return "".join(str(stream.randrange(10)) for _ in range(length))


def add_years(moment: datetime, years: int) -> datetime:
    """Calendar years; 29 February falls back to the 28th rather than raising."""
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:
        return moment.replace(year=moment.year + years, day=28)


ONE_DAY = timedelta(days=1)
