"""How the INSi replica matches a request against the identities of a workspace.

The CNAM's exact matching rules are not public (insi-cards.md, Open questions 2). The sandbox applies the RNIV
normalisation and the CNAM semantics the spec describes, each a setting of ``MatchingRules`` (workspace setting
``insi_matching``):

* **Names** are compared after the RNIV normalisation (``fixtures.traits.normalise_name``: upper case, no
  diacritics, ligatures expanded, typographic apostrophes unified, other characters as spaces, spaces
  collapsed). ``separators`` then decides how hyphens, apostrophes and spaces compare:
  ``equivalent`` (default [I]: ``JEAN-PIERRE`` = ``JEAN PIERRE``, ``D'ALMEIDA`` = ``D ALMEIDA``), ``ignored``
  (``DALMEIDA`` also matches) or ``strict``.
* **Birth name** equal after normalisation.
* **First names**: one given ``Prenom`` must equal one of the birth first names or, with ``whole_list``, the
  whole list (``PIERRE-ALAIN MURIEL FLORIANT``) [A.9]. With several ``Prenom`` elements, ``first_names="any"``
  (default) needs one of them to match, ``"all"`` needs each to.
* **Sex** and **birth date** exact (the date verbatim: INSi's ``DateLunaire`` is a plain string).
* **Birth place** (``LieuNaissance``) is optional and only breaks a ``02`` (``birth_place="tiebreak"``,
  default [A.9]); ``"filter"`` makes it a hard criterion, ``"ignore"`` drops it.
* **Vitale search**: the beneficiary's own NIR (``MatriculeIndividu``) when present, matched against active
  and earlier matricules; otherwise the insured's number (``MatriculeOD``) + birth date + birth rank
  (``RangNaissance``), the birth name breaking a remaining tie [C.3, design notes].

Codes: ``00`` one identity, ``01`` none, ``02`` several (homonyms). Verification (inferred operation):
``00`` concordant, ``01`` unknown INS, ``03`` traits not concordant, ``04`` the INS supplied is an earlier one.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal, get_args

from ...fixtures.traits import normalise_name
from ..store import Identity, IdentityRepository
from .constants import CR_INS_INACTIVE, CR_NONE, CR_OK, CR_SEVERAL, CR_TRAITS_MISMATCH

Separators = Literal["strict", "equivalent", "ignored"]
FirstNameMode = Literal["any", "all"]
BirthPlaceMode = Literal["tiebreak", "filter", "ignore"]

TRAIT_ELEMENTS = ("NomNaissance", "Prenom", "Sexe", "DateNaissance", "LieuNaissance")
_SEPARATORS = re.compile(r"[-' ]+")
_COG = re.compile(r"[A-Za-z0-9]{5}")


@dataclass(frozen=True)
class MatchingRules:
    separators: Separators = "equivalent"
    first_names: FirstNameMode = "any"
    whole_list: bool = True
    birth_place: BirthPlaceMode = "tiebreak"
    required_traits: tuple[str, ...] = ("NomNaissance", "Prenom", "Sexe", "DateNaissance")
    vitale_check_key: bool = False  # a MatriculeIndividu whose key differs from the stored one matches nothing
    vitale_fallback_to_insured: bool = True  # unknown beneficiary NIR: search by insured + date + rank
    vitale_name_tiebreak: bool = True
    verification_check_key: bool = True

    @classmethod
    def from_settings(cls, overrides: Mapping[str, Any] | None) -> MatchingRules:
        """The rules with the workspace's ``insi_matching`` overrides; unknown keys or values raise ValueError."""
        if not overrides:
            return DEFAULT_RULES
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for name, value in overrides.items():
            if name not in known:
                raise ValueError(f"insi_matching: unknown rule {name!r} (known: {', '.join(known)})")
            allowed = {"separators": Separators, "first_names": FirstNameMode, "birth_place": BirthPlaceMode}
            if name in allowed and value not in get_args(allowed[name]):
                raise ValueError(f"insi_matching.{name}: {value!r} not one of {get_args(allowed[name])}")
            if name == "required_traits":
                value = tuple(value)
                unknown = set(value) - set(TRAIT_ELEMENTS)
                if unknown:
                    raise ValueError(f"insi_matching.required_traits: unknown traits {sorted(unknown)}")
            elif name not in allowed and not isinstance(value, bool):
                raise ValueError(f"insi_matching.{name}: expected true or false")
            values[name] = value
        return cls(**values)


DEFAULT_RULES = MatchingRules()


def comparable(text: str, separators: Separators = "equivalent") -> str:
    """The form two names are compared in under ``separators`` (see the module docstring)."""
    normalised = normalise_name(text or "")
    if separators == "strict":
        return normalised
    return _SEPARATORS.sub(" " if separators == "equivalent" else "", normalised).strip()


# -- queries ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TraitQuery:
    birth_name: str
    first_names: tuple[str, ...]
    sex: str
    birth_date: str
    birth_place: str | None = None


@dataclass(frozen=True)
class Matricule:
    nir: str
    key: str | None = None
    type: str | None = None


@dataclass(frozen=True)
class VitaleQuery:
    beneficiary: Matricule | None = None  # MatriculeIndividu
    insured: Matricule | None = None  # MatriculeOD
    birth_name: str | None = None
    birth_date: str | None = None
    rank: int | None = None


@dataclass(frozen=True)
class VerificationQuery:
    ins: Matricule
    oid: str | None
    birth_name: str | None = None
    first_names: tuple[str, ...] = ()  # Prenom (each one)
    list_prenom: str | None = None  # ListePrenom (the whole list)
    sex: str | None = None
    birth_date: str | None = None
    birth_place: str | None = None


@dataclass(frozen=True)
class MatchResult:
    code: str
    identity: Identity | None = None
    candidates: tuple[Identity, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def ins(self) -> str | None:
        return self.identity.ins if self.identity is not None else None


def _result(candidates: Sequence[Identity], notes: Sequence[str] = ()) -> MatchResult:
    if not candidates:
        return MatchResult(CR_NONE, None, (), tuple(notes))
    if len(candidates) > 1:
        return MatchResult(CR_SEVERAL, None, tuple(candidates), tuple(notes))
    return MatchResult(CR_OK, candidates[0], tuple(candidates), tuple(notes))


def first_names_match(identity_names: Sequence[str], given: Sequence[str], rules: MatchingRules) -> bool:
    forms = {comparable(name, rules.separators) for name in identity_names}
    joiner = "" if rules.separators == "ignored" else " "
    whole = comparable(" ".join(identity_names), rules.separators) if rules.separators != "strict" else \
        joiner.join(comparable(name, "strict") for name in identity_names)
    wanted = [comparable(name, rules.separators) for name in given if name and name.strip()]
    if not wanted:
        return True  # no Prenom sent (only possible when the workspace does not require one): no constraint

    def one(name: str) -> bool:
        return name in forms or (rules.whole_list and name == whole)

    return any(map(one, wanted)) if rules.first_names == "any" else all(map(one, wanted))


def _same_place(identity: Identity, place: str) -> bool:
    return (identity.birth_place or "").upper() == place.upper()


def match_traits(repo: IdentityRepository, workspace: str, query: TraitQuery,
                 rules: MatchingRules = DEFAULT_RULES) -> MatchResult:
    """RECSANSVITALE: one index lookup for the candidates, then the rules."""
    notes: list[str] = []
    name = comparable(query.birth_name, rules.separators)
    candidates = [c for c in repo.find_by_traits(workspace, query.birth_name, query.birth_date, query.sex.upper())
                  if comparable(c.birth_name, rules.separators) == name
                  and first_names_match(c.first_names, query.first_names, rules)]
    place = query.birth_place
    if place and rules.birth_place == "filter":
        candidates = [c for c in candidates if _same_place(c, place)]
    elif place and rules.birth_place == "tiebreak" and len(candidates) > 1:
        narrowed = [c for c in candidates if _same_place(c, place)]
        if narrowed:
            notes.append(f"LieuNaissance {place} a départagé {len(candidates)} identités")
            candidates = narrowed
    return _result(candidates, notes)


def match_vitale(repo: IdentityRepository, workspace: str, query: VitaleQuery,
                 rules: MatchingRules = DEFAULT_RULES) -> MatchResult:
    """RECVITALE: the beneficiary's own NIR when the card carries it, else insured + birth date + rank."""
    notes: list[str] = []
    if query.beneficiary is not None:
        found = list(repo.find_by_matricule(workspace, query.beneficiary.nir))
        if found and query.beneficiary.key and rules.vitale_check_key:
            found = [i for i in found if _key_of(i, query.beneficiary.nir) == query.beneficiary.key]
        if found:
            if found[0].nir != query.beneficiary.nir:
                notes.append(f"MatriculeIndividu {query.beneficiary.nir} est un matricule antérieur de "
                             f"{found[0].nir}")
            return _result(found[:1] if found[0].nir == query.beneficiary.nir else found, notes)
        if query.insured is None or not rules.vitale_fallback_to_insured:
            return _result([], notes)
        notes.append(f"MatriculeIndividu {query.beneficiary.nir} inconnu : recherche par l'ouvrant droit")
    assert query.insured is not None  # the request parser guarantees one of the two
    candidates = list(repo.find_by_insured(workspace, query.insured.nir, query.birth_date))
    if query.rank is not None:
        candidates = [c for c in candidates if (c.birth_rank or 1) == query.rank]
    if len(candidates) > 1 and query.birth_name and rules.vitale_name_tiebreak:
        name = comparable(query.birth_name, rules.separators)
        narrowed = [c for c in candidates if comparable(c.birth_name, rules.separators) == name]
        if narrowed:
            candidates = narrowed
    return _result(candidates, notes)


def _key_of(identity: Identity, nir: str) -> str | None:
    if identity.nir == nir:
        return identity.key
    return next((h.key for h in identity.history if h.nir == nir), None)


def verify_ins(repo: IdentityRepository, workspace: str, query: VerificationQuery,
               rules: MatchingRules = DEFAULT_RULES) -> MatchResult:
    """Verification [I]: is this INS the person's, with these traits? 00 / 01 / 03 / 04 (module docstring)."""
    notes: list[str] = []
    found = list(repo.find_by_matricule(workspace, query.ins.nir))
    if found and query.ins.key and rules.verification_check_key:
        found = [i for i in found if _key_of(i, query.ins.nir) == query.ins.key]
        if not found:
            notes.append(f"clé {query.ins.key} différente de celle du matricule {query.ins.nir}")
    if not found:
        return MatchResult(CR_NONE, None, (), tuple(notes))
    identity = found[0]
    if query.oid and query.oid != (identity.oid if identity.nir == query.ins.nir else
                                   next((h.oid for h in identity.history if h.nir == query.ins.nir), query.oid)):
        notes.append(f"OID {query.oid} différent de celui du matricule")
    mismatches = _discordant(identity, query, rules)
    if mismatches:
        return MatchResult(CR_TRAITS_MISMATCH, None, (identity,), tuple(notes + [f"traits non concordants : "
                                                                                  f"{', '.join(mismatches)}"]))
    code = CR_OK if identity.nir == query.ins.nir else CR_INS_INACTIVE
    return MatchResult(code, identity, (identity,), tuple(notes))


def _discordant(identity: Identity, query: VerificationQuery, rules: MatchingRules) -> list[str]:
    out: list[str] = []
    sep = rules.separators
    if query.birth_name is not None and comparable(query.birth_name, sep) != comparable(identity.birth_name, sep):
        out.append("NomNaissance")
    if query.first_names and not first_names_match(identity.first_names, query.first_names, rules):
        out.append("Prenom")
    if query.list_prenom is not None and comparable(query.list_prenom, sep) != \
            comparable(" ".join(identity.first_names), sep):
        out.append("ListePrenom")
    if query.sex is not None and query.sex.upper() != identity.sex:
        out.append("Sexe")
    if query.birth_date is not None and query.birth_date != identity.birth_date:
        out.append("DateNaissance")
    if query.birth_place and _COG.fullmatch(query.birth_place) and rules.birth_place != "ignore" \
            and not _same_place(identity, query.birth_place):
        out.append("LieuNaissance")
    return out
