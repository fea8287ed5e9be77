"""Triage of a failed DUT test: was it the DUT, or the bench it ran on?

A test that stops on a lost link, a timeout or a missed measurement is first checked against the
bench itself, because a bench fault must never be filed as a product defect:

1. the reference bench process died (killed, crashed)        -> BENCH FAULT, the session stops
2. the reference bench is frozen (SIGSTOP, a debugger)        -> BENCH FAULT, the session stops
3. the host starved the bench or the harness (event-loop stall
   of >= OVERLOAD_S during the test; for a cut audio stream,
   StreamCut, any recorded stall >= its stall_tolerance_s,
   as a jitter buffer holds only a few frames) and the failure is one
   starving can cause (not a wrong answer, not a crash dump)  -> BENCH OVERLOADED (broken, not failed)
4. the console shows a fatal-error dump since the test began  -> DUT CRASH (a product defect)

Otherwise the test's own error stands. docs/faults.md is the table of faults and their classes.
"""

from __future__ import annotations

import time
from typing import Any

from bench.errors import BenchFault, BenchOverloaded, DutCrash
from bench.stalls import HEARTBEAT_S, OVERLOAD_S

SILENT_S = HEARTBEAT_S + 0.05  # no heartbeat for this long: the bench's loop may not be running (wait and see)
FROZEN_S = 10.0  # ... and if it does not come back within this, it is frozen


def triage(session: Any, exc: BaseException, started_s: float, console_mark: int | None) -> BaseException | None:
    """The exception that says what really happened, or None to keep ``exc``. ``stop`` on the returned
    BenchFault tells the caller to stop the session."""
    ref = getattr(session, "reference", None)
    if ref is not None and not ref.alive:
        code = ref.proc.returncode
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exited with {code}"
        return BenchFault(f"the reference bench {how} during the test (see {session.out_dir / 'reference-bench.log'}); "
                          f"the test stopped on: {exc}", stop=True)
    if ref is not None and ref.stopped:
        return BenchFault(f"the reference bench is frozen (stopped by a signal) since the test began; the test "
                          f"stopped on: {exc}", stop=True)
    if ref is not None and ref.silent_for_s() > SILENT_S:  # stalled right now: wait for it to say how long
        deadline = time.monotonic() + FROZEN_S
        while ref.silent_for_s() > SILENT_S and ref.alive and time.monotonic() < deadline:
            time.sleep(0.05)
        if ref.silent_for_s() > SILENT_S:
            return BenchFault(f"the reference bench has not run for {ref.silent_for_s():.1f} s (frozen or starved); "
                              f"the test stopped on: {exc}", stop=True)
        time.sleep(0.05)  # its stall report follows the heartbeat
    worst_s, where = worst_stall(session, started_s)
    if worst_s >= getattr(exc, "stall_tolerance_s", OVERLOAD_S) and timing_sensitive(exc):  # a stream: its buffers
        return BenchOverloaded(f"the host starved the {where} for {worst_s * 1000:.0f} ms during the test "
                               f"(event-loop stall); the result says nothing about the DUT: {exc}")
    crash = fatal_dump(session, console_mark)
    if crash is not None and not isinstance(exc, DutCrash):
        return DutCrash(f"{crash}; the test stopped on: {exc}")
    return None


def timing_sensitive(exc: BaseException) -> bool:
    """Could a starved host have caused this? Timeouts, lost links, hangs, missed measurements and dropouts
    yes; a wrong answer (protocol violation) or a crash dump no: those stay what they are."""
    from bench.errors import ProtocolViolation

    return not isinstance(exc, (ProtocolViolation, DutCrash))


def worst_stall(session: Any, started_s: float) -> tuple[float, str]:
    """The longest stall since ``started_s`` on the reference bench or the harness loop, and which."""
    ref = getattr(session, "reference", None)
    bench_s = max((late for t, late in ref.stalls() if t >= started_s), default=0.0) if ref is not None else 0.0
    monitor = getattr(session, "stall_monitor", None)
    harness_s = monitor.worst_since(started_s) if monitor is not None else 0.0
    return (bench_s, "reference bench") if bench_s >= harness_s else (harness_s, "harness")


def fatal_dump(session: Any, mark: int | None) -> str | None:
    """The first line of a fatal-error dump on the DUT console since ``mark`` (waits briefly: a dump
    is printed just before the link drops, and may still be on its way)."""
    dut = getattr(session, "_dut", None)
    console = getattr(dut, "console", None)
    if console is None or mark is None:
        return None
    deadline = time.monotonic() + 0.3
    while True:
        finder = getattr(console, "fatal_since", None)
        found = finder(mark) if finder is not None else _fatal_line(console, mark)
        if found is not None or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def _fatal_line(console: Any, mark: int) -> str | None:
    """The first crash line (the console driver's crash patterns: Zephyr fatal error, ESP-IDF panic)."""
    line = console.crash_line(mark)
    return f"fatal error on the console: {line.strip()}" if line is not None else None
