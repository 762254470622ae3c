"""XML namespace URIs used on the SOAP transport layer.

A plain module of constants so every package (simulator, conformance rules, fixtures) spells a namespace the
same way; add new ones here rather than as literals in the module that first needs them.
"""

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"

# WS-Addressing 1.0 is what DMP and INSi clients send; the 2004/08 member submission is still emitted by a few
# older stacks and is tolerated on input only.
WSA = "http://www.w3.org/2005/08/addressing"
WSA_2004 = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
WSA_ANONYMOUS = "http://www.w3.org/2005/08/addressing/anonymous"
WSA_FAULT_ACTION = "http://www.w3.org/2005/08/addressing/soap/fault"

XOP = "http://www.w3.org/2004/08/xop/include"
XMIME = "http://www.w3.org/2005/05/xmlmime"

WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"

XML = "http://www.w3.org/XML/1998/namespace"

# Subcodes of the faults the sandbox's own SOAP layer raises (malformed or hostile requests); not a DMP code.
SANDBOX_SOAP = "urn:segur-sandbox:soap"

# HL7 v3 messages of the DMP (TD0.2, TD0.5, TD1.x) and the DMP-specific SOAP services (TD0.3, TD0.4, TD1.6).
HL7V3 = "urn:hl7-org:v3"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
DMP_GDP = "asip:ci-sis:gdp:2010"  # GestionDossierPatientPartage.wsdl: the PRPA_IN201314UV02_Response wrapper
DMP_HABILITATIONS = "urn:si-dmp-habilitations"
DMP_PATIENTS = "urn:si-dmp-patients"

# IHE XDS.b and the ebXML Registry 3.0 schemas it uses (dmp.md §3.1): ITI-18, ITI-41, ITI-43, ITI-57 bodies.
XDS_B = "urn:ihe:iti:xds-b:2007"
RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
QUERY = "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"
RS = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"
