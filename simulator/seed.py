"""Fill a workspace with the seeded population: professionals and structures, patients with their DMP, the
authorisations a vendor needs to exercise every TD0.2 answer, and documents fed by the professionals and by
the Assurance Maladie (``dmp.feeding.seed_documents``).

The first patients are fixed *scenarios* for the first professional (a general practitioner), so a newcomer can
try every case at once (see ``SCENARIOS``); the others get states drawn from the seed.
"""
from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from segur_sandbox.fixtures.people import PopulationConfig, PopulationGenerator
from segur_sandbox.fixtures.professionals import ProfessionalDirectory

from .store import Identity, Patient, Store

# (label, DMP state, authorisation of the scenario professional, médecin traitant)
SCENARIOS: tuple[tuple[str, str, str | None, bool], ...] = (
    ("DMP open, you are authorised and médecin traitant", "OPEN", "VALIDE", True),
    ("DMP open, your authorisation has expired", "OPEN", "EXPIRE", False),
    ("DMP open, the patient blocked you", "OPEN", "INTERDIT", False),
    ("DMP open, no authorisation yet (call TD0.3)", "OPEN", None, False),
    ("no DMP (TD0.2 answers NF)", "NONE", None, False),
    ("DMP closed", "CLOSED", "VALIDE", False),
)


@dataclass(frozen=True)
class SeedSummary:
    workspace: str
    patients: int
    professionals: int
    structures: int
    documents: int
    scenarios: tuple[tuple[str, str, str], ...]  # (label, patient INS, patient id)
    scenario_professional: dict[str, Any]


def _population(seed: int, patients: int, professionals: int) -> tuple[ProfessionalDirectory, list[dict[str, Any]]]:
    directory = ProfessionalDirectory(seed, professionals)
    people = list(PopulationGenerator(PopulationConfig(seed=seed, patients=patients)).patients())
    return directory, people


def seed_workspace(store: Store, workspace: str, *, seed: int, patients: int, professionals: int = 60,
                   documents_per_patient: int = 0, now: datetime | None = None,
                   feed: Callable[..., int] | None = None) -> SeedSummary:
    """Idempotent for a given seed: records are upserted. ``feed`` (patient, authors, count, rng) stores
    documents; it is given by the DMP layer so that seeded documents take the same path as fed ones. ``now``
    defaults to the workspace clock (real time for a new workspace)."""
    directory, people = _population(seed, patients, professionals)
    pros = directory.professionals
    scenario_ps = pros[0]
    others = pros[1:] or pros
    scenarios: list[tuple[str, str, str]] = []
    documents = 0
    with store.transaction() as tx:
        tx.workspaces.ensure(workspace)
        now = now or tx.controls.workspace_now(workspace, datetime.now(timezone.utc))
        tx.directory.upsert_structures(workspace, directory.structures)
        tx.directory.upsert_professionals(workspace, pros)
        for index, record in enumerate(people):
            rng = random.Random(f"segur-sandbox:{seed}:dmp:{record['id']}")
            ins = record["ins"]["nir"] + record["ins"]["key"]
            if index < len(SCENARIOS):
                label, state, status, is_mt = SCENARIOS[index]
                scenarios.append((label, ins, record["id"]))
            else:
                draw = rng.random()
                state = "NONE" if draw < 0.04 else "CLOSED" if draw < 0.07 else "OPEN"
                status, is_mt = None, False
            closed = dict(closed_at=now - timedelta(days=rng.randint(1, 400)), closure_reason="FERMETURE_DEMANDE_PATIENT")
            tx.patients.upsert(workspace, Patient.from_record(
                record, dmp_state=state, **(closed if state == "CLOSED" else {}),
                internet_account=rng.random() < 0.6, opposition_bris_de_glace=rng.random() < 0.05))
            if state == "NONE":
                continue
            authors = [p for p in rng.sample(others, k=min(3, len(others)))]
            for author in authors:
                tx.authorizations.set(workspace, ins, author["id_nat"], status="VALIDE", now=now, expires_at=None)
            if index < len(SCENARIOS) and status is not None:
                expires = now - timedelta(days=30) if status == "EXPIRE" else None
                tx.authorizations.set(workspace, ins, scenario_ps["id_nat"], status="VALIDE" if status == "EXPIRE" else status,
                                      now=now - timedelta(days=400) if status == "EXPIRE" else now, expires_at=expires)
                if is_mt:
                    tx.authorizations.set_mt(workspace, ins, scenario_ps["id_nat"], True, now=now)
            if feed is not None and documents_per_patient and state == "OPEN":
                documents += feed(tx, workspace, record, authors, directory, documents_per_patient, rng, now)
        # INSi: the same people as identities the INSi replica answers from, plus the CNDA test identities
        from .insi.cnda import seed_cnda_identities

        tx.identities.upsert_many(workspace, (Identity.from_record(record) for record in people))
        seed_cnda_identities(tx, workspace)
    return SeedSummary(workspace=workspace, patients=len(people), professionals=len(pros),
                       structures=len(directory.structures), documents=documents, scenarios=tuple(scenarios),
                       scenario_professional=scenario_ps)


def describe_seeded(store: Store, workspace: str, settings: Any) -> SeedSummary:
    """The summary of a workspace seeded earlier (restart): counts from the store, scenarios from the seed."""
    directory, people = _population(settings.seed, settings.patients, 60)
    with store.transaction(readonly=True) as tx:
        counts = tx.workspaces.counts(workspace)
    scenarios = tuple((label, p["ins"]["nir"] + p["ins"]["key"], p["id"]) for (label, *_), p in zip(SCENARIOS, people))
    return SeedSummary(workspace=workspace, patients=counts.patients, professionals=counts.professionals,
                       structures=counts.structures, documents=counts.documents, scenarios=scenarios,
                       scenario_professional=directory.professionals[0])
