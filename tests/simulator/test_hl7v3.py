"""The DMP's non-XDS messages: action catalogue, TD0.2/TD1.3a, TD1.3b/TD1.4, TD0.5, TD0.3, TD1.6, TD0.4.

Requests are built in the official examples' shape (by the modules' own request builders, and by hand-written
bodies shaped like the examples), parsed back, and the responses are checked by XPath against the spec's facts
(``dmp.md`` §1.2–§1.7, §3.8).
"""
from __future__ import annotations

import copy
import re
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from segur_sandbox.fixtures.identity import nir_key
from segur_sandbox.simulator import soap
from segur_sandbox.simulator.dmp.faults import DmpFault
from segur_sandbox.simulator.dmp.messages import (actions, common, habilitations, hl7v3, patients,
                                                  patients_specific)
from segur_sandbox.simulator.dmp.messages.patients import Author, PersonName
from segur_sandbox.simulator.security.principal import PatientRef

HL7 = "urn:hl7-org:v3"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
GDP = "asip:ci-sis:gdp:2010"
HAB = "urn:si-dmp-habilitations"
PAT = "urn:si-dmp-patients"
NS = {"h": HL7, "xsi": XSI, "gdp": GDP, "hab": HAB, "pat": PAT}

LPS_OID = "1.3.6.1.4.1.48364"
DMP_OID = "1.2.250.1.213.4.1.1.1"
INS_TEST_OID = "1.2.250.1.213.1.4.10"
INS_C_OID = "1.2.250.1.213.1.4.2"
NOW = datetime(2021, 6, 1, 12, 53, 5)
LAURENCE = PatientRef("207058575627097", INS_TEST_OID)
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

RECORD = {
    "id": "PAT-0000001",
    "ins": {"nir": "2070585756270", "key": "97", "oid": INS_TEST_OID, "type": "NIR"},
    "traits": {"birth_name": "PATB-QUATRE", "first_names": ["LAURENCE"], "first_name": "LAURENCE", "sex": "F",
               "birth_date": "1907-05-25", "birth_place": "75105"},
    "used_name": None,
    "used_first_name": "LAURENCE",
    "address": {"line": "1, rue du Chat qui pêche", "postal_code": "75005", "city": "Paris", "country": "FR"},
    "phone": "+33639981234",
    "email": "laurence@example.org",
    "emergency_contacts": [{"relation": "FTH", "relation_label": "Père", "family": "REPLEG", "given": "JEAN",
                            "phone": "+33199001234"}],
}
IRENE = {
    "ins": {"nir": "2570693296428", "key": "81", "oid": INS_TEST_OID, "type": "NIR"},
    "ins_c": "1418878867934420256667",
    "traits": {"birth_name": "DECHAINE", "first_name": "IRENE", "sex": "F", "birth_date": "1957-06-28"},
    "used_name": "ENCHAINE",
    "address": {"line": "3 rue de Lille", "postal_code": "59113", "city": "SECLIN"},
}


# -- helpers -------------------------------------------------------------------------------------------------
def xp(element: etree._Element, path: str) -> list:
    return element.xpath(path, namespaces=NS)


def one(element: etree._Element, path: str):
    found = xp(element, path)
    assert len(found) == 1, f"{path}: {len(found)} matches"
    return found[0]


def children(element: etree._Element) -> list[str]:
    return [etree.QName(child).localname for child in element if isinstance(child.tag, str)]


def reparse(element: etree._Element) -> etree._Element:
    """Serialise and parse again with the sandbox's hardened parser: what a client would receive."""
    return soap.parse_xml(etree.tostring(element, encoding="UTF-8"))


def fault_of(call, *args, **kwargs) -> DmpFault:
    with pytest.raises(DmpFault) as info:
        call(*args, **kwargs)
    fault = info.value
    assert fault.code == "Sender" and fault.lang == "fr"
    assert etree.QName(fault.subcode).namespace == "urn:segur-sandbox:dmp"
    return fault


def remove(element: etree._Element, path: str) -> etree._Element:
    element = copy.deepcopy(element)
    for node in xp(element, path):
        node.getparent().remove(node)
    return element


def set_attr(element: etree._Element, path: str, name: str, value: str) -> etree._Element:
    element = copy.deepcopy(element)
    for node in xp(element, path):
        node.set(name, value)
    return element


def td02_request(reason: str = "TEST_EXST", patient: PatientRef = LAURENCE) -> etree._Element:
    return patients.demographics_request(patient, reason, LPS_OID, software_name="LPS GIE-SV", now=NOW)


# Bodies hand-written in the official examples' shape (prefixed root, comments, tabs, xsi:nil parts).
OFFICIAL_TD02 = f"""<urn:PRPA_IN201307UV02 ITSVersion="XML_1.0" xmlns="{HL7}" xmlns:urn="{HL7}">
  <id root="1.3.6.1.4.1.48364.1.1" extension="1633a409-3d61-4869-aed8-74d92ae20272"/>
  <creationTime value="20210519174507"/>
  <interactionId root="2.16.840.1.113883.1.6" extension="PRPA_IN201307UV02"/>
  <processingCode code="D"/><processingModeCode code="T"/><acceptAckCode code="AL"/>
  <receiver typeCode="RCV"><device classCode="DEV" determinerCode="INSTANCE">
    <id root="1.2.250.1.213.4.1.1.1"/><softwareName>DMP</softwareName></device></receiver>
  <sender typeCode="SND"><device classCode="DEV" determinerCode="INSTANCE">
    <id root="1.3.6.1.4.1.48364"/><softwareName>LPS GIE-SV</softwareName></device></sender>
  <attentionLine xsi:nil="true" xmlns:xsi="{XSI}"/><urn:controlActProcess classCode="CACT" moodCode="EVN">
\t<!-- reasonCode TD0.2 -->
\t<reasonCode code="TEST_EXST" codeSystem="1.2.250.1.213.1.1.4.11" displayName="Test d'existence de dossier"/>
\t<queryByParameter>
\t  <queryId root="1.3.6.1.4.1.48364.2" extension="87d5fd8f-72b2-43bf-938c-0402bf850d25"/>
\t  <statusCode code="new"/>
\t  <parameterList>
\t    <dataSource xsi:nil="true" xmlns:xsi="{XSI}"/><patientIdentifier>
\t      <value root="1.2.250.1.213.1.4.10" extension="207058575627097"/>
\t      <semanticsText>Patient.id</semanticsText>
\t    </patientIdentifier>
\t  </parameterList>
\t</queryByParameter>
  </urn:controlActProcess>
</urn:PRPA_IN201307UV02>"""

OFFICIAL_TD14 = f"""<PRPA_IN201314UV02 ITSVersion="XML_1.0" xmlns="{HL7}" xmlns:xsi="{XSI}">
  <id root="1.3.6.1.4.1.48364.1.1" extension="1633a409-3d61-4869-aed8-74d92ae20272"/>
  <creationTime value="20210519174507"/>
  <interactionId root="2.16.840.1.113883.1.6" extension="PRPA_IN201314UV02"/>
  <processingCode code="D"/><processingModeCode code="T"/><acceptAckCode code="AL"/>
  <receiver typeCode="RCV"><device classCode="DEV" determinerCode="INSTANCE">
    <id root="1.2.250.1.213.4.1.1.1"/><softwareName>DMP</softwareName></device></receiver>
  <sender typeCode="SND"><device classCode="DEV" determinerCode="INSTANCE">
    <id root="1.3.6.1.4.1.48364"/><softwareName>LPS GIE-SV</softwareName></device></sender>
  <attentionLine xsi:nil="true"/>
  <controlActProcess classCode="CACT" moodCode="EVN">
    <reasonCode code="FERM" codeSystem="1.2.250.1.213.1.1.4.11" displayName="Fermeture de dossier"/>
    <subject typeCode="SUBJ" contextConductionInd="false">
      <registrationRequest classCode="REG" moodCode="RQO">
        <statusCode code="active"/>
        <subject1 typeCode="SBJ"><patient classCode="PAT">
          <id root="1.2.250.1.213.1.4.10" extension="207058575627097"/>
          <statusCode code="terminated"/>
          <patientPerson classCode="PSN" determinerCode="INSTANCE">
            <name><prefix>M</prefix><family qualifier="SP">patb-quatre</family><given>LAURENCE</given></name>
          </patientPerson>
        </patient></subject1>
        <author typeCode="AUT"><assignedEntity classCode="ASSIGNED">
          <id root="1.2.250.1.71.4.2.1" extension="899900063480"/>
          <code code="1.2.250.1.71.4.2.5" displayName="Qualifié en Médecine Générale (SM)"/>
          <assignedPerson classCode="PSN" determinerCode="INSTANCE"><name><family>MAX</family><given>LIBRE</given>
          </name></assignedPerson>
          <representedOrganization classCode="ORG" determinerCode="INSTANCE">
            <id root="1.2.250.1.71.4.2.2" extension="499900063480001"/><name>CABINET DR LIBRE</name>
            <contactParty classCode="CON"/>
          </representedOrganization>
        </assignedEntity></author>
      </registrationRequest>
    </subject>
    <reasonOf typeCode="RSON"><detectedIssueEvent classCode="ALRT" moodCode="EVN">
      <code code="FERMETURE_DEMANDE_PATIENT" codeSystem="1.2.250.1.213.4.1.2.4"/>
      <text>FERMETURE_DEMANDE_PATIENT</text>
    </detectedIssueEvent></reasonOf>
  </controlActProcess>
</PRPA_IN201314UV02>"""

OFFICIAL_TD05 = f"""<urn:PRPA_IN201305UV02 ITSVersion="XML_1.0" xmlns="{HL7}" xmlns:urn="{HL7}">
  <id root="1.3.6.1.4.1.48364.1.1" extension="1633a409-3d61-4869-aed8-74d92ae20272"/>
  <creationTime value="20190404100738"/>
  <interactionId root="2.16.840.1.113883.1.6" extension="PRPA_IN201305UV02"/>
  <processingCode code="D"/><processingModeCode code="T"/><acceptAckCode code="AL"/>
  <receiver typeCode="RCV"><device classCode="DEV" determinerCode="INSTANCE">
    <id root="1.2.250.1.213.4.1.1.1"/><softwareName>DMP</softwareName></device></receiver>
  <sender typeCode="SND"><device classCode="DEV" determinerCode="INSTANCE">
    <id root="1.3.6.1.4.1.48364"/><softwareName>LPS GIE-SV</softwareName></device></sender>
  <urn:controlActProcess classCode="CACT" moodCode="EVN">
    <code code="PRPA_TE201305UV02" codeSystem="2.16.840.1.113883.1.6"/>
    <queryByParameter>
      <queryId root="1.3.6.1.4.1.48364.2" extension="4cf69f11-f58c-4a49-8dd3-2cca7c342e40"/>
      <statusCode code="new"/>
      <parameterList>
        <livingSubjectName><value><family>DECHAINE</family></value>
          <semanticsText>LivingSubject.name</semanticsText></livingSubjectName>
      </parameterList>
    </queryByParameter>
  </urn:controlActProcess>
</urn:PRPA_IN201305UV02>"""


# =============================================================================================================
# Action catalogue
# =============================================================================================================
def _xds(namespace: str, local: str) -> etree._Element:
    return etree.Element(f"{{{namespace}}}{local}")


QUERY = "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"
LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
XDSB = "urn:ihe:iti:xds-b:2007"

# (service, canonical request action, body factory, transaction, response action)
OPERATIONS = [
    ("patients", "urn:hl7-org:v3:PRPA_IN201307UV02", lambda: td02_request("TEST_EXST"), "TD0.2",
     "urn:hl7-org:v3:PRPA_IN201308UV02"),
    ("patients", "urn:hl7-org:v3:PRPA_IN201307UV02", lambda: td02_request("CNSLT_DATA"), "TD1.3a",
     "urn:hl7-org:v3:PRPA_IN201308UV02"),
    ("patients", "urn:hl7-org:v3:PRPA_IN201314UV02", lambda: patients.revise_request(LAURENCE, "MODIF_DATA"),
     "TD1.3b", "urn:hl7-org:v3:PRPA_IN201314ResponseUV02"),
    ("patients", "urn:hl7-org:v3:PRPA_IN201314UV02", lambda: patients.revise_request(LAURENCE, "FERM"), "TD1.4",
     "urn:hl7-org:v3:PRPA_IN201314ResponseUV02"),
    ("patients", "urn:hl7-org:v3:PRPA_IN201314UV02", lambda: patients.revise_request(LAURENCE, "REAC"), "TD1.4",
     "urn:hl7-org:v3:PRPA_IN201314ResponseUV02"),
    ("patientsPDQ", "urn:hl7-org:v3:PRPA_IN201305UV02", lambda: patients.pdq_request(LPS_OID, family="DECHAINE"),
     "TD0.5", "urn:hl7-org:v3:PRPA_IN201306UV02"),
    ("habilitations", "urn:si-dmp-habilitations:HabilitationsEndPoint:setAuthorization",
     lambda: habilitations.set_authorization_request("AJOUT"), "TD0.3",
     "urn:si-dmp-habilitations:HabilitationsEndPoint:setAuthorizationResponse"),
    ("habilitations", "urn:si-dmp-habilitations:HabilitationsEndPoint:listAuthorizationByPatient",
     lambda: habilitations.list_authorizations_request("TOUTE"), "TD1.6",
     "urn:si-dmp-habilitations:HabilitationsEndPoint:listAuthorizationByPatientResponse"),
    ("patientsSpecific", "urn:si-dmp-patients:PatientSpecificEndPoint:patientList",
     lambda: patients_specific.patient_list_request("20101010202010", "LASTDOC"), "TD0.4",
     "urn:si-dmp-patients:PatientSpecificEndPoint:patientListResponse"),
    ("registry", "urn:ihe:iti:2007:RegistryStoredQuery", lambda: _xds(QUERY, "AdhocQueryRequest"), "TD3.1",
     "urn:ihe:iti:2007:RegistryStoredQueryResponse"),
    ("registry", "urn:ihe:iti:2010:UpdateDocumentSet", lambda: _xds(LCM, "SubmitObjectsRequest"), "TD3.3",
     "urn:ihe:iti:2010:UpdateDocumentSet-Response"),
    ("repository", "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b",
     lambda: _xds(XDSB, "ProvideAndRegisterDocumentSetRequest"), "TD2.1",
     "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-bResponse"),
    ("repository", "urn:ihe:iti:2007:RetrieveDocumentSet", lambda: _xds(XDSB, "RetrieveDocumentSetRequest"),
     "TD3.2", "urn:ihe:iti:2007:RetrieveDocumentSetResponse"),
]
IDS = [f"{op[3]}-{i}" for i, op in enumerate(OPERATIONS)]


@pytest.mark.parametrize("service, action, body, transaction, response", OPERATIONS, ids=IDS)
def test_every_transaction_is_identified_from_its_action(service, action, body, transaction, response):
    operation = actions.identify(service, action, body())
    assert operation == actions.Operation(transaction, action, response)


@pytest.mark.parametrize("service, action, body, transaction, response", OPERATIONS, ids=IDS)
@pytest.mark.parametrize("missing", [None, "", "   "])
def test_every_transaction_is_identified_from_its_body_root_when_the_action_is_missing(
        service, action, body, transaction, response, missing):
    operation = actions.identify(service, missing, body())
    assert operation == actions.Operation(transaction, action, response)


@pytest.mark.parametrize("service, alternative, body, transaction, response", [
    ("patients", "urn:hl7-org:v3:PRPA_IN201308UV02", lambda: td02_request("TEST_EXST"), "TD0.2",
     "urn:hl7-org:v3:PRPA_IN201308UV02"),
    ("patients", "urn:hl7-org:v3:PRPA_IN201308UV02", lambda: td02_request("CNSLT_DATA"), "TD1.3a",
     "urn:hl7-org:v3:PRPA_IN201308UV02"),
    ("habilitations", "urn:hl7-org:v3:setAuthorization", lambda: habilitations.set_authorization_request("AJOUT"),
     "TD0.3", "urn:si-dmp-habilitations:HabilitationsEndPoint:setAuthorizationResponse"),
    ("habilitations", "urn:hl7-org:v3:listAuthorizationByPatient",
     lambda: habilitations.list_authorizations_request("ACTIVE"), "TD1.6",
     "urn:si-dmp-habilitations:HabilitationsEndPoint:listAuthorizationByPatientResponse"),
])
def test_alternative_actions_are_accepted_and_answered_with_the_examples_action(service, alternative, body,
                                                                                 transaction, response):
    operation = actions.identify(service, alternative, body())
    assert operation.transaction == transaction
    assert operation.request_action == alternative
    assert operation.response_action == response


@pytest.mark.parametrize("service", ["patients", "/si-dmp-server/v2/services/patients",
                                     "https://dmp.sandbox.test/si-dmp-server/v2/services/patients/"])
def test_the_service_may_be_given_as_a_name_a_path_or_a_url(service):
    assert actions.identify(service, None, td02_request()).transaction == "TD0.2"


def test_an_action_of_no_service_is_refused_with_the_service_named():
    fault = fault_of(actions.identify, "patients", "urn:hl7-org:v3:PRPA_IN201399UV02", td02_request())
    assert fault.dmp_code == common.UNKNOWN_ACTION
    assert "Action inconnue pour le service patients" in fault.reason
    assert "PRPA_IN201399UV02" in fault.reason


def test_an_action_of_another_service_is_refused_with_a_hint():
    fault = fault_of(actions.identify, "patients", "urn:ihe:iti:2007:RegistryStoredQuery", None)
    assert fault.dmp_code == common.UNKNOWN_ACTION
    assert "relève du service registry" in fault.reason


def test_the_action_wins_over_the_body_but_a_contradiction_is_refused():
    fault = fault_of(actions.identify, "habilitations",
                     "urn:si-dmp-habilitations:HabilitationsEndPoint:setAuthorization",
                     habilitations.list_authorizations_request("TOUTE"))
    assert fault.dmp_code == common.ACTION_BODY_MISMATCH


def test_no_action_and_an_unknown_body_is_refused():
    assert fault_of(actions.identify, "patients", None,
                    patients.pdq_request(LPS_OID, family="X")).dmp_code == common.UNKNOWN_OPERATION
    assert fault_of(actions.identify, "registry", None, None).dmp_code == common.UNKNOWN_OPERATION


def test_an_unknown_service_is_refused():
    assert fault_of(actions.identify, "patientCertif", None, td02_request()).dmp_code == common.UNKNOWN_SERVICE


@pytest.mark.parametrize("reason", ["SUPPR", None])
def test_a_shared_operation_without_a_known_reason_code_names_no_transaction(reason):
    body = td02_request()
    if reason is None:
        body = remove(body, "//h:reasonCode")
    else:
        body = set_attr(body, "//h:reasonCode", "code", reason)
    fault = fault_of(actions.identify, "patients", "urn:hl7-org:v3:PRPA_IN201307UV02", body)
    assert fault.dmp_code == common.UNKNOWN_REASON_CODE


def test_the_catalogue_names_each_transaction_once_and_its_response_action():
    transactions = [t for entry in actions.CATALOGUE for t in entry.transactions]
    assert len(transactions) == len(set(transactions))
    assert set(transactions) == {"TD0.2", "TD1.3a", "TD1.3b", "TD1.4", "TD0.5", "TD0.3", "TD1.6", "TD0.4",
                                 "TD3.1", "TD3.3", "TD2.1", "TD3.2"}
    assert actions.response_action("TD1.4") == "urn:hl7-org:v3:PRPA_IN201314ResponseUV02"


# =============================================================================================================
# TD0.2 / TD1.3a
# =============================================================================================================
def test_td02_request_round_trips():
    request = td02_request()
    assert etree.QName(request) == etree.QName(HL7, "PRPA_IN201307UV02")
    assert children(request) == ["id", "creationTime", "interactionId", "processingCode", "processingModeCode",
                                 "acceptAckCode", "receiver", "sender", "attentionLine", "controlActProcess"]
    assert one(request, "h:receiver/h:device/h:id/@root") == DMP_OID
    query = patients.parse_get_demographics(reparse(request))
    assert query.reason_code == "TEST_EXST" and query.transaction == "TD0.2"
    assert query.patient == LAURENCE
    assert query.sender_device_id == LPS_OID
    assert query.message_id == hl7v3.II(LPS_OID, one(request, "h:id/@extension"))
    assert query.query_id.extension == one(request, "//h:queryId/@extension")
    assert query.transmission.creation_time == "20210601125305"


def test_td02_request_shaped_like_the_official_example_is_parsed():
    query = patients.parse_get_demographics(soap.parse_xml(OFFICIAL_TD02.encode()))
    assert query.patient == LAURENCE
    assert query.message_id == hl7v3.II("1.3.6.1.4.1.48364.1.1", "1633a409-3d61-4869-aed8-74d92ae20272")
    assert query.query_id == hl7v3.II("1.3.6.1.4.1.48364.2", "87d5fd8f-72b2-43bf-938c-0402bf850d25")
    assert query.sender == hl7v3.Device(hl7v3.II(LPS_OID), "LPS GIE-SV")


@pytest.mark.parametrize("authorization", ["VALIDE", "EXPIRE", "INTERDIT", "NON_EXISTE"])
@pytest.mark.parametrize("is_mt", [True, False])
def test_td02_response_carries_the_authorization_and_mt_status_in_attention_lines(authorization, is_mt):
    query = patients.parse_get_demographics(td02_request())
    response = reparse(patients.demographics_response(query, outcome="found", patient_record=RECORD,
                                                      authorization=authorization, is_mt=is_mt, now=NOW))
    lines = xp(response, "h:attentionLine")
    assert len(lines) == 2
    assert one(lines[0], "h:keyWordText/@code") == "AUTORISATION"
    assert one(lines[0], "h:keyWordText/@codeSystem") == "1.2.250.1.213.4.1.2.6.1"
    assert one(lines[0], "h:value/@code") == authorization
    assert one(lines[0], "h:value/@codeSystem") == "1.2.250.1.213.4.1.2.6.2"
    assert one(lines[0], "h:value/@xsi:type") == "CV"
    assert one(lines[1], "h:keyWordText/@code") == "STATUT_MT"
    assert one(lines[1], "h:keyWordText/@codeSystem") == "1.2.250.1.213.4.1.2.6.3"
    assert one(lines[1], "h:value/@xsi:type") == "BL"
    assert one(lines[1], "h:value/@value") == ("true" if is_mt else "false")


def test_td02_response_has_the_examples_wrapper_acknowledgement_and_query_ack():
    request = td02_request()
    query = patients.parse_get_demographics(request)
    response = reparse(patients.demographics_response(query, outcome="found", patient_record=RECORD,
                                                      authorization="VALIDE", is_mt=True, internet_account=True,
                                                      mes_attached=True, now=NOW))
    assert etree.QName(response) == etree.QName(HL7, "PRPA_IN201308UV02")
    assert response.get("ITSVersion") == "XML_1.0"
    assert children(response) == ["id", "creationTime", "interactionId", "processingCode", "processingModeCode",
                                  "acceptAckCode", "receiver", "sender", "attentionLine", "attentionLine",
                                  "acknowledgement", "controlActProcess"]
    assert UUID_RE.match(one(response, "h:id/@root")) and not xp(response, "h:id/@extension")
    assert one(response, "h:creationTime/@value") == "20210601125305"
    assert one(response, "h:interactionId/@extension") == "PRPA_IN201308UV02"
    assert one(response, "h:interactionId/@root") == "2.16.840.1.113883.1.6"
    assert one(response, "h:processingCode/@code") == "P"
    assert one(response, "h:acceptAckCode/@code") == "NE"
    assert one(response, "h:receiver/h:device/h:id/@root") == LPS_OID
    assert one(response, "h:receiver/h:device/h:softwareName/text()") == "LPS GIE-SV"
    assert one(response, "h:sender/h:device/h:id/@root") == DMP_OID
    assert one(response, "h:acknowledgement/@typeCode") == "AA"
    assert one(response, "h:acknowledgement/h:targetMessage/h:id/@root") == LPS_OID
    assert one(response, "h:acknowledgement/h:targetMessage/h:id/@extension") == one(request, "h:id/@extension")
    cap = one(response, "h:controlActProcess")
    assert one(cap, "h:reasonCode/@code") == "TEST_EXST"
    assert one(cap, "h:reasonCode/@codeSystem") == "1.2.250.1.213.1.1.4.11"
    assert one(cap, "h:queryAck/h:queryId/@extension") == one(request, "//h:queryId/@extension")
    assert one(cap, "h:queryAck/h:queryResponseCode/@code") == "OK"
    event = one(cap, "h:subject/h:registrationEvent")
    assert one(event, "h:statusCode/@code") == "completed"
    assert one(event, "h:custodian/h:assignedEntity/h:id/@root") == DMP_OID
    patient = one(event, "h:subject1/h:patient")
    assert [(i.get("root"), i.get("extension")) for i in xp(patient, "h:id")] == [
        (INS_C_OID, common.ins_c_for("207058575627097")), (INS_TEST_OID, "207058575627097")]
    assert re.fullmatch(r"\d{22}", one(patient, "h:id[@root='1.2.250.1.213.1.4.2']/@extension"))
    assert one(patient, "h:statusCode/@code") == "active"
    person = one(patient, "h:patientPerson")
    assert one(person, "h:name/h:family[@qualifier='SP']/text()") == "PATB-QUATRE"
    assert not xp(person, "h:name/h:family[@qualifier='BR']")
    assert one(person, "h:name/h:given/text()") == "LAURENCE"
    assert one(person, "h:name/h:prefix/text()") == "Mme"
    assert one(person, "h:administrativeGenderCode/@code") == "F"
    assert one(person, "h:birthTime/@value") == "19070525"
    assert xp(person, "h:telecom/@value") == ["mailto:laurence@example.org", "tel:+33639981234"]
    assert one(person, "h:telecom[starts-with(@value, 'tel:')]/@use") == "MC"
    observations = {one(o, "h:code/@code"): (one(o, "h:code/@codeSystem"), one(o, "h:value/@value"))
                    for o in xp(patient, "h:subjectOf/h:administrativeObservation")}
    assert observations == {"COMPTE_INTERNET_OUVERT": ("1.2.250.1.213.4.1.2.9", "true"),
                            "RATTACHEMENT_ENS": ("1.2.250.1.213.4.1.2.3", "true")}
    assert not xp(person, "h:addr") and not xp(person, "h:personalRelationship")


def test_td02_response_for_a_closed_dmp_is_terminated():
    query = patients.parse_get_demographics(td02_request())
    response = patients.demographics_response(query, outcome="found", patient_record=RECORD, dmp_state="CLOSED",
                                              now=NOW)
    assert one(response, "//h:patient/h:statusCode/@code") == "terminated"
    assert one(response, "//h:queryResponseCode/@code") == "OK"


def test_td02_response_without_dmp_is_nf_without_subject():
    query = patients.parse_get_demographics(td02_request())
    response = reparse(patients.demographics_response(query, outcome="not_found", authorization="VALIDE",
                                                      is_mt=True, now=NOW))
    assert one(response, "h:controlActProcess/h:queryAck/h:queryResponseCode/@code") == "NF"
    assert not xp(response, "h:controlActProcess/h:subject")
    assert one(response, "h:acknowledgement/@typeCode") == "AA"
    assert one(response, "h:controlActProcess/h:reasonCode/@code") == "TEST_EXST"
    # No DMP, no authorization: whatever the caller passed.
    assert one(response, "h:attentionLine[h:keyWordText/@code='AUTORISATION']/h:value/@code") == "NON_EXISTE"
    assert one(response, "h:attentionLine[h:keyWordText/@code='STATUT_MT']/h:value/@value") == "false"
    bare = patients.demographics_response(query, outcome="not_found", now=NOW, nf_attention_lines=False)
    assert not xp(bare, "h:attentionLine")


def test_td13a_response_adds_the_administrative_data_as_its_example():
    request = td02_request("CNSLT_DATA")
    query = patients.parse_get_demographics(request)
    assert query.transaction == "TD1.3a"
    record = {**RECORD, "used_name": "MARTIN", "deceased": False}
    response = reparse(patients.demographics_response(
        query, outcome="found", patient_record=record, authorization="VALIDE",
        oppositions={"OPPOSITION_BRIS_DE_GLACE": True}, now=NOW))
    assert not xp(response, "h:attentionLine")
    assert one(response, "h:controlActProcess/h:reasonCode/@code") == "CNSLT_DATA"
    person = one(response, "//h:patient/h:patientPerson")
    assert children(person) == ["name", "telecom", "telecom", "administrativeGenderCode", "birthTime",
                                "deceasedInd", "addr", "personalRelationship", "birthPlace"]
    assert one(person, "h:name/h:family[@qualifier='SP']/text()") == "MARTIN"
    assert one(person, "h:name/h:family[@qualifier='BR']/text()") == "PATB-QUATRE"
    assert one(person, "h:deceasedInd/@value") == "false"
    assert one(person, "h:addr/h:postalCode/text()") == "75005"
    assert one(person, "h:addr/h:city/text()") == "Paris"
    relation = one(person, "h:personalRelationship")
    assert one(relation, "h:code/@code") == "FTH"
    assert one(relation, "h:relationshipHolder1/h:name/h:family/text()") == "REPLEG"
    assert one(relation, "h:telecom/@use") == "HP"
    observations = {one(o, "h:code/@code"): one(o, "h:value/@value")
                    for o in xp(response, "//h:patient/h:subjectOf/h:administrativeObservation")}
    assert observations == {"OPPOSITION_BRIS_DE_GLACE": "true", "OPPOSITION_ACCES_URGENCE": "false"}
    assert set(xp(response, "//h:administrativeObservation/h:code/@codeSystem")) == {"1.2.250.1.213.4.1.2.3"}


def test_the_ins_c_stand_in_is_deterministic_and_a_records_own_ins_c_wins():
    assert common.ins_c_for("207058575627097") == common.ins_c_for("207058575627097")
    assert common.ins_c_for("207058575627097") != common.ins_c_for("153078987658513")
    query = patients.parse_get_demographics(td02_request())
    response = patients.demographics_response(query, outcome="found", now=NOW,
                                              patient_record={**RECORD, "ins_c": "1197854176879056415520"})
    assert one(response, f"//h:patient/h:id[@root='{INS_C_OID}']/@extension") == "1197854176879056415520"


@given(st.integers(min_value=1, max_value=2), st.integers(min_value=0, max_value=99),
       st.integers(min_value=1, max_value=12), st.integers(min_value=1, max_value=95),
       st.integers(min_value=1, max_value=990), st.integers(min_value=1, max_value=999))
@settings(max_examples=60, deadline=None)
def test_any_well_formed_ins_round_trips_and_gets_a_22_digit_ins_c(sex, year, month, dept, commune, order):
    nir = f"{sex}{year:02d}{month:02d}{dept:02d}{commune:03d}{order:03d}"
    patient = PatientRef(nir + nir_key(nir), INS_TEST_OID)
    assert patients.parse_get_demographics(td02_request(patient=patient)).patient == patient
    assert re.fullmatch(r"\d{22}", common.ins_c_for(patient.ins))


# -- TD0.2 bad requests --------------------------------------------------------------------------------------
TD02_BAD = [
    ("no patientIdentifier", lambda r: remove(r, "//h:patientIdentifier"), common.MISSING_PATIENT_IDENTIFIER,
     "patientIdentifier"),
    ("empty patientIdentifier", lambda r: remove(r, "//h:patientIdentifier/h:value"),
     common.MISSING_PATIENT_IDENTIFIER, "absent"),
    ("unknown OID root", lambda r: set_attr(r, "//h:patientIdentifier/h:value", "root", "1.2.3.4"),
     common.UNKNOWN_IDENTIFIER_ROOT, "1.2.3.4"),
    ("legacy INS-C root", lambda r: set_attr(r, "//h:patientIdentifier/h:value", "root", INS_C_OID),
     common.UNKNOWN_IDENTIFIER_ROOT, "INS-C"),
    ("wrong INS key", lambda r: set_attr(r, "//h:patientIdentifier/h:value", "extension", "207058575627098"),
     common.INVALID_PATIENT_IDENTIFIER, "clé"),
    ("INS too short", lambda r: set_attr(r, "//h:patientIdentifier/h:value", "extension", "2070585756270"),
     common.INVALID_PATIENT_IDENTIFIER, "15 caractères"),
    ("unknown reasonCode", lambda r: set_attr(r, "//h:reasonCode", "code", "CREA_RD"), common.UNKNOWN_REASON_CODE,
     "CREA_RD"),
    ("reasonCode in another code system", lambda r: set_attr(r, "//h:reasonCode", "codeSystem", "1.2.3"),
     common.UNKNOWN_REASON_CODE, "1.2.250.1.213.1.1.4.11"),
    ("no reasonCode", lambda r: remove(r, "//h:reasonCode"), common.UNKNOWN_REASON_CODE, "absent"),
    ("bad creationTime", lambda r: set_attr(r, "h:creationTime", "value", "2021-06-01T12:53:05"),
     common.INVALID_DATE, "creationTime"),
    ("impossible creationTime", lambda r: set_attr(r, "h:creationTime", "value", "20210231125305"),
     common.INVALID_DATE, "n'existe pas"),
    ("no queryId", lambda r: remove(r, "//h:queryId"), common.INVALID_MESSAGE, "queryId"),
    ("no message id", lambda r: remove(r, "h:id"), common.INVALID_MESSAGE, "id"),
    ("no sender device id", lambda r: remove(r, "h:sender/h:device/h:id"), common.INVALID_MESSAGE, "sender"),
    ("wrong interactionId", lambda r: set_attr(r, "h:interactionId", "extension", "PRPA_IN201305UV02"),
     common.INVALID_MESSAGE, "interactionId"),
]


@pytest.mark.parametrize("mutate, code, words", [case[1:] for case in TD02_BAD], ids=[c[0] for c in TD02_BAD])
def test_td02_bad_requests_are_refused_with_their_fault(mutate, code, words):
    fault = fault_of(patients.parse_get_demographics, mutate(td02_request()))
    assert fault.dmp_code == code
    assert words in fault.reason


def test_td02_parser_refuses_another_message_and_an_empty_body():
    assert fault_of(patients.parse_get_demographics,
                    patients.pdq_request(LPS_OID, family="X")).dmp_code == common.INVALID_MESSAGE
    assert fault_of(patients.parse_get_demographics, None).dmp_code == common.INVALID_MESSAGE


def test_accepted_authorities_are_configurable():
    prod = PatientRef("207058575627097", "1.2.250.1.213.1.4.8")
    assert patients.parse_get_demographics(td02_request(patient=prod)).patient == prod
    fault = fault_of(patients.parse_get_demographics, td02_request(patient=prod), accepted_oids={INS_TEST_OID})
    assert fault.dmp_code == common.UNKNOWN_IDENTIFIER_ROOT


# =============================================================================================================
# TD1.3b / TD1.4
# =============================================================================================================
AUTHOR = Author("899900063480", family="LIBRE", given="MAX", structure_id="499900063480001",
                structure_name="CABINET DR LIBRE")


def revise(reason: str, **kwargs) -> etree._Element:
    kwargs.setdefault("name", PersonName("M", "LAURENCE", "patb-quatre"))
    return patients.revise_request(LAURENCE, reason, LPS_OID, author=AUTHOR, now=NOW, **kwargs)


def test_td13b_request_round_trips_with_the_new_traits():
    request = revise("MODIF_DATA", gender="F", birth_date="1979-03-28",
                     telecoms=[("HP", "tel:0123456789"), (None, "mailto:d@example.org")],
                     address={"line": "20 rue des edelweiss", "postal_code": "75005", "city": "Paris"},
                     oppositions={"OPPOSITION_ACCES_URGENCE": True})
    parsed = patients.parse_revise(reparse(request))
    assert parsed.transaction == "TD1.3b" and parsed.reason_code == "MODIF_DATA"
    assert parsed.patient == LAURENCE
    assert (parsed.prefix, parsed.family, parsed.given) == ("M", "patb-quatre", "LAURENCE")
    assert parsed.gender == "F" and parsed.birth_time == "19790328"
    assert parsed.telecoms == (("HP", "tel:0123456789"), (None, "mailto:d@example.org"))
    assert ("postalCode", "75005") in parsed.address
    assert parsed.oppositions == {"OPPOSITION_BRIS_DE_GLACE": False, "OPPOSITION_ACCES_URGENCE": True}
    assert parsed.author == Author("899900063480", "1.2.250.1.71.4.2.1", None, None, "LIBRE", "MAX",
                                   "499900063480001", "CABINET DR LIBRE")
    assert parsed.closure_reason is None


def test_td14_request_shaped_like_the_official_example_is_parsed():
    parsed = patients.parse_revise(soap.parse_xml(OFFICIAL_TD14.encode()))
    assert parsed.transaction == "TD1.4" and parsed.reason_code == "FERM"
    assert parsed.patient == LAURENCE and parsed.patient_status == "terminated"
    assert parsed.closure_reason.code == "FERMETURE_DEMANDE_PATIENT"
    assert parsed.closure_reason.code_system == "1.2.250.1.213.4.1.2.4"
    assert parsed.author.structure_id == "499900063480001"


def test_td14_reactivation_round_trips_with_its_consent():
    parsed = patients.parse_revise(revise("REAC"))
    assert parsed.transaction == "TD1.4" and parsed.reactivation_consent is True


@pytest.mark.parametrize("reason, status", [("MODIF_DATA", "active"), ("FERM", "terminated"), ("REAC", "active")])
def test_revise_response_wraps_prpa_in201315_as_the_examples(reason, status):
    request = revise(reason)
    parsed = patients.parse_revise(request)
    wrapper = reparse(patients.revise_response(parsed, now=NOW))
    assert etree.QName(wrapper) == etree.QName(GDP, "PRPA_IN201314UV02_Response")
    message = one(wrapper, "h:PRPA_IN201315UV02")
    assert children(message) == ["id", "creationTime", "interactionId", "processingCode", "processingModeCode",
                                 "acceptAckCode", "receiver", "sender", "acknowledgement", "controlActProcess"]
    assert one(message, "h:id/@root") == "1.2.250.1.213.4.1.1.1.1"
    assert UUID_RE.match(one(message, "h:id/@extension"))
    assert one(message, "h:interactionId/@extension") == "PRPA_IN201315UV02"
    assert one(message, "h:acknowledgement/@typeCode") == "AA"
    assert one(message, "h:acknowledgement/h:targetMessage/h:id/@extension") == one(request, "h:id/@extension")
    assert one(message, "h:controlActProcess/h:reasonCode/@code") == reason
    assert one(message, "h:controlActProcess/h:reasonCode/@codeSystem") == "1.2.250.1.213.1.1.4.11"
    event = one(message, "h:controlActProcess/h:subject/h:registrationEvent")
    assert one(event, "h:statusCode/@code") == "completed"
    assert one(event, "h:subject1/h:patient/h:statusCode/@code") == status
    assert one(event, "h:subject1/h:patient/h:patientPerson/h:name/h:family[@qualifier='SP']/text()") == \
        "patb-quatre"
    assert one(event, "h:custodian/h:assignedEntity/h:id/@root") == DMP_OID


@pytest.mark.parametrize("code, text", [("DMPClosed", "Le DMP est fermé"), ("DMPFound", "Le DMP est déjà actif")])
def test_revise_error_is_prpa_in201316_with_an_acknowledgement_detail(code, text):
    request = revise("FERM")
    parsed = patients.parse_revise(request)
    wrapper = reparse(patients.revise_error(parsed, code, text, now=NOW))
    assert etree.QName(wrapper) == etree.QName(GDP, "PRPA_IN201314UV02_Response")
    message = one(wrapper, "h:PRPA_IN201316UV02")
    assert one(message, "h:interactionId/@extension") == "PRPA_IN201316UV02"
    assert one(message, "h:id/@root") == "1.2.250.1.213.4.1.1.1.1"
    assert one(message, "h:acknowledgement/@typeCode") == "AE"
    assert one(message, "h:acknowledgement/h:targetMessage/h:id/@extension") == one(request, "h:id/@extension")
    assert one(message, "h:acknowledgement/h:acknowledgementDetail/h:code/@code") == code
    assert one(message, "h:acknowledgement/h:acknowledgementDetail/h:text/text()") == text
    assert not xp(message, "h:controlActProcess/h:subject")


TD13B_BAD = [
    ("FERM without closure reason", "FERM", lambda r: remove(r, "//h:reasonOf"), common.MISSING_CLOSURE_REASON),
    ("closure reason in another code system", "FERM",
     lambda r: set_attr(r, "//h:detectedIssueEvent/h:code", "codeSystem", "1.2.3"), common.UNKNOWN_VALUE),
    ("REAC without consent", "REAC", lambda r: remove(r, "//h:subjectOf"), common.MISSING_CONSENT),
    ("REAC with consent false", "REAC",
     lambda r: set_attr(r, "//h:administrativeObservation/h:value", "value", "false"), common.MISSING_CONSENT),
    ("no patient id", "MODIF_DATA", lambda r: remove(r, "//h:patient/h:id"), common.MISSING_PATIENT_IDENTIFIER),
    ("no patient", "MODIF_DATA", lambda r: remove(r, "//h:subject1"), common.MISSING_PATIENT_IDENTIFIER),
    ("INS-C only", "MODIF_DATA", lambda r: set_attr(r, "//h:patient/h:id", "root", INS_C_OID),
     common.UNKNOWN_IDENTIFIER_ROOT),
    ("unknown reasonCode", "MODIF_DATA", lambda r: set_attr(r, "//h:reasonCode", "code", "TEST_EXST"),
     common.UNKNOWN_REASON_CODE),
    ("bad birthTime", "MODIF_DATA", lambda r: set_attr(r, "//h:birthTime", "value", "28/03/1979"),
     common.INVALID_DATE),
    ("bad gender", "MODIF_DATA", lambda r: set_attr(r, "//h:administrativeGenderCode", "code", "X"),
     common.UNKNOWN_VALUE),
    ("bad boolean", "MODIF_DATA", lambda r: set_attr(r, "//h:administrativeObservation/h:value", "value", "oui"),
     common.UNKNOWN_VALUE),
    ("no registrationRequest", "MODIF_DATA", lambda r: remove(r, "//h:registrationRequest"),
     common.INVALID_MESSAGE),
]


@pytest.mark.parametrize("reason, mutate, code", [case[1:] for case in TD13B_BAD], ids=[c[0] for c in TD13B_BAD])
def test_revise_bad_requests_are_refused_with_their_fault(reason, mutate, code):
    request = revise(reason, gender="F", birth_date="1979-03-28")
    assert fault_of(patients.parse_revise, mutate(request)).dmp_code == code


# =============================================================================================================
# TD0.5 PDQ
# =============================================================================================================
def test_pdq_request_round_trips_with_every_criterion():
    request = patients.pdq_request(LPS_OID, family="DECHAINE", given="IRENE", birth_date="1957-06-28", gender="F",
                                   postal_code="59113", city="SECLIN", now=NOW)
    assert one(request, "h:controlActProcess/h:code/@code") == "PRPA_TE201305UV02"
    query = patients.parse_pdq(reparse(request))
    assert (query.family, query.given, query.birth_date, query.gender, query.postal_code, query.city) == (
        "DECHAINE", "IRENE", "19570628", "F", "59113", "SECLIN")
    assert query.query_id.extension == one(request, "//h:queryId/@extension")


def test_pdq_request_shaped_like_the_official_example_is_parsed():
    query = patients.parse_pdq(soap.parse_xml(OFFICIAL_TD05.encode()))
    assert query.family == "DECHAINE" and query.birth_date is None
    assert query.query_id == hl7v3.II("1.3.6.1.4.1.48364.2", "4cf69f11-f58c-4a49-8dd3-2cca7c342e40")


def test_pdq_response_lists_the_matches_as_the_example():
    query = patients.parse_pdq(soap.parse_xml(OFFICIAL_TD05.encode()))
    response = reparse(patients.pdq_response(query, [(IRENE, 100, False), (RECORD, 80, True)], now=NOW))
    assert etree.QName(response) == etree.QName(HL7, "PRPA_IN201306UV02")
    assert one(response, "h:interactionId/@extension") == "PRPA_IN201306UV02"
    assert one(response, "h:acknowledgement/h:typeCode/@code") == "AA"
    assert one(response, "h:acknowledgement/h:targetMessage/h:id/@extension") == \
        "1633a409-3d61-4869-aed8-74d92ae20272"
    cap = one(response, "h:controlActProcess")
    assert one(cap, "h:code/@code") == "PRPA_TE201306UV02"
    assert children(cap) == ["code", "subject", "subject", "queryAck", "queryByParameter"]
    first = one(cap, "h:subject[1]/h:registrationEvent")
    assert one(first, "h:statusCode/@code") == "active"
    patient = one(first, "h:subject1/h:patient")
    assert [(i.get("root"), i.get("extension")) for i in xp(patient, "h:id")] == [
        (INS_TEST_OID, "257069329642881"), (INS_C_OID, "1418878867934420256667")]
    person = one(patient, "h:patientPerson")
    assert one(person, "h:name/h:family[@qualifier='SP']/text()") == "ENCHAINE"
    assert one(person, "h:name/h:family[@qualifier='BR']/text()") == "DECHAINE"
    assert (one(person, "h:addr/h:city/text()"), one(person, "h:addr/h:postalCode/text()")) == ("SECLIN", "59113")
    assert one(patient, "h:subjectOf1/h:queryMatchObservation/h:code/@code") == "POURCENTAGE"
    assert one(patient, "h:subjectOf1/h:queryMatchObservation/h:value/@value") == "100"
    assert one(patient, "h:subjectOf1/h:queryMatchObservation/h:value/@xsi:type") == "INT"
    observation = one(patient, "h:subjectOf2/h:administrativeObservation")
    assert one(observation, "h:code/@code") == "OPPOSITION_ACCES_URGENCE"
    assert one(observation, "h:code/@codeSystem") == "1.2.250.1.213.4.1.2.3"
    assert one(observation, "h:value/@value") == "false"
    assert one(cap, "h:subject[2]//h:subjectOf2/h:administrativeObservation/h:value/@value") == "true"
    assert one(first, "h:custodian/h:assignedEntity/h:id/@root") == DMP_OID
    ack = one(cap, "h:queryAck")
    assert one(ack, "h:queryId/@extension") == "4cf69f11-f58c-4a49-8dd3-2cca7c342e40"
    assert one(ack, "h:queryResponseCode/@code") == "OK"
    assert [one(ack, f"h:{q}/@value") for q in ("resultTotalQuantity", "resultCurrentQuantity",
                                                 "resultRemainingQuantity")] == ["2", "2", "0"]
    echoed = one(cap, "h:queryByParameter")
    assert one(echoed, "h:parameterList/h:livingSubjectName/h:value/h:family/text()") == "DECHAINE"
    assert one(echoed, "h:queryId/@extension") == "4cf69f11-f58c-4a49-8dd3-2cca7c342e40"


def test_pdq_without_match_is_nf_and_a_truncated_answer_says_what_remains():
    query = patients.parse_pdq(patients.pdq_request(LPS_OID, family="NULLEPART"))
    empty = patients.pdq_response(query, [], now=NOW)
    assert one(empty, "//h:queryResponseCode/@code") == "NF"
    assert not xp(empty, "//h:controlActProcess/h:subject")
    assert one(empty, "//h:resultTotalQuantity/@value") == "0"
    truncated = patients.pdq_response(query, [(IRENE, 90, False)], now=NOW, total=5)
    assert [one(truncated, f"//h:{q}/@value") for q in ("resultTotalQuantity", "resultCurrentQuantity",
                                                         "resultRemainingQuantity")] == ["5", "1", "4"]


@pytest.mark.parametrize("mutate, code", [
    (lambda r: remove(r, "//h:parameterList/*"), common.MISSING_PARAMETER),
    (lambda r: set_attr(r, "//h:livingSubjectBirthTime/h:value", "value", "1957-06-28"), common.INVALID_DATE),
    (lambda r: set_attr(r, "//h:livingSubjectAdministrativeGender/h:value", "code", "W"), common.UNKNOWN_VALUE),
    (lambda r: set_attr(r, "h:controlActProcess/h:code", "code", "PRPA_TE201307UV02"), common.INVALID_MESSAGE),
    (lambda r: remove(r, "//h:queryByParameter"), common.INVALID_MESSAGE),
], ids=["no criterion", "bad birth date", "bad gender", "wrong trigger", "no queryByParameter"])
def test_pdq_bad_requests_are_refused_with_their_fault(mutate, code):
    request = patients.pdq_request(LPS_OID, family="DECHAINE", birth_date="1957-06-28", gender="F")
    assert fault_of(patients.parse_pdq, mutate(request)).dmp_code == code


# =============================================================================================================
# TD0.3 setAuthorization / TD1.6 listAuthorizationByPatient
# =============================================================================================================
@pytest.mark.parametrize("action", ["AJOUT", "SUPPRESSION"])
@pytest.mark.parametrize("role", [None, "MEDECIN_TRAITANT"])
def test_set_authorization_round_trips(action, role):
    request = habilitations.set_authorization_request(action, role)
    assert etree.QName(request) == etree.QName(HAB, "setAuthorization")
    assert one(request, "hab:action/text()") == action
    assert habilitations.parse_set_authorization(reparse(request)) == habilitations.SetAuthorization(action, role)


def test_set_authorization_as_the_official_example_and_unqualified_children_are_parsed():
    official = soap.parse_xml(b'<setAuthorization xmlns="urn:si-dmp-habilitations">\n  <action>AJOUT</action>\n'
                              b'</setAuthorization>')
    assert habilitations.parse_set_authorization(official) == habilitations.SetAuthorization("AJOUT")
    unqualified = soap.parse_xml(b'<h:setAuthorization xmlns:h="urn:si-dmp-habilitations"><action>SUPPRESSION'
                                 b'</action><role>MEDECIN_TRAITANT</role></h:setAuthorization>')
    assert habilitations.parse_set_authorization(unqualified) == habilitations.SetAuthorization(
        "SUPPRESSION", "MEDECIN_TRAITANT")


def test_set_authorization_response_as_the_example():
    response = reparse(habilitations.set_authorization_response("DMPOk", habilitations.ALREADY_AUTHORIZED))
    assert etree.QName(response) == etree.QName(HAB, "setAuthorizationResponse")
    assert response.prefix == "ns1"
    assert one(response, "hab:output/hab:status/text()") == "DMPOk"
    assert one(response, "hab:output/hab:context/text()") == "Autorisation déjà présente aucune action effectuée"


@pytest.mark.parametrize("body, code", [
    (b'<setAuthorization xmlns="urn:si-dmp-habilitations"/>', common.MISSING_PARAMETER),
    (b'<setAuthorization xmlns="urn:si-dmp-habilitations"><action>MODIFICATION</action></setAuthorization>',
     common.UNKNOWN_VALUE),
    (b'<setAuthorization xmlns="urn:si-dmp-habilitations"><action>AJOUT</action><role>MEDECIN</role>'
     b'</setAuthorization>', common.UNKNOWN_VALUE),
    (b'<setAuthorization xmlns="urn:other"><action>AJOUT</action></setAuthorization>', common.INVALID_MESSAGE),
], ids=["no action", "unknown action", "unknown role", "wrong namespace"])
def test_set_authorization_bad_requests_are_refused(body, code):
    fault = fault_of(habilitations.parse_set_authorization, soap.parse_xml(body))
    assert fault.dmp_code == code


@pytest.mark.parametrize("mode", ["ACTIVE", "INTERDITE", "TOUTE"])
def test_list_authorizations_round_trips(mode):
    request = habilitations.list_authorizations_request(mode)
    assert one(request, "hab:mode/text()") == mode
    assert habilitations.parse_list_authorizations(reparse(request)) == mode


@pytest.mark.parametrize("body, code", [
    (b'<listAuthorizationByPatient xmlns="urn:si-dmp-habilitations"><mode>TOUS</mode></listAuthorizationByPatient>',
     common.UNKNOWN_VALUE),
    (b'<listAuthorizationByPatient xmlns="urn:si-dmp-habilitations"/>', common.MISSING_PARAMETER),
], ids=["unknown mode", "no mode"])
def test_list_authorizations_bad_requests_are_refused(body, code):
    fault = fault_of(habilitations.parse_list_authorizations, soap.parse_xml(body))
    assert fault.dmp_code == code
    assert "mode" in fault.reason


def test_list_authorizations_response_as_the_example():
    rows = [
        {"national_id": "899900063480", "first_name": "MAX", "last_name": "LIBRE", "speciality_code": "G15_10/SM26",
         "speciality_label": "Médecin - Qualifié en Médecine générale (SM)", "start": datetime(2021, 6, 1, 13, 58, 4),
         "last_action": "20210601140606", "mode": "ACTIVE", "specific_right": "MEDECIN_TRAITANT"},
        {"national_id": "899700218896", "first_name": "ROBERT", "last_name": "SPECIALISTE0021889",
         "speciality_code": ["G15_10/SM04", "G15_10/SM26"], "speciality_label": ["Cardiologie", "Médecine générale"],
         "start": "20200101000000", "last_action": datetime(2020, 2, 1), "mode": "INTERDITE"},
    ]
    response = reparse(habilitations.list_authorizations_response(rows))
    assert etree.QName(response) == etree.QName(HAB, "listAuthorizationByPatientResponse")
    output = one(response, "hab:output")
    assert children(output) == ["listOfAuthorizationByPatient", "listOfAuthorizationByPatient", "status", "context"]
    first, second = xp(output, "hab:listOfAuthorizationByPatient")
    assert children(first) == ["nationalId", "nationalIdType", "firstName", "lastName", "codeSpeciality",
                               "libSpeciality", "startOfAuthorization", "lastActionDate", "mode", "specificRight"]
    assert one(first, "hab:nationalIdType/text()") == "1.2.250.1.71.4.2.1"
    assert one(first, "hab:startOfAuthorization/text()") == "20210601135804"
    assert one(first, "hab:specificRight/text()") == "MEDECIN_TRAITANT"
    assert xp(second, "hab:codeSpeciality/text()") == ["G15_10/SM04", "G15_10/SM26"]
    assert one(second, "hab:lastActionDate/text()") == "20200201000000"
    assert one(second, "hab:mode/text()") == "INTERDITE"
    assert not xp(second, "hab:specificRight")
    assert one(output, "hab:status/text()") == "DMPOk"
    assert one(output, "hab:context").text is None


# =============================================================================================================
# TD0.4 patientList
# =============================================================================================================
def test_patient_list_round_trips_and_the_official_example_is_parsed():
    request = patients_specific.patient_list_request(datetime(2010, 10, 10, 20, 20, 10), "LASTAUTORIZATION",
                                                     "899900063480")
    assert etree.QName(request) == etree.QName(PAT, "patientList")
    assert patients_specific.parse_patient_list(reparse(request)) == patients_specific.PatientListQuery(
        datetime(2010, 10, 10, 20, 20, 10), "LASTAUTORIZATION", "899900063480")
    official = soap.parse_xml(b'<patientList xmlns="urn:si-dmp-patients">\n <startDate>20101010202010</startDate>\n'
                              b' <dateType>LASTDOC</dateType>\n</patientList>')
    assert patients_specific.parse_patient_list(official) == patients_specific.PatientListQuery(
        datetime(2010, 10, 10, 20, 20, 10), "LASTDOC", None)
    assert patients_specific.parse_patient_list(
        soap.parse_xml(b'<patientList xmlns="urn:si-dmp-patients"/>')) == patients_specific.PatientListQuery(
        None, None, None)


@pytest.mark.parametrize("start", ["2010-10-10", "20101010", "2010101020201", "20101310202010", "20101010256010",
                                   "2010101020201O"])
def test_patient_list_bad_start_date_is_refused(start):
    body = patients_specific.patient_list_request(start, "LASTDOC")
    fault = fault_of(patients_specific.parse_patient_list, body)
    assert fault.dmp_code == common.INVALID_DATE
    assert "startDate" in fault.reason


def test_patient_list_unknown_date_type_is_refused():
    body = soap.parse_xml(b'<patientList xmlns="urn:si-dmp-patients"><startDate>20101010202010</startDate>'
                          b'<dateType>LASTUPDATE</dateType></patientList>')
    assert fault_of(patients_specific.parse_patient_list, body).dmp_code == common.UNKNOWN_VALUE


def test_patient_list_response_as_the_example():
    rows = [
        {"ins": "153078987658513", "ins_c": "0740724093302701701806", "last_name": "PAT-TROIS",
         "first_name": "DOMINIQUE", "birth_date": "1979-03-28", "mt": False, "message": False,
         "last_access": datetime(2021, 6, 1, 9, 41, 5), "last_update": "20210525134738",
         "last_add": "20210525134735"},
        {"ins": "207058575627097", "ins_oid": INS_TEST_OID, "last_name": "patb-quatre",
         "patronymical_name": "PATB-QUATRE", "first_name": "LAURENCE", "civility": "Mme", "birth_date": "19070525",
         "mt": True, "message": True, "last_access": None, "last_update": None, "last_add": None},
    ]
    response = reparse(patients_specific.patient_list_response(rows))
    assert etree.QName(response) == etree.QName(PAT, "patientListResponse")
    output = one(response, "pat:output")
    assert children(output) == ["patientlistData", "patientlistData", "status"]
    first, second = xp(output, "pat:patientlistData")
    assert [(one(i, "pat:nationalId/text()"), one(i, "pat:nationalIdType/text()"))
            for i in xp(first, "pat:patientIdentifier")] == [("0740724093302701701806", INS_C_OID),
                                                             ("153078987658513", INS_TEST_OID)]
    assert children(first) == ["patientIdentifier", "patientIdentifier", "lastName", "firstName", "dateOfBirth",
                               "MT", "message", "lastAccessDate", "lastUpdateDate", "lastAddDate"]
    assert one(first, "pat:dateOfBirth/text()") == "19790328"
    assert one(first, "pat:lastAccessDate/text()") == "20210601094105"
    assert one(first, "pat:MT/text()") == "false"
    assert children(second) == ["patientIdentifier", "patientIdentifier", "lastName", "patronymicalName",
                                "firstName", "civility", "dateOfBirth", "MT", "message"]
    assert one(second, "pat:MT/text()") == "true"
    assert one(second, "pat:patientIdentifier[1]/pat:nationalId/text()") == common.ins_c_for("207058575627097")
    assert one(output, "pat:status/text()") == "DMPOk"


# =============================================================================================================
# With the SOAP layer
# =============================================================================================================
def test_a_response_body_goes_out_in_an_envelope_with_the_catalogues_action():
    request = td02_request()
    operation = actions.identify("patients", "urn:hl7-org:v3:PRPA_IN201308UV02", request)
    query = patients.parse_get_demographics(request)
    body = patients.demographics_response(query, outcome="found", patient_record=RECORD, now=NOW)
    encoded = soap.build_response(body, action=operation.response_action, relates_to="urn:uuid:1")
    envelope = soap.parse_xml(encoded.body)
    assert envelope.xpath("string(//wsa:Action)", namespaces={"wsa": soap.namespaces.WSA}) == \
        "urn:hl7-org:v3:PRPA_IN201308UV02"
    assert envelope.xpath("count(//h:PRPA_IN201308UV02/h:attentionLine)", namespaces=NS) == 2
