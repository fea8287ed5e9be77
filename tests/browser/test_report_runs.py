"""Two consecutive `bench run`s against the reference bench, and the second run's report as QA reads it in
headless Chromium: history on a measurement test, a step that states its limit, a failure with the DUT
console and bench log attached, the categories; and the run folders, JSONL and JUnit say which run is which.

The plan and tests are a tiny project of their own (one passing measurement test, one over its limit), so
two full runs take seconds, not the demo's two minutes; they go through the same `bench run` path.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bench.report.html import ALLURE_BIN

from test_report_browser import rendered  # noqa: E402 - tests/browser is on sys.path (rootdir conftest)

pytestmark = pytest.mark.browser
REPO_ROOT = Path(__file__).resolve().parents[2]

PLAN = """
name: two-runs
suites: [tests]
requirements:
  REQ-BLE-001: {title: "Phone connects within 3 s", tests: ["test_connect*"]}
severity: {"@smoke": critical}
limits:
  connect_time_s: {high: 3 s, requirement: REQ-BLE-001}
  write_notify_rtt_p95_s: {high: 1 us}
"""

TESTS = '''
import pytest

@pytest.mark.smoke
def test_connect_time(dut, measure):
    dut.disconnect()
    measure("connect_time_s", dut.connect(), "s")

def test_rtt_over_limit(dut, measure):
    dut.console.command("kernel uptime")  # something on the console during the test
    dut.need("glp").client.hello()        # and a GLP exchange
    measure("write_notify_rtt_p95_s", max(dut.ping(5)), "s")
'''


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    if not ALLURE_BIN.exists():
        pytest.fail(f"Allure 3 not installed ({ALLURE_BIN}): run `npm ci` (make setup)")
    project = tmp_path_factory.mktemp("two-runs")
    (project / "test_plans").mkdir()
    (project / "test_plans" / "two-runs.yaml").write_text(textwrap.dedent(PLAN))
    (project / "tests").mkdir()
    (project / "tests" / "test_two.py").write_text(TESTS)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GLASSBENCH_")}  # this run's project, out, …
    env["PYTHONPATH"] = str(REPO_ROOT)
    outputs = []
    for _ in range(2):
        proc = subprocess.run([sys.executable, "-m", "bench.cli", "run", "two-runs", "--", "-q", "-p", "no:cacheprovider"],
                              cwd=project, env=env, capture_output=True, text=True, timeout=240)
        assert proc.returncode == 1, f"expected one failed test (exit 1):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        outputs.append(proc.stdout + proc.stderr)
    return project / "out", outputs


def _tests(out: Path) -> dict[str, str]:
    report = json.loads((out / "latest" / "report.json").read_text())
    return {t["name"]: t["id"] for t in report["tests"]}


def test_runs_have_their_own_folders_and_say_which_run(two_runs):
    out, _ = two_runs
    runs = sorted(p.name for p in (out / "runs").iterdir())
    assert len(runs) == 2 and os.readlink(out / "latest") == f"runs/{runs[-1]}"
    for run_id in runs:
        folder = out / "runs" / run_id
        records = [json.loads(line) for line in (folder / "measurements.jsonl").read_text().splitlines()]
        assert {r["run_id"] for r in records} == {run_id} and {r["plan"] for r in records} == {"two-runs"}
        assert all(r["firmware"] and r["commit"] and r["board"] and r["sku"] for r in records), records
        assert json.loads((folder / "run.json").read_text())["run_id"] == run_id
        suite = ET.parse(folder / "junit.xml").getroot().find("testsuite")
        props = {p.get("name"): p.get("value") for p in suite.find("properties")}
        assert props["run_id"] == run_id and props["firmware"] == records[0]["firmware"]
        case = next(c for c in suite.iter("testcase") if c.get("name") == "test_rtt_over_limit")
        assert "DUT console since the test began" in (case.findtext("system-out") or "")  # console as system-out
        assert {p.get("name") for p in case.iter("property")} == {"write_notify_rtt_p95_s"}
    assert len((out / "history" / "two-runs.jsonl").read_text().splitlines()) == 2


def test_measurement_test_shows_history_and_a_step_with_its_limit(two_runs, tmp_path):
    out, _ = two_runs
    test_id = _tests(out)["test_connect_time"]
    texts = rendered(f"{(out / 'latest' / 'report.html').as_uri()}#/{test_id}/history", tmp_path / "p-history")
    assert texts.get("test-result-history-item"), f"no history on a measurement test: {texts.get('test-result-tab-history')}"
    texts = rendered(f"{(out / 'latest' / 'report.html').as_uri()}#/{test_id}", tmp_path / "p-steps")
    titles = texts.get("test-result-step-title", [])
    assert any(t.startswith("connect time ") and t.endswith("≤ 3 s ✓") for t in titles), titles
    attachments = " | ".join(texts.get("test-result-attachment", []))
    assert "trend connect_time_s" in attachments, attachments  # the value across both runs, with its limit


def test_failure_carries_console_and_bench_log(two_runs, tmp_path):
    out, _ = two_runs
    test_id = _tests(out)["test_rtt_over_limit"]
    texts = rendered(f"{(out / 'latest' / 'report.html').as_uri()}#/{test_id}", tmp_path / "p-fail")
    attachments = " | ".join(texts.get("test-result-attachment", []))
    for name in ("DUT console log", "GLP transcript", "reference bench log", "measurements"):
        assert name in attachments, f"{name!r} not attached to the failed test: {attachments}"
    names = texts.get("test-result-attachment", [])  # "4 DUT console log text/plain 126 B"
    assert not [n for n in names if re.match(r"\d+ stdout ", n)], f"the console again as allure-pytest's stdout: {names}"
    assert any("> 1 µs ✗" in t for t in texts.get("test-result-step-title", []))


def test_categories_separate_product_from_bench(two_runs, tmp_path):
    out, _ = two_runs
    page = " ".join(" ".join(v) for v in rendered(f"{(out / 'latest' / 'report.html').as_uri()}#/categories",
                                                   tmp_path / "p-cat").values())
    assert "Limit exceeded" in page, page[:2000]
