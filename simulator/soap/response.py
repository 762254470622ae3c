"""Response envelopes: WS-Addressing headers, then plain SOAP or an MTOM package on the wire."""
from __future__ import annotations

import copy
import uuid
from collections.abc import Iterable, Mapping

from lxml import etree

from . import namespaces as ns
from .content_type import format_content_type
from .mtom import Attachment, encode_mtom
from .version import SoapVersion
from .wire import EncodedMessage


def new_message_id() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def build_envelope(body_element: etree._Element, *, version: SoapVersion | str = SoapVersion.V12,
                   action: str | None, relates_to: str | None = None,
                   extra_headers: Iterable[etree._Element] = (), message_id: str | None = None,
                   to: str | None = ns.WSA_ANONYMOUS) -> etree._Element:
    """An Envelope around ``body_element`` with Action, MessageID, To and RelatesTo as the DMP answers them.

    With ``action=None`` no addressing header is written (for clients that sent none). An element that
    already has a parent is copied; a free-standing one is moved into the envelope.
    """
    version = SoapVersion(version)
    envelope = etree.Element(f"{{{version.namespace}}}Envelope", nsmap={"soap": version.namespace, "wsa": ns.WSA})
    header = etree.SubElement(envelope, f"{{{version.namespace}}}Header")
    if action is not None:
        for local, value in (("Action", action), ("MessageID", message_id or new_message_id()), ("To", to),
                             ("RelatesTo", relates_to)):
            if value is not None:
                etree.SubElement(header, f"{{{ns.WSA}}}{local}").text = value
    for extra in extra_headers:
        header.append(_detached(extra))
    if not len(header):
        envelope.remove(header)
    body = etree.SubElement(envelope, f"{{{version.namespace}}}Body")
    body.append(_detached(body_element))
    return envelope


def build_response(body_element: etree._Element, *, version: SoapVersion | str = SoapVersion.V12,
                   action: str | None, relates_to: str | None = None,
                   extra_headers: Iterable[etree._Element] = (),
                   mtom_attachments: Mapping[str, Attachment] | None = None, force_mtom: bool = False,
                   message_id: str | None = None, boundary: str | None = None,
                   root_content_id: str | None = None) -> EncodedMessage:
    """Serialise a response; MTOM when there are attachments or ``force_mtom`` (ITI-43 always is)."""
    version = SoapVersion(version)
    envelope = build_envelope(body_element, version=version, action=action, relates_to=relates_to,
                              extra_headers=extra_headers, message_id=message_id)
    if mtom_attachments or force_mtom:
        return encode_mtom(envelope, mtom_attachments or {}, version=version, action=action, boundary=boundary,
                           root_content_id=root_content_id)
    params = {"charset": "UTF-8"}
    if action is not None and version is SoapVersion.V12:
        params["action"] = action
    return EncodedMessage(etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"),
                          format_content_type(version.media_type, params))


def _detached(element: etree._Element) -> etree._Element:
    return copy.deepcopy(element) if element.getparent() is not None else element
