"""The fault matrix: each fault injected into the reference bench by the test itself, then judged the
way QA sees it — the Allure result's status and category, how fast it surfaced, and whether the run
recovered or stopped with one clear reason. docs/faults.md is the table these tests hold it to."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from bench.report.allure import classify

REPO = Path(__file__).resolve().parents[2]

SUITE = textwrap.dedent('''
    import os, signal, time
    from bench.dut.sig import BATTERY_LEVEL

    def _read_until_it_fails(dut, timeout_s=2.0, budget_s=30):
        t0 = time.monotonic()
        try:
            while time.monotonic() - t0 < budget_s:
                dut.read(BATTERY_LEVEL, timeout_s)
                time.sleep(0.05)
        finally:
            print(f"ELAPSED {time.monotonic() - t0:.3f}")

    def test_bench_killed(bench, dut):
        bench.reference.kill()
        _read_until_it_fails(dut)

    def test_bench_frozen(bench, dut):
        os.kill(bench.reference.proc.pid, signal.SIGSTOP)  # stays frozen: the session's end kills it
        _read_until_it_fails(dut)

    def test_glasses_crash(dut):
        dut.console.link.write(b"fault crash\\r")
        _read_until_it_fails(dut)

    def test_link_loss(dut):
        dut.console.link.write(b"fault linkloss 4\\r")
        _read_until_it_fails(dut)

    def test_bench_stall(dut):
        dut.console.link.write(b"fault stall 1.5\\r")
        _read_until_it_fails(dut, timeout_s=1.0, budget_s=4)

    def test_console_garbage(dut):
        dut.console.link.write(b"fault garbage\\r")
        time.sleep(0.3)
        assert dut.read(BATTERY_LEVEL)
        assert dut.console.command("kernel uptime").startswith("Uptime: ")  # the shell still answers through the noise
        print("ELAPSED 0")

    def test_next(dut):
        print("ELAPSED 0")

    def test_sleeps(dut):
        print("STARTED", flush=True)
        time.sleep(60)
''')


def run_suite(tmp_path: Path, tests: str) -> tuple[list[dict], list[float], subprocess.CompletedProcess]:
    (tmp_path / "test_fault_suite.py").write_text(SUITE)
    results = tmp_path / "allure"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(tmp_path / "test_fault_suite.py"), "-k", tests, "-s", "-q",
         "-p", "no:cacheprovider", f"--alluredir={results}", f"--bench-out={tmp_path / 'out'}",
         f"--junitxml={tmp_path / 'junit.xml'}", "--rootdir", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=150)
    found = sorted((json.loads(f.read_text()) for f in results.glob("*-result.json")), key=lambda r: r["start"])
    elapsed = [float(line.split()[1]) for line in proc.stdout.splitlines() if line.startswith("ELAPSED")]
    return found, elapsed, proc


def category(result: dict) -> str | None:
    return classify(result["status"], result.get("statusDetails", {}).get("message", ""))


def test_bench_killed_is_a_bench_fault_and_the_run_stops(tmp_path):
    results, elapsed, proc = run_suite(tmp_path, "bench_killed or test_next")
    assert [r["name"] for r in results] == ["test_bench_killed"], "the run must stop: no test can run on a dead bench"
    assert results[0]["status"] == "broken" and category(results[0]) == "Bench fault", results[0]["statusDetails"]
    assert "killed by signal 9" in results[0]["statusDetails"]["message"]
    assert elapsed and elapsed[0] < 2 * 2.0 + 1  # 2x the read timeout (the link goes at once)
    assert (tmp_path / "junit.xml").exists() and (tmp_path / "allure" / "categories.json").exists()
    assert "reference bench" in proc.stdout + proc.stderr


def test_bench_frozen_is_a_bench_fault_within_twice_the_timeout(tmp_path):
    results, elapsed, _ = run_suite(tmp_path, "bench_frozen or test_next")
    assert [r["name"] for r in results] == ["test_bench_frozen"]
    assert results[0]["status"] == "broken" and category(results[0]) == "Bench fault", results[0]["statusDetails"]
    assert "frozen" in results[0]["statusDetails"]["message"]
    assert elapsed and elapsed[0] < 2 * 2.0 + 1


def test_glasses_crash_is_a_dut_crash_product_defect(tmp_path):
    results, elapsed, _ = run_suite(tmp_path, "glasses_crash or test_next")
    crash = results[0]
    assert crash["status"] == "failed" and category(crash) == "DUT crash", crash["statusDetails"]
    assert "fatal error" in crash["statusDetails"]["message"].lower()
    assert elapsed and elapsed[0] < 2 * 2.0 + 2.0  # the silence until the supervision timeout, then the read
    assert [r["status"] for r in results[1:]] == ["passed"], "the next test runs on the rebooted glasses"


def test_link_loss_is_link_lost_and_the_next_test_runs(tmp_path):
    results, elapsed, _ = run_suite(tmp_path, "link_loss or test_next")
    assert results[0]["status"] == "broken" and category(results[0]) in ("Link lost", "DUT hang"), results[0]
    assert [r["status"] for r in results[1:]] == ["passed"]


def test_host_stall_is_bench_overloaded_retried_and_not_a_dut_failure(tmp_path):
    results, _, _ = run_suite(tmp_path, "bench_stall or test_next")
    stalls = [r for r in results if r["name"] == "test_bench_stall"]
    assert 2 <= len(stalls) <= 3, "a starved test runs again ($GLASSBENCH_BENCH_RETRIES = 2 retries)"
    assert stalls[0]["status"] == "broken" and category(stalls[0]) == "Bench overloaded", stalls[0]["statusDetails"]
    assert all(r["status"] in ("broken", "passed") for r in stalls), "starving is never a DUT failure"
    assert [r["status"] for r in results if r["name"] == "test_next"] == ["passed"]


def test_garbage_on_the_console_is_survived(tmp_path):
    results, _, proc = run_suite(tmp_path, "console_garbage")
    assert [r["status"] for r in results] == ["passed"], proc.stdout[-2000:]


def test_harness_terminated_writes_its_results_and_takes_the_bench_down(tmp_path):
    (tmp_path / "test_fault_suite.py").write_text(SUITE)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", str(tmp_path / "test_fault_suite.py"), "-k", "sleeps", "-s", "-q",
         "-p", "no:cacheprovider", f"--alluredir={tmp_path / 'allure'}", f"--bench-out={tmp_path / 'out'}",
         f"--junitxml={tmp_path / 'junit.xml'}", "--rootdir", str(tmp_path)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if "STARTED" in line or not line:
                break
        ready = (tmp_path / "out" / "reference-bench.log")
        assert ready.exists()
        children = _children(proc.pid)
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert (tmp_path / "junit.xml").exists(), "junit.xml is written when the run is terminated"
    assert (tmp_path / "allure" / "environment.properties").exists() and (tmp_path / "allure" / "categories.json").exists()
    time.sleep(0.5)
    assert not [pid for pid in children if _alive(pid)], "the reference bench outlived the terminated harness"


def _children(pid: int) -> list[int]:
    out = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        if f"\nPPid:\t{pid}\n" in text:
            out.append(int(status.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")


class _StalledBench:
    """Just what bench.faults.triage reads of a session whose reference bench stalled once, 80 ms."""

    def __init__(self, stall_at_s: float) -> None:
        self.reference = self
        self.alive, self.stopped = True, False
        self._stalls = [(stall_at_s, 0.08)]

    def silent_for_s(self) -> float:
        return 0.0

    def stalls(self):
        return self._stalls


def test_a_cut_stream_during_a_short_stall_is_bench_overloaded_a_slow_test_is_not():
    from bench.errors import BenchOverloaded, StreamCut
    from bench.faults import triage
    from bench.stalls import OVERLOAD_S, THRESHOLD_S

    session = _StalledBench(stall_at_s=100.0)
    assert THRESHOLD_S <= 0.08 < OVERLOAD_S
    cut = triage(session, StreamCut("roundtrip lc3: stimulus heard in pieces", THRESHOLD_S), 99.0, None)
    assert isinstance(cut, BenchOverloaded) and "80 ms" in str(cut) and "heard in pieces" in str(cut)
    assert triage(session, AssertionError("latency 30 ms over its limit"), 99.0, None) is None  # 80 ms: not enough
    assert triage(session, StreamCut("dropout", THRESHOLD_S), 101.0, None) is None  # the stall came before the test
