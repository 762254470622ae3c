"""Patients with the state of their DMP (open/closed/none, MES attachment, oppositions)."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

from sqlalchemy import Connection, and_, bindparam, func, or_, select, update

from . import models as m
from ._common import UNSET, _Unset, atomic, check_aware, upsert, utcnow
from .errors import DmpStateConflict, PatientNotFound

DmpState = Literal["OPEN", "CLOSED", "NONE"]
DMP_STATES: tuple[str, ...] = get_args(DmpState)


@dataclass(frozen=True)
class Patient:
    """``record`` is the fixtures patient record (fixtures/people.py); ``ins`` the 15-character matricule."""

    ins: str
    ins_oid: str
    record: Mapping[str, Any] = field(default_factory=dict)
    dmp_state: DmpState = "OPEN"
    closed_at: datetime | None = None
    closure_reason: str | None = None
    mes_attached: bool = True
    internet_account: bool = False
    opposition_bris_de_glace: bool = False
    opposition_acces_urgence: bool = False
    created_at: datetime | None = None  # set by the store
    updated_at: datetime | None = None  # set by the store

    @classmethod
    def from_record(cls, record: Mapping[str, Any], **state: Any) -> Patient:
        """A patient from a fixtures record (``record["ins"]`` = {nir, key, oid, …}); ``state`` sets the
        DMP fields (dmp_state, mes_attached…)."""
        ins = record["ins"]
        return cls(ins=f"{ins['nir']}{ins['key']}", ins_oid=ins["oid"], record=dict(record), **state)


# Read by every DMP call on a patient (access checks): built once, with parameters.
_GET = select(m.patients).where(m.patients.c.workspace == bindparam("workspace"), m.patients.c.ins == bindparam("ins"))


def _patient(row: Any) -> Patient:
    return Patient(
        ins=row.ins, ins_oid=row.ins_oid, record=row.record, dmp_state=row.dmp_state, closed_at=row.closed_at,
        closure_reason=row.closure_reason, mes_attached=row.mes_attached, internet_account=row.internet_account,
        opposition_bris_de_glace=row.opposition_bris_de_glace,
        opposition_acces_urgence=row.opposition_acces_urgence, created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _check(patient: Patient) -> None:
    if len(patient.ins) != 15:
        raise ValueError(f"INS {patient.ins!r}: expected 15 characters (NIR + key)")
    if patient.dmp_state not in DMP_STATES:
        raise ValueError(f"dmp_state {patient.dmp_state!r}: expected one of {DMP_STATES}")
    check_aware(patient.closed_at, "closed_at")


def _search_columns(record: Mapping[str, Any]) -> dict[str, Any]:
    traits = record.get("traits") or {}
    first_names = traits.get("first_names") or []
    return {
        "birth_name": _upper(traits.get("birth_name")),
        "used_name": _upper(record.get("used_name")),
        "first_names": _upper(" ".join(first_names)) if first_names else _upper(traits.get("first_name")),
        "birth_date": traits.get("birth_date"),
        "sex": traits.get("sex"),
    }


def _upper(value: Any) -> str | None:
    return value.upper() if isinstance(value, str) and value else None


_STATE_COLUMNS = ("ins_oid", "record", "dmp_state", "closed_at", "closure_reason", "mes_attached",
                  "internet_account", "opposition_bris_de_glace", "opposition_acces_urgence",
                  "birth_name", "used_name", "first_names", "birth_date", "sex", "updated_at")


class PatientRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def upsert(self, workspace: str, patient: Patient) -> Patient:
        """Insert or replace the patient (every field but ``created_at``)."""
        self.upsert_many(workspace, [patient])
        found = self.get(workspace, patient.ins)
        assert found is not None
        return found

    def upsert_many(self, workspace: str, patients: Iterable[Patient]) -> int:
        now = utcnow()
        rows = []
        for p in patients:
            _check(p)
            rows.append({
                "workspace": workspace, "ins": p.ins, "ins_oid": p.ins_oid, "record": dict(p.record),
                "dmp_state": p.dmp_state, "closed_at": p.closed_at, "closure_reason": p.closure_reason,
                "mes_attached": p.mes_attached, "internet_account": p.internet_account,
                "opposition_bris_de_glace": p.opposition_bris_de_glace,
                "opposition_acces_urgence": p.opposition_acces_urgence,
                "created_at": now, "updated_at": now, **_search_columns(p.record),
            })
        with atomic(self._conn, workspace):
            upsert(self._conn, m.patients, rows, ["workspace", "ins"], _STATE_COLUMNS)
        return len(rows)

    def get(self, workspace: str, ins: str) -> Patient | None:
        """By the 15-character INS alone (the OID a caller sends may differ from the stored one)."""
        row = self._conn.execute(_GET, {"workspace": workspace, "ins": ins}).first()
        return _patient(row) if row else None

    def require(self, workspace: str, ins: str) -> Patient:
        found = self.get(workspace, ins)
        if found is None:
            raise PatientNotFound(ins)
        return found

    def list(self, workspace: str, *, limit: int = 100, offset: int = 0,
             dmp_state: DmpState | None = None) -> tuple[Patient, ...]:
        t = m.patients
        query = select(t).where(t.c.workspace == workspace)
        if dmp_state is not None:
            query = query.where(t.c.dmp_state == dmp_state)
        rows = self._conn.execute(query.order_by(t.c.ins).limit(limit).offset(offset))
        return tuple(_patient(r) for r in rows)

    def count(self, workspace: str, *, dmp_state: DmpState | None = None) -> int:
        t = m.patients
        query = select(func.count()).select_from(t).where(t.c.workspace == workspace)
        if dmp_state is not None:
            query = query.where(t.c.dmp_state == dmp_state)
        return int(self._conn.execute(query).scalar_one())

    def search(self, workspace: str, *, family: str | None = None, given: str | None = None,
               birth_date: str | None = None, sex: str | None = None, limit: int = 50) -> tuple[Patient, ...]:
        """Demographic search (TD0.5): ``family`` is a case-insensitive prefix of the birth or used name,
        ``given`` a prefix of one of the first names, ``birth_date`` as in the record (YYYY-MM-DD) or its prefix."""
        t = m.patients
        query = select(t).where(t.c.workspace == workspace)
        if family:
            prefix = _like_prefix(family)
            query = query.where(or_(t.c.birth_name.like(prefix, escape="\\"),
                                    t.c.used_name.like(prefix, escape="\\")))
        if given:  # a prefix of any of the first names
            prefix = _like_prefix(given)
            query = query.where(or_(t.c.first_names.like(prefix, escape="\\"),
                                    t.c.first_names.like(f"% {prefix}", escape="\\")))
        if birth_date:
            query = query.where(t.c.birth_date.like(_like_prefix(birth_date), escape="\\"))
        if sex:
            query = query.where(t.c.sex == sex)
        rows = self._conn.execute(query.order_by(t.c.birth_name, t.c.ins).limit(limit))
        return tuple(_patient(r) for r in rows)

    def set_state(
        self, workspace: str, ins: str, *,
        dmp_state: DmpState | _Unset = UNSET,
        closed_at: datetime | None | _Unset = UNSET,
        closure_reason: str | None | _Unset = UNSET,
        mes_attached: bool | _Unset = UNSET,
        internet_account: bool | _Unset = UNSET,
        opposition_bris_de_glace: bool | _Unset = UNSET,
        opposition_acces_urgence: bool | _Unset = UNSET,
        expected_state: DmpState | None = None,
    ) -> Patient:
        """Change the given DMP fields (others stay). With ``expected_state`` the change is a compare-and-set:
        ``DmpStateConflict`` when the DMP is in another state (e.g. TD1.1 on an existing DMP)."""
        values: dict[str, Any] = {
            name: value for name, value in {
                "dmp_state": dmp_state, "closed_at": closed_at, "closure_reason": closure_reason,
                "mes_attached": mes_attached, "internet_account": internet_account,
                "opposition_bris_de_glace": opposition_bris_de_glace,
                "opposition_acces_urgence": opposition_acces_urgence,
            }.items() if value is not UNSET
        }
        if "dmp_state" in values and values["dmp_state"] not in DMP_STATES:
            raise ValueError(f"dmp_state {values['dmp_state']!r}: expected one of {DMP_STATES}")
        check_aware(values.get("closed_at"), "closed_at")
        values["updated_at"] = utcnow()
        t = m.patients
        where = [t.c.workspace == workspace, t.c.ins == ins]
        if expected_state is not None:
            where.append(t.c.dmp_state == expected_state)
        with atomic(self._conn, workspace):
            result = self._conn.execute(update(t).where(and_(*where)).values(**values))
            if not result.rowcount:
                current = self.get(workspace, ins)
                if current is None:
                    raise PatientNotFound(ins)
                raise DmpStateConflict(ins, str(expected_state), current.dmp_state)
        return self.require(workspace, ins)


def _like_prefix(value: str) -> str:
    escaped = value.upper().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped}%"
