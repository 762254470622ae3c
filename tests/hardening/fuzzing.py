"""The target of the message fuzzing (``test_fuzz_messages.py``, ``bench/fuzz.py``): a seeded sandbox behind the
ASGI app, the valid requests the strategies start from, and the property every answer must satisfy.

The property, for any request:

* the answer is a SOAP message (HTTP 200: a response body, e.g. a ``RegistryResponse``), a SOAP fault (HTTP 500,
  never the sandbox's internal-error fault), or a 4xx with a readable message — never another 5xx, never an
  exception out of the app (the test client re-raises them);
* the request left exactly one line in the workspace's exchange log, and that line carries no
  ``SANDBOX-INTERNAL`` finding (the trace of a bug turned into a fault);
* nothing is stored unless the answer is an ITI-41 ``RegistryResponse`` in Success, and the registry stays
  consistent (every entry with its content and hash).
"""
from __future__ import annotations

from collections import Counter

import random
from datetime import date, datetime, timedelta, timezone
from typing import Any

from lxml import etree

from strategies import Request, Skeleton
from support import scenario_client, scenario_professional
from segur_sandbox.fixtures.documents import DocumentContext, build_document
from segur_sandbox.fixtures.documents.cda import uuid_oid
from segur_sandbox.simulator.dmp import xds
from segur_sandbox.simulator.dmp.messages import (demographics_request, list_authorizations_request,
                                                  patient_list_request, pdq_request)
from segur_sandbox.simulator.dmp.xds import compose
from segur_sandbox.simulator.dmp.xds import constants as c
from segur_sandbox.simulator.insi import InsiTestClient
from segur_sandbox.simulator.insi.constants import TRAITS
from segur_sandbox.simulator.insi.messages import traits_request
from segur_sandbox.simulator.soap import read_fault
from segur_sandbox.simulator.testing import _request_action, parse_reply

DMP = "/si-dmp-server/v2/services/"
PATHS = tuple(DMP + s for s in ("patients", "patientsPDQ", "patientsSpecific", "habilitations", "registry",
                                "repository")) + ("/lps", "/w/default" + DMP + "registry", "/w/nope" + DMP + "patients")


class FuzzTarget:
    """``sandbox`` is a ``tests/simulator/conftest.Sandbox`` (runtime + an in-process HTTP client)."""

    def __init__(self, sandbox: Any) -> None:
        self.sandbox = sandbox
        self.http = sandbox.http
        self.store = sandbox.runtime.store
        self.professional, self.structure = scenario_professional(sandbox)
        self.client = scenario_client(sandbox)
        self.patient = sandbox.scenario(0)
        self.signer = sandbox.pki.professional(self.professional, self.structure, usage="sign")
        with self.store.transaction(readonly=True) as tx:
            self.record = dict(tx.patients.get("default", self.patient.ins).record)
        self._skeletons: list[Skeleton] | None = None
        self._feed_skeleton: Skeleton | None = None
        self.sent = 0
        self.fault_reasons: Counter[str] = Counter()

    # -- valid requests -------------------------------------------------------------------------------------------
    def _envelope(self, service: str, body: etree._Element, patient: Any) -> bytes:
        envelope = self.client.envelope(service, body, patient=patient, action=_request_action(service, body))
        return etree.tostring(envelope)

    def skeletons(self) -> list[Skeleton]:
        """One valid request per SOAP endpoint (each with a freshly signed VIHF or assertion PS)."""
        if self._skeletons is None:
            p = self.patient
            query = xds.StoredQuery.of("FindDocuments", {"$XDSDocumentEntryPatientId": p.cx(),
                                                         "$XDSDocumentEntryStatus": [c.STATUS_APPROVED]})
            insi = InsiTestClient(self.http, self.sandbox.pki, structure=self.structure, professional=self.professional)
            traits = insi.envelope(traits_request("DUPONT", "JEAN", "M", "1980-01-01"), TRAITS)
            self._skeletons = [
                Skeleton(DMP + "patients", self._envelope("patients", demographics_request(p), p)),
                Skeleton(DMP + "patientsPDQ", self._envelope("patientsPDQ", pdq_request(
                    family="MARTIN", birth_date=date(1980, 1, 1)), None)),
                Skeleton(DMP + "patientsSpecific", self._envelope("patientsSpecific", patient_list_request(
                    datetime.now(timezone.utc) - timedelta(days=30)), None)),
                Skeleton(DMP + "habilitations", self._envelope("habilitations", list_authorizations_request(), p)),
                Skeleton(DMP + "registry", self._envelope("registry", xds.adhoc_query_request(query), p)),
                Skeleton(DMP + "repository", self._envelope("repository", xds.retrieve_request(
                    [(c.DMP_REPOSITORY_UNIQUE_ID, "1.2.3.4")]), p)),
                Skeleton("/lps", etree.tostring(traits)),
                self.feed_skeleton(),
            ]
        return self._skeletons

    def feed(self, seed: int) -> tuple[etree._Element, dict[str, tuple[bytes, str]]]:
        """A fresh, valid, signed ITI-41 body and its MTOM attachments (new uniqueIds for every ``seed``)."""
        rng = random.Random(seed)
        now = datetime.now(timezone.utc)
        cda = build_document("VAC-NOTE", DocumentContext(self.record, self.professional, self.structure,
                                                         now - timedelta(days=1), rng))
        submission = compose.signed_feeding(cda, signer=self.signer, submission_set_unique_id=uuid_oid(rng),
                                            signature_unique_id=uuid_oid(rng), source_id="1.2.250.1.999.1.1.7898",
                                            submitted=now, title="Note de vaccination")
        return xds.provide_and_register_mtom(submission)

    def feed_skeleton(self) -> Skeleton:
        if self._feed_skeleton is None:
            body, attachments = self.feed(random.getrandbits(64))
            self._feed_skeleton = Skeleton(DMP + "repository", self._envelope("repository", body, self.patient),
                                           tuple((cid, ctype, data) for cid, (data, ctype) in attachments.items()))
        return self._feed_skeleton

    def feed_request(self, body: etree._Element, attachments: dict[str, tuple[bytes, str]]) -> Request:
        """The MTOM request of a (mutated) ITI-41 body; an ``xop:Include`` whose href a mutation changed gets an
        empty part under that Content-ID (the client-side encoder refuses dangling references)."""
        from urllib.parse import unquote

        attachments = dict(attachments)
        for include in body.iter("{http://www.w3.org/2004/08/xop/include}Include"):
            cid = unquote((include.get("href") or "")[4:])
            attachments.setdefault(cid, (b"", "application/octet-stream"))
        try:
            data, content_type = self.client.encode("repository", body, patient=self.patient, attachments=attachments)
        except ValueError:  # a Content-ID no MIME header can carry: not a request a client could send
            from hypothesis import reject

            reject()
        return Request(DMP + "repository", data, {"content-type": content_type})

    # -- the property ---------------------------------------------------------------------------------------------
    def state(self) -> tuple[int, int]:
        with self.store.transaction(readonly=True) as tx:
            return tx.documents.count("default"), tx.exchanges.latest_id("default") or 0

    def check(self, request: Request) -> str:
        """Send ``request`` and assert the property; returns the kind of answer (for statistics)."""
        documents, last_exchange = self.state()
        response = self.http.post(request.path, content=request.body, headers=request.headers)
        self.sent += 1
        kind = classify(response)
        if kind == "fault":  # kept so that a run of nothing but faults can say why
            self.fault_reasons[_fault_reason(response)] += 1
        after_documents, _ = self.state()
        with self.store.transaction(readonly=True) as tx:
            logged = tx.exchanges.list("default", since_id=last_exchange, limit=10)
        if not request.path.startswith("/w/nope"):
            assert len(logged) == 1, f"{len(logged)} exchange lines for one request ({kind})"
            internal = [f.message for f in logged[0].findings if f.rule == "SANDBOX-INTERNAL"]
            assert not internal, f"internal error behind the answer: {internal[0]}"
        if kind == "xds-success" and request.path.endswith("/repository"):
            assert after_documents > documents, "ITI-41 acknowledged but nothing stored"
        else:
            assert after_documents == documents, f"{after_documents - documents} documents stored by a {kind} answer"
        return kind


def _fault_reason(response: Any) -> str:
    fault = read_fault(parse_reply(response).message)
    return f"{fault.subcode_text}: {fault.reason[:120]}" if fault else "?"


def classify(response: Any) -> str:
    """The kind of an acceptable answer; AssertionError for any other."""
    status = response.status_code
    content_type = response.headers.get("content-type", "")
    if 400 <= status < 500 and status != 413:
        if "json" in content_type:
            message = response.json().get("error") or response.json().get("detail")
            assert message, f"HTTP {status} without a message: {response.text[:300]}"
            return f"http-{status}"
    assert status in (200, 500), f"HTTP {status}: {response.content[:500]!r}"
    assert "xml" in content_type or "multipart" in content_type, f"HTTP {status} {content_type}: {response.content[:300]!r}"
    reply = parse_reply(response)
    assert reply.message is not None
    fault = read_fault(reply.message)
    if status == 500:
        assert fault is not None, f"HTTP 500 without a SOAP fault: {response.content[:500]!r}"
        subcode = fault.subcode_text or ""
        assert "InternalError" not in subcode and "internal" not in subcode.lower(), fault.reason
        assert fault.reason.strip(), "a fault without a reason"
        return "fault"
    assert fault is None, f"HTTP 200 carrying a fault: {fault}"
    body = reply.message.body_element
    local = etree.QName(body).localname if body is not None else ""
    if local in ("RegistryResponse", "RetrieveDocumentSetResponse", "AdhocQueryResponse"):
        status_text = body.get("status") or ""
        if local == "RetrieveDocumentSetResponse":
            inner = body.find("{urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0}RegistryResponse")
            status_text = inner.get("status") if inner is not None else ""
        return "xds-success" if status_text.endswith(":Success") else "xds-error"
    return "soap-response"
