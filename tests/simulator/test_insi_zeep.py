"""Round trip with an independent SOAP client: zeep reads our WSDL from the running server (uvicorn on a loopback
port), builds the requests from it and parses the answers with it — both searches, the verification, a fault,
and both caller modes (INSI-AUTO certificate as a TLS proxy forwards it; signed assertion PS)."""
from __future__ import annotations

import socket
import threading
import time
import urllib.parse
from datetime import datetime, timezone

import pytest

from segur_sandbox.simulator.app import create_app
from segur_sandbox.simulator.config import Settings
from segur_sandbox.simulator.insi import build_assertion_ps
from segur_sandbox.simulator.runtime import build_runtime
from segur_sandbox.simulator.seed import seed_workspace
from segur_sandbox.simulator.soap import namespaces as soap_ns

zeep = pytest.importorskip("zeep")
requests = pytest.importorskip("requests")


@pytest.fixture(scope="module")
def server(tmp_path_factory, sandbox_pki):
    import uvicorn

    settings = Settings(data_dir=tmp_path_factory.mktemp("zeep"), seed=7, patients=12, documents_per_patient=0)
    runtime = build_runtime(settings, pki=sandbox_pki)
    seed_workspace(runtime.store, "default", seed=7, patients=12)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(runtime), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    with runtime.store.transaction(readonly=True) as tx:
        professional = dict(tx.directory.get_professional_by_ref("default", "PS-00001").record)  # the GP
        structure = dict(tx.directory.get_structure_by_ref("default", professional["structure_id"]).record)
    yield {"url": f"http://127.0.0.1:{port}", "runtime": runtime, "professional": professional,
           "structure": structure}
    server.should_exit = True
    thread.join(timeout=10)
    runtime.store.dispose()


def _client(server, *, certificate: bool = True):
    from zeep.transports import Transport

    session = requests.Session()
    if certificate:
        pem = server["runtime"].pki.organisation(server["structure"], "INSI-AUTO").cert_pem().decode()
        session.headers["X-SSL-Client-Cert"] = urllib.parse.quote(pem)
    return zeep.Client(server["url"] + "/lps?wsdl", transport=Transport(session=session))


def _headers(idam: str = "ZEEP-IDAM") -> dict:
    now = datetime.now(timezone.utc)
    return {"ContexteLPS": {"Nature": "CTXLPS", "Version": "01_00", "Id": "8d7c5a2e", "Temps": now,
                            "Emetteur": "zeep@example.test",
                            "LPS": {"IDAM": {"_value_1": idam, "R": "4"}, "Version": "4.3", "Instance": "zeep-1",
                                    "Nom": "urn:lps:zeep:4.3"}},
            "ContexteBAM": {"Version": "01_02", "Id": "1b2c3d4e", "Temps": now, "COUVERTURE": {}}}


def test_wsdl_loads_and_describes_the_service(server):
    client = _client(server)
    service = client.wsdl.services["ICIR-v1"]
    port = service.ports["ICIRService"]
    assert port.binding_options["address"] == server["url"] + "/lps"
    assert set(port.binding._operations) == {"rechercherInsAvecTraitsIdentite", "rechercherInsAvecCarteVitale",
                                             "verifierInsAvecTraitsIdentite"}


def test_traits_search_round_trip(server):
    result = _client(server).service.rechercherInsAvecTraitsIdentite(
        NomNaissance="ECETINSI", Prenom=["PIERRE-ALAIN"], Sexe="M", DateNaissance="2009-07-14",
        _soapheaders=_headers())
    assert (result.CR.CodeCR, result.CR.LibelleCR) == ("00", "OK")
    active = result.INDIVIDU.INSACTIF
    assert (active.IdIndividu.NumIdentifiant, active.IdIndividu.Cle, active.OID) == ("1090763220834", "89",
                                                                                     "1.2.250.1.213.1.4.8")
    assert [(h.IdIndividu.NumIdentifiant, h.IdIndividu.TypeMatricule) for h in result.INDIVIDU.INSHISTO] == [
        ("2090763220834", "NIR"), ("2090663220123", "NIR")]
    assert result.INDIVIDU.TIQ.ListePrenom == "PIERRE-ALAIN MURIEL FLORIANT"
    several = _client(server).service.rechercherInsAvecTraitsIdentite(
        NomNaissance="DE VINCI", Prenom=["LEONARDO"], Sexe="M", DateNaissance="2014-02-01", _soapheaders=_headers())
    assert several.CR.CodeCR == "02" and several.INDIVIDU is None


def test_vitale_search_round_trip(server):
    result = _client(server).service.rechercherInsAvecCarteVitale(
        MatriculeIndividu={"NumIdentifiant": "1090763220888", "Cle": "35"},
        MatriculeOD={"NumIdentifiant": "1090763220888", "Cle": "35"}, NomNaissance="PROVISOIRE",
        DateNaissance="2009-07-01", RangNaissance="1", _soapheaders=_headers())
    assert result.CR.CodeCR == "00"
    assert (result.INDIVIDU.INSACTIF.IdIndividu.NumIdentifiant, result.INDIVIDU.INSACTIF.OID) == (
        "1090763220888", "1.2.250.1.213.1.4.9")


def test_verification_round_trip(server):
    result = _client(server).service.verifierInsAvecTraitsIdentite(
        IndividuVerifie={"INSFourni": {"IdIndividu": {"NumIdentifiant": "2360663220836", "Cle": "56"},
                                       "OID": "1.2.250.1.213.1.4.8"},
                         "TraitsIdentiteIndividu": {"NomNaissance": "TCHITCHI", "Prenom": "BELLA", "Sexe": "F",
                                                    "DateNaissance": "1936-06-21"}},
        _soapheaders=_headers())
    assert result.CR.CodeCR == "00" and result.INDIVIDU.TIQ.ListePrenom == "CATARINA BELLA"


def test_fault_round_trip(server):
    with server["runtime"].store.transaction() as tx:
        tx.workspaces.update_settings("default", {"insi_idam_allowed": ["ANOTHER"]})
    try:
        with pytest.raises(zeep.exceptions.Fault) as raised:
            _client(server).service.rechercherInsAvecTraitsIdentite(
                NomNaissance="ADRUN", Prenom=["ZOE"], Sexe="F", DateNaissance="1975-12-31", _soapheaders=_headers())
    finally:
        with server["runtime"].store.transaction() as tx:
            tx.workspaces.update_settings("default", {"insi_idam_allowed": None})
    fault = raised.value
    assert fault.code == "soap:Sender" and [s.localname for s in fault.subcodes] == ["siram_100"]
    (erreur,) = fault.detail
    assert (erreur.get("code"), erreur.get("severite")) == ("desir_550", "erreur")


def test_cpx_mode_with_a_signed_assertion(server):
    client = _client(server, certificate=False)
    pki = server["runtime"].pki
    signer = pki.professional(server["professional"], server["structure"], usage="sign")
    assertion = build_assertion_ps(signer=signer, professional=server["professional"], structure=server["structure"],
                                   now=datetime.now(timezone.utc))
    security = client.get_element("{%s}Security" % soap_ns.WSSE)(_value_1=[assertion])
    headers = _headers()
    lps = client.get_element("{urn:siram:lps:ctxlps}ContexteLPS")(**headers["ContexteLPS"])
    bam = client.get_element("{urn:siram:bam:ctxbam}ContexteBAM")(**headers["ContexteBAM"])
    result = client.service.rechercherInsAvecTraitsIdentite(
        NomNaissance="TCHITCHI", Prenom=["CATARINA"], Sexe="F", DateNaissance="1936-06-21",
        _soapheaders=[lps, bam, security])
    assert result.INDIVIDU.INSACTIF.IdIndividu.NumIdentifiant == "2360663220836"
    with server["runtime"].store.transaction(readonly=True) as tx:
        (last,) = tx.exchanges.list("default", limit=1)
    assert last.principal["auth_mode"] == "CPX" and last.professional == server["professional"]["id_nat"]
