"""Soak: stream audio and power against the reference bench for SOAK_S seconds; RSS growth per hour. One JSON line.

    SOAK_S=600 python benchmarks/soak.py      # default 120 s (too short for a figure: see the warm-up)

While one live PPK2 capture runs for the whole budget (PowerRig.record: the simulated PPK2's 100 kS/s
stream, decoded and spooled to disk), the main thread runs LC3 uplink latency trials back to back
(glasses mic → timed radio → harness, through the acoustic rig). Every 2 s, while the capture streams,
VmRSS and RssAnon of this process (the harness) and of the reference bench process are read from
/proc/<pid>/status — the kernel's count, not anything the code under test reports — and saved to
rss.csv. Growth per hour = least-squares slope after the warm-up (SOAK_WARMUP_S, default 300 s or half
the run: the bounded stores — GLP transcript ring, PowerTimeline history, noise cache — are full by
then), with its standard error; the warm-up's own slope is printed beside it. Target ≤ 50 MB/h each.
SOAK_TRACE_DIR=DIR runs tracemalloc in both processes (bench/memtrace.py, reports in DIR; a diagnostic:
its figures do not count, ok is false). SOAK_OUT sets the output folder (two soaks side by side).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import memtrace  # noqa: E402
from bench.audio.rig import SocketRig  # noqa: E402
from bench.audio.session import AudioLatency  # noqa: E402
from bench.config import load_bench  # noqa: E402
from bench.power.fixtures import session_rig  # noqa: E402
from bench.session import BenchSession  # noqa: E402

OUT = Path(os.environ.get("SOAK_OUT", "out/benchmarks/soak"))
TARGET_MB_PER_H = 50.0
SAMPLE_EVERY_S = 2.0
WARMUP_S = 300.0  # the bounded stores that fill slowest are full by then (docs/benchmarks.md, soak note)


def rss_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, RssAnon) of ``pid`` in MB: the resident set, and its part no file backs (heap, arenas)."""
    st = memtrace.status_mb(pid)
    return st["VmRSS"], st["RssAnon"]


def growth(t_s: np.ndarray, mb: np.ndarray, from_s: float) -> tuple[float, float]:
    """(slope MB/h, its standard error MB/h) of the samples at or after ``from_s``."""
    keep = t_s >= from_s
    t, y = t_s[keep], mb[keep]
    if t.size < 3:
        return float("nan"), float("nan")
    (slope, _icpt), cov = np.polyfit(t, y, 1, cov=True)
    return float(slope * 3600), float(np.sqrt(cov[0, 0]) * 3600)


def main() -> int:
    budget_s = float(os.environ.get("SOAK_S", "120"))
    warmup_s = float(os.environ.get("SOAK_WARMUP_S", min(WARMUP_S, budget_s / 2)))
    cfg = load_bench(os.environ.get("SOAK_BENCH", "fixtures/benches/reference.yaml"))
    OUT.mkdir(parents=True, exist_ok=True)
    trace = None
    trace_dir = os.environ.get("SOAK_TRACE_DIR", "")
    if trace_dir:  # a diagnostic run: tracemalloc in both processes (bench/memtrace.py), its figures are not the soak's
        Path(trace_dir).mkdir(parents=True, exist_ok=True)
        os.environ.setdefault(memtrace.ENV_EVERY, "60")
        os.environ[memtrace.ENV_FILE] = str(Path(trace_dir) / "reference.txt")  # read by the reference process
        trace = memtrace.MemTrace(Path(trace_dir) / "harness.txt", frames=int(os.environ.get(memtrace.ENV_FRAMES, "6")),
                                  trim=os.environ.get(memtrace.ENV_TRIM, "") == "1")
        trace.every(float(os.environ[memtrace.ENV_EVERY]))
    samples: list[tuple[float, ...]] = []
    trials = missed = 0
    with BenchSession(cfg, OUT) as session:
        assert session.reference is not None, "the soak needs the reference bench"
        ref_pid = session.reference.proc.pid
        dut = session.dut
        dut.connect()
        host, port = session.endpoint("auto", "rig").rsplit(":", 1)
        rig = SocketRig(host, int(port))
        al = AudioLatency(dut, rig, seed=5)
        power = session_rig(session)
        assert power is not None, "the bench file has no power: section"
        power.spool_dir = OUT / "spool"
        result: dict = {}

        def capture() -> None:
            try:
                rec = power.record(budget_s)
                st = rec.stats()
                result["power"] = {"samples": len(rec.trace), "lost_samples": rec.lost_samples,
                                   "states": sorted(st), "spool_mb": round(len(rec.trace) * 5 / 2**20, 1)}
            except Exception as exc:  # noqa: BLE001 - reported in the JSON line
                result["power_error"] = f"{type(exc).__name__}: {exc}"

        thread = threading.Thread(target=capture, name="soak-power", daemon=True)
        t0 = time.monotonic()
        thread.start()
        next_sample = t0
        while time.monotonic() - t0 < budget_s and thread.is_alive():
            run = al.uplink("lc3", 4)
            trials += len(run.found)
            missed += len(run.missed)
            # only while the capture streams: its end (segmenting the spool through a memmap) is not growth
            while time.monotonic() >= next_sample and time.monotonic() - t0 < budget_s and thread.is_alive():
                samples.append((time.monotonic() - t0, *rss_mb(os.getpid()), *rss_mb(ref_pid)))
                next_sample += SAMPLE_EVERY_S
        # no sample after the capture ends: reading its spool back (stats) maps the file into the harness
        thread.join(budget_s + 30)
        rig.close()
        for stem in (OUT / "spool").glob("capture-*"):
            stem.unlink()
    if trace is not None:
        trace.stop()
    arr = np.array(samples)
    np.savetxt(OUT / "rss.csv", arr, fmt="%.3f", delimiter=",",
               header="t_s,harness_rss_mb,harness_anon_mb,reference_rss_mb,reference_anon_mb")
    h_slope, h_err = growth(arr[:, 0], arr[:, 1], warmup_s)
    r_slope, r_err = growth(arr[:, 0], arr[:, 3], warmup_s)
    h_anon, h_anon_err = growth(arr[:, 0], arr[:, 2], warmup_s)
    r_anon, r_anon_err = growth(arr[:, 0], arr[:, 4], warmup_s)
    h_warm, _ = growth(arr[arr[:, 0] < warmup_s, 0], arr[arr[:, 0] < warmup_s, 1], 0.0)
    r_warm, _ = growth(arr[arr[:, 0] < warmup_s, 0], arr[arr[:, 0] < warmup_s, 3], 0.0)
    ok = not trace_dir and "power_error" not in result and h_slope <= TARGET_MB_PER_H and r_slope <= TARGET_MB_PER_H and trials > 0
    print(json.dumps({
        "benchmark": "soak", "soak_s": round(float(arr[-1, 0]), 1), "audio_trials": trials, "audio_missed": missed,
        **result,
        "harness_rss_mb_start": round(float(arr[0, 1]), 1), "harness_rss_mb_end": round(float(arr[-1, 1]), 1),
        "harness_growth_mb_per_h": round(h_slope, 1), "harness_growth_stderr_mb_per_h": round(h_err, 1),
        "reference_rss_mb_start": round(float(arr[0, 2]), 1), "reference_rss_mb_end": round(float(arr[-1, 2]), 1),
        "reference_growth_mb_per_h": round(r_slope, 1), "reference_growth_stderr_mb_per_h": round(r_err, 1),
        "harness_anon_growth_mb_per_h": round(h_anon, 1), "harness_anon_growth_stderr_mb_per_h": round(h_anon_err, 1),
        "reference_anon_growth_mb_per_h": round(r_anon, 1),
        "reference_anon_growth_stderr_mb_per_h": round(r_anon_err, 1),
        "warmup_s": warmup_s, "warmup_growth_mb_per_h": {"harness": round(h_warm, 1), "reference": round(r_warm, 1)},
        "traced": bool(trace_dir),
        "growth_target_mb_per_h": TARGET_MB_PER_H, "rss_samples": len(samples),
        "load_avg_1m": round(os.getloadavg()[0], 2), "ok": ok}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
