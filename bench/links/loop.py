"""The asyncio loop the bench runs on, and the thread that hosts it for synchronous tests.

Timers matter here: the radio schedules connection events to the microsecond, and epoll rounds
waits up to whole milliseconds. ``select()`` takes microseconds, so loops use ``SelectSelector``
(the bench has a handful of file descriptors, far below select's limit). Linux also lets a timed
wait end up to the thread's timer slack late (50 µs by default); ``precise_timers()`` sets it to 1 µs
for the thread that runs the radio.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
import ctypes.util
import selectors
import sys
import threading
from typing import Any, Awaitable, Coroutine, TypeVar

T = TypeVar("T")


class LoopTimeout(TimeoutError):
    """A call into the loop thread did not finish within its timeout (and was cancelled)."""


def new_event_loop() -> asyncio.AbstractEventLoop:
    """An event loop with microsecond timer resolution."""
    return asyncio.SelectorEventLoop(selectors.SelectSelector())


PR_SET_TIMERSLACK = 29  # linux/prctl.h
TIMER_SLACK_NS = 1000


def precise_timers() -> bool:
    """Lower the calling thread's timer slack to TIMER_SLACK_NS (Linux); returns whether it could."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(PR_SET_TIMERSLACK, TIMER_SLACK_NS, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


class LoopThread:
    """One asyncio loop on a daemon thread; ``run()`` calls into it synchronously, with a timeout.

    Bumble and bleak objects bind to the loop that created them, so everything for one bench
    session is created and closed through the same LoopThread.
    """

    def __init__(self, name: str = "glassbench-loop") -> None:
        self.loop = new_event_loop()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._started = threading.Event()
        self._thread.start()
        self._started.wait(5)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._started.set)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T] | Awaitable[T], timeout: float, what: str = "") -> T:
        """Run ``coro`` on the loop and wait for it; on timeout cancel it and raise TimeoutError."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("LoopThread.run called from its own loop")
        future = asyncio.run_coroutine_threadsafe(_as_coro(coro), self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise LoopTimeout(f"{what or 'operation'} did not finish within {timeout:g} s") from None

    def call_soon(self, fn: Any, *args: Any) -> None:
        self.loop.call_soon_threadsafe(fn, *args)

    def close(self, timeout: float = 5.0) -> None:
        if self.loop.is_closed():
            return
        async def _cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        try:
            self.run(_cancel_all(), timeout, "loop shutdown")
        except (LoopTimeout, RuntimeError):
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self.loop.close()


async def _as_coro(aw: Awaitable[T]) -> T:
    return await aw
