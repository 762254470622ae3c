"""XDS metadata rules of an ITI-41 feeding: the DMP's own checks (``simulator.dmp.xds.validate_provide_and_register``)
reported as findings with a stable id per kind of error. Nothing is checked twice: the simulator's validator
decides, this module only names what it found.

Kinds: the IHE errorCode, and for ``XDSRegistryMetadataError`` (most metadata problems) the family of the check,
recognised from the validator's context text (``_METADATA_KINDS``, first match wins).
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from segur_sandbox.simulator.dmp.xds import XdsError, validate_provide_and_register
from segur_sandbox.simulator.dmp.xds import errors as xe
from segur_sandbox.simulator.dmp.xds.hl7v2 import parse_cx

from ..artifacts import SoapArtifact
from .engine import finding, rule

RULE_SET = "xds"
ITI_TF3 = "IHE ITI TF-3 §4.2"

# (rule id, title, refs, keywords in the context text) for XDSRegistryMetadataError
_METADATA_KINDS: tuple[tuple[str, str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("XDS-META-013", "the metadata match the CDA document they carry", ("CI-SIS StrucMin",),
     ("does not match the CDA", "not a CDA R2")),
    ("XDS-META-015", "the XAdES signature document and its signs association", (),
     ("signature document", "XAdES", "signs association")),
    ("XDS-META-014", "associations: HasMember from the SubmissionSet to every entry, RPLC, signs", (ITI_TF3,),
     ("association", "HasMember", "not a member", "RPLC", "UpdateAvailabilityStatus")),
    ("XDS-META-012", "coded metadata are in the DMP value sets (JDV J02/J04/J06/J07/J08/J10…)", (),
     ("is not in JDV", "exactly one of N, R, V", "repeats", "is not in", "ASS_")),
    ("XDS-META-016", "objectType stable and a mimeType the DMP accepts", (),
     ("objectType must be", "mimeType must be")),
    ("XDS-META-011", "metadata values have their format (OID, DTM, CX, XCN, XON)", ("RG_2230", ITI_TF3),
     ("must be an OID", "must be a UTC time", "must be a CX", "must be 'NOM", "authorSpecialty must be", "lacks")),
    ("XDS-META-010", "every metadata element the DMP requires is present", ("RG_2230", ITI_TF3),
     ("is missing", "has no", "needs a code", "needs the slot", "no SubmissionSet")),
)
_OTHER_METADATA = "XDS-META-019"
_BY_CODE: dict[str, tuple[str, str, tuple[str, ...]]] = {
    xe.XDS_NON_IDENTICAL_HASH: ("XDS-META-020", "hash matches the document's SHA-1", (ITI_TF3,)),
    xe.XDS_REPOSITORY_METADATA_ERROR: ("XDS-META-021", "size and repositoryUniqueId match the repository",
                                       (ITI_TF3,)),
    xe.XDS_REGISTRY_DUPLICATE_UNIQUE_ID_IN_MESSAGE: ("XDS-META-022", "uniqueIds are unique within the request",
                                                     (ITI_TF3,)),
    xe.XDS_PATIENT_ID_DOES_NOT_MATCH: ("XDS-META-023", "patientIds agree with each other and with the VIHF",
                                       ("EF_DMP11_01",)),
    xe.XDS_UNKNOWN_PATIENT_ID: ("XDS-META-024", "patientId is an INS (assigning authority of the INS)",
                                ("EF_DMP11_01",)),
    xe.UNRESOLVED_REFERENCE_EXCEPTION: ("XDS-META-025", "associations refer to objects of the request", (ITI_TF3,)),
}
_OTHER_CODE = "XDS-META-029"
_PARSE = "XDS-META-001"


def classify(error: XdsError) -> str:
    """The stable rule id of one validator error."""
    if error.code == xe.XDS_REGISTRY_METADATA_ERROR:
        for rule_id, _title, _refs, keywords in _METADATA_KINDS:
            if any(keyword in error.context for keyword in keywords):
                return rule_id
        return _OTHER_METADATA
    if error.code in _BY_CODE:
        return _BY_CODE[error.code][0]
    return _OTHER_CODE


def _expected_patient(soap: SoapArtifact) -> str | None:
    """The patient of the VIHF (resource-id), when the message carries a well-formed one."""
    from segur_sandbox.simulator.security.vihf import ATTR_RESOURCE_ID

    from ..artifacts import SamlAssertion

    for element in soap.security_assertions()[:1]:
        values = SamlAssertion("vihf", element=element).attribute_texts(ATTR_RESOURCE_ID) or []
        if len(values) == 1 and parse_cx(values[0]) is not None:
            return values[0]
    return None


def problems(soap: SoapArtifact) -> list[XdsError]:
    """Parse warnings + every error of ``validate_provide_and_register`` (computed once per message)."""
    def compute() -> list[XdsError]:
        submission = soap.submission()
        if submission is None:
            return []
        return [*submission.warnings, *validate_provide_and_register(submission,
                                                                     expected_patient=_expected_patient(soap))]
    return soap.memo("xds-problems", compute)  # type: ignore[no-any-return]


def _is_iti41(soap: SoapArtifact) -> bool:
    return soap.is_iti41


def _emit(soap: SoapArtifact, rule_id: str) -> Iterator[Any]:
    for error in problems(soap):
        if classify(error) == rule_id:
            severity = "error" if error.is_error else "warning"
            yield finding(rule_id, severity, f"{error.code}: {error.context}",
                          f"rim:RegistryObject[@id='{error.location}']" if error.location else None)


def _register(rule_id: str, title: str, refs: tuple[str, ...]) -> None:
    rule(rule_id, title, rule_set=RULE_SET, applies_to=SoapArtifact, refs=refs, when=_is_iti41)(
        lambda soap: _emit(soap, rule_id))


@rule(_PARSE, "the ITI-41 body is a readable ProvideAndRegisterDocumentSetRequest", rule_set=RULE_SET,
      applies_to=SoapArtifact, refs=(ITI_TF3,), when=_is_iti41)
def readable(soap: SoapArtifact) -> Iterator[Any]:
    error = soap.submission_error()
    if error is not None:
        for inner in error.errors:
            yield f"{inner.code}: {inner.context}", inner.location


for _id, _title, _refs, _keywords in _METADATA_KINDS:
    _register(_id, _title, _refs)
_register(_OTHER_METADATA, "other XDSRegistryMetadataError of the DMP's checks", ())
for _id, _title, _refs in _BY_CODE.values():
    _register(_id, _title, _refs)
_register(_OTHER_CODE, "other XDS errors of the DMP's checks", ())
