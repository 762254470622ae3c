#!/usr/bin/env python3
"""Virtual cards benchmark: one CPS signature and one full Vitale read, through PC/SC.

    .venv/bin/python bench/cards.py [--rounds 200] [--json bench/results/cards.json] [--in-process]

Inserts a CPS (slot 0) and a Vitale card with the largest family of the seeded population (slot 1) in the
vpcd readers, then times with pyscard, each operation end to end (client -> pcscd -> vpcd -> card and back):

* one signature: MSE SET DST + PSO COMPUTE DIGITAL SIGNATURE on a SHA-256 hash (2 APDUs, RSA-2048), PIN
  verified once before (target: median <= 30 ms); also the card-side hash variant (MSE HT, PSO HASH, MSE DST,
  PSO CDS: 4 APDUs);
* a full Vitale read: pointer file, card, insured and every beneficiary file (SELECT + READ BINARY each).

Prints the median and the 95th percentile of each. ``--in-process`` measures the same without pcscd (the card
OS alone). Needs pcscd running with the vsmartcard-vpcd driver and pyscard (see the README).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from segur_sandbox.fixtures.people import PopulationConfig, PopulationGenerator
from segur_sandbox.fixtures.professionals import ProfessionalDirectory
from segur_sandbox.simulator.cards import CpsCard, VitaleCard, VpcdLink, reader_name
from segur_sandbox.simulator.cards.client import CardChannel, CpsClient, VitaleClient, connect, pcsc_status
from segur_sandbox.simulator.pki import TestPKI

SEED = 1


def timed(operation: Callable[[], object], rounds: int) -> dict[str, float]:
    for _ in range(5):  # warm-up
        operation()
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        operation()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {"median_ms": round(statistics.median(samples), 3), "p95_ms": round(samples[int(0.95 * (rounds - 1))], 3),
            "rounds": rounds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--in-process", action="store_true", help="no pcscd: the in-process transport")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        pki = TestPKI.open(Path(tmp) / "pki", SEED)
        directory = ProfessionalDirectory(SEED, 12)
        professional = directory.professionals[0]
        cps_card = CpsCard.issue(pki, professional, directory.structures_by_id[professional["structure_id"]])
    family = max(PopulationGenerator(PopulationConfig(seed=SEED, patients=200)).patients(),
                 key=lambda p: len(p["vitale"]["beneficiaries"]))
    vitale_card = VitaleCard.from_fixtures({k: v for k, v in family["vitale"].items()
                                            if k not in ("beneficiary_rank", "is_insured")})

    links: list[VpcdLink] = []
    if args.in_process:
        cps_channel, vitale_channel = CardChannel.in_process(cps_card), CardChannel.in_process(vitale_card)
        transport = "in process (no pcscd)"
    else:
        ok, why = pcsc_status()
        if not ok:
            print(f"PC/SC stack not available: {why}", file=sys.stderr)
            return 1
        links = [VpcdLink(cps_card, 0).insert(), VpcdLink(vitale_card, 1).insert()]
        cps_channel, vitale_channel = connect(reader_name(0)), connect(reader_name(1))
        transport = "PC/SC: pyscard -> pcscd -> vpcd -> virtual card"
    try:
        cps = CpsClient(cps_channel)
        cps.verify_pin("1234")
        digest = bytes(32)
        vitale = VitaleClient(vitale_channel)
        figures = {
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
            "transport": transport,
            "signature": timed(lambda: cps.sign_digest(digest, "sha256"), args.rounds),
            "signature_card_hash": timed(lambda: cps.sign(b"x" * 4096, "sha256", card_hash=True), args.rounds),
            "vitale_full_read": {**timed(vitale.read, args.rounds),
                                 "beneficiaries": len(vitale_card.data.beneficiaries)},
        }
    finally:
        cps_channel.close()
        vitale_channel.close()
        for link in links:
            link.remove()

    print(f"machine: {figures['machine']}")
    print(f"transport: {transport}")
    sig, card_hash, read = figures["signature"], figures["signature_card_hash"], figures["vitale_full_read"]
    print(f"CPS signature (MSE + PSO CDS, RSA-2048): median {sig['median_ms']:.2f} ms, p95 {sig['p95_ms']:.2f} ms "
          f"(target <= 30 ms)")
    print(f"CPS signature with card-side hash (4 APDUs, 4 KiB): median {card_hash['median_ms']:.2f} ms, "
          f"p95 {card_hash['p95_ms']:.2f} ms")
    print(f"Vitale full read ({read['beneficiaries']} beneficiaries): median {read['median_ms']:.2f} ms, "
          f"p95 {read['p95_ms']:.2f} ms")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
