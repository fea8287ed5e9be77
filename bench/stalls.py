"""Event-loop stalls: how a starved host shows itself, so a bench fault is not filed as a DUT defect.

A ``StallMonitor`` runs on an asyncio loop, wakes every ``period_s`` and records every wake-up later
than ``threshold_s`` as (CLOCK_MONOTONIC at wake-up, lateness). On a loaded 2-core machine the
reference bench's radio timers, audio pacing and PPK2 stream all run on one loop: a stall of 100 ms
there is a dropout, a late notification, a missed connection event the DUT never caused. The
reference bench prints its stalls on its stdout (a private pipe to the harness); the harness keeps
its own loop's. ``bench.faults`` reads both when a test fails.
"""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Callable

PERIOD_S = 0.02
THRESHOLD_S = 0.05  # lateness worth recording (well above a busy loop's normal jitter)
OVERLOAD_S = 0.25  # a stall this long during a test makes its failure a bench fault
HEARTBEAT_S = 0.25  # the reference bench says it is alive this often (a longer silence: it is stalled now)


class StallMonitor:
    def __init__(self, on_stall: Callable[[float, float], None] | None = None, period_s: float = PERIOD_S,
                 threshold_s: float = THRESHOLD_S, keep: int = 4096,
                 on_alive: Callable[[float], None] | None = None, alive_every_s: float = HEARTBEAT_S) -> None:
        self.period_s, self.threshold_s = period_s, threshold_s
        self.stalls: collections.deque[tuple[float, float]] = collections.deque(maxlen=keep)
        self.on_stall, self.on_alive, self.alive_every_s = on_stall, on_alive, alive_every_s
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        last_alive = 0.0
        while True:
            due = time.monotonic() + self.period_s
            await asyncio.sleep(self.period_s)
            now = time.monotonic()
            late = now - due
            if late > self.threshold_s:
                self.stalls.append((now, late))
                if self.on_stall is not None:
                    self.on_stall(now, late)
            if self.on_alive is not None and now - last_alive >= self.alive_every_s:
                last_alive = now
                self.on_alive(now)

    def worst_since(self, t_s: float) -> float:
        """The longest stall that ended after ``t_s`` (0 if none)."""
        return max((late for t, late in self.stalls if t >= t_s), default=0.0)
