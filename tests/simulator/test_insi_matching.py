"""INSi matching: the RNIV normalisation rules one by one, the property that every spelling variant the rules
equate finds the person, the CNAM semantics (homonyms, birth place, first-name list, Vitale beneficiary, NIA,
Corsica, INS history, verification), and the identities repository on SQLite and PostgreSQL (index lookups)."""
from __future__ import annotations

import random
import unicodedata
import uuid
from collections.abc import Iterator
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from segur_sandbox.fixtures.people import PopulationConfig, PopulationGenerator
from segur_sandbox.simulator.insi import (CASES, DEFAULT_RULES, IDENTITIES, MatchingRules, Matricule, TraitQuery,
                                          VerificationQuery, VitaleQuery, comparable, match_traits, match_vitale,
                                          seed_cnda_identities, verify_ins)
from segur_sandbox.simulator.insi.matching import first_names_match
from segur_sandbox.simulator.store import HistoricMatricule, Identity, Store, name_key, sqlite_url

WS = "default"


def _identity(nir: str, name: str, first_names: str, sex: str = "M", born: str = "1980-01-01",
              place: str | None = "75056", **extra) -> Identity:
    from segur_sandbox.fixtures.identity import nir_key

    return Identity(nir=nir, key=extra.pop("key", None) or nir_key(nir), oid=extra.pop("oid", "1.2.250.1.213.1.4.10"),
                    birth_name=name, first_names=tuple(first_names.split()), sex=sex, birth_date=born,
                    birth_place=place, **extra)


@pytest.fixture(scope="module")
def population() -> list[dict]:
    return list(PopulationGenerator(PopulationConfig(seed=11, patients=400)).patients())


@pytest.fixture(scope="module")
def base(population) -> Iterator[Store]:
    """An in-memory store holding the population and the CNDA identities."""
    store = Store("sqlite://")
    with store.transaction() as tx:
        tx.identities.upsert_many(WS, (Identity.from_record(r) for r in population))
        seed_cnda_identities(tx, WS)
    yield store
    store.dispose()


def traits(store: Store, query: TraitQuery, rules: MatchingRules = DEFAULT_RULES):
    with store.transaction(readonly=True) as tx:
        return match_traits(tx.identities, WS, query, rules)


def vitale(store: Store, query: VitaleQuery, rules: MatchingRules = DEFAULT_RULES):
    with store.transaction(readonly=True) as tx:
        return match_vitale(tx.identities, WS, query, rules)


# -- normalisation rules, one by one ----------------------------------------------------------------------


@pytest.mark.parametrize("variant,reference", [
    ("dupont", "DUPONT"),  # case
    ("Hélène", "HELENE"),  # accents
    ("FRANÇOISE", "FRANCOISE"),  # cedilla
    ("Cœurdacier", "COEURDACIER"),  # ligature œ
    ("Lætitia", "LAETITIA"),  # ligature æ
    ("Müller", "MULLER"),  # diaeresis
    ("D’Almeida", "D'ALMEIDA"),  # typographic apostrophe
    ("D ' Almeida", "D'ALMEIDA"),  # spaces around the apostrophe
    ("d almeida", "D'ALMEIDA"),  # apostrophe and space are equivalent separators
    ("Jean - Pierre", "JEAN-PIERRE"),  # spaces around a hyphen
    ("jean pierre", "JEAN-PIERRE"),  # hyphen and space are equivalent separators
    ("  DE   LA  FONTAINE ", "DE LA FONTAINE"),  # repeated and outer spaces
    ("Le\u0301na", "LENA"),  # combining accent
])
def test_names_the_rniv_equates_compare_equal(variant, reference):
    assert comparable(variant) == comparable(reference)


@pytest.mark.parametrize("a,b", [("DALMEIDA", "D'ALMEIDA"), ("MARTIN", "MARTINE"), ("JEANPIERRE", "JEAN-PIERRE")])
def test_different_letters_stay_different_by_default(a, b):
    assert comparable(a) != comparable(b)


def test_separator_modes():
    assert comparable("DALMEIDA", "ignored") == comparable("D'ALMEIDA", "ignored")
    assert comparable("JEAN PIERRE", "strict") != comparable("JEAN-PIERRE", "strict")
    assert comparable("jean-pierre", "strict") == comparable("JEAN-PIERRE", "strict")


def test_name_key_is_the_loosest_form():
    assert name_key("D’Almeida-de la Tour") == "DALMEIDADELATOUR"
    assert name_key("Cœur") == "COEUR"


@pytest.mark.parametrize("given,expected", [
    (("PIERRE-ALAIN",), True), (("MURIEL",), True), (("FLORIANT",), True),  # each birth first name
    (("PIERRE-ALAIN MURIEL FLORIANT",), True),  # the whole list
    (("pierre alain",), True),  # compound first name, separator variant
    (("PIERRE",), False), (("ALAIN",), False),  # a part of a compound first name is not a first name
    (("PIERRE-ALAIN MURIEL",), False),  # a partial list
    (("OLA", "MURIEL"), True),  # several Prenom: one is enough ("any")
])
def test_first_name_rule(given, expected):
    assert first_names_match(("PIERRE-ALAIN", "MURIEL", "FLORIANT"), given, DEFAULT_RULES) is expected


def test_first_name_rule_options():
    names = ("PIERRE-ALAIN", "MURIEL", "FLORIANT")
    assert not first_names_match(names, ("PIERRE-ALAIN MURIEL FLORIANT",), replace(DEFAULT_RULES, whole_list=False))
    assert not first_names_match(names, ("OLA", "MURIEL"), replace(DEFAULT_RULES, first_names="all"))
    assert first_names_match(names, ("FLORIANT", "MURIEL"), replace(DEFAULT_RULES, first_names="all"))
    assert not first_names_match(names, ("PIERRE ALAIN",), replace(DEFAULT_RULES, separators="strict"))


def test_rules_from_workspace_settings_are_validated():
    rules = MatchingRules.from_settings({"separators": "strict", "birth_place": "filter",
                                         "required_traits": ["NomNaissance", "DateNaissance"]})
    assert rules.separators == "strict" and rules.required_traits == ("NomNaissance", "DateNaissance")
    for bad in ({"separators": "loose"}, {"nope": True}, {"whole_list": "yes"}, {"required_traits": ["Age"]}):
        with pytest.raises(ValueError):
            MatchingRules.from_settings(bad)


# -- property: every spelling variant the rules equate finds the person ------------------------------------

_ACCENTS = {"A": "ÀÂÄ", "E": "ÉÈÊË", "I": "ÎÏ", "O": "ÔÖ", "U": "ÙÛÜ", "C": "Ç", "Y": "Ÿ"}


@st.composite
def spelling_variant(draw, name: str) -> str:
    """A spelling of ``name`` (RNIV form) that the rules must equate with it: case, accents, ligatures,
    separators (hyphen / space / apostrophe, typographic apostrophe, extra spaces), outer spaces."""
    out: list[str] = []
    i = 0
    while i < len(name):
        ch = name[i]
        if name[i:i + 2] in ("OE", "AE") and draw(st.booleans()):
            out.append({"OE": "Œ", "AE": "Æ"}[name[i:i + 2]])
            i += 2
            continue
        if ch in "-' ":
            while i + 1 < len(name) and name[i + 1] in "-' ":
                i += 1
            out.append(draw(st.sampled_from(["-", " ", "'", "’", " - ", "  ", " ' "])))
        elif ch in _ACCENTS and draw(st.integers(0, 3)) == 0:
            out.append(draw(st.sampled_from(_ACCENTS[ch])))
        elif ch.isalpha() and draw(st.integers(0, 5)) == 0:
            out.append(ch + "\u0301")  # a combining accent on any letter
        else:
            out.append(ch)
        i += 1
    text = "".join(out)
    text = "".join(c.lower() if draw(st.booleans()) else c for c in text)
    return draw(st.sampled_from(["", " "])) + unicodedata.normalize(draw(st.sampled_from(["NFC", "NFD"])), text) + \
        draw(st.sampled_from(["", "  "]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_spelling_variant_the_rules_equate_matches(base, population, data):
    record = data.draw(st.sampled_from(population))
    t = record["traits"]
    use_document = data.draw(st.booleans())  # start from the ID document's spelling (accents, mixed case)
    birth_name = record["document_spelling"]["birth_name"] if use_document else t["birth_name"]
    index = data.draw(st.integers(0, len(t["first_names"]) - 1))
    first = record["document_spelling"]["first_names"][index] if use_document else t["first_names"][index]
    name_variant = data.draw(spelling_variant(comparable(birth_name, "strict")))
    first_variant = data.draw(spelling_variant(comparable(first, "strict")))
    result = traits(base, TraitQuery(name_variant, (first_variant,), t["sex"].lower(), t["birth_date"]))
    assert record["ins"]["nir"] in {c.nir for c in result.candidates}, (name_variant, first_variant)
    assert result.code == ("02" if "homonym" in record["edge_cases"] else "00")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_the_whole_first_name_list_in_any_spelling_matches(base, population, data):
    record = data.draw(st.sampled_from(population))
    t = record["traits"]
    whole = data.draw(spelling_variant(" ".join(t["first_names"])))
    result = traits(base, TraitQuery(t["birth_name"], (whole,), t["sex"], t["birth_date"]))
    assert record["ins"]["nir"] in {c.nir for c in result.candidates}


# -- CNAM semantics on the population ---------------------------------------------------------------------


def test_every_patient_is_found_by_traits_and_homonyms_answer_02(base, population):
    for record in population:
        t = record["traits"]
        result = traits(base, TraitQuery(t["birth_name"], (t["first_name"],), t["sex"], t["birth_date"]))
        if "homonym" in record["edge_cases"]:
            assert result.code == "02" and len(result.candidates) == 2
            # same strict traits and birthplace: LieuNaissance cannot break it
            again = traits(base, replace(TraitQuery(t["birth_name"], (t["first_name"],), t["sex"], t["birth_date"]),
                                         birth_place=t["birth_place"]))
            assert again.code == "02"
        else:
            assert result.code == "00", record["id"]
            assert result.identity.ins == record["ins"]["nir"] + record["ins"]["key"]


def test_wrong_trait_gives_01(base, population):
    t = population[7]["traits"]
    other_sex = "F" if t["sex"] == "M" else "M"
    assert traits(base, TraitQuery(t["birth_name"], (t["first_name"],), other_sex, t["birth_date"])).code == "01"
    assert traits(base, TraitQuery(t["birth_name"] + "X", (t["first_name"],), t["sex"], t["birth_date"])).code == "01"
    assert traits(base, TraitQuery(t["birth_name"], ("ZZZ",), t["sex"], t["birth_date"])).code == "01"


def test_vitale_finds_the_right_beneficiary_of_each_card(base, population):
    for record in population:
        card = record["vitale"]
        me = next(b for b in card["beneficiaries"] if b["nir"] == record["ins"]["nir"])
        ins = record["ins"]["nir"] + record["ins"]["key"]
        by_nir = vitale(base, VitaleQuery(Matricule(me["nir"], me["key"]), Matricule(card["insured"]["nir"]),
                                          me["birth_name"], me["birth_date"], me["birth_rank"]))
        assert (by_nir.code, by_nir.ins) == ("00", ins)
        by_card = vitale(base, VitaleQuery(None, Matricule(card["insured"]["nir"], card["insured"]["key"]),
                                           me["birth_name"], me["birth_date"], me["birth_rank"]))
        assert (by_card.code, by_card.ins) == ("00", ins), record["id"]


def test_twins_need_their_birth_rank(base, population):
    twins = [r for r in population if "twin" in r["edge_cases"]]
    assert len(twins) >= 2
    first = twins[0]
    card = first["vitale"]
    pair = [b for b in card["beneficiaries"] if b["birth_date"] == first["traits"]["birth_date"]
            and b["quality"] == "ENFANT"]
    assert sorted(b["birth_rank"] for b in pair) == [1, 2]
    without_rank = vitale(base, VitaleQuery(None, Matricule(card["insured"]["nir"]), None, pair[0]["birth_date"]))
    assert without_rank.code == "02"
    for twin in pair:
        found = vitale(base, VitaleQuery(None, Matricule(card["insured"]["nir"]), None, twin["birth_date"],
                                         twin["birth_rank"]))
        assert found.code == "00" and found.identity.nir == twin["nir"]


@pytest.mark.parametrize("tag", ["nia", "corsica", "ins_history", "unknown_birth_date", "born_abroad", "apostrophe",
                                 "compound_name", "diacritics", "long_name", "overseas"])
def test_edge_cases_are_found(base, population, tag):
    records = [r for r in population if tag in r["edge_cases"] and "homonym" not in r["edge_cases"]]
    assert records, f"no {tag} in the sample"
    for record in records:
        t = record["traits"]
        result = traits(base, TraitQuery(t["birth_name"], (t["first_name"],), t["sex"], t["birth_date"]))
        assert result.code == "00"
        identity = result.identity
        if tag == "nia":
            assert identity.oid == "1.2.250.1.213.1.4.9" and identity.matricule_type == "NIA"
        if tag == "corsica":
            assert identity.nir[5:7] in ("2A", "2B") and identity.birth_place[:2] in ("2A", "2B")
        if tag == "ins_history":
            (old,) = identity.history
            assert old.type == "NIA" and old.oid == "1.2.250.1.213.1.4.9" and old.date_end
            assert identity.oid == "1.2.250.1.213.1.4.10"
            # a Vitale card still carrying the old NIA answers the person's active NIR (NIA → NIR)
            by_old = vitale(base, VitaleQuery(Matricule(old.nir, old.key), None))
            assert by_old.code == "00" and by_old.identity.nir == identity.nir


def test_birth_place_breaks_a_02_and_filter_mode(base):
    q = TraitQuery("DE VINCI", ("LEONARDO",), "M", "2014-02-01")
    assert traits(base, q).code == "02"
    assert traits(base, replace(q, birth_place="63113")).identity.nir == "1140263113902"
    assert traits(base, replace(q, birth_place="99999")).code == "02"  # no candidate there: still ambiguous
    filtering = replace(DEFAULT_RULES, birth_place="filter")
    assert traits(base, replace(q, birth_place="99999"), filtering).code == "01"
    adrun = TraitQuery("ADRUN", ("ZOE",), "F", "1975-12-31", "2A020")
    assert traits(base, adrun).code == "00"  # one candidate: the birth place is not a criterion
    assert traits(base, adrun, filtering).code == "01"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_cnda_cases_at_the_matching_level(base, case):
    result = traits(base, case.query)
    assert result.code == case.code
    if case.ins:
        assert result.identity.ins == case.ins and result.identity.oid == case.oid
        assert tuple(h.ins for h in result.identity.history) == case.history


def test_vitale_key_check_and_unknown_beneficiary_fallback(base):
    hermann = Matricule("1810363220456", "76")  # the mod-97 key, not the CNDA's 60
    assert vitale(base, VitaleQuery(hermann, None)).code == "00"
    assert vitale(base, VitaleQuery(hermann, None), replace(DEFAULT_RULES, vitale_check_key=True)).code == "01"
    unknown = VitaleQuery(Matricule("1999999999999"), Matricule("2751263220749"), None, "1975-12-31", 1)
    assert vitale(base, unknown).identity.nir == "2751263220749"
    assert vitale(base, unknown, replace(DEFAULT_RULES, vitale_fallback_to_insured=False)).code == "01"


def test_verification_codes(base):
    def check(q: VerificationQuery):
        with base.transaction(readonly=True) as tx:
            return verify_ins(tx.identities, WS, q)

    ok = VerificationQuery(Matricule("1090763220834", "89"), "1.2.250.1.213.1.4.8", "ECETINSI", ("MURIEL",), None,
                           "M", "2009-07-14", "63220")
    assert check(ok).code == "00"
    assert check(replace(ok, list_prenom="PIERRE-ALAIN MURIEL FLORIANT")).code == "00"
    assert check(replace(ok, ins=Matricule("1090763220834", "12"))).code == "01"  # wrong key
    assert check(replace(ok, ins=Matricule("1999999999999", "12"))).code == "01"
    assert check(replace(ok, birth_date="2009-07-15")).code == "03"
    assert check(replace(ok, first_names=("OLA",))).code == "03"
    inactive = check(replace(ok, ins=Matricule("2090663220123", "55")))
    assert inactive.code == "04" and inactive.identity.nir == "1090763220834"


# -- the repository, on SQLite and PostgreSQL ------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_url(make_pg_schema) -> Iterator[str]:
    yield from make_pg_schema("segur_insi")


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path) -> Iterator[Store]:
    url = sqlite_url(tmp_path / "s.db") if request.param == "sqlite" else request.getfixturevalue("pg_url")
    store = Store(url)
    yield store
    store.dispose()


@pytest.fixture
def ws(store) -> Iterator[str]:
    name = f"insi-{uuid.uuid4().hex[:8]}"
    with store.transaction() as tx:
        tx.workspaces.create(name)
    yield name
    with store.transaction() as tx:
        tx.workspaces.delete(name)


def test_repository_round_trip_and_history_replacement(store, ws):
    person = _identity("1800175056001", "D'ALMEIDA", "JEAN-PIERRE PAUL", history=(
        HistoricMatricule("1800199101001", "40", "1.2.250.1.213.1.4.9", "NIA", None, "2020-01-01"),),
        insured_nir="1800175056001", birth_rank=1)
    with store.transaction() as tx:
        tx.identities.upsert(ws, person)
    with store.transaction(readonly=True) as tx:
        assert tx.identities.get(ws, person.nir) == person
        assert tx.identities.find_by_traits(ws, "d almeida", "1980-01-01", "M") == (person,)
        assert tx.identities.find_by_matricule(ws, "1800199101001") == (person,)
        assert tx.identities.find_by_insured(ws, "1800175056001", "1980-01-01") == (person,)
        assert tx.identities.find_by_traits(ws, "d almeida", "1980-01-02", "M") == ()
    changed = replace(person, history=(), first_names=("JEAN-PIERRE",))
    with store.transaction() as tx:
        tx.identities.upsert_many(ws, [changed])
        assert tx.identities.find_by_matricule(ws, "1800199101001") == ()
        assert tx.identities.get(ws, person.nir) == changed
        assert tx.identities.count(ws) == 1
    with store.transaction() as tx:
        tx.workspaces.reset(ws)
        assert tx.identities.count(ws) == 0


def test_repository_bulk_insert_clear_and_cascade(store, ws):
    people = [_identity(f"18001750560{n:02d}", f"NOM{n}", "PRENOM", source="bench") for n in range(30)]
    with store.transaction() as tx:
        assert tx.identities.insert_new(ws, people, batch=7) == 30
        seed_cnda_identities(tx, ws)
        assert tx.identities.count(ws, source="bench") == 30
        assert tx.identities.clear(ws, source="bench") == 30
        assert tx.identities.count(ws) == len(IDENTITIES)
        assert tx.identities.delete(ws, IDENTITIES[3].nir)
    with store.transaction(readonly=True) as tx:
        assert tx.identities.find_by_matricule(ws, IDENTITIES[3].nir) == ()


def test_trait_search_is_an_index_lookup(store, ws):
    rng = random.Random(3)
    people = [_identity(f"1{n:012d}", f"NOM{rng.randrange(500)}", "PRENOM", born=f"19{rng.randrange(10, 99)}-0"
                        f"{rng.randrange(1, 10)}-1{rng.randrange(10)}", insured_nir=f"1{n:012d}") for n in range(3000)]
    sql = ("SELECT * FROM identities WHERE workspace = :w AND birth_name_key = :k AND birth_date = :d AND sex = :s")
    params = {"w": ws, "k": "NOM1", "d": "1950-01-10", "s": "M"}
    with store.transaction() as tx:
        tx.identities.insert_new(ws, people)
        tx.connection.execute(text("ANALYZE identities" if store.dialect == "postgresql" else "ANALYZE"))
        if store.dialect == "sqlite":
            plan = " ".join(str(row[-1]) for row in tx.connection.execute(text("EXPLAIN QUERY PLAN " + sql), params))
        else:
            plan = " ".join(row[0] for row in tx.connection.execute(text("EXPLAIN " + sql), params))
    assert "ix_identities_workspace_birth_name_key_birth_date_sex" in plan, plan
    assert "Seq Scan" not in plan and "SCAN identities" not in plan, plan


def test_seeded_identities_are_deterministic(population):
    again = list(PopulationGenerator(PopulationConfig(seed=11, patients=400)).patients())
    assert [Identity.from_record(r) for r in again] == [Identity.from_record(r) for r in population]
