"""Report plumbing: categories, environment.properties, plan labels in real Allure results, HTML."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bench.plan import PlanError
from bench.report import html as report_html
from bench.report.allure import CATEGORIES, EnvironmentInfo, classify, git_commit, write_categories, write_environment
from bench.report.main import report_main
from bench.report.sample import SAMPLE_COUNTS, make_sample_results
from bench.run import pytest_args_for_run, run_plan

REPO_ROOT = Path(__file__).resolve().parents[2]
needs_allure = pytest.mark.skipif(not report_html.ALLURE_BIN.exists(),
                                  reason="Allure 3 not installed: run `npm ci` (make setup)")


@pytest.mark.parametrize("status, message, category", [
    ("failed", "AssertionError: LIMIT EXCEEDED: connect_time_s = 3.2 s > 3 s", "Limit exceeded"),
    ("failed", "Failed: LIMIT EXCEEDED\nsecond line", "Limit exceeded"),
    ("broken", "LIMIT EXCEEDED in a broken test is not a limit verdict", "Harness error"),
    ("broken", "bench.dut.errors.DutCrash: DUT CRASH: hard fault", "DUT crash"),
    ("failed", "DutCrashError: fatal error dump on console", "DUT crash"),
    ("broken", "LINK LOST: supervision timeout after 4 s", "Link lost"),
    ("broken", "pyvisa.errors.VisaIOError: VI_ERROR_TMO", "Instrument fault"),
    ("broken", "INSTRUMENT FAULT: PPK2 stream stalled", "Instrument fault"),
    ("failed", "PROTOCOL VIOLATION: reply seq 7 to request seq 6", "Protocol violation"),
    ("broken", "KeyError: 'x'", "Harness error"),
    ("failed", "AssertionError: assert 1 == 2", None),
    ("passed", "", None),
])
def test_classify(status, message, category):
    assert classify(status, message) == category


def test_categories_json_round_trips(tmp_path):
    path = write_categories(tmp_path)
    assert json.loads(path.read_text()) == CATEGORIES
    assert [c["name"] for c in CATEGORIES][-1] == "Harness error"  # the fallback comes last


def test_environment_properties(tmp_path):
    info = EnvironmentInfo(firmware_version="1.2.3+g1234", board="nrf52840dk", sku="audio",
                           serial_number="001050012345", bench_id="lab-2 bench:A",
                           instruments={"power": "Keysight Technologies,N6705C,MY1234,D.03.02",
                                        "ppk2": "PPK2 hw 24,fw 1.2"}, git_commit="abc123")
    text = write_environment(tmp_path, info).read_text()
    lines = dict(line.split("=", 1) for line in text.splitlines())
    assert lines["firmware.version"] == "1.2.3+g1234" and lines["bench.id"] == "lab-2 bench:A"
    assert lines["instrument.power"].startswith("Keysight") and lines["git.commit"] == "abc123"
    assert "harness.version" in lines and "plan" not in lines  # empty fields are left out
    write_environment(tmp_path, {"odd key=x": "multi\nline"})
    assert (tmp_path / "environment.properties").read_text() == "odd\\ key\\=x=multi\\nline\n"


def test_git_commit_of_this_checkout():
    commit = git_commit(REPO_ROOT)
    assert commit == "" or len(commit.removesuffix("-dirty")) == 40


def test_plan_labels_reach_allure_results(tmp_path):
    """Run real pytest + allure-pytest with apply_allure_labels in a conftest; read the results."""
    (tmp_path / "conftest.py").write_text(textwrap.dedent("""
        from bench.plan import load_plan
        from bench.report.allure import apply_allure_labels
        def pytest_collection_modifyitems(items):
            plan = load_plan("smoke")
            for item in items:
                apply_allure_labels(item, plan)
    """))
    (tmp_path / "test_labels.py").write_text(textwrap.dedent("""
        import allure, pytest
        @pytest.mark.smoke
        @pytest.mark.parametrize("n", [1])
        def test_connect_time(n):
            pass
        @allure.feature("custom")
        @pytest.mark.requirement("REQ-EXTRA-9")
        def test_write_notify_rtt():
            pass
    """))
    results = tmp_path / "res"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:glassbench",
                           "-c", "/dev/null", f"--rootdir={tmp_path}", f"--alluredir={results}", str(tmp_path)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    by_name = {}
    for f in results.glob("*-result.json"):
        r = json.loads(f.read_text())
        by_name[r["name"]] = ({lb["name"]: lb["value"] for lb in r["labels"]}, r.get("links", []))
    labels, links = by_name["test_connect_time[1]"]
    assert (labels["epic"], labels["feature"], labels["story"], labels["severity"]) == \
        ("smoke", "smoke", "test_connect_time", "blocker")
    assert [(lk["name"], lk["type"]) for lk in links] == [("REQ-BLE-001", "tms")]
    labels, links = by_name["test_write_notify_rtt"]
    assert labels["feature"] == "custom" and labels["severity"] == "normal"  # the test's own label wins
    assert sorted(lk["name"] for lk in links) == ["REQ-BLE-002", "REQ-EXTRA-9"]


@needs_allure
def test_generate_report_single_file_offline_with_history(tmp_path):
    results = make_sample_results(tmp_path / "sample")
    out = tmp_path / "out" / "report.html"
    info = report_html.generate_report(results, out)
    assert {k: info.stats[k] for k in SAMPLE_COUNTS} == SAMPLE_COUNTS
    html = out.read_text()
    assert html.startswith("<!DOCTYPE html>") and "googletagmanager" not in html
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["stats"] == info.stats and len(sidecar["tests"]) == SAMPLE_COUNTS["total"]
    history = tmp_path / "out" / "allure-history.jsonl"
    first = len(history.read_text().splitlines())
    report_html.generate_report(results, out)
    assert len(history.read_text().splitlines()) == first + 1, "each run appends one history point"


def test_generate_report_errors(tmp_path, monkeypatch):
    with pytest.raises(report_html.ReportError, match="no such results directory"):
        report_html.generate_report(tmp_path / "nope", tmp_path / "r.html")
    (tmp_path / "empty").mkdir()
    with pytest.raises(report_html.ReportError, match="no \\*-result.json"):
        report_html.generate_report(tmp_path / "empty", tmp_path / "r.html")
    monkeypatch.setattr(report_html, "_allure_bin", lambda: tmp_path / "missing" / "allure")
    with pytest.raises(report_html.ReportError, match="npm ci"):
        report_html.allure_command()


@needs_allure
def test_report_main_prints_summary_and_writes_csv(tmp_path, capsys):
    results = make_sample_results(tmp_path / "out" / "allure-results-src")
    target = tmp_path / "out" / "allure-results"
    results.rename(target)
    (tmp_path / "out" / "measurements.jsonl").write_text(json.dumps(
        {"test": "t", "name": "connect_time_s", "value": 0.42, "unit": "s", "high": 3.0, "verdict": "pass"}) + "\n")
    assert report_main(target, tmp_path / "out" / "report.html") == 0
    text = capsys.readouterr().out
    assert "4 tests" in text and "connect_time_s" in text and "420 ms" in text
    assert (tmp_path / "out" / "measurements.csv").read_text().startswith("test,name,value")
    assert report_main(tmp_path / "missing", tmp_path / "r.html") == 1


def test_run_args_and_invalid_plan(tmp_path, capsys):
    args = pytest_args_for_run("smoke", None, ["-x"], out_dir=tmp_path)
    assert args[args.index("--bench") + 1].endswith("fixtures/benches/reference.yaml")
    assert f"--junitxml={tmp_path / 'junit.xml'}" in args and args[-1] == "-x"
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nsuites: [x]\nlimits:\n  nope_s: {high: 1}\n")
    with pytest.raises(PlanError, match=f"{bad}:4"):  # before pytest runs or anything is written
        run_plan(bad)
    from bench.cli import main

    assert main(["run", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:4" in err and "Traceback" not in err
