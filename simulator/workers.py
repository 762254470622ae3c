"""``serve --workers N``: N uvicorn processes on one port, each with its own listening socket (``SO_REUSEPORT``).

uvicorn's own ``workers=N`` gives every process the same listening socket: whichever process wakes first accepts
every connection waiting, so a client with a few keep-alive connections (a vendor's CI job, a load generator) often
has them all on one worker while the others idle. With one ``SO_REUSEPORT`` socket per process, the kernel spreads
new connections over the processes. Linux and the BSDs have it; elsewhere ``serve`` keeps uvicorn's workers.

The supervisor starts the workers, restarts one that dies after it has served, stops everything when one ends
while starting (restarting it would only fail again), and on SIGINT/SIGTERM stops them all (each finishes its
requests: uvicorn's graceful shutdown).
"""
from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import time
from typing import Any

log = logging.getLogger("segur_sandbox.workers")

APP = "segur_sandbox.simulator.app:app_from_environment"  # each worker builds its runtime from SEGUR_SANDBOX_*
_STOP_GRACE_S = 30.0
_START_UP_S = 20.0  # a worker that exits by itself sooner failed to start (bad TLS files…): restarting it would loop


def available() -> bool:
    return hasattr(socket, "SO_REUSEPORT")


def check_port_free(host: str, port: int) -> None:
    """Bind the port once without ``SO_REUSEPORT``: it fails if anything listens there, even another reuse-port
    group (an older sandbox still running), which the workers' own binds would silently join."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _listening_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


def _worker(host: str, port: int, uvicorn_options: dict[str, Any]) -> None:
    import uvicorn

    config = uvicorn.Config(APP, factory=True, host=host, port=port, **uvicorn_options)
    uvicorn.Server(config).run(sockets=[_listening_socket(host, port)])


def run(host: str, port: int, workers: int, uvicorn_options: dict[str, Any]) -> None:
    """Run ``workers`` processes until SIGINT or SIGTERM. ``uvicorn_options``: the other ``uvicorn.Config``
    arguments (log level, TLS files, the HTTP protocol class…), picklable."""
    check_port_free(host, port)
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited threads or connections
    stopping = False

    started: dict[int, float] = {}

    def start(index: int) -> multiprocessing.process.BaseProcess:
        process = context.Process(target=_worker, args=(host, port, uvicorn_options), name=f"worker-{index}")
        process.start()
        started[index] = time.monotonic()
        return process

    def stop(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    processes = [start(i) for i in range(workers)]
    log.info("started %d workers with one SO_REUSEPORT socket each on %s:%d", workers, host, port)
    failure = None
    try:
        while not stopping and failure is None:
            for index, process in enumerate(processes):
                if process.is_alive() or stopping:
                    continue
                # killed by a signal (a negative exit code): whatever the moment, a new one can start
                if process.exitcode is not None and process.exitcode >= 0 \
                        and time.monotonic() - started[index] < _START_UP_S:
                    failure = f"worker {process.name} exited with {process.exitcode} while starting"
                    break
                log.warning("worker %s (pid %s) exited with %s: starting another", process.name, process.pid,
                            process.exitcode)
                processes[index] = start(index)
            time.sleep(0.2)
    finally:
        for process in processes:
            if process.is_alive() and process.pid is not None:
                process.terminate()  # SIGTERM: uvicorn finishes the requests in progress
        deadline = time.monotonic() + _STOP_GRACE_S
        for process in processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if failure is not None:
        raise SystemExit(f"{failure}: the server is stopped (its output above says why)")
