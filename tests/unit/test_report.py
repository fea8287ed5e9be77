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
from bench.report.allure import (
    BENCH,
    CATEGORIES,
    PRODUCT,
    EnvironmentInfo,
    classify,
    executor_info,
    git_commit,
    write_categories,
    write_environment,
    write_executor,
)
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
    ("failed", "AssertionError: assert 1 == 2", "Product defect"),  # the DUT's, once the bench is ruled out
    ("failed", "INSTRUMENT FAULT: failed is not how instruments fail", "Product defect"),
    ("broken", "BENCH OVERLOADED: the host starved the harness; LINK LOST: ...", "Bench overloaded"),
    ("passed", "", None),
])
def test_classify(status, message, category):
    assert classify(status, message) == category


def test_categories_json_round_trips(tmp_path):
    path = write_categories(tmp_path)
    assert json.loads(path.read_text()) == CATEGORIES
    assert [c["name"] for c in CATEGORIES][-2:] == ["Harness error", "Product defect"]  # the fallbacks come last


def test_categories_separate_product_from_bench():
    """Every category is either a product defect (failed) or a bench/instrument/harness fault (broken)."""
    by_name = {c["name"]: set(c["matchedStatuses"]) for c in CATEGORIES}
    assert set(by_name) == set(PRODUCT) | set(BENCH)
    assert all(by_name[n] == {"broken"} for n in BENCH)
    assert all("failed" in by_name[n] for n in PRODUCT)


@pytest.mark.parametrize("environ, expected", [
    ({"GITLAB_CI": "true", "CI_PIPELINE_IID": "42", "CI_JOB_NAME": "hw nrf52", "CI_JOB_URL": "https://gl/j/7"},
     {"name": "GitLab CI", "type": "gitlab", "buildOrder": 42, "buildName": "hw nrf52", "buildUrl": "https://gl/j/7"}),
    ({"GITHUB_ACTIONS": "true", "GITHUB_RUN_NUMBER": "9", "GITHUB_WORKFLOW": "ci", "GITHUB_SERVER_URL": "https://gh",
      "GITHUB_REPOSITORY": "o/r", "GITHUB_RUN_ID": "123"},
     {"name": "GitHub Actions", "type": "github", "buildOrder": 9, "buildName": "ci",
      "buildUrl": "https://gh/o/r/actions/runs/123"}),
    ({"JENKINS_URL": "https://j", "BUILD_NUMBER": "x", "JOB_NAME": "bench", "BUILD_URL": "https://j/b/1"},
     {"name": "Jenkins", "type": "jenkins", "buildName": "bench", "buildUrl": "https://j/b/1"}),  # no order: not a number
    ({}, {"name": "local", "type": "local", "buildName": ""}),
])
def test_executor_from_ci_environment(environ, expected):
    assert executor_info(environ) == expected


def test_executor_json_names_the_run(tmp_path):
    data = json.loads(write_executor(tmp_path, {}, run_id="20261202-101010-demo").read_text())
    assert data["buildName"] == "20261202-101010-demo" and data["reportName"] == "run 20261202-101010-demo"


def test_fixtures_hidden_unless_they_fail_or_attach(tmp_path):
    results, view = tmp_path / "res", tmp_path / "view"
    results.mkdir()
    container = {"uuid": "c", "children": ["t"], "befores": [
        {"name": "codec", "status": "passed"}, {"name": "dut", "status": "broken"},
        {"name": "bench", "status": "passed", "steps": [{"name": "inner", "status": "failed"}]}],
        "afters": [{"name": "codec::<lambda>"}, {"name": "glp_record::_finalizer", "status": "passed",
                                                 "attachments": [{"name": "GLP transcript", "source": "a.txt"}]}]}
    (results / "c-container.json").write_text(json.dumps(container))
    (results / "t-result.json").write_text("{}")
    report_html.quiet_fixtures(results, view)
    shown = json.loads((view / "c-container.json").read_text())
    assert [f["name"] for f in shown["befores"]] == ["dut", "bench"]
    assert [f["name"] for f in shown["afters"]] == ["glp_record::_finalizer"]
    assert (view / "t-result.json").read_text() == "{}"
    assert len(json.loads((results / "c-container.json").read_text())["befores"]) == 3  # the results are untouched


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
        by_name[r["name"] + " requirements"] = sorted(lb["value"] for lb in r["labels"] if lb["name"] == "requirement")
    labels, links = by_name["test_connect_time[1]"]
    assert (labels["epic"], labels["feature"], labels["story"], labels["severity"]) == \
        ("smoke", "smoke", "REQ-BLE-001 Phone connects within 3 s of advertising start", "blocker")
    assert links == [] and labels["requirement"] == "REQ-BLE-001"  # no requirement_url: a label, not a bare-id link
    labels, links = by_name["test_write_notify_rtt"]
    assert labels["feature"] == "custom" and labels["severity"] == "normal"  # the test's own label wins
    assert by_name["test_write_notify_rtt requirements"] == ["REQ-BLE-002", "REQ-EXTRA-9"]


class _Item:
    """Just enough of a pytest item for labels_for."""

    def __init__(self, name, *marks):
        self.name = self.originalname = name
        self.nodeid, self.fspath = f"tests/dut/test_smoke.py::{name}", "tests/dut/test_smoke.py"
        self.marks = list(marks)

    def iter_markers(self, name=None):
        return iter([m for m in self.marks if name is None or m.name == name])


def test_labels_from_plan_with_url_template_and_severity_markers():
    from bench.plan import load_plan
    from bench.report.allure import labels_for

    plan = load_plan("smoke").model_copy(update={"requirement_url": "https://jira.example/browse/{id}",
                                                 "severity": {"@power": "minor", "test_boot*": "blocker"}})
    got = labels_for(_Item("test_connect_time", pytest.mark.power.mark), plan)
    assert got["links"] == [("https://jira.example/browse/REQ-BLE-001", "REQ-BLE-001")] and got["requirements"] == []
    assert got["severity"] == "minor" and got["feature"] == "power" and got["story"].startswith("REQ-BLE-001 ")
    got = labels_for(_Item("test_boot_banner", pytest.mark.severity("trivial").mark), plan)
    assert got["severity"] == "trivial"  # the test's own marker wins over the plan
    assert labels_for(_Item("test_other"), plan)["severity"] == "normal"


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
