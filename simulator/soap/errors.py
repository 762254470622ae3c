"""Exceptions of the SOAP layer.

``SoapFault`` is the one exception type that becomes a SOAP fault: the SOAP layer raises its own subclasses
(``SoapError`` family) for malformed or hostile requests, and services raise ``SoapFault`` with their own code
(DMP subcode such as ``DMPInvalidCertificate``, INSi ``siram_100`` …). ``faults.to_response`` renders any of
them, so there is a single place where an error turns into bytes.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

from lxml import etree

from . import namespaces as ns

FaultCode = Literal["Sender", "Receiver", "VersionMismatch", "MustUnderstand"]
FAULT_CODES: tuple[str, ...] = ("Sender", "Receiver", "VersionMismatch", "MustUnderstand")


class SoapFault(Exception):
    """A fault to send back: SOAP 1.2 Code/Subcode/Reason/Detail, mapped onto SOAP 1.1 when needed.

    ``subcode`` is an ``etree.QName`` when it lives in a namespace, or a bare string written as is (the DMP
    writes its codes without a prefix, e.g. ``DMPInvalidCertificate``).
    """

    def __init__(self, code: FaultCode, subcode: etree.QName | str | None, reason: str, lang: str = "fr",
                 detail: Sequence[etree._Element] | None = None) -> None:
        if code not in FAULT_CODES:
            raise ValueError(f"unknown SOAP fault code {code!r}; expected one of {', '.join(FAULT_CODES)}")
        super().__init__(reason)
        self.code: FaultCode = code
        self.subcode = subcode
        self.reason = reason
        self.lang = lang
        self.detail: tuple[etree._Element, ...] = tuple(detail or ())

    @property
    def subcode_text(self) -> str | None:
        """The subcode as Clark notation ``{ns}local`` or the bare string; handy for comparisons and logs."""
        if self.subcode is None:
            return None
        return self.subcode.text if isinstance(self.subcode, etree.QName) else str(self.subcode)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, subcode={self.subcode_text!r}, reason={self.reason!r})"


class SoapError(SoapFault):
    """A request the SOAP layer refuses before any service sees it; the subcode names the class."""

    fault_code: ClassVar[FaultCode] = "Sender"
    subcode_namespace: ClassVar[str] = ns.SANDBOX_SOAP

    def __init__(self, message: str) -> None:
        super().__init__(self.fault_code, etree.QName(self.subcode_namespace, type(self).__name__), message,
                         lang="en")


class MessageTooLarge(SoapError):
    """The HTTP body, the XML document or one MIME part is over its configured size."""


class ContentTypeError(SoapError):
    """Content-Type missing, malformed, or not one a SOAP endpoint accepts."""


class XmlError(SoapError):
    """The XML itself is refused."""


class NotXml(XmlError):
    """Empty or not well-formed XML."""


class DoctypeForbidden(XmlError):
    """Any DOCTYPE: SOAP forbids DTDs, and they carry entity expansion and external-entity attacks."""


class XmlLimitExceeded(XmlError):
    """A structural limit of the hardened parser was hit."""


class DepthLimitExceeded(XmlLimitExceeded):
    """Elements nested deeper than allowed."""


class AttributeTooLong(XmlLimitExceeded):
    """An attribute value longer than allowed."""


class CharsetError(XmlError):
    """Unknown encoding name, or bytes that do not decode in the announced encoding."""


class CharsetMismatch(CharsetError):
    """Content-Type charset, byte-order mark and XML declaration announce different encodings."""


class EnvelopeError(SoapError):
    """Well-formed XML that is not a usable SOAP envelope."""


class NotSoapEnvelope(EnvelopeError):
    """The root is not a SOAP 1.1/1.2 Envelope: SOAP 1.2 §5.4.7 makes this a VersionMismatch fault."""

    fault_code = "VersionMismatch"


class MissingBody(EnvelopeError):
    """The Envelope has no Body."""


class EmptyBody(EnvelopeError):
    """The Body holds no element."""


class MtomError(SoapError):
    """The multipart/related (MTOM/XOP) package cannot be decoded."""


class MissingBoundary(MtomError):
    """multipart/related without a boundary parameter."""


class BrokenMultipart(MtomError):
    """Boundary never found, not followed by CRLF, or the closing delimiter is missing."""


class MissingStartPart(MtomError):
    """The ``start`` parameter names a Content-ID that no part carries."""


class DanglingCid(MtomError):
    """An ``xop:Include`` refers to a Content-ID that no part carries."""


class InvalidXopInclude(MtomError):
    """An ``xop:Include`` without a ``cid:`` href, or not the only child of its element."""


class PartTooLarge(MtomError, MessageTooLarge):
    """One MIME part is over the configured size."""


class TooManyParts(MtomError):
    """More MIME parts than allowed."""


class BinaryContentError(SoapError):
    """An element expected to carry base64 (or an xop:Include) holds something else."""


class AddressingHeaderRequired(SoapError):
    """A WS-Addressing header the service needs is absent (WS-Addressing 1.0 SOAP binding §6.4.1)."""

    subcode_namespace = ns.WSA

    # Apache CXF's wording, which the DMP returns verbatim (dmp.md §0.2).
    CXF_REASON: ClassVar[str] = "A required header representing a Message Addressing Property is not present"

    def __init__(self, message: str = CXF_REASON) -> None:
        super().__init__(message)
        self.subcode = etree.QName(ns.WSA, "MessageAddressingHeaderRequired")
