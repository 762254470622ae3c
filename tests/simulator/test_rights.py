"""The DMP rights service: the PDT-INF-526 v1.8 matrix transcription, profiles, decisions, visibility."""
from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest

from segur_sandbox.simulator.dmp.faults import DmpFault
from segur_sandbox.simulator.dmp.rights import (
    DocumentFacts, RightsSettings, can_retrieve, column_for, decide, load_matrix, require, require_retrieve,
    retrieve_rows, search_action, visible_in_search,
)
from segur_sandbox.simulator.dmp.rights.matrix import Cell, parse_matrix
from segur_sandbox.simulator.security.principal import Coded, PatientRef, Principal

MATRIX = load_matrix()
MATRIX_JSON = Path(__file__).resolve().parents[2] / "simulator" / "dmp" / "rights" / "matrix.json"

# The rows of the table of spec dmp.md §1.12, copied verbatim (not retyped): any typo in matrix.json shows here.
SPEC_TABLE = """\
| Action | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10 | 11 | 12 |
|---|---|---|---|---|---|---|---|---|---|---|---|---|
| TD0.0 Acquisition identité patient (11) | Y | Y | Y | Y | Y | Y | Y | Y | Y | Y | Y | Y |
| TD0.1 Authentification | Y | Y | Y | Y | Y | Y | Y | Y | Y | Y | Y | Y |
| TD0.2 Test d'existence + autorisation | Y | Y | Y | Y | Y | Y | Y | Y | Y | Y | Y | Y |
| TD0.3 Se déclarer autorisé | Y | n | n | Y | n | n | n | Y | n | Y(1) | n | n |
| TD0.3 Supprimer son autorisation | Y | n | n | Y | n | n | n | Y | n | n | n | n |
| TD0.3 Se supprimer MT | n | n | n | n | n | n | n | Y | n | n | n | n |
| TD0.4 Liste des DMP autorisés | Y | Y | Y | Y | Y | Y | Y | Y | Y | Y(2) | Y(3) | n |
| TD0.5 Recherche patient sans INS | n | Y | n | n | Y | n | n | n | n | n | n | Y |
| TD0.9 Accès Web PS contextuel | Y | Y | Y | Y | Y | Y | Y | Y | Y | Y | n | n |
| TD1.3a Consultation données admin. | Y | Y | Y | Y | Y | Y | Y | Y | Y | Y | Y | Y |
| TD1.6 Liste PS autorisés/bloqués | Y | n | n | Y | n | n | Y | Y | n | n | n | n |
| TD2.1 Alimentation | Y | Y | Y | Y | Y | Y | Y | Y | Y | n | Y(4) | Y(4) |
| TD2.2 Alimentation par CPE (secrétaire libérale) | n | n | n | n | n | n | n | n | n | Y(4) | n | n |
| TD3.1 Rechercher les métadonnées | Y | Y | Y | Y | Y | Y | Y | Y | Y | n | n | n |
| TD3.1 Rechercher la référence d'un document | Y | Y | Y | Y | Y | Y | Y | Y | Y | Y(5) | Y(5) | Y(5) |
| TD3.2 Docs non masqués aux PS | Y | Y | Y | Y | Y | Y | n | Y | Y | n | n | n |
| TD3.2 Docs masqués aux PS | Y(6) | Y(7) | Y(7) | Y(6) | Y(7) | Y(7) | n | Y | Y(7) | n | n | n |
| TD3.2 Docs non visibles patient / RL | Y | Y | Y | Y | Y | Y | n | Y | Y | n | n | n |
| TD3.2 Docs archivés | Y | Y | Y | Y | Y | Y | n | Y | Y | n | n | n |
| TD3.2 Docs obsolètes (anciennes versions) | Y | Y | Y | Y | Y | Y | n | Y | Y | n | n | n |
| TD3.2 Docs supprimés | Y | Y | Y | Y | Y | Y | n | Y | Y | n | n | n |
| TD3.3a Masquer aux PS | Y | n | n | Y | n | n | Y | Y | n | n | n | n |
| TD3.3a Démasquer aux PS | Y(8) | n | n | Y(8) | n | n | Y(8) | Y | n | n | n | n |
| TD3.3b Rendre visible au patient | Y | n | n | Y | n | n | Y | Y | n | n | n | n |
| TD3.3d Archiver * | Y(8) | n | n | Y(8) | Y | Y | Y(8) | Y | Y | n | n | n |
| TD3.3d Désarchiver * | Y(8) | n | n | Y(8) | Y | Y | Y(8) | Y | Y | n | n | n |
| TD3.3c Supprimer * | Y(8) | Y(8) | Y(8) | Y(8) | Y(8) | Y(8) | Y(8) | Y(8) | Y(8) | Y(9) | Y(9) | Y(9) |
"""

SPEC_FILE = Path("/work/shared/spec/dmp.md")  # the brief the table comes from, when present (not in the repo)

ACTIONS = [
    "TD0.0", "TD0.1", "TD0.2", "TD0.3.add", "TD0.3.remove", "TD0.3.remove_mt", "TD0.4", "TD0.5", "TD0.9", "TD1.3a",
    "TD1.6", "TD2.1", "TD2.2", "TD3.1.metadata", "TD3.1.reference", "TD3.2.visible", "TD3.2.masked",
    "TD3.2.invisible_patient", "TD3.2.archived", "TD3.2.deprecated", "TD3.2.deleted", "TD3.3a.mask",
    "TD3.3a.unmask", "TD3.3b.visibility", "TD3.3d.archive", "TD3.3d.unarchive", "TD3.3c.delete",
]
CONDITION_FOOTNOTES = (4, 6, 7, 8, 9)
STRUCTURE = "499900063480001"
OTHER_STRUCTURE = "10B0127189"
OTHER_PS = "899700366240"
PATIENT = PatientRef("279035121518989", "1.2.250.1.213.1.4.10")


def _table_rows(text: str) -> list[tuple[str, list[str]]]:
    rows = []
    for line in text.splitlines():
        if line.startswith("| TD"):
            parts = [p.strip() for p in line.strip().strip("|").split("|")]
            rows.append((parts[0], parts[1:]))
    return rows


# --- principals, one per column ---------------------------------------------------------------------------

def make_principal(
    *, auth_mode="DIRECTE", profession: str | None = "10", specialty: str | None = "SM26", purpose="normal",
    card_type="CPS", name_id="899900063480", structure_id=STRUCTURE,
) -> Principal:
    roles = tuple(Coded(c) for c in (profession, specialty) if c) or (Coded("SECRETARIAT_MEDICAL"),)
    return Principal(
        assertion_id="_a1", issue_instant=datetime(2026, 1, 1, tzinfo=timezone.utc), auth_mode=auth_mode,
        name_id=name_id, structure_id=structure_id, sector="SA07", roles=roles, profession=profession,
        specialty=specialty, purpose=purpose, patient=PATIENT, card_type=card_type,
    )


NURSE = dict(profession="60", specialty=None)
PROFILES: dict[int, tuple[dict, bool]] = {  # column → (principal arguments, is_mt)
    1: (dict(NURSE), False),
    2: (dict(NURSE, purpose="centre_15"), False),
    3: (dict(NURSE, purpose="bris_de_glace"), False),
    4: ({}, False),
    5: (dict(purpose="centre_15"), False),
    6: (dict(purpose="bris_de_glace"), False),
    7: (dict(specialty="SM25"), False),
    8: ({}, True),
    9: (dict(purpose="bris_de_glace"), True),
    10: (dict(card_type="CPE", profession=None, specialty=None, name_id=f"3{STRUCTURE}/CPET0001"), False),
    11: (dict(auth_mode="INDIRECTE", card_type=None), False),
    12: (dict(auth_mode="INDIRECTE", card_type=None, purpose="centre_15"), False),
}


def profile(column: int) -> tuple[Principal, bool]:
    kwargs, is_mt = PROFILES[column]
    return make_principal(**kwargs), is_mt


def document_for(principal: Principal, action: str, **changes) -> DocumentFacts:
    """A document meeting every footnote condition for ``principal`` (author, structure, patient permission)."""
    facts = dict(
        author_ids={principal.name_id}, author_institution_ids={principal.structure_id}, class_code="11",
        type_code="11490-0", confidentiality={"N"}, status="Approved", patient_allows_emergency_access_to_masked=True,
    )
    if action == "TD3.2.masked" or action == "TD3.3a.unmask":
        facts["confidentiality"] = {"N", "MASQUE_PS"}
    elif action == "TD3.2.invisible_patient":
        facts["confidentiality"] = {"N", "INVISIBLE_PATIENT"}
    facts["status"] = {"TD3.2.archived": "Archived", "TD3.2.deprecated": "Deprecated", "TD3.2.deleted": "Deleted",
                       "TD3.3d.unarchive": "Archived"}.get(action, "Approved")
    facts.update(changes)
    return DocumentFacts(**facts)


def failing(principal: Principal, action: str, footnote: int) -> DocumentFacts:
    """A document that breaks ``footnote``'s condition (and only that one)."""
    if footnote in (6, 8):
        return document_for(principal, action, author_ids={OTHER_PS})
    if footnote == 7:
        return document_for(principal, action, author_ids={OTHER_PS}, patient_allows_emergency_access_to_masked=False)
    return document_for(principal, action, author_institution_ids={OTHER_STRUCTURE})  # (4), (9)


ALL_CELLS = [(row.id, col) for row in MATRIX.rows for col in range(1, 13)]
CONDITIONAL_CELLS = [
    (row.id, col, n) for row in MATRIX.rows for col in range(1, 13) for n in row.cell(col).footnotes
    if n in CONDITION_FOOTNOTES
]


# --- the transcription ------------------------------------------------------------------------------------

def test_source_and_version():
    assert (MATRIX.source, MATRIX.version, MATRIX.date) == ("PDT-INF-526", "1.8", "2024-09-25")
    assert MATRIX.citation == "PDT-INF-526 v1.8, 25/09/2024"
    assert [c.number for c in MATRIX.columns] == list(range(1, 13))
    assert sorted(MATRIX.footnotes, key=lambda k: (k != "*", int(k) if k.isdigit() else 0)) == \
        ["*"] + [str(n) for n in range(1, 12)]


def test_row_count_and_ids():
    assert len(MATRIX.rows) == 27
    assert list(MATRIX.actions) == ACTIONS
    for row in MATRIX.rows:
        assert row.id == row.td or row.id.startswith(row.td + "."), row.id
        assert len(row.cells) == 12


def test_every_row_matches_the_spec_text():
    spec = _table_rows(SPEC_TABLE)
    assert len(spec) == 27
    for row, (label, cells) in zip(MATRIX.rows, spec):
        assert row.label == label
        assert [c.text for c in row.cells] == cells, row.id
        assert row.star == label.endswith(" *")
        assert row.row_footnotes == tuple(int(n) for n in re.findall(r"\((\d+)\)$", label))


def test_a_few_cells_verbatim():
    cells = {row.id: [c.text for c in row.cells] for row in MATRIX.rows}
    assert cells["TD3.2.masked"] == ["Y(6)", "Y(7)", "Y(7)", "Y(6)", "Y(7)", "Y(7)", "n", "Y", "Y(7)", "n", "n", "n"]
    assert cells["TD3.3c.delete"] == ["Y(8)"] * 9 + ["Y(9)"] * 3
    assert cells["TD3.3d.archive"] == ["Y(8)", "n", "n", "Y(8)", "Y", "Y", "Y(8)", "Y", "Y", "n", "n", "n"]
    assert cells["TD0.3.add"][9] == "Y(1)"
    assert cells["TD0.4"][9:] == ["Y(2)", "Y(3)", "n"]
    assert cells["TD0.5"] == ["n", "Y", "n", "n", "Y", "n", "n", "n", "n", "n", "n", "Y"]
    assert cells["TD0.3.remove_mt"] == ["n"] * 7 + ["Y"] + ["n"] * 4
    assert cells["TD3.1.reference"][9:] == ["Y(5)"] * 3
    assert cells["TD2.1"][9:] == ["n", "Y(4)", "Y(4)"] and cells["TD2.2"][9] == "Y(4)"
    assert MATRIX.row("TD0.0").label == "TD0.0 Acquisition identité patient (11)"
    assert MATRIX.row("TD0.0").row_footnotes == (11,)
    assert [r.id for r in MATRIX.rows if r.star] == ["TD3.3d.archive", "TD3.3d.unarchive", "TD3.3c.delete"]


@pytest.mark.skipif(not SPEC_FILE.exists(), reason="spec brief not available here")
def test_every_row_matches_the_live_spec():
    text = SPEC_FILE.read_text(encoding="utf-8")
    section = text[text.index("### 1.12 Rights matrix"):text.index("## 2. VIHF")]
    assert "PDT-INF-526 v1.8, 25/09/2024" in section
    spec = _table_rows(section)
    assert [(r.label, [c.text for c in r.cells]) for r in MATRIX.rows] == spec


def test_cell_grammar():
    assert Cell.parse("Y(8)") == Cell("Y(8)", True, (8,))
    assert Cell.parse("n") == Cell("n", False, ())
    for bad in ("y", "N", "Y (8)", "Y(x)", "", "oui"):
        with pytest.raises(ValueError):
            Cell.parse(bad)


def test_malformed_data_is_refused():
    data = json.loads(MATRIX_JSON.read_text(encoding="utf-8"))
    short = json.loads(json.dumps(data))
    short["rows"][0]["cells"] = short["rows"][0]["cells"][:11]
    with pytest.raises(ValueError, match="11 cellules"):
        parse_matrix(short)
    unknown = json.loads(json.dumps(data))
    unknown["rows"][3]["cells"][0] = "Y(12)"
    with pytest.raises(ValueError, match=r"note \(12\)"):
        parse_matrix(unknown)
    with pytest.raises(KeyError):
        MATRIX.row("TD9.9")


# --- profiles -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("column", range(1, 13))
def test_each_profile_lands_in_its_column(column):
    principal, is_mt = profile(column)
    assert column_for(principal, is_mt=is_mt, occupational_specialties=frozenset({"SM25"})) == column
    assert column_for(principal, is_mt=is_mt) == column


def test_column_edge_choices():
    doctor = make_principal
    assert column_for(doctor(purpose="centre_15"), is_mt=True) == 5  # MT in régulation → médecin régulation
    assert column_for(doctor(auth_mode="INDIRECTE", purpose="bris_de_glace"), is_mt=False) == 11
    assert column_for(doctor(auth_mode="INDIRECTE"), is_mt=True) == 11  # MT status ignored in indirect mode
    assert column_for(doctor(**NURSE), is_mt=True) == 1  # a non-médecin is never the MT's column
    assert column_for(doctor(specialty="SM25", purpose="bris_de_glace"), is_mt=True) == 7  # "sans objet"
    assert column_for(doctor(specialty="G15_10/SM25"), is_mt=False) == 7
    assert column_for(doctor(card_type=None, profession=None, specialty=None), is_mt=False) == 10  # unsigned, non-PS
    assert column_for(doctor(card_type=None), is_mt=False) == 4  # unsigned, a médecin
    assert column_for(doctor(card_type="CPF", **NURSE), is_mt=False) == 1


def test_air_is_indirect_by_default_and_configurable():
    air = make_principal(auth_mode="INDIRECTE_RENFORCEE", card_type=None)
    air_15 = make_principal(auth_mode="INDIRECTE_RENFORCEE", card_type=None, purpose="centre_15")
    assert column_for(air, is_mt=True) == 11
    assert column_for(air_15, is_mt=False) == 12
    direct = RightsSettings(air_mode="direct")
    assert column_for(air, is_mt=False, settings=direct) == 4
    assert column_for(air, is_mt=True, settings=direct) == 8
    assert column_for(air_15, is_mt=False, settings=direct) == 5
    assert not decide("TD3.2.visible", air, is_mt=False).allowed
    assert decide("TD3.2.visible", air, is_mt=False, settings=direct).allowed
    with pytest.raises(ValueError):
        RightsSettings(air_mode="strong")


def test_occupational_specialties_are_configurable():
    custom = make_principal(specialty="SM99")
    assert column_for(custom, is_mt=False) == 4
    assert column_for(custom, is_mt=False, occupational_specialties=frozenset({"SM99"})) == 7
    assert column_for(custom, is_mt=False, settings=RightsSettings(occupational_specialties={"SM99"})) == 7
    sm25 = make_principal(specialty="SM25")
    assert column_for(sm25, is_mt=False, settings=RightsSettings(occupational_specialties=frozenset())) == 4
    assert column_for(sm25, is_mt=False, occupational_specialties=frozenset()) == 4
    assert decide("TD3.2.visible", sm25, is_mt=False).allowed is False
    assert decide("TD3.2.visible", sm25, is_mt=False,
                  settings=RightsSettings(occupational_specialties=frozenset())).allowed is True
    nurse = make_principal(profession="60", specialty="SM25")  # the code makes a *médecin* du travail only
    assert column_for(nurse, is_mt=False) == 1


# --- every cell ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("action", "column"), ALL_CELLS)
def test_every_cell(action, column):
    principal, is_mt = profile(column)
    assert column_for(principal, is_mt=is_mt) == column
    cell = MATRIX.row(action).cell(column)
    decision = decide(action, principal, is_mt=is_mt, document=document_for(principal, action))
    assert decision.allowed is cell.allowed
    assert (decision.column, decision.cell, decision.action) == (column, cell.text, action)
    assert decision.footnotes[:len(cell.footnotes)] == cell.footnotes
    assert decision.profile == MATRIX.column(column).label
    assert f"Action {MATRIX.row(action).td} (" in decision.reason
    assert f"« {MATRIX.column(column).label} »" in decision.reason
    assert ("non autorisée" in decision.reason) is not cell.allowed
    assert decision.pending == ()


@pytest.mark.parametrize(("action", "column", "footnote"), CONDITIONAL_CELLS)
def test_every_footnote_condition_that_fails_is_refused(action, column, footnote):
    principal, is_mt = profile(column)
    decision = decide(action, principal, is_mt=is_mt, document=failing(principal, action, footnote))
    assert not decision.allowed
    assert f"note ({footnote})" in decision.reason
    assert MATRIX.footnote(footnote).fr in decision.reason
    with pytest.raises(DmpFault) as raised:
        require(action, principal, is_mt=is_mt, document=failing(principal, action, footnote))
    assert raised.value.dmp_code == "DMPAccessDeniedByRightsService"
    assert raised.value.reason == decision.reason


def test_conditional_cells_cover_every_condition_footnote():
    assert {n for _, _, n in CONDITIONAL_CELLS} == set(CONDITION_FOOTNOTES)


def test_refusal_reason_wording():
    nurse, _ = profile(1)
    doc = document_for(nurse, "TD3.2.masked", author_ids={OTHER_PS})
    with pytest.raises(DmpFault) as raised:
        require("TD3.2.masked", nurse, is_mt=False, document=doc)
    assert raised.value.reason.startswith(
        "Action TD3.2 (documents masqués aux PS) non autorisée pour le profil « PS non médecin, accès normal »")
    assert "matrice des droits PDT-INF-526 v1.8" in raised.value.reason
    cpe, _ = profile(10)
    with pytest.raises(DmpFault) as raised:
        require("TD3.1.metadata", cpe, is_mt=False)
    assert raised.value.reason == (
        "Action TD3.1 (recherche sur les métadonnées des documents) non autorisée pour le profil "
        "« Non PS (secrétariat, CPE), accès normal » (matrice des droits PDT-INF-526 v1.8, 25/09/2024)")
    assert require("TD0.2", cpe, is_mt=False).allowed


# --- footnotes: the patient's documents (*), notes, pending conditions, settings --------------------------

@pytest.mark.parametrize("action", ["TD3.3d.archive", "TD3.3d.unarchive", "TD3.3c.delete"])
@pytest.mark.parametrize("column", range(1, 13))
def test_patient_documents_only_for_the_mt(action, column):
    principal, is_mt = profile(column)
    cell = MATRIX.row(action).cell(column)
    # authored by the principal and his structure as well: only the "*" rule can refuse it
    doc = document_for(principal, action, class_code="90", type_code="DOCPAT01")
    assert doc.is_patient_authored
    decision = decide(action, principal, is_mt=is_mt, document=doc)
    assert decision.allowed is (cell.allowed and column in (8, 9))
    if cell.allowed and not decision.allowed:
        assert "note *" in decision.reason and "médecin traitant" in decision.reason


def test_mt_may_delete_a_patient_document_he_did_not_author():
    mt, _ = profile(8)
    doc = DocumentFacts(author_ids={"279035121518989"}, class_code="90", status="Archived")
    assert decide("TD3.3c.delete", mt, is_mt=True, document=doc).allowed
    assert decide("TD3.3d.unarchive", mt, is_mt=True, document=doc).allowed
    # his own-documents rule (8) still holds for a PS document
    ps_doc = DocumentFacts(author_ids={OTHER_PS}, class_code="11")
    assert "note (8)" in decide("TD3.3c.delete", mt, is_mt=True, document=ps_doc).reason
    # the MT in régulation lands in column 5 and keeps his MT right on the patient's documents
    mt_15 = make_principal(purpose="centre_15")
    assert decide("TD3.3d.archive", mt_15, is_mt=True, document=doc).allowed
    assert not decide("TD3.3d.archive", mt_15, is_mt=False, document=doc).allowed


def test_informative_footnotes_travel_as_notes():
    cpe, _ = profile(10)
    indirect, _ = profile(11)
    add = decide("TD0.3.add", cpe, is_mt=False)
    assert add.allowed and add.footnotes == (1,) and any(n.startswith("(1)") for n in add.notes)
    assert any(n.startswith("(2)") for n in decide("TD0.4", cpe, is_mt=False).notes)
    assert any(n.startswith("(3)") for n in decide("TD0.4", indirect, is_mt=False).notes)
    assert any(n.startswith("(5)") for n in decide("TD3.1.reference", indirect, is_mt=False).notes)
    td00 = decide("TD0.0", indirect, is_mt=False)
    assert td00.allowed and td00.footnotes == (11,) and any(n.startswith("(11)") for n in td00.notes)


def test_without_a_document_conditions_are_pending():
    doctor, _ = profile(4)
    delete = decide("TD3.3c.delete", doctor, is_mt=False)
    assert delete.allowed and delete.conditional and delete.pending == ("*", "8")
    masked = decide("TD3.2.masked", doctor, is_mt=False)
    assert masked.pending == ("6",)
    assert decide("TD3.2.visible", doctor, is_mt=False).pending == ()
    assert decide("TD3.3a.mask", doctor, is_mt=True).pending == ()
    assert decide("TD0.3.remove_mt", doctor, is_mt=False).pending == ()  # refused: nothing to check


def test_emergency_author_bypass_is_configurable():
    emergency, _ = profile(3)
    own_masked = document_for(emergency, "TD3.2.masked", patient_allows_emergency_access_to_masked=False)
    assert decide("TD3.2.masked", emergency, is_mt=False, document=own_masked).allowed
    strict = RightsSettings(author_bypasses_emergency_mask=False)
    decision = decide("TD3.2.masked", emergency, is_mt=False, document=own_masked, settings=strict)
    assert not decision.allowed and "note (7)" in decision.reason
    allowed = replace(own_masked, patient_allows_emergency_access_to_masked=True, author_ids={OTHER_PS})
    assert decide("TD3.2.masked", emergency, is_mt=False, document=allowed, settings=strict).allowed


def test_imputability_is_configurable():
    indirect, _ = profile(11)
    foreign = document_for(indirect, "TD2.1", author_institution_ids={OTHER_STRUCTURE})
    assert not decide("TD2.1", indirect, is_mt=False, document=foreign).allowed
    relaxed = decide("TD2.1", indirect, is_mt=False, document=foreign,
                     settings=RightsSettings(enforce_imputability=False))
    assert relaxed.allowed and any(n.startswith("(4)") for n in relaxed.notes)


# --- document facts -----------------------------------------------------------------------------------------

def test_document_facts_normalise_xds_values():
    doc = DocumentFacts(
        author_ids=["899900063480^LIBRE^MAX^^^^^^&1.2.250.1.71.4.2.1&ISO"],
        author_institution_ids=["CABINET DR LIBRE^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^499900063480001"],
        confidentiality=["N^2.16.840.1.113883.5.25", "MASQUE_PS^1.2.250.1.213.1.1.4.13"],
        status="urn:asip:ci-sis:2010:StatusType:Archived",
    )
    assert doc.author_ids == {"899900063480"}
    assert doc.author_institution_ids == {"499900063480001"}
    assert doc.confidentiality == {"N", "MASQUE_PS"} and doc.is_masked
    assert doc.status == "Archived"
    assert DocumentFacts(status="urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated").status == "Deprecated"
    with pytest.raises(ValueError):
        DocumentFacts(status="Unknown")


def test_patient_authored_is_derived():
    assert DocumentFacts(class_code="90").is_patient_authored
    assert DocumentFacts(type_code="DOCPAT03").is_patient_authored
    assert not DocumentFacts(class_code="11", type_code="11490-0").is_patient_authored
    assert not DocumentFacts(class_code="90", patient_authored=False).is_patient_authored
    assert DocumentFacts(confidentiality={"INVISIBLE_REPRESENTANTS_LEGAUX"}).is_invisible_to_patient


# --- visibility: search (TD3.1) and retrieve (TD3.2) ---------------------------------------------------------

def _doc(**kw) -> DocumentFacts:
    kw.setdefault("author_ids", {OTHER_PS})
    kw.setdefault("author_institution_ids", {OTHER_STRUCTURE})
    return DocumentFacts(**kw)


def test_search_statuses():
    doctor, _ = profile(4)
    approved, archived, deprecated, deleted = (_doc(status=s) for s in ("Approved", "Archived", "Deprecated",
                                                                         "Deleted"))
    assert visible_in_search(doctor, False, approved)
    assert not visible_in_search(doctor, False, archived)
    assert not visible_in_search(doctor, False, deprecated)
    everything = ["urn:oasis:names:tc:ebxml-regrep:StatusType:Approved", "urn:asip:ci-sis:2010:StatusType:Archived",
                  "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated", "urn:asip:ci-sis:2010:StatusType:Deleted"]
    assert visible_in_search(doctor, False, archived, statuses=everything)
    assert visible_in_search(doctor, False, deprecated, statuses=everything)
    assert not visible_in_search(doctor, False, deleted, statuses=everything)
    assert not visible_in_search(doctor, False, approved, statuses=["Archived"])


def test_search_masked_documents():
    nurse, _ = profile(1)
    masked = _doc(confidentiality={"N", "MASQUE_PS"})
    assert not visible_in_search(nurse, False, masked)
    assert visible_in_search(nurse, False, replace(masked, author_ids={nurse.name_id}))
    mt, _ = profile(8)
    assert visible_in_search(mt, True, masked)
    for column in (2, 3, 5, 6, 9):
        emergency, is_mt = profile(column)
        assert not visible_in_search(emergency, is_mt, masked), column
        assert visible_in_search(emergency, is_mt, replace(masked, patient_allows_emergency_access_to_masked=True))
    occupational, _ = profile(7)
    assert not visible_in_search(occupational, False, masked)
    assert visible_in_search(occupational, False, replace(masked, author_ids={occupational.name_id}))
    assert visible_in_search(occupational, False, _doc())
    for column in (10, 11, 12):
        caller, _ = profile(column)
        assert not visible_in_search(caller, False, masked)
        assert visible_in_search(caller, False, replace(masked, author_institution_ids={STRUCTURE}))


def test_search_invisible_to_patient_is_visible_to_ps():
    nurse, _ = profile(1)
    for code in ("INVISIBLE_PATIENT", "INVISIBLE_REPRESENTANTS_LEGAUX"):
        doc = _doc(confidentiality={"N", code})
        assert visible_in_search(nurse, False, doc)
        assert can_retrieve(nurse, False, doc).allowed


def test_retrieve_follows_the_matrix():
    doctor, _ = profile(4)
    assert retrieve_rows(_doc()) == ("TD3.2.visible",)
    assert retrieve_rows(_doc(status="Archived", confidentiality={"MASQUE_PS", "INVISIBLE_PATIENT"})) == (
        "TD3.2.invisible_patient", "TD3.2.archived", "TD3.2.masked")
    for status in ("Approved", "Archived", "Deprecated", "Deleted"):
        decision = can_retrieve(doctor, False, _doc(status=status))
        assert decision.allowed, status  # "Docs supprimés": Y for the PS columns
    for column in (7, 10, 11, 12):
        caller, is_mt = profile(column)
        decision = can_retrieve(caller, is_mt, _doc(author_ids={caller.name_id}))
        assert not decision.allowed and decision.action == "TD3.2.visible"
        with pytest.raises(DmpFault):
            require_retrieve(caller, is_mt, _doc())
    masked_archived = _doc(status="Archived", confidentiality={"MASQUE_PS"})
    refused = can_retrieve(doctor, False, masked_archived)
    assert not refused.allowed and "note (6)" in refused.reason
    own = can_retrieve(doctor, False, replace(masked_archived, author_ids={doctor.name_id}))
    assert own.allowed and own.action == "TD3.2.masked"
    mt, _ = profile(8)
    assert require_retrieve(mt, True, masked_archived).allowed


def test_search_action():
    assert search_action("urn:uuid:12941a89-e02e-4be5-967c-ce4bfc8fe492") == "TD3.1.reference"
    assert search_action("urn:uuid:5C4F972B-D56B-40AC-A5FC-C8CA9B40B9D4") == "TD3.1.reference"
    assert search_action("urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d") == "TD3.1.metadata"
    indirect, _ = profile(11)
    assert decide(search_action("urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4"), indirect, is_mt=False).allowed
    assert not decide(search_action("urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"), indirect, is_mt=False).allowed
