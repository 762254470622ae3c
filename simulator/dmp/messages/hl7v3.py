"""The HL7 v3 transmission wrapper shared by TD0.2, TD0.5, TD1.3a/b and TD1.4 (spec ``dmp.md`` §1.2, §1.5, §1.7).

Reading: ``read_transmission`` checks and types the wrapper of a request (id, creationTime, interactionId,
sender/receiver devices). Writing: ``response_root`` opens a response the way the official examples do —
``id``, ``creationTime``, ``interactionId``, ``processingCode P``, ``processingModeCode T``, ``acceptAckCode NE``,
``receiver`` = the requesting LPS device, ``sender`` = the DMP device ``1.2.250.1.213.4.1.1.1`` — then
``add_attention_line_*``, ``add_acknowledgement``, ``add_control_act`` and ``add_query_ack`` append the rest in
schema order. ``request_root`` opens a request in the official shape (processingCode D, acceptAckCode AL, receiver
DMP, sender LPS, ``attentionLine xsi:nil``) for the request builders used by clients and tests.

Two response id styles are in the examples: TD0.2/TD1.3a/TD0.5 write ``id root=<uuid>``, TD1.3b/TD1.4 write
``id root="1.2.250.1.213.4.1.1.1.1" extension=<uuid>`` (``IdStyle``). Two acknowledgement styles are too: the
GDP responses carry ``acknowledgement typeCode="AA"`` (attribute), the PDQ response (TD0.5) a child element
``<typeCode code="AA"/>`` (``AckStyle``); each builder reproduces its example.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from lxml import etree

from ...soap import namespaces as ns
from .common import INVALID_MESSAGE, bad_request, check_hl7_ts, hl7_timestamp, xml_bool

HL7 = ns.HL7V3
XSI = ns.XSI
NSMAP_HL7 = {None: HL7, "xsi": XSI}
_PREFIXES = {"h": HL7}

# OIDs and code systems (spec §1.2, §1.7).
DMP_DEVICE_OID = "1.2.250.1.213.4.1.1.1"
DMP_SOFTWARE_NAME = "DMP"
DMP_MESSAGE_ID_ROOT = "1.2.250.1.213.4.1.1.1.1"  # root of TD1.3b/TD1.4 response ids
INTERACTION_ID_ROOT = "2.16.840.1.113883.1.6"
CS_REASON = "1.2.250.1.213.1.1.4.11"  # controlActProcess/reasonCode (TEST_EXST, CNSLT_DATA, MODIF_DATA…)
CS_KEYWORD_AUTORISATION = "1.2.250.1.213.4.1.2.6.1"
CS_AUTORISATION = "1.2.250.1.213.4.1.2.6.2"  # VALIDE | EXPIRE | INTERDIT | NON_EXISTE
CS_KEYWORD_STATUT_MT = "1.2.250.1.213.4.1.2.6.3"
CS_DMP_OBSERVATION = "1.2.250.1.213.4.1.2.3"  # RATTACHEMENT_ENS, OPPOSITION_*, CONSENTEMENT_*
CS_CLOSURE_REASON = "1.2.250.1.213.4.1.2.4"  # FERMETURE_DEMANDE_PATIENT
CS_INTERNET_ACCOUNT = "1.2.250.1.213.4.1.2.9"  # COMPTE_INTERNET_OUVERT

IdStyle = Literal["uuid_root", "dmp_root"]
AckStyle = Literal["attribute", "element"]


@dataclass(frozen=True)
class II:
    """An HL7 instance identifier."""

    root: str
    extension: str | None = None


@dataclass(frozen=True)
class Device:
    """A sender or receiver device: its id (root only, in the examples) and softwareName."""

    id: II | None
    software_name: str | None = None


DMP_DEVICE = Device(II(DMP_DEVICE_OID), DMP_SOFTWARE_NAME)


@dataclass(frozen=True)
class Transmission:
    """The wrapper of a request, as read."""

    interaction: str
    message_id: II
    creation_time: str
    interaction_id: str | None
    processing_code: str | None
    sender: Device
    receiver: Device | None


# -- reading -------------------------------------------------------------------------------------------------
def hl7_path(path: str) -> str:
    return "/".join(step if step in (".", "..") else f"h:{step}" for step in path.split("/"))


def find(element: etree._Element, path: str) -> etree._Element | None:
    """``element.find`` with every step in the HL7 namespace (``"controlActProcess/reasonCode"``)."""
    return element.find(hl7_path(path), _PREFIXES)


def findall(element: etree._Element, path: str) -> list[etree._Element]:
    return element.findall(hl7_path(path), _PREFIXES)


def attr(element: etree._Element | None, name: str) -> str | None:
    if element is None:
        return None
    value = element.get(name)
    return value.strip() if value is not None else None


def read_ii(element: etree._Element | None) -> II | None:
    root = attr(element, "root")
    if not root:
        return None
    return II(root, attr(element, "extension") or None)


def read_device(element: etree._Element | None) -> Device | None:
    if element is None:
        return None
    device = find(element, "device")
    if device is None:
        return None
    name = find(device, "softwareName")
    return Device(read_ii(find(device, "id")), (name.text or "").strip() if name is not None else None)


def read_transmission(root: etree._Element, interaction: str) -> Transmission:
    """Type the wrapper of ``root`` (already checked to be ``{urn:hl7-org:v3}<interaction>``)."""
    message_id = read_ii(find(root, "id"))
    if message_id is None:
        raise bad_request(INVALID_MESSAGE, f"L'identifiant du message {interaction} (id/@root) est absent")
    created = find(root, "creationTime")
    if created is None or not attr(created, "value"):
        raise bad_request(INVALID_MESSAGE, f"La date de création du message {interaction} (creationTime) est absente")
    creation_time = check_hl7_ts(attr(created, "value") or "", "creationTime")
    interaction_id = attr(find(root, "interactionId"), "extension")
    if interaction_id and interaction_id != interaction:
        raise bad_request(INVALID_MESSAGE, f"L'interactionId {interaction_id!r} ne correspond pas au message "
                                           f"{interaction}")
    sender = read_device(find(root, "sender"))
    if sender is None or sender.id is None:
        raise bad_request(INVALID_MESSAGE, f"Le dispositif émetteur du message {interaction} (sender/device/id) "
                                           "est absent")
    receivers = findall(root, "receiver")
    return Transmission(interaction=interaction, message_id=message_id, creation_time=creation_time,
                        interaction_id=interaction_id,
                        processing_code=attr(find(root, "processingCode"), "code"), sender=sender,
                        receiver=read_device(receivers[0]) if receivers else None)


# -- writing -------------------------------------------------------------------------------------------------
def h(parent: etree._Element, local: str, attrs: Iterable[tuple[str, str]] | dict[str, str] = (),
      text: str | None = None) -> etree._Element:
    """Append an HL7 element, attributes in the given order (the examples' order)."""
    element = etree.SubElement(parent, f"{{{HL7}}}{local}")
    for name, value in (attrs.items() if isinstance(attrs, dict) else attrs):
        if value is not None:
            element.set(name, value)
    if text is not None:
        element.text = text
    return element


def set_xsi_type(element: etree._Element, type_name: str) -> etree._Element:
    element.set(f"{{{XSI}}}type", type_name)
    return element


def nil(parent: etree._Element, local: str) -> etree._Element:
    element = h(parent, local)
    element.set(f"{{{XSI}}}nil", "true")
    return element


def add_ii(parent: etree._Element, local: str, ii: II) -> etree._Element:
    return h(parent, local, {"root": ii.root, "extension": ii.extension})


def add_device(parent: etree._Element, role: Literal["receiver", "sender"], device: Device) -> etree._Element:
    wrapper = h(parent, role, {"typeCode": "RCV" if role == "receiver" else "SND"})
    element = h(wrapper, "device", {"classCode": "DEV", "determinerCode": "INSTANCE"})
    if device.id is not None:
        add_ii(element, "id", device.id)
    if device.software_name:
        h(element, "softwareName", text=device.software_name)
    return wrapper


def new_id(style: IdStyle, response_id: str | None = None) -> II:
    value = response_id or str(uuid.uuid4())
    return II(value) if style == "uuid_root" else II(DMP_MESSAGE_ID_ROOT, value)


def response_root(interaction: str, request: Transmission, *, now: datetime, id_style: IdStyle = "uuid_root",
                  response_id: str | None = None, parent: etree._Element | None = None) -> etree._Element:
    """Open ``<interaction ITSVersion="XML_1.0">`` with the response wrapper up to ``sender``."""
    if parent is None:
        root = etree.Element(f"{{{HL7}}}{interaction}", nsmap=NSMAP_HL7)
    else:
        root = h(parent, interaction)
    root.set("ITSVersion", "XML_1.0")
    add_ii(root, "id", new_id(id_style, response_id))
    h(root, "creationTime", {"value": hl7_timestamp(now)})
    h(root, "interactionId", [("extension", interaction), ("root", INTERACTION_ID_ROOT)])
    h(root, "processingCode", {"code": "P"})
    h(root, "processingModeCode", {"code": "T"})
    h(root, "acceptAckCode", {"code": "NE"})
    add_device(root, "receiver", request.sender)
    add_device(root, "sender", DMP_DEVICE)
    return root


def request_root(interaction: str, *, sender: Device, message_id: II, now: datetime,
                 processing_code: str = "D", attention_nil: bool = True) -> etree._Element:
    """Open a request in the official examples' shape, up to the (nil) attentionLine."""
    root = etree.Element(f"{{{HL7}}}{interaction}", nsmap=NSMAP_HL7)
    root.set("ITSVersion", "XML_1.0")
    add_ii(root, "id", message_id)
    h(root, "creationTime", {"value": hl7_timestamp(now)})
    h(root, "interactionId", {"root": INTERACTION_ID_ROOT, "extension": interaction})
    h(root, "processingCode", {"code": processing_code})
    h(root, "processingModeCode", {"code": "T"})
    h(root, "acceptAckCode", {"code": "AL"})
    add_device(root, "receiver", DMP_DEVICE)
    add_device(root, "sender", sender)
    if attention_nil:
        nil(root, "attentionLine")
    return root


def add_attention_line_coded(root: etree._Element, keyword: str, keyword_system: str, code: str,
                             code_system: str) -> etree._Element:
    line = h(root, "attentionLine")
    h(line, "keyWordText", {"code": keyword, "codeSystem": keyword_system})
    set_xsi_type(h(line, "value", {"code": code, "codeSystem": code_system}), "CV")
    return line


def add_attention_line_bool(root: etree._Element, keyword: str, keyword_system: str, value: bool) -> etree._Element:
    line = h(root, "attentionLine")
    h(line, "keyWordText", {"code": keyword, "codeSystem": keyword_system})
    set_xsi_type(h(line, "value", {"value": xml_bool(value)}), "BL")
    return line


@dataclass(frozen=True)
class AckDetail:
    """An ``acknowledgementDetail``: the DMP error code (``DMPClosed``…) and its French text."""

    code: str
    text: str
    type_code: str = "E"


def add_acknowledgement(root: etree._Element, type_code: str, target: II, *, style: AckStyle = "attribute",
                        details: Iterable[AckDetail] = ()) -> etree._Element:
    if style == "attribute":
        ack = h(root, "acknowledgement", {"typeCode": type_code})
    else:
        ack = h(root, "acknowledgement")
        h(ack, "typeCode", {"code": type_code})
    # HL7 order: typeCode, expectedSequenceNumber, targetMessage, acknowledgementDetail.
    target_message = h(ack, "targetMessage")
    h(target_message, "id", [("extension", target.extension), ("root", target.root)])
    for detail in details:
        element = h(ack, "acknowledgementDetail", {"typeCode": detail.type_code})
        h(element, "code", {"code": detail.code})
        h(element, "text", text=detail.text)
    return ack


def add_control_act(root: etree._Element) -> etree._Element:
    return h(root, "controlActProcess", {"classCode": "CACT", "moodCode": "EVN"})


def add_coded(parent: etree._Element, local: str, code: str, code_system: str | None = None,
              display_name: str | None = None) -> etree._Element:
    return h(parent, local, [("code", code), ("codeSystem", code_system), ("displayName", display_name)])


def add_custodian(registration_event: etree._Element) -> etree._Element:
    custodian = h(registration_event, "custodian", {"typeCode": "CST"})
    entity = h(custodian, "assignedEntity", {"classCode": "ASSIGNED"})
    h(entity, "id", {"root": DMP_DEVICE_OID})
    return custodian


def add_bool_value(parent: etree._Element, value: bool) -> etree._Element:
    return set_xsi_type(h(parent, "value", {"value": xml_bool(value)}), "BL")


def add_query_ack(control_act: etree._Element, query_id: II, response_code: Literal["OK", "NF", "AE", "QE"], *,
                  total: int | None = None, current: int | None = None,
                  remaining: int | None = None) -> etree._Element:
    ack = h(control_act, "queryAck")
    h(ack, "queryId", [("extension", query_id.extension), ("root", query_id.root)])
    h(ack, "queryResponseCode", {"code": response_code})
    for local, value in (("resultTotalQuantity", total), ("resultCurrentQuantity", current),
                         ("resultRemainingQuantity", remaining)):
        if value is not None:
            h(ack, local, {"value": str(value)})
    return ack


__all__ = [
    "CS_AUTORISATION", "CS_CLOSURE_REASON", "CS_DMP_OBSERVATION", "CS_INTERNET_ACCOUNT", "CS_KEYWORD_AUTORISATION",
    "CS_KEYWORD_STATUT_MT", "CS_REASON", "DMP_DEVICE", "DMP_DEVICE_OID", "DMP_MESSAGE_ID_ROOT", "DMP_SOFTWARE_NAME",
    "HL7", "II", "INTERACTION_ID_ROOT", "NSMAP_HL7", "XSI", "AckDetail", "AckStyle", "Device", "IdStyle",
    "Transmission", "add_acknowledgement", "add_attention_line_bool", "add_attention_line_coded", "add_bool_value",
    "add_coded", "add_control_act", "add_custodian", "add_device", "add_ii", "add_query_ack", "attr", "find",
    "findall", "h", "hl7_path", "new_id", "nil", "read_device", "read_ii", "read_transmission", "request_root",
    "response_root", "set_xsi_type",
]
