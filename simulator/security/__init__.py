"""Who is calling: the VIHF (SAML 2.0) assertion of the DMP, the INSi caller checks, turned into a Principal.

* ``verify_vihf`` / ``VihfSettings``: check a request's VIHF, get a ``Principal`` or a ``DmpFault``;
  ``claimed_caller``: the patient and professional it names, unchecked (a prefetch key);
* ``build_vihf`` / ``wsse_security``: make signed VIHFs (tests, reference client, benchmarks);
* ``sign_submission`` / ``verify_submission_signature``: the XAdES signature document of an ITI-41.
"""
from .principal import AuthMode, CardType, Coded, PatientRef, Principal, Purpose
from .vihf import (INVALID_CERTIFICATE, MANDATORY_ATTRIBUTES, PATIENT_MISMATCH, PERSONNE_MORALE, VIHF_INVALID,
                   VihfSettings, claimed_caller, verify_vihf, vihf_fault)
from .vihf_builder import DEFAULT_LPS, build_vihf, default_roles, wsse_security
from .xades import (XadesReason, XadesVerdict, document_reference, sign_submission, submission_set_reference,
                    verify_submission_signature)

__all__ = [
    "DEFAULT_LPS", "INVALID_CERTIFICATE", "MANDATORY_ATTRIBUTES", "PATIENT_MISMATCH", "PERSONNE_MORALE",
    "VIHF_INVALID", "AuthMode", "CardType", "Coded", "PatientRef", "Principal", "Purpose", "VihfSettings",
    "XadesReason", "XadesVerdict", "build_vihf", "claimed_caller", "default_roles", "document_reference",
    "sign_submission", "submission_set_reference", "verify_submission_signature", "verify_vihf", "vihf_fault",
    "wsse_security",
]
