"""Pool benchmark: DUT tests per minute with 1, 2 and 4 reference DUTs (one pytest-xdist worker each), and
what reserving + acquiring a labgrid place costs.

Prints one JSON line:
  tests_per_min_N     tests finished per minute of wall time, N reference DUTs and N workers (N = 1, 2, 4);
                      wall time includes starting the workers and each DUT's reference bench
  speedup_N           tests_per_min_N ÷ tests_per_min_1
  passed_N / failed_N outcome counts of that run (a failing run is reported, not hidden)
  lab_reserve_s_p50   labgrid: reserve a place by tags and wait for the allocation (median of 5)
  lab_acquire_s_p50   acquire it and wait until the exporter serves its ports (ser2net per serial port)
  lab_release_s_p50   release + cancel the reservation
On this 2-core machine each reference DUT is a process of its own, so 4 DUTs compete for the cores:
the figure says how far one host scales with virtual DUTs, not with dev kits (which cost no host CPU).
Usage: python benchmarks/pool.py [pytest paths...]   (default: the smoke, GLP message and power-state suites)
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.lab import services  # noqa: E402

SUITES = ["tests/dut/test_smoke.py", "tests/dut/test_protocol_messages.py", "tests/dut/test_power_states.py"]
COUNTS = (1, 2, 4)


def pool_run(n: int, suites: list[str], folder: Path) -> dict[str, float]:
    pool = folder / f"pool-{n}.yaml"
    pool.write_text(yaml.safe_dump({"name": f"bench-{n}", "duts": [{"id": f"ref-{i}", "bench": "reference"}
                                                                    for i in range(n)]}))
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", str(n),
                           "--bench", str(pool), "--bench-out", str(folder / f"out-{n}"), *suites],
                          cwd=ROOT, capture_output=True, text=True, timeout=1800)
    wall_s = time.monotonic() - t0
    counts = {k: int(v) for v, k in re.findall(r"(\d+) (passed|failed|skipped|error)", proc.stdout.splitlines()[-1])}
    done = counts.get("passed", 0) + counts.get("failed", 0)
    return {"wall_s": wall_s, "tests_per_min": 60 * done / wall_s, "passed": counts.get("passed", 0),
            "failed": counts.get("failed", 0) + counts.get("error", 0)}


def lab_overhead(folder: Path, rounds: int = 5) -> dict[str, float]:
    from bench.config import ReferenceSpec
    from bench.lab.exporter import reference_exporter_config
    from bench.lab.place import LabPlace
    from bench.session import ReferenceProcess

    tags = {"board": "nrf52840dk", "sku": "camera"}
    ref = ReferenceProcess(ReferenceSpec(), folder / "lab-reference.log")
    lab = services.LocalLab(folder / "lab")
    reserve, acquire, release = [], [], []
    try:
        lab.export("bench-pc-1", reference_exporter_config(ref.ready, "ref-a"))
        lab.add_place("ref-a", "bench-pc-1", "ref-a", tags)
        for _ in range(rounds):
            place = LabPlace(lab.address, tags=tags).acquire()
            t0 = time.monotonic()
            place.release()
            reserve.append(place.reserve_s)
            acquire.append(place.acquire_s)
            release.append(time.monotonic() - t0)
    finally:
        lab.close()
        ref.stop()
    return {"lab_reserve_s_p50": round(statistics.median(reserve), 3),
            "lab_acquire_s_p50": round(statistics.median(acquire), 3),
            "lab_release_s_p50": round(statistics.median(release), 3)}


def main(suites: list[str]) -> dict[str, object]:
    result: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="glassbench-pool-bench-") as tmp:
        folder = Path(tmp)
        for n in COUNTS:
            run = pool_run(n, suites, folder)
            result[f"tests_per_min_{n}"] = round(run["tests_per_min"], 1)
            result[f"wall_s_{n}"] = round(run["wall_s"], 1)
            result[f"passed_{n}"], result[f"failed_{n}"] = run["passed"], run["failed"]
        for n in COUNTS[1:]:
            result[f"speedup_{n}"] = round(float(result[f"tests_per_min_{n}"]) / float(result["tests_per_min_1"]), 2)  # type: ignore[arg-type]
        why = services.missing()
        if why is None:
            result.update(lab_overhead(folder))
        else:
            result["lab_skipped"] = why
    return result


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:] or SUITES)))
