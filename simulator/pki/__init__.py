"""A fictitious, deterministic test PKI shaped like IGC-Santé.

Used by the DMP server (VIHF signatures, DMPInvalidCertificate), the INSi server (INSI-AUTO/INSI-MANU
TLS client certificates), the virtual CPS cards and ``credentials export``.

Hierarchy (every name carries ``O=SEGUR-SANDBOX FICTIF, OU=IGC-SANTE TEST, C=FR``; CRLs at
``<base_url>/crl/<slug>.crl``, CA certificates at ``<base_url>/ca/<slug>.cer``, default base
``http://127.0.0.1:8080/pki``)::

    racine                      CN=TEST AC RACINE SEGUR-SANDBOX (FICTIVE)                10 years
    ├── fort-personnes          CN=TEST AC IGC-SANTE FORT PERSONNES SANDBOX              10 years
    │     professionals' card certificates, auth and sign, CPS or CPE                    3 years
    └── elementaire-organisations  CN=TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS SANDBOX  10 years
          ORG AUTH_CLI, ORG SIGN, INSI-AUTO, INSI-MANU                                  3 years

Guard rail: nothing here may pass for a real IGC-Santé certificate. The CA names differ from the real
ones (so exact-name pinning of the real test CAs refuses them), the organisation is SEGUR-SANDBOX FICTIF,
every certificate carries a sandbox policy whose notice says "FICTIF", and trust rests on our own root.

Subjects:

* professional (CPS): ``C=FR, title=<profession label>, SN=<family>+CN=<id_nat>+GN=<given>`` (the last
  RDN is multi-valued, as on the test CPS certificate); a CPE adds ``O=<structure name>, OU=<structure
  id_nat>`` after ``C``.
* organisation: ``C=FR, ST=<région>, O=<structure name>, OU=<structure id_nat>, CN=<cn>``, with
  ``CN=INSI-AUTO`` / ``CN=INSI-MANU`` exactly, ``auth-cli.<id_nat>.segur-sandbox.test`` and
  ``sign.<id_nat>.segur-sandbox.test`` for ORG AUTH_CLI / ORG SIGN.

Usages: "auth" = keyUsage digitalSignature+keyEncipherment (critical), EKU clientAuth; "sign" =
keyUsage nonRepudiation (critical), EKU emailProtection, private-key usage period.

Determinism: same (seed, not_before, base_url) ⇒ byte-identical keys, certificates and CRLs (PKCS#12
files excepted: their salts are random).
"""
from .authority import DEFAULT_NOT_BEFORE, TestPKI
from .cardext import CardExtensions, read_card_extensions
from .material import DEFAULT_PKCS12_PASSWORD, Issued
from .names import (
    CA_PROFILES,
    DEFAULT_BASE_URL,
    CaSlug,
    CardType,
    Oid,
    OrgKind,
    Usage,
    Variant,
)
from .profiles import Authority
from .verify import ChainVerdict, Reason, is_auth_cert, is_signature_cert, load_der_certificate

__all__ = [
    "CA_PROFILES",
    "DEFAULT_BASE_URL",
    "DEFAULT_NOT_BEFORE",
    "DEFAULT_PKCS12_PASSWORD",
    "Authority",
    "CaSlug",
    "CardExtensions",
    "CardType",
    "ChainVerdict",
    "Issued",
    "Oid",
    "OrgKind",
    "Reason",
    "TestPKI",
    "Usage",
    "Variant",
    "is_auth_cert",
    "is_signature_cert",
    "load_der_certificate",
    "read_card_extensions",
]
