"""Service ``registry``: TD3.1 search (ITI-18 Registry Stored Query) and TD3.3a–d updates (ITI-57 Update
Document Set: masking, visibility, archiving, deletion).

Search: the query is checked against the catalogue (``xds.to_query_spec``), the rights matrix decides whether the
caller may search at all (TD3.1 metadata search vs reference search), then every object found goes through the
visibility rules (``rights.visible_in_search``: MASQUE_PS, statuses asked, Deleted never). FindDocuments returns
the current version of each logical document only (the older metadata versions of a masked document must not
show it unmasked); ``Deprecated`` then means "replaced" (RPLC), the DMP's "documents obsolètes". The XAdES
signature documents are left out of FindDocuments (they stay reachable through GetSubmissionSetAndContents,
GetDocuments, GetAssociations). More results than the workspace's ``max_query_results`` (default 500) →
``XDSTooManyResults``.

Updates: a new version of a DocumentEntry may only change its DMP visibility codes (MASQUE_PS,
INVISIBLE_PATIENT, INVISIBLE_REPRESENTANTS_LEGAUX): the new version is the registered metadata with the new set
of confidentiality codes (other changes are ignored, with a warning). UpdateAvailabilityStatus is a
compare-and-set of the status. Rights are decided per document (``TD3.3a.mask`` / ``TD3.3a.unmask`` /
``TD3.3b.visibility`` / ``TD3.3d.archive`` / ``TD3.3d.unarchive`` / ``TD3.3c.delete``, footnotes (8)/(9)/*).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from ... import store
from ...security.principal import PatientRef
from .. import feeding, xds
from ..rights import (INVISIBLE_PATIENT, INVISIBLE_REPRESENTANTS_LEGAUX, MASQUE_PS, search_action,
                      visible_in_search)
from ..service import Call, Reply
from ..xds import constants as c
from ..xds.errors import (UNRESOLVED_REFERENCE_EXCEPTION, XDS_PATIENT_ID_DOES_NOT_MATCH, XDS_REGISTRY_METADATA_ERROR,
                          XDS_TOO_MANY_RESULTS, XdsError)
from ..xds.hl7v2 import parse_cx
from ..xds.queries import QuerySpec
from .access import DmpAccess, allowed_on, open_dmp, patient_dmp
from .repository import record_findings, validation_options

__all__ = ["find", "update_document_set", "DEFAULT_MAX_QUERY_RESULTS"]

DEFAULT_MAX_QUERY_RESULTS = 500
# what a lookup "by reference" may return: everything but deleted documents
NOT_DELETED = (store.APPROVED, store.DEPRECATED, store.ARCHIVED)
VISIBILITY_CODES = frozenset({MASQUE_PS, INVISIBLE_PATIENT, INVISIBLE_REPRESENTANTS_LEGAUX})


# --- TD3.1: ITI-18 ------------------------------------------------------------------------------------------------

def find(call: Call) -> Reply:
    vihf_patient = call.principal.patient
    assert vihf_patient is not None
    ins = call.patient_ins = vihf_patient.ins
    return_type = "LeafClass"
    try:
        query = xds.parse_stored_query(call.body)
        return_type = query.return_type
        spec = xds.to_query_spec(query)
    except XdsError as exc:
        return _query_failure(call, return_type, [exc])
    access = open_dmp(call, ins, search_action(query.query_id))
    if spec.patient is not None:
        call.expect_patient(PatientRef(spec.patient.ins, spec.patient.oid))
    reader = _Reader(call, access, ins)
    objects = reader.run(spec)
    limit = int(call.workspace_settings.get("max_query_results") or DEFAULT_MAX_QUERY_RESULTS)
    if len(objects) > limit:
        return _query_failure(call, return_type, [XdsError(
            XDS_TOO_MANY_RESULTS, f"{spec.name} : {len(objects)} résultats, au-delà de la limite de {limit} ; "
            "précisez la requête", spec.query_id)])
    warnings = record_findings(call, spec.warnings)
    fragments: list[bytes] = []  # the entries go in pre-serialised (xds.build._entry_bytes), spliced by the service
    body = xds.adhoc_query_response(objects, return_type, total=len(objects), errors=warnings, fragments=fragments)
    return Reply(body, patient_ins=ins, fragments=tuple(fragments))


def _query_failure(call: Call, return_type: str, errors: Sequence[XdsError]) -> Reply:
    return Reply(xds.adhoc_query_response([], return_type, total=0, errors=record_findings(call, errors),
                                          status="Failure"))


class _Reader:
    """The registry as one caller sees it: the patient's objects, filtered by the visibility rules."""

    def __init__(self, call: Call, access: DmpAccess, ins: str) -> None:
        self.call, self.access, self.ins = call, access, ins
        self.tx, self.ws = call.tx, call.workspace

    # -- visibility --------------------------------------------------------------------------------------------
    def latest(self, rows: Iterable[store.DocumentEntry]) -> dict[str, store.DocumentEntry]:
        lids = list(dict.fromkeys(row.lid for row in rows if row.lid))
        return {row.lid: row for row in self.tx.documents.by_lids(self.ws, lids) if row.lid}

    def visible(self, rows: Sequence[store.DocumentEntry], statuses: Iterable[str],
                latest: dict[str, store.DocumentEntry] | None = None) -> list[store.DocumentEntry]:
        wanted = [s for s in statuses if s in store.DOCUMENT_STATUSES]
        latest = self.latest(rows) if latest is None else latest
        return [row for row in rows if row.patient_ins == self.ins and visible_in_search(
            self.call.principal, self.access.is_mt, feeding.document_facts(row, latest.get(row.lid or "")),
            statuses=wanted)]

    def submission_sets(self, uuids: Sequence[str] = (), unique_ids: Sequence[str] = ()
                        ) -> list[store.SubmissionSet]:
        found = []
        if uuids:
            found += self.tx.documents.get_submission_sets(self.ws, entry_uuids=list(uuids))
        if unique_ids:
            found += self.tx.documents.get_submission_sets(self.ws, unique_ids=list(unique_ids))
        return [s for s in found if s.patient_ins == self.ins]

    # -- queries -------------------------------------------------------------------------------------------------
    def run(self, spec: QuerySpec) -> list[xds.RegistryObject]:
        handler = getattr(self, "_" + spec.name)
        return handler(spec)

    def _FindDocuments(self, spec: QuerySpec) -> list[xds.RegistryObject]:  # noqa: N802 - stored query names
        query = store.DocumentQuery(
            statuses=tuple(spec.statuses), class_codes=_values(spec.class_codes),
            type_codes=_values(spec.type_codes), practice_settings=_values(spec.practice_setting_codes),
            facility_types=_values(spec.facility_type_codes), format_codes=_values(spec.format_codes),
            reference_ids=tuple(spec.reference_ids) or None,
            creation_from=spec.creation_time.start if spec.creation_time else None,
            creation_to=spec.creation_time.end if spec.creation_time else None,
            service_start_from=spec.service_start_time.start if spec.service_start_time else None,
            service_start_to=spec.service_start_time.end if spec.service_start_time else None,
            service_stop_from=spec.service_stop_time.start if spec.service_stop_time else None,
            service_stop_to=spec.service_stop_time.end if spec.service_stop_time else None,
            is_signature=False)
        # Only current versions: each row is then its own latest version, which spares a by_lids read.
        current = self.tx.documents.find(self.ws, self.ins, query, latest_only=True)
        latest = {row.lid: row for row in current if row.lid}
        entries = [(row, feeding.entry_to_wire(row)) for row in self.visible(current, spec.statuses, latest)]
        return [entry for _, entry in entries if xds.entry_matches(spec, entry)]

    _FindDocumentsByReferenceId = _FindDocuments  # noqa: N815

    def _FindSubmissionSets(self, spec: QuerySpec) -> list[xds.RegistryObject]:  # noqa: N802
        window = spec.submission_time
        rows = self.tx.documents.find_submission_sets(
            self.ws, self.ins, time_from=window.start if window else None, time_to=window.end if window else None,
            source_ids=list(spec.source_ids) or None, content_type_codes=_values(spec.content_type_codes))
        wire = [feeding.submission_set_to_wire(row) for row in rows]
        return [item for item in wire if xds.submission_set_matches(spec, item)]

    def _GetDocuments(self, spec: QuerySpec) -> list[xds.RegistryObject]:  # noqa: N802
        rows: list[store.DocumentEntry] = []
        if spec.entry_uuids:
            rows += self.tx.documents.get_many(self.ws, list(spec.entry_uuids))
        if spec.unique_ids:
            rows += self.tx.documents.by_unique_ids(self.ws, list(spec.unique_ids))
        if spec.logical_ids:
            rows += self.tx.documents.by_lids(self.ws, list(spec.logical_ids), all_versions=True)
        rows = list({row.entry_uuid: row for row in rows}.values())
        return [feeding.entry_to_wire(row) for row in self.visible(rows, NOT_DELETED)]

    def _GetAssociations(self, spec: QuerySpec) -> list[xds.RegistryObject]:  # noqa: N802
        associations = self.tx.documents.associations(self.ws, involving=list(spec.uuids))
        return [feeding.association_to_wire(a) for a in self._shown(associations)]

    def _shown(self, associations: Sequence[store.Association]) -> list[store.Association]:
        """Associations whose ends are this patient's objects the caller may see (an RPLC or HasMember must not
        reveal the entryUUID of a masked document)."""
        ends = list(dict.fromkeys(end for a in associations for end in (a.source, a.target)))
        documents = self.tx.documents.get_many(self.ws, ends)
        visible = {row.entry_uuid for row in self.visible(documents, NOT_DELETED)}
        hidden = {row.entry_uuid for row in documents} - visible
        others = [end for end in ends if end not in visible and end not in hidden]
        visible |= {s.entry_uuid for s in self.submission_sets(uuids=others)}
        return [a for a in associations if a.source in visible and a.target in visible]

    def _GetSubmissionSetAndContents(self, spec: QuerySpec) -> list[xds.RegistryObject]:  # noqa: N802
        sets = self.submission_sets(uuids=[spec.submission_set_uuid] if spec.submission_set_uuid else (),
                                    unique_ids=[spec.submission_set_unique_id]
                                    if spec.submission_set_unique_id else ())
        if not sets:
            return []
        submission_set = sets[0]
        members = self.tx.documents.associations(self.ws, sources=[submission_set.entry_uuid], types=[store.HAS_MEMBER])
        rows = self.visible(self.tx.documents.get_many(self.ws, [a.target for a in members]), NOT_DELETED)
        entries = [entry for entry in (feeding.entry_to_wire(row) for row in rows)
                   if xds.entry_matches(replace(spec, statuses=frozenset()), entry)]
        shown = {submission_set.entry_uuid, *(entry.id for entry in entries)}
        internal = self.tx.documents.associations(self.ws, involving=list(shown))
        links = [a for a in internal if a.source in shown and a.target in shown]
        return [feeding.submission_set_to_wire(submission_set), *entries,
                *(feeding.association_to_wire(a) for a in links)]

    def _GetRelatedDocuments(self, spec: QuerySpec) -> list[xds.RegistryObject]:  # noqa: N802
        rows = (self.tx.documents.get_many(self.ws, list(spec.entry_uuids)) if spec.entry_uuids
                else self.tx.documents.by_unique_ids(self.ws, list(spec.unique_ids)))
        origin = self.visible(rows, NOT_DELETED)
        if not origin:
            return []
        document = origin[0]
        associations = self.tx.documents.associations(self.ws, involving=[document.entry_uuid],
                                                      types=list(spec.association_types))
        shown = self._shown(associations)
        if not shown:
            return []
        related = [end for a in shown for end in (a.source, a.target) if end != document.entry_uuid]
        rows = [document, *self.tx.documents.get_many(self.ws, list(dict.fromkeys(related)))]
        return [*(feeding.entry_to_wire(row) for row in rows), *(feeding.association_to_wire(a) for a in shown)]


def _values(filters: Sequence[tuple[str, str | None]]) -> tuple[str, ...] | None:
    """Code values for the store's pre-filter (the coding scheme is checked on the wire entry after)."""
    return tuple(dict.fromkeys(code for code, _ in filters)) or None


# --- TD3.3: ITI-57 ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Operation:
    action: str  # row of the rights matrix
    document: store.DocumentEntry  # the registered entry it acts on (the current version)
    latest: store.DocumentEntry


def update_document_set(call: Call) -> Reply:
    vihf_patient = call.principal.patient
    assert vihf_patient is not None
    call.patient_ins = vihf_patient.ins
    try:
        submission = xds.parse_submit_objects(call.body)
    except XdsError as exc:
        return Reply(xds.registry_response(record_findings(call, [exc])))
    cx = parse_cx(submission.submission_set.patient_id if submission.submission_set else None)
    patient = PatientRef(cx.id, cx.oid) if cx is not None else vihf_patient
    call.expect_patient(patient)
    ins = patient.ins
    patient_dmp(call, ins)
    problems: list[XdsError] = [*submission.warnings, *xds.validate_update(
        submission, expected_patient=vihf_patient.cx(), options=validation_options(call))]
    if xds.has_errors(problems):
        return Reply(xds.registry_response(record_findings(call, problems)), patient_ins=ins)
    plan = _Plan(call, submission, ins)
    problems += plan.errors
    if xds.has_errors(problems) or not plan.operations:
        if not plan.operations and not xds.has_errors(problems):
            problems.append(XdsError(XDS_REGISTRY_METADATA_ERROR, "la requête ne demande aucune mise à jour (ni "
                                     "nouvelle version, ni UpdateAvailabilityStatus)", submission.submission_set.id
                                     if submission.submission_set else None))
        return Reply(xds.registry_response(record_findings(call, problems)), patient_ins=ins)
    access = open_dmp(call, ins, plan.operations[0].action)
    for operation in plan.operations:
        allowed_on(call, access, operation.action, feeding.document_facts(operation.document, operation.latest))
    try:
        call.tx.documents.update_submission(call.workspace, plan.submission_set, versions=plan.versions,
                                            status_changes=plan.status_changes, associations=plan.associations)
    except store.StoreError as exc:
        problems.append(feeding.store_error(exc))
    return Reply(xds.registry_response(record_findings(call, [*problems, *plan.warnings])), patient_ins=ins)


class _Plan:
    """What an ITI-57 request asks, resolved against the registry: the store objects and the rights to check."""

    def __init__(self, call: Call, submission: xds.Submission, ins: str) -> None:
        self.call, self.ins = call, ins
        self.tx, self.ws = call.tx, call.workspace
        self.errors: list[XdsError] = []
        self.warnings: list[XdsError] = []
        self.operations: list[_Operation] = []
        self.versions: list[store.VersionUpdate] = []
        self.status_changes: list[store.StatusChange] = []
        submission_set = submission.submission_set
        assert submission_set is not None
        self.ids: dict[str, str] = {submission_set.id: feeding.new_registry_id()}
        for item in (*submission.entries, *submission.associations):
            self.ids[item.id] = feeding.new_registry_id()
        self.submission_set = feeding.submission_set_row(
            submission_set, entry_uuid=self.ids[submission_set.id], patient_ins=ins, now=call.now,
            submitter=call.principal.name_id)
        previous = {a.target: a.slot("PreviousVersion") for a in submission.associations if a.type == c.HAS_MEMBER}
        for entry in submission.entries:
            self._version(entry, previous.get(entry.id))
        for association in submission.associations_of_type(c.UPDATE_AVAILABILITY_STATUS):
            self._status(association)
        self.associations = [
            store.Association(id=self.ids[a.id], type=a.type, source=self.ids.get(a.source, a.source),
                              target=self.ids.get(a.target, a.target), slots=dict(a.slots),
                              submission_set_uuid=self.submission_set.entry_uuid)
            for a in submission.associations]

    def _registered(self, reference: str, location: str) -> tuple[store.DocumentEntry, store.DocumentEntry] | None:
        """(the entry ``reference`` names, the latest version of its document), or None with an error."""
        row = self.tx.documents.get(self.ws, reference)
        latest = self.tx.documents.by_lids(self.ws, [row.lid]) if row is not None and row.lid else ()
        if row is None and not latest:
            latest = self.tx.documents.by_lids(self.ws, [reference])
            row = latest[0] if latest else None
        if row is None:
            self.errors.append(XdsError(UNRESOLVED_REFERENCE_EXCEPTION, f"{reference} : document inconnu du "
                                        "registre", location))
            return None
        if row.patient_ins != self.ins:
            self.errors.append(XdsError(XDS_PATIENT_ID_DOES_NOT_MATCH, f"{reference} appartient à un autre patient "
                                        f"que {self.ins}", location))
            return None
        return row, (latest[0] if latest else row)

    def _version(self, entry: xds.DocumentEntry, previous_version: str | None) -> None:
        """TD3.3a/b: a new metadata version changing the visibility codes."""
        found = self._registered(entry.lid or "", entry.id)
        if found is None:
            return
        _, current = found
        if previous_version is None or not previous_version.isdigit():
            self.errors.append(XdsError(XDS_REGISTRY_METADATA_ERROR, f"PreviousVersion {previous_version!r} n'est "
                                        "pas un numéro de version", entry.id))
            return
        if int(previous_version) != current.version:
            self.errors.append(XdsError(XDS_REGISTRY_METADATA_ERROR, f"{current.lid} : PreviousVersion "
                                        f"{previous_version} mais la version courante est {current.version}",
                                        entry.id))
            return
        if current.status != store.APPROVED:
            self.errors.append(XdsError(XDS_REGISTRY_METADATA_ERROR, f"{current.entry_uuid} : statut attendu "
                                        f"{store.APPROVED}, statut actuel {current.status} (seul un document actif "
                                        "change de visibilité)", entry.id))
            return
        if entry.unique_id and entry.unique_id != current.unique_id:
            self.errors.append(XdsError(XDS_REGISTRY_METADATA_ERROR, f"une nouvelle version garde le uniqueId "
                                        f"{current.unique_id}, pas {entry.unique_id}", entry.id))
            return
        registered = feeding.entry_to_wire(current)
        before = current.confidentiality_codes
        after = entry.confidentiality_codes
        added, removed = (after - set(before)) & VISIBILITY_CODES, (set(before) - after) & VISIBILITY_CODES
        actions = []
        if MASQUE_PS in added:
            actions.append("TD3.3a.mask")
        if MASQUE_PS in removed:
            actions.append("TD3.3a.unmask")
        if (added | removed) - {MASQUE_PS}:
            actions.append("TD3.3b.visibility")
        if not actions:
            self.errors.append(XdsError(XDS_REGISTRY_METADATA_ERROR, "la nouvelle version ne change aucun code de "
                                        f"visibilité ({', '.join(sorted(VISIBILITY_CODES))}) : le DMP n'accepte que "
                                        "ces changements", entry.id))
            return
        ignored = [name for name, new, old in (
            ("title", entry.title, registered.title), ("classCode", entry.class_code, registered.class_code),
            ("typeCode", entry.type_code, registered.type_code), ("formatCode", entry.format_code,
                                                                   registered.format_code),
            ("creationTime", entry.creation_time, registered.creation_time)) if new is not None and new != old]
        if ignored:
            self.warnings.append(XdsError(XDS_REGISTRY_METADATA_ERROR, f"changements ignorés ({', '.join(ignored)}) : "
                                          "seuls les codes de visibilité changent", entry.id, "Warning"))
        visibility = tuple(code for code in entry.confidentiality if code.code in VISIBILITY_CODES)
        kept = tuple(code for code in registered.confidentiality if code.code not in VISIBILITY_CODES)
        new_uuid = self.ids[entry.id]
        row = feeding.entry_row(
            replace(registered, confidentiality=kept + visibility), entry_uuid=new_uuid, patient_ins=self.ins,
            submitted_at=self.call.now, submitter=self.call.principal.name_id,
            submission_set_uuid=self.submission_set.entry_uuid, lid=current.lid, version=current.version + 1)
        row = replace(row, hash=current.hash, size=current.size, is_signature=current.is_signature)
        self.versions.append(store.VersionUpdate(entry=row, previous_version=current.version))
        self.operations.extend(_Operation(action, current, current) for action in actions)

    def _status(self, association: xds.Association) -> None:
        """TD3.3c/d: UpdateAvailabilityStatus, a compare-and-set of one entry's status."""
        found = self._registered(association.target, association.id)
        if found is None:
            return
        row, latest = found
        original, new = association.slot("OriginalStatus") or "", association.slot("NewStatus") or ""
        if row.status != original:
            self.errors.append(XdsError(XDS_REGISTRY_METADATA_ERROR, f"{row.entry_uuid} : statut attendu "
                                        f"(OriginalStatus) {original}, statut actuel {row.status}", association.id))
            return
        action = ("TD3.3c.delete" if new == store.DELETED else "TD3.3d.archive" if new == store.ARCHIVED
                  else "TD3.3d.unarchive")
        self.status_changes.append(store.StatusChange(row.entry_uuid, original, new))
        self.operations.append(_Operation(action, row, latest))
