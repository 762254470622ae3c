"""Cards a process keeps inserted in vpcd slots, and the small state-file channel other commands use.

The process that inserts cards (``cards insert``, ``serve --cards``) owns them: the TCP links to vpcd live in
it, so the cards vanish when it ends. Each inserted card has a state file ``<state_dir>/slot-<n>.json``
(owner pid, reader, kind, label, ATR). That is the whole control channel:

* ``cards list`` reads the files (and drops those whose owner is gone);
* ``cards remove --slot N`` renames ``slot-N.json`` to ``slot-N.remove``; the owner notices within 0.1 s,
  pulls the card out and deletes the ``.remove`` file, which tells ``remove`` it is done.

No socket, no daemon: a file rename is atomic, and a stale file is recognised by its dead pid.
"""
from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .iso7816 import CardOS
from .vpicc import VPCD_HOST, VPCD_PORT, VPCD_SLOTS, VpcdLink, reader_name

POLL_SECONDS = 0.1


class SlotBusy(RuntimeError):
    pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _slot_file(state_dir: Path, slot: int) -> Path:
    return state_dir / f"slot-{slot}.json"


def _removal_file(state_dir: Path, slot: int) -> Path:
    return state_dir / f"slot-{slot}.remove"


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None


def list_slots(state_dir: Path) -> list[dict[str, Any]]:
    """Records of the cards inserted by live processes, by slot; stale files are deleted on the way."""
    records = []
    for path in sorted(Path(state_dir).glob("slot-*.json")):
        record = _read(path)
        if record is None:
            continue
        if not _alive(int(record.get("pid", 0))):
            path.unlink(missing_ok=True)
            continue
        records.append(record)
    return sorted(records, key=lambda r: r["slot"])


def busy_slots(state_dir: Path) -> set[int]:
    return {r["slot"] for r in list_slots(state_dir)}


def request_removal(state_dir: Path, slot: int, *, timeout: float = 3.0) -> str:
    """Ask the owner of ``slot`` to pull its card out; returns what happened, for people."""
    state_dir = Path(state_dir)
    path, removal = _slot_file(state_dir, slot), _removal_file(state_dir, slot)
    record = _read(path)
    if record is None:
        return f"slot {slot}: no card inserted"
    if not _alive(int(record.get("pid", 0))):
        path.unlink(missing_ok=True)
        return f"slot {slot}: the process that inserted the card is gone; stale record cleared"
    os.replace(path, removal)
    deadline = time.monotonic() + timeout
    while removal.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    if removal.exists():
        removal.unlink(missing_ok=True)
        return f"slot {slot}: removal requested, but process {record['pid']} did not confirm"
    return f"slot {slot}: {record.get('label', 'card')} removed from {record.get('reader', reader_name(slot))}"


class CardBay:
    """The cards this process keeps in vpcd slots. Use as a context manager, or call ``close``."""

    def __init__(self, state_dir: Path, *, host: str = VPCD_HOST, base_port: int = VPCD_PORT) -> None:
        self.state_dir = Path(state_dir)
        self.host = host
        self.base_port = base_port
        self.links: dict[int, VpcdLink] = {}
        self._records: dict[int, dict[str, Any]] = {}
        self._lock = threading.RLock()

    def free_slot(self, preferred: int | None = None, slots: int = VPCD_SLOTS) -> int:
        taken = busy_slots(self.state_dir) | set(self.links)
        if preferred is not None:
            if preferred in taken:
                raise SlotBusy(f"slot {preferred} ({reader_name(preferred)}) already holds a card: "
                               f"`segur-sandbox cards remove --slot {preferred}` first")
            return preferred
        for slot in range(slots):
            if slot not in taken:
                return slot
        raise SlotBusy(f"all {slots} vpcd slots hold a card: remove one first (`segur-sandbox cards list`)")

    def insert(self, card: CardOS, slot: int | None = None, *, timeout: float = 5.0,
               details: dict[str, Any] | None = None) -> dict[str, Any]:
        with self._lock:
            slot = self.free_slot(slot)
            link = VpcdLink(card, slot, host=self.host, port=self.base_port + slot).insert(timeout)
            self.links[slot] = link
            describe: Callable[[], dict[str, Any]] = getattr(card, "describe", dict)
            record = {"slot": slot, "reader": link.reader, "host": self.host, "port": link.port, "pid": os.getpid(),
                      "inserted_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                      **describe(), **(details or {})}
            self.state_dir.mkdir(parents=True, exist_ok=True)
            self._write(slot, record)
            self._records[slot] = record
            return record

    def _write(self, slot: int, record: dict[str, Any]) -> None:
        path = _slot_file(self.state_dir, slot)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, ensure_ascii=False, indent=1))
        os.replace(tmp, path)

    def refresh(self) -> None:
        """Rewrite the slot file of a card whose PIN state changed (a wrong PIN, a block, a verification), so
        other processes (``cards list``, the console) see it."""
        with self._lock:
            for slot, link in self.links.items():
                state = getattr(link.card, "pin_state", None)
                record = self._records.get(slot)
                if state is None or record is None:
                    continue
                current = state()
                removing = _removal_file(self.state_dir, slot).exists() or not _slot_file(self.state_dir, slot).exists()
                if any(record.get(k) != v for k, v in current.items()) and not removing:
                    record.update(current)
                    self._write(slot, record)

    def remove(self, slot: int) -> None:
        with self._lock:
            link = self.links.pop(slot, None)
            self._records.pop(slot, None)
            if link is not None:
                link.remove()
            path = _slot_file(self.state_dir, slot)
            record = _read(path)
            if record is not None and record.get("pid") == os.getpid():
                path.unlink(missing_ok=True)
            _removal_file(self.state_dir, slot).unlink(missing_ok=True)

    def poll(self) -> list[int]:
        """Pull out the cards whose removal was requested (or whose link vpcd closed); returns their slots."""
        removed = []
        with self._lock:
            for slot, link in list(self.links.items()):
                requested = not _slot_file(self.state_dir, slot).exists()
                if requested or not link.alive:
                    self.remove(slot)
                    removed.append(slot)
        return removed

    def wait(self, stop: threading.Event | None = None, *, until: float | None = None) -> None:
        """Keep the cards in until all are removed, ``stop`` is set or the monotonic time ``until``."""
        stop = stop or threading.Event()
        while self.links and not stop.is_set() and (until is None or time.monotonic() < until):
            self.poll()
            self.refresh()
            stop.wait(POLL_SECONDS)

    def close(self) -> None:
        for slot in list(self.links):
            self.remove(slot)

    def __enter__(self) -> CardBay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
