"""Deterministic RSA-2048 keys.

cryptography's ``generate_private_key`` cannot be seeded, so primes are searched here from a
seed-derived stream, and the key is assembled from its numbers. The search sieves a window of odd numbers
after a random start with every prime below 2^15, then runs Miller-Rabin on the survivors; composites
almost never survive the first round, so only the final prime pays for all rounds.

These keys are for a fictitious test PKI: the search is reproducible by anyone who knows the seed, which
is the point here and would be a disaster anywhere else.
"""
from __future__ import annotations

import math
import multiprocessing
import os
import random
import threading
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from cryptography.hazmat.primitives.asymmetric import rsa

from . import derive

PUBLIC_EXPONENT = 65537
KEY_BITS = 2048
# FIPS 186-5 asks for 5 rounds on random 1024-bit candidates for a 2^-100 error bound; a few more cost
# a few milliseconds, once per prime.
_MILLER_RABIN_ROUNDS = 8
# A larger sieve bound removes more composites before the ~3 ms modular exponentiation each survivor
# costs; measured 2^13..2^17, gains beyond 2^15 are lost in the noise.
_SIEVE_LIMIT = 1 << 15
_WINDOW = 4096  # odd numbers sieved per random start; a 1024-bit prime turns up every ~355 on average


def _small_primes(limit: int) -> list[int]:
    sieve = bytearray([1]) * limit
    sieve[0:2] = b"\x00\x00"
    for n in range(2, math.isqrt(limit) + 1):
        if sieve[n]:
            sieve[n * n :: n] = bytearray(len(sieve[n * n :: n]))
    return [n for n in range(limit) if sieve[n]]


_ODD_PRIMES = _small_primes(_SIEVE_LIMIT)[1:]
# Index of the first multiple of p in the window c, c+2, c+4, ... is (-c) * 2^-1 mod p.
_HALF_INVERSES = [(p, (p + 1) // 2) for p in _ODD_PRIMES]


def _miller_rabin(n: int, stream: random.Random, rounds: int) -> bool:
    d, s = n - 1, 0
    while d % 2 == 0:
        d //= 2
        s += 1
    for _ in range(rounds):
        x = pow(stream.randrange(2, n - 1), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime(stream: random.Random, bits: int) -> int:
    while True:
        # Top two bits set: the product of two such primes always has exactly 2 * bits bits.
        start = stream.getrandbits(bits) | (0b11 << (bits - 2)) | 1
        alive = bytearray([1]) * _WINDOW
        for p, half in _HALF_INVERSES:
            first = (-start % p) * half % p
            alive[first::p] = bytes(len(range(first, _WINDOW, p)))
        for offset in range(_WINDOW):
            if not alive[offset]:
                continue
            candidate = start + 2 * offset
            if candidate.bit_length() != bits or (candidate - 1) % PUBLIC_EXPONENT == 0:
                continue  # window ran past the top bit, or e would not be invertible mod p-1
            if _miller_rabin(candidate, stream, _MILLER_RABIN_ROUNDS):
                return candidate


def _primes(seed: int, label: str, bits: int) -> tuple[int, int]:
    stream = derive.rng(seed, "rsa", str(bits), label)
    half = bits // 2
    p = _prime(stream, half)
    q = _prime(stream, half)
    # |p - q| must not be tiny (Fermat factoring); with independent draws this loop never runs in practice.
    while q == p or abs(p - q).bit_length() < half - 100:
        q = _prime(stream, half)
    # p > q is the PKCS#1 convention, and it keeps iqmp independent of the draw order.
    return (p, q) if p > q else (q, p)


def _assemble(p: int, q: int) -> rsa.RSAPrivateKey:
    d = rsa.rsa_recover_private_exponent(PUBLIC_EXPONENT, p, q)
    numbers = rsa.RSAPrivateNumbers(
        p=p,
        q=q,
        d=d,
        dmp1=rsa.rsa_crt_dmp1(d, p),
        dmq1=rsa.rsa_crt_dmq1(d, q),
        iqmp=rsa.rsa_crt_iqmp(p, q),
        public_numbers=rsa.RSAPublicNumbers(PUBLIC_EXPONENT, p * q),
    )
    return numbers.private_key()


def derive_private_key(seed: int, label: str, bits: int = KEY_BITS) -> rsa.RSAPrivateKey:
    """The RSA key of ``label`` under ``seed``: same inputs, same key, on any machine."""
    return _assemble(*_primes(seed, label, bits))


def derive_private_keys(
    seed: int, labels: Iterable[str], *, bits: int = KEY_BITS, workers: int | None = None
) -> dict[str, rsa.RSAPrivateKey]:
    """Several keys at once, searched in worker processes: each key depends only on its own label, so
    spreading them over cores changes nothing but the wall-clock time of a cold export."""
    unique = list(dict.fromkeys(labels))
    workers = min(len(unique), workers or os.cpu_count() or 1)
    # Only fork: spawn and forkserver re-import the caller's __main__, which breaks (or re-runs) scripts
    # and stdin programs. Forking is only safe single-threaded, so threaded servers search in-process.
    if workers > 1 and threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods():
        try:
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
                found = list(pool.map(_primes, [seed] * len(unique), unique, [bits] * len(unique)))
            return {label: _assemble(p, q) for label, (p, q) in zip(unique, found)}
        except (OSError, BrokenProcessPool):
            pass  # no process support here (restricted sandbox): fall back to this process
    return {label: derive_private_key(seed, label, bits) for label in unique}
