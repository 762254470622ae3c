"""SOAP transport rules (dmp.md §0.2–0.3, insi-cards.md §A.5): SOAP 1.2, WS-Addressing, the DMP action catalogue,
MTOM for ITI-41, the VIHF in wsse:Security. Everything is read from the ``SoapMessage`` of
``segur_sandbox.simulator.soap.parse_request``."""
from __future__ import annotations

from collections.abc import Iterator

from segur_sandbox.simulator.dmp.messages import CATALOGUE
from segur_sandbox.simulator.soap import Transport
from segur_sandbox.simulator.soap import namespaces as soap_ns

from ..artifacts import SoapArtifact
from .engine import rule

RULE_SET = "transport"
_HEADER = "/soap:Envelope/soap:Header"

Issues = Iterator[tuple[str, str | None]]


def _transport(rule_id: str, title: str, **kwargs: object):  # type: ignore[no-untyped-def]
    return rule(rule_id, title, rule_set=RULE_SET, applies_to=SoapArtifact, **kwargs)  # type: ignore[arg-type]


def _is_dmp(soap: SoapArtifact) -> bool:
    return soap.service != "insi"


@_transport("TRN-001", "the envelope is SOAP 1.2", severity="warning")
def soap12(soap: SoapArtifact) -> Issues:
    namespace = soap.message.version.namespace
    if namespace != soap_ns.SOAP12:
        yield (f"expected the SOAP 1.2 namespace {soap_ns.SOAP12}, found {namespace} (tolerated by the sandbox)",
               "/soap:Envelope")


@_transport("TRN-002", "wsa:Action header present")
def action_present(soap: SoapArtifact) -> Issues:
    if not soap.message.addressing.action:
        yield "the wsa:Action header is missing or empty", f"{_HEADER}/wsa:Action"


@_transport("TRN-003", "wsa:MessageID header present")
def message_id_present(soap: SoapArtifact) -> Issues:
    if not soap.message.addressing.message_id:
        yield "the wsa:MessageID header is missing or empty", f"{_HEADER}/wsa:MessageID"


@_transport("TRN-004", "WS-Addressing 1.0 namespace (2005/08)", severity="warning")
def addressing_namespace(soap: SoapArtifact) -> Issues:
    namespace = soap.message.addressing.namespace
    if namespace is not None and namespace != soap_ns.WSA:
        yield f"expected WS-Addressing {soap_ns.WSA}, found {namespace}", _HEADER


@_transport("TRN-005", "the action is one of the DMP catalogue and matches the body", when=_is_dmp)
def dmp_action(soap: SoapArtifact) -> Issues:
    action = soap.message.action
    if not action:
        return  # TRN-002
    entry = next((e for e in CATALOGUE if action in e.actions), None)
    if entry is None:
        known = ", ".join(e.canonical_action for e in CATALOGUE)
        yield f"action {action!r} is no DMP operation (known: {known})", f"{_HEADER}/wsa:Action"
    elif entry.body_root != soap.body_tag:
        yield (f"action {action!r} expects a body {entry.body_root}, found {soap.body_tag}",
               "/soap:Envelope/soap:Body/*[1]")


@_transport("TRN-006", "ITI-41 (ProvideAndRegisterDocumentSet-b) is sent as MTOM/XOP", severity="warning",
            when=lambda soap: soap.is_iti41)
def iti41_mtom(soap: SoapArtifact) -> Issues:
    if soap.message.transport is not Transport.MTOM:
        yield "expected an MTOM/XOP multipart/related package for ITI-41, found a plain SOAP message (inline base64)", \
            "Content-Type"


@_transport("TRN-007", "a DMP request carries one VIHF saml2:Assertion in wsse:Security", when=_is_dmp)
def vihf_present(soap: SoapArtifact) -> Issues:
    assertions = soap.security_assertions()
    if len(assertions) != 1:
        yield (f"expected one saml2:Assertion (the VIHF) in the wsse:Security header, found {len(assertions)}",
               f"{_HEADER}/wsse:Security/saml2:Assertion")
