"""WS-Addressing headers read from a request, and the check that the required ones are there."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from lxml import etree

from . import namespaces as ns
from .errors import AddressingHeaderRequired

_FIELDS = {"MessageID": "message_id", "Action": "action", "To": "to", "ReplyTo": "reply_to",
           "RelatesTo": "relates_to"}


@dataclass(frozen=True)
class Addressing:
    """Values as sent (whitespace stripped); None when the header is absent, "" when present but empty.

    ``reply_to`` is the text of ``ReplyTo/Address``. ``namespace`` is the WS-Addressing namespace the request
    used, None when it carried no addressing header at all.
    """

    namespace: str | None = None
    message_id: str | None = None
    action: str | None = None
    to: str | None = None
    reply_to: str | None = None
    relates_to: str | None = None


def read_addressing(headers: Sequence[etree._Element]) -> tuple[Addressing, tuple[str, ...]]:
    """Extract the addressing headers; tolerances (old namespace, repeats) come back as notes."""
    notes: list[str] = []
    by_namespace = {uri: [h for h in headers if etree.QName(h).namespace == uri] for uri in (ns.WSA, ns.WSA_2004)}
    if by_namespace[ns.WSA] and by_namespace[ns.WSA_2004]:
        notes.append("WS-Addressing headers in both the 2005/08 and 2004/08 namespaces; the 2005/08 ones are used")
    namespace = ns.WSA if by_namespace[ns.WSA] else ns.WSA_2004 if by_namespace[ns.WSA_2004] else None
    if namespace is None:
        return Addressing(), ()
    if namespace == ns.WSA_2004:
        notes.append("WS-Addressing 2004/08 (member submission) namespace tolerated; DMP and INSi use "
                     f"{ns.WSA}")
    values: dict[str, str] = {}
    for header in by_namespace[namespace]:
        local = etree.QName(header).localname
        field_name = _FIELDS.get(local)
        if field_name is None:
            continue
        if field_name in values:
            notes.append(f"wsa:{local} appears more than once; the first one is used")
            continue
        if local == "ReplyTo":
            address = header.find(f"{{{namespace}}}Address")
            values[field_name] = (address.text or "").strip() if address is not None else ""
        else:
            values[field_name] = (header.text or "").strip()
    return Addressing(namespace=namespace, **values), tuple(notes)


def require_addressing(addressing: Addressing, names: Iterable[str] = ("Action", "MessageID")) -> None:
    """Raise the DMP's (Apache CXF's) fault when one of the named headers is missing or empty.

    The detail carries ``wsa:ProblemHeaderQName`` as the WS-Addressing SOAP binding (§6.4.1) prescribes.
    """
    for name in names:
        if name not in _FIELDS:
            raise ValueError(f"{name!r} is not a WS-Addressing header this layer reads")
        if not getattr(addressing, _FIELDS[name]):
            problem = etree.Element(f"{{{ns.WSA}}}ProblemHeaderQName", nsmap={"wsa": ns.WSA})
            problem.text = f"wsa:{name}"
            fault = AddressingHeaderRequired()
            fault.detail = (problem,)
            raise fault
