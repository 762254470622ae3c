"""Namespace URIs, algorithm URIs and fixed codes of the VIHF (SAML 2.0) and of the XAdES signature document.

Kept here, next to their only users, because the security package may not edit ``soap/namespaces.py``; the
WS-Security namespaces themselves come from there.
"""
from __future__ import annotations

from ..soap.namespaces import WSSE, WSU  # noqa: F401  (re-exported for the security modules)

SAML2 = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
XADES_111 = "http://uri.etsi.org/01903/v1.1.1#"
HL7 = "urn:hl7-org:v3"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XS = "http://www.w3.org/2001/XMLSchema"

X509_SUBJECT_NAME = "urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName"
AC_SMARTCARD_PKI = "urn:oasis:names:tc:SAML:2.0:ac:classes:SmartcardPKI"

# Canonicalisation and transforms.
C14N = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
C14N_WITH_COMMENTS = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
EXC_C14N_WITH_COMMENTS = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"

# Signature and digest methods the sandbox accepts (RSA only: every IGC-Santé key is RSA).
RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
RSA_SHA384 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384"
RSA_SHA512 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"
SHA1 = "http://www.w3.org/2000/09/xmldsig#sha1"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
SHA384 = "http://www.w3.org/2001/04/xmldsig-more#sha384"
SHA512 = "http://www.w3.org/2001/04/xmlenc#sha512"

# Short names used by the builders' ``algorithm`` parameter.
SIGNATURE_ALGORITHMS = {"rsa-sha1": (RSA_SHA1, SHA1), "rsa-sha256": (RSA_SHA256, SHA256)}

MANIFEST_TYPE = "http://www.w3.org/2000/09/xmldsig#Manifest"
SIGNATURE_PROPERTIES_TYPE = "http://www.w3.org/2000/09/xmldsig#SignatureProperties"
SIGNED_PROPERTIES_TYPE_111 = "http://uri.etsi.org/01903/v1.1.1#SignedProperties"

# Codes.
OID_PROFESSION = "1.2.250.1.71.1.2.7"  # TRE_G15 profession
OID_SPECIALTY = "1.2.250.1.71.4.2.5"  # savoir-faire (TRE_R38 spécialités ordinales, SMxx)
OID_SECTOR = "1.2.250.1.71.4.2.4"  # TRE_R02 secteur d'activité
OID_PURPOSE = "1.2.250.1.213.1.1.4.248"  # TRE_R248 mode d'accès
OID_CONFIDENTIALITY = "1.2.250.1.213.1.1.4.13"  # TRE_A07 visibilité
PURPOSE_OF_SIGNATURE = "1.2.840.10065.1.12.1.14"  # ASTM E1762 "Source"
