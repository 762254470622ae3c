"""Names, OIDs and codes of the sandbox PKI, in one place so the servers can import them.

Every distinguished name carries ``O=SEGUR-SANDBOX FICTIF``; CA common names either say SANDBOX or
FICTIVE. A relying party that pins the real IGC-Santé test CAs by exact name
(``TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS``...) therefore refuses ours, and one that only trusts our
root accepts nothing real: the shape is IGC-Santé's, the identity is not.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cryptography import x509
from cryptography.x509.oid import NameOID

CaSlug = Literal["racine", "fort-personnes", "elementaire-organisations"]
Usage = Literal["auth", "sign"]
CardType = Literal["CPS", "CPE"]
OrgKind = Literal["AUTH_CLI", "SIGN", "INSI-AUTO", "INSI-MANU"]
Variant = Literal["valid", "expired", "revoked", "wrong_usage"]

SANDBOX_ORGANISATION = "SEGUR-SANDBOX FICTIF"
SANDBOX_UNIT = "IGC-SANTE TEST"

DEFAULT_BASE_URL = "http://127.0.0.1:8080/pki"


@dataclass(frozen=True)
class CaProfile:
    slug: CaSlug
    common_name: str
    issuer: CaSlug | None  # None: self-signed root

    @property
    def name(self) -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, SANDBOX_ORGANISATION),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, SANDBOX_UNIT),
                x509.NameAttribute(NameOID.COMMON_NAME, self.common_name),
            ]
        )


# IGC-Santé has one root per gamme (FORT, ELEMENTAIRE); a single sandbox root is enough for the servers
# and keeps the trust bundle to one anchor.
ROOT = CaProfile("racine", "TEST AC RACINE SEGUR-SANDBOX (FICTIVE)", None)
PERSONNES = CaProfile("fort-personnes", "TEST AC IGC-SANTE FORT PERSONNES SANDBOX", "racine")
ORGANISATIONS = CaProfile("elementaire-organisations", "TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS SANDBOX", "racine")
CA_PROFILES: dict[CaSlug, CaProfile] = {p.slug: p for p in (ROOT, PERSONNES, ORGANISATIONS)}


class Oid:
    """Private IGC-Santé extensions (ANS NOS terminologies), as seen in the public test CPS certificate."""

    CARD_CATEGORY = x509.ObjectIdentifier("1.2.250.1.71.1.2.5")  # TRE_G01, OCTET STRING
    CARD_TYPE = x509.ObjectIdentifier("1.2.250.1.71.1.2.2")  # TRE_G02, INTEGER
    CARD_SERIAL = x509.ObjectIdentifier("1.2.250.1.71.1.2.3")  # "<issuer nr>/<card serial>", PrintableString
    PROFESSION = x509.ObjectIdentifier("1.2.250.1.71.1.2.7")  # TRE_G15, INTEGER

    # Kept although it is ANS's arc: it names the IGC-Santé *test* policy, which production relying parties
    # refuse by design, and a policy OID grants nothing by itself -- trust still hinges on our fictitious
    # root. Vendors' code that checks "is this a test-PC certificate" then behaves as against the real
    # test platform. Only person certificates carry it, since that is where the spec saw it.
    IGC_SANTE_TEST_POLICY = x509.ObjectIdentifier("1.2.250.1.213.1.7.2.1.1.1.1")
    # Our own policy, under the registration-free UUID arc (ITU-T X.667), on every certificate: anyone
    # inspecting the policies sees the "fictitious" notice, whatever else is there.
    SANDBOX_POLICY = x509.ObjectIdentifier("2.25.115359645662886012351318596979080600732")


SANDBOX_POLICY_NOTICE = "SEGUR-SANDBOX : certificat FICTIF de test, sans aucune valeur, hors IGC-Sante"

# TRE_G01 CategorieProduit. The test CPS certificate stores "80" as the single octet 0x80 (the two digits
# packed as BCD), so codes are written with bytes.fromhex.
CATEGORY_CPX_TEST = "80"
CATEGORY_SOFTWARE_CERT_TEST = "83"  # "CL de TEST": our reading for organisation (software) certificates

# TRE_G02 TypeProduit (spec B.1): 00 CPS, 01 CPF, 02 CPE (CDE/CPE), 03 CPA.
CARD_TYPE_CODES: dict[CardType, int] = {"CPS": 0, "CPE": 2}

# Fictitious card issuer number, same 10-digit shape as the test card's "8025000001".
CARD_ISSUER_NUMBER = "8099000001"
