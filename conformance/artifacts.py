"""Typed artifacts the rules check, and ``load`` that detects what a file is from its content.

* ``CdaDocument``: a CDA R2 ``ClinicalDocument`` (raw bytes + parsed tree);
* ``SoapArtifact``: a SOAP request as ``segur_sandbox.simulator.soap.parse_request`` understood it (plain or MTOM);
* ``SamlAssertion``: a ``saml2:Assertion`` element (a VIHF), bare or taken from a SOAP ``wsse:Security`` header.

Derived forms (the parsed ITI-41 submission, its validation) are computed once and kept in ``cache`` so that many
rules can share them.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, ClassVar

from lxml import etree

from segur_sandbox.simulator.soap import SoapError, SoapMessage, parse_request, parse_xml
from segur_sandbox.simulator.soap import namespaces as soap_ns

HL7 = "urn:hl7-org:v3"
SAML2 = "urn:oasis:names:tc:SAML:2.0:assertion"
NS = {"h": HL7, "xsi": "http://www.w3.org/2001/XMLSchema-instance", "saml2": SAML2,
      "ds": "http://www.w3.org/2000/09/xmldsig#"}


@lru_cache(maxsize=1024)
def _xpath(path: str) -> etree.XPath:
    """A rule's XPath compiled once: ``element.xpath(path)`` compiles it again on every call, and the live rules run
    on every request the server answers. (An ``etree.XPath`` is safe to share between threads.)"""
    return etree.XPath(path, namespaces=NS)


__all__ = ["NS", "Artifact", "CdaDocument", "SamlAssertion", "SoapArtifact", "UnreadableInput", "load"]


class UnreadableInput(ValueError):
    """The bytes are not a CDA document, a SOAP message or a SAML assertion the suite can read."""


@dataclass(eq=False)
class Artifact:
    name: str
    cache: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    kind: ClassVar[str] = "artifact"

    def memo(self, key: str, compute: Callable[[], Any]) -> Any:
        if key not in self.cache:
            self.cache[key] = compute()
        return self.cache[key]

    def embedded(self, kinds: tuple[type[Artifact], ...] | None = None) -> Iterator[tuple[str, Artifact]]:
        """Artifacts carried inside this one, with where they were found. ``kinds``: only artifacts of these types
        are wanted (the others need not even be parsed); None: all."""
        return iter(())


def _wanted(kind: type[Artifact], kinds: tuple[type[Artifact], ...] | None) -> bool:
    return kinds is None or issubclass(kind, kinds)


@dataclass(eq=False)
class CdaDocument(Artifact):
    raw: bytes = b""
    root: etree._Element = field(default=None, repr=False)  # type: ignore[assignment]
    kind: ClassVar[str] = "cda"

    def xpath(self, path: str, node: etree._Element | None = None) -> list[Any]:
        return _xpath(path)(self.root if node is None else node)

    def first(self, path: str, node: etree._Element | None = None) -> Any:
        found = self.xpath(path, node)
        return found[0] if found else None

    @property
    def template_roots(self) -> list[str]:
        return [str(v) for v in self.xpath("h:templateId/@root")]

    @property
    def is_n1(self) -> bool:
        return bool(self.xpath("h:component/h:nonXMLBody"))

    @property
    def is_n3(self) -> bool:
        return bool(self.xpath("h:component/h:structuredBody"))


@dataclass(eq=False)
class SamlAssertion(Artifact):
    element: etree._Element = field(default=None, repr=False)  # type: ignore[assignment]
    kind: ClassVar[str] = "saml"

    def xpath(self, path: str, node: etree._Element | None = None) -> list[Any]:
        return _xpath(path)(self.element if node is None else node)

    def attribute_values(self, name: str) -> list[etree._Element] | None:
        """The AttributeValue elements of the attribute(s) with this Name (case-insensitive), None when absent."""
        found = self.memo("attribute_values", self._attribute_values).get(name.lower())
        return None if found is None else list(found)

    def _attribute_values(self) -> dict[str, list[etree._Element]]:
        # one pass over the attributes for all the rules asking (each VIHF check ran the XPath again)
        values: dict[str, list[etree._Element]] = {}
        for attribute in self.xpath("saml2:AttributeStatement/saml2:Attribute"):
            values.setdefault((attribute.get("Name") or "").lower(), []).extend(
                attribute.iterchildren(f"{{{SAML2}}}AttributeValue"))
        return values

    def attribute_texts(self, name: str) -> list[str] | None:
        values = self.attribute_values(name)
        return None if values is None else [(v.text or "").strip() for v in values]


@lru_cache(maxsize=1)
def _services() -> tuple[frozenset[str], str, frozenset[str], frozenset[str]]:
    """INSi request tags and action prefix, DMP body roots and actions (imported late: the simulator imports us)."""
    from segur_sandbox.simulator.dmp.messages import CATALOGUE
    from segur_sandbox.simulator.insi.constants import ACTION_PREFIX, OPERATIONS

    return (frozenset(op.request_tag for op in OPERATIONS), ACTION_PREFIX,
            frozenset(e.body_root for e in CATALOGUE), frozenset(a for e in CATALOGUE for a in e.actions))


@dataclass(eq=False)
class SoapArtifact(Artifact):
    message: SoapMessage = field(default=None, repr=False)  # type: ignore[assignment]
    kind: ClassVar[str] = "soap"

    @property
    def body_tag(self) -> str:
        return str(self.message.body_element.tag)

    @property
    def service(self) -> str | None:
        """``insi`` for an INSi request, ``dmp`` for a DMP one (by body root or action), else None."""
        return self.memo("service", self._service)  # asked by most rules' ``when``: every request, many times

    def _service(self) -> str | None:
        insi_tags, insi_prefix, dmp_roots, dmp_actions = _services()
        action = self.message.action or ""
        if self.body_tag in insi_tags or action.startswith(insi_prefix):
            return "insi"
        if self.body_tag in dmp_roots or action in dmp_actions:
            return "dmp"
        return None

    @property
    def is_iti41(self) -> bool:
        return self.body_tag == f"{{{soap_ns.XDS_B}}}ProvideAndRegisterDocumentSetRequest"

    def security_assertions(self) -> list[etree._Element]:
        security = self.message.header(f"{{{soap_ns.WSSE}}}Security")
        if security is None:
            return []
        return list(security.iterchildren(f"{{{SAML2}}}Assertion"))

    def embedded(self, kinds: tuple[type[Artifact], ...] | None = None) -> Iterator[tuple[str, Artifact]]:
        if _wanted(SamlAssertion, kinds) and self.service == "dmp":
            for assertion in self.security_assertions()[:1]:
                yield "wsse:Security/saml2:Assertion", SamlAssertion(f"{self.name}#vihf", element=assertion)
        if _wanted(CdaDocument, kinds) and self.is_iti41:  # parsing the submission and its CDAs is the costly part
            submission = self.submission()
            if submission is not None:
                for entry_id, content in submission.documents.items():
                    try:
                        artifact = load(content, name=f"{self.name}#{entry_id}")
                    except UnreadableInput:
                        continue
                    if isinstance(artifact, CdaDocument):
                        yield f"xds-b:Document[@id='{entry_id}']", artifact

    def submission(self) -> Any:
        """The parsed ITI-41 submission, or None when the body cannot be read (see ``submission_error``)."""
        return self.memo("submission", self._parse_submission)[0]

    def submission_error(self) -> Any:
        return self.memo("submission", self._parse_submission)[1]

    def _parse_submission(self) -> tuple[Any, Any]:
        from segur_sandbox.simulator.dmp.xds import XdsError, parse_provide_and_register
        try:
            return parse_provide_and_register(self.message), None
        except XdsError as exc:
            return None, exc


_BOUNDARY_LINE = re.compile(rb"--([^\r\n]{1,70})\r?\n")


def load(data: bytes, *, name: str = "<input>", content_type: str | None = None) -> Artifact:
    """Detect and parse: a CDA ClinicalDocument, a SOAP envelope (plain or an MTOM package, whose Content-Type
    is guessed from the first boundary line unless given) or a bare saml2:Assertion."""
    stripped = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    try:
        if content_type is None and stripped.startswith(b"--"):
            match = _BOUNDARY_LINE.match(stripped)
            if match is None:
                raise UnreadableInput(f"{name}: looks like a MIME multipart package but has no boundary line")
            boundary = match.group(1).decode("latin-1").strip()
            content_type = (f'multipart/related; boundary="{boundary}"; type="application/xop+xml"; '
                            'start-info="application/soap+xml"')
            return SoapArtifact(name, message=parse_request(stripped, content_type))
        if content_type is not None and content_type.lower().startswith("multipart/"):
            return SoapArtifact(name, message=parse_request(data, content_type))
        root = parse_xml(data, what=name)
    except SoapError as exc:
        raise UnreadableInput(f"{name}: {exc.reason}") from None
    qname = etree.QName(root)
    if qname.localname == "ClinicalDocument" and qname.namespace == HL7:
        return CdaDocument(name, raw=data, root=root)
    if qname.localname == "Assertion" and qname.namespace == SAML2:
        return SamlAssertion(name, element=root)
    if qname.localname == "Envelope" and qname.namespace in (soap_ns.SOAP11, soap_ns.SOAP12):
        try:
            return SoapArtifact(name, message=parse_request(data, content_type))
        except SoapError as exc:
            raise UnreadableInput(f"{name}: {exc.reason}") from None
    found = f"{{{qname.namespace}}}{qname.localname}" if qname.namespace else qname.localname
    raise UnreadableInput(f"{name}: the root element is {found}; expected a CDA ClinicalDocument ({HL7}), a SOAP "
                          f"Envelope or a SAML 2.0 Assertion ({SAML2})")
