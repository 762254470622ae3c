"""What the rights layer needs to know about one stored document: ``DocumentFacts``.

Built by whoever reads the store (ITI-18/43/57 handlers); the rights layer never reads the store itself.

* ``author_ids``: the authorPerson ids (the PS national id, e.g. ``899900063480``; a full XCN
  ``899900063480^LIBRE^MAX^^^^^^&1.2.250.1.71.4.2.1&ISO`` is reduced to its first component). Put the
  legalAuthenticator id there too if it should count as authorship (EX_2.1-1140 accepts either).
* ``author_institution_ids``: the authorInstitution ids (a full XON is reduced to its 10th component, the
  organization identifier, e.g. ``CABINET^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^499900063480001`` →
  ``499900063480001``).
* ``status``: ``Approved`` | ``Deprecated`` | ``Archived`` | ``Deleted`` (full URNs
  ``urn:oasis:names:tc:ebxml-regrep:StatusType:Approved``, ``urn:asip:ci-sis:2010:StatusType:Archived``… accepted).
* ``confidentiality``: confidentialityCode values (``N``, ``MASQUE_PS``, ``INVISIBLE_PATIENT``,
  ``INVISIBLE_REPRESENTANTS_LEGAUX``…; a ``code^oid`` form is reduced to the code).
* ``is_patient_authored`` (derived): classCode ``90`` or a typeCode starting with ``DOCPAT`` (EX_3.1-1040), unless
  ``patient_authored`` says otherwise explicitly.
* ``patient_allows_emergency_access_to_masked``: the patient opened his masked documents to bris de glace /
  centre 15 access (footnote (7)); False by default.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

APPROVED = "Approved"
DEPRECATED = "Deprecated"
ARCHIVED = "Archived"
DELETED = "Deleted"
STATUSES = (APPROVED, DEPRECATED, ARCHIVED, DELETED)

STATUS_URNS = {
    APPROVED: "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved",
    DEPRECATED: "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated",
    ARCHIVED: "urn:asip:ci-sis:2010:StatusType:Archived",
    DELETED: "urn:asip:ci-sis:2010:StatusType:Deleted",
}

MASQUE_PS = "MASQUE_PS"
INVISIBLE_PATIENT = "INVISIBLE_PATIENT"
INVISIBLE_REPRESENTANTS_LEGAUX = "INVISIBLE_REPRESENTANTS_LEGAUX"

PATIENT_CLASS_CODE = "90"
PATIENT_TYPE_PREFIX = "DOCPAT"


def normalise_status(value: str) -> str:
    """``urn:…:StatusType:Archived`` or ``archived`` → ``Archived``."""
    short = value.rsplit(":", 1)[-1].strip()
    for status in STATUSES:
        if short.lower() == status.lower():
            return status
    raise ValueError(f"statut de document inconnu : {value!r}")


def _person_id(value: str) -> str:
    return value.split("^", 1)[0].strip()


def _institution_id(value: str) -> str:
    if "^" not in value:
        return value.strip()
    parts = value.split("^")
    if len(parts) > 9 and parts[9].strip():
        return parts[9].strip()
    if len(parts) > 2 and parts[2].strip():
        return parts[2].strip()
    return parts[0].strip()


def _code(value: str) -> str:
    return value.split("^", 1)[0].strip()


def _ids(values: Iterable[str] | str | None, parse) -> frozenset[str]:
    if values is None:
        return frozenset()
    if isinstance(values, str):
        values = (values,)
    return frozenset(v for v in (parse(x) for x in values if x) if v)


@dataclass(frozen=True)
class DocumentFacts:
    author_ids: frozenset[str] = field(default_factory=frozenset)
    author_institution_ids: frozenset[str] = field(default_factory=frozenset)
    class_code: str | None = None
    type_code: str | None = None
    confidentiality: frozenset[str] = field(default_factory=frozenset)
    status: str = APPROVED
    patient_allows_emergency_access_to_masked: bool = False
    patient_authored: bool | None = None  # None: derive from class/type codes

    def __post_init__(self) -> None:
        object.__setattr__(self, "author_ids", _ids(self.author_ids, _person_id))
        object.__setattr__(self, "author_institution_ids", _ids(self.author_institution_ids, _institution_id))
        object.__setattr__(self, "confidentiality", _ids(self.confidentiality, _code))
        object.__setattr__(self, "status", normalise_status(self.status))

    @property
    def is_patient_authored(self) -> bool:
        if self.patient_authored is not None:
            return self.patient_authored
        return self.class_code == PATIENT_CLASS_CODE or (self.type_code or "").upper().startswith(PATIENT_TYPE_PREFIX)

    @property
    def is_masked(self) -> bool:
        return MASQUE_PS in self.confidentiality

    @property
    def is_invisible_to_patient(self) -> bool:
        return bool({INVISIBLE_PATIENT, INVISIBLE_REPRESENTANTS_LEGAUX} & self.confidentiality)
