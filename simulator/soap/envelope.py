"""The parsed request: one typed object shared by the simulator and the conformance rules.

``parse_request`` is the only way bytes become a ``SoapMessage``; a rule or handler that needs something
from the wire reads it here (``raw``, ``parts``, ``notes``…) instead of parsing the bytes again its own way.
"""
from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from lxml import etree

from . import namespaces as ns
from .addressing import Addressing, read_addressing
from .content_type import ContentType, parse_content_type
from .errors import BinaryContentError, ContentTypeError, EmptyBody, MessageTooLarge, MissingBody, NotSoapEnvelope
from .limits import DEFAULT_LIMITS, SoapLimits
from .mtom import XOP_MEDIA_TYPE, MimePart, XopReference, decode_mtom, resolve_xop
from .version import SoapVersion
from .xml import parse_xml


class Transport(StrEnum):
    MTOM = "mtom"
    PLAIN = "plain"


@dataclass(frozen=True, eq=False)
class SoapMessage:
    """A request as the SOAP layer understood it. Treat the lxml elements as read-only.

    ``transport_action`` is what HTTP said (the ``action`` parameter of a SOAP 1.2 Content-Type, or the
    SOAPAction header of SOAP 1.1); ``notes`` lists what was tolerated (old WS-Addressing namespace, a
    Content-Type that disagrees with the envelope…) so conformance rules can report it.
    """

    version: SoapVersion
    transport: Transport
    envelope: etree._Element
    headers: tuple[etree._Element, ...]
    body_element: etree._Element
    addressing: Addressing
    raw: bytes
    content_type: ContentType | None = None
    transport_action: str | None = None
    attachments: Mapping[str, bytes] = field(default_factory=lambda: MappingProxyType({}))
    parts: tuple[MimePart, ...] = ()
    xop_references: tuple[XopReference, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def action(self) -> str | None:
        """wsa:Action when sent, else the transport action; what dispatch should route on."""
        return self.addressing.action or self.transport_action or None

    @property
    def message_id(self) -> str | None:
        return self.addressing.message_id

    def header(self, tag: str | etree.QName) -> etree._Element | None:
        """First header with this tag (Clark notation ``{ns}local`` or QName), or None."""
        wanted = tag.text if isinstance(tag, etree.QName) else tag
        return next((h for h in self.headers if h.tag == wanted), None)

    def binary_content(self, element: etree._Element) -> bytes:
        """The bytes an element carries, whether it held an ``xop:Include`` or inline base64.

        For MTOM this is the raw attachment, never a base64 round trip.
        """
        for reference in self.xop_references:
            if reference.element is element:
                return self.attachments[reference.content_id]
        if len(element):
            raise BinaryContentError(f"<{etree.QName(element).localname}> has child elements where base64 "
                                     "content or an xop:Include was expected")
        try:
            return base64.b64decode("".join((element.text or "").split()), validate=True)
        except binascii.Error as exc:
            raise BinaryContentError(f"<{etree.QName(element).localname}> does not hold valid base64: {exc}") \
                from None


def parse_request(body: bytes, content_type: str | None, soap_action_header: str | None = None, *,
                  limits: SoapLimits = DEFAULT_LIMITS) -> SoapMessage:
    """Turn an HTTP request body and its headers into a ``SoapMessage``, or raise a ``SoapError``."""
    if len(body) > limits.max_message_bytes:
        raise MessageTooLarge(f"the request body is {len(body)} bytes, over the limit of {limits.max_message_bytes}")
    notes: list[str] = []
    parsed_type = parse_content_type(content_type) if content_type and content_type.strip() else None
    soap_action = _unquote_soap_action(soap_action_header)
    parts: tuple[MimePart, ...] = ()
    attachments: dict[str, bytes] = {}
    if parsed_type is None:
        notes.append("no Content-Type header; the body was read as a plain SOAP envelope")
        transport, xml, charset, hinted, action = Transport.PLAIN, body, None, None, None
    elif parsed_type.media_type == "multipart/related":
        transport = Transport.MTOM
        package = decode_mtom(body, parsed_type, limits)
        parts, xml = package.parts, package.root.content
        attachments = {cid: part.content for cid, part in package.attachments.items()}
        hinted, action, charset = _mtom_hints(parsed_type, package.root_content_type, notes)
    elif _is_xml_media_type(parsed_type.media_type):
        transport, xml, charset = Transport.PLAIN, body, parsed_type.charset
        hinted = SoapVersion.from_media_type(parsed_type.media_type)
        action = parsed_type.param("action")
        if hinted is None:
            notes.append(f"Content-Type {parsed_type.media_type} is not a SOAP media type; the envelope decides "
                         "the SOAP version")
    else:
        raise ContentTypeError(f"Content-Type {parsed_type.media_type} is not a SOAP media type (expected "
                               "application/soap+xml, text/xml, or multipart/related for MTOM)")

    root = parse_xml(xml, charset=charset, limits=limits,
                     what="MTOM root part" if transport is Transport.MTOM else "request body")
    version, headers, body_element = _open_envelope(root, notes)
    if hinted is not None and hinted is not version:
        notes.append(f"the Content-Type announces SOAP {hinted} but the envelope is SOAP {version}; the envelope "
                     "namespace was followed")
    action = _reconcile_transport_action(version, action, soap_action, notes)
    references = resolve_xop(root, attachments)
    referenced = {reference.content_id for reference in references}
    for cid in attachments:
        if cid not in referenced:
            notes.append(f"MIME part <{cid}> is not referenced by any xop:Include")
    addressing, addressing_notes = read_addressing(headers)
    notes += addressing_notes
    if addressing.action and action and addressing.action != action:
        notes.append(f"wsa:Action {addressing.action!r} differs from the transport action {action!r}")
    return SoapMessage(
        version=version, transport=transport, envelope=root, headers=headers, body_element=body_element,
        addressing=addressing, raw=body, content_type=parsed_type, transport_action=action,
        attachments=MappingProxyType(attachments), parts=parts, xop_references=references, notes=tuple(notes))


def _open_envelope(root: etree._Element, notes: list[str]
                   ) -> tuple[SoapVersion, tuple[etree._Element, ...], etree._Element]:
    name = etree.QName(root)
    version = SoapVersion.from_namespace(name.namespace)
    if name.localname != "Envelope" or version is None:
        found = f"{{{name.namespace}}}{name.localname}" if name.namespace else name.localname
        raise NotSoapEnvelope(f"the root element is {found}, not a SOAP 1.1 or 1.2 Envelope ({ns.SOAP11} or "
                              f"{ns.SOAP12})")
    header = root.find(f"{{{version.namespace}}}Header")
    body = root.find(f"{{{version.namespace}}}Body")
    if body is None:
        raise MissingBody("the SOAP Envelope has no Body")
    headers = tuple(child for child in header if isinstance(child.tag, str)) if header is not None else ()
    children = [child for child in body if isinstance(child.tag, str)]
    if not children:
        raise EmptyBody("the SOAP Body is empty: it must hold the request element")
    if len(children) > 1:
        notes.append(f"the SOAP Body holds {len(children)} elements; only the first is the request")
    return version, headers, children[0]


def _mtom_hints(outer: ContentType, root_type: ContentType | None, notes: list[str]
                ) -> tuple[SoapVersion | None, str | None, str | None]:
    """SOAP version, action and charset announced by an MTOM package's two Content-Types."""
    if outer.param("type") is None:
        notes.append("multipart/related without a type parameter; read as MTOM")
    elif outer.param("type").lower() != XOP_MEDIA_TYPE:  # type: ignore[union-attr]
        notes.append(f"multipart/related of type {outer.param('type')!r} read as MTOM ({XOP_MEDIA_TYPE} expected)")
    if root_type is not None and root_type.media_type != XOP_MEDIA_TYPE:
        notes.append(f"the MTOM root part is {root_type.media_type}, not {XOP_MEDIA_TYPE}")
    # The SOAP media type travels as start-info on the package and as type on the root part; either may also
    # carry the action parameter (clients differ).
    inner_types = [parsed for value in (root_type.param("type") if root_type else None, outer.param("start-info"))
                   if value and (parsed := _lenient_content_type(value)) is not None]
    versions = [SoapVersion.from_media_type(inner.media_type) for inner in inner_types]
    hinted = next((version for version in versions if version is not None), None)
    candidates = [outer.param("action"), root_type.param("action") if root_type else None,
                  *(inner.param("action") for inner in inner_types)]
    action = next((value for value in candidates if value), None)
    return hinted, action, root_type.charset if root_type else None


def _reconcile_transport_action(version: SoapVersion, action: str | None, soap_action: str | None,
                                notes: list[str]) -> str | None:
    if soap_action is None:
        return action
    if version is SoapVersion.V12:
        notes.append("SOAPAction HTTP header sent with SOAP 1.2, which carries the action in the Content-Type")
        if action and soap_action and action != soap_action:
            notes.append(f"SOAPAction header {soap_action!r} differs from the Content-Type action {action!r}")
        return action or soap_action
    return soap_action


def _unquote_soap_action(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    return value


def _is_xml_media_type(media_type: str) -> bool:
    return media_type in ("application/soap+xml", "text/xml", "application/xml") or media_type.endswith("+xml")


def _lenient_content_type(value: str) -> ContentType | None:
    try:
        return parse_content_type(value)
    except ContentTypeError:
        return None
