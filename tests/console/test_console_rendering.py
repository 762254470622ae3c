"""The pieces the console pages are made of: finding locations resolved in a message, XML and CDA narrative
rendered escaped, bodies split into parts whatever they hold, and the French labels of codes."""
from __future__ import annotations

from lxml import etree

from segur_sandbox.simulator.console import cda, labels, messages, xmlview
from segur_sandbox.simulator.store import Finding

SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
ENVELOPE = f"""<soap:Envelope xmlns:soap="{SOAP12}" xmlns:wsa="http://www.w3.org/2005/08/addressing">
  <soap:Header>
    <wsa:Action>urn:x</wsa:Action>
    <wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd">
      <saml2:Assertion xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion" Version="2.0">
        <saml2:Issuer>CN=x</saml2:Issuer>
        <saml2:AttributeStatement><saml2:Attribute Name="a/b"><saml2:AttributeValue>v</saml2:AttributeValue>
        </saml2:Attribute></saml2:AttributeStatement>
      </saml2:Assertion>
    </wsse:Security>
  </soap:Header>
  <soap:Body><xds-b:Document xmlns:xds-b="urn:ihe:iti:xds-b:2007" id="d1">AAAA</xds-b:Document></soap:Body>
</soap:Envelope>"""


def local(element: etree._Element | None) -> str | None:
    return None if element is None else etree.QName(element).localname


def test_locate_resolves_rule_locations_and_falls_back_to_the_nearest_ancestor():
    root = etree.fromstring(ENVELOPE)
    assert local(xmlview.locate(root, "/soap:Envelope/soap:Header/wsa:Action")) == "Action"
    assert local(xmlview.locate(root, "/soap:Envelope/soap:Header/wsa:MessageID")) == "Header"  # missing
    prefix = "wsse:Security/saml2:Assertion: "
    assert local(xmlview.locate(root, prefix + "/saml2:Assertion/@Version")) == "Assertion"
    assert local(xmlview.locate(root, prefix + "/saml2:Assertion/saml2:Issuer")) == "Issuer"
    missing = "/saml2:Assertion/saml2:AttributeStatement/saml2:Attribute[@Name='LPS_Version']"
    assert local(xmlview.locate(root, prefix + missing)) == "AttributeStatement"
    slashed = "/saml2:Assertion/saml2:AttributeStatement/saml2:Attribute[@Name='a/b']/saml2:AttributeValue"
    assert local(xmlview.locate(root, prefix + slashed)) == "AttributeValue"  # a slash inside a predicate
    in_cda = "xds-b:Document[@id='d1']: /h:ClinicalDocument/h:code"
    assert local(xmlview.locate(root, in_cda)) == "Document"  # the CDA's bytes are not in the tree
    for nothing in (None, "", "(((", "xds-b:Document[@id='zz']: /h:x", "unknown:Prefix/x"):
        assert xmlview.locate(root, nothing) is None


def test_locate_in_a_soap11_envelope():
    root = etree.fromstring(ENVELOPE.replace(SOAP12, SOAP11))
    assert local(xmlview.locate(root, "/soap:Envelope/soap:Header/wsa:Action")) == "Action"


def test_render_escapes_everything_and_marks_elements():
    root = etree.fromstring('<a x="&quot;&gt;&lt;script&gt;"><b>&lt;script&gt;alert(1)&lt;/script&gt;</b>'
                            f'<c>{"Z" * 5000}</c><!-- note --></a>')
    mark = xmlview.Mark("req-1", ("R-1 : <bad>",))
    html = str(xmlview.render(root, {root[0]: mark}))
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert '<mark class="x-mark" id="req-1" tabindex="-1" title="R-1 : &lt;bad&gt;">' in html
    assert "(5000 caractères)" in html and "Z" * 600 not in html
    assert "note" in html


def test_cda_narrative_is_rebuilt_from_an_allow_list():
    text = etree.fromstring(
        '<text xmlns="urn:hl7-org:v3"><paragraph>a<content styleCode="Bold Xx">b</content></paragraph>'
        '<linkHtml href="javascript:alert(1)">lien</linkHtml><table onclick="evil()"><tr><td>1&lt;2</td></tr>'
        '</table><list listType="ordered"><item>i</item></list><br/><script>x</script></text>')
    html = str(cda.narrative(text))
    assert "javascript" not in html and "onclick" not in html and "<script>" not in html
    assert '<p>a<span class="cda-bold">b</span></p>' in html
    assert "<td>1&lt;2</td>" in html and "<ol><li>i</li></ol>" in html and "<br>" in html
    assert "<span>lien</span>" in html


def test_hl7_times():
    assert cda.hl7_time("20260907154900+0200") == "07/09/2026 15:49:00 (+0200)"
    assert cda.hl7_time("20260907") == "07/09/2026"
    assert cda.hl7_time("2026") == "2026"
    assert cda.hl7_time("soon") == "soon"
    assert cda.hl7_time(None) is None


def test_a_body_that_is_not_a_cda_says_so():
    assert cda.render(b"not xml").error
    assert cda.render(b"<a/>").error
    view = cda.render(b'<ClinicalDocument xmlns="urn:hl7-org:v3"><title>T</title></ClinicalDocument>')
    assert view.error is None and view.level is None and view.title == "T"


def test_message_view_of_plain_text_binary_and_broken_packages():
    text = messages.message_view(b"Service temporairement indisponible", "text/plain; charset=utf-8",
                                 anchor_prefix="resp")
    assert text is not None and text.parts[0].text == "Service temporairement indisponible"
    binary = messages.message_view(b"\x00\x01PDF", "application/octet-stream", anchor_prefix="resp")
    assert binary is not None and binary.parts[0].note and binary.parts[0].xml is None
    broken = messages.message_view(b"--b\r\nno end", 'multipart/related; boundary="b"', anchor_prefix="req")
    assert broken is not None and "illisible" in (broken.error or "") and len(broken.parts) == 1
    no_boundary = messages.message_view(b"<a/>", "multipart/related", anchor_prefix="req")
    assert no_boundary is not None and "boundary" in (no_boundary.error or "")
    assert messages.message_view(None, None, anchor_prefix="req") is None
    bad_xml = messages.message_view(b"<a><b></a>", "application/soap+xml", anchor_prefix="req")
    assert bad_xml is not None and bad_xml.parts[0].xml is None and bad_xml.parts[0].text == "<a><b></a>"


def test_message_view_marks_findings_and_reads_the_vihf():
    findings = [Finding("TRN-003", "error", "no MessageID", "/soap:Envelope/soap:Header/wsa:MessageID"),
                Finding("X", "info", "nowhere", None)]
    view = messages.message_view(ENVELOPE.encode(), "application/soap+xml", anchor_prefix="req", findings=findings)
    assert view is not None and view.anchors == {0: "req-1"}
    assert 'id="req-1"' in str(view.parts[0].xml)
    rows = messages.vihf_rows(view.root)
    assert rows is not None and [r.name for r in rows][:3] == ["Issuer", "NameID", "IssueInstant"]
    assert any(r.name == "ds:Signature" and r.values[0].text == "absente" for r in rows)
    assert messages.vihf_rows(etree.fromstring("<a/>")) is None


def test_french_labels_beside_codes():
    assert labels.label("facility", "SA07") == "Cabinet individuel"
    assert labels.label("profession", "10") == "Médecin"
    assert labels.label("profession", "G15_10") == "Médecin"
    assert labels.label("specialty", "SM26") is not None
    assert labels.label("sex", "I") == "Indéterminé" and labels.label("sex", "F") == "Féminin"
    assert labels.label("transaction", "TD2.1").startswith("Alimentation")
    assert labels.label("facility", "SA99") is None and labels.label("facility", None) is None
    assert labels.label("nonsense-kind", "x") is None
    assert "dmp_state" in labels.kinds()
