"""An hour of live PPK2 capture in bounded memory, and its analysis with 10⁶ marker segments. One JSON line.

    python benchmarks/power_hour.py        # POWER_HOUR_S=600 for a shorter run (figures scale to the hour)

- spool_peak_rss_mb: peak RSS (VmHWM) of a child process that pushes POWER_HOUR_S (default 3600 s) of
  PPK2 stream words at 100 kS/s through the harness's own path — ``Ppk2Decoder.feed`` in 0.05 s
  chunks as ``Ppk2Meter.read_samples`` does, a ``Capture`` per chunk, ``SampleSpool.append`` — faster
  than real time. Truth for what memory it should need: the process's RSS after imports (the
  baseline), printed next to it. Target ≤ 200 MB for the hour.
- analysis_s: ``segments_from_markers`` + ``state_stats`` over the spooled hour in a fresh child
  process. Target ≤ 5 s. segments: how many it found; truth: the edges the generator wrote, counted
  here. state_mean_error_pct: worst |mean − truth| / truth per state, truth = the generator's
  float64 currents summed here (the PPK2 ADC quantisation is the only expected difference). Target ≤ 0.5 %.
The stream cycles 16 pre-encoded one-second blocks (random states, ~278 segments/s: 10⁶ in the hour),
so generating it costs little next to decoding and spooling.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.instruments.base import Capture  # noqa: E402
from bench.instruments.ppk2_decode import Ppk2Decoder  # noqa: E402
from bench.reference.ppk2_sim import encode, metadata_text  # noqa: E402

RATE = 100_000
BLOCK = 64 * 1563            # ≈ 1 s; a multiple of 64 so the 6-bit sample counter continues across blocks
N_BLOCKS = 16
CHUNK = 5000                 # 0.05 s: what the PowerRig drains per poll
LEVELS_A = {1: 3e-6, 2: 0.4e-3, 3: 1.2e-3, 4: 4.5e-3, 5: 60e-3}   # sleep … camera: every PPK2 range
TARGET_RSS_MB, TARGET_ANALYSIS_S, TARGET_ERR_PCT = 200.0, 5.0, 0.5


def blocks(seed: int = 7) -> list[tuple[np.ndarray, np.ndarray]]:
    """(current_a float64, logic uint8) blocks with segments of 1–700 samples (mean ~360)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(N_BLOCKS):
        lengths = rng.integers(1, 720, size=BLOCK // 100)
        lengths = lengths[: int(np.searchsorted(np.cumsum(lengths), BLOCK)) + 1]
        lengths[-1] -= lengths.sum() - BLOCK
        states = 1 + np.cumsum(rng.integers(1, len(LEVELS_A), size=lengths.size)) % len(LEVELS_A)  # never repeats
        logic = np.repeat(states, lengths).astype(np.uint8)
        level = np.array([LEVELS_A.get(int(s), 0.0) for s in range(8)])[logic]
        out.append((level * (1 + 0.05 * rng.standard_normal(BLOCK)), logic))
    return out


def vm_kb(key: str) -> int:
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith(key + ":"))


def capture_child(stem: str, seconds: float) -> None:
    from ppk2_api.ppk2_api import PPK2_API

    from bench.power.spool import SampleSpool
    api = PPK2_API.__new__(PPK2_API)
    api.modifiers = {"Calibrated": None, "R": {}, "GS": {}, "GI": {}, "O": {}, "S": {}, "I": {}, "UG": {},
                     "HW": None, "IA": None}
    api._parse_metadata(metadata_text())
    data = [(encode(c, lg, 0), c, lg) for c, lg in blocks()]
    order = np.random.default_rng(1).integers(0, N_BLOCKS, size=int(np.ceil(seconds * RATE / BLOCK)))
    base_kb = vm_kb("VmRSS")
    dec = Ppk2Decoder(api.modifiers, 3000, spike_filter=False)
    t0_s = time.monotonic()
    n_total = int(seconds * RATE)
    t = time.perf_counter()
    rss_trace = []
    with SampleSpool(stem) as spool:
        done = 0
        for k, b in enumerate(order):
            raw = data[b][0][: 4 * min(BLOCK, n_total - done)]
            for i in range(0, len(raw), 4 * CHUNK):
                d = dec.feed(raw[i:i + 4 * CHUNK])
                spool.append(Capture(t_s=t0_s + d.index / RATE, current_a=d.current_a, sample_rate_hz=RATE,
                                     overflow=d.overflow, lost_samples=d.lost, markers=d.logic, voltage_v=3.0))
            done += len(raw) // 4
            if k % 60 == 0:
                rss_trace.append(vm_kb("VmRSS") / 1024)
    elapsed = time.perf_counter() - t
    # truth computed here from the generator: per-state sums and counts, segment edges
    sums, counts = np.zeros(8), np.zeros(8)
    per_block = [(np.bincount(lg, weights=c, minlength=8), np.bincount(lg, minlength=8)) for _, c, lg in data]
    edges, prev_last = 0, None
    for k, b in enumerate(order):
        n = min(BLOCK, n_total - k * BLOCK)
        lg, c = data[b][2][:n], data[b][1][:n]
        if n == BLOCK:
            sums += per_block[b][0]
            counts += per_block[b][1]
        else:
            sums += np.bincount(lg, weights=c, minlength=8)
            counts += np.bincount(lg, minlength=8)
        edges += int(np.count_nonzero(lg[1:] != lg[:-1])) + (prev_last is not None and int(lg[0]) != prev_last)
        prev_last = int(lg[-1])
    print(json.dumps({"s": elapsed, "peak_mb": vm_kb("VmHWM") / 1024, "base_mb": base_kb / 1024, "rss_mb": rss_trace,
                      "truth_means": {str(s): sums[s] / counts[s] for s in LEVELS_A if counts[s]},
                      "truth_segments": edges + 1, "samples": spool.samples}))


def analysis_child(stem: str) -> None:
    from bench.power.analysis import segments_from_markers, state_stats
    from bench.power.spool import open_spool
    t = time.perf_counter()
    trace, _overflow, _header = open_spool(stem, memmap=os.environ.get("POWER_HOUR_MEMMAP", "0") == "1")
    segs = segments_from_markers(trace)
    t_seg = time.perf_counter() - t
    stats = state_stats(trace, segs)
    print(json.dumps({"s": time.perf_counter() - t, "segments_s": t_seg, "segments": len(segs),
                      "peak_mb": vm_kb("VmHWM") / 1024,
                      "means": {k.removeprefix("state_"): v.mean_a for k, v in stats.items()}}))


def child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, timeout=1800)
    if out.returncode:
        raise SystemExit(f"{args[0]} child failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout)


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--capture":
        capture_child(sys.argv[2], float(sys.argv[3]))
        return 0
    if len(sys.argv) > 1 and sys.argv[1] == "--analysis":
        analysis_child(sys.argv[2])
        return 0
    seconds = float(os.environ.get("POWER_HOUR_S", 3600))
    with tempfile.TemporaryDirectory(prefix="glassbench-hour-") as tmp:
        stem = str(Path(tmp) / "hour")
        cap = child("--capture", stem, str(seconds))
        ana = child("--analysis", stem)
    scale = 3600 / seconds
    err = max(abs(ana["means"][s] - m) / m * 100 for s, m in cap["truth_means"].items())
    rss = cap["rss_mb"]
    result = {
        "benchmark": "power_hour", "capture_s_simulated": seconds, "samples": cap["samples"],
        "spool_peak_rss_mb": round(cap["peak_mb"], 1), "spool_peak_rss_target_mb": TARGET_RSS_MB,
        "spool_baseline_rss_mb": round(cap["base_mb"], 1),
        "spool_rss_growth_mb_per_h": round((rss[-1] - rss[min(1, len(rss) - 1)]) * scale, 1) if len(rss) > 1 else 0.0,
        "spool_wall_s": round(cap["s"], 1), "spool_speed_x_realtime": round(seconds / cap["s"], 1),
        "analysis_s": round(ana["s"], 2), "analysis_s_per_hour": round(ana["s"] * scale, 2),
        "analysis_target_s": TARGET_ANALYSIS_S, "analysis_segments_s": round(ana["segments_s"], 2),
        "analysis_peak_rss_mb": round(ana["peak_mb"], 1),
        "segments": ana["segments"], "segments_truth": cap["truth_segments"],
        "state_mean_error_pct": round(err, 4), "state_mean_error_target_pct": TARGET_ERR_PCT,
        "load_avg_1m": round(os.getloadavg()[0], 2)}
    ok = (cap["peak_mb"] <= TARGET_RSS_MB and ana["s"] * scale <= TARGET_ANALYSIS_S and err <= TARGET_ERR_PCT
          and ana["segments"] == cap["truth_segments"])
    result["ok"] = ok
    print(json.dumps(result))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
