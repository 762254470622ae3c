"""SHA-1 and SHA-256 with an exposed intermediate state, for PSO HASH (spec insi-cards.md §B.5).

Cryptolib hashes all full 64-byte blocks on the host, then sends the card the intermediate state (the
chaining words, big-endian), the number of bits already hashed (8 bytes) and the last <= 64 bytes; the card
finishes the hash and signs it. hashlib cannot export or import a state, so both sides use this small
implementation: the host to compute the state (``HashState.absorb``), the card to finish (``finish``).
Only the final block or two run here; speed does not matter.
"""
from __future__ import annotations

from dataclasses import dataclass

_MASK = 0xFFFFFFFF

_SHA1_IV = (0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0)
_SHA256_IV = (0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19)
_SHA256_K = (
    0x428A2F98, 0x71374491, 0xB5C0FBCF, 0xE9B5DBA5, 0x3956C25B, 0x59F111F1, 0x923F82A4, 0xAB1C5ED5,
    0xD807AA98, 0x12835B01, 0x243185BE, 0x550C7DC3, 0x72BE5D74, 0x80DEB1FE, 0x9BDC06A7, 0xC19BF174,
    0xE49B69C1, 0xEFBE4786, 0x0FC19DC6, 0x240CA1CC, 0x2DE92C6F, 0x4A7484AA, 0x5CB0A9DC, 0x76F988DA,
    0x983E5152, 0xA831C66D, 0xB00327C8, 0xBF597FC7, 0xC6E00BF3, 0xD5A79147, 0x06CA6351, 0x14292967,
    0x27B70A85, 0x2E1B2138, 0x4D2C6DFC, 0x53380D13, 0x650A7354, 0x766A0ABB, 0x81C2C92E, 0x92722C85,
    0xA2BFE8A1, 0xA81A664B, 0xC24B8B70, 0xC76C51A3, 0xD192E819, 0xD6990624, 0xF40E3585, 0x106AA070,
    0x19A4C116, 0x1E376C08, 0x2748774C, 0x34B0BCB5, 0x391C0CB3, 0x4ED8AA4A, 0x5B9CCA4F, 0x682E6FF3,
    0x748F82EE, 0x78A5636F, 0x84C87814, 0x8CC70208, 0x90BEFFFA, 0xA4506CEB, 0xBEF9A3F7, 0xC67178F2,
)


def _rotl(x: int, n: int) -> int:
    return ((x << n) | (x >> (32 - n))) & _MASK


def _rotr(x: int, n: int) -> int:
    return ((x >> n) | (x << (32 - n))) & _MASK


def _sha1_block(h: tuple[int, ...], block: bytes) -> tuple[int, ...]:
    w = [int.from_bytes(block[i : i + 4], "big") for i in range(0, 64, 4)]
    for t in range(16, 80):
        w.append(_rotl(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1))
    a, b, c, d, e = h
    for t in range(80):
        if t < 20:
            f, k = (b & c) | (~b & d), 0x5A827999
        elif t < 40:
            f, k = b ^ c ^ d, 0x6ED9EBA1
        elif t < 60:
            f, k = (b & c) | (b & d) | (c & d), 0x8F1BBCDC
        else:
            f, k = b ^ c ^ d, 0xCA62C1D6
        a, b, c, d, e = (_rotl(a, 5) + f + e + k + w[t]) & _MASK, a, _rotl(b, 30), c, d
    return tuple((x + y) & _MASK for x, y in zip(h, (a, b, c, d, e), strict=True))


def _sha256_block(h: tuple[int, ...], block: bytes) -> tuple[int, ...]:
    w = [int.from_bytes(block[i : i + 4], "big") for i in range(0, 64, 4)]
    for t in range(16, 64):
        s0 = _rotr(w[t - 15], 7) ^ _rotr(w[t - 15], 18) ^ (w[t - 15] >> 3)
        s1 = _rotr(w[t - 2], 17) ^ _rotr(w[t - 2], 19) ^ (w[t - 2] >> 10)
        w.append((w[t - 16] + s0 + w[t - 7] + s1) & _MASK)
    a, b, c, d, e, f, g, hh = h
    for t in range(64):
        t1 = (hh + (_rotr(e, 6) ^ _rotr(e, 11) ^ _rotr(e, 25)) + ((e & f) ^ (~e & g)) + _SHA256_K[t] + w[t]) & _MASK
        t2 = ((_rotr(a, 2) ^ _rotr(a, 13) ^ _rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) & _MASK
        a, b, c, d, e, f, g, hh = (t1 + t2) & _MASK, a, b, c, (d + t1) & _MASK, e, f, g
    return tuple((x + y) & _MASK for x, y in zip(h, (a, b, c, d, e, f, g, hh), strict=True))


_ALGORITHMS = {"sha1": (_SHA1_IV, _sha1_block), "sha256": (_SHA256_IV, _sha256_block)}


@dataclass(frozen=True)
class HashState:
    """Chaining value after ``bits`` bits (a multiple of 512) of a message."""

    algorithm: str  # "sha1" | "sha256"
    words: tuple[int, ...]
    bits: int = 0

    @classmethod
    def initial(cls, algorithm: str) -> HashState:
        if algorithm not in _ALGORITHMS:
            raise ValueError(f"unsupported hash {algorithm!r}")
        return cls(algorithm, _ALGORITHMS[algorithm][0], 0)

    @classmethod
    def from_bytes(cls, state: bytes, bits: int) -> HashState:
        """Decode the chaining value sent in PSO HASH: 20 bytes for SHA-1, 32 for SHA-256."""
        algorithm = {20: "sha1", 32: "sha256"}.get(len(state))
        if algorithm is None:
            raise ValueError(f"an intermediate hash is 20 or 32 bytes, not {len(state)}")
        if bits % 512:
            raise ValueError("the hashed length must be whole 64-byte blocks")
        return cls(algorithm, tuple(int.from_bytes(state[i : i + 4], "big") for i in range(0, len(state), 4)), bits)

    def to_bytes(self) -> bytes:
        return b"".join(w.to_bytes(4, "big") for w in self.words)

    def absorb(self, data: bytes) -> tuple[HashState, bytes]:
        """Hash every full block of ``data``; return the new state and the tail (< 64 bytes, or 64 when the
        data ends on a block boundary: the card must always receive 1..64 final bytes)."""
        compress = _ALGORITHMS[self.algorithm][1]
        full = (len(data) - 1) // 64 * 64 if data else 0
        words = self.words
        for i in range(0, full, 64):
            words = compress(words, data[i : i + 64])
        return HashState(self.algorithm, words, self.bits + full * 8), data[full:]

    def finish(self, tail: bytes) -> bytes:
        """The digest of the whole message, ``tail`` being its last bytes."""
        compress = _ALGORITHMS[self.algorithm][1]
        total_bits = self.bits + len(tail) * 8
        padded = tail + b"\x80" + b"\x00" * ((55 - len(tail)) % 64) + total_bits.to_bytes(8, "big")
        words = self.words
        for i in range(0, len(padded), 64):
            words = compress(words, padded[i : i + 64])
        return b"".join(w.to_bytes(4, "big") for w in words)
