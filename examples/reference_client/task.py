"""The task the conformance runner gives us (docs/client-task.md) and the result we give back.

The task is plain JSON; ``Task`` only adds the look-ups the actions need, and turns the task's flat view of the
professional and the patient into the record shapes the sandbox's library functions take (the VIHF builder and
the CDA generator read fixtures-shaped records).
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segur_sandbox.fixtures import terminology

INS_OID_DEFAULT = "1.2.250.1.213.1.4.10"  # test NIR, the sandbox's population
EVENT_KINDS = {  # pharmacy acts (action "act") -> the document the act implies (fixtures.documents.KINDS)
    "vaccination": "VAC-NOTE",
    "entretien": "CR-ENTRETIEN-PHARMA",
    "bilan": "BPM",
}


@dataclass
class Task:
    data: dict[str, Any]
    dmp_url: str
    insi_url: str

    @classmethod
    def load(cls, path: str | Path) -> Task:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        endpoints = data.get("endpoints") or {}
        # The runner's environment wins over the task file: the file may have been written for another port.
        dmp = os.environ.get("SEGUR_SANDBOX_DMP_URL") or endpoints.get("dmp") or ""
        insi = os.environ.get("SEGUR_SANDBOX_INSI_URL") or endpoints.get("insi") or ""
        return cls(data, dmp.rstrip("/"), insi.rstrip("/"))

    # -- plain look-ups -----------------------------------------------------------------------------------------
    @property
    def action(self) -> str:
        return str(self.data.get("action") or "")

    @property
    def professional(self) -> dict[str, Any]:
        return self.data.get("professional") or {}

    @property
    def patient(self) -> dict[str, Any]:
        return self.data.get("patient") or {}

    @property
    def document(self) -> dict[str, Any]:
        return self.data.get("document") or {}

    @property
    def event(self) -> str | None:
        return self.data.get("event") or self.document.get("event")

    @property
    def ins(self) -> str | None:
        return self.patient.get("ins")

    @property
    def ins_oid(self) -> str:
        return self.patient.get("ins_oid") or INS_OID_DEFAULT

    @property
    def identity_qualified(self) -> bool:
        """Only a qualified identity (INS checked with INSi, identity checked on a document) may reach the DMP."""
        return self.patient.get("identity_status") == "qualifiee"

    @property
    def consents(self) -> bool:
        # No answer recorded means no consent: the safe reading.
        return self.patient.get("consents") is True

    # -- records for the library --------------------------------------------------------------------------------
    def professional_record(self) -> dict[str, Any]:
        """The professional as a fixtures record (VIHF roles, CDA author). The runner may pass the record itself."""
        p = self.professional
        if isinstance(p.get("record"), dict):
            return dict(p["record"])
        profession = str(p.get("profession") or "")
        return {
            "id_nat": p["id_nat"], "family": p.get("family") or "", "given": p.get("given") or "",
            "profession": {"code": profession, "label": p.get("role_label") or ""},
            "specialty": specialty(profession, p.get("specialty")),
            "function": p.get("function"),
        }

    def structure_record(self) -> dict[str, Any]:
        """The professional's structure as a fixtures record (VIHF structure and sector, CDA organisations)."""
        s = self.professional.get("structure") or {}
        return structure_record(s.get("id_nat"), s.get("name"), s.get("facility_type") or s.get("sector"),
                                s.get("practice_setting"))

    def patient_record(self) -> dict[str, Any]:
        """The patient as our own software knows them, in the fixtures shape the CDA header needs."""
        ins = self.ins or ""
        traits = self.patient.get("traits") or {}
        given = traits.get("given") or traits.get("first_given") or ""
        first_names = given.split() or [traits.get("first_given") or ""]
        return {
            "ins": {"nir": ins[:13], "key": ins[13:], "oid": self.ins_oid},
            # our local patient number (IPP): stable for a patient, derived here from the INS
            "ipp": self.patient.get("ipp") or str(int(hashlib.sha256(ins.encode()).hexdigest(), 16))[:8],
            "traits": {"birth_name": traits.get("family") or "", "first_names": first_names,
                       "first_name": traits.get("first_given") or first_names[0], "sex": traits.get("sex"),
                       "birth_date": traits.get("birth_date") or "", "birth_place": traits.get("birth_place")},
        }


def specialty(profession: str, code: str | None) -> dict[str, str]:
    """The JDV_J01 author specialty: the task may say ``G15_10/SM54`` or just ``SM54``."""
    code = code or f"G15_{profession}"
    if not code.startswith("G15_"):
        code = f"G15_{profession}/{code}"
    try:
        concept = terminology.concept("author_specialty", code)
        return {"code": concept.code, "codeSystem": concept.codeSystem, "displayName": concept.displayName}
    except KeyError:
        return {"code": code, "codeSystem": "1.2.250.1.213.1.1.4.5", "displayName": code}


def structure_record(id_nat: str | None, name: str | None, facility_type: str | None,
                     practice_setting: str | None) -> dict[str, Any]:
    return {"id_nat": id_nat or "", "name": name or "",
            "secteur_activite": {"code": facility_type or "SA07"},
            "practice_setting": {"code": practice_setting or "AMBULATOIRE"}}


@dataclass
class Result:
    """The result JSON (docs/client-task.md, "Result JSON"); fields left empty are not written."""

    status: str = "done"
    reason: str | None = None
    errors: list[dict[str, str]] = field(default_factory=list)
    identity: dict[str, Any] | None = None
    dmp: dict[str, Any] | None = None
    documents_shown: list[str] | None = None
    documents_retrieved: list[str] | None = None
    fed: list[str] | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status}
        for key in ("reason", "identity", "dmp", "documents_shown", "documents_retrieved", "fed"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.errors:
            out["errors"] = self.errors
        return out

    def write(self, path: str | Path | None) -> None:
        text = json.dumps(self.as_dict(), ensure_ascii=False, indent=2)
        if path:
            Path(path).write_text(text + "\n", encoding="utf-8")
        else:
            print(text)
