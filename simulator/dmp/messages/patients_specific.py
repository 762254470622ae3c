"""Service ``patientsSpecific`` (``PatientsSpecific.wsdl``, namespace ``urn:si-dmp-patients``): TD0.4 patientList.

Request ``<patientList><startDate>yyyyMMddHHmmss</startDate><dateType>LASTAUTORIZATION|LASTDOC</dateType>
[<psOwnerId>…</psOwnerId>]</patientList>``; no patient (spec ``dmp.md`` §1.4). The WSDL makes all three children
optional, so the parser does too (``None`` when absent); a present ``startDate`` must be 14 digits and a real
date, a present ``dateType`` one of the two values.

Response ``ns1:patientListResponse/ns1:output`` with one ``ns1:patientlistData`` per row — the INS-C
(``1.2.250.1.213.1.4.2``, the row's ``ins_c`` or the sandbox stand-in of ``common.ins_c_for``) then the INS, as
in the example — and ``ns1:status`` ``DMPOk``; ``ns1:context`` only when given (the example has none).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from lxml import etree

from ...soap import namespaces as ns
from .common import (DEFAULT_INS_OID, DMP_OK, OID_INS_C, UNKNOWN_VALUE, bad_request, check_root, dmp_datetime,
                     hl7_date, ins_c_for, local_child, parse_dmp_datetime, text_of, xml_bool)

PAT = ns.DMP_PATIENTS
NSMAP = {"ns1": PAT}
PATIENT_LIST = "patientList"

DateType = Literal["LASTAUTORIZATION", "LASTDOC"]
DATE_TYPES: tuple[str, ...] = ("LASTAUTORIZATION", "LASTDOC")


def _q(local: str) -> str:
    return f"{{{PAT}}}{local}"


@dataclass(frozen=True)
class PatientListQuery:
    start_date: datetime | None
    date_type: DateType | None
    ps_owner_id: str | None = None


def parse_patient_list(body: etree._Element | None) -> PatientListQuery:
    root = check_root(body, PAT, PATIENT_LIST)
    start_text = text_of(local_child(root, "startDate", PAT))
    start = parse_dmp_datetime(start_text, "startDate") if start_text is not None else None
    date_type = text_of(local_child(root, "dateType", PAT))
    if date_type is not None and date_type not in DATE_TYPES:
        raise bad_request(UNKNOWN_VALUE, f"Valeur inconnue pour dateType : {date_type!r} "
                                         f"({' ou '.join(DATE_TYPES)} attendu)")
    return PatientListQuery(start_date=start, date_type=date_type,  # type: ignore[arg-type]
                            ps_owner_id=text_of(local_child(root, "psOwnerId", PAT)))


def patient_list_request(start_date: datetime | str | None, date_type: DateType | None = "LASTAUTORIZATION",
                         ps_owner_id: str | None = None) -> etree._Element:
    """``<patientList xmlns="urn:si-dmp-patients">`` as in the example."""
    if date_type is not None and date_type not in DATE_TYPES:
        raise ValueError(f"date_type must be one of {', '.join(DATE_TYPES)}")
    root = etree.Element(_q(PATIENT_LIST), nsmap={None: PAT})
    if start_date is not None:
        etree.SubElement(root, _q("startDate")).text = dmp_datetime(start_date)
    if date_type is not None:
        etree.SubElement(root, _q("dateType")).text = date_type
    if ps_owner_id is not None:
        etree.SubElement(root, _q("psOwnerId")).text = ps_owner_id
    return root


def _birth(value: date | str | None) -> str | None:
    return hl7_date(value)


def patient_list_response(rows: Iterable[Mapping[str, Any]], *, status: str = DMP_OK,
                          context: str | None = None, include_ins_c: bool = True) -> etree._Element:
    """Row keys: ``ins``, ``ins_oid`` (default INS-NIR test), optional ``ins_c``, ``last_name``,
    ``patronymical_name`` (opt.), ``first_name``, ``civility`` (opt.), ``birth_date`` (date, ``YYYY-MM-DD`` or
    ``YYYYMMDD``), ``mt`` and ``message`` (bool), ``last_access``, ``last_update``, ``last_add`` (datetime or
    ``yyyyMMddHHmmss``; omitted when None)."""
    root = etree.Element(_q("patientListResponse"), nsmap=NSMAP)
    output = etree.SubElement(root, _q("output"))
    for row in rows:
        item = etree.SubElement(output, _q("patientlistData"))
        ins = str(row["ins"])
        identifiers = [(row.get("ins_c") or ins_c_for(ins), OID_INS_C)] if include_ins_c else []
        identifiers.append((ins, row.get("ins_oid") or DEFAULT_INS_OID))
        for national_id, national_id_type in identifiers:
            identifier = etree.SubElement(item, _q("patientIdentifier"))
            etree.SubElement(identifier, _q("nationalId")).text = national_id
            etree.SubElement(identifier, _q("nationalIdType")).text = national_id_type
        for local, value in (("lastName", row.get("last_name")), ("patronymicalName", row.get("patronymical_name")),
                             ("firstName", row.get("first_name")), ("civility", row.get("civility")),
                             ("dateOfBirth", _birth(row.get("birth_date")))):
            if value:
                etree.SubElement(item, _q(local)).text = str(value)
        etree.SubElement(item, _q("MT")).text = xml_bool(bool(row.get("mt", False)))
        etree.SubElement(item, _q("message")).text = xml_bool(bool(row.get("message", False)))
        for local, key in (("lastAccessDate", "last_access"), ("lastUpdateDate", "last_update"),
                           ("lastAddDate", "last_add")):
            value = dmp_datetime(row.get(key))
            if value:
                etree.SubElement(item, _q(local)).text = value
    etree.SubElement(output, _q("status")).text = status
    if context:
        etree.SubElement(output, _q("context")).text = context
    return root


__all__ = ["DATE_TYPES", "PATIENT_LIST", "DateType", "PatientListQuery", "parse_patient_list",
           "patient_list_request", "patient_list_response"]
