"""Authorizations of professionals on patients' DMPs (TD0.2 status, TD0.3, TD0.4, TD1.6).

A row is VALIDE, EXPIRE or INTERDIT (a professional the patient blocked); no row is ``NON_EXISTE``. A VALIDE
row whose ``expires_at`` has passed reads as EXPIRE.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal, get_args

from sqlalchemy import Connection, Row, and_, bindparam, delete, func, or_, select, update

from . import models as m
from ._common import UNSET, _Unset, atomic, check_aware
from .documents import DELETED
from .errors import AuthorizationNotFound
from .patients import Patient, _patient

AuthorizationStatus = Literal["VALIDE", "EXPIRE", "INTERDIT", "NON_EXISTE"]
StoredStatus = Literal["VALIDE", "EXPIRE", "INTERDIT"]
ListMode = Literal["ACTIVE", "INTERDITE", "TOUTE"]
DateType = Literal["LASTAUTORIZATION", "LASTDOC"]
STORED_STATUSES: tuple[str, ...] = get_args(StoredStatus)


@dataclass(frozen=True)
class Authorization:
    patient_ins: str
    ps_id_nat: str
    status: StoredStatus  # as stored; see status_at()
    is_mt: bool  # médecin traitant DMP
    started_at: datetime
    last_action_at: datetime
    expires_at: datetime | None = None

    def status_at(self, now: datetime) -> StoredStatus:
        if self.status == "VALIDE" and self.expires_at is not None and self.expires_at < now:
            return "EXPIRE"
        return self.status


@dataclass(frozen=True)
class ProfessionalPatient:
    """One line of TD0.4 patientList: the patient (None if unknown to the store), the authorization, and
    the submission time of the patient's latest document (any author, deleted ones excluded)."""

    patient_ins: str
    patient: Patient | None
    authorization: Authorization
    last_doc_at: datetime | None


def _authorization(row: Any) -> Authorization:
    return Authorization(patient_ins=row.patient_ins, ps_id_nat=row.ps_id_nat, status=row.status, is_mt=row.is_mt,
                         started_at=row.started_at, last_action_at=row.last_action_at, expires_at=row.expires_at)


def _key(workspace: str, patient_ins: str, ps_id_nat: str) -> Any:
    t = m.authorizations
    return and_(t.c.workspace == workspace, t.c.patient_ins == patient_ins, t.c.ps_id_nat == ps_id_nat)


# A patient's row with the caller's authorization on it outer-joined (bound parameter ``ps_id_nat``), its columns
# labelled ``a_…``: built here, decoded by ``_joined_authorization``, used by ``with_patient`` and by the workspace
# read of a DMP call (``WorkspaceRepository.get_for_call``).
_JOINED_AUTHORIZATION_COLUMNS = tuple(c.label(f"a_{c.name}") for c in m.authorizations.c)


def _join_authorization(left: Any) -> Any:
    """``left`` (which holds the patients table) outer-joined with the caller's authorization on that patient."""
    p = m.patients
    return left.outerjoin(m.authorizations, _key(p.c.workspace, p.c.ins, bindparam("ps_id_nat")))


def _joined_authorization(row: Row[Any]) -> Authorization | None:
    """The authorization outer-joined into ``row`` under ``a_``-labelled columns, None when the join found none."""
    return _authorization(_Prefixed(row, "a_")) if row.a_ps_id_nat is not None else None


# Read by every DMP call on a patient (access checks): built once, with parameters.
_GET = select(m.authorizations).where(_key(bindparam("workspace"), bindparam("patient_ins"), bindparam("ps_id_nat")))
# The patient and the caller's authorization on it in one statement (one round trip less per call on PostgreSQL).
_WITH_PATIENT = (
    select(m.patients, *_JOINED_AUTHORIZATION_COLUMNS).select_from(_join_authorization(m.patients))
    .where(m.patients.c.workspace == bindparam("workspace"), m.patients.c.ins == bindparam("ins")))


def _valid_at(now: datetime) -> Any:
    t = m.authorizations
    return and_(t.c.status == "VALIDE", or_(t.c.expires_at.is_(None), t.c.expires_at >= now))


class AuthorizationRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def get(self, workspace: str, patient_ins: str, ps_id_nat: str) -> Authorization | None:
        row = self._conn.execute(_GET, {"workspace": workspace, "patient_ins": patient_ins,
                                        "ps_id_nat": ps_id_nat}).first()
        return _authorization(row) if row else None

    def with_patient(self, workspace: str, patient_ins: str, ps_id_nat: str
                     ) -> tuple[Patient | None, Authorization | None]:
        """The patient (None when unknown) and this professional's authorization on it (None when there is none),
        in one read: what every DMP call on a patient's DMP checks first."""
        row = self._conn.execute(_WITH_PATIENT, {"workspace": workspace, "ins": patient_ins,
                                                 "ps_id_nat": ps_id_nat}).first()
        if row is None:
            return None, None
        return _patient(row), _joined_authorization(row)

    def status(self, workspace: str, patient_ins: str, ps_id_nat: str, now: datetime) -> AuthorizationStatus:
        """The TD0.2 AUTORISATION code at ``now`` (the workspace clock)."""
        found = self.get(workspace, patient_ins, ps_id_nat)
        return "NON_EXISTE" if found is None else found.status_at(now)

    def set(self, workspace: str, patient_ins: str, ps_id_nat: str, *, status: StoredStatus, now: datetime,
            is_mt: bool | None = None, expires_at: datetime | None | _Unset = UNSET) -> Authorization:
        """Add or change an authorization. ``started_at`` restarts when the effective status changes (e.g. an
        expired authorization renewed); ``last_action_at`` is ``now``. ``is_mt`` unchanged when None, forced
        False unless VALIDE; ``expires_at`` unchanged when not given."""
        if status not in STORED_STATUSES:
            raise ValueError(f"status {status!r}: expected one of {STORED_STATUSES}")
        check_aware(now, "now")
        if not isinstance(expires_at, _Unset):
            check_aware(expires_at, "expires_at")
        t = m.authorizations
        with atomic(self._conn, workspace):
            row = self._conn.execute(select(t).where(_key(workspace, patient_ins, ps_id_nat))
                                     .with_for_update()).first()
            current = _authorization(row) if row else None
            new_expiry = (current.expires_at if current else None) if isinstance(expires_at, _Unset) else expires_at
            mt = (current.is_mt if current else False) if is_mt is None else is_mt
            if status != "VALIDE":
                mt = False
            if mt:
                self._clear_mt(workspace, patient_ins, except_ps=ps_id_nat)
            if current is None:
                self._conn.execute(t.insert().values(
                    workspace=workspace, patient_ins=patient_ins, ps_id_nat=ps_id_nat, status=status, is_mt=mt,
                    started_at=now, last_action_at=now, expires_at=new_expiry))
            else:
                restart = current.status_at(now) != status
                self._conn.execute(update(t).where(_key(workspace, patient_ins, ps_id_nat)).values(
                    status=status, is_mt=mt, last_action_at=now, expires_at=new_expiry,
                    started_at=now if restart else current.started_at))
        found = self.get(workspace, patient_ins, ps_id_nat)
        assert found is not None
        return found

    def remove(self, workspace: str, patient_ins: str, ps_id_nat: str) -> bool:
        """Delete the authorization (TD0.3 SUPPRESSION): the status becomes NON_EXISTE."""
        with atomic(self._conn, workspace):
            result = self._conn.execute(delete(m.authorizations).where(_key(workspace, patient_ins, ps_id_nat)))
        return bool(result.rowcount)

    def set_mt(self, workspace: str, patient_ins: str, ps_id_nat: str, is_mt: bool, *,
               now: datetime) -> Authorization:
        """Declare (or withdraw) the PS as the patient's médecin traitant DMP; a patient has at most one, so
        declaring clears the others. The PS must hold an authorization (``AuthorizationNotFound``)."""
        check_aware(now, "now")
        with atomic(self._conn, workspace):
            if is_mt:
                self._clear_mt(workspace, patient_ins, except_ps=ps_id_nat)
            result = self._conn.execute(update(m.authorizations).where(_key(workspace, patient_ins, ps_id_nat))
                                        .values(is_mt=is_mt, last_action_at=now))
            if not result.rowcount:
                raise AuthorizationNotFound(patient_ins, ps_id_nat)
        found = self.get(workspace, patient_ins, ps_id_nat)
        assert found is not None
        return found

    def _clear_mt(self, workspace: str, patient_ins: str, *, except_ps: str) -> None:
        t = m.authorizations
        self._conn.execute(update(t).where(t.c.workspace == workspace, t.c.patient_ins == patient_ins,
                                           t.c.ps_id_nat != except_ps, t.c.is_mt.is_(True)).values(is_mt=False))

    def medecin_traitant(self, workspace: str, patient_ins: str) -> Authorization | None:
        t = m.authorizations
        row = self._conn.execute(select(t).where(t.c.workspace == workspace, t.c.patient_ins == patient_ins,
                                                 t.c.is_mt.is_(True)).limit(1)).first()
        return _authorization(row) if row else None

    def list_by_patient(self, workspace: str, patient_ins: str, *, mode: ListMode = "TOUTE",
                        now: datetime) -> tuple[Authorization, ...]:
        """TD1.6: ACTIVE = valid at ``now``; INTERDITE = blocked professionals; TOUTE = every row. The
        returned ``status`` is the effective one at ``now`` (EXPIRE when the date passed)."""
        t = m.authorizations
        query = select(t).where(t.c.workspace == workspace, t.c.patient_ins == patient_ins)
        if mode == "ACTIVE":
            query = query.where(_valid_at(now))
        elif mode == "INTERDITE":
            query = query.where(t.c.status == "INTERDIT")
        elif mode != "TOUTE":
            raise ValueError(f"mode {mode!r}: expected ACTIVE, INTERDITE or TOUTE")
        rows = self._conn.execute(query.order_by(t.c.started_at, t.c.ps_id_nat))
        return tuple(_effective(_authorization(r), now) for r in rows)

    def patients_of(self, workspace: str, ps_id_nat: str, *, now: datetime, since: datetime | None = None,
                    date_type: DateType = "LASTAUTORIZATION") -> tuple[ProfessionalPatient, ...]:
        """TD0.4: the patients on whose DMP the PS is authorized (valid at ``now``). With ``since``, only those
        whose last authorization action (LASTAUTORIZATION) or latest document (LASTDOC) is at or after it."""
        if date_type not in get_args(DateType):
            raise ValueError(f"date_type {date_type!r}: expected LASTAUTORIZATION or LASTDOC")
        a, p, d = m.authorizations, m.patients, m.document_entries
        last_doc = (select(func.max(d.c.submitted_at))
                    .where(d.c.workspace == a.c.workspace, d.c.patient_ins == a.c.patient_ins,
                           d.c.status != DELETED)
                    .scalar_subquery().label("last_doc_at"))
        query = (select(a, last_doc, *[c.label(f"p_{c.name}") for c in p.c])
                 .select_from(a.outerjoin(p, and_(p.c.workspace == a.c.workspace, p.c.ins == a.c.patient_ins)))
                 .where(a.c.workspace == workspace, a.c.ps_id_nat == ps_id_nat, _valid_at(now))
                 .order_by(a.c.patient_ins))
        lines = []
        for row in self._conn.execute(query):
            authorization = _authorization(row)
            if since is not None:
                when = authorization.last_action_at if date_type == "LASTAUTORIZATION" else row.last_doc_at
                if when is None or when < since:
                    continue
            patient = None
            if row.p_ins is not None:
                patient = _patient(_Prefixed(row, "p_"))
            lines.append(ProfessionalPatient(patient_ins=authorization.patient_ins, patient=patient,
                                             authorization=authorization, last_doc_at=row.last_doc_at))
        return tuple(lines)

    def count(self, workspace: str) -> int:
        t = m.authorizations
        return int(self._conn.execute(select(func.count()).select_from(t)
                                      .where(t.c.workspace == workspace)).scalar_one())


def _effective(authorization: Authorization, now: datetime) -> Authorization:
    status = authorization.status_at(now)
    return authorization if status == authorization.status else replace(authorization, status=status)


class _Prefixed:
    """Attribute access to the ``prefix``-labelled columns of a row (a joined table)."""

    def __init__(self, row: Row[Any], prefix: str) -> None:
        self._mapping = row._mapping
        self._prefix = prefix

    def __getattr__(self, name: str) -> Any:
        return self._mapping[self._prefix + name]
