"""The reference client (examples/reference_client) against a live sandbox: a uvicorn server in a thread, tasks
written as the conformance runner writes them (docs/client-task.md), the client run as the runner runs it (a
subprocess with the SEGUR_SANDBOX_* variables) for the main paths and in process for the breaks (faster), and
checks on its result JSON and on the sandbox's exchange log and state."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from segur_sandbox.fixtures.people import PopulationConfig, PopulationGenerator
from segur_sandbox.fixtures.professionals import ProfessionalDirectory
from segur_sandbox.simulator.app import create_app
from segur_sandbox.simulator.config import Settings
from segur_sandbox.simulator.insi import CASES
from segur_sandbox.simulator.runtime import build_runtime

REPO = Path(__file__).resolve().parents[2]
CLIENT = REPO / "examples" / "reference_client" / "client.py"
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from examples.reference_client.actions import run as run_in_process  # noqa: E402
from examples.reference_client.breaks import BREAKS, Breaks  # noqa: E402
from examples.reference_client.task import Task  # noqa: E402

SEED, PATIENTS = 1, 8
MEDECIN, PHARMACIEN = 0, 1  # the seeded directory's professionals 0 and 1 (the runner's personas)
APPROVED, DEPRECATED, ARCHIVED, DELETED = "Approved", "Deprecated", "Archived", "Deleted"
OK, EXPIRE, INTERDIT, NON_EXISTE, NF, CLOSED = range(6)  # seed.SCENARIOS, for professional 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Sandbox:
    """The running server, its people and the credentials of the two personas, plus the helpers the tests use."""

    def __init__(self, base: str, folder: Path, credentials: dict[int, dict[str, str]]) -> None:
        self.base, self.folder, self.credentials = base, folder, credentials
        self.api = httpx.Client(base_url=base, timeout=30)
        directory = ProfessionalDirectory(SEED, 60)
        self.professionals = directory.professionals
        self.structures = directory.structures_by_id
        self.people = list(PopulationGenerator(PopulationConfig(seed=SEED, patients=PATIENTS)).patients())

    # -- workspaces and state ------------------------------------------------------------------------------------
    def workspace(self) -> str:
        """A fresh workspace with the seeded population: tests that change the DMP do not see each other."""
        name = f"rc-{uuid.uuid4().hex[:10]}"
        self.api.post("/api/workspaces", json={"id": name, "populate": True}).raise_for_status()
        return name

    def documents(self, workspace: str, patient: int, *statuses: str) -> list[dict[str, Any]]:
        params = [("limit", 500)] + [("status", s) for s in statuses]
        page = self.api.get(f"/api/workspaces/{workspace}/patients/{self.ins(patient)}/documents", params=params)
        page.raise_for_status()
        return [d for d in page.json()["items"] if not d["is_signature"]]

    def document(self, workspace: str, unique_id: str) -> dict[str, Any]:
        answer = self.api.get(f"/api/workspaces/{workspace}/documents/{unique_id}")
        answer.raise_for_status()
        return answer.json()

    def fault(self, workspace: str, **fault: Any) -> None:
        self.api.post(f"/api/workspaces/{workspace}/faults", json=fault).raise_for_status()

    def authorize(self, workspace: str, patient: int, persona: int, status: str = "VALIDE") -> None:
        id_nat = self.professionals[persona]["id_nat"]
        self.api.put(f"/api/workspaces/{workspace}/patients/{self.ins(patient)}/authorizations/{id_nat}",
                     json={"status": status}).raise_for_status()

    def unauthorize(self, workspace: str, patient: int, persona: int) -> None:
        id_nat = self.professionals[persona]["id_nat"]
        answer = self.api.delete(f"/api/workspaces/{workspace}/patients/{self.ins(patient)}/authorizations/{id_nat}")
        assert answer.status_code in (204, 404), answer.text

    def latest(self, workspace: str) -> int:
        return int(self.api.get(f"/api/workspaces/{workspace}/exchanges", params={"limit": 1}).json()
                   .get("latest_id") or 0)

    def exchanges(self, workspace: str, since: int) -> list[dict[str, Any]]:
        page = self.api.get(f"/api/workspaces/{workspace}/exchanges", params={"since_id": since, "limit": 500})
        return sorted(page.json()["items"], key=lambda e: e["id"])

    # -- tasks ---------------------------------------------------------------------------------------------------
    def ins(self, patient: int) -> str:
        record = self.people[patient]
        return record["ins"]["nir"] + record["ins"]["key"]

    def task(self, workspace: str, action: str, *, persona: int = MEDECIN, who: int = OK,
             **extra: Any) -> dict[str, Any]:
        """A task JSON as the runner writes it. The médecin's professional is the flat view of the contract, the
        pharmacien's also carries the fixtures ``record`` (as the runner adds it): both paths are used."""
        pro = self.professionals[persona]
        structure = self.structures[pro["structure_id"]]
        professional: dict[str, Any] = {
            "id_nat": pro["id_nat"], "family": pro["family"], "given": pro["given"],
            "profession": pro["profession"]["code"], "specialty": pro["specialty"]["code"],
            "role_label": pro["profession"]["label"],
            "structure": {"id_nat": structure["id_nat"], "name": structure["name"], "finess": structure["finess_eg"],
                          "facility_type": structure["secteur_activite"]["code"],
                          "practice_setting": structure["practice_setting"]["code"]},
            "credentials": self.credentials[persona]}
        if persona == PHARMACIEN:
            professional["record"] = pro
        record = self.people[who]
        traits = record["traits"]
        vitale_file = self.folder / f"vitale-{record['id']}.json"
        vitale_file.write_text(json.dumps(record["vitale"]), encoding="utf-8")
        rank = next(i for i, b in enumerate(record["vitale"]["beneficiaries"]) if b["nir"] == record["ins"]["nir"])
        task = {
            "plan": "tests", "case": f"RC-{action}", "step": 1, "title": action, "instructions": "", "action": action,
            "timeout_s": 60,
            "endpoints": {"dmp": f"{self.base}/w/{workspace}/si-dmp-server/v2/services",
                          "insi": f"{self.base}/w/{workspace}/lps"},
            "professional": professional,
            "patient": {"ins": self.ins(who), "ins_oid": record["ins"]["oid"], "identity_status": "qualifiee",
                        "traits": {"family": traits["birth_name"], "given": " ".join(traits["first_names"]),
                                   "first_given": traits["first_name"], "sex": traits["sex"],
                                   "birth_date": traits["birth_date"], "birth_place": traits["birth_place"]},
                        "vitale": {"file": str(vitale_file), "reader": None}, "beneficiary": rank,
                        "consents": True},
            "document": {"kind": None, "event": None, "replaces": None, "unique_id": None},
            "event": None,
        }
        for key, value in extra.items():
            task[key] = {**task[key], **value} if isinstance(value, dict) and isinstance(task[key], dict) else value
        return task

    # -- running the client ----------------------------------------------------------------------------------------
    def run(self, task: dict[str, Any], *breaks: str, subprocess_: bool = False, timeout: float = 10.0,
            args: tuple[str, ...] = ()) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Run the client on ``task``; its result and the exchanges the sandbox recorded meanwhile."""
        workspace = task["endpoints"]["dmp"].split("/w/")[1].split("/")[0]
        since = self.latest(workspace)
        path = self.folder / f"task-{uuid.uuid4().hex[:8]}.json"
        path.write_text(json.dumps(task, ensure_ascii=False), encoding="utf-8")
        if subprocess_:
            result_path = path.with_suffix(".result.json")
            env = {**os.environ, "SEGUR_SANDBOX_TASK": str(path), "SEGUR_SANDBOX_RESULT": str(result_path),
                   "SEGUR_SANDBOX_DMP_URL": task["endpoints"]["dmp"], "SEGUR_SANDBOX_INSI_URL": task["endpoints"]["insi"],
                   "SEGUR_SANDBOX_CASE": task["case"]}
            env.pop("REFERENCE_CLIENT_BREAK", None)
            command = [sys.executable, *(args or (str(CLIENT),)), *(f"--break={b}" for b in breaks)]
            done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=60)
            assert result_path.exists(), done.stderr[-2000:]
            result = json.loads(result_path.read_text(encoding="utf-8"))
            assert done.returncode == (1 if result["status"] == "error" else 0), done.stderr[-2000:]
        else:
            result = run_in_process(Task.load(path), Breaks(breaks), timeout).as_dict()
        return result, self.exchanges(workspace, since)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory) -> Sandbox:
    import uvicorn

    folder = tmp_path_factory.mktemp("reference-client")
    port = _free_port()
    # No seeded documents: seeding signs with every professional's key (slow); the médecin feeds a few below.
    settings = Settings(host="127.0.0.1", port=port, data_dir=folder / "data", seed=SEED, patients=PATIENTS,
                        documents_per_patient=0)
    runtime = build_runtime(settings)
    runtime.populate("default")
    # the personas' credentials as `segur-sandbox credentials export` writes them
    directory = ProfessionalDirectory(SEED, 60)
    chosen = directory.professionals[:2]
    index = json.loads(runtime.pki.export(folder / "credentials", chosen, []).read_text())
    credentials: dict[int, dict[str, str]] = {}
    for number, pro in enumerate(chosen):
        mine = {c["usage"]: c["files"] for c in index["credentials"]
                if c.get("national_id") == pro["id_nat"] and c["variant"] == "valid"}
        base = folder / "credentials"
        credentials[number] = {"sign_cert": str(base / mine["sign"]["cert"]), "sign_key": str(base / mine["sign"]["key"]),
                               "auth_cert": str(base / mine["auth"]["cert"]), "auth_key": str(base / mine["auth"]["key"]),
                               "ca_chain": str(base / index["ca_chain"])}
    server = uvicorn.Server(uvicorn.Config(create_app(runtime), host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the sandbox did not start"
        time.sleep(0.05)
    sandbox = Sandbox(f"http://127.0.0.1:{port}", folder, credentials)
    sandbox.pki = runtime.pki
    for kind in ("VAC-NOTE", "CR-CONSULTATION"):  # the DMP of the first scenario patient gets two documents
        result, _ = sandbox.run(sandbox.task("default", "feed", document={"kind": kind}))
        assert result["status"] == "done", result
    yield sandbox
    sandbox.api.close()
    server.should_exit = True
    thread.join(timeout=10)
    runtime.store.dispose()


def transactions(exchanges: list[dict[str, Any]]) -> list[str]:
    return [e["transaction"] for e in exchanges]


def dmp_only(exchanges: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in exchanges if e["service"] != "lps"]


# -- consult ---------------------------------------------------------------------------------------------------------
def test_consult_searches_then_retrieves_every_document_shown(sandbox):
    result, exchanges = sandbox.run(sandbox.task("default", "consult"), subprocess_=True)
    expected = {d["unique_id"] for d in sandbox.documents("default", OK, APPROVED)}
    assert result["status"] == "done", result
    assert result["dmp"] == {"status": "OPEN", "authorization": "VALIDE"}
    assert expected and set(result["documents_shown"]) == expected == set(result["documents_retrieved"])
    assert transactions(exchanges) == ["TD0.2", "TD3.1"] + ["TD3.2"] * len(expected)
    assert all(e["verdict"] == "pass" and e["http_status"] == 200 for e in exchanges), exchanges


@pytest.mark.parametrize("patient", [NON_EXISTE, EXPIRE], ids=["none-yet", "expired"])
def test_consult_declares_the_authorisation_with_the_patients_consent(sandbox, patient):
    workspace = sandbox.workspace()
    result, exchanges = sandbox.run(sandbox.task(workspace, "consult", who=patient))
    assert result["status"] == "done" and result["dmp"]["declared"] is True, result
    assert transactions(exchanges)[:3] == ["TD0.2", "TD0.3", "TD3.1"]
    assert all(e["verdict"] == "pass" for e in exchanges)


@pytest.mark.parametrize("patient,consents,words", [
    (INTERDIT, True, "bloqué"), (NF, True, "pas de DMP"), (CLOSED, True, "fermé"), (EXPIRE, False, "consentement"),
], ids=["interdit", "no-dmp", "closed", "expired-without-consent"])
def test_consult_refused_after_td02_alone(sandbox, patient, consents, words):
    result, exchanges = sandbox.run(sandbox.task("default", "consult", who=patient, patient={"consents": consents}))
    assert result["status"] == "refused" and words in result["reason"], result
    assert transactions(exchanges) == ["TD0.2"]


def test_an_identity_that_is_not_qualified_never_reaches_the_dmp(sandbox):
    task = sandbox.task("default", "consult", patient={"identity_status": "validee"})
    result, exchanges = sandbox.run(task)
    assert result["status"] == "refused" and "qualifiée" in result["reason"]
    assert exchanges == []
    result, exchanges = sandbox.run(task, "feed-unqualified")
    assert result["status"] == "done" and transactions(exchanges)[0] == "TD0.2"



# -- feeding, replacing, masking, deleting ------------------------------------------------------------------------------
def test_feed_replace_mask_delete(sandbox):
    workspace = sandbox.workspace()
    result, exchanges = sandbox.run(sandbox.task(workspace, "feed", document={"kind": "VAC-NOTE"}), subprocess_=True)
    assert result["status"] == "done" and transactions(exchanges) == ["TD0.2", "TD2.1"], (result, exchanges)
    (first,) = result["fed"]
    stored = sandbox.document(workspace, first)
    assert (stored["status"], stored["type_code"]) == (APPROVED, "87273-9")
    assert stored["author_person_ids"] == [sandbox.professionals[MEDECIN]["id_nat"]]

    result, exchanges = sandbox.run(sandbox.task(workspace, "replace", document={"unique_id": first}))
    assert result["status"] == "done" and transactions(exchanges) == ["TD0.2", "TD3.1", "TD2.1"]
    (second,) = result["fed"]
    assert sandbox.document(workspace, first)["status"] == DEPRECATED  # RPLC: the old version is deprecated
    assert sandbox.document(workspace, second)["type_code"] == "87273-9"  # the kind of the replaced document

    result, exchanges = sandbox.run(sandbox.task(workspace, "mask", document={"unique_id": second}))
    assert result["status"] == "done" and transactions(exchanges) == ["TD0.2", "TD3.1", "TD3.3"]
    masked = sandbox.document(workspace, second)
    assert "MASQUE_PS" in masked["confidentiality_codes"] and masked["version"] == 2

    result, exchanges = sandbox.run(sandbox.task(workspace, "delete", document={"unique_id": second}))
    assert result["status"] == "done" and transactions(exchanges) == ["TD0.2", "TD3.1", "TD3.3"]
    assert sandbox.document(workspace, second)["status"] == DELETED
    assert all(e["verdict"] == "pass" for e in sandbox.exchanges(workspace, 0))


def test_pharmacy_acts_feed_what_they_imply(sandbox):
    workspace = sandbox.workspace()
    sandbox.unauthorize(workspace, OK, PHARMACIEN)  # the seeding may have authorised her: start from none
    fed = {}
    for event in ("vaccination", "entretien", "bilan"):
        result, exchanges = sandbox.run(sandbox.task(workspace, "act", persona=PHARMACIEN, event=event))
        assert result["status"] == "done", result
        fed[event] = result["fed"][0]
        # no authorisation yet for the pharmacien: declared with the patient's consent, once
        assert transactions(exchanges) == (["TD0.2", "TD0.3", "TD2.1"] if event == "vaccination" else
                                           ["TD0.2", "TD2.1"])
    types = {event: sandbox.document(workspace, uid)["type_code"] for event, uid in fed.items()}
    assert types == {"vaccination": "87273-9", "entretien": "78601-2", "bilan": "56445-0"}

    result, exchanges = sandbox.run(sandbox.task(workspace, "act", persona=PHARMACIEN, event="bilan",
                                                 document={"replaces": fed["bilan"]}))
    assert result["status"] == "done" and transactions(exchanges) == ["TD0.2", "TD3.1", "TD2.1"]
    assert sandbox.document(workspace, fed["bilan"])["status"] == DEPRECATED
    assert sandbox.document(workspace, result["fed"][0])["type_code"] == "56445-0"


# -- INSi ------------------------------------------------------------------------------------------------------------------
def test_ins_vitale_reports_insis_identity_for_the_beneficiary(sandbox):
    patient = next(i for i, p in enumerate(sandbox.people)
                   if p["ins"]["nir"] != p["vitale"]["insured"]["nir"])  # a child on a parent's card
    task = sandbox.task("default", "ins-vitale", who=patient)
    del task["patient"]["ins"]  # the client must find it
    result, exchanges = sandbox.run(task, subprocess_=True)
    assert result["status"] == "done", result
    assert result["identity"]["ins"] == sandbox.ins(patient)
    assert result["identity"]["family"] == sandbox.people[patient]["traits"]["birth_name"]
    assert transactions(exchanges) == ["rechercherInsAvecCarteVitale"] and exchanges[0]["verdict"] == "pass"

    result, exchanges = sandbox.run(task, "skip-insi")
    assert exchanges == [] and result["identity"]["ins"] == sandbox.ins(patient)


def _traits_task(sandbox, case=None, **traits):
    task = sandbox.task("default", "ins-traits", who=3)
    del task["patient"]["ins"]
    if case is not None:
        q = case.query
        traits = {"family": q.birth_name, "given": " ".join(q.first_names), "first_given": q.first_names[0],
                  "sex": q.sex, "birth_date": q.birth_date, "birth_place": q.birth_place}
    task["patient"]["traits"].update(traits)
    return task


def test_ins_traits_found_not_found_ambiguous(sandbox):
    result, exchanges = sandbox.run(_traits_task(sandbox))
    assert result["status"] == "done" and result["identity"]["ins"] == sandbox.ins(3)
    assert transactions(exchanges) == ["rechercherInsAvecTraitsIdentite"]

    result, _ = sandbox.run(_traits_task(sandbox, family="NEXISTEPAS"))
    assert result["status"] == "not-found" and "identity" not in result

    several = next(c for c in CASES if c.code == "02")
    result, _ = sandbox.run(_traits_task(sandbox, several))
    assert result["status"] == "ambiguous" and "identity" not in result

    result, _ = sandbox.run(_traits_task(sandbox, several), "guess-identity")
    assert result["status"] == "done" and len(result["identity"]["ins"]) == 15


def test_bad_traits_are_sent_altered(sandbox):
    result, exchanges = sandbox.run(_traits_task(sandbox, birth_date="1990-03-17"), "bad-traits")
    request = sandbox.api.get(f"/api/workspaces/default/exchanges/{exchanges[0]['id']}/request").text
    assert "1990-17-03" in request and result["status"] == "not-found"


# -- errors (PRE_ERR) --------------------------------------------------------------------------------------------------
def test_a_registry_error_is_reported_and_stops_the_consultation(sandbox):
    workspace = sandbox.workspace()
    sandbox.fault(workspace, kind="registry_error", transaction="TD3.1",
                  params={"code": "XDSRegistryError", "context": "Erreur interne du registre"})
    result, exchanges = sandbox.run(sandbox.task(workspace, "consult"), subprocess_=True)
    assert result["status"] == "error"
    assert result["errors"] == [{"transaction": "TD3.1", "code": "XDSRegistryError",
                                 "message": "Erreur interne du registre"}]
    assert transactions(exchanges) == ["TD0.2", "TD3.1"]

    result, _ = sandbox.run(sandbox.task(workspace, "consult"), "hide-errors")
    assert result["status"] == "done" and "errors" not in result


def test_http_503_is_retried_once_after_a_pause(sandbox):
    workspace = sandbox.workspace()
    sandbox.fault(workspace, kind="http_503", transaction="TD3.1")
    result, exchanges = sandbox.run(sandbox.task(workspace, "consult"))
    assert result["status"] == "error" and result["errors"][0]["code"] == "HTTP 503"
    searches = [e for e in exchanges if e["transaction"] == "TD3.1"]
    assert len(searches) == 2
    started = [e["started_at"] for e in searches]
    assert started[0] < started[1]

    result, exchanges = sandbox.run(sandbox.task(workspace, "consult"), "retry-storm")
    assert [e["transaction"] for e in exchanges].count("TD3.1") == 11


def test_a_dmp_that_does_not_answer_is_a_timeout(sandbox):
    workspace = sandbox.workspace()
    sandbox.fault(workspace, kind="latency", transaction="TD3.1", remaining=1, params={"ms": 1500})
    began = time.monotonic()
    result, _ = sandbox.run(sandbox.task(workspace, "consult"), timeout=0.5)
    assert time.monotonic() - began < 1.5
    assert result["status"] == "error" and result["errors"][0]["code"] == "TIMEOUT"

    sandbox.fault(workspace, kind="latency", transaction="TD3.1", remaining=1, params={"ms": 1500})
    result, _ = sandbox.run(sandbox.task(workspace, "consult"), "no-timeout", timeout=0.5)
    assert result["status"] == "done"


def test_a_stale_clock_gets_the_vihf_refused(sandbox):
    result, exchanges = sandbox.run(sandbox.task("default", "consult"), "stale-clock")
    assert result["status"] == "error" and result["errors"][0]["transaction"] == "TD0.2"
    assert result["errors"][0]["code"] == "DMPVIHFInvalid"
    assert transactions(exchanges) == ["TD0.2"]


# -- the other breaks ----------------------------------------------------------------------------------------------------
def test_access_breaks(sandbox):
    result, exchanges = sandbox.run(sandbox.task("default", "consult"), "no-td02")
    assert transactions(exchanges)[0] == "TD3.1" and "dmp" not in result

    result, exchanges = sandbox.run(sandbox.task("default", "consult", who=CLOSED), "ignore-access")
    assert transactions(exchanges)[:2] == ["TD0.2", "TD3.1"]

    result, exchanges = sandbox.run(sandbox.task("default", "consult", who=NON_EXISTE), "no-td03")
    assert result["status"] == "refused" and transactions(exchanges) == ["TD0.2"]


def test_show_all_shows_archived_documents(sandbox):
    workspace = sandbox.workspace()
    fed = [sandbox.run(sandbox.task(workspace, "feed", document={"kind": kind}))[0]["fed"][0]
           for kind in ("VAC-NOTE", "CR-CONSULTATION")]
    sandbox.api.patch(f"/api/workspaces/{workspace}/documents/{fed[1]}", json={"status": "Archived"}).raise_for_status()
    result, _ = sandbox.run(sandbox.task(workspace, "consult"))
    assert result["documents_shown"] == result["documents_retrieved"] == [fed[0]]
    result, _ = sandbox.run(sandbox.task(workspace, "consult"), "show-all")
    assert set(result["documents_shown"]) == set(fed)


def test_document_breaks(sandbox):
    workspace = sandbox.workspace()
    result, exchanges = sandbox.run(sandbox.task(workspace, "feed", document={"kind": "VAC-NOTE"}), "bad-metadata")
    assert result["status"] == "error" and result["errors"][0]["code"] == "XDSRegistryMetadataError"
    assert transactions(exchanges) == ["TD0.2", "TD2.1"]

    (first,) = sandbox.run(sandbox.task(workspace, "feed", document={"kind": "VAC-NOTE"}))[0]["fed"]
    result, _ = sandbox.run(sandbox.task(workspace, "replace", document={"unique_id": first}), "no-replace")
    assert sandbox.document(workspace, first)["status"] == APPROVED  # two current documents instead of one
    (second,) = result["fed"]

    result, exchanges = sandbox.run(sandbox.task(workspace, "mask", document={"unique_id": first}), "no-mask")
    assert result["status"] == "done" and "TD3.3" not in transactions(exchanges), result
    assert "MASQUE_PS" not in sandbox.document(workspace, first)["confidentiality_codes"]

    result, _ = sandbox.run(sandbox.task(workspace, "delete", document={"unique_id": second}), "no-delete")
    assert sandbox.document(workspace, second)["status"] == ARCHIVED


def test_act_breaks(sandbox):
    workspace = sandbox.workspace()
    for breaks, event in ((("skip-feed",), "vaccination"), (("skip-feed-entretien",), "entretien")):
        result, exchanges = sandbox.run(sandbox.task(workspace, "act", persona=PHARMACIEN, event=event), *breaks)
        assert result["status"] == "done" and "fed" not in result and exchanges == []
    result, _ = sandbox.run(sandbox.task(workspace, "act", persona=PHARMACIEN, event="vaccination"),
                            "skip-feed-entretien")
    assert len(result["fed"]) == 1

    result, _ = sandbox.run(sandbox.task(workspace, "act", persona=PHARMACIEN, event="vaccination"),
                            "medecin-metadata")
    stored = sandbox.document(workspace, result["fed"][0])
    assert stored["facility_type"] == "SA07" and "G15_10/SM54" in stored["metadata_xml"]
    assert stored["author_person_ids"] == [sandbox.professionals[PHARMACIEN]["id_nat"]]


def test_signing_with_the_cps_card(sandbox, monkeypatch):
    """``professional.card``: the VIHF, the INSi assertion and the XAdES are signed by the card (in process here,
    the same APDUs as through PC/SC)."""
    from segur_sandbox.simulator.cards.client import CardChannel
    from segur_sandbox.simulator.cards.cps import CpsCard

    import examples.reference_client.cards as cards

    pro = sandbox.professionals[MEDECIN]
    card = CpsCard.issue(sandbox.pki, pro, sandbox.structures[pro["structure_id"]])
    readers = []
    monkeypatch.setattr(cards, "connect", lambda reader: readers.append(reader) or CardChannel.in_process(card))
    workspace = sandbox.workspace()
    task = sandbox.task(workspace, "feed", document={"kind": "CR-CONSULTATION"},
                        professional={"card": {"reader": "Virtual PCD 00 00", "pin": "1234"}, "credentials": {}})
    result, exchanges = sandbox.run(task)
    assert result["status"] == "done" and [e["verdict"] for e in exchanges] == ["pass", "pass"]
    result, exchanges = sandbox.run(_traits_task(sandbox) | {"professional": task["professional"]})
    assert result["status"] == "done" and exchanges[0]["verdict"] == "pass"
    assert readers and set(readers) == {"Virtual PCD 00 00"}


def test_breaks_come_from_the_command_line_or_the_environment(sandbox):
    task = sandbox.task("default", "consult")
    result, exchanges = sandbox.run(task, "no-td02", subprocess_=True, args=("-m", "examples.reference_client"))
    assert transactions(exchanges)[0] == "TD3.1"
    assert Breaks.parse(["no-mask,no-delete"], environ={"REFERENCE_CLIENT_BREAK": "skip-feed"}) == {
        "no-mask", "no-delete", "skip-feed"}
    with pytest.raises(ValueError, match="unknown break"):
        Breaks.parse(["no-such-break"], environ={})
    readme = (REPO / "examples" / "reference_client" / "README.md").read_text(encoding="utf-8")
    assert all(f"`{name}`" in readme for name in BREAKS)
