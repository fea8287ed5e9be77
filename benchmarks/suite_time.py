"""Wall time of `bench demo` and of the smoke suite (the smoke plan's suites under pytest). One JSON line.

    python benchmarks/suite_time.py        # SUITE_SKIP_DEMO=1 to time the smoke suite only

`make test` itself is not run here (it runs every suite three times and takes the machine for many
minutes; a benchmark inside it would time itself): these two are its representative parts — the demo
plan touches every area once, the smoke suite is the per-commit gate.
- demo_s: `bench demo` as a child process, on this process's clock. Truth next to it: the sum of the
  test case times pytest wrote to out/junit.xml (its own clock, in the child) — demo_s must be ≥ it
  and the difference is start-up, reference bench, report. Target ≤ 180 s: the first thing a new bench
  engineer runs; longer than a coffee and they stop reading.
- smoke_s: pytest on test_plans/smoke.yaml's ``suites`` against the reference bench, same truth (junit).
  Target ≤ 60 s: a per-commit CI gate on a 2-core runner, and the bench is held (one DUT) while it
  runs. (`pytest tests/dut -m smoke` selects nothing: no test carries the ``smoke`` area marker; the
  plan selects by suite.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"demo_s": 180.0, "smoke_s": 60.0}


def junit_totals(path: Path) -> tuple[float, int, int]:
    """(sum of test case times s, cases, failed or errored) from a junit.xml."""
    cases = list(ET.parse(path).iter("testcase"))
    bad = sum(1 for c in cases if any(ch.tag in ("failure", "error") for ch in c))
    return sum(float(c.get("time", 0)) for c in cases), len(cases), bad


def timed(argv: list[str], cwd: Path) -> tuple[float, int, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.monotonic()
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=1800, env=env)
    return time.monotonic() - t0, proc.returncode, (proc.stdout + proc.stderr)[-1500:]


def main() -> int:
    res: dict = {"benchmark": "suite_time"}
    checks: dict[str, bool] = {}
    with tempfile.TemporaryDirectory(prefix="glassbench-suite-") as tmp:
        out = Path(tmp) / "smoke"
        suites = yaml.safe_load((ROOT / "test_plans" / "smoke.yaml").read_text())["suites"]
        smoke_s, code, tail = timed([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *suites,
                                     "--bench-out", str(out), f"--junitxml={out / 'junit.xml'}"], ROOT)
        junit_s, cases, bad = junit_totals(out / "junit.xml") if (out / "junit.xml").exists() else (float("nan"), 0, 0)
        res.update({"smoke_suites": suites, "smoke_s": round(smoke_s, 1), "smoke_junit_cases_s": round(junit_s, 1), "smoke_tests": cases,
                    "smoke_failed": bad, "smoke_exit": code})
        checks["smoke_s"] = code == 0 and cases > 0 and junit_s <= smoke_s <= TARGETS["smoke_s"]
        if code != 0:
            print(tail, file=sys.stderr)
    if os.environ.get("SUITE_SKIP_DEMO") != "1":
        demo_s, code, tail = timed([sys.executable, "-m", "bench.cli", "demo"], ROOT)   # writes out/ like `make demo`
        junit = ROOT / "out" / "junit.xml"
        junit_s, cases, bad = junit_totals(junit) if junit.exists() else (float("nan"), 0, 0)
        res.update({"demo_s": round(demo_s, 1), "demo_junit_cases_s": round(junit_s, 1), "demo_tests": cases,
                    "demo_failed": bad, "demo_exit": code})
        checks["demo_s"] = code == 0 and cases > 0 and junit_s <= demo_s <= TARGETS["demo_s"]
        if code != 0:
            print(tail, file=sys.stderr)
    res["targets"] = TARGETS
    res["load_avg_1m"] = round(os.getloadavg()[0], 2)
    res["missed"] = [k for k, ok in checks.items() if not ok]
    res["ok"] = not res["missed"]
    print(json.dumps(res))
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
