"""Call slots: at most N DMP calls run at once in a process, and a call sleeping on an injected latency gives its
slot back (one workspace's latency fault must not stall the others)."""
from __future__ import annotations

import threading
import time

from segur_sandbox.simulator.call_slots import CallSlots
from segur_sandbox.simulator.dmp.messages import demographics_request


def _run_together(count: int, target) -> None:
    threads = [threading.Thread(target=target) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
        assert not thread.is_alive()


def test_no_more_than_the_slots_run_at_once():
    slots = CallSlots(2)
    inside, most, lock = 0, 0, threading.Lock()
    start = threading.Barrier(6)

    def call() -> None:
        nonlocal inside, most
        start.wait(timeout=10)
        with slots.held():
            with lock:
                inside += 1
                most = max(most, inside)
            time.sleep(0.05)
            with lock:
                inside -= 1

    _run_together(6, call)
    assert most == 2


def test_a_sleeping_call_lends_its_slot():
    slots = CallSlots(1)
    sleeping, woke = threading.Event(), threading.Event()
    other_ran_while_asleep = []

    def sleeper() -> None:
        with slots.held():
            sleeping.set()
            slots.sleep(1.0)
            woke.set()

    thread = threading.Thread(target=sleeper)
    thread.start()
    assert sleeping.wait(timeout=10)
    with slots.held():  # would wait for the sleeper's whole second if the slot were kept
        other_ran_while_asleep.append(not woke.is_set())
    thread.join(timeout=10)
    assert other_ran_while_asleep == [True]
    with slots.held():  # the sleeper took its slot back and released it at the end: one slot, free again
        pass


def test_held_is_reentrant_and_unlimited_when_zero():
    nested = threading.Event()

    def twice() -> None:  # a second held() in the same thread would wait for ever if it took another slot
        slots = CallSlots(1)
        with slots.held(), slots.held():
            nested.set()

    thread = threading.Thread(target=twice, daemon=True)
    thread.start()
    thread.join(timeout=10)
    assert nested.is_set()

    unlimited, together = CallSlots(0), threading.Barrier(5)
    passed = []

    def inside() -> None:  # five calls inside at once: only possible without a limit
        with unlimited.held():
            together.wait(timeout=10)
            passed.append(True)

    _run_together(5, inside)
    assert passed == [True] * 5


def test_latency_fault_does_not_stall_other_calls(sandbox):
    sandbox.runtime.slots = CallSlots(1)  # read by the service on every call
    faults = "/api/workspaces/default/faults"
    sandbox.http.post(faults, json={"kind": "latency", "transaction": "TD0.2", "remaining": 1,
                                    "params": {"ms": 3000}}).raise_for_status()
    patient = sandbox.scenario(0)
    slow_status = []
    slow = threading.Thread(target=lambda: slow_status.append(
        sandbox.client().call("patients", demographics_request(patient), patient=patient).status))
    slow.start()
    deadline = time.monotonic() + 10
    while sandbox.http.get(faults).json() and time.monotonic() < deadline:  # consumed: the slow call sleeps
        time.sleep(0.02)
    assert sandbox.http.get(faults).json() == []
    fast = sandbox.client().call("patients", demographics_request(patient), patient=patient)
    assert fast.status == 200 and fast.fault is None
    assert slow.is_alive(), "the second call waited for the sleeping one: the slot was not lent"
    slow.join(timeout=30)
    assert slow_status == [200]
