"""One path for every INSi message, mirroring the DMP's (``simulator.dmp.service``):

    parse (simulator.soap, SOAP 1.2 only) → operation (wsa:Action, else the body) → workspace, clock, injected
    faults, CNDA identities present → ContexteLPS / ContexteBAM / MessageID → IDAM → caller (assertion PS or
    INSI-AUTO/MANU certificate) → request body → matching on the workspace's identities → RESULTAT or fault
    → exchange log (the DMP's, ``service="lps"``, ``transaction`` = the operation name)

Process-wide options are ``InsiConfig`` (environment ``SEGUR_SANDBOX_INSI_*``); per-workspace switches live in
the workspace settings (``PATCH``/create through the admin API):

===========================  ======================================================================================
``insi_idam_allowed``        list of accepted IDAM (CNDA authorisation numbers); others → ``siram_100/desir_550``.
                             Unset: ``InsiConfig.idam_allowed``; both empty: any non-empty IDAM.
``insi_not_found_fault``     true: answer ``insi_102`` (traits) / ``insi_101`` (Vitale) instead of CR ``01``, as the
                             CNAM qualification platform does for people outside its RFI base.
``insi_auth_modes``          accepted caller identities among ``cpx`` (assertion PS), ``mtls`` (INSI-AUTO/MANU
                             certificate), ``none`` (no caller check). Default ``["cpx", "mtls"]``.
``insi_assertion_lenient``   true: an unsigned assertion PS is accepted (noted).
``insi_assertion_signer``    ``sign`` / ``auth`` / ``any`` (default): which card key may sign the assertion PS.
``insi_strict_headers``      false: missing context headers are noted instead of refused.
``insi_matching``            overrides of ``MatchingRules`` (``separators``, ``first_names``, ``whole_list``,
                             ``birth_place``, ``required_traits``, ``vitale_*``…).
``insi_tiq_prenom``          false: TIQ without ``Prenom`` (the CNAM answers both ways).
``insi_verification``        false: the (inferred) verification operation is refused as unknown.
===========================  ======================================================================================

Fault injection (``tx.controls.add_fault``, transaction = the operation name or None for any): ``latency``
{ms}, ``http_503``, ``drop_connection`` as for the DMP; ``soap_fault`` {code: ``insi_102`` | ``insi_101`` |
``desir_550`` | ``DESIR_560`` | any code, reason?, message?, subcode?, sender?, severite?} renders the INSi
fault shape; ``registry_error`` {code: ``01`` | ``02`` …} forces that CodeCR in a normal answer.
"""
from __future__ import annotations

import logging
import os
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from importlib import resources
from typing import Any

from cryptography import x509
from lxml import etree

from ..dmp.service import Runtime
from ..exchanges import HttpReply, fault_delay, fault_finding, live_findings, record_exchange, transport_fault
from ..soap import SoapFault, SoapMessage, SoapVersion, build_response, parse_request, to_response
from ..store import Exchange, Finding
from .caller import CallerSettings, InsiCaller, verify_caller
from .cnda import ensure_cnda_identities
from .constants import (CR_NONE, LIBELLES, OPERATIONS, TRAITS, VERIFICATION, VERIFICATION_REQUEST_NS, VITALE,
                        Operation)
from .faults import CATALOGUE, InsiFault, custom_spec, error_code_of
from .headers import Context, read_context
from .matching import MatchingRules, MatchResult, match_traits, match_vitale, verify_ins
from .messages import read_traits_request, read_verification_request, read_vitale_request, resultat

log = logging.getLogger("segur_sandbox.insi")

SERVICE = "lps"
ENV_PREFIX = "SEGUR_SANDBOX_INSI_"


@dataclass(frozen=True)
class InsiConfig:
    """Process-wide INSi options (environment ``SEGUR_SANDBOX_INSI_<NAME>``)."""

    idam_allowed: tuple[str, ...] = ()  # empty: any non-empty IDAM (workspaces may set their own list)
    client_cert_header: str = "x-ssl-client-cert"  # reverse proxy's client certificate header; "" disables
    assertion_max_age_seconds: int = 3600
    clock_skew_seconds: int = 300
    verification_namespaces: tuple[str, ...] = (VERIFICATION_REQUEST_NS, "")  # "": unqualified (sketch form)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> InsiConfig:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, current in cls().__dict__.items():
            raw = env.get(ENV_PREFIX + name.upper())
            if raw is None:
                continue
            if isinstance(current, tuple):
                values[name] = tuple(v.strip() for v in raw.split(",") if v.strip() or name.endswith("namespaces"))
            elif isinstance(current, int):
                values[name] = int(raw)
            else:
                values[name] = raw.strip().lower() if name == "client_cert_header" else raw
        return cls(**values)


@dataclass(frozen=True)
class WorkspaceInsi:
    """The INSi switches of one workspace (see the module docstring)."""

    idam_allowed: tuple[str, ...]
    not_found_fault: bool
    caller: CallerSettings
    strict_headers: bool
    rules: MatchingRules
    tiq_prenom: bool
    verification: bool

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], config: InsiConfig) -> WorkspaceInsi:
        try:
            idam = settings.get("insi_idam_allowed")
            if idam is not None and (not isinstance(idam, list) or not all(isinstance(v, str) for v in idam)):
                raise ValueError("insi_idam_allowed: expected a list of strings")
            modes = settings.get("insi_auth_modes", ["cpx", "mtls"])
            if not isinstance(modes, list):
                raise ValueError("insi_auth_modes: expected a list among cpx, mtls, none")
            signer = settings.get("insi_assertion_signer", "any")
            if signer not in ("sign", "auth", "any"):
                raise ValueError("insi_assertion_signer: expected sign, auth or any")
            caller = CallerSettings(modes=tuple(modes), lenient_unsigned=bool(settings.get("insi_assertion_lenient")),
                                    max_age=timedelta(seconds=config.assertion_max_age_seconds),
                                    clock_skew=timedelta(seconds=config.clock_skew_seconds), signer_usage=signer)
            matching = settings.get("insi_matching")
            if matching is not None and not isinstance(matching, Mapping):
                raise ValueError("insi_matching: expected an object")
            return cls(idam_allowed=tuple(idam) if idam is not None else config.idam_allowed,
                       not_found_fault=bool(settings.get("insi_not_found_fault", False)), caller=caller,
                       strict_headers=bool(settings.get("insi_strict_headers", True)),
                       rules=MatchingRules.from_settings(matching),
                       tiq_prenom=bool(settings.get("insi_tiq_prenom", True)),
                       verification=bool(settings.get("insi_verification", True)))
        except (ValueError, TypeError) as exc:
            raise InsiFault("settings", f"Réglage invalide de l'espace de travail : {exc}.") from None


@dataclass
class _Outcome:
    reply: HttpReply
    workspace_known: bool = False
    caller: InsiCaller | None = None
    context: Context | None = None
    patient_ins: str | None = None
    delay_seconds: float = 0.0  # an injected latency, waited by the HTTP layer (HttpReply.delay_seconds)


def identify(message: SoapMessage) -> tuple[Operation, list[str]]:
    """The operation: wsa:Action (or the transport action) when it names one, checked against the body root;
    the body root alone otherwise."""
    notes: list[str] = []
    body = message.body_element
    by_body = next((op for op in OPERATIONS if body.tag == op.request_tag), None)
    if by_body is None and etree.QName(body).localname == VERIFICATION.request_element:
        by_body = VERIFICATION  # namespace checked by the request reader
    action = message.action
    by_action = next((op for op in OPERATIONS if op.action == action), None) if action else None
    if by_action is not None:
        if by_body is not None and by_body is not by_action:
            raise InsiFault("request", f"Requête non conforme : le corps {etree.QName(body).localname} ne "
                                       f"correspond pas à l'action {action}.")
        if by_body is None:
            raise InsiFault("request", f"Requête non conforme : corps {body.tag} inattendu pour l'action {action} "
                                       f"(attendu {by_action.request_tag}).")
        return by_action, notes
    if by_body is None:
        raise InsiFault("operation", f"Opération inconnue : action {action!r}, corps {body.tag}.")
    if action:
        notes.append(f"action {action!r} inconnue : opération {by_body.name} déduite du corps")
    return by_body, notes


class InsiService:
    def __init__(self, runtime: Runtime, config: InsiConfig | None = None) -> None:
        self.runtime = runtime
        self.config = config or InsiConfig.from_environment()

    def process(self, workspace: str, body: bytes, content_type: str | None, soap_action: str | None = None,
                client_chain: Sequence[x509.Certificate] = ()) -> HttpReply:
        started_at = datetime.now(timezone.utc)
        t0 = time.perf_counter()
        message: SoapMessage | None = None
        operation: Operation | None = None
        outcome = _Outcome(HttpReply(500, "text/plain", b""))
        findings: list[Finding] = []
        try:
            message = parse_request(body, content_type, soap_action)
            findings += [Finding("SOAP-NOTE", "warning", note) for note in message.notes]
            if message.version is not SoapVersion.V12:
                raise SoapFault("VersionMismatch", None, "Le service INSi n'accepte que SOAP 1.2 "
                                "(http://www.w3.org/2003/05/soap-envelope)", lang="fr")
            operation, notes = identify(message)
            findings += [Finding("INSI-NOTE", "warning", note) for note in notes]
            self._run(workspace, message, operation, client_chain, findings, outcome)
        except InsiFault as fault:
            fault = fault.with_message_id(message.message_id if message is not None else None)
            outcome.reply = self._fault_reply(fault, message)
            findings.append(Finding(f"FAULT-{fault.error_code}", "error", fault.detail_text))
        except SoapFault as fault:
            outcome.reply = self._fault_reply(fault, message)
            findings.append(Finding(f"FAULT-{error_code_of(fault) or fault.subcode_text or fault.code}", "error",
                                    fault.reason))
        except Exception:  # noqa: BLE001 - the one place that turns a bug into a clean Receiver fault
            log.exception("unexpected error in INSi")
            fault = InsiFault("internal", message_id=message.message_id if message is not None else None)
            outcome.reply = self._fault_reply(fault, message)
            findings.append(Finding("SANDBOX-INTERNAL", "error", traceback.format_exc(limit=3)))
        duration_ms = (time.perf_counter() - t0 + outcome.delay_seconds) * 1000  # as the client sees it
        findings += live_findings(message)
        self._log(workspace, started_at, duration_ms, body, content_type, message, operation, outcome, findings)
        if outcome.delay_seconds:
            return replace(outcome.reply, delay_seconds=outcome.delay_seconds)
        return outcome.reply

    # -- steps --------------------------------------------------------------------------------------------
    def _run(self, workspace: str, message: SoapMessage, operation: Operation,
             client_chain: Sequence[x509.Certificate], findings: list[Finding], outcome: _Outcome) -> None:
        store = self.runtime.store
        with store.transaction() as tx:
            ws = tx.workspaces.get(workspace)
            if ws is None:
                raise InsiFault("workspace", f"Espace de travail (workspace) « {workspace} » inconnu du bac à sable : "
                                             "créez-le par POST /api/workspaces.")
            now = datetime.now(timezone.utc) + timedelta(seconds=ws.clock_offset_seconds)  # = controls.workspace_now
            outcome.workspace_known = True
            injected = tx.controls.consume_fault(workspace, operation.name)
            if ensure_cnda_identities(tx, workspace):
                findings.append(Finding("INSI-SEED", "info", "identités de test CNDA (ré)installées"))
        settings = WorkspaceInsi.from_settings(ws.settings, self.config)
        forced_code: str | None = None
        if injected is not None:
            findings.append(fault_finding(injected))
            outcome.delay_seconds = fault_delay(injected)
            below_soap = transport_fault(injected)
            if below_soap is not None:
                outcome.reply = below_soap
                return
            if injected.kind == "soap_fault":
                raise InsiFault(custom_spec(dict(injected.params)))
            elif injected.kind == "registry_error":
                forced_code = str(injected.params["code"])
        if operation is VERIFICATION and not settings.verification:
            raise InsiFault("operation", "Opération inconnue du service : verifierInsAvecTraitsIdentite "
                                         "(désactivée dans cet espace de travail).")

        context = read_context(message, now=now, strict=settings.strict_headers,
                               clock_skew=settings.caller.clock_skew)
        outcome.context = context
        findings += [Finding("INSI-CONTEXT", "warning", note) for note in context.notes]
        if not context.idam or (settings.idam_allowed and context.idam not in settings.idam_allowed):
            raise InsiFault("desir_550", CATALOGUE["desir_550"].message if context.idam else
                            "Numéro d'autorisation du logiciel (ContexteLPS/LPS/IDAM) absent.")
        caller = verify_caller(message, pki=self.runtime.pki, now=now, client_chain=client_chain,
                               settings=settings.caller)
        outcome.caller = caller
        findings += [Finding("INSI-CALLER", "warning", note) for note in caller.notes]

        if forced_code is not None:
            result = MatchResult(forced_code)
        else:
            result, notes = self._match(workspace, message.body_element, operation, settings)
            findings += [Finding("INSI-REQUEST", "info", note) for note in notes]
        if result.code == CR_NONE and settings.not_found_fault and operation in (TRAITS, VITALE):
            raise InsiFault("insi_102" if operation is TRAITS else "insi_101")
        body = resultat(result.code, result.identity, namespace=operation.response_ns,
                        tiq_prenom=settings.tiq_prenom, libelle=LIBELLES.get(result.code))
        encoded = build_response(body, version=SoapVersion.V12, action=operation.response_action,
                                 relates_to=message.message_id)
        outcome.reply = HttpReply(200, encoded.content_type, encoded.body)
        outcome.patient_ins = result.ins
        findings.append(Finding("INSI-RESULT", "info", f"CodeCR {result.code}"))

    def _match(self, workspace: str, body: etree._Element, operation: Operation, settings: WorkspaceInsi
               ) -> tuple[MatchResult, list[str]]:
        rules = settings.rules
        if operation is TRAITS:
            query, notes = read_traits_request(body, rules)
            with self.runtime.store.transaction(readonly=True) as tx:
                result = match_traits(tx.identities, workspace, query, rules)
        elif operation is VITALE:
            vitale, notes = read_vitale_request(body)
            with self.runtime.store.transaction(readonly=True) as tx:
                result = match_vitale(tx.identities, workspace, vitale, rules)
        else:
            namespaces = tuple(ns or None for ns in self.config.verification_namespaces)
            check, notes = read_verification_request(body, namespaces)
            with self.runtime.store.transaction(readonly=True) as tx:
                result = verify_ins(tx.identities, workspace, check, rules)
        return result, notes + list(result.notes)

    def _fault_reply(self, fault: SoapFault, message: SoapMessage | None) -> HttpReply:
        version = SoapVersion.V11 if fault.code == "VersionMismatch" and message is not None \
            and message.version is SoapVersion.V11 else SoapVersion.V12
        response = to_response(fault, version, message.message_id if message is not None else None)
        return HttpReply(response.status, response.content_type, response.body)

    def _log(self, workspace: str, started_at: datetime, duration_ms: float, body: bytes, content_type: str | None,
             message: SoapMessage | None, operation: Operation | None, outcome: _Outcome,
             findings: list[Finding]) -> None:
        verdict = "fail" if any(f.severity == "error" for f in findings) else "pass"
        principal: dict[str, Any] | None = None
        if outcome.caller is not None or outcome.context is not None:
            principal = {**(outcome.caller.summary() if outcome.caller else {}),
                         "lps": outcome.context.summary() if outcome.context else None}
        exchange = Exchange(
            started_at=started_at, duration_ms=duration_ms, service=SERVICE, http_status=outcome.reply.status,
            transaction=operation.name if operation else None,
            action=message.action if message is not None else None, request_content_type=content_type,
            request=body, response_content_type=outcome.reply.content_type, response=outcome.reply.body,
            principal=principal, patient_ins=outcome.patient_ins,
            professional=outcome.caller.id if outcome.caller else None, verdict=verdict, findings=tuple(findings))
        record_exchange(self.runtime.store, workspace, exchange, workspace_known=outcome.workspace_known)


# -- WSDL -------------------------------------------------------------------------------------------------


def wsdl_document(address: str) -> bytes:
    """Our WSDL (``insi.wsdl``) with the service address set to ``address`` (the endpoint it was fetched from)."""
    template = resources.files(__package__).joinpath("insi.wsdl").read_bytes()
    return template.replace(b'location="http://127.0.0.1:8080/lps"',
                            b'location="' + _xml_attr(address).encode("utf-8") + b'"')


def _xml_attr(value: str) -> str:
    return value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
