"""IHE XDS.b as the DMP speaks it: ITI-41 feeding, ITI-18 stored queries, ITI-43 retrieve, ITI-57 updates.

* ``model``    typed, frozen metadata objects (DocumentEntry, SubmissionSet, Association, Submission, StoredQuery)
* ``parse``    request bodies → model (and responses, for clients); structural problems raise ``XdsError``
* ``build``    model → ebRIM/XDS.b elements (responses, and requests for the reference client and benches)
* ``queries``  the stored query catalogue, ``to_query_spec`` and in-memory matching
* ``validate`` the DMP's checks of a submission, returning ``XdsError`` values
* ``errors``   ``XdsError`` / ``XdsErrors`` and the IHE error codes; ``constants`` every UUID/URN/OID used
"""
from . import constants
from .build import (adhoc_query_request, adhoc_query_response, association, extrinsic_object,
                    provide_and_register_mtom, provide_and_register_request, registry_package, registry_response,
                    response_status, retrieve_request, retrieve_response, submit_objects_request)
from .errors import XdsError, XdsErrors, has_errors, raise_if_errors
from .model import (Association, Author, Coded, DocumentEntry, RegistryObject, RetrievedDocument, RetrieveItem,
                    StoredQuery, Submission, SubmissionSet)
from .parse import (QueryResponse, RegistryResult, parse_adhoc_query_response, parse_association,
                    parse_extrinsic_object, parse_provide_and_register, parse_registry_package,
                    parse_registry_response, parse_retrieve, parse_retrieve_response, parse_stored_query,
                    parse_submit_objects)
from .queries import (DMP_SUPPORTED_QUERIES, STORED_QUERIES, PatientId, QuerySpec, TimeRange, entry_matches,
                      submission_set_matches, to_query_spec)
from .validate import (Caller, ValidationOptions, validate_provide_and_register, validate_retrieve,
                       validate_update)

__all__ = [
    "DMP_SUPPORTED_QUERIES", "STORED_QUERIES", "Association", "Author", "Caller", "Coded", "DocumentEntry",
    "PatientId", "QueryResponse", "QuerySpec", "RegistryObject", "RegistryResult", "RetrieveItem",
    "RetrievedDocument", "StoredQuery", "Submission", "SubmissionSet", "TimeRange", "ValidationOptions", "XdsError",
    "XdsErrors", "adhoc_query_request", "adhoc_query_response", "association", "constants", "entry_matches",
    "extrinsic_object", "has_errors", "parse_adhoc_query_response", "parse_association", "parse_extrinsic_object",
    "parse_provide_and_register", "parse_registry_package", "parse_registry_response", "parse_retrieve",
    "parse_retrieve_response", "parse_stored_query", "parse_submit_objects", "provide_and_register_mtom",
    "provide_and_register_request", "raise_if_errors", "registry_package", "registry_response", "response_status",
    "retrieve_request", "retrieve_response", "submission_set_matches", "submit_objects_request", "to_query_spec",
    "validate_provide_and_register", "validate_retrieve", "validate_update",
]
