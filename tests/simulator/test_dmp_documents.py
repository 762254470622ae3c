"""TD2.1 feeding, TD3.1 search, TD3.2 retrieve and TD3.3 updates end to end: raw HTTP to the ASGI app, a real
signed VIHF and a real XAdES, the XDS client builders of ``dmp.xds`` to write the requests and read the answers."""
from __future__ import annotations

import hashlib
import random
import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from segur_sandbox.fixtures.documents import DocumentContext, build_document
from segur_sandbox.fixtures.documents.cda import uuid_oid
from segur_sandbox.fixtures.metadata import xds_metadata
from segur_sandbox.simulator.dmp import xds
from segur_sandbox.simulator.dmp.messages import set_authorization_request
from segur_sandbox.simulator.dmp.xds import compose
from segur_sandbox.simulator.dmp.xds import constants as c
from segur_sandbox.simulator.security.principal import PatientRef

REPOSITORY = "1.2.250.1.213.4.1.1.1.2"
SOURCE_ID = "1.2.250.1.999.1.1.7898"
APPROVED, DEPRECATED = c.STATUS_APPROVED, c.STATUS_DEPRECATED
ARCHIVED, DELETED = c.STATUS_ARCHIVED, c.STATUS_DELETED
GP, PHARMACIST, NURSE, HOSPITAL_DOCTOR, MSP_GP = 0, 1, 3, 4, 6  # roster of fixtures/professionals.py
WORKSPACE = "default"
PARIS = ZoneInfo("Europe/Paris")


# --- building requests as an LPS does -----------------------------------------------------------------------------

class Lps:
    """What one professional's software does against the sandbox."""

    def __init__(self, sandbox, index: int, **client_options) -> None:
        self.sandbox, self.index = sandbox, index
        self.client = sandbox.client(index, **client_options)
        self.professional, self.structure = sandbox.professional(index)

    # -- TD2.1
    def submission(self, patient: PatientRef, *, seed: int, kind: str = "VAC-NOTE", sign: bool = True,
                   signed_content: bytes | None = None, replaces: str | None = None, entry_change=None,
                   document_seed: int | None = None) -> xds.Submission:
        with self.sandbox.runtime.store.transaction(readonly=True) as tx:
            record = dict(tx.patients.get(WORKSPACE, patient.ins).record)
        rng = random.Random(seed if document_seed is None else document_seed)
        when = datetime.now(timezone.utc) - timedelta(days=1)
        cda = build_document(kind, DocumentContext(record, self.professional, self.structure, when, rng))
        ids = random.Random(f"ids-{seed}")
        signer = self.sandbox.pki.professional(self.professional, self.structure, usage="sign")
        if not sign:
            entry = compose.entry_from_metadata(xds_metadata(cda, file_path=f"{kind}.xml"), entry_id="Document01")
            if entry_change is not None:
                entry = entry_change(entry)
            return compose.feeding_submission(
                [(entry, cda)], None, unique_id=uuid_oid(ids), source_id=SOURCE_ID,
                submission_time=datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S"), title="Note de vaccination")
        return compose.signed_feeding(
            cda, signer=signer, submission_set_unique_id=uuid_oid(ids), signature_unique_id=uuid_oid(ids),
            source_id=SOURCE_ID, submitted=datetime.now(timezone.utc), signed_content=signed_content,
            replaces=replaces, title="Note de vaccination", entry_change=entry_change)

    def feed(self, patient: PatientRef, submission: xds.Submission | None = None, *, mtom: bool = True,
             **options):
        submission = submission or self.submission(patient, **options)
        if mtom:
            body, attachments = xds.provide_and_register_mtom(submission)
            return self.client.call("repository", body, patient=patient, attachments=attachments)
        return self.client.call("repository", xds.provide_and_register_request(submission), patient=patient)

    # -- TD3.1
    def search(self, patient: PatientRef, statuses=(APPROVED,), *, return_type: str = "LeafClass",
               query: str = "FindDocuments", **params):
        parameters = {"$XDSDocumentEntryPatientId": patient.cx(), "$XDSDocumentEntryStatus": list(statuses)}
        if query != "FindDocuments":
            parameters = {}
        parameters.update(params)
        request = xds.adhoc_query_request(xds.StoredQuery.of(query, parameters, return_type=return_type))
        return self.client.call("registry", request, patient=patient)

    def found(self, patient: PatientRef, statuses=(APPROVED,), **params) -> list[xds.DocumentEntry]:
        reply = self.search(patient, statuses, **params)
        assert reply.status == 200 and reply.fault is None, reply.raw[:800]
        response = xds.parse_adhoc_query_response(reply.body)
        assert response.status == "Success", response.errors
        return list(response.objects)

    # -- TD3.2
    def retrieve(self, patient: PatientRef, *unique_ids: str):
        return self.client.call("repository", xds.retrieve_request([(REPOSITORY, u) for u in unique_ids]),
                                patient=patient)

    # -- TD3.3
    def update(self, patient: PatientRef, *, entries=(), associations=(), seed: int = 99):
        author = xds.Author(
            person=f"{self.professional['id_nat']}^{self.professional['family']}^{self.professional['given']}"
                   f"^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS",
            institutions=(f"{self.structure['name']}^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^{self.structure['id_nat']}",))
        submission_set = xds.SubmissionSet(
            id="SubmissionSet01", unique_id=uuid_oid(random.Random(seed)), source_id=SOURCE_ID,
            patient_id=patient.cx(), submission_time=datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S"),
            authors=(author,), content_type=compose.DEFAULT_CONTENT_TYPE)
        submission = xds.Submission(submission_set, tuple(entries), tuple(associations))
        return self.client.call("registry", xds.submit_objects_request(submission), patient=patient)

    def set_visibility(self, patient: PatientRef, entry: xds.DocumentEntry, *, add=(), remove=(), seed=99):
        codes = [code for code in entry.confidentiality if code.code not in remove]
        codes += [xds.Coded(code, c.DMP_VISIBILITY_SCHEME, code) for code in add]
        new = replace(entry, id="Document01", status=None, confidentiality=tuple(codes))
        member = xds.Association("HasMember01", c.HAS_MEMBER, "SubmissionSet01", "Document01",
                                 {"SubmissionSetStatus": ("Original",), "PreviousVersion": (entry.version,)})
        return self.update(patient, entries=[new], associations=[member], seed=seed)

    def set_status(self, patient: PatientRef, entry_uuid: str, original: str, new: str, seed=98):
        change = xds.Association("Update01", c.UPDATE_AVAILABILITY_STATUS, "SubmissionSet01", entry_uuid,
                                 {"OriginalStatus": (original,), "NewStatus": (new,)})
        return self.update(patient, associations=[change], seed=seed)

    def authorise(self, patient: PatientRef) -> None:
        reply = self.client.call("habilitations", set_authorization_request("AJOUT"), patient=patient)
        assert reply.status == 200 and reply.fault is None, reply.raw[:500]


def registry_result(reply) -> xds.RegistryResult:
    assert reply.status == 200 and reply.fault is None, reply.raw[:800]
    return xds.parse_registry_response(reply.body)


def accepted(reply) -> None:
    result = registry_result(reply)
    assert result.status == "Success", result.errors


def refused(reply, code: str, words: str = "") -> xds.XdsError:
    result = registry_result(reply)
    assert result.status == "Failure", result
    matching = [e for e in result.errors if e.code == code and words in e.context]
    assert matching, result.errors
    return matching[0]


def fault(reply, code: str) -> str:
    assert reply.status == 500 and reply.fault is not None, reply.raw[:500]
    assert reply.fault.subcode.localname == code, reply.fault.reason
    return reply.fault.reason


@pytest.fixture
def patient(sandbox) -> PatientRef:
    return sandbox.scenario(0)  # DMP open, professional 0 authorised and médecin traitant


@pytest.fixture
def gp(sandbox) -> Lps:
    return Lps(sandbox, GP)


def clinical(entries) -> list[xds.DocumentEntry]:
    return [e for e in entries if isinstance(e, xds.DocumentEntry) and not e.is_signature]


# --- TD2.1 then TD3.1 then TD3.2 ----------------------------------------------------------------------------------

def test_fed_document_is_found_with_its_metadata_and_retrieved_byte_identical(sandbox, gp, patient):
    submission = gp.submission(patient, seed=1)
    sent = submission.entry("Document01")
    cda = submission.documents["Document01"]
    accepted(gp.feed(patient, submission))

    found = clinical(gp.found(patient))
    assert len(found) == 1
    entry = found[0]
    assert entry.id.startswith("urn:uuid:") and entry.lid == entry.id and entry.version == "1"
    assert entry.status == APPROVED
    assert (entry.unique_id, entry.patient_id, entry.class_code, entry.type_code, entry.format_code,
            entry.creation_time, entry.title, entry.authors) == (
        sent.unique_id, sent.patient_id, sent.class_code, sent.type_code, sent.format_code, sent.creation_time,
        sent.title, sent.authors)
    assert entry.confidentiality_codes == {"N"}
    assert entry.repository_unique_id == REPOSITORY
    assert entry.size == len(cda) and entry.hash == hashlib.sha1(cda).hexdigest()

    reply = gp.search(patient, return_type="ObjectRef")
    refs = xds.parse_adhoc_query_response(reply.body)
    assert refs.status == "Success" and refs.objects == (entry.id,) and refs.total == 1

    reply = gp.retrieve(patient, entry.unique_id)
    assert reply.status == 200 and reply.content_type.startswith("multipart/related")
    result, documents = xds.parse_retrieve_response(reply.message)
    assert result.status == "Success"
    assert [(d.repository_unique_id, d.document_unique_id, d.mime_type) for d in documents] == [
        (REPOSITORY, entry.unique_id, "text/xml")]
    assert documents[0].content == cda  # byte-identical to what was fed


def test_a_feed_is_checked_before_its_write_transaction_and_outside_the_writer_lock(sandbox, gp, patient,
                                                                                  monkeypatch):
    """Parsing, metadata and XAdES checks hold no SQLite writer lock (every worker's writes would wait for them);
    a preparer cannot reach the store."""
    import fcntl

    from segur_sandbox.simulator.dmp import handlers

    lock = f"{sandbox.runtime.store.url.database}-writer.lock"
    seen = []

    def watched(call):
        with pytest.raises(RuntimeError, match="no unit of work"):
            call.tx  # noqa: B018
        with open(lock, "a+b") as other:  # what another worker process would do: it must not have to wait
            fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(other.fileno(), fcntl.LOCK_UN)
        prepared = prepare(call)
        seen.append(prepared)
        return prepared

    prepare = handlers.PREPARERS["TD2.1"]
    monkeypatch.setitem(handlers.PREPARERS, "TD2.1", watched)
    accepted(gp.feed(patient, gp.submission(patient, seed=11)))
    assert len(seen) == 1 and seen[0].records is not None and not seen[0].signature_problems
    assert len(clinical(gp.found(patient))) == 1
    refused(gp.feed(patient, gp.submission(patient, seed=12, signed_content=b"<autre/>")),
            "XDSRegistryMetadataError", "XAdES")
    assert seen[1].records is None and seen[1].signature_problems  # checked before, answered after access


def test_inline_base64_feeding_works_too(sandbox, gp, patient):
    submission = gp.submission(patient, seed=2)
    accepted(gp.feed(patient, submission, mtom=False))
    entry = clinical(gp.found(patient))[0]
    _, documents = xds.parse_retrieve_response(gp.retrieve(patient, entry.unique_id).message)
    assert documents[0].content == submission.documents["Document01"]


def test_search_filters_by_code_and_by_reference(sandbox, gp, patient):
    submission = gp.submission(patient, seed=3)
    accepted(gp.feed(patient, submission))
    sent = submission.entry("Document01")
    type_code = f"{sent.type_code.code}^^{sent.type_code.scheme}"
    assert len(clinical(gp.found(patient, **{"$XDSDocumentEntryTypeCode": [type_code]}))) == 1
    assert clinical(gp.found(patient, **{"$XDSDocumentEntryTypeCode": ["11488-4^^2.16.840.1.113883.6.1"]})) == []
    by_reference = gp.found(patient, query="GetDocuments", **{"$XDSDocumentEntryUniqueId": [sent.unique_id]})
    assert [e.unique_id for e in by_reference] == [sent.unique_id]
    contents = gp.found(patient, query="GetSubmissionSetAndContents",
                        **{"$XDSSubmissionSetUniqueId": submission.submission_set.unique_id})
    kinds = sorted(type(o).__name__ for o in contents)
    assert kinds == ["Association"] * 3 + ["DocumentEntry"] * 2 + ["SubmissionSet"]
    sets = gp.found(patient, query="FindSubmissionSets", **{
        "$XDSSubmissionSetPatientId": patient.cx(), "$XDSSubmissionSetStatus": [APPROVED],
        "$XDSSubmissionSetSubmissionTimeFrom": "20000101"})
    assert [s.unique_id for s in sets] == [submission.submission_set.unique_id]
    links = gp.found(patient, query="GetAssociations", **{"$uuid": [sets[0].id]})
    assert sorted(a.type for a in links) == sorted([c.HAS_MEMBER, c.HAS_MEMBER, c.SIGNS])


def test_query_errors_are_adhoc_query_failures(sandbox, gp, patient):
    missing = xds.parse_adhoc_query_response(gp.search(patient, query="GetDocuments").body)
    assert missing.status == "Failure" and [e.code for e in missing.errors] == ["XDSStoredQueryMissingParam"]
    other = sandbox.scenario(1)
    reply = gp.search(patient, **{"$XDSDocumentEntryPatientId": other.cx()})
    assert "patient de la requête différent du VIHF" in fault(reply, "DMPVIHFInvalid")


def test_injected_registry_errors_take_each_transaction_s_failure_shape(sandbox, gp, patient):
    accepted(gp.feed(patient, seed=21))
    entry = clinical(gp.found(patient))[0]
    for transaction in ("TD3.1", "TD3.2", "TD2.1"):
        sandbox.http.post("/api/workspaces/default/faults", json={
            "kind": "registry_error", "transaction": transaction, "remaining": 1,
            "params": {"code": "XDSRegistryBusy", "context": "occupé"}}).raise_for_status()
    query = xds.parse_adhoc_query_response(gp.search(patient).body)
    assert query.status == "Failure" and [e.code for e in query.errors] == ["XDSRegistryBusy"]
    retrieved = gp.retrieve(patient, entry.unique_id)
    assert retrieved.content_type.startswith("multipart/related")  # ITI-43 answers are MTOM, errors too
    result, documents = xds.parse_retrieve_response(retrieved.message)
    assert result.status == "Failure" and documents == [] and [e.code for e in result.errors] == ["XDSRegistryBusy"]
    assert refused(gp.feed(patient, seed=22), "XDSRegistryBusy")


# --- TD2.1 refusals -----------------------------------------------------------------------------------------------

def test_feeding_without_xades_is_refused(sandbox, gp, patient):
    refused(gp.feed(patient, seed=4, sign=False), "XDSRegistryMetadataError", "XAdES")
    assert gp.found(patient) == []


def test_xades_over_other_bytes_is_refused(sandbox, gp, patient):
    error = refused(gp.feed(patient, seed=5, signed_content=b"<autre/>"), "XDSRegistryMetadataError",
                    "Signature XAdES invalide")
    assert "document_digest_mismatch" in error.context and "ne correspond pas" in error.context


def test_metadata_patient_other_than_the_vihf_patient_is_a_fault(sandbox, gp, patient):
    other = sandbox.scenario(1)
    body, attachments = xds.provide_and_register_mtom(gp.submission(patient, seed=6))
    reason = fault(gp.client.call("repository", body, patient=other, attachments=attachments), "DMPVIHFInvalid")
    assert "patient de la requête différent du VIHF" in reason


def test_metadata_that_contradicts_the_cda_is_refused(sandbox, gp, patient):
    reply = gp.feed(patient, seed=7, entry_change=lambda e: replace(e, creation_time="20200101000000"))
    refused(reply, "XDSRegistryMetadataError", "creationTime does not match the CDA")


def test_duplicate_unique_id_is_refused(sandbox, gp, patient):
    accepted(gp.feed(patient, seed=8))
    again = gp.submission(patient, seed=80, document_seed=8)  # same CDA, new submission set and signature
    refused(gp.feed(patient, again), "XDSDuplicateUniqueIdInRegistry")
    assert len(clinical(gp.found(patient))) == 1


def test_replacement_of_an_unknown_entry_is_refused(sandbox, gp, patient):
    reply = gp.feed(patient, seed=9, replaces="urn:uuid:6f0c9d2e-0000-4000-8000-000000000000")
    refused(reply, "UnresolvedReferenceException")


@pytest.mark.parametrize("scenario,words", [(3, "n'est pas autorisé"), (2, "bloqué")],
                         ids=["not-authorised", "blocked"])
def test_unauthorised_or_blocked_professional_cannot_feed(sandbox, gp, scenario, words):
    patient = sandbox.scenario(scenario)
    assert words in fault(gp.feed(patient, seed=10), "DMPAccessDeniedByRightsService")


def test_closed_dmp_cannot_be_fed(sandbox, gp):
    fault(gp.feed(sandbox.scenario(5), seed=11), "DMPClosed")


def test_entry_uuid_is_not_a_document_unique_id(sandbox, gp, patient):
    accepted(gp.feed(patient, seed=12))
    entry = clinical(gp.found(patient))[0]
    reply = gp.retrieve(patient, entry.id)
    assert reply.status == 200 and reply.content_type.startswith("multipart/related")  # ITI-43 is always MTOM
    result, documents = xds.parse_retrieve_response(reply.message)
    assert result.status == "Failure" and documents == []
    assert [(e.code, e.context.split(":")[0] + ":" + e.context.split(":")[1]) for e in result.errors] == [
        ("XDSDocumentUniqueIdError", "uniqueId=urn:uuid")]
    assert result.errors[0].context.startswith(f"uniqueId={entry.id}")


def test_retrieve_is_partial_when_one_document_is_unknown(sandbox, gp, patient):
    accepted(gp.feed(patient, seed=13))
    entry = clinical(gp.found(patient))[0]
    result, documents = xds.parse_retrieve_response(gp.retrieve(patient, entry.unique_id, "1.2.3.4.5").message)
    assert result.status == "PartialSuccess" and len(documents) == 1
    assert [e.code for e in result.errors] == ["XDSDocumentUniqueIdError"]


# --- replacement, masking, deletion, archiving --------------------------------------------------------------------

def test_replacement_deprecates_the_previous_version(sandbox, gp, patient):
    accepted(gp.feed(patient, seed=20))
    first = clinical(gp.found(patient))[0]
    accepted(gp.feed(patient, seed=21, replaces=first.id))
    current = clinical(gp.found(patient))
    assert [e.unique_id for e in current] != [first.unique_id] and len(current) == 1
    deprecated = clinical(gp.found(patient, (DEPRECATED,)))
    assert [(e.id, e.status) for e in deprecated] == [(first.id, DEPRECATED)]
    related = gp.found(patient, query="GetRelatedDocuments", **{"$XDSDocumentEntryEntryUUID": current[0].id,
                                                                "$AssociationTypes": [c.RPLC]})
    assert {e.id for e in related if isinstance(e, xds.DocumentEntry)} == {first.id, current[0].id}
    refused(gp.feed(patient, seed=22, replaces=first.id), "XDSRegistryMetadataError", "Deprecated")


def test_masking_hides_from_other_professionals_not_from_the_author_nor_the_mt(sandbox, gp, patient):
    author, other = Lps(sandbox, MSP_GP), Lps(sandbox, NURSE)
    author.authorise(patient)
    other.authorise(patient)
    accepted(author.feed(patient, seed=30))
    entry = clinical(author.found(patient))[0]
    assert [e.id for e in clinical(other.found(patient))] == [entry.id]

    accepted(author.set_visibility(patient, entry, add=[c.MASQUE_PS]))
    masked = clinical(author.found(patient))
    assert len(masked) == 1 and masked[0].lid == entry.id and masked[0].version == "2"
    assert c.MASQUE_PS in masked[0].confidentiality_codes and masked[0].unique_id == entry.unique_id
    assert clinical(other.found(patient)) == []
    assert clinical(other.found(patient, (DEPRECATED,))) == []  # the old, unmasked version does not leak
    assert [e.version for e in clinical(gp.found(patient))] == ["2"]  # the MT sees it
    fault(other.retrieve(patient, entry.unique_id), "DMPAccessDeniedByRightsService")

    # only the author may unmask (footnote 8), and the PreviousVersion must be the current one
    fault(other.set_visibility(patient, masked[0], remove=[c.MASQUE_PS], seed=91), "DMPAccessDeniedByRightsService")
    refused(author.set_visibility(patient, entry, remove=[c.MASQUE_PS], seed=92), "XDSRegistryMetadataError",
            "PreviousVersion")
    accepted(author.set_visibility(patient, masked[0], remove=[c.MASQUE_PS], seed=93))
    assert [e.version for e in clinical(other.found(patient))] == ["3"]


def test_delete_hides_from_search_and_a_non_author_cannot_delete(sandbox, gp, patient):
    author = Lps(sandbox, MSP_GP)
    author.authorise(patient)
    accepted(author.feed(patient, seed=40))
    entry = clinical(gp.found(patient))[0]
    reason = fault(gp.set_status(patient, entry.id, APPROVED, DELETED), "DMPAccessDeniedByRightsService")
    assert "(8)" in reason
    accepted(author.set_status(patient, entry.id, APPROVED, DELETED))
    assert clinical(author.found(patient, (APPROVED, DEPRECATED, ARCHIVED, DELETED))) == []
    assert author.found(patient, query="GetDocuments", **{"$XDSDocumentEntryEntryUUID": [entry.id]}) == []
    conflict = refused(author.set_status(patient, entry.id, APPROVED, DELETED, seed=97), "XDSRegistryMetadataError")
    assert APPROVED in conflict.context and DELETED in conflict.context


def test_archive_then_unarchive(sandbox, gp, patient):
    accepted(gp.feed(patient, seed=50))
    entry = clinical(gp.found(patient))[0]
    accepted(gp.set_status(patient, entry.id, APPROVED, ARCHIVED))
    assert clinical(gp.found(patient)) == []
    assert [e.status for e in clinical(gp.found(patient, (ARCHIVED,)))] == [ARCHIVED]
    _, documents = xds.parse_retrieve_response(gp.retrieve(patient, entry.unique_id).message)
    assert len(documents) == 1  # archived documents stay readable (TD3.2 "Docs archivés")
    accepted(gp.set_status(patient, entry.id, ARCHIVED, APPROVED, seed=96))
    assert [e.status for e in clinical(gp.found(patient))] == [APPROVED]


# --- emergency access, limits, exchange log -----------------------------------------------------------------------

def test_bris_de_glace_for_an_unauthorised_doctor_when_the_patient_did_not_oppose(sandbox, gp, patient):
    accepted(gp.feed(patient, seed=60))
    with sandbox.runtime.store.transaction() as tx:
        doctor = sandbox.professional(HOSPITAL_DOCTOR)[0]
        tx.authorizations.remove(WORKSPACE, patient.ins, doctor["id_nat"])
        record = tx.patients.get(WORKSPACE, patient.ins)
        tx.patients.upsert(WORKSPACE, replace(record, opposition_bris_de_glace=False))
    assert "n'est pas autorisé" in fault(Lps(sandbox, HOSPITAL_DOCTOR).search(patient),
                                          "DMPAccessDeniedByRightsService")
    emergency = Lps(sandbox, HOSPITAL_DOCTOR, purpose="bris_de_glace")
    entry = clinical(emergency.found(patient))[0]
    _, documents = xds.parse_retrieve_response(emergency.retrieve(patient, entry.unique_id).message)
    assert len(documents) == 1

    with sandbox.runtime.store.transaction() as tx:
        tx.patients.upsert(WORKSPACE, replace(tx.patients.get(WORKSPACE, patient.ins), opposition_bris_de_glace=True))
    assert "bris de glace" in fault(emergency.search(patient), "DMPAccessDeniedByRightsService")


def test_too_many_results(sandbox, gp, patient):
    accepted(gp.feed(patient, seed=70))
    accepted(gp.feed(patient, seed=71))
    with sandbox.runtime.store.transaction() as tx:
        tx.workspaces.update_settings(WORKSPACE, {"max_query_results": 1})
    response = xds.parse_adhoc_query_response(gp.search(patient).body)
    assert response.status == "Failure" and [e.code for e in response.errors] == ["XDSTooManyResults"]


def test_exchange_log_records_the_iti_transactions_with_their_findings(sandbox, gp, patient):
    accepted(gp.feed(patient, seed=80))
    refused(gp.feed(patient, seed=81, sign=False), "XDSRegistryMetadataError")
    gp.found(patient)
    with sandbox.runtime.store.transaction(readonly=True) as tx:
        feeds = tx.exchanges.list(WORKSPACE, transaction="TD2.1")
        searches = tx.exchanges.list(WORKSPACE, transaction="TD3.1")
    assert [e.verdict for e in feeds] == ["fail", "pass"]  # newest first
    assert all(e.patient_ins == patient.ins for e in feeds)
    assert any(f.rule == "XDS-XDSRegistryMetadataError" and "XAdES" in f.message for f in feeds[0].findings)
    assert len(searches) == 1 and searches[0].verdict == "pass"


# --- seeding ------------------------------------------------------------------------------------------------------

def test_seeded_documents_take_the_feeding_path_and_are_searchable(sandbox, gp, patient):
    from segur_sandbox.fixtures.professionals import ProfessionalDirectory
    from segur_sandbox.simulator.dmp.feeding import seed_documents

    directory = ProfessionalDirectory(sandbox.settings.seed, 12)  # the sandbox's first 12 professionals
    with sandbox.runtime.store.transaction(readonly=True) as tx:
        record = dict(tx.patients.get(WORKSPACE, patient.ins).record)
    now = datetime.now(timezone.utc)
    with sandbox.runtime.store.transaction() as tx:
        count = seed_documents(sandbox.runtime, tx, WORKSPACE, record, directory.professionals[:1], directory, 2,
                               random.Random(5), now)
    assert count == 3  # the 2 drawn documents and the Assurance Maladie's données de remboursement
    with sandbox.runtime.store.transaction() as tx:  # the same rng gives the same documents: nothing added
        assert seed_documents(sandbox.runtime, tx, WORKSPACE, record, directory.professionals[:1], directory, 2,
                              random.Random(5), now) == 3
        stored = [e for e in tx.documents.find(WORKSPACE, patient.ins) if not e.is_signature]
    assert len(stored) == 3 and sum(e.type_code == "REMB" for e in stored) == 1
    found = clinical(gp.found(patient))
    assert len(found) == 3
    _, documents = xds.parse_retrieve_response(gp.retrieve(patient, *(e.unique_id for e in found)).message)
    assert len(documents) == 3 and all(d.content.startswith(b"<?xml") for d in documents)


def test_a_seeded_workspace_holds_what_a_pharmacist_expects(sandbox):
    """Every seeded open DMP: one REMB of the Assurance Maladie dated in the month before the workspace clock and
    covering the 12 months before it, plus documents of the pharmacist mix; dispensations and TROD come from other
    officines than the scenario pharmacist's (professional index 1). Listed through the /api documents endpoint."""
    from functools import partial

    from segur_sandbox.fixtures.documents import kind_profile, one_year_before
    from segur_sandbox.fixtures.professionals import ProfessionalDirectory
    from segur_sandbox.simulator.dmp.feeding import OTHER_OFFICINE_KINDS, SEEDED_KINDS, seed_documents
    from segur_sandbox.simulator.seed import seed_workspace

    workspace, seed, professionals = "officine", sandbox.settings.seed, 26  # two groups of the roster: two officines
    now = datetime(2025, 3, 14, 9, 30, tzinfo=timezone.utc)
    feed = partial(seed_documents, sandbox.runtime)
    summary = seed_workspace(sandbox.runtime.store, workspace, seed=seed, patients=10, professionals=professionals,
                             documents_per_patient=3, now=now, feed=feed)
    directory = ProfessionalDirectory(seed, professionals)
    insurer, home = directory.insurer_system, directory.professionals[PHARMACIST]["structure_id"]
    officines = {s["id_nat"]: s["id"] for s in directory.structures if s["kind"] == "officine"}
    home_id_nat = directory.structures_by_id[home]["id_nat"]

    listed = sandbox.http.get(f"/api/workspaces/{workspace}/documents", params={"limit": 1000}).json()
    documents = [d for d in listed["items"] if not d["is_signature"]]
    assert listed["total"] == 2 * len(documents) == 2 * summary.documents  # each with its XAdES document
    by_patient: dict[str, list[dict]] = {}
    for document in documents:
        by_patient.setdefault(document["patient_ins"], []).append(document)
    with sandbox.runtime.store.transaction(readonly=True) as tx:
        open_dmps = {p.ins for p in tx.patients.list(workspace, limit=100) if p.dmp_state == "OPEN"}
    assert open_dmps and set(by_patient) == open_dmps

    kinds = {kind_profile(k).code: k for k in SEEDED_KINDS}
    kinds_seen: set[str] = set()
    for ins, mine in by_patient.items():
        (remb,) = [d for d in mine if d["type_code"] == "REMB"]
        assert remb["class_code"] == "60" and remb["author_person_ids"] == [insurer["id_nat"]]
        assert remb["submitter"] == insurer["id_nat"]
        created = datetime.fromisoformat(remb["creation_time"])
        assert now - timedelta(days=31) < created < now
        start, stop = datetime.fromisoformat(remb["service_start"]), datetime.fromisoformat(remb["service_stop"])
        assert stop == created and start == one_year_before(created.astimezone(PARIS)).astimezone(timezone.utc)
        others = [d for d in mine if d is not remb]
        assert len(others) == 3
        assert all(d["creation_time"] < remb["creation_time"] for d in others)
        for document in others:
            kind = kinds[document["type_code"]]
            kinds_seen.add(kind)
            if kind in OTHER_OFFICINE_KINDS:
                (institution,) = document["author_institution_ids"]
                assert institution in officines and institution != home_id_nat
    assert {"eDISP-MED", "BIO-TROD"} <= kinds_seen and len(kinds_seen) >= 6

    # the same seed again: nothing added
    again = seed_workspace(sandbox.runtime.store, workspace, seed=seed, patients=10, professionals=professionals,
                           documents_per_patient=3, now=now + timedelta(days=3), feed=feed)
    assert again.documents == summary.documents
    assert sandbox.http.get(f"/api/workspaces/{workspace}/documents").json()["total"] == listed["total"]


# --- the caller's access, read with the workspace from what the VIHF claims, used once the VIHF proved it ------------

@pytest.mark.parametrize("claimed", ["authorised professional", "other patient"])
def test_access_read_for_the_claimed_caller_is_used_only_when_the_vihf_proves_that_caller(sandbox, gp, patient,
                                                                                        monkeypatch, claimed):
    from segur_sandbox.simulator.dmp import service

    stranger = Lps(sandbox, NURSE)  # not authorised on the patient's DMP
    accepted(gp.feed(patient, seed=50))
    entry = clinical(gp.found(patient))[0]
    other_patient = sandbox.scenario(1)
    # a reading of the VIHF that disagrees with the verified one (as a wrapped assertion might make it):
    # the access read for that other caller must not decide for this one
    monkeypatch.setattr(service, "claimed_caller", lambda _message: {
        "authorised professional": (patient.ins, gp.professional["id_nat"]),
        "other patient": (other_patient.ins, stranger.professional["id_nat"])}[claimed])
    fault(stranger.search(patient), "DMPAccessDeniedByRightsService")
    fault(stranger.retrieve(patient, entry.unique_id), "DMPAccessDeniedByRightsService")
    assert [e.id for e in clinical(gp.found(patient))] == [entry.id]  # the real caller, read again: allowed


# --- PostgreSQL: a search and its log line in one autocommit unit of work, without a savepoint ----------------------

def test_postgresql_search_logs_its_line_in_its_unit_of_work_and_falls_back_when_that_fails(pg_sandbox, monkeypatch):
    from sqlalchemy import event

    from segur_sandbox.simulator.store.exchanges import ExchangeRepository

    runtime, http = pg_sandbox.runtime, pg_sandbox.http
    gp, patient = Lps(pg_sandbox, GP), pg_sandbox.scenario(0)
    assert gp.feed(patient, seed=1).status == 200
    statements: list[tuple[str, bool]] = []  # each statement, and whether its connection was in autocommit
    engines = []  # the pool of each statement's connection

    def record(conn, _cursor, statement, *_args):
        statements.append((statement, conn.connection.dbapi_connection.autocommit))
        engines.append(conn.engine)

    for engine in runtime.store.engines:
        event.listen(engine, "before_cursor_execute", record)
    assert len(clinical(gp.found(patient))) == 1
    assert not [s for s, _ in statements if "SAVEPOINT" in s.upper()], statements  # the search wrote nothing else
    # the workspace, the caller's patient and authorization (claimed by the VIHF) in the first read; then documents only
    reads = [s for s, _ in statements if s.lstrip().upper().startswith("SELECT")]
    assert {"workspaces", "patients", "authorizations"} <= set(re.findall(r"\w+", reads[0])), reads[0]
    assert not [r for r in reads[1:] if re.search(r"\b(workspaces|patients|authorizations)\b", r)], reads
    assert [autocommit for s, autocommit in statements if "INSERT INTO exchanges" in s] == [True]  # no BEGIN/COMMIT
    assert all(autocommit for _, autocommit in statements)  # the reads too: one unit of work, no transaction

    def synchronous_commit(insert_into: str) -> str:
        """synchronous_commit on the pool of the first INSERT INTO that table since the last clear()."""
        index = next(i for i, (s, _) in enumerate(statements) if f"INSERT INTO {insert_into}" in s)
        with engines[index].connect() as conn:
            return str(conn.exec_driver_sql("SHOW synchronous_commit").scalar())

    assert synchronous_commit("exchanges") == "off"  # the search's log line did not wait for the WAL flush

    real_append, calls = ExchangeRepository.append, []

    def append_failing_once(self, workspace, exchange, *, savepoint=True):
        calls.append(savepoint)
        if len(calls) == 1:  # the line written with the search fails: the search wrote nothing else to lose
            self._conn.exec_driver_sql("SELECT 1/0")
        return real_append(self, workspace, exchange, savepoint=savepoint)

    monkeypatch.setattr(ExchangeRepository, "append", append_failing_once)
    assert len(clinical(gp.found(patient))) == 1  # answered all the same
    assert len(calls) == 2  # then logged in a unit of work of its own
    items = http.get("/api/workspaces/default/exchanges", params={"transaction": "TD3.1"}).json()["items"]
    assert len(items) == 2 and all(item["http_status"] == 200 for item in items)
    statements.clear()
    engines.clear()
    assert gp.feed(patient, seed=2).status == 200
    assert synchronous_commit("document_entries") == "on"  # a feed waits for it
