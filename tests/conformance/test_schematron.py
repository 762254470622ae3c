"""``segur-sandbox validate --schematron-bundle DIR``: our ISO schematron compiler run by SaxonC-HE, pre-compiled
SVRL stylesheets, the SCH:<file>:<id> findings merged in every output format, exit codes 0/1/2."""
from __future__ import annotations

import json
import random
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from lxml import etree

from segur_sandbox.conformance.artifacts import load
from segur_sandbox.conformance.rules.engine import evaluate
from segur_sandbox.conformance.schematron import SchematronError, apply, load_bundle, parse_svrl
from segur_sandbox.fixtures import samples
from segur_sandbox.fixtures.documents import DocumentContext, build_document
from segur_sandbox.simulator.cli import main

DATA = Path(__file__).parent / "data"
BUNDLE = DATA / "schematron"
PRECOMPILED = DATA / "schematron-precompiled"
H = "{urn:hl7-org:v3}"

# what the test bundle finds on the broken copy (every id of cda-minimal.sch that can fail, and cda-extra's first
# pattern), and what it must never report
BROKEN_ERRORS = {
    "SCH:cda-minimal:document-id", "SCH:cda-minimal:title-present", "SCH:cda-minimal:typeId-root",
    "SCH:cda-minimal:effective-time", "SCH:cda-minimal:author-time", "SCH:cda-extra:1",
}
NEVER = {"SCH:cda-minimal:shadowed", "SCH:cda-minimal:never", "SCH:cda-minimal:realm", "SCH:cda-extra:2"}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("cda")
    when = datetime(2024, 4, 9, 15, 35, tzinfo=timezone(timedelta(hours=2)))
    good = build_document("VAC-NOTE", DocumentContext(samples.PATIENT, samples.PHARMACIST, samples.OFFICINE, when,
                                                      random.Random(3)))
    root = etree.fromstring(good)
    root.find(f"{H}title").text = "  "
    root.find(f"{H}typeId").set("root", "2.16.840.1.113883.1.99")
    root.remove(root.find(f"{H}id"))
    root.find(f"{H}effectiveTime").set("value", "2024-04-09")
    root.find(f"{H}author/{H}time").set("value", "09/04/2024")
    root.find(f"{H}languageCode").set("code", "en-US")
    root.find(f"{H}confidentialityCode").set("code", "R")
    root.find(f"{H}realmCode").set("code", "BE")
    paths = {"good": folder / "good.xml", "bad": folder / "bad.xml", "insi": folder / "insi.xml"}
    paths["good"].write_bytes(good)
    paths["bad"].write_bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    paths["insi"].write_bytes(_insi_request())
    return paths


def _insi_request() -> bytes:
    from segur_sandbox.simulator.insi.client import insi_envelope
    from segur_sandbox.simulator.insi.constants import TRAITS
    from segur_sandbox.simulator.insi.messages import traits_request
    envelope = insi_envelope(traits_request("DUPONT", ["MARIE"], "F", "1985-07-12"), TRAITS)
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("schematron-cache")


def invoke(cache: Path, *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env={"SEGUR_SANDBOX_SCHEMATRON_CACHE": str(cache)})


def sch_findings(data: dict, index: int) -> dict[str, str]:  # type: ignore[type-arg]
    """rule id -> severity of the SCH: findings of the index-th file of a JSON report."""
    return {f["rule"]: f["severity"] for f in data["files"][index]["findings"] if f["rule"].startswith("SCH:")}


# ------------------------------------------------------------------------------------------------ the bundle
def test_good_document_passes_with_only_the_warning_report(files: dict[str, Path], cache: Path) -> None:
    result = invoke(cache, "validate", "--format", "json", "--schematron-bundle", str(BUNDLE), str(files["good"]))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert sch_findings(data, 0) == {"SCH:cda-minimal:confidentiality-normal": "warning"}
    assert data["ok"] is True
    applied = data["files"][0]["rules_applied"]
    assert {"SCH:cda-minimal", "SCH:cda-extra", "SCH:cda-minimal:confidentiality-normal"} <= set(applied)
    assert "CDA-HDR-001" in applied  # the built-in rules still run


def test_broken_document_gives_the_exact_sch_ids(files: dict[str, Path], cache: Path) -> None:
    result = invoke(cache, "validate", "--format", "json", "--schematron-bundle", str(BUNDLE), str(files["good"]),
                    str(files["bad"]))
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    found = sch_findings(data, 1)
    assert {k for k, v in found.items() if v == "error"} == BROKEN_ERRORS
    assert {k for k, v in found.items() if v != "error"} == {"SCH:cda-minimal:language-fr"}  # role="warning"
    assert found["SCH:cda-minimal:language-fr"] == "warning"
    assert not NEVER & (set(found) | set(sch_findings(data, 0)))
    by_rule = {f["rule"]: f for f in data["files"][1]["findings"]}
    assert by_rule["SCH:cda-minimal:effective-time"]["location"] == "/cda:ClinicalDocument[1]/cda:effectiveTime[1]"
    assert "« 2024-04-09 »" in by_rule["SCH:cda-minimal:effective-time"]["message"]  # pattern-level let + value-of
    assert by_rule["SCH:cda-minimal:author-time"]["message"].startswith("author : ")  # abstract pattern, sch:name
    assert by_rule["SCH:cda-minimal:typeId-root"]["message"] == (  # schema-level let, then the diagnostic
        "typeId/@root doit valoir 2.16.840.1.113883.1.3. Trouvé : « 2.16.840.1.113883.1.99 ».")
    assert by_rule["SCH:cda-extra:1"]["message"] == "realmCode/@code doit valoir FR (trouvé BE)."
    assert by_rule["SCH:cda-extra:1"]["location"] == "/hl7:ClinicalDocument[1]/hl7:realmCode[1]"


def test_text_and_junit_include_the_sch_findings(files: dict[str, Path], cache: Path) -> None:
    text = invoke(cache, "validate", "--schematron-bundle", str(BUNDLE), str(files["bad"]))
    assert text.exit_code == 1
    assert "ERROR   SCH:cda-minimal:title-present: Le document doit avoir un titre (title non vide). at " \
           "/cda:ClinicalDocument[1]" in text.stdout
    assert "WARNING SCH:cda-minimal:language-fr:" in text.stdout

    junit = invoke(cache, "validate", "--format", "junit", "--rule-set", "cda-header", "--schematron-bundle",
                   str(BUNDLE), str(files["good"]), str(files["bad"]))
    assert junit.exit_code == 1
    suites = etree.fromstring(junit.stdout.encode("utf-8"))
    good, bad = suites
    assert good.get("failures") == "0"
    cases = {c.get("name").split()[0]: c for c in bad.iter("testcase")}
    assert {"SCH:cda-minimal", "SCH:cda-extra"} | BROKEN_ERRORS | {"SCH:cda-minimal:language-fr"} <= set(cases)
    failed = {c.find("failure").get("type") for c in bad.iter("testcase") if c.find("failure") is not None}
    assert {i for i in failed if i.startswith("SCH:")} == BROKEN_ERRORS
    assert "warning: La langue devrait être fr-FR." in cases["SCH:cda-minimal:language-fr"].findtext("system-out")
    assert all(c.get("classname") == "schematron" for name, c in cases.items() if name.startswith("SCH:"))


def test_precompiled_xsl_bundle(files: dict[str, Path], cache: Path) -> None:
    good = invoke(cache, "validate", "--format", "json", "--schematron-bundle", str(PRECOMPILED), str(files["good"]))
    assert good.exit_code == 0
    assert sch_findings(json.loads(good.stdout), 0) == {"SCH:cda-realm:has-set-id": "info"}  # report, role="info"
    bad = invoke(cache, "validate", "--format", "json", "--schematron-bundle", str(PRECOMPILED),
                 "--schematron-bundle", str(BUNDLE), str(files["bad"]))
    assert bad.exit_code == 1
    data = json.loads(bad.stdout)
    found = sch_findings(data, 0)
    assert found["SCH:cda-realm:realm"] == "error"  # no @id on the assert: the pattern id
    assert BROKEN_ERRORS <= set(found)  # both bundles merged
    realm = next(f for f in data["files"][0]["findings"] if f["rule"] == "SCH:cda-realm:realm")
    assert realm["location"] == "/*:ClinicalDocument[namespace-uri()='urn:hl7-org:v3'][1]"


def test_sch_beside_its_compiled_xsl_runs_the_xsl(files: dict[str, Path], cache: Path, tmp_path: Path) -> None:
    shutil.copy(BUNDLE / "cda-extra.sch", tmp_path / "cda-realm.sch")
    shutil.copy(PRECOMPILED / "cda-realm.xsl", tmp_path / "cda-realm.xsl")
    result = invoke(cache, "validate", "--format", "json", "--schematron-bundle", str(tmp_path), str(files["bad"]))
    assert result.exit_code == 1
    assert "cda-realm.sch: not compiled, the pre-compiled cda-realm.xsl beside it is run" in result.stderr
    assert set(sch_findings(json.loads(result.stdout), 0)) == {"SCH:cda-realm:realm", "SCH:cda-realm:has-set-id"}


def test_soap_input_is_skipped_with_a_note(files: dict[str, Path], cache: Path) -> None:
    result = invoke(cache, "validate", "--format", "json", "--schematron-bundle", str(BUNDLE), str(files["insi"]),
                    str(files["good"]))
    assert result.exit_code == 0, result.output
    assert f"note: {files['insi']} (soap): schematron bundles not run, they apply to CDA documents only" \
        in result.stderr
    data = json.loads(result.stdout)
    assert sch_findings(data, 0) == {}
    assert not any(r.startswith("SCH:") for r in data["files"][0]["rules_applied"])
    assert sch_findings(data, 1) == {"SCH:cda-minimal:confidentiality-normal": "warning"}


# ------------------------------------------------------------------------------------------------ exit 2
def test_missing_directory_is_exit_2(files: dict[str, Path], cache: Path, tmp_path: Path) -> None:
    result = invoke(cache, "validate", "--schematron-bundle", str(tmp_path / "nope"), str(files["good"]))
    assert result.exit_code == 2
    assert "does not exist" in result.stderr


def test_directory_without_schematron_is_exit_2(files: dict[str, Path], cache: Path, tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("nothing here")
    (tmp_path / "include").mkdir()
    shutil.copy(BUNDLE / "cda-extra.sch", tmp_path / "include" / "cda-extra.sch")  # sub-folders are not scanned
    result = invoke(cache, "validate", "--schematron-bundle", str(tmp_path), str(files["good"]))
    assert result.exit_code == 2
    assert f"error: schematron bundle {tmp_path}: no .sch or .xsl file in this directory" in result.stderr


@pytest.mark.parametrize(("content", "expected"), [
    ('<schema xmlns="http://purl.oclc.org/dsdl/schematron" queryBinding="xslt2"><ns prefix="c" uri="urn:x"/>'
     '<pattern><rule context="c:a"><assert test="count(c:b) = (">x</assert></rule></pattern></schema>',
     "XPST0003"),
    ('<schema xmlns="http://purl.oclc.org/dsdl/schematron"><pattern><rule context="a[">'
     '<assert test="true()">x</assert></rule></pattern></schema>', "does not compile"),
    ('<schema xmlns="http://purl.oclc.org/dsdl/schematron"><pattern><rule context="a"><extends rule="nope"/>'
     "</rule></pattern></schema>", "sch:extends rule='nope': no abstract rule with that id"),
    ('<schema xmlns="http://purl.oclc.org/dsdl/schematron"><include href="missing.sch"/></schema>',
     "cannot include 'missing.sch'"),
    ('<schema xmlns="http://purl.oclc.org/dsdl/schematron" queryBinding="stx"/>', "queryBinding 'stx'"),
    ("<schema xmlns='http://purl.oclc.org/dsdl/schematron'><pattern>", "not well-formed XML"),
    ("<schema xmlns='http://www.ascc.net/xml/schematron'/>", "not an ISO schematron"),
])
def test_schematron_that_does_not_compile_is_exit_2(files: dict[str, Path], cache: Path, tmp_path: Path,
                                                   content: str, expected: str) -> None:
    (tmp_path / "broken.sch").write_text(content, encoding="utf-8")
    result = invoke(cache, "validate", "--schematron-bundle", str(tmp_path), str(files["good"]))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert f"error: schematron bundle {tmp_path}: {tmp_path / 'broken.sch'}: " in result.stderr
    assert expected in result.stderr


def test_xsl_that_does_not_compile_or_produce_svrl_is_exit_2(files: dict[str, Path], cache: Path,
                                                             tmp_path: Path) -> None:
    stylesheet = '<xsl:stylesheet version="3.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">{}</xsl:stylesheet>'
    (tmp_path / "bad.xsl").write_text(stylesheet.format('<xsl:template match="/"><xsl:value-of select="("/>'
                                                        "</xsl:template>"))
    result = invoke(cache, "validate", "--schematron-bundle", str(tmp_path), str(files["good"]))
    assert result.exit_code == 2
    assert "bad.xsl: the XSLT does not compile:" in result.stderr
    (tmp_path / "bad.xsl").write_text(stylesheet.format('<xsl:template match="/"><out/></xsl:template>'))
    result = invoke(cache, "validate", "--schematron-bundle", str(tmp_path), str(files["good"]))
    assert result.exit_code == 2
    assert f"bad.xsl: on {files['good']}: the output is not SVRL" in result.stderr


# ------------------------------------------------------------------------------------------------ API, cache
def test_compiled_xslt_is_cached_by_content_hash(files: dict[str, Path], tmp_path: Path) -> None:
    bundle_dir = tmp_path / "bundle"
    shutil.copytree(BUNDLE, bundle_dir)
    cache = tmp_path / "cache"
    first = load_bundle(bundle_dir, cache)
    assert [s.stem for s in first.schematrons] == ["cda-extra", "cda-minimal"]
    compiled = sorted(cache.glob("*.xsl"))
    assert [p.name.rsplit("-", 1)[0] for p in compiled] == ["cda-extra", "cda-minimal"]
    stamps = {p: p.stat().st_mtime_ns for p in compiled}
    again = load_bundle(bundle_dir, cache)
    assert {s.xslt for s in again.schematrons} == set(compiled)
    assert {p: p.stat().st_mtime_ns for p in compiled} == stamps  # reused, not rewritten
    included = bundle_dir / "include" / "effective-time.sch"
    included.write_text(included.read_text(encoding="utf-8").replace("{14}", "{12}"), encoding="utf-8")
    changed = load_bundle(bundle_dir, cache)
    minimal = next(s for s in changed.schematrons if s.stem == "cda-minimal")
    assert minimal.xslt not in compiled  # an included file is part of the key
    assert len(list(cache.glob("*.xsl"))) == 3

    report = evaluate(load(files["good"].read_bytes(), name="good"))
    assert apply([report], [changed]) == []
    assert not report.ok  # the good document's 14-digit timestamp no longer matches the edited include
    assert [f.rule_id for f in report.findings if f.rule_id.startswith("SCH:")] == [
        "SCH:cda-minimal:confidentiality-normal", "SCH:cda-minimal:effective-time"]


def test_unwritable_cache_still_compiles(files: dict[str, Path], tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    bundle = load_bundle(BUNDLE, blocker / "cache")
    assert all(s.xslt is None for s in bundle.schematrons)
    report = evaluate(load(files["bad"].read_bytes(), name="bad"))
    apply([report], [bundle])
    assert BROKEN_ERRORS <= {f.rule_id for f in report.findings}


def test_top_level_fragment_is_skipped_with_a_note(tmp_path: Path) -> None:
    shutil.copy(BUNDLE / "include" / "effective-time.sch", tmp_path / "fragment.sch")
    shutil.copy(BUNDLE / "cda-extra.sch", tmp_path / "cda-extra.sch")
    bundle = load_bundle(tmp_path, tmp_path / "cache")
    assert [s.stem for s in bundle.schematrons] == ["cda-extra"]
    assert bundle.notes == [f"{tmp_path / 'fragment.sch'}: skipped, a schematron fragment (sch:pattern), "
                            "not a sch:schema"]
    with pytest.raises(SchematronError, match="no schematron to run"):
        (tmp_path / "cda-extra.sch").unlink()
        load_bundle(tmp_path, tmp_path / "cache")


SVRL = "http://purl.oclc.org/dsdl/svrl"


@pytest.mark.parametrize(("element", "attributes", "severity"), [
    ("failed-assert", {}, "error"),
    ("failed-assert", {"role": "WARNING"}, "warning"),
    ("failed-assert", {"flag": "info"}, "info"),
    ("failed-assert", {"role": "fatal", "flag": "warning"}, "error"),
    ("successful-report", {}, "warning"),
    ("successful-report", {"role": "information"}, "info"),
    ("successful-report", {"role": "error"}, "error"),
])
def test_svrl_severities(element: str, attributes: dict[str, str], severity: str) -> None:
    attrs = "".join(f' {k}="{v}"' for k, v in attributes.items())
    svrl = (f'<svrl:schematron-output xmlns:svrl="{SVRL}"><svrl:active-pattern/><svrl:fired-rule context="a"/>'
            f'<svrl:{element} test="x" location="/a[1]"{attrs}><svrl:text> two\n  words </svrl:text>'
            f"</svrl:{element}></svrl:schematron-output>")
    [finding] = parse_svrl(svrl, "bundle")
    assert (finding.rule_id, finding.severity, finding.message, finding.location) == (
        "SCH:bundle:1", severity, "two words", "/a[1]")
