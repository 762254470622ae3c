"""The INSi context headers (insi-cards.md §A.5): ``ctxlps:ContexteLPS``, ``ctxbam:ContexteBAM``,
``wsa:MessageID`` — reading them, checking them, and building them for clients.

ContexteLPS (urn:siram:lps:ctxlps): ``@Nature="CTXLPS"``, ``@Version`` (required; ``01_00`` in padoa,
``1.00.00`` in the GIE kit), ``Id``, ``Temps`` (xs:dateTime), ``Emetteur``?, ``LPS/{IDAM @R="4", Version,
Instance, Nom}``. The IDAM is the CNDA authorisation number of the software: unknown → ``siram_100/desir_550``.

ContexteBAM (urn:siram:bam:ctxbam): ``@Version="01_02"``, ``Id``, ``Temps``, ``Emetteur``?, ``DateRef``?, and a
mandatory ``COUVERTURE`` (empty for a traits search, filled from the Vitale card for the Vitale search).

A missing header or field the XSD makes mandatory is the sandbox's ``context`` fault (``siram_10/desir_500``
[I]); with ``strict=False`` it is only noted.
"""
from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from lxml import etree

from ..security.xmltime import format_datetime, parse_datetime
from ..soap import SoapMessage
from ..soap import namespaces as soap_ns
from .constants import CTXBAM, CTXLPS
from .faults import InsiFault

KNOWN_LPS_VERSIONS = ("01_00", "1.00.00")


@dataclass(frozen=True)
class Context:
    """What the headers said; ``notes`` are tolerated deviations for the exchange log."""

    message_id: str | None
    idam: str | None
    lps_version: str | None = None
    lps_name: str | None = None
    lps_instance: str | None = None
    emetteur: str | None = None
    context_version: str | None = None
    bam_version: str | None = None
    couverture: Mapping[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def summary(self) -> dict[str, Any]:
        return {"idam": self.idam, "lps_name": self.lps_name, "lps_version": self.lps_version,
                "emetteur": self.emetteur, "message_id": self.message_id}


def _text(parent: etree._Element | None, ns: str, path: str) -> str | None:
    if parent is None:
        return None
    found = parent.find("/".join(f"{{{ns}}}{p}" for p in path.split("/")))
    if found is None:
        return None
    return (found.text or "").strip() or None


def _context_fault(detail: str, message_id: str | None) -> InsiFault:
    return InsiFault("context", f"Contexte d'appel invalide : {detail}.", message_id=message_id)


def read_context(message: SoapMessage, *, now: datetime, strict: bool = True,
                 clock_skew: timedelta = timedelta(minutes=5)) -> Context:
    """Read and check the headers. Raises the ``context`` fault (or ``desir_550`` for a missing IDAM) on the
    first problem when ``strict``; otherwise records notes and goes on."""
    notes: list[str] = []
    message_id = message.message_id

    def problem(detail: str) -> None:
        if strict:
            raise _context_fault(detail, message_id)
        notes.append(detail)

    if not message_id:
        problem("en-tête wsa:MessageID absent")
    elif not (message_id.startswith("uuid:") or message_id.startswith("urn:uuid:")):
        notes.append(f"wsa:MessageID {message_id!r} n'est pas de la forme uuid:<uuid>")
    if not message.addressing.action:
        notes.append("en-tête wsa:Action absent : opération déduite du corps")

    lps_headers = [h for h in message.headers if h.tag == f"{{{CTXLPS}}}ContexteLPS"]
    bam_headers = [h for h in message.headers if h.tag == f"{{{CTXBAM}}}ContexteBAM"]
    lps = lps_headers[0] if lps_headers else None
    bam = bam_headers[0] if bam_headers else None
    if len(lps_headers) > 1 or len(bam_headers) > 1:
        problem("en-tête ContexteLPS ou ContexteBAM répété")
    if lps is None:
        problem("en-tête ctxlps:ContexteLPS absent")
    else:
        version = lps.get("Version")
        if not version:
            problem("ContexteLPS/@Version absent")
        elif version not in KNOWN_LPS_VERSIONS:
            notes.append(f"ContexteLPS/@Version {version!r} inhabituelle (vu : {', '.join(KNOWN_LPS_VERSIONS)})")
        if lps.get("Nature") not in (None, "CTXLPS"):
            problem(f"ContexteLPS/@Nature {lps.get('Nature')!r} au lieu de CTXLPS")
        _check_id_time(lps, CTXLPS, "ContexteLPS", now, clock_skew, problem, notes)
        if lps.find(f"{{{CTXLPS}}}LPS") is None:
            problem("ContexteLPS/LPS absent")
    if bam is None:
        problem("en-tête ctxbam:ContexteBAM absent")
    else:
        if not bam.get("Version"):
            problem("ContexteBAM/@Version absent")
        _check_id_time(bam, CTXBAM, "ContexteBAM", now, clock_skew, problem, notes)
        if bam.find(f"{{{CTXBAM}}}COUVERTURE") is None:
            problem("ContexteBAM/COUVERTURE absent (obligatoire, vide pour une recherche par traits)")

    idam_element = lps.find(f"{{{CTXLPS}}}LPS/{{{CTXLPS}}}IDAM") if lps is not None else None
    idam = (idam_element.text or "").strip() or None if idam_element is not None else None
    if idam_element is not None and idam_element.get("R") not in (None, "4"):
        notes.append(f"IDAM/@R={idam_element.get('R')!r} (attendu 4)")
    return Context(
        message_id=message_id, idam=idam, lps_version=_text(lps, CTXLPS, "LPS/Version"),
        lps_name=_text(lps, CTXLPS, "LPS/Nom"), lps_instance=_text(lps, CTXLPS, "LPS/Instance"),
        emetteur=_text(lps, CTXLPS, "Emetteur"), context_version=lps.get("Version") if lps is not None else None,
        bam_version=bam.get("Version") if bam is not None else None, couverture=_couverture(bam),
        notes=tuple(notes))


def _check_id_time(element: etree._Element, ns: str, what: str, now: datetime, skew: timedelta, problem: Any,
                   notes: list[str]) -> None:
    if not _text(element, ns, "Id"):
        problem(f"{what}/Id absent")
    temps = _text(element, ns, "Temps")
    if not temps:
        problem(f"{what}/Temps absent")
        return
    try:
        moment, _zoned = parse_datetime(temps)
    except ValueError:
        problem(f"{what}/Temps {temps!r} n'est pas un xs:dateTime")
        return
    if abs(moment - now) > skew:
        notes.append(f"{what}/Temps {temps} s'écarte de plus de {int(skew.total_seconds())} s de l'heure du service")


def _couverture(bam: etree._Element | None) -> dict[str, Any]:
    if bam is None:
        return {}
    couverture = bam.find(f"{{{CTXBAM}}}COUVERTURE")
    if couverture is None:
        return {}
    out: dict[str, Any] = {}
    for path in ("GrandRegime", "Organisme", "CodeCentre", "ASSURE/Id/Num", "ASSURE/Id/Cle", "BENEFICIAIRE/Nir/Num",
                 "BENEFICIAIRE/Nir/Cle", "BENEFICIAIRE/DateNai", "BENEFICIAIRE/Rang", "BENEFICIAIRE/Porteur"):
        value = _text(couverture, CTXBAM, path)
        if value is not None:
            out[path] = value
    return out


# -- building (clients, tests) ----------------------------------------------------------------------------


def new_message_id() -> str:
    """``uuid:<uuid>``, the form INSi clients send."""
    return f"uuid:{uuid.uuid4()}"


def contexte_lps(idam: str, *, now: datetime, lps_name: str = "urn:lps:segur-sandbox-client:1.0",
                 lps_version: str = "1.0", instance: str | None = None, emetteur: str | None = None,
                 version: str = "01_00") -> etree._Element:
    ns = CTXLPS
    root = etree.Element(f"{{{ns}}}ContexteLPS", nsmap={"ctxlps": ns})
    root.set("Nature", "CTXLPS")
    root.set("Version", version)
    etree.SubElement(root, f"{{{ns}}}Id").text = str(uuid.uuid4())
    etree.SubElement(root, f"{{{ns}}}Temps").text = format_datetime(now)
    if emetteur:
        etree.SubElement(root, f"{{{ns}}}Emetteur").text = emetteur
    lps = etree.SubElement(root, f"{{{ns}}}LPS")
    etree.SubElement(lps, f"{{{ns}}}IDAM", R="4").text = idam
    etree.SubElement(lps, f"{{{ns}}}Version").text = lps_version
    etree.SubElement(lps, f"{{{ns}}}Instance").text = instance or str(uuid.uuid4())
    etree.SubElement(lps, f"{{{ns}}}Nom").text = lps_name
    return root


def contexte_bam(*, now: datetime, emetteur: str | None = None, card: Mapping[str, Any] | None = None,
                 beneficiary: Mapping[str, Any] | None = None) -> etree._Element:
    """ContexteBAM; COUVERTURE empty unless a fixtures Vitale ``card`` (and the chosen ``beneficiary``) is given
    (C.3 mapping: AMO, ASSURE/Id, BENEFICIAIRE/{Nir, DateNai, Rang, Porteur})."""
    ns = CTXBAM
    root = etree.Element(f"{{{ns}}}ContexteBAM", nsmap={"ctxbam": ns})
    root.set("Version", "01_02")
    etree.SubElement(root, f"{{{ns}}}Id").text = str(uuid.uuid4())
    etree.SubElement(root, f"{{{ns}}}Temps").text = format_datetime(now)
    if emetteur:
        etree.SubElement(root, f"{{{ns}}}Emetteur").text = emetteur
    couverture = etree.SubElement(root, f"{{{ns}}}COUVERTURE")
    if card is not None:
        amo = card.get("amo") or {}
        for name, value in (("GrandRegime", amo.get("regime")), ("Organisme", amo.get("caisse")),
                            ("CodeCentre", amo.get("centre"))):
            if value:
                etree.SubElement(couverture, f"{{{ns}}}{name}").text = str(value)
        assure_id = etree.SubElement(etree.SubElement(couverture, f"{{{ns}}}ASSURE"), f"{{{ns}}}Id")
        etree.SubElement(assure_id, f"{{{ns}}}Num").text = card["insured"]["nir"]
        etree.SubElement(assure_id, f"{{{ns}}}Cle").text = card["insured"]["key"]
        if beneficiary is not None:
            element = etree.SubElement(couverture, f"{{{ns}}}BENEFICIAIRE")
            nir = etree.SubElement(element, f"{{{ns}}}Nir")
            etree.SubElement(nir, f"{{{ns}}}Num").text = beneficiary["nir"]
            etree.SubElement(nir, f"{{{ns}}}Cle").text = beneficiary["key"]
            etree.SubElement(element, f"{{{ns}}}DateNai").text = beneficiary["birth_date"]
            etree.SubElement(element, f"{{{ns}}}Rang").text = str(beneficiary.get("birth_rank") or 1)
            etree.SubElement(element, f"{{{ns}}}Porteur").text = "1" if beneficiary["nir"] == card["insured"]["nir"] \
                else "0"
    return root


def message_id_header(message_id: str) -> etree._Element:
    element = etree.Element(f"{{{soap_ns.WSA}}}MessageID", nsmap={"wsa": soap_ns.WSA})
    element.text = message_id
    return element


def action_header(action: str) -> etree._Element:
    element = etree.Element(f"{{{soap_ns.WSA}}}Action", nsmap={"wsa": soap_ns.WSA})
    element.text = action
    return element
