"""The caller of a request, as the checks of its VIHF (or TLS certificate) established it.

Every handler and every rule receives this object; none re-reads the assertion.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from cryptography import x509

AuthMode = Literal["DIRECTE", "INDIRECTE", "INDIRECTE_RENFORCEE"]
Purpose = Literal["normal", "bris_de_glace", "centre_15"]
CardType = Literal["CPS", "CPF", "CPE"]


@dataclass(frozen=True)
class Coded:
    code: str
    code_system: str | None = None
    display_name: str | None = None


@dataclass(frozen=True)
class PatientRef:
    """A matricule INS as the DMP carries it: 15 characters (NIR + key) under an assigning authority OID."""

    ins: str
    oid: str

    def cx(self) -> str:
        return f"{self.ins}^^^&{self.oid}&ISO^NH"


@dataclass(frozen=True)
class Principal:
    assertion_id: str
    issue_instant: datetime
    auth_mode: AuthMode
    name_id: str  # user id: PS idNat (8+RPPS, 0+ADELI) or <structure>/<local id>
    structure_id: str  # Identifiant_Structure (idNat_Struct)
    sector: str  # Secteur_Activite code, e.g. SA07
    roles: tuple[Coded, ...]  # xacml subject:role values, in order
    profession: str | None  # TRE_G15 code of the first role when it is one (10 = médecin)
    specialty: str | None  # second role code (savoir-faire), e.g. SM26
    purpose: Purpose
    patient: PatientRef | None  # resource-id, absent for patient-less calls (TD0.4)
    subject_name: str | None = None  # xspa subject-id
    vihf_version: str | None = None
    lps_name: str | None = None
    lps_version: str | None = None
    lps_id: str | None = None
    lps_homologation: str | None = None
    card_type: CardType | None = None  # from the signer certificate's IGC-Santé extension, when a card signed
    signer: x509.Certificate | None = field(default=None, compare=False)  # None only in lenient unsigned mode
    signed: bool = True
    confidentiality: tuple[str, ...] = ()  # e.g. INVISIBLE_REPRESENTANTS_LEGAUX for a connexion secrète
    notes: tuple[str, ...] = ()  # deviations tolerated in lenient mode, for the exchange log

    @property
    def is_doctor(self) -> bool:
        return self.profession == "10"
