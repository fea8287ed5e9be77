"""Progress on long work: a heartbeat line every few seconds in a non-TTY log (CI), rich on a terminal.

Long work (a fuzz run, a power capture, latency trials) says where it is with ``bench.progress.progress``
(a rich bar on a terminal, bench/progress.py); in a log the session heartbeat prints, every
HEARTBEAT_S, how far the run is and what the running test is doing::

    glassbench 62 s: 45/194 tests (1 failed); tests/dut/test_fuzz_clean_device.py::test_fuzz_ble_time_boxed
    for 12 s — fuzz ble: 30 examples, 605 frames/s, ~8 s left

On a terminal pytest's own progress is there already, so the heartbeat is off there unless
$GLASSBENCH_HEARTBEAT_S asks for it (seconds; 0: off everywhere); $GLASSBENCH_PROGRESS=0 turns the bars
off. ``note(text)`` sets the heartbeat's text directly. A pytest plugin, loaded by bench.plugin.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any, Callable

import pytest

from bench.progress import LOG as _LOG
from bench.progress import Task, progress, running

__all__ = ["Heartbeat", "Task", "note", "progress"]

HEARTBEAT_S = 5.0


class Heartbeat:
    """Counts tests and prints a line every ``period_s`` from a daemon thread while the session runs."""

    def __init__(self, total: int, period_s: float = HEARTBEAT_S, write: Callable[[str], None] | None = None,
                 clock: Any = time.monotonic) -> None:
        self.total, self.period_s, self.clock = total, period_s, clock
        self.write = write or (lambda line: print(line, file=sys.stderr, flush=True))
        self.started_s = clock()
        self.done = self.failed = 0
        self._failing: set[str] = set()
        self.current: str | None = None
        self.current_since_s = self.started_s
        self.activity = ""
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def line(self) -> str:
        with self._lock:
            now = self.clock()
            text = f"glassbench {now - self.started_s:.0f} s: {self.done}/{self.total} tests"
            if self.failed:
                text += f" ({self.failed} failed)"
            if self.current:
                text += f"; {self.current} for {now - self.current_since_s:.0f} s"
            activity = "; ".join(t.text() for t in running()) or self.activity
            if activity:
                text += f" — {activity}"
            return text

    def beat(self) -> None:
        try:
            self.write(self.line())
        except (OSError, ValueError):  # the log went away: stop quietly
            self._stop.set()

    def start(self) -> None:
        if self.period_s > 0:
            self._thread = threading.Thread(target=self._run, name="glassbench-heartbeat", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            self.beat()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2 * self.period_s)

    def test_started(self, nodeid: str) -> None:
        with self._lock:
            self.current, self.current_since_s, self.activity = nodeid, self.clock(), ""

    def test_report(self, nodeid: str, when: str, failed: bool) -> None:
        """Every phase's report; a test is done at its teardown (which every test has, set-up failed or not)."""
        with self._lock:
            if failed:
                self._failing.add(nodeid)
            if when == "teardown":
                self.done += 1
                self.failed += int(nodeid in self._failing)
                self._failing.discard(nodeid)
                self.current, self.activity = None, ""


_heartbeat: Heartbeat | None = None
def note(activity: str) -> None:
    """What the running test is doing now (shown by the next heartbeat)."""
    if _heartbeat is not None:
        with _heartbeat._lock:
            _heartbeat.activity = activity


def period_s(config: pytest.Config) -> float:
    env = os.environ.get("GLASSBENCH_HEARTBEAT_S")
    if env is not None:
        try:
            return max(0.0, float(env))
        except ValueError:
            raise pytest.UsageError(f"GLASSBENCH_HEARTBEAT_S={env!r}: expected seconds, e.g. 5") from None
    stream = sys.__stdout__
    return 0.0 if stream is not None and stream.isatty() else HEARTBEAT_S


def pytest_collection_finish(session: pytest.Session) -> None:
    global _heartbeat
    config = session.config
    if getattr(config, "workerinput", None) is not None or config.getoption("collectonly", False):
        return  # xdist workers: the controller's log is the one people read
    every_s = period_s(config)
    if every_s > 0 and _LOG is not None:
        log = _LOG

        def write(line: str) -> None:
            log.write(f"\n{line}\n")
        _heartbeat = Heartbeat(len(session.items), every_s, write)
        _heartbeat.start()


def pytest_runtest_logstart(nodeid: str, location: Any) -> None:
    if _heartbeat is not None:
        _heartbeat.test_started(nodeid)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if _heartbeat is not None:
        _heartbeat.test_report(report.nodeid, report.when, report.failed)


def pytest_unconfigure(config: pytest.Config) -> None:
    global _heartbeat
    if _heartbeat is not None:
        _heartbeat.stop()
        _heartbeat = None
