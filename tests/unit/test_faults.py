"""Faults the harness must survive, seen the way QA sees them: in the Allure result of a test."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

SUITE = textwrap.dedent('''
    import time
    from bench.dut.glasses import DIS

    def test_bench_killed_mid_test(bench, dut):
        bench.reference.kill()
        t0 = time.monotonic()
        try:
            while True:
                dut.read(DIS["firmware_revision"])
        finally:
            print(f"ELAPSED {time.monotonic() - t0:.3f}")

    def test_glasses_crash_mid_test(dut):
        dut.console.link.write(b"fault crash\\r")
        t0 = time.monotonic()
        try:
            while True:
                dut.read(DIS["firmware_revision"])
                time.sleep(0.05)
        finally:
            print(f"ELAPSED {time.monotonic() - t0:.3f}")

    def test_glasses_watchdog_reset_mid_test(dut):
        dut.console.link.write(b"fault reboot WATCHDOG\\r")
        t0 = time.monotonic()
        dut.wait_disconnected(5)
        dut.connect()  # it is back: the test itself saw nothing wrong
        print(f"ELAPSED {time.monotonic() - t0:.3f}")
''')


def run_suite(tmp_path: Path, test: str, bench: str = "reference") -> tuple[dict, float]:
    (tmp_path / "test_fault_suite.py").write_text(SUITE)
    results = tmp_path / "allure"
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(tmp_path / "test_fault_suite.py"), "-k", test, "-s", "-q",
         "-p", "no:cacheprovider", f"--alluredir={results}", f"--bench-out={tmp_path / 'out'}",
         "--rootdir", str(tmp_path), "--bench", str(REPO / "fixtures" / "benches" / f"{bench}.yaml")],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    wall_s = time.monotonic() - t0
    files = list(results.glob("*-result.json"))
    assert files, proc.stdout + proc.stderr
    result = json.loads(files[0].read_text())
    elapsed = [float(line.split()[1]) for line in proc.stdout.splitlines() if line.startswith("ELAPSED")]
    assert elapsed, proc.stdout
    return result, elapsed[0] if wall_s else 0.0


def test_reference_bench_killed_is_broken_link_lost_without_hanging(tmp_path):
    result, elapsed_s = run_suite(tmp_path, "bench_killed")
    assert result["status"] == "broken"
    assert "LINK LOST: " in result["statusDetails"]["message"]
    assert elapsed_s < 2.0  # the reference bench's supervision timeout


@pytest.mark.slow
def test_glasses_crash_is_broken_link_lost_within_supervision_timeout(tmp_path):
    result, elapsed_s = run_suite(tmp_path, "glasses_crash")
    assert result["status"] == "broken"
    assert "LINK LOST: " in result["statusDetails"]["message"] or "DUT CRASH: " in result["statusDetails"]["message"]
    assert 1.5 < elapsed_s < 2.0 + 1.5  # silence, then the supervision timeout (2 s) + retries of one read


@pytest.mark.parametrize("bench", ["reference", "reference-esp32s3"])
def test_unrequested_reboot_is_broken_dut_crash_naming_the_reset_reason(tmp_path, bench):
    """A test that passed in its body but saw the DUT reset under it: the per-test check says so."""
    result, _elapsed_s = run_suite(tmp_path, "watchdog_reset", bench)
    assert result["status"] == "broken"
    message = result["statusDetails"]["message"]
    assert "DUT CRASH: DUT reboot during the test (not requested): reset reason WATCHDOG" in message
    assert ("TG0WDT_SYS_RST" in message) == (bench == "reference-esp32s3")  # the ROM's name on ESP32-S3
