"""The virtual cards through the real PC/SC stack: pyscard -> pcscd -> vpcd driver -> our vpicc link.

Needs pcscd running with Debian's vsmartcard-vpcd driver, and pyscard. Without them these tests are
skipped, with the reason -- unless SEGUR_SANDBOX_REQUIRE_PCSC=1 (CI), which turns the skip into a failure.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime, timezone

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from segur_sandbox.fixtures.people import PopulationConfig, PopulationGenerator
from segur_sandbox.fixtures.professionals import ProfessionalDirectory
from segur_sandbox.simulator.cards import ATR_CPS3, ATR_VITALE2, CpsCard, VitaleCard, VpcdLink, reader_name
from segur_sandbox.simulator.cards.cli import cards_group
from segur_sandbox.simulator.cards.client import (CardStatusError, CpsClient, PinBlocked, VitaleClient, WrongPin,
                                                  connect, pcsc_readers, pcsc_status)
from segur_sandbox.simulator.cards.vitale import VitaleData
from segur_sandbox.simulator.dmp.messages import demographics_request

pytestmark = pytest.mark.pcsc

SEED = 7  # the e2e sandbox's seed (conftest.py)


@pytest.fixture(scope="module", autouse=True)
def pcsc_stack():
    ok, why = pcsc_status()
    if not ok:
        if os.environ.get("SEGUR_SANDBOX_REQUIRE_PCSC") == "1":
            pytest.fail(f"SEGUR_SANDBOX_REQUIRE_PCSC=1 but the PC/SC stack is not usable: {why}", pytrace=False)
        pytest.skip(f"PC/SC stack not available ({why}); install pcscd, vsmartcard-vpcd and pyscard, start pcscd")


@pytest.fixture(scope="module")
def directory():
    return ProfessionalDirectory(SEED, 12)


@pytest.fixture
def holder(directory):
    professional = directory.professionals[0]
    return professional, directory.structures_by_id[professional["structure_id"]]


@pytest.fixture
def inserted():
    """Insert cards in vpcd slots for one test; every channel opened is closed, every card pulled out."""
    links, channels = [], []

    def insert(card, slot: int):
        links.append(VpcdLink(card, slot).insert(timeout=10))
        channel = connect(reader_name(slot), timeout=5)
        channels.append(channel)
        return channel

    yield insert
    for channel in channels:
        channel.close()
    for link in links:
        link.remove()
    _wait_empty([link.slot for link in links])


def _wait_empty(slots, timeout: float = 5.0) -> None:
    """pcscd notices a removal at its next presence poll; wait so that the next test finds the slot free."""
    from smartcard.Exceptions import CardConnectionException, NoCardException
    from smartcard.System import readers

    deadline = time.monotonic() + timeout
    pending = set(slots)
    while pending and time.monotonic() < deadline:
        for reader in readers():
            slot = next((s for s in pending if str(reader) == reader_name(s)), None)
            if slot is None:
                continue
            connection = reader.createConnection()
            try:
                connection.connect()
                connection.disconnect()
            except (NoCardException, CardConnectionException):
                pending.discard(slot)
        time.sleep(0.1)


def _vitale_fixture():
    population = PopulationGenerator(PopulationConfig(seed=SEED, patients=60)).patients()
    family = max(population, key=lambda p: len(p["vitale"]["beneficiaries"]))
    return {k: v for k, v in family["vitale"].items() if k not in ("beneficiary_rank", "is_insured")}


def test_virtual_readers_are_listed():
    names = pcsc_readers()
    assert "Virtual PCD 00 00" in names and "Virtual PCD 00 01" in names


def test_atrs_seen_by_pcsc_clients(inserted, sandbox_pki, holder):
    cps = inserted(CpsCard.issue(sandbox_pki, *holder), 0)
    vitale = inserted(VitaleCard.from_fixtures(_vitale_fixture()), 1)
    assert cps.atr == ATR_CPS3 and cps.reader == "Virtual PCD 00 00"
    assert vitale.atr == ATR_VITALE2 and vitale.reader == "Virtual PCD 00 01"


def test_certificates_read_through_pcsc_chain_to_the_test_ca(inserted, sandbox_pki, holder):
    cps = CpsClient(inserted(CpsCard.issue(sandbox_pki, *holder), 0))
    now = datetime.now(timezone.utc)
    for usage in ("auth", "sign"):
        cert = cps.read_certificate(usage)
        assert cert == sandbox_pki.professional(*holder, usage=usage).certificate
        verdict = sandbox_pki.verify_chain(cert, now, purpose=usage)
        assert verdict.ok and verdict.chain[-1] == sandbox_pki.root
    assert cps.read_holder().id_nat == holder[0]["id_nat"]


def test_wrong_pin_three_times_blocks_and_puk_unblocks(inserted, sandbox_pki, holder):
    cps = CpsClient(inserted(CpsCard.issue(sandbox_pki, *holder), 0))
    assert cps.pin_tries_left() == 3
    for left in (2, 1, 0):
        with pytest.raises(WrongPin) as wrong:
            cps.verify_pin("9999")
        assert wrong.value.tries_left == left
    with pytest.raises(PinBlocked):
        cps.verify_pin("1234")
    with pytest.raises(CardStatusError) as refused:
        cps.sign(b"blocked")
    assert refused.value.sw == 0x6982
    cps.unblock_pin("12345678", "5678")
    assert cps.pin_tries_left() == 3
    cps.verify_pin("5678")
    cps.read_certificate("sign").public_key().verify(cps.sign(b"ok"), b"ok", padding.PKCS1v15(), hashes.SHA256())


def test_signatures_through_pcsc_verify_with_the_certificate(inserted, sandbox_pki, holder):
    cps = CpsClient(inserted(CpsCard.issue(sandbox_pki, *holder), 0))
    cps.verify_pin("1234")
    public = cps.read_certificate("sign").public_key()
    message = b"<VIHF/>" * 500
    for card_hash in (False, True):
        public.verify(cps.sign(message, "sha256", card_hash=card_hash), message, padding.PKCS1v15(), hashes.SHA256())
    challenge = os.urandom(36)
    auth = cps.read_certificate("auth").public_key()
    assert auth.recover_data_from_signature(cps.authenticate(challenge), padding.PKCS1v15(), None) == challenge


def test_vihf_signed_through_the_virtual_card_is_accepted_by_the_dmp(inserted, sandbox):
    professional, structure = sandbox.professional(0)
    cps = CpsClient(inserted(CpsCard.issue(sandbox.pki, professional, structure), 0))
    signer = cps.signer("1234")
    patient = sandbox.scenario(0)
    reply = sandbox.client(0, vihf_options={"signer": signer}).call("patients", demographics_request(patient),
                                                                   patient=patient)
    assert reply.status == 200 and reply.fault is None, reply.raw[:500]


def test_vitale_beneficiaries_read_through_pcsc_match_the_fixtures(inserted):
    card = _vitale_fixture()
    read = VitaleClient(inserted(VitaleCard.from_fixtures(card), 1)).read()
    assert read == VitaleData.from_fixtures(card)
    assert [(b.nir, b.first_name, b.birth_rank) for b in read.beneficiaries] == [
        (b["nir"], b["first_name"], b["birth_rank"]) for b in card["beneficiaries"]]


def test_removed_card_leaves_the_reader_empty(sandbox_pki, holder):
    link = VpcdLink(CpsCard.issue(sandbox_pki, *holder), 0).insert(timeout=10)
    channel = connect(reader_name(0), timeout=5)
    channel.close()
    link.remove()
    deadline = time.monotonic() + 5
    while True:
        try:
            connect(reader_name(0), timeout=0).close()
        except CardStatusError:
            break
        assert time.monotonic() < deadline, "pcscd still sees the card 5 s after its removal"
        time.sleep(0.1)


def test_cli_insert_list_remove(tmp_path, directory):
    professional = directory.professionals[1]
    program = "from segur_sandbox.simulator.cards.cli import cards_group; cards_group(prog_name='segur-sandbox cards')"
    command = [sys.executable, "-c", program, "insert", "--cps", professional["id_nat"], "--slot", "0",
               "--pin", "4321", "--seed", str(SEED), "--data-dir", str(tmp_path), "--duration", "120"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        first = process.stdout.readline()
        assert first.startswith("Inserted CPS"), first + process.stdout.read() if process.poll() is not None else first
        runner = CliRunner()
        listing = runner.invoke(cards_group, ["list", "--data-dir", str(tmp_path)])
        assert "slot 0  Virtual PCD 00 00  CPS" in listing.output and f"pid {process.pid}" in listing.output
        channel = connect(reader_name(0), timeout=5)
        cps = CpsClient(channel)
        assert cps.read_holder().id_nat == professional["id_nat"]
        cps.verify_pin("4321")
        channel.close()
        removal = runner.invoke(cards_group, ["remove", "--slot", "0", "--data-dir", str(tmp_path)])
        assert "removed from Virtual PCD 00 00" in removal.output, removal.output
        assert process.wait(timeout=10) == 0
        assert "Cards removed." in process.stdout.read()
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=10)
    _wait_empty([0])


def _run_server(command_name: str, tmp_path, extra: list[str]):
    import socket

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "segur_sandbox.simulator.cli", command_name, "--port", str(port), "--data-dir",
               str(tmp_path), "--seed", str(SEED), "--patients", "12", "--documents-per-patient", "0", *extra]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(process.stdout.read())
        time.sleep(0.3)


def test_start_inserts_the_scenario_cps_and_a_vitale_card(tmp_path, directory):
    process = _run_server("start", tmp_path, [])
    try:
        channel = connect(reader_name(0), timeout=5)
        assert CpsClient(channel).read_holder().id_nat == directory.professionals[0]["id_nat"]
        channel.close()
        channel = connect(reader_name(1), timeout=5)
        assert VitaleClient(channel).read().beneficiaries
        channel.close()
    finally:
        process.terminate()
        process.wait(timeout=20)
    _wait_empty([0, 1])


def test_serve_keeps_cards_inserted_while_it_runs(tmp_path, directory):
    professional = directory.professionals[0]
    process = _run_server("serve", tmp_path, ["--cards", f"cps:{professional['id_nat']}@1"])
    try:
        channel = connect(reader_name(1), timeout=5)
        assert CpsClient(channel).read_holder().id_nat == professional["id_nat"]
        channel.close()
    finally:
        process.terminate()
        process.wait(timeout=20)
    _wait_empty([1])
