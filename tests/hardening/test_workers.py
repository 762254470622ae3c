"""``serve --workers N`` (simulator/workers.py): one SO_REUSEPORT socket per worker, so a client's keep-alive
connections spread over the workers; a worker that dies is replaced; a port already in use is refused."""
from __future__ import annotations

import http.client
import os
import signal
import socket
import time

import pytest

from support import SEED  # also puts bench/ on sys.path
from harness import LiveServer, serving_pid
from segur_sandbox.simulator import workers

pytestmark = pytest.mark.skipif(not workers.available(), reason="no SO_REUSEPORT on this platform")


def _serving_pids(server: LiveServer, connections: int) -> list[int | None]:
    """Which worker serves each of ``connections`` fresh keep-alive connections (all held open together)."""
    held = []
    try:
        for _ in range(connections):
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
            connection.request("GET", "/health")
            assert connection.getresponse().read()
            held.append(connection)
        candidates = server.worker_pids()
        return [serving_pid(server.port, c.sock.getsockname()[1], candidates) for c in held]
    finally:
        for connection in held:
            connection.close()


def test_connections_spread_over_the_workers_and_a_dead_worker_is_replaced(tmp_path):
    server = LiveServer(tmp_path / "data", workers=2, patients=4, seed=SEED)
    with server:
        first = server.worker_pids()
        assert len(first) == 2
        # 16 connections all on one of two workers by chance: 2 in 65,536 with the kernel's hash
        pids = _serving_pids(server, 16)
        assert set(pids) == set(first), pids

        os.kill(first[0], signal.SIGKILL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            now = [pid for pid in server.worker_pids() if pid != first[0]]
            if len(now) == 2 and set(_serving_pids(server, 16)) == set(now):
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"no second worker serving after one was killed: {server.worker_pids()} ({server.tail()})")
        assert first[1] in now  # the other worker went on serving


def test_a_port_in_use_is_refused_even_by_a_reuse_port_listener():
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        other.bind(("127.0.0.1", 0))
        other.listen()
        with pytest.raises(OSError):
            workers.check_port_free("127.0.0.1", other.getsockname()[1])
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    workers.check_port_free("127.0.0.1", port)  # nothing listens: no error


def test_a_worker_that_cannot_start_stops_the_server_instead_of_restarting_for_ever(tmp_path):
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    missing = str(tmp_path / "absent.pem")
    started = time.monotonic()
    with pytest.raises(SystemExit, match="exited with 1 while starting"):
        workers.run("127.0.0.1", port, 2, {"log_level": "warning", "ssl_certfile": missing, "ssl_keyfile": missing})
    assert time.monotonic() - started < 60
