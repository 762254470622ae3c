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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from lxml import etree

from ..pki import TestPKI
from ..security import VihfSettings, verify_vihf
from ..security.principal import PatientRef, Principal
from ..soap import SoapFault, SoapMessage, SoapVersion, build_response, parse_request, to_response
from ..exchanges import HttpReply, live_findings, record_exchange, transport_fault
from ..store import Exchange, Finding, Store, UnitOfWork
from .faults import DmpFault
from .messages import Operation, identify

log = logging.getLogger("segur_sandbox.dmp")

# Transactions answered in MTOM whatever happens (dmp.md §0.3: ITI-43 responses are multipart, also on error).
ALWAYS_MTOM = frozenset({"TD3.2"})
# Transactions that need no patient in the VIHF (dmp.md §2.2: resource-id absent for TD0.4; TD0.5 searches one).
PATIENTLESS = frozenset({"TD0.4", "TD0.5"})


@dataclass(frozen=True)
class Reply:
    body: etree._Element
    attachments: Mapping[str, Any] | None = None
    force_mtom: bool = False
    patient_ins: str | None = None


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
    tx: UnitOfWork
    runtime: Runtime
    workspace_settings: Mapping[str, Any]
    findings: list[Finding] = field(default_factory=list)
    patient_ins: str | None = None

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


def _handlers() -> dict[str, Handler]:
    from .handlers import HANDLERS  # late import: handlers import this module's types

    return HANDLERS


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


class DmpService:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def process(self, workspace: str, service: str, body: bytes, content_type: str | None,
                soap_action: str | None = None) -> HttpReply:
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
            reply = self._run(workspace, message, operation, trace)
        except SoapFault as fault:
            reply = self._fault_reply(fault, message, operation)
            trace.findings.append(Finding(_fault_rule(fault), "error", fault.reason))
        except Exception:  # noqa: BLE001 - the one place that turns a bug into a clean Receiver fault
            log.exception("unexpected error in %s", service)
            fault = SoapFault("Receiver", "SandboxInternalError",
                              "Erreur interne du bac à sable ; la trace est dans le journal du serveur", lang="fr")
            reply = self._fault_reply(fault, message, operation)
            trace.findings.append(Finding("SANDBOX-INTERNAL", "error", traceback.format_exc(limit=3)))
        duration_ms = (time.perf_counter() - t0) * 1000
        trace.findings += live_findings(message)
        self._log(workspace, service, started_at, duration_ms, body, content_type, reply, message, operation, trace)
        return reply

    # -- steps ----------------------------------------------------------------------------------------------
    def _run(self, workspace: str, message: SoapMessage, operation: Operation, trace: _Trace) -> HttpReply:
        store = self.runtime.store
        with store.transaction(readonly=True) as tx:
            ws = tx.workspaces.get(workspace)
            if ws is None:
                raise UnknownWorkspace(workspace)
            trace.workspace_known = True
            now = tx.controls.workspace_now(workspace, datetime.now(timezone.utc))
        vihf_error: SoapFault | None = None
        principal: Principal | None = None
        try:
            principal = verify_vihf(message, pki=self.runtime.pki, now=now,
                                    settings=self.runtime.vihf_settings(ws.settings))
        except SoapFault as exc:  # an injected fault (e.g. an outage) wins over a VIHF problem
            vihf_error = exc
        trace.principal = principal
        with store.transaction() as tx:
            fault = tx.controls.consume_fault(
                workspace, operation.transaction,
                patient_ins=principal.patient.ins if principal and principal.patient else None,
                professional=principal.name_id if principal else None)
        injected = self._injected(fault, message, operation)
        if injected is not None:
            trace.findings.append(Finding("SANDBOX-FAULT", "info", f"injected fault {fault.kind}"))
            return injected
        if vihf_error is not None or principal is None:
            raise vihf_error or DmpFault("DMPVIHFInvalid", "VIHF invalide")
        trace.findings += [Finding("VIHF-NOTE", "warning", note) for note in principal.notes]
        handler = _handlers().get(operation.transaction)
        if handler is None:
            raise DmpFault("SandboxUnsupportedTransaction",
                           f"Transaction {operation.transaction} non prise en charge par le bac à sable")
        if principal.patient is None and operation.transaction not in PATIENTLESS:
            raise DmpFault("DMPVIHFInvalid", "VIHF invalide : attribut obligatoire "
                           "urn:oasis:names:tc:xacml:2.0:resource:resource-id absent")
        call = None
        try:
            with store.transaction() as tx:
                call = Call(workspace=workspace, now=now, message=message, operation=operation, principal=principal,
                            tx=tx, runtime=self.runtime, workspace_settings=ws.settings, findings=trace.findings)
                result = handler(call)
        finally:
            if call is not None:
                trace.patient_ins = call.patient_ins
        trace.patient_ins = result.patient_ins or trace.patient_ins
        encoded = build_response(result.body, version=message.version, action=operation.response_action,
                                 relates_to=message.message_id, mtom_attachments=result.attachments or None,
                                 force_mtom=result.force_mtom or operation.transaction in ALWAYS_MTOM)
        return HttpReply(200, encoded.content_type, encoded.body)

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

            error = XdsError(fault.params["code"], fault.params.get("context", "erreur injectée"),
                             severity=fault.params.get("severity", "Error"))
            encoded = build_response(registry_response([error]), version=message.version,
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
        principal, patient_ins, findings = trace.principal, trace.patient_ins, trace.findings
        verdict = "fail" if any(f.severity == "error" for f in findings) else "pass"
        exchange = Exchange(
            started_at=started_at, duration_ms=duration_ms, service=service, http_status=reply.status,
            transaction=operation.transaction if operation else None,
            action=message.action if message is not None else None,
            request_content_type=content_type, request=body, response_content_type=reply.content_type,
            response=reply.body, principal=_principal_summary(principal),
            patient_ins=patient_ins or (principal.patient.ins if principal and principal.patient else None),
            professional=principal.name_id if principal else None, verdict=verdict, findings=tuple(findings))
        record_exchange(self.runtime.store, workspace, exchange, workspace_known=trace.workspace_known)


def _fault_rule(fault: SoapFault) -> str:
    code = getattr(fault, "dmp_code", None) or getattr(fault.subcode, "localname", None) or str(fault.subcode or "")
    return f"FAULT-{code}" if code else "FAULT"
