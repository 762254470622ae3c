"""What every DMP message module shares: the sandbox fault codes, reading helpers, value formats, the INS-C.

Fault codes of bad requests
---------------------------
The DMP's own codes are used where the sources document one (``DMPOk``, ``DMPFound``, ``DMPClosed``,
``DMPAccessDeniedByRightsService``… — spec ``dmp.md`` §3.8). The official catalogue of the codes the DMP answers
to a *malformed* request is not public (spec "Open questions" 2), so the parsers raise ``DmpFault`` with these
**sandbox codes**, which are not DMP codes and say so by their ``Sandbox`` prefix (subcode namespace
``urn:segur-sandbox:dmp``, reason in French):

=====================================  ==========================================================================
``SandboxInvalidMessage``              the body is not the expected message, or a mandatory element is missing
``SandboxMissingParameter``            a mandatory parameter of a DMP-specific operation is absent
``SandboxMissingPatientIdentifier``    no ``patientIdentifier`` (TD0.2/TD1.3a) or patient ``id`` (TD1.3b/TD1.4)
``SandboxUnknownIdentifierRoot``       the patient id is not under an INS authority OID (e.g. the legacy INS-C)
``SandboxInvalidPatientIdentifier``    the matricule INS is not 13 characters + a correct 2-digit key
``SandboxUnknownReasonCode``           ``controlActProcess/reasonCode`` absent, unknown, or in the wrong code system
``SandboxInvalidDate``                 a date is not in the documented format (``yyyyMMddHHmmss``, HL7 TS…)
``SandboxUnknownValue``                an enumerated value (action, role, mode, dateType, gender…) is not allowed
``SandboxMissingConsent``              TD1.4 réactivation without ``CONSENTEMENT_REACTIVATION_DMP`` = true
``SandboxMissingClosureReason``        TD1.4 fermeture without ``reasonOf/detectedIssueEvent/code``
``SandboxUnknownService``              ``identify``: the service path is not one of the DMP's
``SandboxUnknownAction``               ``identify``: the wsa:Action is not an operation of this service
``SandboxUnknownOperation``            ``identify``: no action and a body root no operation of the service takes
``SandboxActionBodyMismatch``          ``identify``: the action names one operation, the body carries another
=====================================  ==========================================================================
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from lxml import etree

from segur_sandbox.fixtures.identity import (INS_OIDS, OID_INS_NIR, OID_INS_NIR_TEST, InvalidIdentifier,
                                             check_nir)

from ...security.principal import PatientRef
from ..faults import DmpFault

# -- fault codes ---------------------------------------------------------------------------------------------
INVALID_MESSAGE = "SandboxInvalidMessage"
MISSING_PARAMETER = "SandboxMissingParameter"
MISSING_PATIENT_IDENTIFIER = "SandboxMissingPatientIdentifier"
UNKNOWN_IDENTIFIER_ROOT = "SandboxUnknownIdentifierRoot"
INVALID_PATIENT_IDENTIFIER = "SandboxInvalidPatientIdentifier"
UNKNOWN_REASON_CODE = "SandboxUnknownReasonCode"
INVALID_DATE = "SandboxInvalidDate"
UNKNOWN_VALUE = "SandboxUnknownValue"
MISSING_CONSENT = "SandboxMissingConsent"
MISSING_CLOSURE_REASON = "SandboxMissingClosureReason"
UNKNOWN_SERVICE = "SandboxUnknownService"
UNKNOWN_ACTION = "SandboxUnknownAction"
UNKNOWN_OPERATION = "SandboxUnknownOperation"
ACTION_BODY_MISMATCH = "SandboxActionBodyMismatch"

# DMP codes (spec §3.8) the builders use.
DMP_OK = "DMPOk"
DMP_FOUND = "DMPFound"
DMP_CLOSED = "DMPClosed"

# -- identifiers ---------------------------------------------------------------------------------------------
OID_INS_C = "1.2.250.1.213.1.4.2"  # legacy INS-C (22 digits), still returned next to the INS
OID_PS_IDNAT = "1.2.250.1.71.4.2.1"
OID_STRUCT_IDNAT = "1.2.250.1.71.4.2.2"
#: The authorities under which a patient id is accepted: INS-NIR (prod), INS-NIA, INS-NIR test and demo.
ACCEPTED_INS_OIDS: frozenset[str] = frozenset(INS_OIDS)
DEFAULT_INS_OID = OID_INS_NIR_TEST

_INS_SHAPE = re.compile(r"^[1-478]\d{4}(?:\d{2}|2[AB])\d{6}\d{2}$")


def bad_request(code: str, reason: str) -> DmpFault:
    return DmpFault(code, reason)


def patient_ref(extension: str | None, root: str | None, *, accepted_oids: Iterable[str] = ACCEPTED_INS_OIDS,
                where: str = "patientIdentifier") -> PatientRef:
    """Check an INS as a request carries it (root = authority OID, extension = 15 characters) and type it."""
    accepted = frozenset(accepted_oids)
    extension = (extension or "").strip()
    root = (root or "").strip()
    if not extension and not root:
        raise bad_request(MISSING_PATIENT_IDENTIFIER, f"L'identifiant du patient ({where}) est absent de la requête")
    if root == OID_INS_C:
        raise bad_request(UNKNOWN_IDENTIFIER_ROOT,
                          f"L'INS-C ({OID_INS_C}) n'est plus accepté comme identifiant du patient ({where}) : "
                          "utiliser le matricule INS")
    if root not in accepted:
        raise bad_request(UNKNOWN_IDENTIFIER_ROOT,
                          f"L'autorité d'affectation {root or '(absente)'!r} de l'identifiant du patient ({where}) "
                          f"n'est pas une autorité INS ({', '.join(sorted(accepted))})")
    if not _INS_SHAPE.match(extension.upper()):
        raise bad_request(INVALID_PATIENT_IDENTIFIER,
                          f"L'identifiant du patient {extension!r} ({where}) n'est pas un matricule INS de "
                          "15 caractères (NIR ou NIA suivi de sa clé)")
    try:
        check_nir(extension[:13], extension[13:])
    except InvalidIdentifier:
        raise bad_request(INVALID_PATIENT_IDENTIFIER,
                          f"La clé du matricule INS {extension!r} ({where}) est incorrecte") from None
    return PatientRef(extension.upper(), root)


def ins_c_for(ins: str) -> str:
    """A deterministic 22-digit stand-in for the legacy INS-C of ``ins``.

    The real INS-C was computed from the Vitale card data by a published algorithm the sandbox does not
    replicate; responses must still carry one (TD0.2, TD0.4, TD0.5 examples), so the sandbox derives a stable
    22-digit number from the INS (SHA-256, reduced modulo 10**22). It identifies nothing outside the sandbox.
    """
    digest = hashlib.sha256(f"segur-sandbox:ins-c:{ins.upper()}".encode()).digest()
    return f"{int.from_bytes(digest, 'big') % 10**22:022d}"


# -- patient records -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PatientView:
    """The traits a DMP response shows, read from a patient record (``fixtures/people.py`` shape).

    Record keys read: ``ins`` ({``nir``, ``key``, ``oid``} or a 15-character string, with ``ins_oid``),
    optional ``ins_c``, ``traits`` {``birth_name``, ``first_name``/``first_names``, ``sex``, ``birth_date``},
    ``used_name``, ``used_first_name``, ``address`` {``line``, ``postal_code``, ``city``, ``country``},
    ``phone``, optional ``email``, optional ``deceased``, ``legal_representatives`` (else ``emergency_contacts``)
    as [{``relation``, ``family``, ``given``, ``phone``, optional ``address``, ``email``}].
    """

    ins: str
    ins_oid: str
    ins_c: str
    birth_name: str
    used_name: str | None
    given: str
    sex: str
    birth_time: str | None
    address: Mapping[str, str]
    phone: str | None
    email: str | None
    deceased: bool
    relations: tuple[Mapping[str, Any], ...]

    @property
    def family(self) -> str:
        """Nom utilisé (qualifier SP): the used name when the record has one, else the birth name."""
        return self.used_name or self.birth_name

    @property
    def prefix(self) -> str:
        return {"F": "Mme", "M": "M"}.get(self.sex, "")

    @property
    def gender(self) -> str:
        return self.sex if self.sex in ("M", "F") else "U"

    @property
    def birth_name_differs(self) -> bool:
        return bool(self.used_name) and self.used_name != self.birth_name


def patient_view(record: Mapping[str, Any]) -> PatientView:
    ins_value = record.get("ins")
    if isinstance(ins_value, Mapping):
        ins = f"{ins_value.get('nir', '')}{ins_value.get('key', '')}"
        oid = ins_value.get("oid") or DEFAULT_INS_OID
    else:
        ins = str(ins_value or "")
        oid = record.get("ins_oid") or DEFAULT_INS_OID
    traits = record.get("traits") or {}
    first_names = traits.get("first_names") or []
    given = record.get("used_first_name") or traits.get("first_name") or (first_names[0] if first_names else "")
    relations = record.get("legal_representatives")
    if relations is None:
        relations = record.get("emergency_contacts") or ()
    return PatientView(
        ins=ins, ins_oid=oid, ins_c=record.get("ins_c") or ins_c_for(ins),
        birth_name=traits.get("birth_name") or record.get("birth_name") or "",
        used_name=record.get("used_name"), given=given, sex=traits.get("sex") or "U",
        birth_time=hl7_date(traits.get("birth_date")), address=record.get("address") or {},
        phone=record.get("phone"), email=record.get("email"), deceased=bool(record.get("deceased", False)),
        relations=tuple(relations))


# -- values --------------------------------------------------------------------------------------------------
_TS = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.\d{1,4})?(?:[+-]\d{4})?$")
_DMP_DATETIME = re.compile(r"^\d{14}$")


def hl7_timestamp(moment: datetime) -> str:
    """HL7 TS to the second, as the DMP writes creationTime (``YYYYMMDDhhmmss``, the clock's own time)."""
    return moment.strftime("%Y%m%d%H%M%S")


def hl7_date(value: date | str | None) -> str | None:
    """A birth date as HL7 TS ``YYYYMMDD``; an unknown day/month (``-00``) lowers the precision instead."""
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value.strftime("%Y%m%d")
    digits = value.replace("-", "")
    if not re.fullmatch(r"\d{4}(\d{2}(\d{2})?)?", digits):
        return digits
    if digits[4:6] == "00":
        return digits[:4]
    if digits[6:8] == "00":
        return digits[:6]
    return digits


def check_hl7_ts(value: str, where: str) -> str:
    """Validate an HL7 TS (year to second, optional fraction and offset); return it unchanged."""
    match = _TS.match(value or "")
    if not match:
        raise bad_request(INVALID_DATE, f"La date {value!r} ({where}) n'est pas au format HL7 AAAAMMJJ[hhmmss]")
    parts = [int(p) if p else None for p in match.groups()]
    year, month, day, hour, minute, second = parts
    try:
        datetime(year, month or 1, day or 1, hour or 0, minute or 0, second or 0)
    except ValueError:
        raise bad_request(INVALID_DATE, f"La date {value!r} ({where}) n'existe pas") from None
    return value


def parse_dmp_datetime(value: str, where: str) -> datetime:
    """A DMP-specific date (``yyyyMMddHHmmss``, 14 digits, e.g. TD0.4 ``startDate``)."""
    if not _DMP_DATETIME.match(value or ""):
        raise bad_request(INVALID_DATE, f"La date {value!r} ({where}) n'est pas au format aaaaMMjjHHmmss")
    try:
        return datetime.strptime(value, "%Y%m%d%H%M%S")
    except ValueError:
        raise bad_request(INVALID_DATE, f"La date {value!r} ({where}) n'existe pas") from None


def dmp_datetime(value: datetime | date | str | None) -> str | None:
    """Format a date for a DMP-specific response (``yyyyMMddHHmmss``); strings are taken as already formatted."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.strftime("%Y%m%d%H%M%S")
    if isinstance(value, date):
        return value.strftime("%Y%m%d") + "000000"
    return str(value)


def xml_bool(value: bool) -> str:
    return "true" if value else "false"


# -- reading -------------------------------------------------------------------------------------------------
def text_of(element: etree._Element | None) -> str | None:
    if element is None:
        return None
    text = "".join(element.itertext()).strip()
    return text or None


def local_child(parent: etree._Element, local: str, namespace: str) -> etree._Element | None:
    """A child in ``namespace`` or, tolerated, without namespace (DMP-specific services: unqualified clients)."""
    found = parent.find(f"{{{namespace}}}{local}")
    if found is None:
        found = parent.find(local)
    return found


def check_root(body: etree._Element | None, namespace: str, local: str) -> etree._Element:
    if body is None:
        raise bad_request(INVALID_MESSAGE, f"Le corps de la requête est vide : {local} attendu")
    name = etree.QName(body)
    if name.namespace != namespace or name.localname != local:
        found = f"{{{name.namespace}}}{name.localname}" if name.namespace else name.localname
        raise bad_request(INVALID_MESSAGE, f"Le corps de la requête est {found} : {{{namespace}}}{local} attendu")
    return body


__all__ = [
    "ACCEPTED_INS_OIDS", "ACTION_BODY_MISMATCH", "DEFAULT_INS_OID", "DMP_CLOSED", "DMP_FOUND", "DMP_OK",
    "INVALID_DATE", "INVALID_MESSAGE", "INVALID_PATIENT_IDENTIFIER", "MISSING_CLOSURE_REASON", "MISSING_CONSENT",
    "MISSING_PARAMETER", "MISSING_PATIENT_IDENTIFIER", "OID_INS_C", "OID_INS_NIR", "OID_PS_IDNAT",
    "OID_STRUCT_IDNAT", "PatientView", "UNKNOWN_ACTION", "UNKNOWN_IDENTIFIER_ROOT", "UNKNOWN_OPERATION",
    "UNKNOWN_REASON_CODE", "UNKNOWN_SERVICE", "UNKNOWN_VALUE", "bad_request", "check_hl7_ts", "check_root",
    "dmp_datetime", "hl7_date", "hl7_timestamp", "ins_c_for", "local_child", "parse_dmp_datetime", "patient_ref",
    "patient_view", "text_of", "xml_bool",
]
