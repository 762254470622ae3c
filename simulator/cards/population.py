"""Find whose card to make: a professional by national id, a Vitale card by NIR, in the seeded population.

The population is regenerated from the seed (fast: the generators are deterministic), exactly as the server
seeds it, and the PKI is opened where the server keeps it, with the same parameters -- opening it with other
ones would make ``TestPKI.open`` rebuild the cache under the server's feet.
"""
from __future__ import annotations

import json
from typing import Any

from segur_sandbox.fixtures.people import PopulationConfig, PopulationGenerator
from segur_sandbox.fixtures.professionals import ProfessionalDirectory

from ..config import Settings
from ..pki import TestPKI

DEFAULT_PROFESSIONALS = 60  # what `serve` seeds (seed.seed_workspace)


class NotInPopulation(LookupError):
    pass


def open_pki(settings: Settings) -> TestPKI:
    """The server's PKI cache (``<data dir>/pki``), opened with the parameters it was built with.

    ``TestPKI.open`` replaces a cache built with other parameters, so a card command must not guess them: a
    server started with ``--port 9000`` wrote base URL ``http://127.0.0.1:9000/pki``, which is reused here.
    A cache of another seed is left alone and the cards' PKI goes to ``pki-seed<N>`` beside it."""
    cache = settings.data_dir / "pki"
    base_url = f"{settings.base_url}/pki"
    try:
        params = json.loads((cache / "index.json").read_text()).get("params") or {}
    except (OSError, ValueError, AttributeError):
        params = {}
    if params.get("seed") not in (None, settings.seed):
        cache = settings.data_dir / f"pki-seed{settings.seed}"
    elif params.get("base_url"):
        base_url = str(params["base_url"])
    return TestPKI.open(cache, settings.seed, base_url=base_url)


def find_professional(seed: int, national_id: str, *, professionals: int = DEFAULT_PROFESSIONALS
                      ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(professional, structure) whose idNat (8 + RPPS), RPPS or fixtures id (PS-00001) is ``national_id``."""
    wanted = national_id.strip()
    directory = ProfessionalDirectory(seed, professionals)
    for professional in directory.professionals:
        if wanted in (professional["id_nat"], professional["rpps"], professional["id"]):
            return professional, directory.structures_by_id[professional["structure_id"]]
    sample = ", ".join(p["id_nat"] for p in directory.professionals[:3])
    raise NotInPopulation(f"no professional with national id {wanted!r} among the {professionals} of seed {seed} "
                          f"(e.g. {sample})")


def find_vitale(seed: int, nir: str, *, patients: int = 200) -> tuple[dict[str, Any], dict[str, Any]]:
    """(card, patient): the Vitale card on which the patient with this NIR (13 digits, or 15 with the key)
    is a beneficiary; the insured's NIR finds the card too."""
    wanted = nir.strip().replace(" ", "")
    number, key = wanted[:13], wanted[13:]
    first: tuple[dict[str, Any], dict[str, Any]] | None = None
    for patient in PopulationGenerator(PopulationConfig(seed=seed, patients=patients)).patients():
        card = {k: v for k, v in patient["vitale"].items() if k not in ("beneficiary_rank", "is_insured")}
        if patient["ins"]["nir"] == number and (not key or patient["ins"]["key"] == key):
            return card, patient
        if first is None and card["insured"]["nir"] == number and (not key or card["insured"]["key"] == key):
            first = (card, patient)
    if first is not None:
        return first
    raise NotInPopulation(f"no patient or insured with NIR {wanted!r} among the {patients} patients of seed {seed}")
