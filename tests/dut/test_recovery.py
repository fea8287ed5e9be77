"""A hung DUT costs one test, not the session: the recovery ladder brings it back and the report says so.

The reference glasses lock up on ``fault hang <s>`` (GATT and console silent, the link stays up), so
reconnecting does not help; what does is switching the simulated supply (the PPK2's DUT power, or the
SCPI analyzer's output) off and on, after which the glasses cold-boot (reset reason POWER_ON). The
first test drives the ladder on this session's DUT; the second runs a two-test suite in its own
session to see the automatic path: the hanging test fails with the recovery's outcome (terminal,
Allure step and attachment, the test's user properties) and the next test runs on the recovered DUT.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from bench.errors import DutTimeout
from bench.recovery import for_session
from bench.session import supply_of

pytestmark = [pytest.mark.reference, pytest.mark.serial, pytest.mark.recovery, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def supply(bench) -> str:
    if bench.config.reference is None:
        pytest.skip("hangs the DUT with the reference bench's fault switch")
    kind = supply_of(bench.config.power)
    if kind == "none":
        pytest.skip("no bench instrument powers the DUT (power: ppk2 in source mode, or visa)")
    if bench.config.dut.console is None:
        pytest.skip("the fault switch is a console command")
    return kind


def _power_cycles(dut) -> int:
    m = re.search(r"power_cycles (\d+)", dut.console.command("pm supply"))
    assert m, "the reference bench's `pm supply` did not answer"
    return int(m.group(1))


def _budget_s(spec) -> float:
    """Worst case of the ladder as configured: probes, the reconnect, then power-off and boot."""
    return 3 * spec.probe_timeout_s + spec.reconnect_timeout_s + spec.power_off_s + 2 * spec.boot_timeout_s


def test_hung_dut_is_recovered_by_a_power_cycle(dut, bench, supply, request):
    before = _power_cycles(dut)
    dut.console.link.write(b"fault hang 60\r")
    with pytest.raises(DutTimeout):
        dut.console.command("kernel uptime", 1.0)
    recovery = for_session(bench)
    symptom = recovery.unanswered()
    assert symptom is not None, "a locked-up DUT answered its liveness probe"

    outcome = recovery.recover(symptom)

    assert [(s.name, s.ok) for s in outcome.steps] == [("reconnect", False), ("power-cycle", True)], outcome.report()
    assert outcome.recovered_by is not None and outcome.recovered_by.detail == supply
    assert outcome.summary().startswith(f"DUT hung; recovered by power-cycle ({supply}) in ")
    assert outcome.duration_s < _budget_s(bench.config.dut.recovery), outcome.report()
    assert dut.last_boot is not None and dut.last_boot.reset_reason == "POWER_ON"
    assert recovery.unanswered() is None
    assert _power_cycles(dut) == before + 1     # the ground truth: exactly one power cycle reached the glasses
    from bench.stopped_tests import report_recovery

    report_recovery(request.node, outcome)
    assert ("dut_recovery", outcome.summary()) in request.node.user_properties


SUITE = textwrap.dedent('''
    def test_a_hangs(dut):
        dut.console.link.write(b"fault hang 60\\r")
        dut.console.command(dut.console.driver.probe_command, 1.0)   # kernel uptime (Zephyr), free (ESP-IDF)

    def test_b_runs_on_the_recovered_dut(dut):
        assert dut.last_boot.reset_reason == "POWER_ON"
        assert dut.console.command(dut.console.driver.probe_command)
''')


def test_hang_fails_that_test_with_the_recovery_and_the_next_one_runs(bench, supply, pytestconfig, tmp_path):
    suite = tmp_path / "test_hang_suite.py"
    suite.write_text(SUITE)
    results = tmp_path / "allure"
    bench_file = getattr(bench, "bench_file", None) or pytestconfig.getoption("--bench") or "reference"  # a pool: this DUT's
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(suite), "-q", "-p", "no:cacheprovider", f"--alluredir={results}",
         f"--bench-out={tmp_path / 'out'}", f"--bench={bench_file}", f"--junitxml={tmp_path / 'junit.xml'}",
         "--rootdir", str(REPO)],
        cwd=REPO, capture_output=True, text=True, timeout=180)
    wall_s = time.monotonic() - t0
    out = proc.stdout + proc.stderr
    line = re.search(rf"test_a_hangs: DUT hung; recovered by power-cycle \({supply}\) in ([\d.]+) s", out)
    assert line, out[-3000:]
    assert "1 failed, 1 passed" in out, out[-3000:]
    assert float(line.group(1)) < _budget_s(bench.config.dut.recovery)
    assert wall_s < 180

    by_name = {}
    for f in results.glob("*-result.json"):
        r = json.loads(f.read_text())
        by_name[r["name"]] = r
    hung, after = by_name["test_a_hangs"], by_name["test_b_runs_on_the_recovered_dut"]
    assert hung["status"] == "broken"
    assert "DUT hung; recovered by power-cycle" in hung["statusDetails"]["message"]
    assert "DUT TIMEOUT" in hung["statusDetails"]["message"]     # Allure category "DUT hang"
    steps = [s["name"] for s in hung.get("steps", [])]
    assert any(s.startswith("DUT hung; recovered by power-cycle") for s in steps), steps
    attachments = [a for s in hung["steps"] for a in s.get("attachments", [])]
    assert any(a["name"] == "DUT recovery" for a in attachments)
    assert after["status"] == "passed"
    assert 'name="dut_recovery"' in (tmp_path / "junit.xml").read_text()
