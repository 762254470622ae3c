"""Names of the INSi téléservice (insi-cards.md §A.5): namespaces, operations, actions, result codes.

Facts marked [C] in the spec are reproduced verbatim; the verification operation, which no published WSDL
describes, is the sandbox's inference (``VERIFICATION``), kept apart so it can be changed in one place.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# -- namespaces (WSDL DESIR_ICIR_EXP_1.5.0 and its XSDs) ------------------------------------------------
WSDL_TNS: Final = "http://www.cnamts.fr/webservice"
RECSANS: Final = "http://www.cnamts.fr/INSiRecSans"
RECVIT: Final = "http://www.cnamts.fr/INSiRecVit"
RESULTAT: Final = "http://www.cnamts.fr/INSiResultat"
CTXLPS: Final = "urn:siram:lps:ctxlps"
CTXBAM: Final = "urn:siram:bam:ctxbam"
SIRAM: Final = "urn:siram"
SAML2: Final = "urn:oasis:names:tc:SAML:2.0:assertion"

# Inferred [I]: the verification schema is not published. A GIE kit sample serialises the verification result
# in INSiLot2/REPUnitaire; the request namespace mirrors it.
VERIFICATION_REQUEST_NS: Final = "http://www.cnamts.fr/INSiLot2/REQUnitaire"
VERIFICATION_RESPONSE_NS: Final = "http://www.cnamts.fr/INSiLot2/REPUnitaire"

SERVICE_NAME: Final = "ICIR-v1"
PORT_NAME: Final = "ICIRService"
ACTION_PREFIX: Final = "urn:ServiceIdentiteCertifiee:1.0.0:"

# -- OIDs (A.2) -----------------------------------------------------------------------------------------
OID_NIR: Final = "1.2.250.1.213.1.4.8"
OID_NIA: Final = "1.2.250.1.213.1.4.9"
OID_NIR_TEST: Final = "1.2.250.1.213.1.4.10"
OID_NIR_DEMO: Final = "1.2.250.1.213.1.4.11"


@dataclass(frozen=True)
class Operation:
    name: str  # the WSDL operation, also the exchange log's ``transaction`` and the fault-injection key
    request_ns: str
    request_element: str
    response_ns: str
    confirmed: bool  # False: the sandbox's inference

    @property
    def action(self) -> str:
        return ACTION_PREFIX + self.name

    @property
    def response_action(self) -> str:
        return self.action + "Response"

    @property
    def request_tag(self) -> str:
        return f"{{{self.request_ns}}}{self.request_element}"


TRAITS = Operation("rechercherInsAvecTraitsIdentite", RECSANS, "RECSANSVITALE", RESULTAT, True)
VITALE = Operation("rechercherInsAvecCarteVitale", RECVIT, "RECVITALE", RESULTAT, True)
VERIFICATION = Operation("verifierInsAvecTraitsIdentite", VERIFICATION_REQUEST_NS, "RequeteUnitaire",
                         VERIFICATION_RESPONSE_NS, False)
OPERATIONS: tuple[Operation, ...] = (TRAITS, VITALE, VERIFICATION)

# -- result codes (A.5; verification codes 03/04 are inferred) -------------------------------------------
CR_OK: Final = "00"
CR_NONE: Final = "01"
CR_SEVERAL: Final = "02"
CR_TRAITS_MISMATCH: Final = "03"  # [I] verification: the INS exists but the traits supplied do not match it
CR_INS_INACTIVE: Final = "04"  # [I] verification: the INS supplied is an earlier (historic) matricule

LIBELLES: dict[str, str] = {
    CR_OK: "OK",
    CR_NONE: "Aucune identite trouvee",
    CR_SEVERAL: "Plusieurs identites trouvees",
    CR_TRAITS_MISMATCH: "Traits d'identite non concordants",
    CR_INS_INACTIVE: "INS non actif",
}
"""LibelleCR, exact (no accents) for 00/01/02 [C]; 03/04 are the sandbox's wording for verification [I]."""
