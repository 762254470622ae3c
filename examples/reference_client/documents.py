"""The documents we feed: a CDA R2 written by our software, and its ITI-41 submission.

A real LPS writes the CDA from its own records; here the sandbox's generator (``fixtures.documents``) writes it
from the task's patient and professional. The XDS metadata are then *derived from the CDA* (never typed twice,
so they cannot disagree with it), and the submission carries the XAdES signature document, signed by the
professional over the submission set and the document's bytes (dmp.md §3.6).
"""
from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from segur_sandbox.fixtures.documents import KINDS, DocumentContext, build_document, kind_profile
from segur_sandbox.simulator.dmp import xds
from segur_sandbox.simulator.dmp.xds import compose

from .breaks import Breaks
from .dmp import SOURCE_ID, new_oid
from .task import Task, specialty


def write_document(task: Task, kind: str, breaks: Breaks) -> bytes:
    """The CDA of ``kind`` (fixtures.documents.KINDS) about the task's patient, authored by the professional."""
    author, structure = task.professional_record(), task.structure_record()
    if "medecin-metadata" in breaks:  # BREAK medecin-metadata: a GP's role and practice, not ours
        author = {**author, "profession": {"code": "10", "label": "Médecin"}, "specialty": specialty("10", "SM54")}
        structure = {**structure, "secteur_activite": {"code": "SA07"}, "practice_setting": {"code": "AMBULATOIRE"}}
    context = DocumentContext(task.patient_record(), author, structure, datetime.now(timezone.utc), random.Random())
    return build_document(kind, context)


def submission(cda: bytes, signer: Any, breaks: Breaks, *, replaces: str | None = None) -> xds.Submission:
    """The ITI-41 submission of ``cda``: metadata from the CDA, XAdES signature, RPLC to ``replaces`` (an
    entryUUID) when this is a new version of a document."""
    change = _wrong_class_code if "bad-metadata" in breaks else None  # BREAK bad-metadata
    return compose.signed_feeding(cda, signer=signer, submission_set_unique_id=new_oid(),
                                  signature_unique_id=new_oid(), source_id=SOURCE_ID,
                                  submitted=datetime.now(timezone.utc), replaces=replaces, entry_change=change)


def fed_unique_id(feeding: xds.Submission) -> str:
    return feeding.entry("Document01").unique_id  # type: ignore[union-attr,return-value]


def kind_of(entry: xds.DocumentEntry) -> str | None:
    """Which of our document kinds an entry is (by its typeCode): a replacement keeps the kind."""
    code = entry.type_code.code if entry.type_code else None
    return next((kind for kind in KINDS if kind_profile(kind).code == code), None)


def _wrong_class_code(entry: xds.DocumentEntry) -> xds.DocumentEntry:
    assert entry.class_code is not None
    wrong = "11" if entry.class_code.code != "11" else "10"  # ASS_X04: the typeCode implies one classCode
    return replace(entry, class_code=replace(entry.class_code, code=wrong))
