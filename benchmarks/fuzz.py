"""Fuzzer validation: does `bench fuzz` find every seeded bug, on every seed and target, how fast, how
small is the example it ends with, and never a failure on a clean device?

Each seeded bug of each profile (FUZZ_PROFILES, default glp,omi: GLP's bench.reference.bugs.BUGS on
fixtures/benches/fuzz.yaml, the Omi profile's bench.profiles.omi.device.BUGS on reference-omi.yaml, on the
SKU where the bug's code exists) gets its own reference bench with that bug on and a fuzz run of
FUZZ_BUDGET_S (default 60 s) per target (FUZZ_TARGETS, default ble,serial) and seed (FUZZ_SEEDS, default
5: seeds 0..4), without the committed corpus (it would replay the answer), on the links where its faulty
code runs (Bug.links: serial frames are whole, so reassembly bugs are BLE only; Omi is BLE only). Per bug
and target: how many seeds found it, whether the failure was of the expected kind, the median and worst
time to find, and the median steps of the shrunk example. Then each profile's clean device is fuzzed for
FUZZ_CLEAN_BUDGET_S per target (default 60 s): any failure there is a false positive. Prints one JSON
line; exit 1 when a bug is missed on any seed or a clean device fails. Every run that misses a target
(not found, another kind, shrunk past 5 steps, any clean failure) is written in full to FUZZ_OUT (default
out/bench-fuzz): <bug>-<target>-seed<N>.txt, clean-<profile>-<target>-failure.txt. The fuzz rate is its
own figure: benchmarks/fuzz_rate.py.

    python benchmarks/fuzz.py     # FUZZ_SEEDS=2 FUZZ_TARGETS=ble FUZZ_BUGS=text-queue-stall,... to shorten
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.config import load_bench  # noqa: E402
from bench.fuzz.cli import FUZZ_BENCH  # noqa: E402
from bench.fuzz.corpus import CorpusDatabase  # noqa: E402
from bench.fuzz.runner import FuzzResult, fuzz  # noqa: E402
from bench.profiles.omi import device as omi  # noqa: E402
from bench.reference.bugs import BUGS  # noqa: E402
from bench.session import BenchSession  # noqa: E402

MINIMIZE_BUDGET_S = 120  # delta debugging's replays: a 50-step BLE example of photo-read-past-end took 75 s to
# reach one step, and stopped at 16 steps with 40 s
MAX_STEPS = 5  # issue 15: a shrunk example is at most 5 steps where the bug needs at most 5 (every seeded one does)


@dataclass(frozen=True)
class Case:
    """One seeded bug: the profile and bench it runs on, its links, the failure kind expected, its SKU."""

    profile: str
    bench: str
    links: tuple[str, ...]
    expected: str
    sku: str | None = None


def cases() -> dict[str, Case]:
    glp = os.environ.get("FUZZ_BENCH") or FUZZ_BENCH
    out = {name: Case("glp", glp, bug.links, bug.kind) for name, bug in BUGS.items()}
    out |= {name: Case("omi", "reference-omi.yaml", ("ble",), omi.BUG_KINDS[name], omi.BUG_SKUS.get(name))
            for name in omi.BUGS}
    return out


def run(kind: str, bugs: list[str], budget_s: float, seed: int, out: Path, bench: str, sku: str | None = None) -> FuzzResult:
    config = load_bench(bench)
    assert config.reference is not None, "the fuzz benchmark needs a reference bench"
    config.reference.bugs = bugs
    if sku is not None:
        config.reference.sku = config.dut.sku = sku
    with tempfile.TemporaryDirectory() as tmp, BenchSession(config, out) as session:
        model = session.dut.need("fuzz").open(session, kind)  # the DUT's profile decides what is fuzzed
        counts = getattr(getattr(model, "target", None), "link_counts", None)  # GLP targets count their link
        before = dict(counts or {})
        try:
            result = fuzz(model, budget_s, seed, CorpusDatabase(tmp, key=model.corpus_key, read_corpus=False),
                          shrink_budget_s=20, minimize_budget_s=MINIMIZE_BUDGET_S)
            if counts is not None:
                result.extra["link"] = {k: v - before.get(k, 0) for k, v in counts.items()}
            return result
        finally:
            model.close()


def _write_report(path: Path, result: FuzzResult) -> None:
    """A run that missed its target, in full: the failure's report (example, console), or what ended it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    failure = result.fuzz_failure
    text = failure.report() if failure is not None else f"no failure found: {result.progress_line()}\n{result.failure!r}"
    path.write_text(text + "\n")
    print(f"# {result.target}: {path.name} written to {path.parent}", file=sys.stderr, flush=True)


def _median(xs: list[float]) -> float | None:
    return round(statistics.median(xs), 2) if xs else None


def main() -> int:
    budget_s = float(os.environ.get("FUZZ_BUDGET_S", "60"))
    seeds = range(int(os.environ.get("FUZZ_SEEDS", "5")))
    targets = [t for t in os.environ.get("FUZZ_TARGETS", "ble,serial").split(",") if t]
    profiles = [p for p in os.environ.get("FUZZ_PROFILES", "glp,omi").split(",") if p]
    table = {name: case for name, case in cases().items() if case.profile in profiles}
    names = [n for n in os.environ.get("FUZZ_BUGS", ",".join(sorted(table))).split(",") if n]
    unknown = [n for n in names if n not in table]
    if unknown:
        print(f"FUZZ_BUGS: no seeded bug {', '.join(unknown)} in profiles {', '.join(profiles)} "
              f"(known: {', '.join(sorted(table))})", file=sys.stderr)
        return 2
    out = Path(os.environ.get("FUZZ_OUT", "out/bench-fuzz"))
    per_bug: dict[str, dict[str, dict]] = {}
    for name in names:
        case = table[name]
        for kind in targets:
            if kind not in case.links:
                per_bug.setdefault(name, {})[kind] = {"applies": False}  # e.g. reassembly bugs on whole-frame serial
                continue
            found_s: list[float] = []
            steps: list[int] = []
            shrink_s: list[float] = []
            kinds: list[str | None] = []
            for seed in seeds:
                result = run(kind, [name], budget_s, seed, out, case.bench, case.sku)
                failure = result.fuzz_failure
                kinds.append(failure.kind if failure else None)
                if failure is not None and result.time_to_find_s is not None and result.time_to_find_s <= budget_s:
                    found_s.append(result.time_to_find_s)
                    steps.append(len(failure.steps))
                    shrink_s.append(result.shrink_s)
                if failure is None or failure.kind != case.expected or len(failure.steps) > MAX_STEPS:
                    _write_report(out / f"{name}-{kind}-seed{seed}.txt", result)  # a missed target, told in full
            row = {"profile": case.profile, "found": len(found_s), "seeds": len(seeds), "expected": case.expected,
                   "kinds_match": sum(k == case.expected for k in kinds),
                   "median_time_to_find_s": _median(found_s), "max_time_to_find_s": round(max(found_s), 2) if found_s else None,
                   "median_shrunk_steps": _median([float(s) for s in steps]), "max_shrunk_steps": max(steps, default=None),
                   "max_shrink_s": round(max(shrink_s), 1) if shrink_s else None}
            per_bug.setdefault(name, {})[kind] = row
            print(f"# {name} {kind}: {row}", file=sys.stderr, flush=True)
    clean_s = float(os.environ.get("FUZZ_CLEAN_BUDGET_S", "60"))
    benches = {case.profile: case for case in table.values() if case.profile in profiles}
    clean = {f"{profile} {kind}": run(kind, [], clean_s, 1000, out, case.bench)
             for profile, case in benches.items() for kind in targets if kind in case.links} if clean_s > 0 else {}
    for what, r in clean.items():
        print(f"# clean {what}: {r.progress_line()} failure={r.failure!r}"[:600], file=sys.stderr, flush=True)
        if r.failure is not None:  # the whole story of a false positive, not the first 600 characters
            _write_report(out / f"clean-{what.replace(' ', '-')}-failure.txt", r)
    missed = [f"{name} {kind}: found on {row['found']} of {row['seeds']} seeds" for name, by in per_bug.items()
              for kind, row in by.items() if row.get("applies", True) and row["found"] < row["seeds"]]
    missed += [f"{name} {kind}: reported as another kind on {row['found'] - row['kinds_match']} seeds"
               for name, by in per_bug.items() for kind, row in by.items()
               if row.get("applies", True) and row["kinds_match"] < row["found"]]
    missed += [f"{name} {kind}: shrunk example of {row['max_shrunk_steps']} steps (every seeded bug needs <= {MAX_STEPS})"
               for name, by in per_bug.items() for kind, row in by.items()
               if row.get("applies", True) and (row["max_shrunk_steps"] or 0) > MAX_STEPS]
    missed += [f"false positive on clean {what}" for what, r in clean.items() if r.failure is not None]
    rows = [row for by_target in per_bug.values() for row in by_target.values() if row.get("applies", True)]
    times = [row["median_time_to_find_s"] for row in rows if row["median_time_to_find_s"] is not None]
    print(json.dumps({
        "bugs_total": len(names),
        "profiles": profiles,
        "targets": targets,
        "seeds": len(seeds),
        "found_on_every_seed_and_target": sum(all(r["found"] == r["seeds"] for r in by.values() if r.get("applies", True))
                                              for by in per_bug.values()),
        "found_at_least_once": sum(any(r.get("found") for r in by.values()) for by in per_bug.values()),
        "median_time_to_find_s": _median(times),
        "false_positives": sum(r.failure is not None for r in clean.values()),
        **{f"frames_per_s_{what.replace(' ', '_')}": round(r.frames_per_s) for what, r in clean.items()},
        "clean_budget_s": clean_s,
        "budget_per_run_s": budget_s,
        "bugs": per_bug,
        "missed_targets": missed,
    }))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
