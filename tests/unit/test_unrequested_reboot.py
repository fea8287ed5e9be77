"""An unrequested reset under a test, seen the way QA sees it: the per-test console check fails the test
as DUT CRASH naming the reset reason (Zephyr: ``hwinfo reset_cause``; ESP32-S3: the ROM's ``rst:`` line)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

SUITE = textwrap.dedent('''
    def test_glasses_watchdog_reset_mid_test(dut):
        dut.console.link.write(b"fault reboot WATCHDOG\\r")
        dut.wait_disconnected(5)
        dut.connect()  # it is back: the test body itself sees nothing wrong
''')


@pytest.mark.parametrize("bench", ["reference", "reference-esp32s3"])
def test_unrequested_reboot_is_a_dut_crash_naming_the_reset_reason(tmp_path, bench):
    (tmp_path / "test_reboot_suite.py").write_text(SUITE)
    results = tmp_path / "allure"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(tmp_path / "test_reboot_suite.py"), "-q", "-p", "no:cacheprovider",
         f"--alluredir={results}", f"--bench-out={tmp_path / 'out'}", "--rootdir", str(tmp_path),
         "--bench", str(REPO / "fixtures" / "benches" / f"{bench}.yaml")],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    files = list(results.glob("*-result.json"))
    assert files, proc.stdout + proc.stderr
    result = json.loads(files[0].read_text())
    assert result["status"] == "failed", proc.stdout[-2000:]  # a product defect (bench/faults.py matrix)
    message = result["statusDetails"]["message"]
    assert "DUT CRASH: DUT reboot during the test (not requested): reset reason WATCHDOG" in message
    assert ("TG0WDT_SYS_RST" in message) == (bench == "reference-esp32s3")  # the ROM's name on ESP32-S3
