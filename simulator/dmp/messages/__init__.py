"""The DMP's non-XDS messages: typed requests out of body elements, response body elements out of typed data.

Pure functions over lxml elements and dataclasses (no database, no HTTP):

* ``actions`` — the operation catalogue and ``identify(service, action, body) -> Operation``;
* ``hl7v3`` — the HL7 v3 transmission wrapper (ids, creationTime, devices, attentionLine, acknowledgement,
  queryAck);
* ``patients`` — TD0.2 / TD1.3a (PRPA_IN201307UV02 → 308), TD1.3b / TD1.4 (PRPA_IN201314UV02 → 315 / 316),
  TD0.5 (PDQv3 PRPA_IN201305UV02 → 306);
* ``habilitations`` — TD0.3 setAuthorization, TD1.6 listAuthorizationByPatient;
* ``patients_specific`` — TD0.4 patientList;
* ``common`` — the sandbox fault codes of bad requests, the INS checks, the INS-C stand-in, value formats.

Every module also builds *requests* in the official examples' shape (``demographics_request``,
``set_authorization_request``…) for the reference client and the tests.
"""
from .actions import CATALOGUE, SERVICES, CatalogueEntry, Operation, identify, response_action, service_name
from .common import ins_c_for
from .habilitations import (SetAuthorization, list_authorizations_request, list_authorizations_response,
                            parse_list_authorizations, parse_set_authorization, set_authorization_request,
                            set_authorization_response)
from .hl7v3 import II, Device, Transmission
from .patients import (Author, DemographicsQuery, PdqQuery, PersonName, ReviseRequest, demographics_request,
                       demographics_response, parse_get_demographics, parse_pdq, parse_revise, pdq_request,
                       pdq_response, revise_error, revise_request, revise_response)
from .patients_specific import PatientListQuery, parse_patient_list, patient_list_request, patient_list_response

__all__ = [
    "CATALOGUE", "II", "SERVICES", "Author", "CatalogueEntry", "DemographicsQuery", "Device", "Operation",
    "PatientListQuery", "PdqQuery", "PersonName", "ReviseRequest", "SetAuthorization", "Transmission",
    "demographics_request", "demographics_response", "identify", "ins_c_for", "list_authorizations_request",
    "list_authorizations_response", "parse_get_demographics", "parse_list_authorizations", "parse_patient_list",
    "parse_pdq", "parse_revise", "parse_set_authorization", "patient_list_request", "patient_list_response",
    "pdq_request", "pdq_response", "response_action", "revise_error", "revise_request", "revise_response",
    "service_name", "set_authorization_request", "set_authorization_response",
]
