"""A small INSi client for tests, benchmarks and vendors' own suites: it builds the SOAP 1.2 envelope with
ContexteLPS / ContexteBAM / WS-Addressing, authenticates as a professional (signed assertion PS) or as a
structure (INSI-AUTO / INSI-MANU certificate, passed the way a TLS-terminating proxy forwards it), posts and
reads the answer.

    client = InsiTestClient(http, pki, structure=structure)               # mTLS mode, INSI-AUTO
    reply = client.search_traits("ADRTROIS", "DOMINIQUE", "F", "1997-02-26")
    reply.result["code"], reply.result["ins"]                            # "00", "297022A02077878"
"""
from __future__ import annotations

import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import httpx
from lxml import etree

from ..pki import TestPKI
from ..testing import SoapReply
from ..testing import parse_reply as _parse_reply
from ..soap import build_envelope
from ..soap import namespaces as soap_ns
from .caller import build_assertion_ps
from .constants import TRAITS, VERIFICATION, VITALE, Operation
from .faults import error_code_of
from .headers import contexte_bam, contexte_lps, new_message_id
from .messages import read_resultat, traits_request, verification_request, vitale_request, vitale_request_for

SOAP12_CT = "application/soap+xml; charset=UTF-8"
DEFAULT_IDAM = "SANDBOX-IDAM-0001"
CLIENT_CERT_HEADER = "X-SSL-Client-Cert"


def insi_envelope(body: etree._Element, operation: Operation, *, idam: str = DEFAULT_IDAM,
                  now: datetime | None = None, assertion: etree._Element | None = None,
                  message_id: str | None = None, card: Mapping[str, Any] | None = None,
                  beneficiary: Mapping[str, Any] | None = None, emetteur: str | None = None,
                  omit: Sequence[str] = ()) -> etree._Element:
    """The request envelope, headers in the order padoa sends them: ContexteBAM, ContexteLPS, wsa:Action,
    wsa:MessageID, then wsse:Security. ``omit`` drops headers by local name (negative tests)."""
    now = now or datetime.now(timezone.utc)
    headers: list[etree._Element] = []
    if "ContexteBAM" not in omit:
        headers.append(contexte_bam(now=now, emetteur=emetteur, card=card, beneficiary=beneficiary))
    if "ContexteLPS" not in omit:
        headers.append(contexte_lps(idam, now=now, emetteur=emetteur))
    if assertion is not None and "Security" not in omit:
        security = etree.Element(f"{{{soap_ns.WSSE}}}Security", nsmap={"wsse": soap_ns.WSSE})
        security.append(assertion)
        headers.append(security)
    envelope = build_envelope(body, action=None, extra_headers=headers)
    header = envelope.find(f"{{{soap_ns.SOAP12}}}Header")
    if header is None:
        header = etree.Element(f"{{{soap_ns.SOAP12}}}Header")
        envelope.insert(0, header)
    position = 2 - sum(1 for name in ("ContexteBAM", "ContexteLPS") if name in omit)
    if "Action" not in omit:
        action = etree.Element(f"{{{soap_ns.WSA}}}Action")
        action.text = operation.action
        header.insert(position, action)
        position += 1
    if "MessageID" not in omit:
        mid = etree.Element(f"{{{soap_ns.WSA}}}MessageID")
        mid.text = message_id or new_message_id()
        header.insert(position, mid)
    return envelope


@dataclass
class InsiReply(SoapReply):
    @property
    def result(self) -> dict[str, Any]:
        """The RESULTAT as a dict (``code``, ``libelle``, ``ins``, ``oid``, ``history``, ``tiq``)."""
        assert self.fault is None, f"fault {self.fault!r}"
        return read_resultat(self.body)

    @property
    def code(self) -> str | None:
        return self.result["code"] if self.fault is None else None  # type: ignore[return-value]

    @property
    def error_code(self) -> str | None:
        """siram:Erreur/@code of a fault (``insi_102``, ``desir_550``…)."""
        return error_code_of(self.fault) if self.fault is not None else None

    @property
    def subcode(self) -> str | None:
        if self.fault is None or self.fault.subcode is None:
            return None
        return self.fault.subcode.localname if isinstance(self.fault.subcode, etree.QName) else str(self.fault.subcode)


@dataclass
class InsiTestClient:
    """Posts INSi requests to ``http`` (any httpx.Client, e.g. FastAPI's TestClient).

    Caller identity: ``professional`` (+ its ``structure``) → an assertion PS signed with the card's signature
    key; otherwise ``structure`` → its ``org_kind`` certificate (INSI-AUTO) in ``X-SSL-Client-Cert``, as a TLS
    proxy forwards it; ``certificate`` overrides the forwarded certificate (any ``Issued``)."""

    http: httpx.Client
    pki: TestPKI
    structure: Mapping[str, Any] | None = None
    professional: Mapping[str, Any] | None = None
    workspace: str | None = None
    idam: str = DEFAULT_IDAM
    org_kind: str = "INSI-AUTO"
    certificate: Any = None
    assertion_options: dict[str, Any] = field(default_factory=dict)
    path: str = "/lps"

    def url(self) -> str:
        return (f"/w/{self.workspace}" if self.workspace else "") + self.path

    def headers(self) -> dict[str, str]:
        headers = {"content-type": SOAP12_CT}
        issued = self.certificate
        if issued is None and self.professional is None and self.structure is not None:
            issued = self.pki.organisation(self.structure, self.org_kind)  # type: ignore[arg-type]
        if issued is not None:
            headers[CLIENT_CERT_HEADER] = urllib.parse.quote(issued.cert_pem().decode())
        return headers

    def assertion(self, now: datetime) -> etree._Element | None:
        if self.professional is None:
            return None
        options = dict(self.assertion_options)
        signer = options.pop("signer", None) or self.pki.professional(self.professional, self.structure, usage="sign")
        return build_assertion_ps(signer=signer, professional=self.professional, structure=self.structure, now=now,
                                  **options)

    def envelope(self, body: etree._Element, operation: Operation, *, now: datetime | None = None,
                 **options: Any) -> etree._Element:
        now = now or datetime.now(timezone.utc)
        assertion = options.pop("assertion", None)
        return insi_envelope(body, operation, idam=options.pop("idam", self.idam), now=now,
                             assertion=assertion if assertion is not None else self.assertion(now), **options)

    def call(self, body: etree._Element, operation: Operation, **options: Any) -> InsiReply:
        envelope = self.envelope(body, operation, **options)
        return self.post(etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"))

    def post(self, data: bytes, headers: Mapping[str, str] | None = None) -> InsiReply:
        response = self.http.post(self.url(), content=data, headers={**self.headers(), **(headers or {})})
        return parse_reply(response)

    # -- the operations -------------------------------------------------------------------------------------
    def search_traits(self, birth_name: str, first_names: str | Sequence[str], sex: str, birth_date: str,
                      birth_place: str | None = None, **options: Any) -> InsiReply:
        return self.call(traits_request(birth_name, first_names, sex, birth_date, birth_place), TRAITS, **options)

    def search_vitale(self, card: Mapping[str, Any], beneficiary: Mapping[str, Any], *,
                      with_beneficiary_nir: bool = True, **options: Any) -> InsiReply:
        body = vitale_request_for(dict(card), dict(beneficiary), with_beneficiary_nir=with_beneficiary_nir)
        return self.call(body, VITALE, card=card, beneficiary=beneficiary, **options)

    def search_vitale_raw(self, **fields: Any) -> InsiReply:
        return self.call(vitale_request(**fields), VITALE)

    def verify(self, nir: str, key: str | None, oid: str | None, **traits: Any) -> InsiReply:
        return self.call(verification_request(nir, key, oid, **traits), VERIFICATION)


def parse_reply(response: httpx.Response) -> InsiReply:
    return _parse_reply(response, InsiReply)  # type: ignore[return-value]
