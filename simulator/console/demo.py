"""A sandbox with a little of everything for the console to show, and a live server to show it from: what the
browser tests and the screenshot script (``python -m segur_sandbox.simulator.console.screenshots``) start.

    demo = Demo.build(tmp_dir)                 # seeded workspace, an N3 and an N1 document fed over TD2.1
    with LiveServer(demo.app) as server:       # uvicorn on a free local port, in a thread
        client = demo.client(httpx.Client(base_url=server.url))
        client.call("patients", demographics_request(demo.patient), patient=demo.patient)

Documents are fed the way a vendor's software does (signed VIHF, XAdES, MTOM), through the real endpoint, so the
log also holds an MTOM exchange to look at.
"""
from __future__ import annotations

import os
import random
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from segur_sandbox.fixtures.documents import DocumentContext, build_document
from segur_sandbox.fixtures.documents.cda import uuid_oid

from ..app import create_app
from ..config import Settings
from ..dmp import xds
from ..dmp.messages import demographics_request, set_authorization_request
from ..dmp.service import Runtime
from ..dmp.xds import compose
from ..pki import TestPKI
from ..runtime import build_runtime
from ..security.principal import PatientRef
from ..seed import seed_workspace
from ..testing import DmpTestClient

WORKSPACE = "default"
SOURCE_ID = "1.2.250.1.999.1.1.7898"  # the demo LPS's sourceId
TEST_INS_OID = "1.2.250.1.213.1.4.10"
CHROMIUM = "/usr/bin/chromium"  # Debian's package, installed by .ci/run


def chromium_path() -> str:
    return os.environ.get("SEGUR_SANDBOX_CHROMIUM", CHROMIUM)


def launch_chromium(playwright: Any) -> Any:
    """Headless Chromium launched by path: Playwright must never download a browser here (no network). Its
    own sandbox is off because CI runs as root, where Chromium refuses to start with it."""
    return playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=["--no-sandbox"])


@dataclass
class Demo:
    runtime: Runtime
    app: FastAPI
    professional: dict[str, Any]  # the scenario professional (a general practitioner)
    structure: dict[str, Any]
    scenarios: list[PatientRef]  # the six TD0.2 scenario patients of the seed
    documents: dict[str, str] = field(default_factory=dict)  # kind → entryUUID of the fed document

    @property
    def patient(self) -> PatientRef:
        """Scenario 0: open DMP, the professional authorised and médecin traitant."""
        return self.scenarios[0]

    @classmethod
    def build(cls, data_dir: Path, *, pki: TestPKI | None = None, seed: int = 7, patients: int = 8,
              kinds: tuple[str, ...] = ("VAC-NOTE", "CR-BIO"), sample_exchanges: bool = False) -> Demo:
        settings = Settings(data_dir=Path(data_dir), seed=seed, patients=patients, documents_per_patient=0)
        runtime = build_runtime(settings, pki=pki)
        summary = seed_workspace(runtime.store, WORKSPACE, seed=seed, patients=patients)
        with runtime.store.transaction(readonly=True) as tx:
            found = tx.directory.get_professional(WORKSPACE, summary.scenario_professional["id_nat"])
            assert found is not None, "the seed always stores its scenario professional"
            professional = dict(found.record)
            where = tx.directory.get_structure_by_ref(WORKSPACE, professional["structure_id"])
            assert where is not None, "the seed always stores the professional's structure"
            structure = dict(where.record)
        demo = cls(runtime=runtime, app=create_app(runtime, cards_dir=Path(data_dir) / "cards"),
                   professional=professional, structure=structure,
                   scenarios=[PatientRef(ins, TEST_INS_OID) for _, ins, _ in summary.scenarios])
        with TestClient(demo.app) as http:
            client = demo.client(http)
            for kind in kinds:
                demo.documents[kind] = demo.feed(client, kind)
            if sample_exchanges:
                demo.sample_exchanges(client)
        return demo

    def client(self, http: httpx.Client) -> DmpTestClient:
        return DmpTestClient(http, self.runtime.pki, self.professional, self.structure)

    def feed(self, client: DmpTestClient, kind: str) -> str:
        """TD2.1 (MTOM) of a ``kind`` document for the scenario patient; returns its entryUUID."""
        with self.runtime.store.transaction(readonly=True) as tx:
            record = dict(tx.patients.require(WORKSPACE, self.patient.ins).record)
        rng = random.Random(f"console-demo-{kind}")
        now = datetime.now(UTC)
        cda = build_document(kind, DocumentContext(record, self.professional, self.structure,
                                                   now - timedelta(days=1), rng))
        signature_id = uuid_oid(rng)
        submission = compose.signed_feeding(
            cda, signer=self.runtime.pki.professional(self.professional, self.structure, usage="sign"),
            submission_set_unique_id=uuid_oid(rng), signature_unique_id=signature_id, source_id=SOURCE_ID,
            submitted=now)
        clinical = next(e for e in submission.entries if e.unique_id != signature_id)
        assert clinical.unique_id, "xds_metadata gives every document its uniqueId"
        body, attachments = xds.provide_and_register_mtom(submission)
        reply = client.call("repository", body, patient=self.patient, attachments=attachments)
        if reply.status != 200 or reply.fault is not None:
            raise RuntimeError(f"feeding a {kind} document failed: HTTP {reply.status} {reply.raw[:300]!r}")
        with self.runtime.store.transaction(readonly=True) as tx:
            return tx.documents.by_unique_ids(WORKSPACE, [clinical.unique_id])[0].entry_uuid

    def sample_exchanges(self, client: DmpTestClient) -> None:
        """A few more lines in the log: a TD0.2 per scenario, a TD0.3 the patient's block refuses, and a TD0.2
        whose VIHF lacks its LPS_Version and the purpose of use (findings located in the message)."""
        for patient in self.scenarios[:5]:
            client.call("patients", demographics_request(patient), patient=patient)
        client.call("habilitations", set_authorization_request("AJOUT"), patient=self.scenarios[2])
        omit = ("LPS_Version", "urn:oasis:names:tc:xspa:1.0:subject:purposeofuse")
        sloppy = DmpTestClient(client.http, self.runtime.pki, self.professional, self.structure,
                               vihf_options={"omit": omit})
        sloppy.call("patients", demographics_request(self.patient), patient=self.patient)

    def close(self) -> None:
        self.runtime.store.dispose()


class LiveServer:
    """The app served by uvicorn on a free port of 127.0.0.1, in a daemon thread (a browser needs a real
    socket; the TestClient has none)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> LiveServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))  # the kernel picks a free port; uvicorn serves on this very socket
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self._server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", access_log=False))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True,
                                        name="console-live-server")
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the live server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
