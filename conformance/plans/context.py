"""The state of one case while it runs: its workspace, the professional playing the client's user, the patient it
is about, the task JSON of each step, and what each step recorded.

Personas are seeded professionals of the sandbox's directory (same seed as the server): ``medecin`` is
professional 0 (a médecin généraliste in a cabinet, the seed's TD0.2 scenario professional) and ``pharmacien``
professional 1 (a pharmacien titulaire in an officine). Their credentials come from the same deterministic test PKI
as the server's, written once per run under ``REPORT_DIR/credentials/``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .model import Step, StepRecord
from .sandbox import SandboxApi, SandboxError

PERSONAS: dict[str, int] = {"medecin": 0, "pharmacien": 1}

# fixtures identity_status (RNIV) -> the task's spelling
IDENTITY_STATUS = {"PROV": "provisoire", "RECUP": "recuperee", "VALI": "validee", "QUAL": "qualifiee"}


@dataclass
class Persona:
    name: str
    professional: dict[str, Any]
    structure: dict[str, Any]
    credentials: dict[str, str]  # role -> path

    def task_view(self) -> dict[str, Any]:
        p, s = self.professional, self.structure
        specialty = (p.get("specialty") or {}).get("code")
        return {
            "id_nat": p["id_nat"], "family": p.get("family"), "given": p.get("given"),
            "profession": (p.get("profession") or {}).get("code"), "specialty": specialty,
            "role_label": (p.get("profession") or {}).get("label"), "function": p.get("function"),
            "structure": {"id_nat": s.get("id_nat"), "name": s.get("name"), "finess": s.get("finess_eg"),
                          "facility_type": (s.get("secteur_activite") or {}).get("code"),
                          "practice_setting": (s.get("practice_setting") or {}).get("code"), "kind": s.get("kind")},
            "credentials": dict(self.credentials),
            "record": p,
        }


@dataclass
class CaseContext:
    api: SandboxApi
    workspace: str
    persona: Persona
    report_dir: Path
    case_id: str
    patient: dict[str, Any] | None = None  # the fixtures-shaped record of the case's patient
    identity_status: str = "qualifiee"
    task_patient: dict[str, Any] = field(default_factory=dict)  # patient fields of every task (overrides)
    state: dict[str, Any] = field(default_factory=dict)  # what setup and steps leave for later steps and grading
    records: list[StepRecord] = field(default_factory=list)

    # -- set-up helpers ------------------------------------------------------------------------------------------
    @property
    def id_nat(self) -> str:
        return str(self.persona.professional["id_nat"])

    @property
    def ins(self) -> str:
        assert self.patient is not None, "the case chose no patient"
        return self.patient["ins"]["nir"] + self.patient["ins"]["key"]

    def choose_patient(self, *, index: int = 0, need_documents: bool = False, qualified: bool = True
                       ) -> dict[str, Any]:
        """A seeded patient of the workspace (the ``index``-th that fits), made the case's patient. Cases set its
        DMP state and authorisations explicitly, so any seeded patient does."""
        candidates = []
        for summary in self.api.patients(self.workspace, limit=200):
            detail = self.api.patient(self.workspace, summary["ins"])
            record = detail["record"]
            if qualified and record.get("identity_status") not in (None, "QUAL"):
                continue
            if need_documents and detail["documents"] < 2:
                continue
            candidates.append(record)
        if len(candidates) <= index:
            raise SandboxError(f"the workspace {self.workspace} has no seeded patient fit for case {self.case_id}")
        self.patient = candidates[index]
        status = self.patient.get("identity_status")
        self.identity_status = IDENTITY_STATUS.get(status or "QUAL", "qualifiee")
        return self.patient

    def open_dmp(self, authorization: str | None = "VALIDE", *, state: str = "OPEN") -> None:
        """The case's patient gets a DMP in ``state`` and the persona ``authorization`` on it (None: none)."""
        self.api.set_dmp(self.workspace, self.ins, state=state)
        if authorization is None:
            self.api.remove_authorization(self.workspace, self.ins, self.id_nat)
        else:
            self.api.set_authorization(self.workspace, self.ins, self.id_nat, authorization)

    # -- the task ------------------------------------------------------------------------------------------------
    def task(self, plan: str, number: int, step: Step) -> dict[str, Any]:
        task: dict[str, Any] = {
            "plan": plan, "case": self.case_id, "step": number, "title": step.title,
            "instructions": step.instructions, "action": step.action, "timeout_s": step.timeout_s,
            "endpoints": {"dmp": self.api.dmp_url(self.workspace), "insi": self.api.insi_url(self.workspace)},
            "professional": self.persona.task_view(),
            "patient": self._patient_view(number),
            "document": {"kind": None, "event": None, "replaces": None, "unique_id": None},
            "event": None,
        }
        for key, value in step.extra.items():
            if isinstance(value, dict) and isinstance(task.get(key), dict):
                task[key] = {**task[key], **value}
            else:
                task[key] = value
        return task

    def _patient_view(self, number: int) -> dict[str, Any]:
        if self.patient is None:
            return dict(self.task_patient)
        record = self.patient
        traits = record.get("traits") or {}
        vitale_file = self.report_dir / "tasks" / f"{self.case_id}-{number}.vitale.json"
        vitale = record.get("vitale")
        if vitale:
            vitale_file.parent.mkdir(parents=True, exist_ok=True)
            vitale_file.write_text(json.dumps(vitale, ensure_ascii=False, indent=2), encoding="utf-8")
        view: dict[str, Any] = {
            "ins": self.ins, "ins_oid": record["ins"].get("oid"), "identity_status": self.identity_status,
            "traits": {"family": traits.get("birth_name"), "given": " ".join(traits.get("first_names") or []),
                       "first_given": traits.get("first_name"), "sex": traits.get("sex"),
                       "birth_date": traits.get("birth_date"), "birth_place": traits.get("birth_place")},
            "vitale": {"file": str(vitale_file) if vitale else None, "reader": None},
            "beneficiary": _beneficiary_rank(record),
            "consents": True,
        }
        view.update(self.task_patient)
        return view

    # -- what the steps recorded ---------------------------------------------------------------------------------
    def exchanges(self, *, dmp_only: bool = False) -> list[dict[str, Any]]:
        out = [e for record in self.records for e in record.exchanges]
        if dmp_only:
            out = [e for e in out if e.get("service") != "lps"]
        return out

    def last(self) -> StepRecord:
        return self.records[-1]


def _beneficiary_rank(record: dict[str, Any]) -> int:
    """The patient's position among the beneficiaries of their Vitale card (0: the insured)."""
    card = record.get("vitale") or {}
    nir = record["ins"]["nir"]
    for rank, beneficiary in enumerate(card.get("beneficiaries") or []):
        if beneficiary.get("nir") == nir:
            return rank
    return 0
