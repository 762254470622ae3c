"""Virtual CPS and Vitale cards, in process: the APDUs of spec insi-cards.md §B.5/§C, the client library, the
vpcd wire protocol against a fake vpcd, the CLI's state files. The same cards through pcscd are in
test_cards_pcsc.py."""
from __future__ import annotations

import hashlib
import socket
import threading
import time
from datetime import datetime, timezone

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from hypothesis import given, settings
from hypothesis import strategies as st

from segur_sandbox.fixtures.people import PopulationConfig, PopulationGenerator
from segur_sandbox.fixtures.professionals import ProfessionalDirectory
from segur_sandbox.simulator.cards import ATR_CPS3, ATR_CPS4, ATR_VITALE2, CpsCard, InProcessReader, VitaleCard, tlv
from segur_sandbox.simulator.cards.apdu import Command, apdu, split_response
from segur_sandbox.simulator.cards.bay import CardBay, SlotBusy, list_slots, request_removal
from segur_sandbox.simulator.cards.cli import CardSpec, cards_group
from segur_sandbox.simulator.cards.client import (CardChannel, CardPrivateKey, CpsClient, PinBlocked, VitaleClient,
                                                  WrongPin)
from segur_sandbox.simulator.cards.population import NotInPopulation, find_professional, find_vitale
from segur_sandbox.simulator.cards.sha import HashState
from segur_sandbox.simulator.cards.transport import NoCardError
from segur_sandbox.simulator.cards.vitale import VitaleData
from segur_sandbox.simulator.cards.vpicc import VpcdLink, VpcdUnavailable
from segur_sandbox.simulator.dmp.messages import demographics_request
from segur_sandbox.simulator.pki import read_card_extensions

SEED = 7  # the e2e sandbox's seed (conftest.py), so its PKI and DMP accept these cards


def send(card, hex_apdu: str) -> tuple[bytes, int]:
    return split_response(card.transmit(bytes.fromhex(hex_apdu.replace(" ", ""))))


@pytest.fixture(scope="module")
def directory():
    return ProfessionalDirectory(SEED, 12)


@pytest.fixture(scope="module")
def population():
    return list(PopulationGenerator(PopulationConfig(seed=SEED, patients=200)).patients())


@pytest.fixture
def holder(directory):
    professional = directory.professionals[0]
    return professional, directory.structures_by_id[professional["structure_id"]]


@pytest.fixture
def card(sandbox_pki, holder):
    return CpsCard.issue(sandbox_pki, *holder)


@pytest.fixture
def cps(card):
    return CpsClient(CardChannel.in_process(card))


# --- ATR, files, SELECT ---------------------------------------------------------------------------------
def test_atrs_are_the_real_cards_bytes(sandbox_pki, holder):
    atr = CpsCard.issue(sandbox_pki, *holder).atr
    assert atr.hex(" ").upper() == "3B AC 00 40 2A 00 12 25 00 64 80 00 03 10 00 90 00"
    assert CpsCard.issue(sandbox_pki, *holder, model="cps4").atr == ATR_CPS4
    assert ATR_CPS3 != ATR_CPS4
    assert ATR_VITALE2.hex(" ").upper() == "3B 75 13 00 00 43 09 EA 90 00"


def test_select_by_path_keeps_3f00_and_returns_fcp(card):
    data, sw = send(card, "00 A4 09 04 04 3F00 D003 00")  # what Cryptolib sends to a CPS3
    assert sw == 0x9000
    assert tlv.find(data, 0x62, 0x83) == b"\xd0\x03" and tlv.find(data, 0x62, 0x80) == b"\x00\x0c"
    data, sw = send(card, "00 B0 00 00 00")
    assert sw == 0x9000 and len(data) == 12 and data[:7] == bytes.fromhex("5A0A8025000001")


def test_select_variants_and_errors(card):
    assert send(card, "00 A4 04 0C 0D E828BD080F8025000001FF0010") == (b"", 0x9000)
    assert send(card, "00 A4 02 0C 02 C001") == (b"", 0x9000)  # EF of the current DF
    assert send(card, "00 A4 08 0C 04 0001 7001") == (b"", 0x9000)  # path from the MF
    fci, sw = send(card, "00 A4 00 00 02 3F00 00")
    assert sw == 0x9000 and fci[0] == 0x6F
    assert send(card, "00 A4 09 0C 04 3F00 D0FF")[1] == 0x6A82
    assert send(card, "00 A4 04 0C 05 A000000000")[1] == 0x6A82
    assert send(card, "00 B0 00 00 00")[1] == 0x6986  # the MF is selected: no current EF
    assert send(card, "00 12 00 00")[1] == 0x6D00
    assert send(card, "A0 A4 00 00 02 3F00")[1] == 0x6E00  # CPS2ter class: not emulated


def test_select_without_le_answers_61xx_then_get_response(card):
    data, sw = send(card, "00 A4 09 04 04 3F00 D003")  # T=0 style: no Le
    assert data == b"" and sw >> 8 == 0x61
    fcp, sw = send(card, f"00 C0 00 00 {sw & 0xFF:02X}")
    assert sw == 0x9000 and fcp[0] == 0x62


def test_serial_and_certificates_match_the_pki(sandbox_pki, holder, cps):
    auth = sandbox_pki.professional(*holder, usage="auth")
    sign = sandbox_pki.professional(*holder, usage="sign")
    assert cps.read_certificate("auth") == auth.certificate
    assert cps.read_certificate("sign") == sign.certificate
    assert cps.serial() == read_card_extensions(sign.certificate).card_serial.split("/")[1]
    now = datetime.now(timezone.utc)
    assert sandbox_pki.verify_chain(cps.read_certificate("sign"), now, purpose="sign").ok
    assert sandbox_pki.verify_chain(cps.read_certificate("auth"), now, purpose="auth").ok


def test_holder_comes_from_the_certificate_and_situation(cps, holder):
    professional, structure = holder
    read = cps.read_holder()
    assert (read.id_nat, read.family, read.given) == tuple(professional[k] for k in ("id_nat", "family", "given"))
    assert read.card_type == "CPS" and read.profession == int(professional["profession"]["code"])
    assert read.situation.structure_id_nat == structure["id_nat"]
    assert read.situation.sector == structure["secteur_activite"]["code"]


def test_cpe_card_carries_the_structure(sandbox_pki, holder):
    cpe = CpsClient(CardChannel.in_process(CpsCard.issue(sandbox_pki, *holder, card_type="CPE")))
    read = cpe.read_holder()
    assert read.card_type == "CPE" and read.structure_id_nat == holder[1]["id_nat"]


# --- PIN ------------------------------------------------------------------------------------------------
def test_pin_counter_get_data_as_cryptolib_sends_it(card):
    data, sw = send(card, "00 CB 3F FF 0A 4D 08 70 06 BF 81 01 02 A0 80 00")
    assert sw == 0x9000
    assert tlv.find(data, 0xBF8101, 0xA0, 0x9A) == b"\x03" and tlv.find(data, 0xBF8101, 0xA0, 0x9B) == b"\x03"


def test_three_wrong_pins_block_and_the_puk_unblocks(cps, card):
    statuses = []
    for _ in range(3):
        with pytest.raises(WrongPin) as wrong:
            cps.verify_pin("0000")
        statuses.append(wrong.value.sw)
    assert statuses == [0x63C2, 0x63C1, 0x63C0]
    with pytest.raises(PinBlocked):
        cps.verify_pin("1234")  # even the right PIN
    assert cps.pin_tries_left() == 0
    assert send(card, "00 20 00 01")[1] == 0x6983  # CPS4-style status query
    with pytest.raises(WrongPin) as wrong_puk:
        cps.unblock_pin("00000000", "4321")
    assert wrong_puk.value.tries_left == 9
    cps.unblock_pin("12345678", "4321")
    assert cps.pin_tries_left() == 3 and cps.puk_tries_left() == 10
    with pytest.raises(WrongPin):
        cps.verify_pin("1234")
    cps.verify_pin("4321")
    assert send(card, "00 20 00 01") == (b"", 0x9000)


def test_puk_only_reset_keeps_the_pin(cps):
    for _ in range(3):
        with pytest.raises(WrongPin):
            cps.verify_pin("9999")
    cps.unblock_pin("12345678")
    cps.verify_pin("1234")


def test_change_pin_and_cps4_counter_query(sandbox_pki, holder):
    cps = CpsClient(CardChannel.in_process(CpsCard.issue(sandbox_pki, *holder, model="cps4")))
    assert cps.model == "cps4" and cps.pin_tries_left() == 3  # VERIFY with no data
    with pytest.raises(WrongPin):
        cps.verify_pin("1111")
    assert cps.pin_tries_left() == 2
    cps.change_pin("1234", "2468")
    cps.verify_pin("2468")


def test_pin_status_is_lost_at_power_down(cps, card):
    cps.verify_pin("1234")
    assert send(card, "00 20 00 01")[1] == 0x9000
    card.power_down()
    card.power_up()
    assert send(card, "00 20 00 01")[1] == 0x63C3


# --- cryptography ---------------------------------------------------------------------------------------
def test_signature_needs_the_pin_and_verifies_with_the_certificate(cps, card):
    with pytest.raises(Exception) as refused:
        cps.sign(b"document")
    assert getattr(refused.value, "sw", None) == 0x6982
    cps.verify_pin("1234")
    public = cps.read_certificate("sign").public_key()
    for name, algorithm in (("sha256", hashes.SHA256()), ("sha1", hashes.SHA1())):
        for card_hash in (False, True):
            message = b"x" * 1000
            public.verify(cps.sign(message, name, card_hash=card_hash), message, padding.PKCS1v15(), algorithm)


def test_pso_cds_raw_apdus_and_key_usage(card):
    assert send(card, "00 20 00 01 04 31323334")[1] == 0x9000
    digest = hashlib.sha256(b"abc").digest()
    assert send(card, "00 22 41 B6 06 80 01 42 84 01 02")[1] == 0x9000
    signature, sw = send(card, "00 2A 9E 9A 20" + digest.hex() + "00")
    assert sw == 0x9000 and len(signature) == 256
    assert send(card, "00 22 41 B6 06 80 01 12 84 01 02")[1] == 0x9000  # announced SHA-1, sent SHA-256
    assert send(card, "00 2A 9E 9A 20" + digest.hex() + "00")[1] == 0x6A80
    assert send(card, "00 22 41 B6 06 80 01 42 84 01 01")[1] == 0x9000  # the auth key does not sign
    assert send(card, "00 2A 9E 9A 20" + digest.hex() + "00")[1] == 0x6985
    assert send(card, "00 22 41 B6 06 80 01 42 84 01 07")[1] == 0x6A88
    assert send(card, "00 22 81 B6 04 91 02 42 82")[1] == 0x9000  # CPS4 form
    assert send(card, "00 2A 9E 9A 00")[1] == 0x6985  # no data and no PSO HASH before


def test_internal_authenticate_and_decipher_use_the_auth_key(cps):
    cps.verify_pin("1234")
    public = cps.read_certificate("auth").public_key()
    challenge = hashlib.md5(b"tls").digest() + hashlib.sha1(b"tls").digest()  # 36 bytes, no DigestInfo
    signature = cps.authenticate(challenge)
    assert public.recover_data_from_signature(signature, padding.PKCS1v15(), None) == challenge
    ciphertext = public.encrypt(b"session key", padding.PKCS1v15())
    assert cps.decipher(ciphertext) == b"session key"


def test_card_private_key_plugs_into_cryptography_callers(cps):
    signer = cps.signer("1234")
    assert isinstance(signer.private_key, CardPrivateKey)
    signature = signer.private_key.sign(b"payload", padding.PKCS1v15(), hashes.SHA256())
    signer.certificate.public_key().verify(signature, b"payload", padding.PKCS1v15(), hashes.SHA256())
    with pytest.raises(TypeError):
        signer.private_key.private_numbers()
    with pytest.raises(ValueError):
        signer.private_key.sign(b"payload", padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())


def test_signer_presents_the_pin_again_after_a_reset(cps, card):
    signer = cps.signer("1234")
    card.reset()
    signer.certificate.public_key().verify(signer.sign(b"again"), b"again", padding.PKCS1v15(), hashes.SHA256())


def test_vihf_signed_by_the_in_process_card_is_accepted_by_the_dmp(sandbox):
    professional, structure = sandbox.professional(0)
    cps = CpsClient(CardChannel.in_process(CpsCard.issue(sandbox.pki, professional, structure)))
    patient = sandbox.scenario(0)
    client = sandbox.client(0, vihf_options={"signer": cps.signer("1234")})
    reply = client.call("patients", demographics_request(patient), patient=patient)
    assert reply.status == 200 and reply.fault is None, reply.raw[:500]


# --- Vitale ---------------------------------------------------------------------------------------------
def _card_of(patient):
    return {k: v for k, v in patient["vitale"].items() if k not in ("beneficiary_rank", "is_insured")}


def test_vitale_beneficiaries_match_the_fixtures(population):
    family = max(population, key=lambda p: len(p["vitale"]["beneficiaries"]))
    card = _card_of(family)
    read = VitaleClient(CardChannel.in_process(VitaleCard.from_fixtures(card))).read()
    assert read == VitaleData.from_fixtures(card)
    assert [(b.nir + b.key, b.first_name, b.birth_date, b.birth_rank, b.quality) for b in read.beneficiaries] == [
        (b["nir"] + b["key"], b["first_name"], b["birth_date"], b["birth_rank"], b["quality"])
        for b in card["beneficiaries"]]
    assert (read.insured_nir, read.insured_key) == (card["insured"]["nir"], card["insured"]["key"])
    assert read.serial == card["serial"] and read.caisse == card["amo"]["caisse"]


def test_vitale_twins_ranks_and_lunar_dates(population):
    twin = next(p for p in population if "twin" in p["edge_cases"])
    read = VitaleClient(CardChannel.in_process(VitaleCard.from_fixtures(_card_of(twin)))).read()
    assert sorted(b.birth_rank for b in read.beneficiaries if b.quality == "ENFANT")[-2:] == [1, 2]
    lunar = next(p for p in population if "unknown_birth_date" in p["edge_cases"])
    read = VitaleClient(CardChannel.in_process(VitaleCard.from_fixtures(_card_of(lunar)))).read()
    assert lunar["traits"]["birth_date"] in {b.birth_date for b in read.beneficiaries}


def test_vitale_clear_files_by_cardpeek_path_and_protected_file(population):
    card = VitaleCard.from_fixtures(_card_of(population[0]))
    assert send(card, "00 A4 04 00 0B D250000002564954414C45 00")[1] == 0x9000
    assert send(card, "00 A4 02 0C 02 2001")[1] == 0x9000
    pointers, sw = send(card, "00 B0 00 00 00")
    assert sw == 0x9000 and pointers[0] == 0xE0
    assert send(card, "00 A4 02 0C 02 E001")[1] == 0x9000
    assert send(card, "00 B0 00 00 00")[1] == 0x6982  # "data not accessible"
    assert send(card, "00 A4 04 0C 0E D2500000024D465F564954414C45")[1] == 0x9000
    assert send(card, "00 A4 02 0C 02 2F02")[1] == 0x9000
    pan, _ = send(card, "00 B0 00 00 00")
    assert pan.hex().upper().startswith("5A05" + population[0]["vitale"]["serial"])


# --- lower layers ---------------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300), st.sampled_from(["sha1", "sha256"]))
def test_resumable_sha_matches_hashlib(message, algorithm):
    state, tail = HashState.initial(algorithm).absorb(message)
    resumed = HashState.from_bytes(state.to_bytes(), state.bits)
    assert resumed.finish(tail) == hashlib.new(algorithm, message).digest()
    assert 0 < len(tail) <= 64 or message == b""


@given(st.integers(0, 0xFF), st.binary(max_size=70000), st.one_of(st.none(), st.integers(1, 65536)))
@settings(max_examples=60, deadline=None)
def test_apdu_encoding_round_trips(ins, data, ne):
    command = Command(0x00, ins, 0x01, 0x02, data, ne)
    if len(data) > 65535:
        return
    parsed = Command.parse(command.to_bytes())
    assert (parsed.ins, parsed.data, parsed.ne) == (ins, data, ne)


def test_tlv_nested_and_long_lengths():
    value = tlv.tlv(0xBF8101, tlv.tlv(0xA0, [tlv.tlv(0x9A, b"\x03"), tlv.tlv(0x04, b"z" * 300)]))
    assert tlv.find(value, 0xBF8101, 0xA0, 0x9A) == b"\x03"
    assert len(tlv.find(value, 0xBF8101, 0xA0, 0x04)) == 300


def test_in_process_reader_insert_and_remove(card):
    reader = InProcessReader()
    with pytest.raises(NoCardError):
        reader.createConnection().connect()
    reader.insert(card)
    channel = CardChannel.in_process(reader)
    assert channel.atr == ATR_CPS3
    reader.remove()
    with pytest.raises(NoCardError):
        channel.transmit(apdu(0x00, 0xA4, 0x00, 0x0C, b"\x3f\x00"))


# --- vpcd protocol, against a fake vpcd -----------------------------------------------------------------
class FakeVpcd:
    """What pcscd's vpcd driver does on its socket: listen, ask for the ATR, power on, send APDUs, and poll
    presence (GET ATR) every 50 ms, dropping the card when the ATR comes back empty."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.conn: socket.socket | None = None
        self.ready = threading.Event()
        self.ejected = threading.Event()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self.conn, _ = self.server.accept()
        self.ready.set()

    def _exchange(self, payload: bytes, answer: bool = True) -> bytes:
        with self._lock:
            assert self.conn is not None
            self.conn.sendall(len(payload).to_bytes(2, "big"))  # two writes, as vpcd does
            self.conn.sendall(payload)
            if not answer:
                return b""
            size = int.from_bytes(self.conn.recv(2, socket.MSG_WAITALL), "big")
            return self.conn.recv(size, socket.MSG_WAITALL) if size else b""

    def atr(self) -> bytes:
        return self._exchange(b"\x04")

    def power_on(self) -> None:
        self._exchange(b"\x01", answer=False)
        threading.Thread(target=self._poll, daemon=True).start()

    def _poll(self) -> None:
        while not self.ejected.is_set():
            time.sleep(0.05)
            try:
                if self.atr() == b"":
                    self.ejected.set()
                    with self._lock:
                        self.conn.close()
            except OSError:
                return

    def transmit(self, command: bytes) -> bytes:
        return self._exchange(command)

    def close(self) -> None:
        self.ejected.set()
        with self._lock:
            if self.conn is not None:
                self.conn.close()
        self.server.close()


def test_vpicc_protocol_against_a_fake_vpcd(card):
    vpcd = FakeVpcd()
    link = VpcdLink(card, 0, port=vpcd.port)
    inserting = threading.Thread(target=link.insert, kwargs={"timeout": 3.0})
    inserting.start()
    assert vpcd.ready.wait(3)
    assert vpcd.atr() == ATR_CPS3
    vpcd.power_on()
    inserting.join(5)
    assert link.alive
    response = vpcd.transmit(apdu(0x00, 0xA4, 0x09, 0x0C, bytes.fromhex("3F00D003")))
    assert response == b"\x90\x00"
    assert vpcd.transmit(apdu(0x00, 0xB0, 0x00, 0x00, ne=256))[:3] == bytes.fromhex("5A0A80")
    started = time.monotonic()
    link.remove()  # answers the next presence poll with an empty ATR, then vpcd hangs up
    assert vpcd.ejected.is_set() and time.monotonic() - started < 1
    assert not link.alive
    vpcd.close()


def test_vpicc_reports_a_missing_vpcd(card):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(VpcdUnavailable, match="start pcscd"):
        VpcdLink(card, 0, port=port).insert(timeout=1)


def test_bay_state_files_list_and_remove(tmp_path, card, population):
    vpcds = [FakeVpcd(), FakeVpcd()]
    vitale = VitaleCard.from_fixtures(_card_of(population[0]))

    def serve(fake):
        fake.ready.wait(3)
        fake.atr()
        fake.power_on()

    bay = CardBay(tmp_path)
    for slot, (fake, item) in enumerate(zip(vpcds, (card, vitale), strict=True)):
        threading.Thread(target=serve, args=(fake,), daemon=True).start()
        bay.base_port = fake.port - slot
        bay.insert(item, slot, timeout=3)
    assert [(r["slot"], r["kind"]) for r in list_slots(tmp_path)] == [(0, "cps"), (1, "vitale")]
    with pytest.raises(SlotBusy):
        bay.free_slot(1)
    stop = threading.Event()
    waiter = threading.Thread(target=bay.wait, args=(stop,))
    waiter.start()
    assert "removed" in request_removal(tmp_path, 1)
    assert [r["slot"] for r in list_slots(tmp_path)] == [0]
    assert "no card" in request_removal(tmp_path, 1)
    stop.set()
    waiter.join(3)
    bay.close()
    assert list_slots(tmp_path) == []
    for fake in vpcds:
        fake.close()


# --- CLI and population lookups ------------------------------------------------------------------------
def test_population_lookups(population, directory):
    professional = directory.professionals[3]
    for key in ("id_nat", "rpps", "id"):
        assert find_professional(SEED, professional[key])[0]["id_nat"] == professional["id_nat"]
    with pytest.raises(NotInPopulation):
        find_professional(SEED, "899999999999")
    child = next(p for p in population if p["vitale"]["beneficiary_rank"] and not p["vitale"]["is_insured"])
    card, patient = find_vitale(SEED, child["ins"]["nir"] + child["ins"]["key"])
    assert patient["id"] == child["id"] and card == _card_of(child)
    with pytest.raises(NotInPopulation):
        find_vitale(SEED, "1010101010101")


def test_card_spec_parsing():
    assert CardSpec.parse("cps:899140833635@1") == CardSpec("cps", "899140833635", 1)
    assert CardSpec.parse("vitale:2730399127242") == CardSpec("vitale", "2730399127242", None)
    with pytest.raises(ValueError):
        CardSpec.parse("badge:42")


def test_cli_list_remove_and_insert_errors(tmp_path):
    runner = CliRunner()
    result = runner.invoke(cards_group, ["list", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0 and "No virtual card inserted" in result.output
    result = runner.invoke(cards_group, ["remove", "--slot", "1", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0 and "no card" in result.output
    result = runner.invoke(cards_group, ["insert", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2 and "--cps" in result.output
    result = runner.invoke(cards_group, ["insert", "--cps", "899999999999", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1 and "no professional" in result.output


def test_card_commands_reuse_the_server_pki_cache(tmp_path):
    from segur_sandbox.simulator.cards.population import open_pki
    from segur_sandbox.simulator.config import Settings
    from segur_sandbox.simulator.pki import TestPKI

    server = TestPKI.open(tmp_path / "pki", SEED, base_url="http://127.0.0.1:9000/pki")  # `serve --port 9000`
    opened = open_pki(Settings(data_dir=tmp_path, seed=SEED))  # the card command's default port is 8080
    assert opened.base_url == server.base_url and opened.root == server.root
    other = open_pki(Settings(data_dir=tmp_path, seed=SEED + 1))
    assert other.root != server.root and (tmp_path / f"pki-seed{SEED + 1}").is_dir()
    assert TestPKI.open(tmp_path / "pki", SEED, base_url="http://127.0.0.1:9000/pki").root == server.root


def test_the_bay_publishes_the_pin_state_in_the_slot_file(tmp_path, card, cps):
    class Link:  # the bay's view of a vpcd link: the card it serves
        def __init__(self, card):
            self.card, self.alive = card, True

        def remove(self):
            pass

    bay = CardBay(tmp_path)
    bay.links[0] = Link(card)
    bay._records[0] = {"slot": 0, "pid": 0, **card.describe()}
    bay._write(0, bay._records[0])
    assert list_slots(tmp_path)[0]["pin_tries_left"] == 3
    with pytest.raises(WrongPin):
        cps.verify_pin("0000")
    bay.refresh()
    assert {k: list_slots(tmp_path)[0][k] for k in ("pin_tries_left", "pin_blocked", "pin_verified")} == {
        "pin_tries_left": 2, "pin_blocked": False, "pin_verified": False}
    cps.verify_pin("1234")
    bay.refresh()
    assert list_slots(tmp_path)[0]["pin_tries_left"] == 3 and list_slots(tmp_path)[0]["pin_verified"] is True
