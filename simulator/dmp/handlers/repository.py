"""Service ``repository``: TD2.1/TD2.2 feeding (ITI-41 Provide and Register Document Set-b) and TD3.2 retrieve
(ITI-43 Retrieve Document Set).

XDS problems are answered as XDS answers them, in an ``rs:RegistryResponse`` (inside the
``RetrieveDocumentSetResponse`` for ITI-43) with status Failure or PartialSuccess; access problems (DMP closed,
caller not authorised or blocked, rights matrix) are the DMP's SOAP faults, raised by the shared access checks.
Every XDS error or warning answered is also a finding of the exchange log.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ... import store
from ...security import document_reference, submission_set_reference, verify_submission_signature
from ...security.principal import PatientRef
from ...soap import new_content_id
from .. import feeding, xds
from ..rights import column_for, require_retrieve
from ..service import Call, Reply
from ..xds import constants as c
from ..xds.errors import (UNRESOLVED_REFERENCE_EXCEPTION, XDS_DOCUMENT_UNIQUE_ID_ERROR,
                          XDS_PATIENT_ID_DOES_NOT_MATCH, XDS_REGISTRY_METADATA_ERROR, XdsError)
from ..xds.hl7v2 import parse_cx
from .access import open_dmp

__all__ = ["provide_and_register", "record_findings", "retrieve"]


# --- shared by the XDS handlers -----------------------------------------------------------------------------------

def record_findings(call: Call, errors: Iterable[XdsError]) -> list[XdsError]:
    """Log every XDS error/warning as a finding of the exchange (rule ``XDS-<errorCode>``); returns them flat."""
    flat = [inner for error in errors for inner in error.errors]
    for error in flat:
        call.findings.append(store.Finding(f"XDS-{error.code}", "error" if error.is_error else "warning",
                                           error.context, error.location))
    return flat


def _setting(call: Call, name: str, default: Any) -> Any:
    value = call.workspace_settings.get(name, default)
    return default if value is None else value


def validation_options(call: Call) -> xds.ValidationOptions:
    """The workspace may relax the families of checks the DMP is only assumed to perform (dmp.md §3.7)."""
    return xds.ValidationOptions(check_value_sets=bool(_setting(call, "xds_check_value_sets", True)),
                                 check_cda=bool(_setting(call, "xds_check_cda", True)))


def by_structure(call: Call) -> bool:
    """Indirect mode or CPE: the caller acts for its structure (columns 10–12 of the matrix)."""
    return column_for(call.principal, is_mt=False) in (10, 11, 12)


# --- TD2.1 / TD2.2: ITI-41 ----------------------------------------------------------------------------------------

@dataclass
class PreparedFeed:
    """What an ITI-41 request is, checked without the database (``prepare_feed``)."""

    submission: xds.Submission | None
    patient: PatientRef | None = None  # the submission set's patient, else the VIHF's
    parse_error: XdsError | None = None
    problems: list[XdsError] = field(default_factory=list)  # the submission's warnings and metadata checks
    signature_problems: list[XdsError] = field(default_factory=list)  # XAdES, when the metadata had no error
    signature_notes: list[store.Finding] = field(default_factory=list)
    records: store.Submission | None = None  # the rows to store, when every check above passed


def prepare_feed(call: Call) -> PreparedFeed:
    """Parsing, metadata and XAdES checks: the bulk of a feed's work, run before its write transaction (outside
    SQLite's writer lock). The handler then applies the results in the order the DMP checks them: access first."""
    vihf_patient = call.principal.patient
    assert vihf_patient is not None  # the pipeline refuses a patient-level call without resource-id
    try:
        submission = xds.parse_provide_and_register(call.message)
    except XdsError as exc:
        return PreparedFeed(None, parse_error=exc)
    require_xades = bool(_setting(call, "require_xades", call.runtime.require_xades))
    caller = xds.Caller(ps_id=call.principal.name_id, structure_id=call.principal.structure_id,
                        by_structure=by_structure(call))
    patient = _submission_patient(submission) or vihf_patient
    prepared = PreparedFeed(submission, patient, problems=[*submission.warnings, *xds.validate_provide_and_register(
        submission, expected_patient=vihf_patient.cx(), require_signature=require_xades,
        options=validation_options(call), caller=caller)])
    if require_xades and not xds.has_errors(prepared.problems):
        prepared.signature_problems = _check_signature(call, submission, prepared.signature_notes)
    if not xds.has_errors([*prepared.problems, *prepared.signature_problems]):
        prepared.records, _ = feeding.registry_submission(submission, patient_ins=patient.ins, now=call.now,
                                                          submitter=call.principal.name_id)
    return prepared


def provide_and_register(call: Call) -> Reply:
    vihf_patient = call.principal.patient
    assert vihf_patient is not None  # the pipeline refuses a patient-level call without resource-id
    call.patient_ins = vihf_patient.ins
    prepared = call.prepared
    assert isinstance(prepared, PreparedFeed)  # handlers.PREPARERS runs prepare_feed before the unit of work
    submission, patient = prepared.submission, prepared.patient
    if submission is None or patient is None:
        assert prepared.parse_error is not None
        return Reply(xds.registry_response(record_findings(call, [prepared.parse_error])))
    call.expect_patient(patient)
    action = "TD2.2" if column_for(call.principal, is_mt=False) == 10 else "TD2.1"
    open_dmp(call, patient.ins, action)

    problems = list(prepared.problems)
    if not xds.has_errors(problems):
        call.findings.extend(prepared.signature_notes)
        problems += prepared.signature_problems
        problems += _check_replacements(call, submission, patient.ins)
    if xds.has_errors(problems):
        return Reply(xds.registry_response(record_findings(call, problems)), patient_ins=patient.ins)
    assert prepared.records is not None  # made when the checks without the database passed, as they did
    try:
        feeding.store_submission(call.tx, call.workspace, prepared.records)
    except XdsError as exc:
        problems.append(exc)
    return Reply(xds.registry_response(record_findings(call, problems)), patient_ins=patient.ins)


def _submission_patient(submission: xds.Submission) -> PatientRef | None:
    submission_set = submission.submission_set
    cx = parse_cx(submission_set.patient_id if submission_set else None)
    return PatientRef(cx.id, cx.oid) if cx is not None else None


def _check_signature(call: Call, submission: xds.Submission, notes: list[store.Finding]) -> list[XdsError]:
    """The XAdES document must verify against this submission: its uniqueIds and the documents' bytes."""
    submission_set = submission.submission_set
    assert submission_set is not None and submission_set.unique_id
    ss_uri, ss_bytes = submission_set_reference(submission_set.unique_id)
    expected: dict[str, bytes] = {ss_uri: ss_bytes}
    for entry in submission.clinical_entries:
        uri, content = document_reference(entry.unique_id or "", submission.documents.get(entry.id, b""))
        expected[uri] = content
    # The official example signs the submission set with a placeholder digest (``AA==``): by default its digest
    # is not compared, only its presence in the manifest (workspace setting ``xades_check_submission_set``).
    unchecked = () if _setting(call, "xades_check_submission_set", False) else (ss_uri,)
    errors: list[XdsError] = []
    for entry in submission.signature_entries:
        verdict = verify_submission_signature(submission.documents.get(entry.id, b""), pki=call.runtime.pki,
                                              now=call.now, expected=expected, unchecked=unchecked)
        for note in verdict.notes:
            notes.append(store.Finding("XADES-NOTE", "info", note, entry.id))
        if not verdict.ok:
            errors.append(XdsError(XDS_REGISTRY_METADATA_ERROR, f"Signature XAdES invalide ({verdict.reason}) : "
                                   f"{verdict.detail}", entry.id))
    return errors


def _check_replacements(call: Call, submission: xds.Submission, patient_ins: str) -> list[XdsError]:
    """RPLC targets: registered, of the same patient, Approved (dmp.md §3.7)."""
    errors: list[XdsError] = []
    for source, target in submission.replacements:
        replaced = call.tx.documents.get(call.workspace, target)
        if replaced is None:
            errors.append(XdsError(UNRESOLVED_REFERENCE_EXCEPTION, f"le document remplacé {target} (association "
                                   f"RPLC de {source}) est inconnu du registre", source))
        elif replaced.patient_ins != patient_ins:
            errors.append(XdsError(XDS_PATIENT_ID_DOES_NOT_MATCH, f"le document remplacé {target} appartient à un "
                                   f"autre patient que {patient_ins}", source))
        elif replaced.status != store.APPROVED:
            errors.append(XdsError(XDS_REGISTRY_METADATA_ERROR, f"le document remplacé {target} doit être au statut "
                                   f"{store.APPROVED}, il est {replaced.status}", source))
        elif replaced.is_signature:
            errors.append(XdsError(XDS_REGISTRY_METADATA_ERROR, f"{target} est un document de signature : il ne "
                                   "se remplace pas", source))
    return errors


# --- TD3.2: ITI-43 ------------------------------------------------------------------------------------------------

def retrieve(call: Call) -> Reply:
    vihf_patient = call.principal.patient
    assert vihf_patient is not None
    ins = call.patient_ins = vihf_patient.ins
    try:
        items = xds.parse_retrieve(call.body)
    except XdsError as exc:
        return Reply(xds.retrieve_response([], record_findings(call, [exc])), force_mtom=True)
    access = open_dmp(call, ins, "TD3.2.visible")
    errors: list[XdsError] = []
    by_item = _item_errors(xds.validate_retrieve(items))
    wanted = [item.document_unique_id for item in items if item.document_unique_id not in by_item]
    rows = {row.unique_id: row for row in call.tx.documents.by_unique_ids(call.workspace, wanted)}
    latest = {row.lid: row for row in call.tx.documents.by_lids(call.workspace, [r.lid for r in rows.values()
                                                                                   if r.lid])}
    documents: list[tuple[str, str, str, str]] = []
    attachments: dict[str, tuple[bytes, str]] = {}
    for item in items:
        unique_id = item.document_unique_id
        if unique_id in by_item:
            errors.extend(by_item[unique_id])
            continue
        row = rows.get(unique_id)
        if row is None:
            errors.append(XdsError(XDS_DOCUMENT_UNIQUE_ID_ERROR, f"uniqueId={unique_id} : aucun document de ce "
                                   "uniqueId dans le DMP", unique_id))
            continue
        if row.patient_ins != ins:
            errors.append(XdsError(XDS_PATIENT_ID_DOES_NOT_MATCH, f"uniqueId={unique_id} : le document n'appartient "
                                   f"pas au DMP du patient {ins} (patient du VIHF)", unique_id))
            continue
        require_retrieve(call.principal, access.is_mt, feeding.document_facts(row, latest.get(row.lid)))
        content = call.tx.documents.get_content(call.workspace, unique_id)
        if content is None:
            errors.append(XdsError(XDS_DOCUMENT_UNIQUE_ID_ERROR, f"uniqueId={unique_id} : contenu absent du "
                                   "dépôt", unique_id))
            continue
        content_id = new_content_id()
        mime_type = row.mime_type or "application/octet-stream"
        documents.append((c.DMP_REPOSITORY_UNIQUE_ID, unique_id, mime_type, content_id))
        attachments[content_id] = (content, mime_type)
    body = xds.retrieve_response(documents, record_findings(call, errors))
    return Reply(body, attachments=attachments or None, force_mtom=True, patient_ins=ins)


def _item_errors(errors: Iterable[XdsError]) -> Mapping[str, list[XdsError]]:
    grouped: dict[str, list[XdsError]] = {}
    for error in errors:
        grouped.setdefault(error.location or "", []).append(error)
    return grouped
