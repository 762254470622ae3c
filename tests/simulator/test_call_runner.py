"""Where SOAP calls run (call_runner.py): on the worker's event loop by default, or in at most N threads; and an
injected latency is waited by the HTTP layer, so one workspace's latency fault never stalls another call."""
from __future__ import annotations

import threading
import time

import anyio
import pytest
from fastapi.testclient import TestClient

from segur_sandbox.simulator.app import create_app
from segur_sandbox.simulator.call_runner import call_runner
from segur_sandbox.simulator.dmp.messages import demographics_request
from segur_sandbox.simulator.testing import DmpTestClient


def test_zero_threads_runs_the_call_on_the_event_loop_thread():
    async def main() -> tuple[int, int]:
        return threading.get_ident(), await call_runner(0)(threading.get_ident)

    loop_thread, call_thread = anyio.run(main)
    assert call_thread == loop_thread


def test_n_threads_run_at_most_n_calls_at_once_off_the_loop():
    inside, most, threads, lock = 0, 0, set(), threading.Lock()

    def call() -> None:
        nonlocal inside, most
        with lock:
            inside += 1
            most = max(most, inside)
            threads.add(threading.get_ident())
        time.sleep(0.05)
        with lock:
            inside -= 1

    async def main() -> int:
        run = call_runner(2)
        async with anyio.create_task_group() as group:
            for _ in range(6):
                group.start_soon(run, call)
        return threading.get_ident()

    loop_thread = anyio.run(main)
    assert most == 2
    assert loop_thread not in threads


def test_a_negative_number_of_threads_is_refused():
    with pytest.raises(ValueError, match="soap_threads"):
        call_runner(-1)


@pytest.mark.parametrize("threads", [0, 1])
def test_latency_fault_does_not_stall_other_calls(sandbox, threads):
    sandbox.runtime.soap_threads = threads  # read by create_app: 1 thread would be held by a sleeping call
    faults = "/api/workspaces/default/faults"
    sandbox.http.post(faults, json={"kind": "latency", "transaction": "TD0.2", "remaining": 1,
                                    "params": {"ms": 3000}}).raise_for_status()
    patient = sandbox.scenario(0)
    with TestClient(create_app(sandbox.runtime)) as http:
        professional, structure = sandbox.professional(0)
        client = DmpTestClient(http, sandbox.pki, professional, structure)
        slow_status, slow_seconds = [], []

        def slow_call() -> None:
            started = time.monotonic()
            slow_status.append(client.call("patients", demographics_request(patient), patient=patient).status)
            slow_seconds.append(time.monotonic() - started)

        slow = threading.Thread(target=slow_call)
        slow.start()
        deadline = time.monotonic() + 10
        while http.get(faults).json() and time.monotonic() < deadline:  # consumed: the slow call is held back
            time.sleep(0.02)
        assert http.get(faults).json() == []
        fast = client.call("patients", demographics_request(patient), patient=patient)
        assert fast.status == 200 and fast.fault is None
        assert slow.is_alive(), "the second call waited for the delayed one"
        slow.join(timeout=30)
    assert slow_status == [200]
    assert slow_seconds[0] >= 3.0  # the latency was served, by the HTTP layer
