"""The public CNDA / INSi qualification test identities (insi-cards.md §A.8), seeded in every workspace, and the
answer each case expects.

The identities keep the CNDA's own values, production-looking OIDs (``.8`` NIR, ``.9`` NIA) and the
deliberately inconsistent key of HERMANN GATIEN included, so that a client tested here sees what the
qualification platform and the CNDA XML fixtures show. Where the table gives no value, the sandbox chose one
(marked ``[I]`` below): the two DE VINCI LEONARDO homonyms (born in two communes, so that ``LieuNaissance``
breaks their ``02``), birthplaces the fixtures omit. HOUILLES is deliberately absent: every first-name attempt
answers ``01`` (REP_CR01).

``CASES`` lists every scenario with its request traits and expected answer; ``tests/simulator/test_insi_cnda.py``
replays each of them through the SOAP endpoint.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..store import HistoricMatricule, Identity, UnitOfWork
from .constants import CR_NONE, CR_OK, CR_SEVERAL, OID_NIA, OID_NIR
from .matching import TraitQuery

SOURCE = "cnda"


def _identity(ref: str, nir: str, key: str, name: str, first_names: str, sex: str, born: str, place: str | None,
              *, oid: str = OID_NIR, type_: str = "NIR", history: tuple[HistoricMatricule, ...] = ()) -> Identity:
    return Identity(nir=nir, key=key, oid=oid, matricule_type=type_, birth_name=name,
                    first_names=tuple(first_names.split()), sex=sex, birth_date=born, birth_place=place,
                    history=history, insured_nir=nir, birth_rank=1, source=SOURCE, ref=ref)


IDENTITIES: tuple[Identity, ...] = (
    _identity("ADRTROIS DOMINIQUE", "297022A020778", "78", "ADRTROIS", "DOMINIQUE", "F", "1997-02-26", "2A020"),
    _identity("ADRTROIS TOUSSAINT", "160012B020777", "13", "ADRTROIS", "TOUSSAINT", "M", "1960-01-01", "2B020"),
    _identity("ADRUN ZOE", "2751263220749", "74", "ADRUN", "ZOE", "F", "1975-12-31", "63220"),
    # TEST 2.08 cas 1: the history repeats the active matricule, as the CNDA file does.
    _identity("TEST 2.08 cas1", "180032B020401", "23", "CORSE", "ANTHONY", "M", "1980-03-02", "2B020",
              history=(HistoricMatricule("180032B020401", "23", OID_NIR),)),
    # TEST 2.08 cas 2: key 60 where mod 97 gives 76 (and 10 for 26): kept as the CNDA gives it.
    _identity("TEST 2.08 cas2", "1810363220456", "60", "HERMANN", "GATIEN", "M", "1981-03-24", "63220",
              history=(HistoricMatricule("1810363220456", "60", OID_NIR),
                       HistoricMatricule("2810363220456", "10", OID_NIR))),
    # TEST 2.04 cas 2.
    _identity("TEST 2.04 cas2", "1090763220834", "89", "ECETINSI", "PIERRE-ALAIN MURIEL FLORIANT", "M",
              "2009-07-14", "63220",
              history=(HistoricMatricule("2090763220834", "39", OID_NIR, "NIR", "2019-03-01", "2019-02-28"),
                       HistoricMatricule("2090663220123", "55", OID_NIR, "NIR"))),
    # TEST 2.05: a NIA, told from a NIR by its OID only.
    _identity("TEST 2.05", "1090763220888", "35", "PROVISOIRE", "MATRICULE", "M", "2009-07-01", "63220",
              oid=OID_NIA, type_="NIA"),
    _identity("NESSI MICHELANGELO", "1100863220830", "60", "NESSI", "MICHELANGELO ANTHONY", "M", "2010-08-07",
              "63220"),
    _identity("TCHITCHI CATARINA", "2360663220836", "56", "TCHITCHI", "CATARINA BELLA", "F", "1936-06-21", "63220"),
    # [I] two homonyms (the table gives neither matricule nor birthplace): valid keys, two communes.
    _identity("DE VINCI LEONARDO 1", "1140263220901", "85", "DE VINCI", "LEONARDO", "M", "2014-02-01", "63220"),
    _identity("DE VINCI LEONARDO 2", "1140263113902", "93", "DE VINCI", "LEONARDO", "M", "2014-02-01", "63113"),
    # [T] GIE kit traits example; matricule from the kit comment, birthplace [I] from its digits.
    _identity("PATB-QUATRE LAURENCE", "1810163220751", "40", "PATB-QUATRE", "LAURENCE", "F", "1907-05-25", "63220"),
)


@dataclass(frozen=True)
class CndaCase:
    """One scenario: the traits a client sends and the answer the sandbox gives."""

    name: str
    query: TraitQuery
    code: str  # expected CodeCR
    ins: str | None = None  # expected INSACTIF (number + key)
    oid: str | None = None
    history: tuple[str, ...] = ()  # expected INSHISTO (number + key), in order


def _q(name: str, first: str, sex: str, born: str, place: str | None = None) -> TraitQuery:
    return TraitQuery(name, (first,), sex, born, place)


CASES: tuple[CndaCase, ...] = (
    CndaCase("ADRTROIS DOMINIQUE (Corse 2A)", _q("ADRTROIS", "DOMINIQUE", "F", "1997-02-26"), CR_OK,
             "297022A02077878", OID_NIR),
    CndaCase("ADRTROIS TOUSSAINT (Corse 2B)", _q("ADRTROIS", "TOUSSAINT", "M", "1960-01-01"), CR_OK,
             "160012B02077713", OID_NIR),
    CndaCase("ADRUN ZOE", _q("ADRUN", "ZOE", "F", "1975-12-31"), CR_OK, "275126322074974", OID_NIR),
    CndaCase("TEST 2.08 cas1 CORSE ANTHONY", _q("CORSE", "ANTHONY", "M", "1980-03-02"), CR_OK, "180032B02040123",
             OID_NIR, ("180032B02040123",)),
    CndaCase("TEST 2.08 cas2 HERMANN GATIEN (clé incohérente)", _q("HERMANN", "GATIEN", "M", "1981-03-24"), CR_OK,
             "181036322045660", OID_NIR, ("181036322045660", "281036322045610")),
    CndaCase("TEST 2.04 cas2 ECETINSI PIERRE-ALAIN", _q("ECETINSI", "PIERRE-ALAIN", "M", "2009-07-14"), CR_OK,
             "109076322083489", OID_NIR, ("209076322083439", "209066322012355")),
    CndaCase("TEST 2.04 cas2 ECETINSI, liste entière", _q("ECETINSI", "PIERRE-ALAIN MURIEL FLORIANT", "M",
                                                          "2009-07-14"), CR_OK, "109076322083489", OID_NIR,
             ("209076322083439", "209066322012355")),
    CndaCase("TEST 2.05 PROVISOIRE MATRICULE (NIA)", _q("PROVISOIRE", "MATRICULE", "M", "2009-07-01"), CR_OK,
             "109076322088835", OID_NIA),
    CndaCase("NESSI MICHELANGELO", _q("NESSI", "MICHELANGELO", "M", "2010-08-07"), CR_OK, "110086322083060",
             OID_NIR),
    CndaCase("TCHITCHI CATARINA", _q("TCHITCHI", "CATARINA", "F", "1936-06-21"), CR_OK, "236066322083656", OID_NIR),
    CndaCase("TCHITCHI OLA", _q("TCHITCHI", "OLA", "F", "1936-06-21"), CR_NONE),
    CndaCase("HOUILLES PIERRE", _q("HOUILLES", "PIERRE", "M", "1993-01-27"), CR_NONE),
    CndaCase("HOUILLES PAUL", _q("HOUILLES", "PAUL", "M", "1993-01-27"), CR_NONE),
    CndaCase("HOUILLES JACQUES", _q("HOUILLES", "JACQUES", "M", "1993-01-27"), CR_NONE),
    CndaCase("HOUILLES PIERRE PAUL JACQUES", _q("HOUILLES", "PIERRE PAUL JACQUES", "M", "1993-01-27"), CR_NONE),
    CndaCase("DE VINCI LEONARDO (homonymes)", _q("DE VINCI", "LEONARDO", "M", "2014-02-01"), CR_SEVERAL),
    CndaCase("DE VINCI LEONARDO né en 63220", _q("DE VINCI", "LEONARDO", "M", "2014-02-01", "63220"), CR_OK,
             "114026322090185", OID_NIR),
    CndaCase("PATB-QUATRE LAURENCE", _q("PATB-QUATRE", "LAURENCE", "F", "1907-05-25"), CR_OK, "181016322075140",
             OID_NIR),
)


def seed_cnda_identities(tx: UnitOfWork, workspace: str) -> int:
    """Upsert the CNDA identities into ``workspace`` (idempotent); returns how many."""
    return tx.identities.upsert_many(workspace, IDENTITIES)


def ensure_cnda_identities(tx: UnitOfWork, workspace: str) -> bool:
    """Seed them when the workspace lacks them (after a reset, or a workspace created without population);
    one primary-key lookup otherwise. True when they were (re)seeded."""
    if tx.identities.exists(workspace, IDENTITIES[-1].nir):  # seeded all at once: the last one tells
        return False
    seed_cnda_identities(tx, workspace)
    return True
