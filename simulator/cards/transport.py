"""The in-process transport: a virtual card behind the same calls as a pyscard connection.

For machines without pcscd (a developer laptop, a unit test): ``InProcessReader(card).createConnection()``
gives an object with pyscard's ``connect / getATR / transmit / disconnect``, so ``client.CardChannel`` and
everything above it run unchanged. The APDUs reach the very ``CardOS.transmit`` the vpcd link calls, so the
card behaves the same on both paths; only pcscd's own behaviour (power management, reader events) is absent.
"""
from __future__ import annotations

from .iso7816 import CardOS


class InProcessConnection:
    def __init__(self, reader: InProcessReader) -> None:
        self.reader = reader
        self._connected = False

    def connect(self, protocol: int | None = None, mode: int | None = None, disposition: int | None = None) -> None:
        if self.reader.card is None:
            raise NoCardError(f"no card in {self.reader.name}")
        if not self.reader.powered:
            self.reader.card.power_up()
            self.reader.powered = True
        self._connected = True

    def disconnect(self) -> None:
        self._connected = False

    def getATR(self) -> list[int]:  # pyscard's name
        card = self._card()
        return list(card.atr)

    def transmit(self, command: list[int], protocol: int | None = None) -> tuple[list[int], int, int]:
        response = self._card().transmit(bytes(command))
        return list(response[:-2]), response[-2], response[-1]

    def _card(self) -> CardOS:
        if not self._connected:
            raise NoCardError("connection not open")
        if self.reader.card is None:
            raise NoCardError(f"card removed from {self.reader.name}")
        return self.reader.card


class NoCardError(RuntimeError):
    pass


class InProcessReader:
    """A reader slot holding (or not) a virtual card; ``insert``/``remove`` like a person would."""

    def __init__(self, card: CardOS | None = None, name: str = "Segur Sandbox In-Process Reader 00") -> None:
        self.name = name
        self.card: CardOS | None = None
        self.powered = False
        if card is not None:
            self.insert(card)

    def insert(self, card: CardOS) -> None:
        self.card = card
        self.powered = False

    def remove(self) -> None:
        if self.card is not None:
            self.card.power_down()
        self.card = None
        self.powered = False

    def reset(self) -> None:
        if self.card is not None:
            self.card.reset()

    def createConnection(self) -> InProcessConnection:  # pyscard's name
        return InProcessConnection(self)

    def __str__(self) -> str:
        return self.name
