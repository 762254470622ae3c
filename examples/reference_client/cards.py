"""The cards: the patient's Vitale card (read to ask INSi) and the professional's CPS (to sign).

A card is reached through PC/SC (``connect(reader)``, needs pyscard and pcscd) or, for a Vitale card the runner
gives as a JSON file, through an in-process channel on a virtual card: the APDUs are the same either way, so
this is the code a desktop application runs against a real reader.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from segur_sandbox.simulator.cards.client import CardChannel, CpsClient, VitaleClient, connect
from segur_sandbox.simulator.cards.vitale import VitaleCard, VitaleData


def read_vitale(vitale: dict[str, Any]) -> dict[str, Any]:
    """Read the Vitale card of the task (``patient.vitale``: ``reader`` or ``file``) as a plain dict: the card's
    insured, AMO and beneficiaries, in the shape of the INSi request builders."""
    if vitale.get("reader"):
        channel = connect(vitale["reader"])
    elif vitale.get("file"):
        record = json.loads(Path(vitale["file"]).read_text(encoding="utf-8"))
        channel = CardChannel.in_process(VitaleCard.from_fixtures(record))
    else:
        raise ValueError("the task gives no Vitale card (patient.vitale.reader or patient.vitale.file)")
    with channel:
        return card_as_dict(VitaleClient(channel).read())


def card_as_dict(data: VitaleData) -> dict[str, Any]:
    return {
        "serial": data.serial,
        "insured": {"nir": data.insured_nir, "key": data.insured_key},
        "amo": {"regime": data.regime, "caisse": data.caisse, "centre": data.centre},
        "beneficiaries": [{"nir": b.nir, "key": b.key, "birth_name": b.birth_name, "first_name": b.first_name,
                           "birth_date": b.birth_date, "birth_rank": b.birth_rank, "quality": b.quality,
                           "used_name": b.used_name} for b in data.beneficiaries],
    }


def cps_signer(reader: str | None, pin: str | None) -> Any:
    """A signer whose private key operations run on the CPS in ``reader`` (the PIN is presented once)."""
    return CpsClient(connect(reader)).signer(pin, usage="sign")
