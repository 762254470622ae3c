"""Where a worker process runs its SOAP calls (DMP and INSi): on its event loop, or in a few threads.

A SOAP call is synchronous (lxml, signatures, SQLAlchemy) and holds the GIL nearly all the time. Handed to a
thread, it shares the GIL with the event loop, which wakes for every socket event: each hand-over costs the
process CPU of its own and the call lasts longer (bench/dmp_load.py, ``--soap-threads``: the README's Benchmarks
compare both). So by default (``soap_threads`` 0) a call runs on the loop, one at a time per worker; the other
connections wait in the kernel's socket buffers meanwhile, which costs nothing, and ``serve --workers N`` spreads
the connections over the processes.

With ``soap_threads`` N > 0 a worker runs up to N calls at once in threads: for a database far away on the network
(a shared PostgreSQL on another host), where a call spends most of its time waiting for round trips.

Nothing a call does may wait on the event loop, and it never sleeps on purpose: an injected latency is a
``HttpReply.delay_seconds`` the HTTP layer awaits after the call, so one workspace's 30-second latency fault stalls
no other connection.
"""
from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio

T = TypeVar("T")

CallRunner = Callable[..., Awaitable[Any]]


def call_runner(threads: int) -> CallRunner:
    """``await run(func, *args)``: ``func(*args)`` on the event loop (``threads`` 0) or in one of ``threads``
    threads of a pool of the runner's own (the others wait for a free one, in the event loop)."""
    if threads < 0:
        raise ValueError(f"soap_threads must be 0 (on the event loop) or a number of threads, not {threads}")
    if threads == 0:
        async def inline(func: Callable[..., T], *args: Any) -> T:
            return func(*args)
        return inline
    limiter: anyio.CapacityLimiter | None = None

    async def threaded(func: Callable[..., T], *args: Any) -> T:
        nonlocal limiter
        if limiter is None:  # made in the event loop, on first use
            limiter = anyio.CapacityLimiter(threads)
        return await anyio.to_thread.run_sync(functools.partial(func, *args), limiter=limiter)
    return threaded
