"""Service ``patients`` (HL7v3 GDP): TD0.2 existence and authorisation test, TD1.3a demographics, TD1.3b/TD1.4
updates of DMPs not attached to Mon espace santé; service ``patientsPDQ``: TD0.5 search without INS."""
from __future__ import annotations

from ...store import Patient
from ..faults import access_denied
from ..messages import (demographics_response, parse_get_demographics, parse_pdq, parse_revise, pdq_response,
                        revise_error, revise_response)
from ..rights import require
from ..service import Call, Reply
from .access import caller_authorization


def get_demographics(call: Call) -> Reply:
    """TD0.2 (TEST_EXST) and TD1.3a (CNSLT_DATA): a missing DMP answers NF, never a fault (dmp.md §1.2)."""
    query = parse_get_demographics(call.body)
    call.expect_patient(query.patient)
    status, row = caller_authorization(call, query.patient.ins)
    is_mt = bool(row and row.is_mt and status == "VALIDE")
    require(query.transaction, call.principal, is_mt=is_mt)
    patient = call.tx.patients.get(call.workspace, query.patient.ins)
    if patient is None or patient.dmp_state == "NONE":
        return Reply(demographics_response(query, outcome="not_found", now=call.now))
    body = demographics_response(
        query, outcome="found", patient_record=patient.record, dmp_state=patient.dmp_state, authorization=status,
        is_mt=is_mt, internet_account=patient.internet_account, mes_attached=patient.mes_attached,
        oppositions={"OPPOSITION_BRIS_DE_GLACE": patient.opposition_bris_de_glace,
                     "OPPOSITION_ACCES_URGENCE": patient.opposition_acces_urgence},
        now=call.now)
    return Reply(body)


def revise(call: Call) -> Reply:
    """TD1.3b (MODIF_DATA), TD1.4 (FERM, REAC): only for DMPs not attached to Mon espace santé (footnote 10)."""
    request = parse_revise(call.body)
    call.expect_patient(request.patient)
    ws, ins = call.workspace, request.patient.ins
    patient = call.tx.patients.get(ws, ins)
    if patient is None or patient.dmp_state == "NONE":
        return Reply(revise_error(request, "SandboxDmpNotFound", "Le DMP du patient n'existe pas", now=call.now))
    if patient.mes_attached:
        raise access_denied("Action réservée aux DMP non rattachés à Mon espace santé "
                            "(note (10) de la matrice des droits PDT-INF-526 v1.8)")
    status, _ = caller_authorization(call, ins)
    if status != "VALIDE":
        raise access_denied(f"Accès refusé : le professionnel n'est pas autorisé sur ce DMP (autorisation {status})")
    if request.reason_code == "REAC":
        if patient.dmp_state != "CLOSED":
            return Reply(revise_error(request, "DMPFound", "Le DMP est déjà actif", now=call.now))
        updated = call.tx.patients.set_state(ws, ins, dmp_state="OPEN", closed_at=None, closure_reason=None)
        return Reply(revise_response(request, patient_record=updated.record, now=call.now))
    if patient.dmp_state == "CLOSED":
        return Reply(revise_error(request, "DMPClosed", "Le DMP est fermé", now=call.now))
    if request.reason_code == "FERM":
        reason = request.closure_reason.code if request.closure_reason else None
        updated = call.tx.patients.set_state(ws, ins, dmp_state="CLOSED", closed_at=call.now, closure_reason=reason)
        return Reply(revise_response(request, patient_record=updated.record, now=call.now))
    updated = call.tx.patients.upsert(ws, _with_new_names(patient, request))
    return Reply(revise_response(request, patient_record=updated.record, now=call.now))


def _with_new_names(patient: Patient, request) -> Patient:  # type: ignore[no-untyped-def]
    record = dict(patient.record)
    if request.name.family:
        record["used_name"] = request.name.family
    if request.name.given:
        record["used_first_name"] = request.name.given
    return Patient(**{**patient.__dict__, "record": record})


def pdq(call: Call) -> Reply:
    """TD0.5: patients matching the traits, for the centre de régulation only (rights matrix)."""
    query = parse_pdq(call.body)
    require("TD0.5", call.principal, is_mt=False)
    birth = query.birth_date
    birth_iso = f"{birth[:4]}-{birth[4:6]}-{birth[6:8]}" if birth and len(birth) >= 8 else None
    found = call.tx.patients.search(call.workspace, family=query.family, given=query.given, birth_date=birth_iso,
                                    sex=query.gender, limit=query.initial_quantity or 50)
    matches = [(p.record, 100, p.opposition_acces_urgence) for p in found if p.dmp_state != "NONE"]
    return Reply(pdq_response(query, matches, now=call.now))
