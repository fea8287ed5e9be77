"""Allocation tracing for long runs: tracemalloc snapshots, diffs of the top allocation sites to a file.

Switched on by environment, in whichever process reads it (the harness, or ``bench reference``):

    GLASSBENCH_TRACEMALLOC=/tmp/ref-trace.txt      # the report file (appended)
    GLASSBENCH_TRACEMALLOC_EVERY_S=60              # a dump every 60 s (default 0: only on request and at exit)
    GLASSBENCH_TRACEMALLOC_TRIM=1                  # each dump ends with malloc_trim(0) and says what it freed
    GLASSBENCH_TRACEMALLOC_FRAMES=6                # traceback depth per allocation site (default 6;
                                                   # 0: tracemalloc off, only the C allocator's figures)

Each dump compares the current snapshot with the first one (taken when tracing starts or at the first
dump after ``baseline_after_s``) and with the previous dump, grouped by traceback, so a structure that
keeps growing shows as the same site rising dump after dump. tracemalloc slows allocation 2-3×: a
diagnostic, never on in a measured run. Every dump also prints glibc's ``mallinfo2`` (bytes the C
allocator holds in its arenas, in use and free, and in mmapped blocks): RSS that grows while Python's
traced total stays flat is memory the allocator keeps (fragmentation) or C code allocates.
"""

from __future__ import annotations

import ctypes
import linecache
import os
import threading
import time
import tracemalloc
from pathlib import Path

ENV_FILE = "GLASSBENCH_TRACEMALLOC"
ENV_EVERY = "GLASSBENCH_TRACEMALLOC_EVERY_S"
ENV_FRAMES = "GLASSBENCH_TRACEMALLOC_FRAMES"
ENV_TRIM = "GLASSBENCH_TRACEMALLOC_TRIM"
TOP = 15

_IGNORE = (tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, linecache.__file__),
           tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
           tracemalloc.Filter(False, "<frozen importlib._bootstrap_external>"))


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


def malloc_stats() -> dict[str, float] | None:
    """glibc's allocator totals in MB (all arenas), or None where mallinfo2 is missing (musl, glibc < 2.33)."""
    try:
        fn = ctypes.CDLL(None).mallinfo2
    except (AttributeError, OSError):
        return None
    fn.restype = _MallInfo2
    mi = fn()
    return {"arena_mb": mi.arena / 2**20, "in_use_mb": mi.uordblks / 2**20, "free_mb": mi.fordblks / 2**20,
            "mmapped_mb": mi.hblkhd / 2**20, "mmapped_blocks": float(mi.hblks)}


def malloc_trim() -> float | None:
    """Hand the C allocator's free pages back to the kernel (glibc ``malloc_trim(0)``); the MB of RssAnon
    that went, or None without glibc."""
    try:
        fn = ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError):
        return None
    before = status_mb()["RssAnon"]
    fn(ctypes.c_size_t(0))
    return before - status_mb()["RssAnon"]


def status_mb(pid: int | str = "self") -> dict[str, float]:
    """The kernel's resident-set figures of a process in MB: VmRSS and its RssAnon/RssFile parts."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key = line.split(":", 1)[0]
            if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
                out[key] = int(line.split()[1]) / 1024
    return out


class MemTrace:
    """tracemalloc on for this process; ``dump(label)`` appends the top growth sites to ``path``."""

    def __init__(self, path: Path, frames: int = 6, top: int = TOP, trim: bool = False) -> None:
        self.path = Path(path)
        self.top = top
        self.trim = trim
        self._started = frames > 0 and not tracemalloc.is_tracing()
        if self._started:
            tracemalloc.start(frames)
        self._lock = threading.Lock()
        self._t0_s = time.monotonic()
        self._first = self._snapshot()
        self._previous = self._first
        self._timer: threading.Timer | None = None
        self._write(f"# tracemalloc pid {os.getpid()} frames {frames}: traced {self._first_size_mb():.1f} MB at start\n")

    def _snapshot(self) -> tracemalloc.Snapshot | None:
        return tracemalloc.take_snapshot().filter_traces(_IGNORE) if tracemalloc.is_tracing() else None

    def _first_size_mb(self) -> float:
        return sum(s.size for s in self._first.statistics("filename")) / 2**20 if self._first else 0.0

    def _write(self, text: str) -> None:
        with open(self.path, "a") as f:
            f.write(text)

    def dump(self, label: str = "dump") -> str:
        """Append one report (vs the first snapshot and vs the previous dump); return it."""
        with self._lock:
            snap = self._snapshot()
            now_mb, peak_mb = (v / 2**20 for v in tracemalloc.get_traced_memory())
            lines = [f"\n## {label} at {time.monotonic() - self._t0_s:.0f} s: traced {now_mb:.1f} MB "
                     f"(peak {peak_mb:.1f} MB)\n",
                     "kernel: " + " ".join(f"{k} {v:.1f} MB" for k, v in status_mb().items()) + "\n"]
            mi = malloc_stats()
            if mi is not None:
                lines.append("malloc: " + " ".join(f"{k} {v:.1f}" for k, v in mi.items()) + "\n")
            for title, base in (("since start", self._first), ("since previous dump", self._previous)):
                if snap is None or base is None:
                    break
                lines.append(f"### top {self.top} growth {title}\n")
                for stat in snap.compare_to(base, "traceback")[:self.top]:
                    lines.append(f"{stat.size_diff / 1024:+10.1f} KiB {stat.count_diff:+8d} blocks "
                                 f"(now {stat.size / 1024:.1f} KiB, {stat.count} blocks)\n")
                    lines.extend(f"        {frame.filename}:{frame.lineno}\n" for frame in stat.traceback)
            self._previous = snap
            if self.trim:
                freed = malloc_trim()
                lines.append(f"malloc_trim: RssAnon -{freed:.1f} MB\n" if freed is not None else "malloc_trim: none\n")
            text = "".join(lines)
            self._write(text)
            return text

    def every(self, period_s: float) -> None:
        """Dump every ``period_s`` from a daemon thread (the event loop stays free)."""
        def tick() -> None:
            self.dump("periodic")
            self.every(period_s)
        self._timer = threading.Timer(period_s, tick)
        self._timer.daemon = True
        self._timer.start()

    def stop(self) -> None:
        """The last dump ("exit"); tracing ends if this object started it."""
        if self._timer is not None:
            self._timer.cancel()
        self.dump("exit")
        if self._started:
            tracemalloc.stop()


def from_environment() -> MemTrace | None:
    """A MemTrace when GLASSBENCH_TRACEMALLOC names a file, else None (tracing stays off)."""
    path = os.environ.get(ENV_FILE, "")
    if not path:
        return None
    try:
        frames = int(os.environ.get(ENV_FRAMES, "6"))
        every_s = float(os.environ.get(ENV_EVERY, "0"))
    except ValueError as e:
        raise ValueError(f"{ENV_FRAMES} must be an integer and {ENV_EVERY} a number of seconds: {e}") from None
    trace = MemTrace(Path(path), frames=frames, trim=os.environ.get(ENV_TRIM, "") == "1")
    if every_s > 0:
        trace.every(every_s)
    return trace
