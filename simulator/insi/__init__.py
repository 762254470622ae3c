"""The INSi téléservice replica (insi-cards.md §A): ``/lps`` and ``/w/{workspace}/lps``, SOAP 1.2, ICIR-v1.

* ``InsiService`` — bytes in, checks, matching, bytes out, one exchange-log line (``service.py``);
* ``match_traits`` / ``match_vitale`` / ``verify_ins`` and ``MatchingRules`` — the matching rules (``matching.py``);
* ``verify_caller`` / ``build_assertion_ps`` — assertion PS and INSI-AUTO/MANU certificates (``caller.py``);
* ``InsiFault`` / ``CATALOGUE`` — the siram/desir/insi faults (``faults.py``);
* ``cnda.IDENTITIES`` / ``cnda.CASES`` — the CNDA test identities seeded in every workspace, with their answers;
* ``InsiTestClient`` and the request builders — for tests, benchmarks and vendors (``client.py``,
  ``messages.py``, ``headers.py``); ``wsdl_document`` — our WSDL, served at ``GET /lps?wsdl``.
"""
from .caller import CallerSettings, InsiCaller, build_assertion_ps, certificate_from_header, verify_caller
from .client import InsiReply, InsiTestClient, insi_envelope
from .cnda import CASES, IDENTITIES, CndaCase, ensure_cnda_identities, seed_cnda_identities
from .constants import LIBELLES, OPERATIONS, TRAITS, VERIFICATION, VITALE, Operation
from .faults import CATALOGUE, FaultSpec, InsiFault
from .matching import (DEFAULT_RULES, MatchingRules, MatchResult, Matricule, TraitQuery, VerificationQuery,
                       VitaleQuery, comparable, match_traits, match_vitale, verify_ins)
from .messages import read_resultat, resultat, traits_request, verification_request, vitale_request
from .service import InsiConfig, InsiService, WorkspaceInsi, wsdl_document

__all__ = [
    "CASES", "CATALOGUE", "DEFAULT_RULES", "IDENTITIES", "LIBELLES", "OPERATIONS", "TRAITS", "VERIFICATION", "VITALE",
    "CallerSettings", "CndaCase", "FaultSpec", "InsiCaller", "InsiConfig", "InsiFault", "InsiReply", "InsiService",
    "InsiTestClient", "MatchResult", "MatchingRules", "Matricule", "Operation", "TraitQuery", "VerificationQuery",
    "VitaleQuery", "WorkspaceInsi", "build_assertion_ps", "certificate_from_header", "comparable",
    "ensure_cnda_identities", "insi_envelope", "match_traits", "match_vitale", "read_resultat", "resultat",
    "seed_cnda_identities", "traits_request", "verification_request", "verify_caller", "verify_ins",
    "vitale_request", "wsdl_document",
]
