"""The DMP's transactions, one method each, for one patient:

=======  ==============================================  ==================  ===================================
TD0.2    test the DMP's existence and our authorisation  patients            PRPA_IN201307UV02 (HL7 v3)
TD0.3    declare our authorisation                       habilitations       setAuthorization
TD3.1    search documents (FindDocuments, GetDocuments)  registry            ITI-18 stored query
TD3.2    retrieve a document                             repository          ITI-43, answered MTOM
TD2.1    feed a document (and TD2.2: replace one, RPLC)  repository          ITI-41, sent MTOM
TD3.3    update metadata: mask, archive, delete          registry            ITI-57 UpdateDocumentSet
=======  ==============================================  ==================  ===================================

Every request is a SOAP 1.2 envelope with WS-Addressing and a freshly signed VIHF naming the patient. Errors
come back as SOAP faults (``Transport`` raises them) or, for XDS, as a RegistryResponse with status Failure:
``_check`` raises those, so a method that returns has succeeded.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

from lxml import etree

from segur_sandbox.simulator.dmp import xds
from segur_sandbox.simulator.dmp.messages import demographics_request, set_authorization_request
from segur_sandbox.simulator.dmp.xds import constants as c
from segur_sandbox.simulator.dmp.xds.compose import DEFAULT_CONTENT_TYPE
from segur_sandbox.simulator.security import PatientRef, wsse_security
from segur_sandbox.simulator.soap import build_envelope, encode_mtom, new_message_id
from segur_sandbox.simulator.testing import SoapReply

from .signing import Assertions
from .transport import ServiceError, Transport

SOAP12 = "application/soap+xml; charset=UTF-8"
HL7 = {"h": "urn:hl7-org:v3"}
SOURCE_ID = "1.2.250.1.999.1.1.4242"  # our software's OID (sourceId of the submission sets we send)

# transaction -> (service, wsa:Action)
OPERATIONS = {
    "TD0.2": ("patients", "urn:hl7-org:v3:PRPA_IN201307UV02"),
    "TD0.3": ("habilitations", "urn:si-dmp-habilitations:HabilitationsEndPoint:setAuthorization"),
    "TD3.1": ("registry", "urn:ihe:iti:2007:RegistryStoredQuery"),
    "TD3.2": ("repository", "urn:ihe:iti:2007:RetrieveDocumentSet"),
    "TD2.1": ("repository", "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"),
    "TD3.3": ("registry", "urn:ihe:iti:2010:UpdateDocumentSet"),
}

APPROVED, DEPRECATED, ARCHIVED, DELETED = c.STATUS_APPROVED, c.STATUS_DEPRECATED, c.STATUS_ARCHIVED, c.STATUS_DELETED


@dataclass(frozen=True)
class DmpStatus:
    """What TD0.2 says: does the patient have a DMP, is it open, what is our authorisation."""

    exists: bool
    closed: bool
    authorization: str  # VALIDE | EXPIRE | INTERDIT | NON_EXISTE
    treating_doctor: bool

    def as_result(self) -> dict[str, str]:
        state = "NONE" if not self.exists else "CLOSED" if self.closed else "OPEN"
        return {"status": state, "authorization": self.authorization}


@dataclass
class Dmp:
    url: str  # …/si-dmp-server/v2/services
    transport: Transport
    assertions: Assertions
    ins: str

    @property
    def patient(self) -> PatientRef:
        return PatientRef(self.ins, self.assertions.task.ins_oid)

    # -- TD0.2 / TD0.3 ------------------------------------------------------------------------------------------
    def test_access(self) -> DmpStatus:
        body = self._call("TD0.2", demographics_request(self.patient)).body
        answer = body.xpath("string(//h:queryAck/h:queryResponseCode/@code)", namespaces=HL7)
        if answer == "NF":
            return DmpStatus(False, False, "NON_EXISTE", False)
        if answer != "OK":
            raise ServiceError("TD0.2", answer or "NO-ANSWER", "Réponse inattendue du test d'existence du DMP")
        status = body.xpath("string(//h:subject1/h:patient/h:statusCode/@code)", namespaces=HL7)
        authorization = body.xpath(
            "string(h:attentionLine[h:keyWordText/@code='AUTORISATION']/h:value/@code)", namespaces=HL7)
        treating = body.xpath(
            "string(h:attentionLine[h:keyWordText/@code='STATUT_MT']/h:value/@value)", namespaces=HL7)
        return DmpStatus(True, status == "terminated", authorization or "NON_EXISTE", treating == "true")

    def declare_authorization(self) -> None:
        body = self._call("TD0.3", set_authorization_request("AJOUT")).body
        status = body.findtext("{*}output/{*}status") or ""
        if status != "DMPOk":
            raise ServiceError("TD0.3", status or "NO-STATUS", body.findtext("{*}output/{*}context") or "")

    # -- TD3.1 ---------------------------------------------------------------------------------------------------
    def find_documents(self, statuses: tuple[str, ...] = (APPROVED,)) -> list[xds.DocumentEntry]:
        """FindDocuments for the patient: the clinical documents (the XAdES signature documents left out)."""
        return self._query("FindDocuments", {"$XDSDocumentEntryPatientId": self.patient.cx(),
                                             "$XDSDocumentEntryStatus": list(statuses)})

    def document(self, reference: str) -> xds.DocumentEntry | None:
        """The current version of a document (GetDocuments) by its uniqueId, or by its entryUUID
        (``urn:uuid:…``): not Deprecated, the latest version."""
        by = "$XDSDocumentEntryEntryUUID" if reference.startswith("urn:uuid:") else "$XDSDocumentEntryUniqueId"
        entries = [e for e in self._query("GetDocuments", {by: [reference]}) if e.status != DEPRECATED]
        return max(entries, key=lambda e: int(e.version or 0), default=None)

    def _query(self, name: str, parameters: dict[str, Any]) -> list[xds.DocumentEntry]:
        request = xds.adhoc_query_request(xds.StoredQuery.of(name, parameters))
        body = self._call("TD3.1", request).body
        if etree.QName(body).localname == "RegistryResponse":  # a refused query, answered without any result
            _check("TD3.1", "Failure", xds.parse_registry_response(body).errors)
        response = xds.parse_adhoc_query_response(body)
        _check("TD3.1", response.status, response.errors)
        return [o for o in response.objects if isinstance(o, xds.DocumentEntry) and not o.is_signature]

    # -- TD3.2 ---------------------------------------------------------------------------------------------------
    def retrieve(self, entry: xds.DocumentEntry) -> bytes:
        repository = entry.repository_unique_id or c.DMP_REPOSITORY_UNIQUE_ID
        reply = self._call("TD3.2", xds.retrieve_request([(repository, entry.unique_id or "")]))
        result, documents = xds.parse_retrieve_response(reply.message)
        _check("TD3.2", result.status, result.errors)
        if not documents:
            raise ServiceError("TD3.2", "NO-DOCUMENT", f"Le DMP n'a pas renvoyé le document {entry.unique_id}")
        return documents[0].content

    # -- TD2.1 ---------------------------------------------------------------------------------------------------
    def feed(self, submission: xds.Submission) -> None:
        # MTOM: the documents travel as binary parts, not base64 in the XML (TRN-006)
        body, attachments = xds.provide_and_register_mtom(submission)
        result = xds.parse_registry_response(self._call("TD2.1", body, attachments=attachments).body)
        _check("TD2.1", result.status, result.errors)

    # -- TD3.3 ---------------------------------------------------------------------------------------------------
    def set_confidentiality(self, entry: xds.DocumentEntry, add: tuple[str, ...]) -> None:
        """A new version of the entry's metadata with the DMP visibility codes ``add`` (MASQUE_PS…)."""
        codes = list(entry.confidentiality)
        codes += [xds.Coded(code, c.DMP_VISIBILITY_SCHEME, code) for code in add
                  if code not in entry.confidentiality_codes]
        new = replace(entry, id="Document01", status=None, confidentiality=tuple(codes))
        # PreviousVersion: the DMP refuses an update of a version that is no longer the current one
        member = xds.Association("HasMember01", c.HAS_MEMBER, "SubmissionSet01", "Document01",
                                 {"SubmissionSetStatus": ("Original",), "PreviousVersion": (entry.version or "1",)})
        self._update(entries=(new,), associations=(member,))

    def set_status(self, entry: xds.DocumentEntry, new_status: str) -> None:
        """UpdateAvailabilityStatus: Approved <-> Archived, or Deleted."""
        change = xds.Association("Update01", c.UPDATE_AVAILABILITY_STATUS, "SubmissionSet01", entry.id,
                                 {"OriginalStatus": (entry.status or APPROVED,), "NewStatus": (new_status,)})
        self._update(associations=(change,))

    def _update(self, *, entries: tuple[xds.DocumentEntry, ...] = (),
                associations: tuple[xds.Association, ...] = ()) -> None:
        p, s = self.assertions.task.professional_record(), self.assertions.task.structure_record()
        author = xds.Author(
            person=f"{p['id_nat']}^{p['family']}^{p['given']}^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS",
            institutions=(f"{s['name']}^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^{s['id_nat']}",))
        submission_set = xds.SubmissionSet(
            id="SubmissionSet01", unique_id=new_oid(), source_id=SOURCE_ID, patient_id=self.patient.cx(),
            submission_time=datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S"), authors=(author,),
            content_type=DEFAULT_CONTENT_TYPE)
        request = xds.submit_objects_request(xds.Submission(submission_set, entries, associations))
        result = xds.parse_registry_response(self._call("TD3.3", request).body)
        _check("TD3.3", result.status, result.errors)

    # -- the envelope -------------------------------------------------------------------------------------------
    def _call(self, transaction: str, body: etree._Element,
              attachments: dict[str, tuple[bytes, str]] | None = None) -> SoapReply:
        service, action = OPERATIONS[transaction]
        security = wsse_security(self.assertions.vihf(self.ins))  # a new VIHF per request: always current
        envelope = build_envelope(body, action=action, message_id=new_message_id(), to=None,
                                  extra_headers=[security])
        if attachments:
            encoded = encode_mtom(envelope, attachments, action=action)
            data, content_type = encoded.body, encoded.content_type
        else:
            data, content_type = etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"), SOAP12
        return self.transport.post(transaction, f"{self.url}/{service}", data, content_type)


def _check(transaction: str, status: str, errors: tuple[xds.XdsError, ...]) -> None:
    """A RegistryResponse other than Success is an error shown to the user (the first error's code and text)."""
    if status == "Success":
        return
    first = next((e for e in errors if e.severity == "Error"), errors[0] if errors else None)
    if first is None:
        raise ServiceError(transaction, status or "Failure", "Le DMP a refusé la demande sans préciser l'erreur")
    raise ServiceError(transaction, first.code, first.context)


def new_oid() -> str:
    """A fresh OID for a uniqueId (the UUID-derived arc 2.25)."""
    return f"2.25.{uuid.uuid4().int}"
