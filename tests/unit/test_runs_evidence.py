"""Run folders, measurement step titles, failure evidence and the demo's latency table (bench/report/runs.py,
bench/measure.py, bench/report/evidence.py, bench/demo.py) — without a DUT; the DUT path is in
tests/browser/test_report_runs.py."""

from __future__ import annotations

import json
import os
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import pytest

from bench import demo
from bench.dut.console import parse_line
from bench.errors import LimitExceeded
from bench.limits import Limit
from bench.measure import Recorder, step_title
from bench.report import evidence
from bench.report.runs import RunInfo, history_path, new_run, new_run_id, point_latest, write_run_json
from bench.units import format_quantity, readable_name


def _m(name, value, unit, low=None, high=None, tmp_path=None):
    rec = Recorder(Path(tmp_path or "/tmp") / f"m-{os.getpid()}.jsonl")
    try:
        return rec.measure("t", name, value, unit, limits=Limit(name, unit, low, high), check=False)
    finally:
        rec.path.unlink(missing_ok=True)


@pytest.mark.parametrize("args, title", [
    (("uplink_latency_s[lc3]", 0.0239, "s", None, 0.06), "uplink latency [lc3] 23.9 ms ≤ 60 ms ✓"),
    (("uplink_latency_s[lc3]", 0.0712, "s", None, 0.06), "uplink latency [lc3] 71.2 ms > 60 ms ✗"),
    (("battery_level_pct", 87, "%", 0, 100), "battery level 0 % ≤ 87 % ≤ 100 % ✓"),
    (("fuzz_examples", 66, "examples", 50, None), "fuzz examples 66 examples ≥ 50 examples ✓"),
    (("latency_jitter_s[lc3]", 3.28507e-07, "s"), "latency jitter [lc3] 328.5 ns (no limit)"),
    (("audio_frame_loss_ratio", 0, "1"), "audio frame loss 0 (no limit)"),
])
def test_step_title_reads_like_a_verdict(args, title):
    assert step_title(_m(*args)) == title


def test_readable_units_and_names():
    assert format_quantity(2.5e-6, "A") == "2.5 µA" and format_quantity(0, "s") == "0 s"
    assert readable_name("sleep_current_a") == "sleep current" and readable_name("att_mtu") == "att mtu"


def test_limit_exceeded_message_in_readable_units(tmp_path):
    rec = Recorder(tmp_path / "m.jsonl", context={"run_id": "r1"})
    with pytest.raises(LimitExceeded, match=r"LIMIT EXCEEDED: uplink_latency_s = 71.2 ms, limit uplink_latency_s ≤ 60 ms"):
        rec.measure("t", "uplink_latency_s", 0.0712, "s", high=0.06)
    record = json.loads((tmp_path / "m.jsonl").read_text())
    assert record["run_id"] == "r1" and record["verdict"] == "fail"  # recorded before it fails the test


def test_runs_never_mix(tmp_path):
    first = new_run(tmp_path, "demo", run_id="20261202-101010-demo")
    second = new_run(tmp_path, "demo", run_id="20261202-101010-demo")  # same second: its own folder
    assert first.run != second.run and second.run_id == "20261202-101010-demo-2"
    assert point_latest(first).resolve() == first.run.resolve()
    assert point_latest(second).resolve() == second.run.resolve()
    assert os.readlink(tmp_path / "latest") == "runs/20261202-101010-demo-2"  # relative: the out folder can move
    assert first.history == second.history == history_path(tmp_path, "demo") == tmp_path / "history" / "demo.jsonl"
    assert new_run_id("smoke", 0).endswith("-smoke") and new_run_id("", 0).endswith("-pytest")
    with pytest.raises(ValueError, match="run id"):
        new_run(tmp_path, "demo", run_id="../escape")
    info = RunInfo(run_id=first.run_id, plan="demo", board="nrf52840dk", sku="audio", firmware="1.4.2", commit="abc")
    data = json.loads(write_run_json(first.run, info, pytest_exit_code=1).read_text())
    assert data["firmware"] == "1.4.2" and data["pytest_exit_code"] == 1


class _Console:
    def __init__(self, lines):
        self.records = [parse_line(t, 100.0 + i) for i, t in enumerate(lines)]

    def mark(self):
        return len(self.records)

    def records_since(self, mark):
        return self.records[mark:]


class _Glp:
    def transcript_since(self, t_s):
        return f"== GLP over BLE transcript (1 frames) ==\n{t_s:.6f} tx CONTROL Hello"


def test_failure_evidence_is_cut_to_the_test(tmp_path):
    log = tmp_path / "reference-bench.log"
    log.write_text("before the test\n")
    offset = log.stat().st_size
    log.write_text(log.read_text() + "Traceback (most recent call last):\n  boom\n")
    dut = SimpleNamespace(console=_Console(["old line", "[00:00:01.000,000] <err> glp: bad frame"]), test_mark=1,
                          test_started_s=5.0, _capabilities={"glp": _Glp(), "battery": object()})
    session = SimpleNamespace(_dut=dut, reference=object(), out_dir=tmp_path)
    console = evidence.console_slice(session)
    assert "bad frame" in console and "old line" not in console and "(1 lines" in console
    assert evidence.transcript_slice(session).endswith("5.000000 tx CONTROL Hello")
    text = evidence.reference_log_slice(session, offset)
    assert "(holds a traceback)" in text and "boom" in text and "before the test" not in text
    assert evidence.reference_log_slice(SimpleNamespace(reference=None, out_dir=tmp_path), 0) is None


def test_measurement_table_is_csv_with_readable_values(tmp_path):
    ms = [_m("connect_time_s", 0.4966, "s", None, 3.0, tmp_path), _m("att_mtu", 247, "bytes", tmp_path=tmp_path)]
    rows = evidence.measurement_table(ms).splitlines()
    assert rows[0].startswith("measurement,value,low,high,verdict")
    assert rows[1].startswith("connect_time_s,496.6 ms,,3 s,pass") and "no limit" in rows[2]


def _junit(tmp_path, cases):
    body = "".join(f'<testcase classname="tests.dut.test_audio_latency" name="{n}">{c}</testcase>' for n, c in cases)
    path = tmp_path / "junit.xml"
    path.write_text(f"<testsuites><testsuite>{body}</testsuite></testsuites>")
    ET.parse(path)
    return path


def test_demo_latency_table_shows_every_row_and_judges_the_named_statistic(tmp_path):
    junit = _junit(tmp_path, [("test_uplink_latency[lc3]", ""), ("test_downlink_latency[lc3]", '<failure message="x"/>'),
                              ("test_uplink_latency[opus]", "<skipped/>"), ("test_roundtrip_latency[lc3]", '<error/>')])
    records = [{"test": "t", "name": "uplink_latency_s[lc3]", "value": 0.0239, "unit": "s", "high": 0.06,
                "verdict": "pass", "p95_s": 0.071, "p99_s": 0.08, "path": "uplink"},
               {"test": "t", "name": "latency_jitter_s[lc3]", "value": 3e-7, "unit": "s", "verdict": "pass",
                "path": "uplink"},
               {"test": "t", "name": "roundtrip_latency_s[lc3]", "value": 0.146, "unit": "s", "high": 0.12,
                "verdict": "fail", "path": "roundtrip"}]
    text = demo.latency_section(records, junit)
    lines = {line.split()[1]: line for line in text.splitlines()[3:]}
    assert "p50 ≤ 60 ms" in lines["uplink"] and lines["uplink"].rstrip().endswith("pass")  # p95 71 ms: not judged
    assert lines["downlink"].rstrip().endswith("FAILED")  # failed before measuring: still a row
    assert lines["roundtrip"].rstrip().endswith("BROKEN")  # over the limit on an overloaded host: not a DUT verdict
    assert "opus" not in text
    fuzz = demo.fuzz_section({"fuzz_examples": {"name": "fuzz_examples", "value": 66, "unit": "examples",
                                                "verdict": "pass"}}, {})
    assert "no limit" in fuzz and " pass" not in fuzz


def test_demo_run_line_says_which_run(tmp_path):
    line = demo.run_line("20261202-101010-demo", [{"board": "esp32s3", "sku": "audio", "firmware": "1.4.2",
                                                   "commit": "0123456789abcdef"}], {}, "demo")
    assert line.strip() == ("run 20261202-101010-demo: plan demo, board esp32s3, sku audio, firmware 1.4.2, "
                            "commit 0123456789ab")


def test_summary_prints_no_verdict_without_a_limit():
    from bench.report.summary import format_table, summarize

    rows = summarize([{"name": "fuzz_examples", "value": 66, "unit": "examples", "verdict": "pass"},
                      {"name": "connect_time_s", "value": 0.4, "unit": "s", "high": 3.0, "verdict": "pass"}])
    table = {line.split()[0]: line for line in format_table(rows).splitlines()[2:]}
    assert table["fuzz_examples"].endswith("no limit") and table["connect_time_s"].endswith("pass")




def test_heartbeat_line_counts_tests_and_says_what_runs():
    import io

    from bench.report.progress import Heartbeat

    now = [100.0]
    out = io.StringIO()
    beat = Heartbeat(3, period_s=5.0, write=lambda line: out.write(line + "\n"), clock=lambda: now[0])
    beat.test_started("t::a")
    beat.test_report("t::a", "call", failed=True)
    beat.test_report("t::a", "teardown", failed=False)
    beat.test_started("t::b")
    now[0] = 162.0
    beat.activity = "fuzz ble: examples 30, ~8 s left"
    beat.beat()
    assert out.getvalue() == ("glassbench 62 s: 1/3 tests (1 failed); t::b for 62 s — fuzz ble: examples 30, "
                              "~8 s left\n")
    beat.test_report("t::b", "setup", failed=True)  # set-up failed: still one test, done at its teardown
    beat.test_report("t::b", "teardown", failed=False)
    assert beat.line() == "glassbench 62 s: 2/3 tests (2 failed)"


@pytest.mark.parametrize("y_a, scale", [
    ([2.5e-6, 3e-6, 2.4e-6, 4.8e-3, 2.6e-6], "symlog"),   # sleep with radio spikes: decades apart
    ([2.10e-3, 2.12e-3, 2.15e-3, 2.11e-3], "linear"),     # a steady stream: one decade
])
def test_power_axis_labels_every_tick_in_readable_units(y_a, scale):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from bench.power.plot import _current_axis

    fig, ax = plt.subplots()
    ax.plot(range(len(y_a)), np.array(y_a) * 1e3)  # the trace is drawn in mA
    _current_axis(ax, np.array(y_a) * 1e3)
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    plt.close(fig)
    assert ax.get_yscale() == scale and len(labels) >= 3, labels
    assert all(lb.endswith("A") and "e" not in lb for lb in labels), labels  # "2 mA", "10 µA": no 1e-3


def test_long_transcripts_keep_their_last_lines():
    class Chatty:
        def transcript_since(self, t_s):
            return "== GLP over BLE transcript (5000 frames) ==\n" + "\n".join(f"frame {i}" for i in range(5000))

    dut = SimpleNamespace(test_started_s=0.0, _capabilities={"glp": Chatty()})
    text = evidence.transcript_slice(SimpleNamespace(_dut=dut))
    lines = text.splitlines()
    assert "the last 2000 of 5000 lines" in lines[0] and lines[-1] == "frame 4999" and len(lines) == 2001


def test_trends_collect_earlier_runs_of_the_same_plan(tmp_path):
    from bench.report import trends

    def run(run_id, plan, values, finished=True):
        folder = tmp_path / "runs" / run_id
        folder.mkdir(parents=True)
        if finished:
            (folder / "run.json").write_text(json.dumps({"run_id": run_id, "plan": plan}))
        lines = [json.dumps({"name": n, "value": v, "unit": "s", "high": h}) for n, v, h in values]
        (folder / "measurements.jsonl").write_text("\n".join(lines + ["{torn"]) + "\n")
        return folder

    run("20261201-100000-demo", "demo", [("connect_time_s", 0.4, 3.0), ("connect_time_s", 0.6, 3.0),
                                         ("fuzz_examples", 66, None)])
    run("20261201-110000-smoke", "smoke", [("connect_time_s", 9.0, 3.0)])   # another plan: not in demo's trend
    run("20261201-120000-demo", "demo", [("connect_time_s", 0.7, 3.0)], finished=False)  # never finished
    now = run("20261201-130000-demo", "demo", [])
    series = trends.collect(tmp_path, "demo", before=now.name)
    assert list(series) == ["connect_time_s"]                       # limited measurements only
    assert [(p.run_id, p.value) for p in series["connect_time_s"]] == [("20261201-100000-demo", 0.5)]  # median
    m = _m("connect_time_s", 0.45, "s", None, 3.0, tmp_path)
    png = trends.trend_for(now, "demo", m)
    assert png is not None and png.startswith(b"\x89PNG")
    assert trends.trend_for(now, "demo", _m("fuzz_examples", 60, "examples", tmp_path=tmp_path)) is None
    assert trends.trend_for(tmp_path / "out", "demo", m) is None   # plain pytest out folder: no runs to compare


def test_terminal_gets_the_end_of_a_long_transcript():
    text = "\n".join(f"line {i}" for i in range(100))
    short = evidence.tail(text, 40).splitlines()
    assert short[0] == "... 60 earlier lines in the Allure attachment ..." and short[-1] == "line 99" and len(short) == 41
    assert evidence.tail("a\nb", 40) == "a\nb"


def test_heartbeat_reaches_a_non_tty_log_while_tests_are_captured(tmp_path):
    """A real pytest run with its stdout to a file: heartbeats appear in the log even while a test runs
    under fd capture (the test prints nothing; it waits until the log shows its heartbeat)."""
    import subprocess
    import sys

    (tmp_path / "test_slow.py").write_text(textwrap.dedent("""
        import os, time
        def test_waits():  # until its heartbeat is in the log (deadline 60 s): no race with the heartbeat thread
            deadline = time.monotonic() + 60
            while "test_waits for" not in open(os.environ["LOG"]).read():
                assert time.monotonic() < deadline, "no heartbeat within 60 s"
                time.sleep(0.05)
    """))
    log = tmp_path / "log.txt"
    with open(log, "w") as fh:
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                               "-p", "bench.report.progress", "-c", "/dev/null", f"--rootdir={tmp_path}", str(tmp_path)],
                              stdout=fh, stderr=subprocess.STDOUT, timeout=120, cwd=tmp_path,
                              env={**os.environ, "GLASSBENCH_HEARTBEAT_S": "0.2", "LOG": str(log),
                                   "PYTHONPATH": str(Path(__file__).parents[2])})
    text = log.read_text()
    assert proc.returncode == 0, text
    assert "0/1 tests; test_slow.py::test_waits for" in text, text
