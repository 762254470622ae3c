"""One path for every DMP message: bytes in, checks, one handler, bytes out, one exchange-log line.

    parse (simulator.soap) → identify the transaction → workspace clock and injected faults → VIHF → handler
    → SOAP response (MTOM where the DMP answers MTOM) or fault → exchange log

Handlers raise ``SoapFault``/``DmpFault`` for faults; registry/repository handlers turn ``XdsError`` into a
``RegistryResponse`` themselves (that is how XDS reports errors). Anything unexpected becomes a Receiver fault
and is logged: the server never answers with a crash.
"""
from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from cryptography import x509
from lxml import etree

from ..pki import TestPKI
from ..security import VihfSettings, claimed_caller, verify_vihf
from ..security.principal import PatientRef, Principal
from ..security.tls_client import check_tls_client
from ..soap import SoapFault, SoapMessage, SoapVersion, build_response, parse_request, to_response
from ..exchanges import (HttpReply, append_exchange, fault_delay, fault_finding, live_findings, log_line,
                         record_exchange, transport_fault)
from ..store import Authorization, CallState, Exchange, Finding, Patient, Store, UnitOfWork
from .faults import DmpFault
from .messages import Operation, identify

log = logging.getLogger("segur_sandbox.dmp")

# Transactions answered in MTOM whatever happens (dmp.md §0.3: ITI-43 responses are multipart, also on error).
ALWAYS_MTOM = frozenset({"TD3.2"})
# Transactions that need no patient in the VIHF (dmp.md §2.2: resource-id absent for TD0.4; TD0.5 searches one).
PATIENTLESS = frozenset({"TD0.4", "TD0.5"})
# Handlers that only read (search, retrieve). On SQLite they run in a read-only unit of work (no write lock: a
# search never queues behind a feed) and the exchange-log line gets its own short write transaction; every other
# handler, and every handler on PostgreSQL, writes its log line in its own unit of work (one transaction a call),
# in a savepoint unless the handler only read. These also read the caller's patient and authorization with the
# workspace, keyed by what the VIHF claims (``Call.patient_and_authorization``).
READ_ONLY = frozenset({"TD3.1", "TD3.2"})


@dataclass(frozen=True)
class Reply:
    body: etree._Element
    attachments: Mapping[str, Any] | None = None
    force_mtom: bool = False
    patient_ins: str | None = None
    fragments: tuple[bytes, ...] = ()  # pre-serialised registry objects for the body's placeholders (xds.build.splice)


@dataclass
class Runtime:
    """What every request of this process shares: nothing here may hold per-workspace state."""

    store: Store
    pki: TestPKI
    vihf_lenient: bool = False
    clock_skew: timedelta = timedelta(minutes=5)
    vihf_max_age: timedelta = timedelta(hours=2)
    require_xades: bool = True
    populate: Callable[[str], None] | None = None  # fills a new workspace with the seeded population
    tls_vihf_check: bool = True  # a TLS client certificate must fit the VIHF's mode (security/tls_client.py)
    soap_threads: int = 0  # SOAP calls on each worker's event loop; N: up to N at once in threads (call_runner.py)

    def vihf_settings(self, workspace_settings: Mapping[str, Any]) -> VihfSettings:
        lenient = bool(workspace_settings.get("vihf_lenient", self.vihf_lenient))
        skew = timedelta(seconds=int(workspace_settings.get("clock_skew_seconds", self.clock_skew.total_seconds())))
        return VihfSettings(lenient_unsigned=lenient, clock_skew=skew, max_age=self.vihf_max_age)


@dataclass
class Call:
    """What a handler receives: the request, who sent it, the workspace's state and clock."""

    workspace: str
    now: datetime
    message: SoapMessage
    operation: Operation
    principal: Principal
    runtime: Runtime
    workspace_settings: Mapping[str, Any]
    findings: list[Finding] = field(default_factory=list)
    patient_ins: str | None = None
    unit_of_work: UnitOfWork | None = None  # None while the transaction's preparer runs (see ``Preparer``)
    prepared: Any = None  # what the preparer found, for the handler
    prefetched: CallState | None = None  # read with the workspace, for the caller the VIHF claimed

    def patient_and_authorization(self, ins: str) -> tuple[Patient | None, Authorization | None]:
        """The patient (None when unknown) and the caller's authorization on it (None when there is none). Read with
        the workspace when the caller the VIHF claimed is the one it proved; once only, so that a handler that
        writes and reads again sees its own writes."""
        state, self.prefetched = self.prefetched, None
        if state is not None and state.caller == (ins, self.principal.name_id):
            return state.patient, state.authorization
        return self.tx.authorizations.with_patient(self.workspace, ins, self.principal.name_id)

    @property
    def tx(self) -> UnitOfWork:
        if self.unit_of_work is None:
            raise RuntimeError("no unit of work: a preparer runs before the transaction and must not use the store")
        return self.unit_of_work

    @property
    def body(self) -> etree._Element:
        return self.message.body_element

    def expect_patient(self, patient: PatientRef) -> None:
        """The patient of the request must be the patient of the VIHF (dmp.md §2.6)."""
        self.patient_ins = patient.ins
        vihf_patient = self.principal.patient
        if vihf_patient is None:
            raise DmpFault("DMPVIHFInvalid", "VIHF invalide : attribut obligatoire "
                           "urn:oasis:names:tc:xacml:2.0:resource:resource-id absent")
        if vihf_patient.ins != patient.ins:
            raise DmpFault("DMPVIHFInvalid", "VIHF invalide : patient de la requête différent du VIHF "
                           f"(requête {patient.ins}, VIHF {vihf_patient.ins})")


Handler = Callable[[Call], Reply]
Preparer = Callable[[Call], Any]
"""The part of a transaction that needs no database (parsing, metadata and signature checks): run before the unit
of work, its result in ``call.prepared``. On SQLite a write unit of work holds the one writer lock of every worker
process, so what runs outside it runs in parallel."""


def _handlers() -> dict[str, Handler]:
    from .handlers import HANDLERS  # late import: handlers import this module's types

    return HANDLERS


def _preparers() -> dict[str, Preparer]:
    from .handlers import PREPARERS

    return PREPARERS


class UnknownWorkspace(DmpFault):
    def __init__(self, workspace: str) -> None:
        super().__init__("SandboxUnknownWorkspace",
                         f"Espace de travail (workspace) « {workspace} » inconnu du bac à sable : créez-le par "
                         "POST /api/workspaces")


def _principal_summary(principal: Principal | None) -> dict[str, Any] | None:
    if principal is None:
        return None
    return {
        "name_id": principal.name_id, "auth_mode": principal.auth_mode, "structure_id": principal.structure_id,
        "sector": principal.sector, "profession": principal.profession, "specialty": principal.specialty,
        "purpose": principal.purpose, "card_type": principal.card_type, "signed": principal.signed,
        "patient": principal.patient.cx() if principal.patient else None, "subject_name": principal.subject_name,
        "lps": [principal.lps_name, principal.lps_version, principal.lps_homologation],
    }


@dataclass
class _Trace:
    """What the exchange log needs to know of a call, filled in as the call goes, kept when it ends in a fault."""

    principal: Principal | None = None
    patient_ins: str | None = None
    findings: list[Finding] = field(default_factory=list)
    # set once the pipeline has read the workspace: the log write then need not read it again
    workspace_known: bool = False
    # set when the log line was committed with the handler's own unit of work (see DmpService._run)
    logged: bool = False
    live_checked: bool = False  # the live conformance findings are in ``findings``
    # computed before the handler's unit of work (they only read the request), appended after its own findings
    live: list[Finding] | None = None
    reply: HttpReply | None = None  # the handler's answer, once encoded
    delay_seconds: float = 0.0  # an injected latency, waited by the HTTP layer (HttpReply.delay_seconds)


def _add_live_findings(trace: _Trace, message: SoapMessage | None) -> None:
    if not trace.live_checked:
        trace.live_checked = True
        trace.findings += trace.live if trace.live is not None else live_findings(message)


class DmpService:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def process(self, workspace: str, service: str, body: bytes, content_type: str | None,
                soap_action: str | None = None, client_chain: Sequence[x509.Certificate] = ()) -> HttpReply:
        """``client_chain``: the TLS client certificate chain (leaf first) when the server has one (``serve --tls``,
        the ASGI TLS extension); it is checked against the VIHF's authentication mode. Never sleeps: an injected
        latency comes back as the reply's ``delay_seconds``."""
        started_at = datetime.now(timezone.utc)
        t0 = time.perf_counter()
        message: SoapMessage | None = None
        operation: Operation | None = None
        trace = _Trace()
        reply: HttpReply
        try:
            message = parse_request(body, content_type, soap_action)
            trace.findings += [Finding("SOAP-NOTE", "warning", note) for note in message.notes]
            operation = identify(service, message.action, message.body_element)

            def exchange_of(reply: HttpReply) -> Exchange:  # the log line of a call that reached its handler
                _add_live_findings(trace, message)
                return self._exchange(service, started_at, (time.perf_counter() - t0) * 1000, body, content_type,
                                      reply, message, operation, trace)
            reply = self._run(workspace, message, operation, trace, exchange_of, client_chain)
        except SoapFault as fault:
            reply = self._fault_reply(fault, message, operation)
            trace.findings.append(Finding(_fault_rule(fault), "error", fault.reason))
        except Exception:  # noqa: BLE001 - the one place that turns a bug into a clean Receiver fault
            log.exception("unexpected error in %s", service)
            fault = SoapFault("Receiver", "SandboxInternalError",
                              "Erreur interne du bac à sable ; la trace est dans le journal du serveur", lang="fr")
            reply = self._fault_reply(fault, message, operation)
            trace.findings.append(Finding("SANDBOX-INTERNAL", "error", traceback.format_exc(limit=3)))
        if not trace.logged:
            duration_ms = (time.perf_counter() - t0) * 1000
            _add_live_findings(trace, message)
            self._log(workspace, service, started_at, duration_ms, body, content_type, reply, message, operation,
                      trace)
        if trace.delay_seconds:
            reply = replace(reply, delay_seconds=trace.delay_seconds)
        return reply

    # -- steps ----------------------------------------------------------------------------------------------
    def _run(self, workspace: str, message: SoapMessage, operation: Operation, trace: _Trace,
             exchange_of: Callable[[HttpReply], Exchange], client_chain: Sequence[x509.Certificate] = ()
             ) -> HttpReply:
        store = self.runtime.store
        read_only = operation.transaction in READ_ONLY and store.dialect == "sqlite"
        prepare = _preparers().get(operation.transaction)
        if prepare is None and (read_only or store.dialect != "sqlite"):
            # One unit of work for the whole call where holding it while the VIHF is checked blocks nobody: a SQLite
            # read takes no lock, a PostgreSQL transaction holds its connection only (a SQLite write would hold the
            # writer lock of every worker). A transaction less per call; on PostgreSQL, three round trips less, and
            # for a handler that only reads, whose one write is its log line, last, BEGIN and COMMIT too.
            call = None
            # a search or a retrieve reads its caller's access with the workspace: a round trip less on PostgreSQL
            caller = claimed_caller(message) if operation.transaction in READ_ONLY else None
            with store.transaction(readonly=read_only, autocommit=operation.transaction in READ_ONLY) as tx:
                state, now = self._workspace(tx, workspace, trace, caller)
                if not state.faults_armed:
                    ws = state.workspace
                    principal = verify_vihf(message, pki=self.runtime.pki, now=now,
                                            settings=self.runtime.vihf_settings(ws.settings))
                    trace.principal = principal
                    call = self._call(workspace, ws, now, message, operation, principal, trace, client_chain)
                    call.prefetched = state  # used only for the caller it was read for, if any
                    exchange = self._handle(call, tx, read_only, trace, exchange_of)
            if call is not None:
                return self._handled(workspace, trace, exchange)
            # faults armed: the general path below, which consumes the fault in a write unit of work of its own
        with store.transaction(readonly=True) as tx:
            state, now = self._workspace(tx, workspace, trace)
        ws = state.workspace
        vihf_error: SoapFault | None = None
        principal: Principal | None = None
        try:
            principal = verify_vihf(message, pki=self.runtime.pki, now=now,
                                    settings=self.runtime.vihf_settings(ws.settings))
        except SoapFault as exc:  # an injected fault (e.g. an outage) wins over a VIHF problem
            vihf_error = exc
        trace.principal = principal
        fault = None
        if state.faults_armed:
            with store.transaction() as tx:
                fault = tx.controls.consume_fault(
                    workspace, operation.transaction,
                    patient_ins=principal.patient.ins if principal and principal.patient else None,
                    professional=principal.name_id if principal else None)
        if fault is not None:
            trace.findings.append(fault_finding(fault))
            trace.delay_seconds = fault_delay(fault)
        injected = self._injected(fault, message, operation)
        if injected is not None:
            return injected
        if vihf_error is not None or principal is None:
            raise vihf_error or DmpFault("DMPVIHFInvalid", "VIHF invalide")
        call = self._call(workspace, ws, now, message, operation, principal, trace, client_chain)
        if prepare is not None:  # outside the write unit of work: on SQLite it holds every worker's writer lock
            call.prepared = prepare(call)
        with store.transaction(readonly=read_only) as tx:
            exchange = self._handle(call, tx, read_only, trace, exchange_of)
        return self._handled(workspace, trace, exchange)

    @staticmethod
    def _workspace(tx: UnitOfWork, workspace: str, trace: _Trace, caller: tuple[str, str] | None = None
                   ) -> tuple[CallState, datetime]:
        """The workspace row, whether faults are armed in it (and the access of ``caller``, see
        ``Call.patient_and_authorization``), and its clock's now."""
        # Faults are seldom armed: checking here spares the usual request a write transaction. A fault armed
        # between this read and the handler acts from the next request on, as if armed a moment later.
        state = tx.workspaces.get_for_call(workspace, caller=caller)
        if state is None:
            raise UnknownWorkspace(workspace)
        trace.workspace_known = True
        # the workspace row holds the clock offset: no second read for ControlRepository.workspace_now
        now = datetime.now(timezone.utc) + timedelta(seconds=state.workspace.clock_offset_seconds)
        return state, now

    def _call(self, workspace: str, ws: Any, now: datetime, message: SoapMessage, operation: Operation,
              principal: Principal, trace: _Trace, client_chain: Sequence[x509.Certificate]) -> Call:
        """The checks between a valid VIHF and the handler, and what the handler receives. The live conformance
        findings are computed here too: they only read the request, so no unit of work need wait for them."""
        trace.findings += [Finding("VIHF-NOTE", "warning", note) for note in principal.notes]
        if client_chain and bool(ws.settings.get("tls_vihf_check", self.runtime.tls_vihf_check)):
            check_tls_client(client_chain, principal, pki=self.runtime.pki, now=now,
                             settings=self.runtime.vihf_settings(ws.settings))
        if operation.transaction not in _handlers():
            raise DmpFault("SandboxUnsupportedTransaction",
                           f"Transaction {operation.transaction} non prise en charge par le bac à sable")
        if principal.patient is None and operation.transaction not in PATIENTLESS:
            raise DmpFault("DMPVIHFInvalid", "VIHF invalide : attribut obligatoire "
                           "urn:oasis:names:tc:xacml:2.0:resource:resource-id absent")
        trace.live = live_findings(message)
        return Call(workspace=workspace, now=now, message=message, operation=operation, principal=principal,
                    runtime=self.runtime, workspace_settings=ws.settings, findings=trace.findings)

    def _handle(self, call: Call, tx: UnitOfWork, read_only: bool, trace: _Trace,
                exchange_of: Callable[[HttpReply], Exchange]) -> Exchange | None:
        """Run the handler in ``tx``; in a write unit of work, append the exchange-log line to it too (returned)."""
        call.unit_of_work = tx
        try:
            result = _handlers()[call.operation.transaction](call)
        finally:
            trace.patient_ins = call.patient_ins  # what the handler had learnt, also when it raised
        trace.patient_ins = result.patient_ins or call.patient_ins
        trace.reply = self._encode(result, call.message, call.operation)
        if read_only:
            return None
        # One unit of work for the call and its log line: a transaction (BEGIN, COMMIT, on PostgreSQL a WAL flush;
        # on SQLite a write lock) less per request. A failed append is retried after (``process``).
        exchange = exchange_of(trace.reply)
        wrote = call.operation.transaction not in READ_ONLY
        return exchange if append_exchange(tx, call.workspace, exchange, savepoint=wrote) else None

    @staticmethod
    def _handled(workspace: str, trace: _Trace, exchange: Exchange | None) -> HttpReply:
        """After the handler's unit of work committed: its log line, when written with it."""
        if exchange is not None:
            trace.logged = True
            log_line(workspace, exchange)
        assert trace.reply is not None
        return trace.reply

    @staticmethod
    def _encode(result: Reply, message: SoapMessage, operation: Operation) -> HttpReply:
        encoded = build_response(result.body, version=message.version, action=operation.response_action,
                                 relates_to=message.message_id, mtom_attachments=result.attachments or None,
                                 force_mtom=result.force_mtom or operation.transaction in ALWAYS_MTOM)
        body = encoded.body
        if result.fragments:
            from .xds.build import splice

            body = splice(body, result.fragments)
        return HttpReply(200, encoded.content_type, body)

    def _injected(self, fault: Any, message: SoapMessage, operation: Operation) -> HttpReply | None:
        if fault is None:
            return None
        below_soap = transport_fault(fault)
        if below_soap is not None or fault.kind == "latency":
            return below_soap
        if fault.kind == "soap_fault":
            raise DmpFault(fault.params["code"], fault.params["reason"], sender=fault.params.get("sender", True))
        if fault.kind == "registry_error":
            from .xds import XdsError, registry_response
            from .xds.build import adhoc_query_response, retrieve_response

            error = XdsError(fault.params["code"], fault.params.get("context", "erreur injectée"),
                             severity=fault.params.get("severity", "Error"))
            # each transaction's own failure shape: ITI-18 an AdhocQueryResponse, ITI-43 a
            # RetrieveDocumentSetResponse, ITI-41/57 a bare RegistryResponse
            if operation.transaction == "TD3.1":
                answer = adhoc_query_response([], errors=[error])
            elif operation.transaction == "TD3.2":
                answer = retrieve_response([], errors=[error])
            else:
                answer = registry_response([error])
            encoded = build_response(answer, version=message.version,
                                     action=operation.response_action, relates_to=message.message_id,
                                     force_mtom=operation.transaction in ALWAYS_MTOM)
            return HttpReply(200, encoded.content_type, encoded.body)
        return None

    def _fault_reply(self, fault: SoapFault, message: SoapMessage | None, operation: Operation | None) -> HttpReply:
        version = message.version if message is not None else SoapVersion.V12
        relates_to = message.message_id if message is not None else None
        force_mtom = operation is not None and operation.transaction in ALWAYS_MTOM
        response = to_response(fault, version, relates_to, force_mtom=force_mtom)
        return HttpReply(response.status, response.content_type, response.body)

    def _log(self, workspace: str, service: str, started_at: datetime, duration_ms: float, body: bytes,
             content_type: str | None, reply: HttpReply, message: SoapMessage | None, operation: Operation | None,
             trace: _Trace) -> None:
        exchange = self._exchange(service, started_at, duration_ms, body, content_type, reply, message, operation,
                                  trace)
        record_exchange(self.runtime.store, workspace, exchange, workspace_known=trace.workspace_known)

    @staticmethod
    def _exchange(service: str, started_at: datetime, duration_ms: float, body: bytes, content_type: str | None,
                  reply: HttpReply, message: SoapMessage | None, operation: Operation | None,
                  trace: _Trace) -> Exchange:
        principal, patient_ins, findings = trace.principal, trace.patient_ins, trace.findings
        verdict = "fail" if any(f.severity == "error" for f in findings) else "pass"
        return Exchange(
            started_at=started_at, service=service, http_status=reply.status,
            duration_ms=duration_ms + trace.delay_seconds * 1000,  # what the client sees: an injected latency too
            transaction=operation.transaction if operation else None,
            action=message.action if message is not None else None,
            request_content_type=content_type, request=body, response_content_type=reply.content_type,
            response=reply.body, principal=_principal_summary(principal),
            patient_ins=patient_ins or (principal.patient.ins if principal and principal.patient else None),
            professional=principal.name_id if principal else None, verdict=verdict, findings=tuple(findings))


def _fault_rule(fault: SoapFault) -> str:
    code = getattr(fault, "dmp_code", None) or getattr(fault.subcode, "localname", None) or str(fault.subcode or "")
    return f"FAULT-{code}" if code else "FAULT"
