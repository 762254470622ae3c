"""INSi request rules (insi-cards.md §A.5): the context headers ContexteLPS / ContexteBAM, wsa:MessageID, the IDAM
and the traits of a RECSANSVITALE. Traits are read by ``simulator.insi.messages.read_traits_request``."""
from __future__ import annotations

from collections.abc import Iterator

from segur_sandbox.simulator.insi.constants import CTXBAM, CTXLPS, OPERATIONS, TRAITS
from segur_sandbox.simulator.insi.faults import InsiFault
from segur_sandbox.simulator.insi.messages import read_traits_request
from segur_sandbox.simulator.security.xmltime import parse_datetime

from ..artifacts import SoapArtifact
from .engine import finding, rule

RULE_SET = "insi"
_HEADER = "/soap:Envelope/soap:Header"

Issues = Iterator[object]


def _insi(rule_id: str, title: str, **kwargs: object):  # type: ignore[no-untyped-def]
    return rule(rule_id, title, rule_set=RULE_SET, applies_to=SoapArtifact,  # type: ignore[arg-type]
                when=lambda soap: soap.service == "insi", **kwargs)


def _lps(soap: SoapArtifact):  # type: ignore[no-untyped-def]
    return soap.message.header(f"{{{CTXLPS}}}ContexteLPS")


def _text(element, path: str, ns: str) -> str | None:  # type: ignore[no-untyped-def]
    found = element.find("/".join(f"{{{ns}}}{p}" for p in path.split("/")))
    return (found.text or "").strip() or None if found is not None else None


@_insi("INSI-001", "ctxlps:ContexteLPS header present with @Version, Id and an xs:dateTime Temps")
def contexte_lps(soap: SoapArtifact) -> Issues:
    lps = _lps(soap)
    where = f"{_HEADER}/ctxlps:ContexteLPS"
    if lps is None:
        yield "the ctxlps:ContexteLPS header is missing", where
        return
    if not lps.get("Version"):
        yield "ContexteLPS/@Version missing", f"{where}/@Version"
    if lps.get("Nature") not in (None, "CTXLPS"):
        yield f"expected ContexteLPS/@Nature 'CTXLPS', found {lps.get('Nature')!r}", f"{where}/@Nature"
    if not _text(lps, "Id", CTXLPS):
        yield "ContexteLPS/Id missing", f"{where}/ctxlps:Id"
    temps = _text(lps, "Temps", CTXLPS)
    if not temps:
        yield "ContexteLPS/Temps missing", f"{where}/ctxlps:Temps"
    else:
        try:
            parse_datetime(temps)
        except ValueError:
            yield f"ContexteLPS/Temps must be an xs:dateTime, found {temps!r}", f"{where}/ctxlps:Temps"


@_insi("INSI-002", "ctxbam:ContexteBAM header present with @Version and COUVERTURE")
def contexte_bam(soap: SoapArtifact) -> Issues:
    bam = soap.message.header(f"{{{CTXBAM}}}ContexteBAM")
    where = f"{_HEADER}/ctxbam:ContexteBAM"
    if bam is None:
        yield "the ctxbam:ContexteBAM header is missing", where
        return
    if not bam.get("Version"):
        yield "ContexteBAM/@Version missing", f"{where}/@Version"
    if bam.find(f"{{{CTXBAM}}}COUVERTURE") is None:
        yield "ContexteBAM/COUVERTURE missing (mandatory, empty for a traits search)", f"{where}/ctxbam:COUVERTURE"


@_insi("INSI-003", "wsa:MessageID present, of the form uuid:<uuid>")
def message_id(soap: SoapArtifact) -> Issues:
    value = soap.message.message_id
    where = f"{_HEADER}/wsa:MessageID"
    if not value:
        yield "the wsa:MessageID header is missing", where
    elif not (value.startswith("uuid:") or value.startswith("urn:uuid:")):
        yield finding("INSI-003", "warning", f"expected wsa:MessageID 'uuid:<uuid>', found {value!r}", where)


@_insi("INSI-004", "ContexteLPS/LPS/IDAM (CNDA authorisation number) present, @R='4'", refs=("CNDA IDAM",))
def idam(soap: SoapArtifact) -> Issues:
    lps = _lps(soap)
    where = f"{_HEADER}/ctxlps:ContexteLPS/ctxlps:LPS/ctxlps:IDAM"
    if lps is None:
        return  # INSI-001
    element = lps.find(f"{{{CTXLPS}}}LPS/{{{CTXLPS}}}IDAM")
    if element is None or not (element.text or "").strip():
        yield "the IDAM (CNDA authorisation number of the software) is missing", where
    elif element.get("R") not in (None, "4"):
        yield finding("INSI-004", "warning", f"expected IDAM/@R='4', found {element.get('R')!r}", where)


@_insi("INSI-005", "wsa:Action names the operation of the body")
def action(soap: SoapArtifact) -> Issues:
    sent = soap.message.action
    operation = next((op for op in OPERATIONS if op.request_tag == soap.body_tag), None)
    if operation is None:
        yield f"the body {soap.body_tag} is no INSi request", "/soap:Envelope/soap:Body/*[1]"
    elif sent and sent != operation.action:
        yield f"expected wsa:Action {operation.action!r} for a {operation.request_element}, found {sent!r}", \
            f"{_HEADER}/wsa:Action"


@_insi("INSI-006", "RECSANSVITALE carries the mandatory traits in their formats",
       )
def traits(soap: SoapArtifact) -> Issues:
    if soap.body_tag != TRAITS.request_tag:
        return
    try:
        read_traits_request(soap.message.body_element)
    except InsiFault as exc:
        yield f"{exc.detail_text} (NomNaissance, Prenom, Sexe, DateNaissance AAAA-MM-JJ required)", \
            "/soap:Envelope/soap:Body/RECSANSVITALE"
