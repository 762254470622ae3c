"""How many SOAP calls run Python at once in one server process.

A DMP call holds the GIL nearly all the time: 32 calls on 32 threads take turns in 5 ms slices, each lasting
longer, and the hand-overs cost the process CPU of their own (the closed-loop search phase of bench/dmp_load.py,
issue #3: one worker on SQLite served ~100 searches/s with 8 calls at once, ~170/s with 2). So a call waits for a slot before it
starts; waiting there costs nothing. A call that sleeps on purpose (an injected latency fault) gives its slot back
while it sleeps, so a workspace that arms a 30-second latency does not stall the others.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class CallSlots:
    """``slots`` calls at once; 0 or less: no limit."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self._free = threading.Semaphore(slots) if slots > 0 else None
        self._mine = threading.local()  # whether this thread holds a slot now

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold a slot for the block (re-entrant: a thread already holding one goes on)."""
        if self._free is None or getattr(self._mine, "held", False):
            yield
            return
        self._free.acquire()
        self._mine.held = True
        try:
            yield
        finally:
            self._mine.held = False
            self._free.release()

    def sleep(self, seconds: float) -> None:
        """``time.sleep`` without holding this thread's slot meanwhile."""
        if self._free is None or not getattr(self._mine, "held", False):
            time.sleep(seconds)
            return
        self._mine.held = False
        self._free.release()
        try:
            time.sleep(seconds)
        finally:
            self._free.acquire()
            self._mine.held = True
