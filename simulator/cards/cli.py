"""``segur-sandbox cards …``: put virtual CPS and Vitale cards in the vpcd readers pcscd shows.

    segur-sandbox cards insert --cps 899140833635 [--slot 0] [--pin 1234]   # stays in until Ctrl-C
    segur-sandbox cards insert --vitale 2730399127242                        # another terminal, slot 1
    segur-sandbox cards list
    segur-sandbox cards remove --slot 1

``insert_cards`` does the same for ``serve --cards cps:ID,vitale:NIR`` (the cards live as long as the server).
"""
from __future__ import annotations

import signal
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import click

from ..config import Settings, from_environment
from ..pki import CardType
from .bay import CardBay, SlotBusy, list_slots, request_removal
from .cps import DEFAULT_PIN, DEFAULT_PUK, CpsCard
from .iso7816 import CardOS
from .population import DEFAULT_PROFESSIONALS, NotInPopulation, find_professional, find_vitale, open_pki
from .vitale import VitaleCard
from .vpicc import VPCD_HOST, VpcdUnavailable


def state_dir(settings: Settings) -> Path:
    return settings.data_dir / "cards"


@dataclass(frozen=True)
class CardSpec:
    """One card to insert: ``cps:<national id>[@slot]`` or ``vitale:<NIR>[@slot]``."""

    kind: str  # "cps" | "vitale"
    identifier: str
    slot: int | None = None

    @classmethod
    def parse(cls, text: str) -> CardSpec:
        kind, sep, rest = text.strip().partition(":")
        identifier, at, slot = rest.partition("@")
        if not sep or kind.lower() not in ("cps", "cpe", "vitale") or not identifier:
            raise ValueError(f"a card is cps:<national id>[@slot] or vitale:<NIR>[@slot], not {text!r}")
        if at and not slot.isdigit():
            raise ValueError(f"slot must be a number in {text!r}")
        return cls(kind.lower(), identifier, int(slot) if at else None)


def build_card(spec: CardSpec, settings: Settings, *, pin: str = DEFAULT_PIN, puk: str = DEFAULT_PUK,
               model: str = "cps3", professionals: int = DEFAULT_PROFESSIONALS) -> tuple[CardOS, dict[str, str]]:
    """The card object for a spec, from the seeded population and the sandbox PKI."""
    if spec.kind in ("cps", "cpe"):
        professional, structure = find_professional(settings.seed, spec.identifier, professionals=professionals)
        card_type: CardType = "CPE" if spec.kind == "cpe" else "CPS"
        cps = CpsCard.issue(open_pki(settings), professional, structure, card_type=card_type,
                            model=model, pin=pin, puk=puk)  # type: ignore[arg-type]
        return cps, {"holder": professional["id_nat"], "structure": structure["id_nat"]}
    vitale, patient = find_vitale(settings.seed, spec.identifier, patients=settings.patients)
    card = VitaleCard.from_fixtures(vitale, label=f"Vitale {vitale['serial']} ({patient['traits']['birth_name']})")
    return card, {"patient": patient["id"], "insured": vitale["insured"]["nir"] + vitale["insured"]["key"]}


def insert_cards(settings: Settings, specs: Sequence[str | CardSpec], *, host: str = VPCD_HOST,
                 pin: str = DEFAULT_PIN, puk: str = DEFAULT_PUK, model: str = "cps3") -> CardBay:
    """Insert every card of ``specs`` into vpcd slots; the returned bay keeps them in until ``close()``.
    For ``serve --cards``: ``bay = insert_cards(settings, "cps:899…,vitale:2…".split(","))`` before
    ``uvicorn.run``, ``bay.close()`` after."""
    bay = CardBay(state_dir(settings), host=host)
    try:
        for raw in specs:
            spec = raw if isinstance(raw, CardSpec) else CardSpec.parse(raw)
            card, details = build_card(spec, settings, pin=pin, puk=puk, model=model)
            bay.insert(card, spec.slot, details=details)
    except BaseException:
        bay.close()
        raise
    return bay


@click.group(name="cards")
def cards_group() -> None:
    """Virtual CPS and Vitale cards in the PC/SC readers of this machine (pcscd + vsmartcard-vpcd)."""


def _settings(seed: int | None, patients: int | None, data_dir: Path | None) -> Settings:
    return from_environment().with_overrides(seed=seed, patients=patients, data_dir=data_dir)


_common = [
    click.option("--seed", type=int, default=None, help="Seed of the population and the PKI [default: 1]."),
    click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                 help="Where the sandbox keeps its PKI and the card state files [default: .sandbox]."),
]


def _with_common(func):  # type: ignore[no-untyped-def]
    for option in reversed(_common):
        func = option(func)
    return func


@cards_group.command(name="insert")
@click.option("--cps", "cps_id", metavar="NATIONAL_ID", help="Professional's idNat (8+RPPS), RPPS or PS-nnnnn id.")
@click.option("--cpe", "cpe_id", metavar="NATIONAL_ID", help="Same, as a CPE (establishment staff card).")
@click.option("--vitale", "nir", metavar="NIR", help="NIR (13 digits, or 15 with the key) of a beneficiary.")
@click.option("--slot", type=click.IntRange(0, 63), default=None,
              help="vpcd slot of the (first) card: 0 = 'Virtual PCD 00 00' [default: first free].")
@click.option("--pin", default=DEFAULT_PIN, show_default=True, help="The CPS PIN (4 digits).")
@click.option("--puk", default=DEFAULT_PUK, show_default=True, help="The CPS unblocking code (8 digits).")
@click.option("--model", type=click.Choice(["cps3", "cps4"]), default="cps3", show_default=True,
              help="CPS generation: its ATR and MSE style.")
@click.option("--patients", type=click.IntRange(min=1), default=None,
              help="Size of the seeded population to look the NIR up in [default: 200].")
@click.option("--host", default=VPCD_HOST, show_default=True, help="Where vpcd (pcscd) listens.")
@click.option("--duration", type=click.FloatRange(min=0), default=None,
              help="Remove the cards after this many seconds [default: until Ctrl-C or `cards remove`].")
@_with_common
def insert_command(cps_id: str | None, cpe_id: str | None, nir: str | None, slot: int | None, pin: str, puk: str,
                   model: str, patients: int | None, host: str, duration: float | None, seed: int | None,
                   data_dir: Path | None) -> None:
    """Insert cards and keep them inserted while this command runs."""
    specs = [CardSpec(kind, value) for kind, value in (("cps", cps_id), ("cpe", cpe_id), ("vitale", nir)) if value]
    if not specs:
        raise click.UsageError("give --cps, --cpe and/or --vitale")
    if slot is not None:
        specs[0] = CardSpec(specs[0].kind, specs[0].identifier, slot)
    settings = _settings(seed, patients, data_dir)
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        bay = insert_cards(settings, specs, host=host, pin=pin, puk=puk, model=model)
    except (NotInPopulation, SlotBusy, VpcdUnavailable, ValueError) as exc:
        signal.signal(signal.SIGTERM, previous)
        raise click.ClickException(str(exc)) from exc
    try:
        for link_slot, link in sorted(bay.links.items()):
            card = link.card
            click.echo(f"Inserted {getattr(card, 'label', 'card')} in '{link.reader}' (slot {link_slot}), "
                       f"ATR {card.atr.hex(' ').upper()}")
        click.echo("Cards stay inserted until Ctrl-C, `segur-sandbox cards remove --slot N` or the end of --duration.",
                   nl=True)
        until = time.monotonic() + duration if duration is not None else None
        try:
            bay.wait(stop, until=until)
        except KeyboardInterrupt:
            pass
    finally:
        bay.close()
        signal.signal(signal.SIGTERM, previous)
    click.echo("Cards removed.")


@cards_group.command(name="list")
@_with_common
def list_command(seed: int | None, data_dir: Path | None) -> None:
    """Cards inserted by running `cards insert` / `serve --cards` processes, and the PC/SC readers."""
    from .client import PcscUnavailable, pcsc_readers

    settings = _settings(seed, None, data_dir)
    records = list_slots(state_dir(settings))
    if not records:
        click.echo("No virtual card inserted.")
    for record in records:
        click.echo(f"slot {record['slot']}  {record['reader']}  {record.get('kind', '?').upper():6}  "
                   f"{record.get('label', '')}  ATR {record.get('atr', '')}  (pid {record['pid']})")
    try:
        readers = pcsc_readers()
        click.echo("PC/SC readers: " + (", ".join(readers) if readers else "none"))
    except PcscUnavailable as exc:
        click.echo(f"PC/SC: {exc}")


@cards_group.command(name="remove")
@click.option("--slot", type=click.IntRange(0, 63), required=True, help="The slot to empty.")
@_with_common
def remove_command(slot: int, seed: int | None, data_dir: Path | None) -> None:
    """Pull the card out of a slot (the inserting process keeps running for its other cards)."""
    click.echo(request_removal(state_dir(_settings(seed, None, data_dir)), slot))
