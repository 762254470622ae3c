"""Service ``habilitations``: TD0.3 setAuthorization and TD1.6 listAuthorizationByPatient; service
``patientsSpecific``: TD0.4 patientList. The patient and the professional come from the VIHF (dmp.md §1.3)."""
from __future__ import annotations

from datetime import timezone

from ..faults import access_denied
from ..messages import (list_authorizations_response, parse_list_authorizations, parse_patient_list,
                        parse_set_authorization, patient_list_response, set_authorization_response)
from ..rights import require
from ..service import Call, Reply
from .access import caller_authorization, patient_dmp


def set_authorization(call: Call) -> Reply:
    request = parse_set_authorization(call.body)
    principal = call.principal
    ins = principal.patient.ins  # the pipeline refuses a patient-level call without resource-id
    call.patient_ins = ins
    patient_dmp(call, ins)
    status, row = caller_authorization(call, ins)
    is_mt = bool(row and row.is_mt and status == "VALIDE")
    ws, ps = call.workspace, principal.name_id
    if request.action == "AJOUT":
        require("TD0.3.add", principal, is_mt=is_mt)
        if status == "INTERDIT":
            raise access_denied("Le patient a bloqué l'accès de ce professionnel à son DMP : autorisation impossible")
        context = ""
        if status == "VALIDE":
            context = "Autorisation déjà présente aucune action effectuée"
        else:
            call.tx.authorizations.set(ws, ins, ps, status="VALIDE", now=call.now, expires_at=None)
        if request.role == "MEDECIN_TRAITANT":
            if not principal.is_doctor:
                raise access_denied("Seul un médecin peut se déclarer médecin traitant DMP")
            call.tx.authorizations.set_mt(ws, ins, ps, True, now=call.now)
            context = ""
        return Reply(set_authorization_response(context=context))
    if request.role == "MEDECIN_TRAITANT":
        require("TD0.3.remove_mt", principal, is_mt=is_mt)
        call.tx.authorizations.set_mt(ws, ins, ps, False, now=call.now)
        return Reply(set_authorization_response())
    require("TD0.3.remove", principal, is_mt=is_mt)
    if status == "INTERDIT":
        raise access_denied("Le patient a bloqué ce professionnel : seul le patient peut lever ce blocage")
    removed = call.tx.authorizations.remove(ws, ins, ps)
    return Reply(set_authorization_response(context="" if removed else "Aucune autorisation à supprimer"))


def list_authorizations(call: Call) -> Reply:
    mode = parse_list_authorizations(call.body)
    ins = call.principal.patient.ins
    call.patient_ins = ins
    patient_dmp(call, ins)
    status, row = caller_authorization(call, ins)
    require("TD1.6", call.principal, is_mt=bool(row and row.is_mt and status == "VALIDE"))
    rows = []
    for authorization in call.tx.authorizations.list_by_patient(call.workspace, ins, mode=mode, now=call.now):
        professional = call.tx.directory.get_professional(call.workspace, authorization.ps_id_nat)
        record = professional.record if professional else {}
        specialty = record.get("specialty") or {}
        rows.append({
            "national_id": authorization.ps_id_nat, "first_name": record.get("given"),
            "last_name": record.get("family"), "speciality_code": specialty.get("code"),
            "speciality_label": specialty.get("displayName"), "start": authorization.started_at,
            "last_action": authorization.last_action_at,
            "mode": "INTERDITE" if authorization.status == "INTERDIT" else "ACTIVE",
            "specific_right": "MEDECIN_TRAITANT" if authorization.is_mt else None,
        })
    return Reply(list_authorizations_response(rows))


def patient_list(call: Call) -> Reply:
    query = parse_patient_list(call.body)
    require("TD0.4", call.principal, is_mt=False)
    since = query.start_date
    if since is not None and since.tzinfo is None:  # yyyyMMddHHmmss carries no zone: UTC, as the answer's dates
        since = since.replace(tzinfo=timezone.utc)
    rows = []
    for line in call.tx.authorizations.patients_of(call.workspace, call.principal.name_id, now=call.now,
                                                   since=since, date_type=query.date_type or "LASTAUTORIZATION"):
        record = line.patient.record if line.patient else {}
        traits = record.get("traits", {})
        rows.append({
            "ins": line.patient_ins, "ins_oid": line.patient.ins_oid if line.patient else None,
            "last_name": record.get("used_name") or traits.get("birth_name"),
            "patronymical_name": traits.get("birth_name"), "first_name": traits.get("first_name"),
            "civility": {"M": "M", "F": "MME"}.get(traits.get("sex", ""), None),
            "birth_date": traits.get("birth_date"), "mt": line.authorization.is_mt, "message": False,
            "last_access": line.authorization.last_action_at, "last_update": line.last_doc_at,
            "last_add": line.last_doc_at,
        })
    return Reply(patient_list_response(rows))
