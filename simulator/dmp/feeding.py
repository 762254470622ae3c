"""Documents in and out of the registry: the one mapping between the XDS wire model and the store's rows, the
registration of a feeding (shared by TD2.1/TD2.2 and the seeding), and the seeding of documents itself.

Wire → row (``registry_submission``): every id of the submission (submission set, entries, associations) is
replaced by a registry ``urn:uuid:`` (the DMP assigns its own entryUUIDs, dmp.md §1.9); references to objects
outside the submission (an RPLC target) are kept. Hash and size are computed from the bytes
(``store.digest``), ``repositoryUniqueId`` is the DMP repository's, codes are stored as their values and the
whole normalised ``rim:ExtrinsicObject`` / ``rim:RegistryPackage`` is kept in ``metadata_xml``.

Row → wire (``entry_to_wire``…): ``metadata_xml`` parsed back, with the registry's entryUUID, lid, version,
status, hash and size of the row (they change with metadata updates and status changes).

Seeding (``seed_documents``): documents built with ``fixtures.documents``, composed and signed the way an LPS
does it (``xds.compose`` + a real XAdES from the author's signature certificate) and registered through the same
mapping as TD2.1, without HTTP. What is seeded is what a pharmacist expects to find in a DMP (issue #9): the
Assurance Maladie's données de remboursement of the last 12 months, and a draw of biology, imaging, hospital,
synthesis (antécédents, allergies), directives anticipées, personnes à prévenir, and dispensations and TROD from
other pharmacies than the scenario pharmacist's.
"""
from __future__ import annotations

import random
import uuid
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from functools import lru_cache
from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from lxml import etree

from segur_sandbox.fixtures.documents import DocumentContext, build_document, kind_profile
from segur_sandbox.fixtures.documents.cda import uuid_oid
from segur_sandbox.fixtures.metadata import xds_metadata

from .. import store
from ..pki import profiles as pki_profiles
from . import xds
from .xds import compose
from .rights import DocumentFacts
from .xds import constants as c
from .xds.errors import (UNRESOLVED_REFERENCE_EXCEPTION, XDS_DUPLICATE_UNIQUE_ID_IN_REGISTRY,
                         XDS_PATIENT_ID_DOES_NOT_MATCH, XDS_REGISTRY_METADATA_ERROR, XdsError)
from .xds.hl7v2 import parse_xcn, parse_xon
from .xds.queries import parse_dtm

__all__ = [
    "REPOSITORY_UNIQUE_ID", "SEED_SOURCE_ID", "association_to_wire", "document_facts", "entry_row", "entry_to_wire",
    "new_registry_id", "register", "registry_submission", "seed_documents", "store_error", "submission_set_row",
    "submission_set_to_wire", "xds_time",
]

REPOSITORY_UNIQUE_ID = c.DMP_REPOSITORY_UNIQUE_ID
# sourceId of the submissions the sandbox seeds itself (an OID of the sandbox's own test arc)
SEED_SOURCE_ID = "1.2.250.1.999.1.1.9999"
_PARIS = ZoneInfo("Europe/Paris")
_PREFETCHED: weakref.WeakKeyDictionary[Any, set[int]] = weakref.WeakKeyDictionary()  # directory -> id(pki) done


def new_registry_id() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def xds_time(moment: datetime) -> str:
    """An aware datetime as an XDS DTM (UTC, to the second)."""
    return moment.astimezone(timezone.utc).strftime("%Y%m%d%H%M%S")


def _xml(element: etree._Element) -> str:
    return etree.tostring(element, encoding="unicode")


# --- wire → row ---------------------------------------------------------------------------------------------------

def _person_id(value: str | None) -> str | None:
    parsed = parse_xcn(value)
    return parsed.id if parsed is not None and parsed.id else None


def _institution_ids(authors: Iterable[xds.Author]) -> tuple[str, ...]:
    ids = (parsed.id for author in authors for value in author.institutions
           if (parsed := parse_xon(value)) is not None and parsed.id)
    return tuple(dict.fromkeys(ids))


def entry_row(entry: xds.DocumentEntry, *, entry_uuid: str, patient_ins: str, submitted_at: datetime,
              submitter: str | None, submission_set_uuid: str | None, content: bytes | None = None,
              lid: str | None = None, version: int = 1, status: str = store.APPROVED) -> store.DocumentEntry:
    """The store row of a wire DocumentEntry registered as ``entry_uuid`` (hash and size from ``content``)."""
    if content is not None:
        digest, size = store.digest(content)
    else:
        digest, size = entry.hash, entry.size
    wire = replace(entry, id=entry_uuid, lid=lid or entry_uuid, status=status, version=str(version), hash=digest,
                   size=size, repository_unique_id=REPOSITORY_UNIQUE_ID)
    people = tuple(dict.fromkeys(p for a in entry.authors if (p := _person_id(a.person))))
    return store.DocumentEntry(
        entry_uuid=entry_uuid, unique_id=entry.unique_id or "", patient_ins=patient_ins,
        mime_type=entry.mime_type or "", submitted_at=submitted_at, metadata_xml=_xml(xds.extrinsic_object(wire)),
        lid=lid, version=version, status=status, title=entry.title,
        confidentiality_codes=tuple(dict.fromkeys(code.code for code in entry.confidentiality)),
        type_code=entry.type_code.code if entry.type_code else None,
        class_code=entry.class_code.code if entry.class_code else None,
        format_code=entry.format_code.code if entry.format_code else None,
        practice_setting=entry.practice_setting.code if entry.practice_setting else None,
        facility_type=entry.facility_type.code if entry.facility_type else None,
        event_codes=tuple(dict.fromkeys(code.code for code in entry.event_codes)),
        creation_time=parse_dtm(entry.creation_time), service_start=parse_dtm(entry.service_start),
        service_stop=parse_dtm(entry.service_stop), author_person_ids=people,
        author_institution_ids=_institution_ids(entry.authors),
        legal_authenticator_id=_person_id(entry.legal_authenticator), is_signature=entry.is_signature,
        hash=digest, size=size, submission_set_uuid=submission_set_uuid, submitter=submitter,
        reference_ids=tuple(entry.reference_ids),
    )


def submission_set_row(submission_set: xds.SubmissionSet, *, entry_uuid: str, patient_ins: str, now: datetime,
                       submitter: str | None) -> store.SubmissionSet:
    wire = replace(submission_set, id=entry_uuid, lid=None, status=None, version=None)
    first = submission_set.authors[0] if submission_set.authors else xds.Author()
    return store.SubmissionSet(
        entry_uuid=entry_uuid, unique_id=submission_set.unique_id or "", patient_ins=patient_ins,
        submission_time=parse_dtm(submission_set.submission_time) or now, source_id=submission_set.source_id,
        content_type_code=submission_set.content_type.code if submission_set.content_type else None,
        title=submission_set.title,
        author={"person": first.person, "person_id": _person_id(first.person),
                "institutions": list(first.institutions), "institution_ids": list(_institution_ids([first]))},
        submitter=submitter, metadata_xml=_xml(xds.registry_package(wire)))


def registry_submission(submission: xds.Submission, *, patient_ins: str, now: datetime, submitter: str | None,
                        new_id: Callable[[], str] = new_registry_id) -> tuple[store.Submission, dict[str, str]]:
    """The store form of an ITI-41 submission, and the map of the submitter's ids to the registry's."""
    submission_set = submission.submission_set
    if submission_set is None:
        raise ValueError("a feeding has a submission set")
    ids: dict[str, str] = {submission_set.id: new_id()}
    for entry in submission.entries:
        ids[entry.id] = new_id()
    for association in submission.associations:
        ids[association.id] = new_id()
    ss_uuid = ids[submission_set.id]
    ss_row = submission_set_row(submission_set, entry_uuid=ss_uuid, patient_ins=patient_ins, now=now,
                                submitter=submitter)
    entries = tuple(
        entry_row(entry, entry_uuid=ids[entry.id], patient_ins=patient_ins, submitted_at=now, submitter=submitter,
                  submission_set_uuid=ss_uuid, content=submission.documents.get(entry.id))
        for entry in submission.entries)
    associations = tuple(
        store.Association(id=ids[a.id], type=a.type, source=ids.get(a.source, a.source),
                          target=ids.get(a.target, a.target), slots=dict(a.slots), submission_set_uuid=ss_uuid)
        for a in submission.associations)
    contents = {entry.unique_id: submission.documents[entry.id] for entry in submission.entries
                if entry.id in submission.documents and entry.unique_id}
    return store.Submission(ss_row, entries, associations, contents), ids


# --- row → wire ---------------------------------------------------------------------------------------------------

@lru_cache(maxsize=4096)  # rows are immutable values; a search answers the same ones again and again
def entry_to_wire(row: store.DocumentEntry) -> xds.DocumentEntry:
    """The DocumentEntry a registry answers for ``row`` (its current id, version, status, hash and size)."""
    entry = xds.parse_extrinsic_object(etree.fromstring(row.metadata_xml))
    return replace(entry, id=row.entry_uuid, lid=row.lid or row.entry_uuid, version=str(row.version),
                   status=row.status, hash=row.hash, size=row.size, repository_unique_id=REPOSITORY_UNIQUE_ID,
                   element=None)


def submission_set_to_wire(row: store.SubmissionSet) -> xds.SubmissionSet:
    package = xds.parse_registry_package(etree.fromstring(row.metadata_xml))
    return replace(package, id=row.entry_uuid, lid=row.entry_uuid, status=store.APPROVED, element=None)


def association_to_wire(row: store.Association) -> xds.Association:
    return xds.Association(id=row.id, type=row.type, source=row.source, target=row.target, slots=dict(row.slots),
                           status=store.APPROVED)


def document_facts(row: store.DocumentEntry, latest: store.DocumentEntry | None = None) -> DocumentFacts:
    """What the rights layer knows of ``row``. ``latest`` (the newest version of the same logical document)
    gives the visibility codes and a deletion: an older metadata version must not show what a mask hides.
    Authorship counts the authorPerson ids and the legalAuthenticator (EX_2.1-1140 accepts either)."""
    if latest is None or latest is row:
        return _own_facts(row)
    return _facts(row, latest)


@lru_cache(maxsize=4096)  # a search decides on the same current rows again and again (immutable values)
def _own_facts(row: store.DocumentEntry) -> DocumentFacts:
    return _facts(row, row)


def _facts(row: store.DocumentEntry, latest: store.DocumentEntry) -> DocumentFacts:
    current = latest
    status = store.DELETED if current.status == store.DELETED else row.status
    authors = (*row.author_person_ids, *((row.legal_authenticator_id,) if row.legal_authenticator_id else ()))
    return DocumentFacts(author_ids=frozenset(authors), author_institution_ids=frozenset(row.author_institution_ids),
                         class_code=row.class_code, type_code=row.type_code,
                         confidentiality=frozenset(current.confidentiality_codes), status=status)


# --- registering a feeding ----------------------------------------------------------------------------------------

def store_error(exc: store.StoreError, *, location: str | None = None) -> XdsError:
    """The RegistryError for a store refusal (duplicate uniqueId, unknown or conflicting replaced entry…)."""
    if isinstance(exc, store.DuplicateUniqueId):
        code = exc.xds_code or XDS_DUPLICATE_UNIQUE_ID_IN_REGISTRY
        return XdsError(code, f"uniqueId déjà enregistré dans le DMP : {', '.join(exc.unique_ids)}",
                        location or exc.unique_ids[0])
    if isinstance(exc, store.DocumentNotFound):
        return XdsError(UNRESOLVED_REFERENCE_EXCEPTION, f"objet inconnu du registre : {exc.reference}",
                        location or exc.reference)
    if isinstance(exc, store.PatientMismatch):
        return XdsError(XDS_PATIENT_ID_DOES_NOT_MATCH, f"{exc.reference} appartient au patient {exc.actual}, pas "
                        f"à {exc.expected}", location or exc.reference)
    if isinstance(exc, store.StatusConflict):
        return XdsError(XDS_REGISTRY_METADATA_ERROR, f"{exc.entry_uuid} : statut attendu {exc.expected}, statut "
                        f"actuel {exc.actual}", location or exc.entry_uuid)
    if isinstance(exc, store.VersionConflict):
        return XdsError(XDS_REGISTRY_METADATA_ERROR, f"{exc.lid} : PreviousVersion {exc.expected} mais la version "
                        f"courante est {exc.actual}", location or exc.lid)
    return XdsError(exc.xds_code or XDS_REGISTRY_METADATA_ERROR, str(exc), location)


def register(tx: store.UnitOfWork, workspace: str, submission: xds.Submission, *, patient_ins: str, now: datetime,
             submitter: str | None, new_id: Callable[[], str] = new_registry_id
             ) -> tuple[store.DocumentEntry, ...]:
    """Store a (validated) feeding atomically; store refusals become ``XdsError``."""
    records, _ = registry_submission(submission, patient_ins=patient_ins, now=now, submitter=submitter,
                                     new_id=new_id)
    return store_submission(tx, workspace, records)


def store_submission(tx: store.UnitOfWork, workspace: str, records: store.Submission
                     ) -> tuple[store.DocumentEntry, ...]:
    """Store the rows ``registry_submission`` made, atomically; store refusals become ``XdsError``."""
    try:
        return tx.documents.register_submission(workspace, records)
    except store.StoreError as exc:
        raise store_error(exc) from exc


# --- seeding ------------------------------------------------------------------------------------------------------

def _document_times(rng: random.Random, birth_date: str | None, now: datetime, count: int) -> list[datetime]:
    """Care moments in the three years before ``now``, never before birth, oldest first (Paris time)."""
    today = now.astimezone(_PARIS).date()
    start = today - timedelta(days=3 * 365)
    if birth_date and birth_date[:4].isdigit() and len(birth_date) >= 10:
        try:
            born = date(int(birth_date[:4]), max(1, int(birth_date[5:7])), max(1, int(birth_date[8:10])))
            start = max(start, born + timedelta(days=1))
        except ValueError:
            pass
    span = max(1, (today - start).days)
    moments = []
    for _ in range(count):
        day = start + timedelta(days=rng.randrange(span))
        moment = datetime(day.year, day.month, day.day, rng.randint(8, 18), rng.randrange(60), 0, tzinfo=_PARIS)
        moments.append(min(moment, now - timedelta(hours=1)))
    return sorted(moments)


# The documents drawn for a seeded DMP (``count`` of them), besides its REMB: what a pharmacist consulting the DMP
# expects to find there (issue #9). Dispensations and TROD come from other officines than the scenario pharmacist's
# (professional index 1, the conformance runner's "pharmacien" persona), so that they show up as someone else's.
SEEDED_KINDS: tuple[str, ...] = ("CR-BIO", "CR-IMG", "LDL-SES", "VSM", "DIRECTIVES-ANTICIPEES",
                                 "PERSONNES-A-PREVENIR", "eDISP-MED", "BIO-TROD")
OTHER_OFFICINE_KINDS = frozenset({"eDISP-MED", "BIO-TROD"})
SCENARIO_PHARMACIST = 1  # index in ProfessionalDirectory.professionals
REMB_KIND = "REMB"
_CANDIDATES: weakref.WeakKeyDictionary[Any, dict[str, list[Mapping[str, Any]]]] = weakref.WeakKeyDictionary()


def scenario_officine(directory: Any) -> str | None:
    """The structure id of the scenario pharmacist (professional index 1), when the directory has one."""
    professionals = directory.professionals
    return professionals[SCENARIO_PHARMACIST]["structure_id"] if len(professionals) > SCENARIO_PHARMACIST else None


def _candidates(kind: str, directory: Any) -> list[Mapping[str, Any]]:
    """Who may author a seeded ``kind``: the directory's fitting authors, minus the scenario officine's people for
    the documents that must come from other pharmacies. Computed once per directory."""
    per_kind = _CANDIDATES.setdefault(directory, {})
    if kind not in per_kind:
        fitting = directory.authors_for(kind, kind_profile(kind).author_professions)
        if kind in OTHER_OFFICINE_KINDS:
            home = scenario_officine(directory)
            fitting = [p for p in fitting if p["structure_id"] != home]
        per_kind[kind] = fitting
    return per_kind[kind]


def _kinds_for(rng: random.Random, count: int, record: Mapping[str, Any], directory: Any) -> list[str]:
    """``count`` kinds of SEEDED_KINDS, each at most once until all were drawn. A kind nobody can author (a small
    directory with a single officine) or with nothing to say (no emergency contact) is left out."""
    available = [kind for kind in SEEDED_KINDS if _candidates(kind, directory)
                 and (kind != "PERSONNES-A-PREVENIR" or record.get("emergency_contacts"))]
    kinds: list[str] = []
    while available and len(kinds) < count:
        kinds += rng.sample(available, min(len(available), count - len(kinds)))
    return kinds


def _author_for(kind: str, authors: Sequence[Mapping[str, Any]], directory: Any, rng: random.Random
                ) -> Mapping[str, Any]:
    """One of ``authors`` who would write ``kind``; else any professional of the directory who would."""
    fitting = _candidates(kind, directory)
    ids = {p["id"] for p in fitting}
    chosen = [a for a in authors if a["id"] in ids]
    pool = chosen or fitting
    if not pool:
        raise ValueError(f"no professional of the directory can author a {kind} document")
    return rng.choice(pool)


def _recent_moment(rng: random.Random, now: datetime) -> datetime:
    """A night in the month before ``now`` (Paris time): when the Assurance Maladie's feed last ran."""
    day = now.astimezone(_PARIS).date() - timedelta(days=rng.randint(1, 28))
    return datetime(day.year, day.month, day.day, rng.randint(1, 5), rng.randrange(60), 0, tzinfo=_PARIS)


def _prefetch_signing_keys(pki: Any, directory: Any) -> None:
    """Derive the signature keys of every professional of ``directory`` at once, once: issuing a key costs ~0.3 s
    the first time, and a seeding of a few hundred patients ends up using nearly every professional as an author,
    so searching the missing keys in parallel (``TestPKI.prefetch_keys``) halves a cold seeding or better. Keys
    already in memory or in the PKI's disk cache cost nothing."""
    done = _PREFETCHED.setdefault(directory, set())
    if id(pki) in done:
        return
    labels = [pki_profiles.professional_spec(pki.seed, p, directory.structures_by_id.get(p["structure_id"]), "sign",
                                             "CPE" if p.get("card_type") == "CPE" else "CPS", "valid").key_label
              for p in directory.professionals]
    labels += [pki_profiles.organisation_spec(pki.seed, directory.structures_by_id[s["structure_id"]], "SIGN",
                                              "valid").key_label for s in getattr(directory, "systems", ())]
    pki.prefetch_keys(labels)
    done.add(id(pki))


def seed_documents(runtime: Any, tx: store.UnitOfWork, workspace: str, record: Mapping[str, Any],
                   authors: Sequence[Mapping[str, Any]], directory: Any, count: int, rng: random.Random,
                   now: datetime) -> int:
    """Feed ``count`` signed CDA documents of SEEDED_KINDS into the (open) DMP of the patient ``record``, plus
    one REMB: the Assurance Maladie's données de remboursement, dated in the month before ``now`` (the workspace
    clock) and covering the 12 months before that date.

    One ITI-41-shaped submission per document (CDA + XAdES signed with the author's CPS signature certificate, the
    insurer's ORG SIGN certificate for the REMB), registered with the same mapping as TD2.1. Idempotent: a document
    whose uniqueId is already registered is left as it is (the same seed builds the same documents). Returns the
    number of the patient's seeded documents (new or already there), the REMB included.
    """
    if count <= 0:
        return 0
    ins = record["ins"]["nir"] + record["ins"]["key"]
    patient = tx.patients.get(workspace, ins)
    if patient is None or patient.dmp_state != "OPEN":
        return 0
    _prefetch_signing_keys(runtime.pki, directory)
    kinds = _kinds_for(rng, count, record, directory)
    # the moments depend on ``now``: drawn from their own generator, so that the identifiers (and the idempotence
    # of a second seeding) do not
    clock = random.Random(rng.getrandbits(64))
    moments = _document_times(clock, (record.get("traits") or {}).get("birth_date"), now, len(kinds))
    kinds.append(REMB_KIND)
    moments.append(_recent_moment(clock, now))
    seeded = 0
    for kind, moment in zip(kinds, moments):
        author = directory.insurer_system if kind == REMB_KIND else _author_for(kind, authors, directory, rng)
        structure = directory.structures_by_id[author["structure_id"]]
        cda = build_document(kind, DocumentContext(patient=dict(record), author=dict(author),
                                                   author_structure=structure, effective_time=moment,
                                                   rng=random.Random(rng.getrandbits(64))))
        metadata = xds_metadata(cda, file_path=f"{record.get('id', ins)}-{kind}.xml")
        ss_unique_id, signature_unique_id = uuid_oid(rng), uuid_oid(rng)
        ids = [f"urn:uuid:{uuid.UUID(int=rng.getrandbits(128), version=4)}" for _ in range(6)]
        submitted = moment + timedelta(minutes=clock.randint(1, 30))
        if tx.documents.by_unique_ids(workspace, [metadata["uniqueId"]]):
            seeded += 1  # seeded before: the same seed drew the same identifiers
            continue
        signer = (runtime.pki.organisation(structure, "SIGN") if kind == REMB_KIND
                  else runtime.pki.professional(author, structure, usage="sign"))
        submission = compose.signed_feeding(
            cda, signer=signer,
            submission_set_unique_id=ss_unique_id, signature_unique_id=signature_unique_id,
            source_id=SEED_SOURCE_ID, submitted=submitted, title=metadata.get("title"))
        pending = iter(ids)  # 1 submission set + 2 entries + 3 associations
        register(tx, workspace, submission, patient_ins=ins, now=submitted.astimezone(timezone.utc),
                 submitter=author["id_nat"], new_id=lambda: next(pending, None) or new_registry_id())
        seeded += 1
    return seeded
