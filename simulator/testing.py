"""A small DMP client for tests, benchmarks and vendors' own test suites: it signs a VIHF with the sandbox's
test PKI, wraps a request body in a SOAP 1.2 envelope with WS-Addressing, posts it and parses the answer.

    client = DmpTestClient(http, pki, professional, structure)            # http: any httpx.Client
    reply = client.call("patients", demographics_request(patient), patient=patient)
    reply.body  # the response body element; reply.fault for a SOAP fault
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import httpx
from lxml import etree

from .dmp.messages import CATALOGUE
from .pki import TestPKI
from .security import build_vihf, wsse_security
from .security.principal import PatientRef
from .soap import (SoapFault, SoapMessage, build_envelope, encode_mtom, new_message_id, parse_request, read_fault)

SOAP12_CT = "application/soap+xml; charset=UTF-8"


@dataclass
class SoapReply:
    """An HTTP answer of a SOAP service: the parsed message (None when not XML) and its fault, if any."""

    status: int
    content_type: str
    raw: bytes
    message: SoapMessage | None
    fault: SoapFault | None

    @property
    def body(self) -> etree._Element:
        assert self.message is not None, f"HTTP {self.status}: {self.raw[:200]!r}"
        return self.message.body_element


@dataclass
class DmpTestClient:
    http: httpx.Client
    pki: TestPKI
    professional: Mapping[str, Any]
    structure: Mapping[str, Any]
    workspace: str | None = None
    mode: str = "DIRECTE"
    purpose: str = "normal"
    vihf_options: dict[str, Any] = field(default_factory=dict)

    def url(self, service: str) -> str:
        prefix = f"/w/{self.workspace}" if self.workspace else ""
        return f"{prefix}/si-dmp-server/v2/services/{service}"

    def signer(self):  # type: ignore[no-untyped-def]
        if self.mode == "DIRECTE":
            return self.pki.professional(self.professional, self.structure, usage="sign")
        return self.pki.organisation(self.structure, kind="SIGN")

    def vihf(self, patient: PatientRef | None, now: datetime | None = None) -> etree._Element:
        options = {"signer": self.signer(), **self.vihf_options}
        return build_vihf(professional=self.professional, structure=self.structure, patient=patient,
                          now=now or datetime.now(timezone.utc), mode=self.mode, purpose=self.purpose, **options)

    def envelope(self, service: str, body: etree._Element, *, patient: PatientRef | None,
                 action: str | None = None, now: datetime | None = None) -> etree._Element:
        action = action or _request_action(service, body)
        security = wsse_security(self.vihf(patient, now))
        return build_envelope(body, action=action, message_id=new_message_id(), to=None, extra_headers=[security])

    def encode(self, service: str, body: etree._Element, *, patient: PatientRef | None, action: str | None = None,
               attachments: Mapping[str, Any] | None = None, now: datetime | None = None) -> tuple[bytes, str]:
        """The HTTP body and content type of a request (MTOM when ``attachments`` are given)."""
        action = action or _request_action(service, body)
        envelope = self.envelope(service, body, patient=patient, action=action, now=now)
        if attachments:
            encoded = encode_mtom(envelope, attachments, action=action)
            return encoded.body, encoded.content_type
        return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"), SOAP12_CT

    def call(self, service: str, body: etree._Element, *, patient: PatientRef | None,
             action: str | None = None, attachments: Mapping[str, Any] | None = None,
             now: datetime | None = None) -> DmpReply:
        data, content_type = self.encode(service, body, patient=patient, action=action, attachments=attachments,
                                         now=now)
        return self.post(service, data, content_type)

    def post(self, service: str, data: bytes, content_type: str) -> DmpReply:
        response = self.http.post(self.url(service), content=data, headers={"content-type": content_type})
        return parse_reply(response)


DmpReply = SoapReply


def parse_reply(response: httpx.Response, reply_type: type[SoapReply] = SoapReply) -> SoapReply:
    content_type = response.headers.get("content-type", "")
    message = None
    fault = None
    if "xml" in content_type or "multipart" in content_type:
        message = parse_request(response.content, content_type)
        fault = read_fault(message)
    return reply_type(response.status_code, content_type, response.content, message, fault)


def _request_action(service: str, body: etree._Element) -> str:
    for entry in CATALOGUE:
        if entry.service == service and entry.body_root == body.tag:
            return entry.canonical_action
    raise ValueError(f"no known action for a {body.tag} body on service {service}")
