"""``segur-sandbox validate`` exit codes and output formats, ``segur-sandbox conformance rules``."""
from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree

from segur_sandbox.fixtures.documents import DocumentContext, build_document
from segur_sandbox.simulator.cli import main

PATIENT = {
    "id": "PAT-000001", "ipp": "000001",
    "ins": {"nir": "2850775114123", "key": "42", "oid": "1.2.250.1.213.1.4.10", "type": "NIR"},
    "traits": {"birth_name": "DUPONT", "first_names": ["MARIE"], "first_name": "MARIE", "sex": "F",
               "birth_date": "1985-07-12", "birth_place": "75114"},
    "used_name": None, "used_first_name": None, "identity_status": "QUAL",
    "address": {"line": "1 rue A", "postal_code": "75014", "city": "Paris", "country": "FR"},
    "phone": None, "emergency_contacts": [], "edge_cases": [], "vitale": {},
}
PHARMACIST = {
    "id": "PS-00001", "rpps": "99000000015", "id_nat": "899000000015", "family": "LEROY", "given": "JULIE",
    "sex": "F", "civility": "MME", "title": "DR", "profession": {"code": "21", "label": "Pharmacien"},
    "specialty": {"code": "G15_21/A", "codeSystem": "1.2.250.1.213.1.1.4.5",
                  "displayName": "Pharmacien titulaire d'officine"},
    "structure_id": "ST-0001", "phone": None, "email": None,
}
STRUCTURE = {
    "id": "ST-0001", "name": "PHARMACIE DES LILAS", "finess_ej": "750000019", "finess_eg": "750000027",
    "siret": "99000000000018", "id_nat": "1750000027",
    "secteur_activite": {"code": "SA33", "displayName": "Pharmacie d'officine"},
    "practice_setting": {"code": "AMBULATOIRE", "displayName": "Ambulatoire"},
    "address": {"line": "1 place de la Mairie", "postal_code": "75014", "city": "Paris", "country": "FR"},
    "phone": None,
}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("docs")
    when = datetime(2024, 4, 9, 15, 35, tzinfo=timezone(timedelta(hours=2)))
    good = build_document("VAC-NOTE", DocumentContext(PATIENT, PHARMACIST, STRUCTURE, when, random.Random(3)))
    root = etree.fromstring(good)
    root.find("{urn:hl7-org:v3}realmCode").set("code", "BE")
    paths = {"good": folder / "good.xml", "bad": folder / "bad.xml", "junk": folder / "junk.xml",
             "other": folder / "other.xml"}
    paths["good"].write_bytes(good)
    paths["bad"].write_bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    paths["junk"].write_bytes(b"this is not xml")
    paths["other"].write_bytes(b"<html/>")
    return paths


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, list(args))


def test_validate_exit_codes(files: dict[str, Path]) -> None:
    assert invoke("validate", str(files["good"])).exit_code == 0
    result = invoke("validate", str(files["good"]), str(files["bad"]))
    assert result.exit_code == 1
    assert "CDA-HDR-001" in result.output
    for name in ("junk", "other"):
        result = invoke("validate", str(files[name]))
        assert result.exit_code == 2
        assert "error:" in result.output
    assert invoke("validate", str(files["good"].parent / "missing.xml")).exit_code == 2


def test_validate_json(files: dict[str, Path]) -> None:
    result = invoke("validate", "--format", "json", str(files["good"]), str(files["bad"]))
    data = json.loads(result.output)
    assert data["ok"] is False
    assert [f["ok"] for f in data["files"]] == [True, False]
    assert [f["rule"] for f in data["files"][1]["findings"]] == ["CDA-HDR-001"]


def test_validate_junit(files: dict[str, Path]) -> None:
    result = invoke("validate", "--format", "junit", "--rule-set", "cda-header", str(files["good"]),
                    str(files["bad"]))
    assert result.exit_code == 1
    suites = etree.fromstring(result.output.encode("utf-8"))
    assert [s.get("name") for s in suites] == [str(files["good"]), str(files["bad"])]
    assert [s.get("failures") for s in suites] == ["0", "1"]
    assert len(suites[0].findall("testcase")) == 25  # the two N1-only header rules do not apply
    failure = suites[1].find("testcase/failure")
    assert failure.get("type") == "CDA-HDR-001"


def test_unknown_rule_set_is_a_usage_error(files: dict[str, Path]) -> None:
    assert invoke("validate", "--rule-set", "nope", str(files["good"])).exit_code == 2


def test_rules_catalogue_json() -> None:
    result = invoke("conformance", "rules", "--format", "json")
    assert result.exit_code == 0
    rules = json.loads(result.output)
    assert len(rules) == len({r["id"] for r in rules}) > 80
    assert all({"id", "severity", "refs", "title", "rule_set"} <= set(r) for r in rules)
    text = invoke("conformance", "rules")
    assert "CDA-HDR-001" in text.output
