"""Fuzzer validation: does `bench fuzz` find every seeded bug, how fast, and never on a clean device?

Each seeded bug (bench.reference.bugs.BUGS) gets its own reference bench with that bug on and a BLE fuzz
run of FUZZ_BUDGET_S (default 120 s) on the virtual radio, without the committed corpus (it would
replay the answer). Then the clean device is fuzzed for the same total time the bug runs took, half
over BLE and half over serial: any failure there is a false positive. Throughput comes from the clean
runs. Prints one JSON line.

The fuzz rate is *complete GLP frames* per second (a frame's fragments count once; a write that
finishes no frame counts nothing): the median over 5 seeds of FUZZ_RATE_BUDGET_S (default 10 s) clean
runs per link. Targets: ≥ 1500 over BLE, ≥ 6000 over serial; exit 1 when missed (or a bug is not found,
or the clean device fails).

    python benchmarks/fuzz.py            # FUZZ_BUDGET_S=30 FUZZ_BUGS=bad-crc-accepted,... to shorten
    FUZZ_BUGS= python benchmarks/fuzz.py # only the rate
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.config import load_bench  # noqa: E402
from bench.fuzz.cli import FUZZ_BENCH  # noqa: E402
from bench.fuzz.corpus import CorpusDatabase  # noqa: E402
from bench.fuzz.runner import FuzzResult, fuzz  # noqa: E402
from bench.reference.bugs import BUGS  # noqa: E402
from bench.session import BenchSession  # noqa: E402

TARGETS = {"ble": 1500, "serial": 6000}  # complete frames per second, median of 5 seeds


def run(kind: str, bugs: list[str], budget_s: float, seed: int, out: Path) -> FuzzResult:
    config = load_bench(os.environ.get("FUZZ_BENCH") or FUZZ_BENCH)
    assert config.reference is not None, "the fuzz benchmark needs a reference bench"
    config.reference.bugs = bugs
    with tempfile.TemporaryDirectory() as tmp, BenchSession(config, out) as session:
        model = session.dut.need("fuzz").open(session, kind)  # the DUT's profile decides what is fuzzed
        try:
            return fuzz(model, budget_s, seed, CorpusDatabase(tmp, key=model.corpus_key, read_corpus=False), shrink_budget_s=30)
        finally:
            model.close()


def main() -> int:
    budget_s = float(os.environ.get("FUZZ_BUDGET_S", "120"))
    seed = int(os.environ.get("FUZZ_SEED", "0"))
    names = [n for n in os.environ.get("FUZZ_BUGS", ",".join(sorted(BUGS))).split(",") if n]
    out = Path(os.environ.get("FUZZ_OUT", "out/bench-fuzz"))
    per_bug: dict[str, dict] = {}
    spent_s = 0.0
    for name in names:
        t0 = time.monotonic()
        result = run("ble", [name], budget_s, seed, out)
        spent_s += time.monotonic() - t0
        failure = result.fuzz_failure
        per_bug[name] = {"found": failure is not None, "expected": BUGS[name].kind,
                         "reported": failure.kind if failure else None, "time_to_find_s": result.time_to_find_s,
                         "steps_in_example": len(failure.steps) if failure else None}
        print(f"# {name}: {per_bug[name]}", file=sys.stderr, flush=True)
    clean_s = float(os.environ.get("FUZZ_CLEAN_BUDGET_S", spent_s))
    clean = {kind: run(kind, [], clean_s / 2, seed + 1, out) for kind in ("ble", "serial")} if clean_s > 0 else {}
    for kind, r in clean.items():
        print(f"# clean {kind}: {r.progress_line()} failure={r.failure!r}"[:600], file=sys.stderr, flush=True)
    rate_s = float(os.environ.get("FUZZ_RATE_BUDGET_S", "10"))
    rates: dict[str, list[float]] = {"ble": [], "serial": []}
    writes: dict[str, list[float]] = {"ble": [], "serial": []}
    rate_failures = 0
    for kind in rates:
        for s in range(5):
            r = run(kind, [], rate_s, 100 + s, out)
            rates[kind].append(r.whole_frames_per_s)
            writes[kind].append(r.frames_per_s)
            rate_failures += r.failure is not None
            print(f"# rate {kind} seed {100 + s}: {r.whole_frames_per_s:.0f} frames/s, {r.frames_per_s:.0f} writes/s",
                  file=sys.stderr, flush=True)
    rate = {k: statistics.median(v) for k, v in rates.items()}
    missed = [f"whole_frames_per_s_{k}" for k in rate if rate[k] < TARGETS[k]]
    missed += [f"bug {n} not found" for n, b in per_bug.items() if not b["found"]]
    if any(r.failure is not None for r in clean.values()) or rate_failures:
        missed.append("false_positives")
    times = [b["time_to_find_s"] for b in per_bug.values() if b["found"] and b["time_to_find_s"] is not None]
    print(json.dumps({
        "bugs_total": len(names),
        "bugs_found": sum(b["found"] for b in per_bug.values()),
        "median_time_to_find_s": round(statistics.median(times), 2) if times else None,
        "max_time_to_find_s": round(max(times), 2) if times else None,
        "false_positives": sum(r.failure is not None for r in clean.values()) + rate_failures,
        "whole_frames_per_s_ble": round(rate["ble"]), "whole_frames_per_s_ble_target": TARGETS["ble"],
        "whole_frames_per_s_serial": round(rate["serial"]), "whole_frames_per_s_serial_target": TARGETS["serial"],
        "whole_frames_per_s_by_seed": {k: [round(x) for x in v] for k, v in rates.items()},
        "writes_per_s_median": {k: round(statistics.median(v)) for k, v in writes.items()},
        "rate_budget_s": rate_s,
        "clean_budget_s": round(clean_s, 1),
        "budget_per_bug_s": budget_s,
        "kinds_match": sum(b["reported"] == b["expected"] for b in per_bug.values()),
        "bugs": per_bug,
        "missed_targets": missed,
    }))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
