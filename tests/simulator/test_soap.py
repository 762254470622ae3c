"""The SOAP layer: envelopes, WS-Addressing, MTOM/XOP, hostile input, faults and responses."""
from __future__ import annotations

import base64
import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from lxml import etree

from segur_sandbox.simulator import soap
from segur_sandbox.simulator.soap import namespaces as ns

XDS = "urn:ihe:iti:xds-b:2007"
SIRAM = "urn:siram"
ITI41 = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"
TD02 = "urn:hl7-org:v3:PRPA_IN201307UV02"
SOAP12_CT = f'application/soap+xml; charset=UTF-8; action="{TD02}"'

# Shaped like the official TD0.2 example: mustUnderstand Action, empty To, anonymous ReplyTo, a VIHF header.
TD02_REQUEST = f"""<?xml version="1.0" encoding="UTF-8"?>
<soap:Envelope xmlns:soap="{ns.SOAP12}" xmlns:wsa="{ns.WSA}">
  <soap:Header>
    <wsa:Action soap:mustUnderstand="1">{TD02}</wsa:Action>
    <wsa:MessageID>urn:uuid:1c5b8a1e-4f0c-4d1e-9f2a-0a6b7c8d9e0f</wsa:MessageID>
    <wsa:ReplyTo soap:mustUnderstand="1">
      <wsa:Address>{ns.WSA_ANONYMOUS}</wsa:Address>
    </wsa:ReplyTo>
    <wsa:To/>
    <wsse:Security xmlns:wsse="{ns.WSSE}"><saml2:Assertion xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion"
        ID="_a1"/></wsse:Security>
  </soap:Header>
  <soap:Body>
    <PRPA_IN201307UV02 xmlns="urn:hl7-org:v3" ITSVersion="XML_1.0"><id root="1.2.3"/></PRPA_IN201307UV02>
  </soap:Body>
</soap:Envelope>""".encode()


@contextmanager
def quick(limit: float = 1.0):
    start = time.perf_counter()
    yield
    elapsed = time.perf_counter() - start
    assert elapsed < limit, f"took {elapsed:.2f} s"


def envelope_bytes(body: etree._Element, *, version: soap.SoapVersion = soap.SoapVersion.V12,
                   headers: tuple[etree._Element, ...] = (), encoding: str = "UTF-8") -> bytes:
    """A request built independently of the layer under test's own response builder."""
    env = etree.Element(f"{{{version.namespace}}}Envelope", nsmap={"s": version.namespace})
    header = etree.SubElement(env, f"{{{version.namespace}}}Header")
    header.extend(headers)
    etree.SubElement(env, f"{{{version.namespace}}}Body").append(body)
    return etree.tostring(env, xml_declaration=True, encoding=encoding)


def wsa(local: str, text: str, namespace: str = ns.WSA) -> etree._Element:
    element = etree.Element(f"{{{namespace}}}{local}")
    element.text = text
    return element


def multipart(parts: list[tuple[list[str], bytes]], boundary: str = "MIMEBoundary_1") -> bytes:
    """A multipart body written byte by byte, as a client would send it."""
    chunks = []
    for headers, content in parts:
        chunks.append(b"--" + boundary.encode() + b"\r\n" + "\r\n".join(headers).encode() + b"\r\n\r\n" + content
                      + b"\r\n")
    return b"".join(chunks) + b"--" + boundary.encode() + b"--\r\n"


def iti41_root(href: str = "cid:doc1@lps.example") -> bytes:
    request = etree.Element(f"{{{XDS}}}ProvideAndRegisterDocumentSetRequest", nsmap={"xds": XDS})
    document = etree.SubElement(request, f"{{{XDS}}}Document", id="Document01")
    include = etree.SubElement(document, f"{{{ns.XOP}}}Include", nsmap={"xop": ns.XOP})
    include.set("href", href)
    return envelope_bytes(request, headers=(wsa("Action", ITI41), wsa("MessageID", "urn:uuid:41")))


MTOM_CT = ('multipart/related; type="application/xop+xml"; boundary="MIMEBoundary_1"; '
           f'start="<root@lps.example>"; start-info="application/soap+xml"; action="{ITI41}"')
ROOT_HEADERS = ['Content-Type: application/xop+xml; charset=UTF-8; type="application/soap+xml"',
                "Content-Transfer-Encoding: binary", "Content-ID: <root@lps.example>"]
DOC_HEADERS = ["Content-Type: text/xml", "Content-Transfer-Encoding: binary", "Content-ID: <doc1@lps.example>"]
CDA_BYTES = b"<ClinicalDocument>\r\n--MIMEBoundary_\r\n\xe9\xff\x00 caf\xc3\xa9</ClinicalDocument>\r\n"


# --- envelopes and WS-Addressing -----------------------------------------------------------------------------

def test_soap12_request_exposes_addressing_headers_and_body():
    message = soap.parse_request(TD02_REQUEST, SOAP12_CT)

    assert message.version is soap.SoapVersion.V12
    assert message.transport is soap.Transport.PLAIN
    assert message.addressing == soap.Addressing(
        namespace=ns.WSA, message_id="urn:uuid:1c5b8a1e-4f0c-4d1e-9f2a-0a6b7c8d9e0f", action=TD02, to="",
        reply_to=ns.WSA_ANONYMOUS, relates_to=None)
    assert message.action == message.transport_action == TD02
    assert message.body_element.tag == "{urn:hl7-org:v3}PRPA_IN201307UV02"
    assert message.header(etree.QName(ns.WSSE, "Security")) is not None
    assert len(message.headers) == 5
    assert message.raw is TD02_REQUEST
    assert message.notes == ()


def test_soap11_request_takes_its_action_from_the_soapaction_header():
    body = envelope_bytes(etree.Element("{urn:si-dmp-habilitations}setAuthorization"),
                          version=soap.SoapVersion.V11,
                          headers=(wsa("Action", "urn:hl7-org:v3:setAuthorization"), wsa("MessageID", "m-11")))

    message = soap.parse_request(body, "text/xml; charset=utf-8", '"urn:hl7-org:v3:setAuthorization"')

    assert message.version is soap.SoapVersion.V11
    assert message.transport_action == "urn:hl7-org:v3:setAuthorization"
    assert message.addressing.action == "urn:hl7-org:v3:setAuthorization"
    assert message.message_id == "m-11"
    assert message.body_element.tag == "{urn:si-dmp-habilitations}setAuthorization"
    assert message.notes == ()


def test_wsa_2004_namespace_is_tolerated_and_noted():
    body = envelope_bytes(etree.Element("{urn:x}op"), headers=(wsa("Action", "urn:a", ns.WSA_2004),
                                                               wsa("MessageID", "m1", ns.WSA_2004)))

    message = soap.parse_request(body, "application/soap+xml")

    assert message.addressing.namespace == ns.WSA_2004
    assert (message.action, message.message_id) == ("urn:a", "m1")
    assert any("2004/08" in note for note in message.notes)


def test_envelope_version_wins_over_content_type_and_disagreement_is_noted():
    # The official TD2.1 example: a SOAP 1.1 envelope announced as application/soap+xml.
    body = envelope_bytes(etree.Element("{urn:x}op"), version=soap.SoapVersion.V11)

    message = soap.parse_request(body, "application/soap+xml; charset=UTF-8")

    assert message.version is soap.SoapVersion.V11
    assert any("announces SOAP 1.2" in note for note in message.notes)


def test_transport_action_differing_from_wsa_action_is_noted():
    body = envelope_bytes(etree.Element("{urn:x}op"), headers=(wsa("Action", "urn:a"),))

    message = soap.parse_request(body, 'application/soap+xml; action="urn:b"')

    assert message.action == "urn:a"
    assert any("differs" in note for note in message.notes)


def test_missing_addressing_header_gives_the_dmp_fault():
    message = soap.parse_request(envelope_bytes(etree.Element("{urn:x}op"), headers=(wsa("Action", "urn:a"),)),
                                 "application/soap+xml")

    with pytest.raises(soap.AddressingHeaderRequired) as caught:
        soap.require_addressing(message.addressing)

    fault = soap.read_fault(soap.parse_request(*soap.to_response(caught.value)[:2]))
    assert fault.reason == "A required header representing a Message Addressing Property is not present"
    assert fault.subcode == etree.QName(ns.WSA, "MessageAddressingHeaderRequired")
    assert fault.detail[0].text == "wsa:MessageID"


def test_consistent_latin1_and_utf16_bodies_decode():
    latin1 = envelope_bytes(etree.Element("{urn:x}nom", a="é"), encoding="ISO-8859-1")
    assert b"\xe9" in latin1
    utf16 = envelope_bytes(etree.Element("{urn:x}nom", a="é"), encoding="UTF-16")

    assert soap.parse_request(latin1, "text/xml; charset=ISO-8859-1").body_element.get("a") == "é"
    assert soap.parse_request(utf16, "application/soap+xml; charset=utf-16").body_element.get("a") == "é"


def test_content_type_parameters_are_unquoted():
    parsed = soap.parse_content_type('Multipart/Related; type="application/xop+xml"; start="<a@b>"; '
                                     'action="urn:x\\"y";')
    assert parsed.media_type == "multipart/related"
    assert parsed.param("start") == "<a@b>"
    assert parsed.param("action") == 'urn:x"y'


XML_TEXT = st.text(st.characters(codec="utf-8", categories=("L", "N", "P", "S", "Zs")), max_size=30)
NAMESPACES = st.sampled_from(["urn:a", "urn:siram:lps:ctxlps", ns.WSSE, "http://example.org/caf%C3%A9"])
NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.-]{0,12}", fullmatch=True)


@st.composite
def elements(draw, depth: int = 3) -> etree._Element:
    element = etree.Element(f"{{{draw(NAMESPACES)}}}{draw(NAMES)}")
    for name in draw(st.lists(NAMES, max_size=3, unique=True)):
        element.set(name, draw(XML_TEXT))
    element.text = draw(XML_TEXT) or None
    if depth:
        for child in draw(st.lists(elements(depth - 1), max_size=3)):
            element.append(child)
            child.tail = draw(XML_TEXT) or None
    return element


@settings(max_examples=60, deadline=None)
@given(headers=st.lists(elements(1), max_size=4), body=elements(), version=st.sampled_from(soap.SoapVersion),
       message_id=XML_TEXT.map(str.strip), action=NAMES, encoding=st.sampled_from(["UTF-8", "UTF-16", "UTF-8"]))
def test_random_envelopes_parse_back_to_the_same_content(headers, body, version, message_id, action, encoding):
    expected_headers = [etree.tostring(h, method="c14n", exclusive=True) for h in headers]
    expected_body = etree.tostring(body, method="c14n", exclusive=True)
    addressing = (wsa("MessageID", message_id), wsa("Action", f"urn:{action}"))
    raw = envelope_bytes(body, version=version, headers=(*addressing, *headers), encoding=encoding)
    content_type = "text/xml" if version is soap.SoapVersion.V11 else "application/soap+xml"

    message = soap.parse_request(raw, content_type, f'"urn:{action}"' if version is soap.SoapVersion.V11 else None)

    assert message.version is version
    assert (message.message_id, message.action) == (message_id, f"urn:{action}")
    assert [etree.tostring(h, method="c14n", exclusive=True) for h in message.headers[2:]] == expected_headers
    assert etree.tostring(message.body_element, method="c14n", exclusive=True) == expected_body


# --- MTOM/XOP ------------------------------------------------------------------------------------------------

def test_mtom_request_resolves_xop_include_and_keeps_raw_bytes():
    body = multipart([(ROOT_HEADERS, iti41_root()), (DOC_HEADERS, CDA_BYTES)])

    message = soap.parse_request(body, MTOM_CT)

    document = message.body_element.find(f"{{{XDS}}}Document")
    assert message.transport is soap.Transport.MTOM
    assert message.action == ITI41
    assert message.attachments == {"doc1@lps.example": CDA_BYTES}
    assert document.text == base64.b64encode(CDA_BYTES).decode()
    assert len(document) == 0
    assert message.binary_content(document) is message.attachments["doc1@lps.example"]
    assert [(r.element, r.content_id) for r in message.xop_references] == [(document, "doc1@lps.example")]
    assert message.parts[1].content_type == "text/xml"
    assert message.notes == ()


def test_mtom_without_start_uses_the_first_part_and_percent_encoded_cids_match():
    content_type = 'multipart/related; type="application/xop+xml"; boundary=MIMEBoundary_1'
    headers = DOC_HEADERS[:2] + ["Content-ID: <doc 1@lps.example>"]
    body = multipart([(ROOT_HEADERS, iti41_root("cid:doc%201@lps.example")), (headers, b"%PDF-1.4")])

    message = soap.parse_request(body, content_type)

    assert message.binary_content(message.body_element[0]) == b"%PDF-1.4"


def test_inline_base64_document_is_accepted():
    request = etree.Element(f"{{{XDS}}}ProvideAndRegisterDocumentSetRequest")
    document = etree.SubElement(request, f"{{{XDS}}}Document", id="Document01")
    encoded = base64.encodebytes(CDA_BYTES).decode()  # with line breaks, as some clients send it
    document.text = encoded

    message = soap.parse_request(envelope_bytes(request), "application/soap+xml")

    assert message.transport is soap.Transport.PLAIN
    assert message.binary_content(message.body_element[0]) == CDA_BYTES


def test_binary_content_rejects_non_base64():
    request = etree.Element("{urn:x}Document")
    request.text = "not base64 !"
    message = soap.parse_request(envelope_bytes(request), "application/soap+xml")
    with pytest.raises(soap.BinaryContentError):
        message.binary_content(message.body_element)


BOUNDARY_LIKE = st.sampled_from([b"--", b"\r\n", b"\r\n--", b"\r\n--uuid:", b"--\r\n", b"\r\n\r\n", b"\xff\xfe\x00"])
BINARY = st.lists(st.one_of(st.binary(max_size=64), BOUNDARY_LIKE), max_size=12).map(b"".join)


@settings(max_examples=100, deadline=None)
@given(documents=st.lists(BINARY, min_size=1, max_size=4), version=st.sampled_from(soap.SoapVersion))
def test_mtom_round_trip_is_byte_identical(documents, version):
    request = etree.Element(f"{{{XDS}}}RetrieveDocumentSetResponse")
    attachments = {}
    for index, data in enumerate(documents):
        content_id = soap.new_content_id()
        soap.xop_include(etree.SubElement(request, f"{{{XDS}}}Document", n=str(index)), content_id)
        attachments[content_id] = (data, "application/octet-stream") if index % 2 else data

    body, content_type = soap.build_response(request, version=version, action="urn:r", relates_to="urn:uuid:q",
                                             mtom_attachments=attachments)
    message = soap.parse_request(body, content_type)

    assert message.transport is soap.Transport.MTOM and message.version is version
    returned = [message.binary_content(element) for element in message.body_element]
    assert returned == documents
    assert [base64.b64decode(element.text) for element in message.body_element] == documents


@settings(max_examples=50, deadline=None)
@given(data=BINARY)
def test_mtom_with_a_given_boundary_and_content_ids_is_deterministic(data):
    assume(b"\r\n--fixed.boundary" not in data and not data.startswith(b"--fixed.boundary"))
    envelope = etree.Element(f"{{{ns.SOAP12}}}Envelope")
    document = etree.SubElement(etree.SubElement(envelope, f"{{{ns.SOAP12}}}Body"), "{urn:x}Document")
    soap.xop_include(document, "doc@x")

    first = soap.encode_mtom(envelope, {"doc@x": data}, boundary="fixed.boundary", root_content_id="root@x")
    second = soap.encode_mtom(envelope, {"doc@x": data}, boundary="fixed.boundary", root_content_id="root@x")

    assert first == second
    parsed = soap.parse_content_type(first.content_type)
    assert (parsed.param("boundary"), parsed.param("start")) == ("fixed.boundary", "<root@x>")
    assert soap.parse_request(*first).attachments == {"doc@x": data}


def test_given_boundary_occurring_in_a_part_is_refused():
    envelope = etree.Element(f"{{{ns.SOAP12}}}Envelope")
    etree.SubElement(envelope, f"{{{ns.SOAP12}}}Body")
    with pytest.raises(ValueError, match="occurs inside a part"):
        soap.encode_mtom(envelope, {"a@x": b"x\r\n--b1\r\n"}, boundary="b1")


def test_encoding_an_include_without_attachment_is_refused():
    envelope = etree.Element(f"{{{ns.SOAP12}}}Envelope")
    soap.xop_include(etree.SubElement(envelope, f"{{{ns.SOAP12}}}Body"), "missing@x")
    with pytest.raises(ValueError, match="no attachment"):
        soap.encode_mtom(envelope, {})


# --- hostile and broken input --------------------------------------------------------------------------------

def in_envelope(inner: bytes, prolog: bytes = b"") -> bytes:
    return (prolog + f'<s:Envelope xmlns:s="{ns.SOAP12}"><s:Body>'.encode() + inner + b"</s:Body></s:Envelope>")


BILLION_LAUGHS = in_envelope(b"<x>&lol9;</x>", b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
""")
HOSTILE = {
    "internal entity": (in_envelope(b"<x>&e;</x>", b'<!DOCTYPE s:Envelope [<!ENTITY e "boom">]>'),
                        "application/soap+xml", soap.DoctypeForbidden),
    "billion laughs": (BILLION_LAUGHS, "application/soap+xml", soap.DoctypeForbidden),
    "external entity": (in_envelope(b"<x>&xxe;</x>", b'<!DOCTYPE e [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'),
                        "application/soap+xml", soap.DoctypeForbidden),
    "external DTD": (in_envelope(b"<x/>", b'<!-- hi --><!DOCTYPE e SYSTEM "http://127.0.0.1:9/evil.dtd">'),
                     "application/soap+xml", soap.DoctypeForbidden),
    "nesting 10000": (in_envelope(b"<a>" * 10_000 + b"</a>" * 10_000), "application/soap+xml",
                      soap.DepthLimitExceeded),
    "10 MB attribute": (in_envelope(b'<a v="' + b"A" * (10 * 1024 * 1024) + b'"/>'), "application/soap+xml",
                        soap.AttributeTooLong),
    "broken boundary": (multipart([(ROOT_HEADERS, iti41_root()), (DOC_HEADERS, b"x")], boundary="Other"),
                        MTOM_CT, soap.BrokenMultipart),
    "truncated package": (multipart([(ROOT_HEADERS, iti41_root()), (DOC_HEADERS, b"x")])[:-30], MTOM_CT,
                          soap.BrokenMultipart),
    "missing boundary": (b"--x\r\n\r\n<a/>\r\n--x--", 'multipart/related; type="application/xop+xml"',
                         soap.MissingBoundary),
    "missing start part": (multipart([(ROOT_HEADERS[:2] + ["Content-ID: <other@x>"], iti41_root())]), MTOM_CT,
                           soap.MissingStartPart),
    "dangling cid": (multipart([(ROOT_HEADERS, iti41_root("cid:nowhere@x")), (DOC_HEADERS, b"x")]), MTOM_CT,
                     soap.DanglingCid),
    "xop:Include in a plain message": (iti41_root(), "application/soap+xml", soap.DanglingCid),
    "charset mismatch": (b'<?xml version="1.0" encoding="ISO-8859-1"?>' + in_envelope(b"<a>\xe9</a>"),
                         "application/soap+xml; charset=UTF-8", soap.CharsetMismatch),
    "undecodable charset": (in_envelope(b"<a>caf\xe9</a>"), "application/soap+xml; charset=UTF-8",
                            soap.CharsetError),
    "unknown charset": (in_envelope(b"<a/>"), "application/soap+xml; charset=klingon", soap.CharsetError),
    "empty SOAP Body": (in_envelope(b"<!-- nothing -->"), "application/soap+xml", soap.EmptyBody),
    "no SOAP Body": (f'<s:Envelope xmlns:s="{ns.SOAP12}"><s:Header/></s:Envelope>'.encode(),
                     "application/soap+xml", soap.MissingBody),
    "empty HTTP body": (b"", "application/soap+xml", soap.NotXml),
    "not XML": (b'{"json": true}', "application/soap+xml", soap.NotXml),
    "unclosed element": (in_envelope(b"<a>"), "application/soap+xml", soap.NotXml),
    "non-SOAP root": (b"<Envelope><Body><x/></Body></Envelope>", "application/soap+xml", soap.NotSoapEnvelope),
    "unsupported content type": (in_envelope(b"<a/>"), "application/json", soap.ContentTypeError),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_input_fails_fast_with_its_own_error(name):
    body, content_type, expected = HOSTILE[name]

    with quick(), pytest.raises(expected) as caught:
        soap.parse_request(body, content_type)

    error = caught.value
    assert type(error) is expected
    assert error.reason and error.lang == "en"
    assert "root:" not in error.reason  # no file content ever leaks into a message
    fault = soap.read_fault(soap.parse_request(*soap.to_response(error)[:2]))
    assert fault.subcode == etree.QName(ns.SANDBOX_SOAP, expected.__name__)
    assert fault.code == ("VersionMismatch" if expected is soap.NotSoapEnvelope else "Sender")


def test_limits_are_configurable():
    limits = soap.SoapLimits(max_message_bytes=10_000, max_part_bytes=100, max_depth=5, max_attribute_length=10)
    with pytest.raises(soap.DepthLimitExceeded):
        soap.parse_request(in_envelope(b"<a><b><c><d/></c></b></a>"), "application/soap+xml", limits=limits)
    with pytest.raises(soap.AttributeTooLong, match="attribute v of <a> .* 11 characters"):
        soap.parse_request(in_envelope(b'<a v="12345678901"/>'), "application/soap+xml", limits=limits)
    # at the limits exactly: Envelope, Body, a, b, c is depth 5; a 10-character value (characters, not bytes)
    at_limits = in_envelope('<a v="é123456789"><b><c/></b></a>'.encode())
    assert soap.parse_xml(at_limits, limits=limits).tag == f"{{{ns.SOAP12}}}Envelope"
    with pytest.raises(soap.PartTooLarge):
        soap.parse_request(multipart([(ROOT_HEADERS, iti41_root()), (DOC_HEADERS, b"x" * 101)]), MTOM_CT,
                           limits=limits)
    with pytest.raises(soap.MessageTooLarge):
        soap.parse_request(b" " * 10_001, "application/soap+xml", limits=limits)
    with pytest.raises(ValueError):
        soap.SoapLimits(max_depth=1000)


@contextmanager
def fifo(tmp_path: Path):
    """A named pipe: opening it for reading blocks until a writer comes, so a read attempt is visible."""
    if not hasattr(os, "mkfifo"):
        pytest.skip("needs named pipes")
    path = tmp_path / "secret"
    os.mkfifo(path)
    yield path


def assert_never_opened(path: Path, action) -> BaseException | None:
    outcome: dict[str, BaseException] = {}

    def run():
        try:
            action()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            outcome["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(2)
    if worker.is_alive():
        descriptor = os.open(path, os.O_WRONLY | os.O_NONBLOCK)  # unblock the reader before failing
        os.write(descriptor, b"root:x:0:0")
        os.close(descriptor)
        worker.join(2)
        pytest.fail(f"the parser opened {path}")
    return outcome.get("error")


@pytest.mark.parametrize("doctype", ['<!DOCTYPE r [<!ENTITY xxe SYSTEM "{uri}">]>', '<!DOCTYPE r SYSTEM "{uri}">',
                                     '<!DOCTYPE r [<!ENTITY % p SYSTEM "{uri}"> %p;]>'])
def test_external_entities_and_dtds_are_never_read(tmp_path, doctype):
    with fifo(tmp_path) as path:
        prolog = doctype.format(uri=path.as_uri()).encode()
        error = assert_never_opened(path, lambda: soap.parse_request(in_envelope(b"<x>&xxe;</x>", prolog),
                                                                      "application/soap+xml"))
        assert isinstance(error, soap.DoctypeForbidden)

        # Defence in depth: even past the DOCTYPE check, the parser options load nothing.
        error = assert_never_opened(path, lambda: etree.fromstring(prolog + b"<r>&xxe;</r>", soap.hardened_parser()))
        assert error is None or isinstance(error, etree.XMLSyntaxError)


def test_hardened_parser_does_not_expand_file_entities(tmp_path):
    secret = tmp_path / "passwd"
    secret.write_text("root:x:0:0:SECRET-CONTENT")
    document = f'<!DOCTYPE r [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]><r>&xxe;</r>'.encode()

    root = etree.fromstring(document, soap.hardened_parser())

    assert b"SECRET-CONTENT" not in etree.tostring(root)
    with pytest.raises(soap.DoctypeForbidden):
        soap.parse_xml(document)


# --- faults --------------------------------------------------------------------------------------------------

def test_dmp_fault_soap12_parses_back_with_code_subcode_and_french_reason():
    fault = soap.SoapFault("Sender", "DMPInvalidCertificate",
                           "Le certificat ayant signé le VIHF est invalide : Not a valid signature certificate")

    response = soap.to_response(fault, "1.2", relates_to="urn:uuid:req", action="urn:x:Fault:SoapFault")

    assert response.status == 500
    message = soap.parse_request(response.body, response.content_type)
    fault_element = message.body_element
    assert fault_element.findtext(f"{{{ns.SOAP12}}}Code/{{{ns.SOAP12}}}Value") == "soap:Sender"
    assert fault_element.find(f"{{{ns.SOAP12}}}Reason/{{{ns.SOAP12}}}Text").get(f"{{{ns.XML}}}lang") == "fr"
    parsed = soap.read_fault(message)
    assert (parsed.code, parsed.subcode, parsed.reason, parsed.lang) == (
        "Sender", "DMPInvalidCertificate", fault.reason, "fr")
    assert (message.addressing.relates_to, message.action) == ("urn:uuid:req", "urn:x:Fault:SoapFault")


def test_insi_fault_keeps_its_siram_detail():
    erreur = etree.Element(f"{{{SIRAM}}}Erreur", nsmap={"siram": SIRAM}, code="insi_102", severite="fatal")
    erreur.text = "Le service est temporairement inaccessible."
    fault = soap.SoapFault("Receiver", etree.QName(SIRAM, "siram_40"), "Erreur technique", detail=[erreur])

    parsed = soap.read_fault(soap.parse_request(*soap.to_response(fault)[:2]))

    assert parsed.code == "Receiver"
    assert parsed.subcode == etree.QName(SIRAM, "siram_40")
    assert parsed.detail[0].tag == f"{{{SIRAM}}}Erreur"
    assert (parsed.detail[0].get("code"), parsed.detail[0].text) == ("insi_102", erreur.text)


def test_soap11_fault_uses_faultcode_and_faultstring():
    fault = soap.SoapFault("Sender", "DMPAccessDeniedByRightsService", "Accès refusé")

    response = soap.to_response(fault, soap.SoapVersion.V11)

    assert response.content_type.startswith("text/xml")
    message = soap.parse_request(response.body, response.content_type)
    assert message.body_element.findtext("faultcode") == "soap:Client.DMPAccessDeniedByRightsService"
    assert message.body_element.findtext("faultstring") == "Accès refusé"
    parsed = soap.read_fault(message)
    assert (parsed.code, parsed.subcode, parsed.reason) == ("Sender", "DMPAccessDeniedByRightsService", "Accès refusé")
    server = soap.read_fault(soap.parse_request(*soap.to_response(soap.SoapFault("Receiver", None, "x"), "1.1")[:2]))
    assert (server.code, server.subcode) == ("Receiver", None)


def test_fault_http_status_follows_the_chosen_policy():
    sender = soap.SoapFault("Sender", None, "x")
    receiver = soap.SoapFault("Receiver", None, "x")
    binding = soap.FaultStatusPolicy.SOAP12_HTTP_BINDING

    assert soap.to_response(sender).status == 500  # what the DMP and INSi do
    assert soap.to_response(sender, status_policy=binding).status == 400
    assert soap.to_response(receiver, status_policy=binding).status == 500
    assert soap.to_response(sender, "1.1", status_policy=binding).status == 500


def test_iti43_errors_can_be_forced_into_mtom():
    response = soap.to_response(soap.SoapFault("Sender", None, "Erreur"), force_mtom=True)

    assert response.content_type.startswith("multipart/related")
    message = soap.parse_request(response.body, response.content_type)
    assert message.transport is soap.Transport.MTOM
    assert soap.read_fault(message).reason == "Erreur"


def test_version_mismatch_fault_lists_supported_envelopes():
    message = soap.parse_request(*soap.to_response(soap.NotSoapEnvelope("bad root"))[:2])

    upgrade = message.header(etree.QName(ns.SOAP12, "Upgrade"))
    supported = []
    for element in upgrade:
        prefix, _, local = element.get("qname").partition(":")
        supported.append(etree.QName(element.nsmap[prefix], local))
    assert supported == [etree.QName(ns.SOAP12, "Envelope"), etree.QName(ns.SOAP11, "Envelope")]


# --- responses -----------------------------------------------------------------------------------------------

def test_response_carries_action_relates_to_and_a_fresh_message_id():
    request = soap.parse_request(TD02_REQUEST, SOAP12_CT)
    answer = etree.Element("{urn:hl7-org:v3}PRPA_IN201308UV02")

    body, content_type = soap.build_response(answer, version=request.version, action="urn:hl7-org:v3:PRPA_IN201308UV02",
                                             relates_to=request.message_id)
    again, _ = soap.build_response(etree.Element("{urn:x}y"), action="urn:a")

    assert content_type == 'application/soap+xml; charset=UTF-8; action="urn:hl7-org:v3:PRPA_IN201308UV02"'
    response = soap.parse_request(body, content_type)
    assert response.addressing.action == "urn:hl7-org:v3:PRPA_IN201308UV02"
    assert response.addressing.relates_to == request.message_id
    assert response.addressing.to == ns.WSA_ANONYMOUS
    assert response.message_id.startswith("urn:uuid:")
    assert response.message_id != soap.parse_request(again, "application/soap+xml").message_id
    assert response.body_element.tag == answer.tag


def test_soap11_response_and_extra_headers():
    extra = etree.Element("{urn:siram:lps:ctxlps}ContexteLPS", Version="01_00")
    body, content_type = soap.build_response(etree.Element("{urn:x}r"), version="1.1", action="urn:a",
                                             relates_to="m1", extra_headers=[extra])

    assert content_type == "text/xml; charset=UTF-8"
    response = soap.parse_request(body, content_type)
    assert response.version is soap.SoapVersion.V11
    assert response.header("{urn:siram:lps:ctxlps}ContexteLPS").get("Version") == "01_00"


def test_forced_mtom_response_without_attachments():
    body, content_type = soap.build_response(etree.Element(f"{{{XDS}}}RetrieveDocumentSetResponse"),
                                             action="urn:ihe:iti:2007:RetrieveDocumentSetResponse", force_mtom=True)

    assert 'start-info="application/soap+xml"' in content_type
    assert 'action="urn:ihe:iti:2007:RetrieveDocumentSetResponse"' in content_type
    assert soap.parse_request(body, content_type).transport is soap.Transport.MTOM


def test_hardened_parser_protective_options_cannot_be_overridden():
    assert soap.hardened_parser(remove_blank_text=True) is not None
    with pytest.raises(ValueError, match="resolve_entities"):
        soap.hardened_parser(resolve_entities=True)


def test_soapaction_header_with_soap12_is_tolerated_and_noted():
    body = envelope_bytes(etree.Element("{urn:x}op"))

    message = soap.parse_request(body, "application/soap+xml", '"urn:x:op"')

    assert message.action == "urn:x:op"
    assert any("SOAPAction" in note for note in message.notes)
