"""Fuzz rate: *complete GLP frames* per second the fuzzer puts on each link of a clean reference device.

A frame's fragments count once; a write that finishes no frame counts nothing (filler, probe and
mutation bytes are not frames). The figure is the median over 5 seeds of FUZZ_RATE_BUDGET_S (default
10 s) runs per link; writes/s are printed alongside. Targets: >= 1500 over BLE, >= 6000 over serial;
exit 1 when missed or when the clean device fails (a false positive). Prints one JSON line.

    python benchmarks/fuzz_rate.py       # FUZZ_RATE_BUDGET_S=5 FUZZ_RATE_SEEDS=3 FUZZ_TARGETS=serial to shorten
"""

from __future__ import annotations

import json
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.fuzz import run  # noqa: E402

TARGETS = {"ble": 1500, "serial": 6000}  # complete frames per second, median of 5 seeds


def main() -> int:
    rate_s = float(os.environ.get("FUZZ_RATE_BUDGET_S", "10"))
    out = Path(os.environ.get("FUZZ_OUT", "out/bench-fuzz"))
    kinds = [k for k in os.environ.get("FUZZ_TARGETS", ",".join(TARGETS)).split(",") if k]
    unknown = sorted(set(kinds) - set(TARGETS))
    if unknown:
        print(f"FUZZ_TARGETS: unknown link(s) {', '.join(unknown)}; expected some of {', '.join(TARGETS)}", file=sys.stderr)
        return 2
    seeds = range(100, 100 + int(os.environ.get("FUZZ_RATE_SEEDS", "5")))
    rates: dict[str, list[float]] = {kind: [] for kind in kinds}
    writes: dict[str, list[float]] = {kind: [] for kind in kinds}
    false_positives = 0
    for kind in kinds:
        for seed in seeds:
            r = run(kind, [], rate_s, seed, out)
            rates[kind].append(r.whole_frames_per_s)
            writes[kind].append(r.frames_per_s)
            false_positives += r.failure is not None
            print(f"# rate {kind} seed {seed}: {r.whole_frames_per_s:.0f} frames/s, {r.frames_per_s:.0f} writes/s",
                  file=sys.stderr, flush=True)
    rate = {k: statistics.median(v) for k, v in rates.items()}
    missed = [f"whole_frames_per_s_{k}" for k in rate if rate[k] < TARGETS[k]]
    missed += ["false_positives"] if false_positives else []
    print(json.dumps({
        **{f"whole_frames_per_s_{k}": round(v) for k, v in rate.items()},
        **{f"whole_frames_per_s_{k}_target": TARGETS[k] for k in rate},
        "whole_frames_per_s_by_seed": {k: [round(x) for x in v] for k, v in rates.items()},
        "writes_per_s_median": {k: round(statistics.median(v)) for k, v in writes.items()},
        "rate_budget_s": rate_s,
        "seeds": len(seeds),
        "false_positives": false_positives,
        "missed_targets": missed,
    }))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
