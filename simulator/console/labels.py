"""French labels shown beside the codes the console displays ("SA07 — Cabinet individuel").

Codes of the CI-SIS value sets come from ``fixtures/terminology`` (the same tables the document builders and the
conformance rules use, so the console can never disagree with them); the sandbox's own codes (DMP states,
verdicts, fault kinds…) and the DMP transactions are labelled here. A code without a label shows alone: an
unknown code is information too, never an error.
"""
from __future__ import annotations

from collections.abc import Mapping
from functools import cache

from segur_sandbox.fixtures import terminology

# The sandbox's own vocabularies -------------------------------------------------------------------------------
DMP_STATES: Mapping[str, str] = {"OPEN": "DMP ouvert", "CLOSED": "DMP fermé", "NONE": "Pas de DMP"}
AUTHORIZATION_STATUSES: Mapping[str, str] = {
    "VALIDE": "Autorisé", "EXPIRE": "Autorisation expirée", "INTERDIT": "Bloqué par le patient",
    "NON_EXISTE": "Aucune autorisation",
}
VERDICTS: Mapping[str, str] = {"pass": "Conforme", "fail": "Non conforme", "error": "Erreur"}
SEVERITIES: Mapping[str, str] = {"error": "Erreur", "warning": "Avertissement", "info": "Information"}
IDENTITY_STATUSES: Mapping[str, str] = {  # RNIV: the four statuses of an identity
    "PROV": "Identité provisoire", "RECUP": "Identité récupérée", "VALI": "Identité validée",
    "QUAL": "Identité qualifiée",
}
INS_OIDS: Mapping[str, str] = {
    "1.2.250.1.213.1.4.8": "INS-NIR", "1.2.250.1.213.1.4.9": "INS-NIA",
    "1.2.250.1.213.1.4.10": "INS-NIR de test", "1.2.250.1.213.1.4.11": "INS-NIR de démonstration",
}
DOCUMENT_STATUSES: Mapping[str, str] = {
    "Approved": "Actif", "Deprecated": "Remplacé par une version plus récente", "Archived": "Archivé",
    "Deleted": "Supprimé",
}
CLOSURE_REASONS: Mapping[str, str] = {"FERMETURE_DEMANDE_PATIENT": "Fermeture à la demande du patient"}
BENEFICIARY_QUALITIES: Mapping[str, str] = {"ASSURE": "Assuré", "ENFANT": "Enfant", "CONJOINT": "Conjoint"}
FAULT_KINDS: Mapping[str, str] = {
    "latency": "Latence (réponse retardée)", "soap_fault": "Faute SOAP du DMP",
    "registry_error": "Erreur de registre XDS", "http_503": "Service indisponible (HTTP 503)",
    "drop_connection": "Connexion coupée en pleine réponse",
}
RUN_SUMMARY: Mapping[str, str] = {"cases": "Cas", "passed": "Réussis", "failed": "Échoués", "errors": "En erreur",
                                  "skipped": "Ignorés", "checks": "Vérifications"}
CARD_KINDS: Mapping[str, str] = {"cps": "Carte CPS", "cpe": "Carte CPE", "vitale": "Carte Vitale"}
PURPOSES: Mapping[str, str] = {"normal": "Accès normal", "bris_de_glace": "Bris de glace",
                               "centre_15": "Centre de régulation (15)"}
AUTH_MODES: Mapping[str, str] = {
    "DIRECTE": "Authentification directe (carte CPx)", "INDIRECTE": "Authentification indirecte (structure)",
    "INDIRECTE_RENFORCEE": "Authentification indirecte renforcée",
}
SERVICES: Mapping[str, str] = {
    "patients": "Gestion des dossiers", "patientsPDQ": "Recherche de patients", "habilitations": "Autorisations",
    "patientsSpecific": "Liste des patients", "registry": "Registre XDS", "repository": "Entrepôt XDS",
    "insi": "Téléservice INSi",
}
# DMP transactions (names of the DMP integration guide) and INSi operations
TRANSACTIONS: Mapping[str, str] = {
    "TD0.2": "Test d'existence du DMP et de l'autorisation", "TD0.3": "Mise à jour de l'autorisation d'accès",
    "TD0.4": "Liste des DMP autorisés ou alimentés", "TD0.5": "Recherche de DMP par traits",
    "TD1.3a": "Consultation des données de gestion du DMP", "TD1.3b": "Mise à jour des données de gestion du DMP",
    "TD1.4": "Fermeture ou réactivation du DMP", "TD1.6": "Liste des autorisations d'un patient",
    "TD2.1": "Alimentation du DMP (dépôt de documents)", "TD3.1": "Recherche de documents",
    "TD3.2": "Consultation de documents", "TD3.3": "Mise à jour des métadonnées (masquage, archivage, suppression)",
    "rechercherInsAvecTraitsIdentite": "INSi : recherche de l'INS par les traits d'identité",
    "rechercherInsAvecCarteVitale": "INSi : recherche de l'INS par la carte Vitale",
    "verifierInsAvecTraitsIdentite": "INSi : vérification de l'INS",
}
# Visibility codes of a DMP document (confidentialityCode of TRE_A07 alongside N/R/V)
VISIBILITY_CODES = ("MASQUE_PS", "INVISIBLE_PATIENT", "INVISIBLE_REPRESENTANTS_LEGAUX")
VIHF_ATTRIBUTES: Mapping[str, str] = {
    "Identifiant_Structure": "Identifiant de la structure", "Secteur_Activite": "Secteur d'activité",
    "urn:oasis:names:tc:xacml:2.0:subject:role": "Rôle (profession, spécialité)",
    "VIHF_Version": "Version du VIHF", "Authentification_mode": "Mode d'authentification",
    "urn:oasis:names:tc:xacml:2.0:resource:resource-id": "Patient (INS)", "Ressource_URN": "Ressource",
    "urn:oasis:names:tc:xspa:1.0:subject:purposeofuse": "Mode d'accès",
    "urn:oasis:names:tc:xspa:1.0:subject:subject-id": "Nom de l'utilisateur",
    "urn:oasis:names:tc:xspa:1.0:resource:patient:hl7:confidentiality-code": "Niveaux de confidentialité",
    "LPS_ID": "Identifiant de l'instance du LPS", "LPS_Nom": "Nom du LPS", "LPS_Version": "Version du LPS",
    "LPS_ID_HOMOLOGATION_DMP": "Numéro d'homologation DMP",
}

# Value sets of fixtures/terminology the console looks codes up in, by what the code is.
_TABLES: Mapping[str, tuple[str, ...]] = {
    "type": ("type_code",), "class": ("class_code",), "format": ("format_code",),
    "practice": ("practice_setting",), "facility": ("healthcare_facility_type",),
    "confidentiality": ("confidentiality_xds", "confidentiality_cda"), "profession": ("profession",),
    "specialty": ("author_specialty",), "sex": ("administrative_gender",), "encounter": ("encounter_type",),
    "title": ("title",), "civility": ("civility",),
}
_OWN: Mapping[str, Mapping[str, str]] = {
    "dmp_state": DMP_STATES, "authorization": AUTHORIZATION_STATUSES, "verdict": VERDICTS, "severity": SEVERITIES,
    "identity_status": IDENTITY_STATUSES, "ins_oid": INS_OIDS, "document_status": DOCUMENT_STATUSES,
    "closure": CLOSURE_REASONS, "quality": BENEFICIARY_QUALITIES, "fault": FAULT_KINDS, "card": CARD_KINDS,
    "purpose": PURPOSES, "auth_mode": AUTH_MODES, "service": SERVICES, "transaction": TRANSACTIONS,
    "vihf_attribute": VIHF_ATTRIBUTES, "summary": RUN_SUMMARY,
}
_EXTRA_SEX = {"I": "Indéterminé"}  # the INS traits allow I; JDV_J143 says UN


@cache
def label(kind: str, code: str | None) -> str | None:
    """The French label of ``code`` as a ``kind`` of code, or None when there is none."""
    if code is None or code == "":
        return None
    own = _OWN.get(kind)
    if own is not None:
        return own.get(code)
    if kind == "sex" and code in _EXTRA_SEX:
        return _EXTRA_SEX[code]
    for table in _TABLES.get(kind, ()):
        concept = terminology.value_set(table).get(code)
        if concept is not None:
            return concept.displayName
    if kind == "profession" and code.startswith("G15_"):  # a CDA author code: G15_10 = profession 10
        return label("profession", code[4:])
    if kind == "specialty" and "/" not in code and not code.startswith("G15_"):  # a VIHF role: SM26 alone
        return next((c.displayName for key, c in terminology.value_set("author_specialty").items()
                     if key.endswith("/" + code)), None)
    return None


def kinds() -> tuple[str, ...]:
    """Every ``kind`` ``label`` knows."""
    return tuple(sorted({*_OWN, *_TABLES}))


def choices(kind: str) -> list[tuple[str, str]]:
    """(code, label) pairs of one of the sandbox's own vocabularies, for select boxes."""
    return list(_OWN[kind].items())
