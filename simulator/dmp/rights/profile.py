"""Which of the twelve profiles (columns) of the rights matrix a caller falls in, and the choices behind it.

The columns (PDT-INF-526 v1.8, spec ``dmp.md`` §1.12):

====  ======================  =====================  ==============
Col   Authentication          Actor                  Access mode
====  ======================  =====================  ==============
1     direct CPS/CPF          PS non médecin         normal
2     direct CPS/CPF          PS non médecin         régulation
3     direct CPS/CPF          PS non médecin         bris de glace
4     direct CPS/CPF          Médecin (non MT)       normal
5     direct CPS/CPF          Médecin (non MT)       régulation
6     direct CPS/CPF          Médecin (non MT)       bris de glace
7     direct CPS/CPF          Médecin du travail     sans objet
8     direct CPS/CPF          Médecin traitant (MT)  normal
9     direct CPS/CPF          Médecin traitant (MT)  bris de glace
10    direct CPE              non PS (secrétariat)   normal
11    indirect (cert. ES)     tous                   normal
12    indirect (cert. ES)     tous                   régulation
====  ======================  =====================  ==============

Inputs: ``Principal.auth_mode``, ``card_type``, ``profession`` (TRE_G15, ``10`` = médecin), ``specialty``
(savoir-faire, e.g. ``SM26``), ``purpose`` (``normal`` / ``centre_15`` = régulation / ``bris_de_glace``), plus
``is_mt`` (the PS is the patient's médecin traitant DMP, the ``STATUT_MT`` of TD0.2), which the caller reads from
the store.

Choices the sources leave open — each one a field of :class:`RightsSettings` or written here:

* **AIR** (``INDIRECTE_RENFORCEE``): its own matrix (PDT-INF-606) is an unreadable image. By default an AIR caller
  is treated as **indirect** (columns 11/12), the more restrictive reading; ``RightsSettings(air_mode="direct")``
  treats it as a direct caller instead (columns 1–10 from its role, card and purpose).
* **Médecin du travail**: recognised by its savoir-faire code. Default ``{"SM25"}``: ``SM25`` is
  "Médecine du travail (SM)" in the ANS nomenclature TRE_R38 SpecialiteOrdinale (and ``G15_10/SM25``
  "Médecin - Médecine du travail (SM)" in JDV_J01), the code system the VIHF's second role uses
  (``SM26`` = médecine générale in the official example). The DMP sources themselves do not say which code they
  test, hence the setting ``occupational_specialties``. A code written ``G15_10/SM25`` matches ``SM25`` too. The
  médecin du travail (column 7, "sans objet") wins over the MT status and over the access mode.
* **MT in régulation** (``centre_15``): column 8/9 has no régulation variant → column 5 (médecin, régulation).
* **Indirect + bris de glace**: column 12 is régulation only; bris de glace is a direct-mode notion → column 11
  (indirect, normal).
* **Card type unknown** (lenient unsigned mode, no card certificate): a direct caller whose first role is not a
  TRE_G15 profession (``profession is None``) is a non-PS → column 10 (CPE); otherwise a PS (CPS/CPF).
* ``is_mt`` is ignored for a non-médecin (the MT is a médecin by definition) and in indirect mode.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ...security.principal import Principal

DOCTOR = "10"  # TRE_G15 Médecin
OCCUPATIONAL_MEDICINE = "SM25"  # TRE_R38 "Médecine du travail (SM)"


@dataclass(frozen=True)
class RightsSettings:
    """The open choices of the rights layer (see the module docstrings of ``profile`` and ``engine``)."""

    # INDIRECTE_RENFORCEE (AIR): "indirect" → columns 11/12; "direct" → columns 1–10 like a DIRECTE caller.
    air_mode: Literal["indirect", "direct"] = "indirect"
    # Savoir-faire codes that make a médecin a "médecin du travail" (column 7).
    occupational_specialties: frozenset[str] = field(default_factory=lambda: frozenset({OCCUPATIONAL_MEDICINE}))
    # Footnote (7): the author of a masked document may still read it in bris de glace / centre 15 even when the
    # patient did not open masked documents to emergency access (MASQUE_PS hides from PS *other than* the author).
    author_bypasses_emergency_mask: bool = True
    # Footnote (4): when the document is known, TD2.1 (indirect) / TD2.2 (CPE) require the caller's structure
    # among the document's authorInstitution ids (imputability to the structure, as EX_2.1-1140).
    enforce_imputability: bool = True

    def __post_init__(self) -> None:
        if self.air_mode not in ("indirect", "direct"):
            raise ValueError(f"air_mode must be 'indirect' or 'direct', not {self.air_mode!r}")
        object.__setattr__(self, "occupational_specialties", frozenset(self.occupational_specialties))


DEFAULT_SETTINGS = RightsSettings()


def _specialty_code(value: str | None) -> str | None:
    """``G15_10/SM25`` → ``SM25``; ``SM25`` unchanged."""
    if not value:
        return None
    return value.rsplit("/", 1)[-1].strip()


def is_indirect(principal: Principal, settings: RightsSettings = DEFAULT_SETTINGS) -> bool:
    if principal.auth_mode == "INDIRECTE":
        return True
    if principal.auth_mode == "INDIRECTE_RENFORCEE":
        return settings.air_mode == "indirect"
    return False


def is_occupational_physician(
    principal: Principal, occupational_specialties: frozenset[str] | None = None,
    settings: RightsSettings = DEFAULT_SETTINGS,
) -> bool:
    codes = settings.occupational_specialties if occupational_specialties is None else occupational_specialties
    if principal.profession != DOCTOR or not codes:
        return False
    normalised = {_specialty_code(c) for c in codes}
    return principal.specialty in codes or _specialty_code(principal.specialty) in normalised


def column_for(
    principal: Principal,
    *,
    is_mt: bool,
    occupational_specialties: frozenset[str] | None = None,
    settings: RightsSettings | None = None,
) -> int:
    """The matrix column (1–12) of ``principal``.

    ``occupational_specialties`` overrides ``settings.occupational_specialties`` when given.
    """
    settings = settings or DEFAULT_SETTINGS
    purpose = principal.purpose
    if is_indirect(principal, settings):
        return 12 if purpose == "centre_15" else 11  # bris de glace in indirect mode → 11 (see docstring)
    if principal.card_type == "CPE" or (principal.card_type is None and principal.profession is None):
        return 10
    if principal.profession == DOCTOR:
        if is_occupational_physician(principal, occupational_specialties, settings):
            return 7
        if is_mt:
            return {"centre_15": 5, "bris_de_glace": 9}.get(purpose, 8)
        return {"centre_15": 5, "bris_de_glace": 6}.get(purpose, 4)
    return {"centre_15": 2, "bris_de_glace": 3}.get(purpose, 1)
