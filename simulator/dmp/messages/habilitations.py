"""Service ``habilitations`` (``Habilitations.wsdl``, namespace ``urn:si-dmp-habilitations``): TD0.3 and TD1.6.

The patient and the professional are not in these bodies: they come from the VIHF (``resource-id``, NameID)
(spec ``dmp.md`` §1.3, §1.7). Children are read qualified (as the examples send them) or, tolerated,
unqualified. Responses use the prefix ``ns1`` as the examples do.

Choices where the sources are silent: ``mode`` of TD1.6 and ``action`` of TD0.3 are mandatory (the kit's
generated client always sends them); TD1.6 rows may carry several ``codeSpeciality`` / ``libSpeciality`` /
``specificRight`` values (the kit's types are arrays); ``context`` is always written, empty when there is nothing
to say, as in the TD1.6 example.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from lxml import etree

from ...soap import namespaces as ns
from .common import (DMP_OK, MISSING_PARAMETER, OID_PS_IDNAT, UNKNOWN_VALUE, bad_request, check_root, dmp_datetime,
                     local_child, text_of)

HAB = ns.DMP_HABILITATIONS
NSMAP = {"ns1": HAB}

SET_AUTHORIZATION = "setAuthorization"
LIST_AUTHORIZATIONS = "listAuthorizationByPatient"

AuthorizationAction = Literal["AJOUT", "SUPPRESSION"]
AuthorizationRole = Literal["MEDECIN_TRAITANT"]
ListMode = Literal["ACTIVE", "INTERDITE", "TOUTE"]

ACTIONS: tuple[str, ...] = ("AJOUT", "SUPPRESSION")
ROLES: tuple[str, ...] = ("MEDECIN_TRAITANT",)
MODES: tuple[str, ...] = ("ACTIVE", "INTERDITE", "TOUTE")
#: Context text the DMP writes when an AJOUT finds the PS already authorized (spec §1.3, §3.8).
ALREADY_AUTHORIZED = "Autorisation déjà présente aucune action effectuée"


def _q(local: str) -> str:
    return f"{{{HAB}}}{local}"


def _enum(parent: etree._Element, local: str, allowed: Sequence[str], *, required: bool) -> str | None:
    value = text_of(local_child(parent, local, HAB))
    if value is None:
        if required:
            raise bad_request(MISSING_PARAMETER, f"Le paramètre {local} est absent de la requête "
                                                 f"{etree.QName(parent).localname} : {' ou '.join(allowed)} attendu")
        return None
    if value not in allowed:
        raise bad_request(UNKNOWN_VALUE, f"Valeur inconnue pour {local} : {value!r} ({' ou '.join(allowed)} "
                                         "attendu)")
    return value


# -- TD0.3 setAuthorization ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class SetAuthorization:
    action: AuthorizationAction
    role: AuthorizationRole | None = None


def parse_set_authorization(body: etree._Element | None) -> SetAuthorization:
    root = check_root(body, HAB, SET_AUTHORIZATION)
    action = _enum(root, "action", ACTIONS, required=True)
    role = _enum(root, "role", ROLES, required=False)
    return SetAuthorization(action=action, role=role)  # type: ignore[arg-type]


def set_authorization_request(action: AuthorizationAction, role: AuthorizationRole | None = None) -> etree._Element:
    """``<setAuthorization xmlns="urn:si-dmp-habilitations"><action>AJOUT</action>[<role>…</role>]``."""
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {', '.join(ACTIONS)}")
    if role is not None and role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    root = etree.Element(_q(SET_AUTHORIZATION), nsmap={None: HAB})
    etree.SubElement(root, _q("action")).text = action
    if role is not None:
        etree.SubElement(root, _q("role")).text = role
    return root


def set_authorization_response(status: str = DMP_OK, context: str | None = "") -> etree._Element:
    """``ns1:setAuthorizationResponse/ns1:output/{ns1:status, ns1:context}``."""
    root = etree.Element(_q("setAuthorizationResponse"), nsmap=NSMAP)
    output = etree.SubElement(root, _q("output"))
    etree.SubElement(output, _q("status")).text = status
    context_element = etree.SubElement(output, _q("context"))
    if context:
        context_element.text = context
    return root


# -- TD1.6 listAuthorizationByPatient ------------------------------------------------------------------------
def parse_list_authorizations(body: etree._Element | None) -> ListMode:
    """The ``mode`` (ACTIVE | INTERDITE | TOUTE) of a TD1.6 request."""
    root = check_root(body, HAB, LIST_AUTHORIZATIONS)
    return _enum(root, "mode", MODES, required=True)  # type: ignore[return-value]


def list_authorizations_request(mode: ListMode = "TOUTE") -> etree._Element:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}")
    root = etree.Element(_q(LIST_AUTHORIZATIONS), nsmap={None: HAB})
    etree.SubElement(root, _q("mode")).text = mode
    return root


def _values(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value if v not in (None, "")]


def _date(value: datetime | date | str | None) -> str | None:
    return dmp_datetime(value)


def list_authorizations_response(rows: Iterable[Mapping[str, Any]], *, status: str = DMP_OK,
                                 context: str | None = "") -> etree._Element:
    """``ns1:listAuthorizationByPatientResponse/ns1:output`` with one ``listOfAuthorizationByPatient`` per row.

    Row keys: ``national_id``, ``national_id_type`` (default ``1.2.250.1.71.4.2.1``), ``first_name``,
    ``last_name``, ``speciality_code`` and ``speciality_label`` (a string or a list), ``start``,
    ``last_action`` (datetime or ``yyyyMMddHHmmss``), ``mode`` (ACTIVE | INTERDITE), ``specific_right``
    (None, ``MEDECIN_TRAITANT`` or a list).
    """
    root = etree.Element(_q("listAuthorizationByPatientResponse"), nsmap=NSMAP)
    output = etree.SubElement(root, _q("output"))
    for row in rows:
        item = etree.SubElement(output, _q("listOfAuthorizationByPatient"))
        fields: list[tuple[str, list[str]]] = [
            ("nationalId", _values(row.get("national_id"))),
            ("nationalIdType", _values(row.get("national_id_type") or OID_PS_IDNAT)),
            ("firstName", _values(row.get("first_name"))),
            ("lastName", _values(row.get("last_name"))),
            ("codeSpeciality", _values(row.get("speciality_code"))),
            ("libSpeciality", _values(row.get("speciality_label"))),
            ("startOfAuthorization", _values(_date(row.get("start")))),
            ("lastActionDate", _values(_date(row.get("last_action")))),
            ("mode", _values(row.get("mode"))),
            ("specificRight", _values(row.get("specific_right"))),
        ]
        for local, values in fields:
            for value in values:
                etree.SubElement(item, _q(local)).text = value
    etree.SubElement(output, _q("status")).text = status
    context_element = etree.SubElement(output, _q("context"))
    if context:
        context_element.text = context
    return root


__all__ = [
    "ACTIONS", "ALREADY_AUTHORIZED", "LIST_AUTHORIZATIONS", "MODES", "ROLES", "SET_AUTHORIZATION",
    "AuthorizationAction", "AuthorizationRole", "ListMode", "SetAuthorization",
    "list_authorizations_request", "list_authorizations_response", "parse_list_authorizations",
    "parse_set_authorization", "set_authorization_request", "set_authorization_response",
]
