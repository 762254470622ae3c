"""The SOAP layer: bytes + Content-Type in, typed ``SoapMessage`` out; typed objects out to bytes again.

Pure (no web framework): the HTTP app calls ``parse_request`` for every message and ``build_response`` /
``to_response`` for every answer, so SOAP 1.1/1.2, WS-Addressing, MTOM/XOP and faults live only here.
"""
from . import namespaces
from .addressing import Addressing, read_addressing, require_addressing
from .content_type import ContentType, format_content_type, parse_content_type
from .envelope import SoapMessage, Transport, parse_request
from .errors import (AddressingHeaderRequired, AttributeTooLong, BinaryContentError, BrokenMultipart, CharsetError,
                     CharsetMismatch, ContentTypeError, DanglingCid, DepthLimitExceeded, DoctypeForbidden,
                     EmptyBody, EnvelopeError, FaultCode, InvalidXopInclude, MessageTooLarge, MissingBody,
                     MissingBoundary, MissingStartPart, MtomError, NotSoapEnvelope, NotXml, PartTooLarge, SoapError,
                     SoapFault, TooManyParts, XmlError, XmlLimitExceeded)
from .faults import FaultResponse, FaultStatusPolicy, fault_element, fault_http_status, read_fault, to_response
from .limits import DEFAULT_LIMITS, SoapLimits
from .mtom import (MimePart, MtomPackage, XopReference, decode_mtom, encode_mtom, new_content_id, resolve_xop,
                   split_multipart, xop_include)
from .response import build_envelope, build_response, new_message_id
from .version import SoapVersion
from .wire import EncodedMessage
from .xml import detect_encoding, hardened_parser, parse_xml

__all__ = [
    "DEFAULT_LIMITS", "AddressingHeaderRequired", "Addressing", "AttributeTooLong", "BinaryContentError",
    "BrokenMultipart", "CharsetError", "CharsetMismatch", "ContentType", "ContentTypeError", "DanglingCid",
    "DepthLimitExceeded", "DoctypeForbidden", "EmptyBody", "EncodedMessage", "EnvelopeError", "FaultCode",
    "FaultResponse", "FaultStatusPolicy", "InvalidXopInclude", "MessageTooLarge", "MimePart", "MissingBody",
    "MissingBoundary", "MissingStartPart", "MtomError", "MtomPackage", "NotSoapEnvelope", "NotXml", "PartTooLarge",
    "SoapError", "SoapFault", "SoapLimits", "SoapMessage", "SoapVersion", "TooManyParts", "Transport",
    "XmlError", "XmlLimitExceeded", "XopReference", "build_envelope", "build_response", "decode_mtom",
    "detect_encoding", "encode_mtom", "fault_element", "fault_http_status", "format_content_type",
    "hardened_parser", "namespaces", "new_content_id", "new_message_id", "parse_content_type", "parse_request",
    "parse_xml", "read_addressing", "read_fault", "require_addressing", "resolve_xop", "split_multipart",
    "to_response", "xop_include",
]
