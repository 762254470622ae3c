"""Service ``patients`` (TD0.2, TD1.3a, TD1.3b, TD1.4 fermeture / réactivation) and ``patientsPDQ`` (TD0.5).

Shapes follow the official example messages (spec ``dmp.md`` §1.2, §1.5, §1.7). Where the sources are silent the
sandbox chooses, and says so here:

* **TD0.2 without DMP** (``outcome="not_found"``): ``queryResponseCode NF``, no ``subject``, the reasonCode echoed,
  ``acknowledgement AA`` (the query itself succeeded). The attentionLines are kept — AUTORISATION ``NON_EXISTE``,
  STATUT_MT ``false`` whatever the caller passes — because they belong to the transmission wrapper and a client
  that reads them unconditionally must not break; ``nf_attention_lines=False`` drops them.
* **Closed DMP**: ``patient/statusCode terminated`` (TD0.2 and TD1.3a), as TD1.4 closes a DMP with that status.
* **TD1.3a** (reasonCode ``CNSLT_DATA``) follows its own example: no attentionLine, ``deceasedInd``, ``addr``,
  ``personalRelationship`` (the record's ``legal_representatives``, else its ``emergency_contacts``),
  ``birthPlace`` with an empty ``addr``, and the OPPOSITION_BRIS_DE_GLACE / OPPOSITION_ACCES_URGENCE
  observations *instead of* COMPTE_INTERNET_OUVERT / RATTACHEMENT_ENS.
* **Names**: ``family qualifier="SP"`` is the used name (birth name when none); ``family qualifier="BR"`` is added
  when the used name differs (TD0.2/TD1.3a) and always in TD0.5, as in its example. ``prefix`` is ``M`` / ``Mme``
  from the sex. A birth date with an unknown day or month (``-00``) is sent at reduced HL7 precision.
* **Legacy INS-C** (root ``1.2.250.1.213.1.4.2``): the record's ``ins_c`` when it has one, else the deterministic
  22-digit stand-in of ``common.ins_c_for`` — not a real INS-C.
* **TD1.3b/TD1.4 errors** are ``PRPA_IN201316UV02`` inside ``PRPA_IN201314UV02_Response`` (the WSDL's choice),
  ``acknowledgement typeCode="AE"`` with one ``acknowledgementDetail typeCode="E"`` {``code code=<DMP code>``,
  ``text``}, the reasonCode echoed; the detail's code has no codeSystem (none is published).
* **TD1.4**: fermeture requires ``reasonOf/detectedIssueEvent/code`` (code system ``1.2.250.1.213.4.1.2.4``; any
  code accepted, only FERMETURE_DEMANDE_PATIENT is documented); réactivation (``REAC``, transaction TD1.4 too)
  requires the observation ``CONSENTEMENT_REACTIVATION_DMP`` = true. Response statusCode: ``terminated`` after
  FERM, ``active`` after REAC / MODIF_DATA.
* **TD0.5**: ``queryAck/queryId`` echoes the request's queryId (the example shows an unrelated id); quantities are
  ``len(matches)`` unless ``total`` says more were found; no match → ``NF`` with quantities 0.
"""
from __future__ import annotations

import copy
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from lxml import etree

from ...security.principal import Coded, PatientRef
from ...soap import namespaces as ns
from .common import (ACCEPTED_INS_OIDS, INVALID_MESSAGE, MISSING_CLOSURE_REASON, MISSING_CONSENT,
                     MISSING_PARAMETER, MISSING_PATIENT_IDENTIFIER, OID_INS_C, OID_PS_IDNAT, OID_STRUCT_IDNAT,
                     UNKNOWN_REASON_CODE, UNKNOWN_VALUE, PatientView, bad_request, check_hl7_ts, check_root,
                     hl7_date, ins_c_for, patient_ref, patient_view, text_of)
from .hl7v3 import (CS_AUTORISATION, CS_CLOSURE_REASON, CS_DMP_OBSERVATION, CS_INTERNET_ACCOUNT,
                    CS_KEYWORD_AUTORISATION, CS_KEYWORD_STATUT_MT, CS_REASON, HL7, II, INTERACTION_ID_ROOT, XSI,
                    AckDetail, Device, Transmission, add_acknowledgement, add_attention_line_bool,
                    add_attention_line_coded, add_bool_value, add_coded, add_control_act, add_custodian, add_ii,
                    add_query_ack, attr, find, findall, h, read_ii, read_transmission, request_root, response_root,
                    set_xsi_type)

GET_DEMOGRAPHICS = "PRPA_IN201307UV02"
DEMOGRAPHICS = "PRPA_IN201308UV02"
REVISE = "PRPA_IN201314UV02"
REVISED = "PRPA_IN201315UV02"
REVISE_REJECTED = "PRPA_IN201316UV02"
REVISE_RESPONSE_WRAPPER = "PRPA_IN201314UV02_Response"
PDQ_QUERY = "PRPA_IN201305UV02"
PDQ_RESPONSE = "PRPA_IN201306UV02"
PDQ_QUERY_TRIGGER = "PRPA_TE201305UV02"
PDQ_RESPONSE_TRIGGER = "PRPA_TE201306UV02"

GetReason = Literal["TEST_EXST", "CNSLT_DATA"]
ReviseReason = Literal["MODIF_DATA", "FERM", "REAC"]
Authorization = Literal["VALIDE", "EXPIRE", "INTERDIT", "NON_EXISTE"]
DmpState = Literal["OPEN", "CLOSED"]

#: reasonCode → displayName, as in the examples and the kit (code system 1.2.250.1.213.1.1.4.11).
GET_REASONS: dict[str, str] = {
    "TEST_EXST": "Test d'existence de dossier",
    "CNSLT_DATA": "Consultation des données de gestion de dossier",
}
REVISE_REASONS: dict[str, str] = {
    "MODIF_DATA": "Modification des données de gestion du dossier",
    "FERM": "Fermeture de dossier",
    "REAC": "Réactivation de dossier",
}
TRANSACTION_BY_REASON: dict[str, str] = {
    "TEST_EXST": "TD0.2", "CNSLT_DATA": "TD1.3a", "MODIF_DATA": "TD1.3b", "FERM": "TD1.4", "REAC": "TD1.4",
}
AUTHORIZATIONS: tuple[str, ...] = ("VALIDE", "EXPIRE", "INTERDIT", "NON_EXISTE")

OBSERVATION_DISPLAY: dict[str, str] = {
    "RATTACHEMENT_ENS": "information de rattachement du DMP à un ENS",
    "OPPOSITION_BRIS_DE_GLACE": "opposition au mode bris de glace",
    "OPPOSITION_ACCES_URGENCE": "opposition à l'accès au mode urgence",
    "CONSENTEMENT_REACTIVATION_DMP": "Consentement à la réactivation du DMP",
}
OPPOSITIONS: tuple[str, ...] = ("OPPOSITION_BRIS_DE_GLACE", "OPPOSITION_ACCES_URGENCE")
CLOSURE_AT_PATIENT_REQUEST = "FERMETURE_DEMANDE_PATIENT"
PERSONAL_RELATIONSHIP_CS = "2.16.840.1.113883.1.11.19579"  # as in the TD1.3a example


def reason_code_of(root: etree._Element, allowed: Mapping[str, str]) -> str:
    """The controlActProcess/reasonCode of ``root``, checked against ``allowed`` and its code system."""
    element = find(root, "controlActProcess/reasonCode")
    expected = " ou ".join(allowed)
    code = attr(element, "code")
    if not code:
        raise bad_request(UNKNOWN_REASON_CODE,
                          f"Le motif de la requête (controlActProcess/reasonCode) est absent : {expected} attendu")
    if code not in allowed:
        raise bad_request(UNKNOWN_REASON_CODE,
                          f"Le motif {code!r} (controlActProcess/reasonCode) est inconnu : {expected} attendu")
    system = attr(element, "codeSystem")
    if system and system != CS_REASON:
        raise bad_request(UNKNOWN_REASON_CODE,
                          f"Le motif {code!r} est dans le système de codes {system!r} : {CS_REASON} attendu")
    return code


def _now(now: datetime | None) -> datetime:
    return now or datetime.now()


def _sender(sender_oid: str, software_name: str) -> Device:
    return Device(II(sender_oid), software_name)


def _new_ii(root: str, given: II | str | None) -> II:
    if isinstance(given, II):
        return given
    return II(root, given or str(uuid.uuid4()))


# =============================================================================================================
# TD0.2 / TD1.3a — PRPA_IN201307UV02 → PRPA_IN201308UV02
# =============================================================================================================
@dataclass(frozen=True)
class DemographicsQuery:
    """A TD0.2 (``TEST_EXST``) or TD1.3a (``CNSLT_DATA``) request."""

    transmission: Transmission
    query_id: II
    reason_code: GetReason
    patient: PatientRef

    @property
    def message_id(self) -> II:
        return self.transmission.message_id

    @property
    def sender(self) -> Device:
        return self.transmission.sender

    @property
    def sender_device_id(self) -> str:
        assert self.transmission.sender.id is not None
        return self.transmission.sender.id.root

    @property
    def transaction(self) -> str:
        return TRANSACTION_BY_REASON[self.reason_code]


def parse_get_demographics(body: etree._Element | None, *,
                           accepted_oids: Iterable[str] = ACCEPTED_INS_OIDS) -> DemographicsQuery:
    root = check_root(body, HL7, GET_DEMOGRAPHICS)
    transmission = read_transmission(root, GET_DEMOGRAPHICS)
    reason = reason_code_of(root, GET_REASONS)
    query = find(root, "controlActProcess/queryByParameter")
    if query is None:
        raise bad_request(INVALID_MESSAGE, "La requête ne contient pas de queryByParameter")
    query_id = read_ii(find(query, "queryId"))
    if query_id is None:
        raise bad_request(INVALID_MESSAGE, "L'identifiant de la requête (queryByParameter/queryId) est absent")
    identifier = find(query, "parameterList/patientIdentifier")
    if identifier is None:
        raise bad_request(MISSING_PATIENT_IDENTIFIER,
                          "Le paramètre patientIdentifier est absent de la requête (parameterList)")
    value = find(identifier, "value")
    patient = patient_ref(attr(value, "extension"), attr(value, "root"), accepted_oids=accepted_oids,
                          where="patientIdentifier")
    return DemographicsQuery(transmission=transmission, query_id=query_id, reason_code=reason,  # type: ignore[arg-type]
                             patient=patient)


def demographics_request(patient: PatientRef, reason: GetReason = "TEST_EXST",
                         sender_oid: str = "1.2.250.1.999.1.1", *, software_name: str = "LPS",
                         message_id: II | str | None = None, query_id: II | str | None = None,
                         now: datetime | None = None) -> etree._Element:
    """A TD0.2/TD1.3a request shaped like the official example (the body element, no envelope)."""
    if reason not in GET_REASONS:
        raise ValueError(f"reason must be one of {', '.join(GET_REASONS)}")
    root = request_root(GET_DEMOGRAPHICS, sender=_sender(sender_oid, software_name),
                        message_id=_new_ii(sender_oid, message_id), now=_now(now))
    control = add_control_act(root)
    add_coded(control, "reasonCode", reason, CS_REASON, GET_REASONS[reason])
    query = h(control, "queryByParameter")
    add_ii(query, "queryId", _new_ii(sender_oid, query_id))
    h(query, "statusCode", {"code": "new"})
    parameters = h(query, "parameterList")
    h(parameters, "dataSource").set(f"{{{XSI}}}nil", "true")
    identifier = h(parameters, "patientIdentifier")
    h(identifier, "value", {"root": patient.oid, "extension": patient.ins})
    h(identifier, "semanticsText", text="Patient.id")
    return root


def _normalise_oppositions(oppositions: Mapping[str, bool] | Iterable[str] | None) -> dict[str, bool]:
    result = {code: False for code in OPPOSITIONS}
    if oppositions is None:
        return result
    if isinstance(oppositions, Mapping):
        for code, value in oppositions.items():
            result[code] = bool(value)
    else:
        for code in oppositions:
            result[code] = True
    return result


def _telecom_use(phone: str) -> str:
    digits = phone.replace(" ", "").replace(".", "")
    mobile = digits.startswith(("+336", "+337", "06", "07", "00336", "00337"))
    return "MC" if mobile else "HP"


def _tel(value: str) -> str:
    return value if value.startswith(("tel:", "fax:")) else f"tel:{value.replace(' ', '')}"


def _mailto(value: str) -> str:
    return value if value.startswith("mailto:") else f"mailto:{value}"


def _add_name(parent: etree._Element, view: PatientView, *, order: Literal["given_first", "family_first"],
              birth_name: Literal["if_differs", "always"]) -> etree._Element:
    name = h(parent, "name")
    if view.prefix:
        h(name, "prefix", text=view.prefix)
    if order == "given_first" and view.given:
        h(name, "given", text=view.given)
    h(name, "family", {"qualifier": "SP"}, text=view.family)
    if birth_name == "always" or view.birth_name_differs:
        h(name, "family", {"qualifier": "BR"}, text=view.birth_name)
    if order == "family_first" and view.given:
        h(name, "given", text=view.given)
    return name


def _add_telecoms(parent: etree._Element, email: str | None, phone: str | None) -> None:
    if email:
        h(parent, "telecom", {"value": _mailto(email)})
    if phone:
        h(parent, "telecom", [("use", _telecom_use(phone)), ("value", _tel(phone))])


def _add_addr(parent: etree._Element, address: Mapping[str, Any], *, parts: Sequence[str]) -> etree._Element | None:
    mapping = {"streetAddressLine": address.get("line") or address.get("street"),
               "additionalLocator": address.get("additional_locator"),
               "postalCode": address.get("postal_code"), "city": address.get("city"),
               "country": address.get("country_name")}
    values = [(part, mapping.get(part)) for part in parts if mapping.get(part)]
    if not values:
        return None
    addr = h(parent, "addr")
    for part, value in values:
        h(addr, part, text=str(value))
    return addr


def _add_observation(patient: etree._Element, code: str, code_system: str, value: bool, *,
                     display: bool = True, subject_of: str = "subjectOf", classes: bool = True,
                     display_name: str | None = None) -> etree._Element:
    subject = h(patient, subject_of, {"typeCode": "SBJ"} if classes else {})
    observation = h(subject, "administrativeObservation", {"classCode": "OBS", "moodCode": "EVN"} if classes else {})
    add_coded(observation, "code", code, code_system,
              display_name or (OBSERVATION_DISPLAY.get(code) if display else None))
    add_bool_value(observation, value)
    return observation


def _add_relationship(person: etree._Element, relation: Mapping[str, Any]) -> None:
    element = h(person, "personalRelationship", {"classCode": "PRS"})
    h(element, "code", {"code": str(relation.get("relation") or "GUARD"), "codeSystem": PERSONAL_RELATIONSHIP_CS})
    address = relation.get("address")
    if isinstance(address, Mapping):
        _add_addr(element, address, parts=("streetAddressLine", "additionalLocator", "postalCode", "city"))
    if relation.get("phone"):
        phone = str(relation["phone"])
        h(element, "telecom", [("use", _telecom_use(phone)), ("value", _tel(phone))])
    if relation.get("email"):
        h(element, "telecom", {"value": _mailto(str(relation["email"]))})
    holder = h(element, "relationshipHolder1", {"classCode": "PSN", "determinerCode": "INSTANCE"})
    name = h(holder, "name")
    if relation.get("prefix"):
        h(name, "prefix", text=str(relation["prefix"]))
    if relation.get("given"):
        h(name, "given", text=str(relation["given"]))
    if relation.get("family"):
        h(name, "family", text=str(relation["family"]))


def demographics_response(query: DemographicsQuery, *, outcome: Literal["found", "not_found"],
                          patient_record: Mapping[str, Any] | None = None, dmp_state: DmpState = "OPEN",
                          authorization: Authorization = "NON_EXISTE", is_mt: bool = False,
                          internet_account: bool = False, mes_attached: bool = False,
                          oppositions: Mapping[str, bool] | Iterable[str] | None = None,
                          now: datetime | None = None, response_id: str | None = None,
                          nf_attention_lines: bool = True) -> etree._Element:
    """The PRPA_IN201308UV02 answering a TD0.2 or TD1.3a ``query`` (see the module notes for the choices)."""
    if outcome not in ("found", "not_found"):
        raise ValueError("outcome must be 'found' or 'not_found'")
    if authorization not in AUTHORIZATIONS:
        raise ValueError(f"authorization must be one of {', '.join(AUTHORIZATIONS)}")
    if dmp_state not in ("OPEN", "CLOSED"):
        raise ValueError("dmp_state must be 'OPEN' or 'CLOSED'")
    found = outcome == "found"
    if found and patient_record is None:
        raise ValueError("a 'found' response needs the patient_record")
    consultation = query.reason_code == "CNSLT_DATA"
    root = response_root(DEMOGRAPHICS, query.transmission, now=_now(now), response_id=response_id)
    if not consultation and (found or nf_attention_lines):
        add_attention_line_coded(root, "AUTORISATION", CS_KEYWORD_AUTORISATION,
                                 authorization if found else "NON_EXISTE", CS_AUTORISATION)
        add_attention_line_bool(root, "STATUT_MT", CS_KEYWORD_STATUT_MT, is_mt if found else False)
    add_acknowledgement(root, "AA", query.message_id)
    control = add_control_act(root)
    add_coded(control, "reasonCode", query.reason_code, CS_REASON, GET_REASONS[query.reason_code])
    if found:
        assert patient_record is not None
        view = patient_view(patient_record)
        subject = h(control, "subject", [("contextConductionInd", "false"), ("typeCode", "SUBJ")])
        event = h(subject, "registrationEvent", {"classCode": "REG", "moodCode": "EVN"})
        h(event, "statusCode", {"code": "completed"})
        subject1 = h(event, "subject1", {"typeCode": "SBJ"})
        patient = h(subject1, "patient", {"classCode": "PAT"})
        ins_c = patient_record.get("ins_c") or ins_c_for(query.patient.ins)
        h(patient, "id", [("extension", ins_c), ("root", OID_INS_C)])
        h(patient, "id", [("extension", query.patient.ins), ("root", query.patient.oid)])
        h(patient, "statusCode", {"code": "terminated" if dmp_state == "CLOSED" else "active"})
        person = h(patient, "patientPerson", {"classCode": "PSN", "determinerCode": "INSTANCE"})
        _add_name(person, view, order="given_first", birth_name="if_differs")
        _add_telecoms(person, view.email, view.phone)
        h(person, "administrativeGenderCode", {"code": view.gender})
        if view.birth_time:
            h(person, "birthTime", {"value": view.birth_time})
        if consultation:
            h(person, "deceasedInd", {"value": "true" if view.deceased else "false"})
            _add_addr(person, view.address, parts=("streetAddressLine", "postalCode", "city"))
            for relation in view.relations:
                _add_relationship(person, relation)
            birth_place = h(person, "birthPlace", {"classCode": "BIRTHPL"})
            h(birth_place, "addr")
            for code, value in _normalise_oppositions(oppositions).items():
                _add_observation(patient, code, CS_DMP_OBSERVATION, value)
        else:
            _add_observation(patient, "COMPTE_INTERNET_OUVERT", CS_INTERNET_ACCOUNT, internet_account,
                             display=False)
            _add_observation(patient, "RATTACHEMENT_ENS", CS_DMP_OBSERVATION, mes_attached)
        add_custodian(event)
    add_query_ack(control, query.query_id, "OK" if found else "NF")
    return root


# =============================================================================================================
# TD1.3b / TD1.4 — PRPA_IN201314UV02 → PRPA_IN201314UV02_Response { PRPA_IN201315UV02 | PRPA_IN201316UV02 }
# =============================================================================================================
@dataclass(frozen=True)
class PersonName:
    prefix: str | None = None
    given: str | None = None
    family: str | None = None  # qualifier SP, or no qualifier
    birth_family: str | None = None  # qualifier BR


@dataclass(frozen=True)
class Author:
    """The ``registrationRequest/author/assignedEntity`` of a revise request (the PS and its structure)."""

    id_nat: str | None = None
    id_root: str | None = OID_PS_IDNAT
    code: str | None = None
    code_display: str | None = None
    family: str | None = None
    given: str | None = None
    structure_id: str | None = None
    structure_name: str | None = None


@dataclass(frozen=True)
class ReviseRequest:
    """A TD1.3b (``MODIF_DATA``) or TD1.4 (``FERM`` / ``REAC``) request."""

    transmission: Transmission
    reason_code: ReviseReason
    patient: PatientRef
    patient_status: str | None = None
    name: PersonName = PersonName()
    gender: str | None = None
    birth_time: str | None = None
    telecoms: tuple[tuple[str | None, str], ...] = ()  # (use, value)
    address: tuple[tuple[str, str], ...] = ()  # (part local name, text), in order
    observations: Mapping[str, bool] = field(default_factory=dict)  # OPPOSITION_*, CONSENTEMENT_*
    closure_reason: Coded | None = None
    closure_text: str | None = None
    author: Author | None = None

    @property
    def transaction(self) -> str:
        return TRANSACTION_BY_REASON[self.reason_code]

    @property
    def message_id(self) -> II:
        return self.transmission.message_id

    @property
    def family(self) -> str | None:
        return self.name.family

    @property
    def given(self) -> str | None:
        return self.name.given

    @property
    def birth_family(self) -> str | None:
        return self.name.birth_family

    @property
    def prefix(self) -> str | None:
        return self.name.prefix

    @property
    def oppositions(self) -> dict[str, bool]:
        return {code: value for code, value in self.observations.items() if code.startswith("OPPOSITION_")}

    @property
    def reactivation_consent(self) -> bool | None:
        return self.observations.get("CONSENTEMENT_REACTIVATION_DMP")


def _read_bool(element: etree._Element | None, where: str) -> bool:
    value = (attr(element, "value") or "").lower()
    if value not in ("true", "false"):
        raise bad_request(UNKNOWN_VALUE, f"La valeur booléenne {value or '(absente)'!r} ({where}) doit être true "
                                         "ou false")
    return value == "true"


def _read_name(element: etree._Element | None) -> PersonName:
    if element is None:
        return PersonName()
    family = birth_family = None
    for part in findall(element, "family"):
        qualifiers = (attr(part, "qualifier") or "").split()
        if "BR" in qualifiers:
            birth_family = birth_family or text_of(part)
        else:
            family = family or text_of(part)
    return PersonName(prefix=text_of(find(element, "prefix")), given=text_of(find(element, "given")),
                      family=family, birth_family=birth_family)


def _read_gender(element: etree._Element | None) -> str | None:
    code = attr(element, "code")
    if code is None:
        return None
    if code not in ("M", "F", "U"):
        raise bad_request(UNKNOWN_VALUE, f"Le sexe {code!r} (administrativeGenderCode) est inconnu : M, F ou U "
                                         "attendu")
    return code


def _read_birth_time(element: etree._Element | None, where: str) -> str | None:
    value = attr(element, "value")
    return check_hl7_ts(value, where) if value is not None else None


def _read_author(element: etree._Element | None) -> Author | None:
    entity = find(element, "assignedEntity") if element is not None else None
    if entity is None:
        return None
    ident = read_ii(find(entity, "id"))
    code = find(entity, "code")
    name = find(entity, "assignedPerson/name")
    organization = find(entity, "representedOrganization")
    org_id = read_ii(find(organization, "id")) if organization is not None else None
    return Author(id_nat=ident.extension if ident else None, id_root=ident.root if ident else None,
                  code=attr(code, "code"), code_display=attr(code, "displayName"),
                  family=text_of(find(name, "family")) if name is not None else None,
                  given=text_of(find(name, "given")) if name is not None else None,
                  structure_id=org_id.extension if org_id else None,
                  structure_name=text_of(find(organization, "name")) if organization is not None else None)


def parse_revise(body: etree._Element | None, *, accepted_oids: Iterable[str] = ACCEPTED_INS_OIDS) -> ReviseRequest:
    root = check_root(body, HL7, REVISE)
    transmission = read_transmission(root, REVISE)
    reason = reason_code_of(root, REVISE_REASONS)
    registration = find(root, "controlActProcess/subject/registrationRequest")
    if registration is None:
        raise bad_request(INVALID_MESSAGE, "La requête ne contient pas de registrationRequest "
                                           "(controlActProcess/subject)")
    patient_element = find(registration, "subject1/patient")
    if patient_element is None:
        raise bad_request(MISSING_PATIENT_IDENTIFIER, "Le patient (registrationRequest/subject1/patient) est absent")
    accepted = frozenset(accepted_oids)
    ids = [(attr(i, "extension"), attr(i, "root")) for i in findall(patient_element, "id")]
    ids = [pair for pair in ids if pair[0] or pair[1]]
    if not ids:
        raise bad_request(MISSING_PATIENT_IDENTIFIER, "L'identifiant du patient (patient/id) est absent de la "
                                                      "requête")
    chosen = next((pair for pair in ids if pair[1] in accepted), ids[0])
    patient = patient_ref(chosen[0], chosen[1], accepted_oids=accepted, where="patient/id")
    person = find(patient_element, "patientPerson")
    observations: dict[str, bool] = {}
    for observation in findall(patient_element, "subjectOf/administrativeObservation"):
        code = attr(find(observation, "code"), "code")
        if code:
            observations[code] = _read_bool(find(observation, "value"), code)
    telecoms: list[tuple[str | None, str]] = []
    address: list[tuple[str, str]] = []
    if person is not None:
        telecoms = [(attr(t, "use"), attr(t, "value") or "") for t in findall(person, "telecom") if attr(t, "value")]
        addr = find(person, "addr")
        if addr is not None:
            address = [(etree.QName(part).localname, text_of(part) or "") for part in addr
                       if isinstance(part.tag, str) and text_of(part)]
    closure: Coded | None = None
    closure_text: str | None = None
    issue = find(root, "controlActProcess/reasonOf/detectedIssueEvent")
    if issue is not None:
        code_element = find(issue, "code")
        code = attr(code_element, "code")
        system = attr(code_element, "codeSystem")
        if code:
            if system and system != CS_CLOSURE_REASON:
                raise bad_request(UNKNOWN_VALUE, f"Le motif de fermeture {code!r} est dans le système de codes "
                                                 f"{system!r} : {CS_CLOSURE_REASON} attendu")
            closure = Coded(code, system or CS_CLOSURE_REASON, attr(code_element, "displayName"))
        closure_text = text_of(find(issue, "text"))
    if reason == "FERM" and closure is None:
        raise bad_request(MISSING_CLOSURE_REASON, "La fermeture du DMP exige un motif "
                                                  "(reasonOf/detectedIssueEvent/code, système "
                                                  f"{CS_CLOSURE_REASON})")
    if reason == "REAC" and observations.get("CONSENTEMENT_REACTIVATION_DMP") is not True:
        raise bad_request(MISSING_CONSENT, "La réactivation du DMP exige le consentement du patient "
                                           "(observation CONSENTEMENT_REACTIVATION_DMP à true)")
    return ReviseRequest(
        transmission=transmission, reason_code=reason, patient=patient,  # type: ignore[arg-type]
        patient_status=attr(find(patient_element, "statusCode"), "code"),
        name=_read_name(find(person, "name")) if person is not None else PersonName(),
        gender=_read_gender(find(person, "administrativeGenderCode")) if person is not None else None,
        birth_time=_read_birth_time(find(person, "birthTime"), "birthTime") if person is not None else None,
        telecoms=tuple(telecoms), address=tuple(address), observations=observations, closure_reason=closure,
        closure_text=closure_text, author=_read_author(find(registration, "author")))


def revise_request(patient: PatientRef, reason: ReviseReason = "MODIF_DATA", sender_oid: str = "1.2.250.1.999.1.1",
                   *, software_name: str = "LPS", name: PersonName | None = None, gender: str | None = None,
                   birth_date: date | str | None = None, telecoms: Iterable[tuple[str | None, str]] = (),
                   address: Mapping[str, str] | None = None,
                   oppositions: Mapping[str, bool] | None = None,
                   closure_reason: str | None = CLOSURE_AT_PATIENT_REQUEST, reactivation_consent: bool | None = True,
                   author: Author | None = None, message_id: II | str | None = None,
                   now: datetime | None = None) -> etree._Element:
    """A TD1.3b / TD1.4 request shaped like the official examples (kit for REAC)."""
    if reason not in REVISE_REASONS:
        raise ValueError(f"reason must be one of {', '.join(REVISE_REASONS)}")
    moment = _now(now)
    root = request_root(REVISE, sender=_sender(sender_oid, software_name),
                        message_id=_new_ii(sender_oid, message_id), now=moment,
                        attention_nil=reason != "MODIF_DATA")
    control = add_control_act(root)
    add_coded(control, "reasonCode", reason, CS_REASON, REVISE_REASONS[reason])
    subject = h(control, "subject", [("typeCode", "SUBJ"), ("contextConductionInd", "false")])
    registration = h(subject, "registrationRequest", {"classCode": "REG", "moodCode": "RQO"})
    h(registration, "statusCode", {"code": "active"})
    subject1 = h(registration, "subject1", {"typeCode": "SBJ"})
    patient_element = h(subject1, "patient", {"classCode": "PAT"})
    h(patient_element, "id", {"root": patient.oid, "extension": patient.ins})
    h(patient_element, "statusCode", {"code": "terminated" if reason == "FERM" else "active"})
    person = h(patient_element, "patientPerson", {"classCode": "PSN", "determinerCode": "INSTANCE"})
    if name is not None:
        name_element = h(person, "name")
        if name.prefix:
            h(name_element, "prefix", text=name.prefix)
        if name.family:
            h(name_element, "family", {"qualifier": "SP"}, text=name.family)
        if name.birth_family:
            h(name_element, "family", {"qualifier": "BR"}, text=name.birth_family)
        if name.given:
            h(name_element, "given", text=name.given)
    for use, value in telecoms:
        h(person, "telecom", [("value", value), ("use", use)])
    if gender:
        h(person, "administrativeGenderCode", {"code": gender})
    if birth_date:
        h(person, "birthTime", {"value": hl7_date(birth_date) or ""})
    if address:
        _add_addr(person, address, parts=("streetAddressLine", "postalCode", "city", "country"))
    if reason == "MODIF_DATA":
        for code, value in _normalise_oppositions(oppositions).items():
            _add_observation(patient_element, code, CS_DMP_OBSERVATION, value)
    elif reason == "REAC" and reactivation_consent is not None:
        subject_of = h(patient_element, "subjectOf", {"typeCode": "SBJ"})
        observation = h(subject_of, "administrativeObservation", {"classCode": "OBS", "moodCode": "EVN"})
        add_coded(observation, "code", "CONSENTEMENT_REACTIVATION_DMP", CS_DMP_OBSERVATION,
                  OBSERVATION_DISPLAY["CONSENTEMENT_REACTIVATION_DMP"])
        h(observation, "effectiveTime", {"value": moment.strftime("%Y%m%d")})
        add_bool_value(observation, reactivation_consent)
    if author is not None:
        _add_author(registration, author)
    if reason == "FERM" and closure_reason:
        reason_of = h(control, "reasonOf", {"typeCode": "RSON"})
        issue = h(reason_of, "detectedIssueEvent", {"classCode": "ALRT", "moodCode": "EVN"})
        h(issue, "code", {"code": closure_reason, "codeSystem": CS_CLOSURE_REASON})
        h(issue, "text", text=closure_reason)
    return root


def _add_author(registration: etree._Element, author: Author) -> None:
    element = h(registration, "author", {"typeCode": "AUT"})
    entity = h(element, "assignedEntity", {"classCode": "ASSIGNED"})
    if author.id_nat:
        h(entity, "id", {"root": author.id_root or OID_PS_IDNAT, "extension": author.id_nat})
    if author.code or author.code_display:
        h(entity, "code", [("code", author.code), ("displayName", author.code_display)])
    person = h(entity, "assignedPerson", {"classCode": "PSN", "determinerCode": "INSTANCE"})
    name = h(person, "name")
    if author.family:
        h(name, "family", text=author.family)
    if author.given:
        h(name, "given", text=author.given)
    if author.structure_id or author.structure_name:
        organization = h(entity, "representedOrganization", {"classCode": "ORG", "determinerCode": "INSTANCE"})
        if author.structure_id:
            h(organization, "id", {"root": OID_STRUCT_IDNAT, "extension": author.structure_id})
        if author.structure_name:
            h(organization, "name", text=author.structure_name)


def _revise_wrapper() -> etree._Element:
    return etree.Element(f"{{{ns.DMP_GDP}}}{REVISE_RESPONSE_WRAPPER}", nsmap={None: HL7, "ns2": ns.DMP_GDP, "xsi": XSI})


def revise_response(request: ReviseRequest, *, patient_record: Mapping[str, Any] | None = None,
                    now: datetime | None = None, response_id: str | None = None) -> etree._Element:
    """``ns2:PRPA_IN201314UV02_Response`` wrapping the PRPA_IN201315UV02 that accepts ``request``.

    The patient's name is the one the request sent (the updated name), completed from ``patient_record``.
    """
    wrapper = _revise_wrapper()
    message = response_root(REVISED, request.transmission, now=_now(now), id_style="dmp_root",
                            response_id=response_id, parent=wrapper)
    add_acknowledgement(message, "AA", request.message_id)
    control = add_control_act(message)
    add_coded(control, "reasonCode", request.reason_code, CS_REASON, REVISE_REASONS[request.reason_code])
    subject = h(control, "subject", [("contextConductionInd", "false"), ("typeCode", "SUBJ")])
    event = h(subject, "registrationEvent", {"classCode": "REG", "moodCode": "EVN"})
    h(event, "statusCode", {"code": "completed"})
    subject1 = h(event, "subject1", {"typeCode": "SBJ"})
    patient = h(subject1, "patient", {"classCode": "PAT"})
    h(patient, "statusCode", {"code": "terminated" if request.reason_code == "FERM" else "active"})
    person = h(patient, "patientPerson", {"classCode": "PSN", "determinerCode": "INSTANCE"})
    view = patient_view(patient_record) if patient_record is not None else None
    prefix = request.name.prefix or (view.prefix if view else None)
    family = request.name.family or (view.family if view else None)
    given = request.name.given or (view.given if view else None)
    name = h(person, "name")
    if prefix:
        h(name, "prefix", text=prefix)
    if family:
        h(name, "family", {"qualifier": "SP"}, text=family)
    if request.name.birth_family:
        h(name, "family", {"qualifier": "BR"}, text=request.name.birth_family)
    if given:
        h(name, "given", text=given)
    add_custodian(event)
    return wrapper


def revise_error(request: ReviseRequest, code: str, text: str, *, now: datetime | None = None,
                 response_id: str | None = None) -> etree._Element:
    """``ns2:PRPA_IN201314UV02_Response`` wrapping a PRPA_IN201316UV02 that rejects ``request``.

    ``code`` is the DMP code of the acknowledgementDetail (``DMPClosed``, ``DMPFound``…), ``text`` its French text.
    """
    if not code or not text:
        raise ValueError("a revise error needs a code and a text")
    wrapper = _revise_wrapper()
    message = response_root(REVISE_REJECTED, request.transmission, now=_now(now), id_style="dmp_root",
                            response_id=response_id, parent=wrapper)
    add_acknowledgement(message, "AE", request.message_id, details=[AckDetail(code, text)])
    control = add_control_act(message)
    add_coded(control, "reasonCode", request.reason_code, CS_REASON, REVISE_REASONS[request.reason_code])
    return wrapper


# =============================================================================================================
# TD0.5 — PDQv3 PRPA_IN201305UV02 → PRPA_IN201306UV02
# =============================================================================================================
@dataclass(frozen=True)
class PdqQuery:
    transmission: Transmission
    query_id: II
    family: str | None = None
    given: str | None = None
    birth_date: str | None = None  # HL7 TS as sent (YYYYMMDD)
    gender: str | None = None
    postal_code: str | None = None
    city: str | None = None
    initial_quantity: int | None = None
    query_by_parameter: etree._Element | None = field(default=None, compare=False, repr=False)

    @property
    def message_id(self) -> II:
        return self.transmission.message_id


def parse_pdq(body: etree._Element | None) -> PdqQuery:
    root = check_root(body, HL7, PDQ_QUERY)
    transmission = read_transmission(root, PDQ_QUERY)
    trigger = attr(find(root, "controlActProcess/code"), "code")
    if trigger and trigger != PDQ_QUERY_TRIGGER:
        raise bad_request(INVALID_MESSAGE, f"Le code d'événement {trigger!r} (controlActProcess/code) ne "
                                           f"correspond pas à une recherche PDQ ({PDQ_QUERY_TRIGGER})")
    query = find(root, "controlActProcess/queryByParameter")
    if query is None:
        raise bad_request(INVALID_MESSAGE, "La requête ne contient pas de queryByParameter")
    query_id = read_ii(find(query, "queryId"))
    if query_id is None:
        raise bad_request(INVALID_MESSAGE, "L'identifiant de la requête (queryByParameter/queryId) est absent")
    initial = attr(find(query, "initialQuantity"), "value")
    initial_quantity = None
    if initial is not None:
        if not initial.isdigit():
            raise bad_request(UNKNOWN_VALUE, f"initialQuantity {initial!r} n'est pas un entier positif")
        initial_quantity = int(initial)
    parameters = find(query, "parameterList")
    family = given = birth = gender = postal_code = city = None
    if parameters is not None:
        name = find(parameters, "livingSubjectName/value")
        if name is not None:
            family = text_of(find(name, "family"))
            given = text_of(find(name, "given"))
        birth = _read_birth_time(find(parameters, "livingSubjectBirthTime/value"), "livingSubjectBirthTime")
        gender = _read_gender(find(parameters, "livingSubjectAdministrativeGender/value"))
        address = find(parameters, "patientAddress/value")
        if address is not None:
            postal_code = text_of(find(address, "postalCode"))
            city = text_of(find(address, "city"))
    if not any((family, given, birth, gender, postal_code, city)):
        raise bad_request(MISSING_PARAMETER, "La recherche de patient ne contient aucun critère "
                                             "(parameterList : livingSubjectName, livingSubjectBirthTime…)")
    return PdqQuery(transmission=transmission, query_id=query_id, family=family, given=given, birth_date=birth,
                    gender=gender, postal_code=postal_code, city=city, initial_quantity=initial_quantity,
                    query_by_parameter=copy.deepcopy(query))


def pdq_request(sender_oid: str = "1.2.250.1.999.1.1", *, family: str | None = None, given: str | None = None,
                birth_date: date | str | None = None, gender: str | None = None, postal_code: str | None = None,
                city: str | None = None, software_name: str = "LPS", message_id: II | str | None = None,
                query_id: II | str | None = None, now: datetime | None = None) -> etree._Element:
    """A TD0.5 request shaped like the official example (PDQv3 parameters in schema order)."""
    root = request_root(PDQ_QUERY, sender=_sender(sender_oid, software_name),
                        message_id=_new_ii(sender_oid, message_id), now=_now(now), attention_nil=False)
    control = add_control_act(root)
    h(control, "code", {"code": PDQ_QUERY_TRIGGER, "codeSystem": INTERACTION_ID_ROOT})
    query = h(control, "queryByParameter")
    add_ii(query, "queryId", _new_ii(sender_oid, query_id))
    h(query, "statusCode", {"code": "new"})
    parameters = h(query, "parameterList")
    if gender:
        parameter = h(parameters, "livingSubjectAdministrativeGender")
        h(parameter, "value", {"code": gender})
        h(parameter, "semanticsText", text="LivingSubject.administrativeGender")
    if birth_date:
        parameter = h(parameters, "livingSubjectBirthTime")
        h(parameter, "value", {"value": hl7_date(birth_date) or ""})
        h(parameter, "semanticsText", text="LivingSubject.birthTime")
    if family or given:
        parameter = h(parameters, "livingSubjectName")
        value = h(parameter, "value")
        if family:
            h(value, "family", text=family)
        if given:
            h(value, "given", text=given)
        h(parameter, "semanticsText", text="LivingSubject.name")
    if postal_code or city:
        parameter = h(parameters, "patientAddress")
        value = h(parameter, "value")
        if city:
            h(value, "city", text=city)
        if postal_code:
            h(value, "postalCode", text=postal_code)
        h(parameter, "semanticsText", text="Patient.addr")
    return root


PdqMatch = tuple[Mapping[str, Any], int, bool]


def pdq_response(query: PdqQuery, matches: Sequence[PdqMatch], *, now: datetime | None = None,
                 response_id: str | None = None, total: int | None = None) -> etree._Element:
    """The PRPA_IN201306UV02 for ``matches`` = [(patient_record, percent, opposition_acces_urgence)]."""
    root = response_root(PDQ_RESPONSE, query.transmission, now=_now(now), response_id=response_id)
    add_acknowledgement(root, "AA", query.message_id, style="element")
    control = add_control_act(root)
    set_xsi_type(h(control, "code", {"code": PDQ_RESPONSE_TRIGGER, "codeSystem": INTERACTION_ID_ROOT}), "CS")
    for record, percent, urgent_access_opposed in matches:
        view = patient_view(record)
        subject = h(control, "subject", [("contextConductionInd", "false"), ("typeCode", "SUBJ")])
        event = h(subject, "registrationEvent", {"classCode": "REG", "moodCode": "EVN"})
        h(event, "statusCode", {"code": "active"})
        subject1 = h(event, "subject1", {"typeCode": "SBJ"})
        patient = h(subject1, "patient", {"classCode": "PAT"})
        h(patient, "id", [("extension", view.ins), ("root", view.ins_oid)])
        h(patient, "id", [("extension", view.ins_c), ("root", OID_INS_C)])
        h(patient, "statusCode", {"code": "active"})
        person = h(patient, "patientPerson", {"classCode": "PSN", "determinerCode": "INSTANCE"})
        _add_name(person, view, order="given_first", birth_name="always")
        h(person, "administrativeGenderCode", {"code": view.gender})
        if view.birth_time:
            h(person, "birthTime", {"value": view.birth_time})
        _add_addr(person, view.address, parts=("city", "postalCode"))
        match = h(h(patient, "subjectOf1", {"typeCode": "SBJ"}), "queryMatchObservation",
                  {"classCode": "COND", "moodCode": "EVN"})
        set_xsi_type(h(match, "code", {"code": "POURCENTAGE"}), "CS")
        set_xsi_type(h(match, "value", {"value": str(int(percent))}), "INT")
        _add_observation(patient, "OPPOSITION_ACCES_URGENCE", CS_DMP_OBSERVATION, bool(urgent_access_opposed),
                         subject_of="subjectOf2", classes=False, display_name="opposition au mode Urgence")
        add_custodian(event)
    count = len(matches)
    total_count = max(total if total is not None else count, count)
    add_query_ack(control, query.query_id, "OK" if count else "NF", total=total_count, current=count,
                  remaining=total_count - count)
    if query.query_by_parameter is not None:
        control.append(copy.deepcopy(query.query_by_parameter))
    return root


__all__ = [
    "AUTHORIZATIONS", "CLOSURE_AT_PATIENT_REQUEST", "DEMOGRAPHICS", "GET_DEMOGRAPHICS", "GET_REASONS", "OPPOSITIONS",
    "PDQ_QUERY", "PDQ_RESPONSE", "REVISE", "REVISED", "REVISE_REASONS", "REVISE_REJECTED",
    "REVISE_RESPONSE_WRAPPER", "TRANSACTION_BY_REASON", "Author", "Authorization", "DemographicsQuery", "DmpState",
    "GetReason", "PdqMatch", "PdqQuery", "PersonName", "ReviseReason", "ReviseRequest", "demographics_request",
    "demographics_response", "parse_get_demographics", "parse_pdq", "parse_revise", "pdq_request", "pdq_response",
    "reason_code_of", "revise_error", "revise_request", "revise_response",
]
