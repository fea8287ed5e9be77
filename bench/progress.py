"""Progress of long work (a fuzz run, a power capture, latency trials), for people watching: a rich bar on a
terminal, and the text the session heartbeat prints in a log (bench/report/progress.py)::

    with progress("fuzz ble", total=20, unit="s") as task:      # or timed=True: done = time since start
        task.update(12.0, "30 examples, 605 frames/s, ~8 s left")

Any layer may use it (it knows nothing of pytest); bars only for work of at least MIN_BAR_S, and
$GLASSBENCH_PROGRESS=0 turns them off.
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from typing import IO, Any, Callable, Iterator

MIN_BAR_S = 3.0  # shorter work (a 1 s power capture) gets no bar on a terminal, only the heartbeat's text


def _uncaptured_stdout() -> IO[str] | None:
    """A handle on the process's stdout taken when this module is imported (bench.plugin loads it before
    pytest's fd-level capture starts), so heartbeats and bars reach the log or terminal while a test runs."""
    try:
        return os.fdopen(os.dup(sys.__stdout__.fileno()), "w", buffering=1)  # type: ignore[union-attr]  # None: except
    except (AttributeError, OSError, ValueError):  # no real stdout (embedded, pytester in-process)
        return None


LOG = _uncaptured_stdout()


class Task:
    """One piece of long work: how far it is (``done`` of ``total`` in ``unit``) and its figures.
    ``timed``: done is the time since it began (a capture, a latency stream), so nobody has to update it."""

    def __init__(self, what: str, total: float | None = None, unit: str = "", timed: bool = False,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.what, self.total, self.unit, self.timed, self.clock = what, total, unit, timed, clock
        self.started_s = clock()
        self._done, self.detail = 0.0, ""
        self.shown = False  # drawn as a bar on a terminal (else only the heartbeat tells)

    def update(self, done: float | None = None, detail: str | None = None) -> None:
        if done is not None:
            self._done = float(done)
        if detail is not None:
            self.detail = detail

    def done(self) -> float:
        return self.clock() - self.started_s if self.timed else self._done

    def text(self) -> str:
        """``fuzz ble: 12/20 s, 30 examples, 605 frames/s``: what the heartbeat prints."""
        amount = f"{self.done():.0f}" + (f"/{self.total:g}" if self.total else "") + (f" {self.unit}" if self.unit else "")
        return f"{self.what}: {amount}" + (f", {self.detail}" if self.detail else "")

    def __rich__(self) -> Any:
        from rich.progress_bar import ProgressBar
        from rich.table import Table

        grid = Table.grid(padding=(0, 1))
        done = self.done()
        total = self.total or None
        amount = f"{done:.0f}" + (f"/{total:g}" if total else "") + (f" {self.unit}" if self.unit else "")
        grid.add_row(self.what, ProgressBar(total=total, completed=min(done, total or done), width=30), amount,
                     self.detail)
        return grid


def _bar_console() -> Any:
    """A rich console on the terminal (the stdout taken before pytest's capture), or None: not a
    terminal, or bars switched off ($GLASSBENCH_PROGRESS=0)."""
    if os.environ.get("GLASSBENCH_PROGRESS", "1").strip().lower() in ("0", "off", "no", "false") or LOG is None:
        return None
    try:
        if not LOG.isatty():
            return None
    except (OSError, ValueError):
        return None
    from rich.console import Console

    return Console(file=LOG)


@contextmanager
def progress(what: str, total: float | None = None, unit: str = "", timed: bool = False) -> Iterator[Task]:
    """Long work: a rich bar on a terminal (from MIN_BAR_S of expected work, when ``unit`` is "s" or
    the work is timed), the heartbeat's text in a log. Never fails the work it shows."""
    task = Task(what, total, unit, timed)
    _running.append(task)
    live = None
    long_enough = total is None or (unit == "s" or timed) and total >= MIN_BAR_S
    console = _bar_console() if long_enough else None
    if console is not None:
        try:
            from rich.live import Live

            console.print()  # start on a line of its own (pytest may be mid-line)
            live = Live(task, console=console, refresh_per_second=4, redirect_stdout=False, redirect_stderr=False)
            live.start()
            task.shown = True
        except Exception:  # noqa: BLE001 - a bar must never break the work
            live = None
    try:
        yield task
    finally:
        _running.remove(task)
        if live is not None:
            try:
                live.stop()
            except Exception:  # noqa: BLE001
                pass


_running: list[Task] = []  # the long work running now (innermost last)


def running() -> list[Task]:
    """The long work running now, outermost first."""
    return list(_running)
