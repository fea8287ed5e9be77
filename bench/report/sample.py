"""A small, real Allure results directory (passed, failed, broken, a measurement attachment).

Made by running allure-pytest on a generated test file in a subprocess, so it has exactly the shape a
real run has. Used by `bench doctor` to prove the report toolchain works, and by the report tests.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench.report.allure import write_categories, write_environment

SAMPLE_TESTS = '''
import allure, pytest
from bench.report.allure import attach_measurement

@allure.feature("smoke")
def test_connect_time():
    attach_measurement({"test": "test_connect_time", "name": "connect_time_s", "value": 0.42, "unit": "s",
                        "low": None, "high": 3.0, "verdict": "pass", "sku": "audio", "board": "nrf52840dk"})

@allure.feature("latency")
def test_uplink_latency():
    pytest.fail("LIMIT EXCEEDED: uplink_latency_s[lc3] = 71.2 ms > high 60 ms", pytrace=False)

@allure.feature("smoke")
def test_reboot_survives():
    raise RuntimeError("DUT CRASH: hard fault at 0x0002a4f1 (reset reason: LOCKUP)")

@allure.feature("power")
def test_sleep_current():
    raise KeyError("harness bug: no such channel")
'''

#: What the sample contains, for assertions.
SAMPLE_COUNTS = {"total": 4, "passed": 1, "failed": 1, "broken": 2}
SAMPLE_ATTACHMENT = "measurement connect_time_s"


def make_sample_results(workdir: str | Path, timeout_s: float = 60.0) -> Path:
    """Run the sample tests under allure-pytest in `workdir`; returns the allure-results directory."""
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    (work / "test_sample_report.py").write_text(SAMPLE_TESTS, encoding="utf-8")
    results = work / "allure-results"
    import bench

    repo = str(Path(bench.__file__).resolve().parent.parent)  # the folder glassbench is imported from
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:glassbench",
           "-p", "no:randomly", f"--rootdir={work}", "-c", "/dev/null",
           f"--alluredir={results}", "--clean-alluredir", str(work / "test_sample_report.py")]
    env = {"PYTHONPATH": repo, "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=timeout_s, env=env)
    if proc.returncode not in (0, 1) or not any(results.glob("*-result.json")):
        raise RuntimeError(f"sample run failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    write_categories(results)
    write_environment(results, {"dut.board": "nrf52840dk", "dut.sku": "audio", "bench.id": "sample",
                                "firmware.version": "0.0.0-sample"})
    return results
