"""SOAP faults: the exception (re-exported from ``errors``), its rendering for SOAP 1.2 and 1.1, the HTTP
status that goes with it, and the reverse reading used by tests and clients.
"""
from __future__ import annotations

import copy
from enum import StrEnum
from typing import NamedTuple

from lxml import etree

from . import namespaces as ns
from .envelope import SoapMessage
from .errors import FAULT_CODES, SoapError, SoapFault
from .response import build_response
from .version import SoapVersion

__all__ = ["FaultResponse", "FaultStatusPolicy", "SoapError", "SoapFault", "fault_element", "fault_http_status",
           "read_fault", "to_response"]

_SOAP11_CODES = {"Sender": "Client", "Receiver": "Server", "VersionMismatch": "VersionMismatch",
                 "MustUnderstand": "MustUnderstand"}
_FROM_SOAP11 = {value: key for key, value in _SOAP11_CODES.items()}
_PREFERRED_PREFIXES = {ns.SOAP12: "soap", ns.SOAP11: "soap", ns.WSA: "wsa", ns.SANDBOX_SOAP: "sbx"}
_XML_LANG = f"{{{ns.XML}}}lang"


class FaultStatusPolicy(StrEnum):
    """Which HTTP status a fault travels with.

    ``ALWAYS_500`` is what the DMP and INSi do (dmp.md §0.2, insi-cards.md §A.6) and what SOAP 1.1 / WS-I
    Basic Profile require. ``SOAP12_HTTP_BINDING`` follows SOAP 1.2 part 2 §7.5.1: Sender faults are 400,
    the rest 500.
    """

    ALWAYS_500 = "always-500"
    SOAP12_HTTP_BINDING = "soap12-http-binding"


class FaultResponse(NamedTuple):
    body: bytes
    content_type: str
    status: int


def fault_http_status(fault: SoapFault, policy: FaultStatusPolicy = FaultStatusPolicy.ALWAYS_500,
                      version: SoapVersion | str = SoapVersion.V12) -> int:
    if policy is FaultStatusPolicy.SOAP12_HTTP_BINDING and SoapVersion(version) is SoapVersion.V12:
        return 400 if fault.code == "Sender" else 500
    return 500


def fault_element(fault: SoapFault, version: SoapVersion | str = SoapVersion.V12) -> etree._Element:
    """The ``Fault`` element for ``version``; SOAP 1.1 has no subcode, so it becomes ``Client.<local name>``.

    QName-valued text uses the prefixes ``soap`` (envelope) and ``wsa``: put the element in an envelope that
    binds those same prefixes, as ``build_envelope`` does.
    """
    version = SoapVersion(version)
    env = version.namespace
    element = etree.Element(f"{{{env}}}Fault", nsmap={"soap": env})
    if version is SoapVersion.V12:
        code = etree.SubElement(element, f"{{{env}}}Code")
        etree.SubElement(code, f"{{{env}}}Value").text = f"soap:{fault.code}"
        if fault.subcode is not None:
            subcode = etree.SubElement(code, f"{{{env}}}Subcode")
            _qname_value(subcode, f"{{{env}}}Value", fault.subcode)
        reason = etree.SubElement(element, f"{{{env}}}Reason")
        text = etree.SubElement(reason, f"{{{env}}}Text")
        text.set(_XML_LANG, fault.lang)
        text.text = fault.reason
        if fault.detail:
            detail = etree.SubElement(element, f"{{{env}}}Detail")
            detail.extend(copy.deepcopy(item) for item in fault.detail)
        return element
    faultcode = f"soap:{_SOAP11_CODES[fault.code]}"
    if fault.subcode is not None:
        faultcode += "." + _local_name(fault.subcode)
    etree.SubElement(element, "faultcode").text = faultcode
    faultstring = etree.SubElement(element, "faultstring")
    faultstring.set(_XML_LANG, fault.lang)  # WS-I BP 1.1 R1016 lets receivers expect it
    faultstring.text = fault.reason
    if fault.detail:
        detail = etree.SubElement(element, "detail")
        detail.extend(copy.deepcopy(item) for item in fault.detail)
    return element


def to_response(fault: SoapFault, version: SoapVersion | str = SoapVersion.V12, relates_to: str | None = None,
                action: str | None = None, *, status_policy: FaultStatusPolicy = FaultStatusPolicy.ALWAYS_500,
                force_mtom: bool = False, message_id: str | None = None) -> FaultResponse:
    """Render a fault as a full response.

    ``action`` defaults to the WS-Addressing fault action; DMP operations may pass their CXF-style
    ``<operation action>:Fault:SoapFault``. ``force_mtom`` is for ITI-43, whose errors are also multipart.
    """
    version = SoapVersion(version)
    extra_headers = [_upgrade_header()] if fault.code == "VersionMismatch" and version is SoapVersion.V12 else []
    body, content_type = build_response(fault_element(fault, version), version=version,
                                        action=action or ns.WSA_FAULT_ACTION, relates_to=relates_to,
                                        extra_headers=extra_headers, force_mtom=force_mtom, message_id=message_id)
    return FaultResponse(body, content_type, fault_http_status(fault, status_policy, version))


def read_fault(message: SoapMessage | etree._Element) -> SoapFault | None:
    """The fault carried by a parsed message (or an Envelope element), None when the Body holds no fault."""
    envelope = message.envelope if isinstance(message, SoapMessage) else message
    for version in SoapVersion:
        fault = envelope.find(f"{{{version.namespace}}}Body/{{{version.namespace}}}Fault")
        if fault is not None:
            return _read_fault12(fault) if version is SoapVersion.V12 else _read_fault11(fault)
    return None


def _read_fault12(fault: etree._Element) -> SoapFault:
    env = ns.SOAP12
    value = fault.find(f"{{{env}}}Code/{{{env}}}Value")
    code = _resolve_qname(value) if value is not None else None
    if not isinstance(code, etree.QName) or code.namespace != env or code.localname not in FAULT_CODES:
        raise ValueError(f"SOAP 1.2 fault with an invalid Code/Value {value.text if value is not None else None!r}")
    sub_value = fault.find(f"{{{env}}}Code/{{{env}}}Subcode/{{{env}}}Value")
    text = fault.find(f"{{{env}}}Reason/{{{env}}}Text")
    detail = fault.find(f"{{{env}}}Detail")
    subcode = _resolve_qname(sub_value) if sub_value is not None else None
    return SoapFault(code.localname, subcode,  # type: ignore[arg-type]
                     (text.text or "") if text is not None else "",
                     lang=text.get(_XML_LANG, "") if text is not None else "",
                     detail=list(detail) if detail is not None else None)


def _read_fault11(fault: etree._Element) -> SoapFault:
    raw_code = (fault.findtext("faultcode") or "").strip()
    local = raw_code.partition(":")[2] or raw_code
    primary, _, sub = local.partition(".")
    if primary not in _FROM_SOAP11:
        raise ValueError(f"SOAP 1.1 fault with an unknown faultcode {raw_code!r}")
    faultstring = fault.find("faultstring")
    detail = fault.find("detail")
    return SoapFault(_FROM_SOAP11[primary], sub or None,  # type: ignore[arg-type]
                     (faultstring.text or "") if faultstring is not None else "",
                     lang=faultstring.get(_XML_LANG, "") if faultstring is not None else "",
                     detail=list(detail) if detail is not None else None)


def _qname_value(parent: etree._Element, tag: str, value: etree.QName | str) -> None:
    # A subcode is an xs:QName written as element text, so its prefix must be declared right there; lxml
    # cannot see that use. Worse, when the fault is appended into an envelope, lxml drops any declaration
    # whose URI an ancestor already binds, whatever the prefix: hence the SOAP and WS-Addressing namespaces
    # always get the very prefixes build_envelope binds ("soap", "wsa").
    qname = value if isinstance(value, etree.QName) else etree.QName(value) if str(value).startswith("{") else None
    if qname is None or not qname.namespace:
        etree.SubElement(parent, tag).text = qname.localname if qname is not None else str(value)
        return
    prefix = _PREFERRED_PREFIXES.get(qname.namespace, "sub")
    if parent.nsmap.get(prefix, qname.namespace) != qname.namespace:
        prefix = "sub"  # e.g. a SOAP 1.1 QName inside a SOAP 1.2 fault
    nsmap = None if parent.nsmap.get(prefix) == qname.namespace else {prefix: qname.namespace}
    etree.SubElement(parent, tag, nsmap=nsmap).text = f"{prefix}:{qname.localname}"


def _resolve_qname(element: etree._Element) -> etree.QName | str:
    text = (element.text or "").strip()
    prefix, colon, local = text.partition(":")
    if not colon:
        default = element.nsmap.get(None)
        return etree.QName(default, text) if default else text
    uri = element.nsmap.get(prefix)
    return etree.QName(uri, local) if uri else text


def _local_name(subcode: etree.QName | str) -> str:
    if isinstance(subcode, etree.QName):
        return subcode.localname
    text = str(subcode)
    return etree.QName(text).localname if text.startswith("{") else text.rpartition(":")[2]


def _upgrade_header() -> etree._Element:
    # SOAP 1.2 part 1 §5.4.7: a VersionMismatch fault lists the envelopes this node understands. The qname
    # attributes use the prefixes build_envelope binds (see _qname_value for why that matters).
    upgrade = etree.Element(f"{{{ns.SOAP12}}}Upgrade", nsmap={"soap": ns.SOAP12})
    etree.SubElement(upgrade, f"{{{ns.SOAP12}}}SupportedEnvelope").set("qname", "soap:Envelope")
    soap11 = etree.SubElement(upgrade, f"{{{ns.SOAP12}}}SupportedEnvelope", nsmap={"soap11": ns.SOAP11})
    soap11.set("qname", "soap11:Envelope")
    return upgrade
