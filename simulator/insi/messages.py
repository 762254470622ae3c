"""INSi message bodies: reading the three requests, writing ``RESULTAT``, and building requests for clients.

Shapes (insi-cards.md §A.5, XSDs of WSDL 1.5.0, ``elementFormDefault="qualified"``):

* ``RECSANSVITALE`` (INSiRecSans): NomNaissance, Prenom 0..n, Sexe, DateNaissance, LieuNaissance;
* ``RECVITALE`` (INSiRecVit): MatriculeIndividu, MatriculeOD ({NumIdentifiant, Cle, TypeMatricule}),
  NomNaissance, DateNaissance, RangNaissance;
* ``RESULTAT`` (INSiResultat): CR/{CodeCR, LibelleCR}, INDIVIDU/{INSACTIF, INSHISTO*, TIQ};
* verification [I]: ``RequeteUnitaire/IndividuVerifie/{INSFourni/{IdIndividu, OID}, TraitsIdentiteIndividu}``
  answered by a ``RESULTAT`` of the same structure in the REPUnitaire namespace.

Every field is optional in the XSDs; what the sandbox requires is ``MatchingRules.required_traits`` (traits
search), one of the two matricules (Vitale search), the INS (verification). A malformed value is a Sender fault
(``faults.CATALOGUE["request"]``) naming the element.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

from lxml import etree

from ..store import Identity
from .constants import LIBELLES, RECSANS, RECVIT, RESULTAT, VERIFICATION_REQUEST_NS
from .faults import InsiFault
from .matching import DEFAULT_RULES, Matricule, MatchingRules, TraitQuery, VerificationQuery, VitaleQuery

DATE_LUNAIRE = re.compile(r"\d{4}-\d{2}-\d{2}")
COG = re.compile(r"[A-Za-z0-9]{5}")
NUM_IDENTIFIANT = re.compile(r"\d{6}[A-Za-z0-9]\d{6}")
CLE = re.compile(r"\d{2}")
SEXE = re.compile(r"[A-Za-z]")


def _request_error(detail: str) -> InsiFault:
    return InsiFault("request", f"Requête non conforme : {detail}.")


def _children(parent: etree._Element, namespace: str | None, name: str) -> list[etree._Element]:
    tag = f"{{{namespace}}}{name}" if namespace else name
    return [child for child in parent if child.tag == tag]


def _one(parent: etree._Element, namespace: str | None, name: str) -> str | None:
    found = _children(parent, namespace, name)
    if len(found) > 1:
        raise _request_error(f"élément {name} répété")
    if not found:
        return None
    if len(found[0]):
        raise _request_error(f"élément {name} : valeur texte attendue")
    text = (found[0].text or "").strip()
    return text or None


def _pattern(value: str | None, pattern: re.Pattern[str], name: str, expected: str) -> str | None:
    if value is not None and not pattern.fullmatch(value):
        raise _request_error(f"{name} « {value} » ne respecte pas le format {expected}")
    return value


def _unexpected(body: etree._Element, namespace: str | None, names: Sequence[str]) -> list[str]:
    allowed = {f"{{{namespace}}}{n}" if namespace else n for n in names}
    return [f"élément inattendu {child.tag} ignoré" for child in body if isinstance(child.tag, str)
            and child.tag not in allowed]


# -- reading requests -------------------------------------------------------------------------------------


def read_traits_request(body: etree._Element, rules: MatchingRules = DEFAULT_RULES
                        ) -> tuple[TraitQuery, list[str]]:
    """RECSANSVITALE → ``TraitQuery`` and notes (ignored elements)."""
    ns = RECSANS
    notes = _unexpected(body, ns, ("NomNaissance", "Prenom", "Sexe", "DateNaissance", "LieuNaissance"))
    name = _one(body, ns, "NomNaissance")
    first_names = tuple(t for t in ((e.text or "").strip() for e in _children(body, ns, "Prenom")) if t)
    sex = _pattern(_one(body, ns, "Sexe"), SEXE, "Sexe", "une lettre (M ou F)")
    born = _pattern(_one(body, ns, "DateNaissance"), DATE_LUNAIRE, "DateNaissance", "AAAA-MM-JJ")
    place = _pattern(_one(body, ns, "LieuNaissance"), COG, "LieuNaissance", "code officiel géographique (5 car.)")
    present = {"NomNaissance": name, "Prenom": first_names, "Sexe": sex, "DateNaissance": born,
               "LieuNaissance": place}
    missing = [trait for trait in rules.required_traits if not present.get(trait)]
    if missing:
        raise _request_error(f"trait(s) obligatoire(s) absent(s) : {', '.join(missing)}")
    return TraitQuery(name or "", first_names, (sex or "").upper(), born or "", place), notes


def _matricule(parent: etree._Element, ns: str, name: str) -> Matricule | None:
    found = _children(parent, ns, name)
    if not found:
        return None
    if len(found) > 1:
        raise _request_error(f"élément {name} répété")
    element = found[0]
    number = _pattern(_one(element, ns, "NumIdentifiant"), NUM_IDENTIFIANT, f"{name}/NumIdentifiant",
                      "13 caractères (\\d{6}[A-Za-z0-9]\\d{6})")
    if number is None:
        raise _request_error(f"{name}/NumIdentifiant absent")
    key = _pattern(_one(element, ns, "Cle"), CLE, f"{name}/Cle", "2 chiffres")
    return Matricule(number.upper(), key, _one(element, ns, "TypeMatricule"))


def read_vitale_request(body: etree._Element) -> tuple[VitaleQuery, list[str]]:
    """RECVITALE → ``VitaleQuery`` and notes."""
    ns = RECVIT
    notes = _unexpected(body, ns, ("MatriculeIndividu", "MatriculeOD", "NomNaissance", "DateNaissance",
                                   "RangNaissance"))
    beneficiary = _matricule(body, ns, "MatriculeIndividu")
    insured = _matricule(body, ns, "MatriculeOD")
    if beneficiary is None and insured is None:
        raise _request_error("ni MatriculeIndividu ni MatriculeOD : l'un des deux est obligatoire")
    born = _pattern(_one(body, ns, "DateNaissance"), DATE_LUNAIRE, "DateNaissance", "AAAA-MM-JJ")
    rank_text = _one(body, ns, "RangNaissance")
    rank = None
    if rank_text is not None:
        if not rank_text.isdigit() or not 0 < int(rank_text) < 100:
            raise _request_error(f"RangNaissance « {rank_text} » n'est pas un rang (1, 2, …)")
        rank = int(rank_text)
    return VitaleQuery(beneficiary, insured, _one(body, ns, "NomNaissance"), born, rank), notes


def read_verification_request(body: etree._Element, namespaces: Sequence[str | None] = (VERIFICATION_REQUEST_NS,)
                              ) -> tuple[VerificationQuery, list[str]]:
    """RequeteUnitaire → ``VerificationQuery``; children are read in the root's own namespace, which must be one
    of ``namespaces`` (``None`` admits the unqualified form of the published sketch)."""
    ns = etree.QName(body).namespace
    if ns not in namespaces:
        raise _request_error(f"RequeteUnitaire dans l'espace de noms {ns!r}, attendu "
                             f"{' ou '.join(repr(n) for n in namespaces)}")
    notes: list[str] = []
    individus = _children(body, ns, "IndividuVerifie")
    if len(individus) != 1:
        raise _request_error("un et un seul IndividuVerifie attendu")
    individu = individus[0]
    supplied = _children(individu, ns, "INSFourni")
    if len(supplied) != 1:
        raise _request_error("IndividuVerifie/INSFourni absent")
    ins = _matricule(supplied[0], ns, "IdIndividu")  # type: ignore[arg-type]
    if ins is None:
        raise _request_error("INSFourni/IdIndividu absent")
    oid = _one(supplied[0], ns, "OID")
    traits = _children(individu, ns, "TraitsIdentiteIndividu")
    query = VerificationQuery(ins, oid)
    if traits:
        t = traits[0]
        first = tuple(x for x in ((e.text or "").strip() for e in _children(t, ns, "Prenom")) if x)
        query = VerificationQuery(
            ins, oid, birth_name=_one(t, ns, "NomNaissance"), first_names=first,
            list_prenom=_one(t, ns, "ListePrenom"),
            sex=_pattern(_one(t, ns, "Sexe"), SEXE, "Sexe", "une lettre (M ou F)"),
            birth_date=_pattern(_one(t, ns, "DateNaissance"), DATE_LUNAIRE, "DateNaissance", "AAAA-MM-JJ"),
            birth_place=_one(t, ns, "LieuNaissance"))
        if query.birth_place and not COG.fullmatch(query.birth_place):
            notes.append(f"LieuNaissance « {query.birth_place} » n'est pas un code COG : non comparé")
    else:
        notes.append("TraitsIdentiteIndividu absent : seul le matricule est vérifié")
    return query, notes


# -- writing RESULTAT -------------------------------------------------------------------------------------


def _matricule_element(parent: etree._Element, tag: str, ns: str, nir: str, key: str, oid: str,
                       type_: str | None, date_start: str | None = None, date_end: str | None = None) -> None:
    element = etree.SubElement(parent, f"{{{ns}}}{tag}")
    id_individu = etree.SubElement(element, f"{{{ns}}}IdIndividu")
    etree.SubElement(id_individu, f"{{{ns}}}NumIdentifiant").text = nir
    etree.SubElement(id_individu, f"{{{ns}}}Cle").text = key
    if type_:
        etree.SubElement(id_individu, f"{{{ns}}}TypeMatricule").text = type_
    etree.SubElement(element, f"{{{ns}}}OID").text = oid
    if date_start:
        etree.SubElement(element, f"{{{ns}}}DateDeb").text = date_start
    if date_end:
        etree.SubElement(element, f"{{{ns}}}DateFin").text = date_end


def resultat(code: str, identity: Identity | None = None, *, namespace: str = RESULTAT, tiq_prenom: bool = True,
             libelle: str | None = None) -> etree._Element:
    """``RESULTAT`` as the CNAM writes it: RESULTAT in the default namespace with the INSiRecVit / INSiRecSans
    prefixes declared beside it; INDIVIDU only with an identity (INSACTIF without TypeMatricule, INSHISTO with
    it when known, then TIQ)."""
    nsmap: dict[str | None, str] = {None: namespace}
    if namespace == RESULTAT:
        nsmap.update({"ns2": RECSANS, "ns3": RECVIT})
    root = etree.Element(f"{{{namespace}}}RESULTAT", nsmap=nsmap)
    cr = etree.SubElement(root, f"{{{namespace}}}CR")
    etree.SubElement(cr, f"{{{namespace}}}CodeCR").text = code
    etree.SubElement(cr, f"{{{namespace}}}LibelleCR").text = libelle or LIBELLES.get(code, "")
    if identity is None:
        return root
    individu = etree.SubElement(root, f"{{{namespace}}}INDIVIDU")
    _matricule_element(individu, "INSACTIF", namespace, identity.nir, identity.key, identity.oid, None)
    for h in identity.history:
        _matricule_element(individu, "INSHISTO", namespace, h.nir, h.key, h.oid, h.type, h.date_start, h.date_end)
    tiq = etree.SubElement(individu, f"{{{namespace}}}TIQ")
    etree.SubElement(tiq, f"{{{namespace}}}NomNaissance").text = identity.birth_name
    if tiq_prenom:
        etree.SubElement(tiq, f"{{{namespace}}}Prenom").text = identity.first_name
    etree.SubElement(tiq, f"{{{namespace}}}ListePrenom").text = identity.list_prenom
    etree.SubElement(tiq, f"{{{namespace}}}Sexe").text = identity.sex
    etree.SubElement(tiq, f"{{{namespace}}}DateNaissance").text = identity.birth_date
    if identity.birth_place:
        etree.SubElement(tiq, f"{{{namespace}}}LieuNaissance").text = identity.birth_place
    return root


def read_resultat(element: etree._Element) -> dict[str, object]:
    """A parsed RESULTAT as a dict (tests, clients): code, libelle, ins, oid, history [(ins, oid, type)], tiq."""
    ns = etree.QName(element).namespace
    q = (lambda path: "/".join(f"{{{ns}}}{p}" for p in path.split("/"))) if ns else (lambda path: path)
    out: dict[str, object] = {"code": element.findtext(q("CR/CodeCR")), "libelle": element.findtext(q("CR/LibelleCR"))}
    individu = element.find(q("INDIVIDU"))
    if individu is None:
        return out

    def ins_of(node: etree._Element) -> str:
        return (node.findtext(q("IdIndividu/NumIdentifiant")) or "") + (node.findtext(q("IdIndividu/Cle")) or "")

    active = individu.find(q("INSACTIF"))
    assert active is not None
    out["ins"] = ins_of(active)
    out["oid"] = active.findtext(q("OID"))
    out["history"] = [(ins_of(h), h.findtext(q("OID")), h.findtext(q("IdIndividu/TypeMatricule")))
                      for h in individu.findall(q("INSHISTO"))]
    tiq = individu.find(q("TIQ"))
    out["tiq"] = {etree.QName(child).localname: child.text for child in tiq} if tiq is not None else {}
    return out


# -- building requests (clients, tests, benchmarks) -------------------------------------------------------


def _text_child(parent: etree._Element, ns: str, name: str, value: object | None) -> None:
    if value is not None:
        etree.SubElement(parent, f"{{{ns}}}{name}").text = str(value)


def traits_request(birth_name: str, first_names: str | Sequence[str], sex: str, birth_date: str,
                   birth_place: str | None = None) -> etree._Element:
    """RECSANSVITALE; ``first_names`` is one Prenom (a string) or several."""
    ns = RECSANS
    body = etree.Element(f"{{{ns}}}RECSANSVITALE", nsmap={None: ns})
    _text_child(body, ns, "NomNaissance", birth_name)
    for name in [first_names] if isinstance(first_names, str) else first_names:
        _text_child(body, ns, "Prenom", name)
    _text_child(body, ns, "Sexe", sex)
    _text_child(body, ns, "DateNaissance", birth_date)
    _text_child(body, ns, "LieuNaissance", birth_place)
    return body


def _matricule_request(parent: etree._Element, ns: str, name: str, nir: str, key: str | None,
                       type_: str | None = None) -> None:
    element = etree.SubElement(parent, f"{{{ns}}}{name}")
    _text_child(element, ns, "NumIdentifiant", nir)
    _text_child(element, ns, "Cle", key)
    _text_child(element, ns, "TypeMatricule", type_)


def vitale_request(*, beneficiary: tuple[str, str | None] | None = None, insured: tuple[str, str | None] | None = None,
                   birth_name: str | None = None, birth_date: str | None = None, rank: int | None = None
                   ) -> etree._Element:
    """RECVITALE from what a Vitale card says (C.3): the beneficiary's own NIR when on the card, the insured's."""
    ns = RECVIT
    body = etree.Element(f"{{{ns}}}RECVITALE", nsmap={None: ns})
    if beneficiary is not None:
        _matricule_request(body, ns, "MatriculeIndividu", *beneficiary)
    if insured is not None:
        _matricule_request(body, ns, "MatriculeOD", *insured)
    _text_child(body, ns, "NomNaissance", birth_name)
    _text_child(body, ns, "DateNaissance", birth_date)
    _text_child(body, ns, "RangNaissance", rank)
    return body


def vitale_request_for(card: dict, beneficiary: dict, *, with_beneficiary_nir: bool = True) -> etree._Element:
    """RECVITALE for one beneficiary of a fixtures Vitale card (``record["vitale"]`` and one of its
    ``beneficiaries``)."""
    own = (beneficiary["nir"], beneficiary.get("key")) if with_beneficiary_nir else None
    return vitale_request(beneficiary=own, insured=(card["insured"]["nir"], card["insured"].get("key")),
                          birth_name=beneficiary.get("birth_name"), birth_date=beneficiary.get("birth_date"),
                          rank=beneficiary.get("birth_rank"))


def verification_request(nir: str, key: str | None, oid: str | None, *, birth_name: str | None = None,
                         first_name: str | None = None, first_names: Sequence[str] | None = None,
                         sex: str | None = None, birth_date: str | None = None, birth_place: str | None = None,
                         namespace: str = VERIFICATION_REQUEST_NS) -> etree._Element:
    ns = namespace
    body = etree.Element(f"{{{ns}}}RequeteUnitaire", nsmap={None: ns})
    individu = etree.SubElement(body, f"{{{ns}}}IndividuVerifie")
    supplied = etree.SubElement(individu, f"{{{ns}}}INSFourni")
    _matricule_request(supplied, ns, "IdIndividu", nir, key)
    _text_child(supplied, ns, "OID", oid)
    traits = etree.SubElement(individu, f"{{{ns}}}TraitsIdentiteIndividu")
    _text_child(traits, ns, "NomNaissance", birth_name)
    _text_child(traits, ns, "Prenom", first_name)
    _text_child(traits, ns, "ListePrenom", " ".join(first_names) if first_names else None)
    _text_child(traits, ns, "Sexe", sex)
    _text_child(traits, ns, "DateNaissance", birth_date)
    _text_child(traits, ns, "LieuNaissance", birth_place)
    return body
