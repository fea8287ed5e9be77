"""Evidence a failure leaves in the report: the console once (not again as allure-pytest's stdout), a fuzz
failure's steps file, replay command and corpus entry, limit lines on power traces, progress on long work
(bench/report/evidence.py, bench/fuzz/allure_result.py, bench/power/plot.py, bench/progress.py)."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from bench.config import known_bugs, load_bench, with_bugs
from bench.fuzz.allure_result import FuzzEvidence, save_evidence, write_result
from bench.fuzz.cli import replay_command
from bench.fuzz.corpus import CorpusDatabase
from bench.fuzz.fixtures import session_replay_command
from bench.fuzz.oracles import FuzzCrash
from bench.limits import Limit
from bench.power import plot
from bench.progress import Task, progress, running
from bench.report.progress import Heartbeat

REPO_ROOT = Path(__file__).resolve().parents[2]

CONFTEST = '''
import pytest
from types import SimpleNamespace

class Console:
    def mark(self):
        return 0
    def records_since(self, mark):
        return [SimpleNamespace(host_time_s=1.5, text="<err> glp: bad frame")]

@pytest.fixture
def bench():
    dut = SimpleNamespace(console=Console(), test_mark=0, test_started_s=0.0, _capabilities={})
    return SimpleNamespace(_dut=dut, reference=None, out_dir=None)
'''

TEST = '''
def test_fails(bench):
    print("printed by the test")
    assert False, "the DUT said no"
'''


def test_console_is_attached_once_and_still_reaches_junit(tmp_path):
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_once.py").write_text(TEST)
    results, junit = tmp_path / "res", tmp_path / "junit.xml"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:glassbench",
                           "-p", "bench.report.evidence", "-c", "/dev/null", f"--rootdir={tmp_path}",
                           f"--alluredir={results}", f"--junitxml={junit}", "-o", "junit_logging=system-out",
                           str(tmp_path)], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "bad frame" in proc.stdout  # the terminal's failure report shows the console
    result = json.loads(next(results.glob("*-result.json")).read_text())
    texts = {a["name"]: (results / a["source"]).read_text() for a in result["attachments"]}
    holding = [name for name, text in texts.items() if "bad frame" in text]
    assert holding == ["DUT console log"], texts
    assert "printed by the test" in texts.get("stdout", ""), texts  # the test's own output still attached
    out = ET.parse(junit).getroot().find(".//testcase").findtext("system-out") or ""
    assert "DUT console since the test began" in out and "printed by the test" in out


class _Model:
    """What save_evidence needs of a fuzz model that can replay: dump_steps."""

    def dump_steps(self, steps, path):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"steps": [str(s) for s in steps]}))
        return path


def _failure():
    exc = FuzzCrash("DUT CRASH: fuzz crash at step 0 (requests), write #0: hard fault")
    exc._fill("hard fault", 0, ["hello", "ping"], "== transcript ==", ["<err> os: Halting system"], "ble")
    return exc


def test_fuzz_failure_leaves_steps_replay_command_and_corpus_entry(tmp_path):
    corpus = CorpusDatabase(tmp_path / "committed", key=b"test-key")
    corpus.save(b"hypothesis-test-digest", b"\x01\x02shrunk example")  # what hypothesis keeps of a failure
    failure = _failure()
    out = tmp_path / "run"
    ev = save_evidence(_Model(), corpus, failure, out, lambda p: replay_command("ble", p, "fuzz", ["hello-v0-hang"]))
    assert ev.steps_file == out / "fuzz-minimal-ble.json" and ev.steps_file.is_file()
    assert ev.replay == f"bench fuzz --target ble --bench fuzz --bug hello-v0-hang --replay {ev.steps_file}"
    assert len(ev.corpus_files) == 1 and ev.corpus_files[0].read_bytes() == b"\x01\x02shrunk example"
    assert not corpus.committed(), "evidence must not commit into the project's corpus"
    result = json.loads(write_result(failure, tmp_path / "allure", evidence=ev).read_text())
    by_name = {a["name"]: a for a in result["attachments"]}
    assert {"minimal example", "replay command", "transcript", "console log"} <= set(by_name)
    assert ev.replay in (tmp_path / "allure" / by_name["replay command"]["source"]).read_text()
    steps = next(a for n, a in by_name.items() if n.startswith("steps file"))
    assert steps["type"] == "application/json" and json.loads((tmp_path / "allure" / steps["source"]).read_text())
    entry = next(a for n, a in by_name.items() if n.startswith("corpus entry"))
    assert (tmp_path / "allure" / entry["source"]).read_bytes() == b"\x01\x02shrunk example"
    assert ev.replay in result["statusDetails"]["trace"]


def test_corpus_replay_failure_says_the_entry_is_already_committed(tmp_path):
    corpus = CorpusDatabase(tmp_path / "committed", key=b"k")
    corpus.commit([b"old example"])
    corpus.save(b"digest", b"old example")  # replaying the corpus: hypothesis saves the same example
    ev = save_evidence(object(), corpus, _failure(), tmp_path / "run", lambda p: "unused")
    assert ev.steps_file is None and ev.corpus_files == [] and "one of" in ev.corpus_note
    assert "cannot replay saved steps" in ev.text()


def test_replay_command_quotes_paths_and_names_only_the_bugs_the_bench_file_lacks(tmp_path):
    assert replay_command("ble", Path("out dir/x.json"), reply_timeout_s=0.5) == \
        "bench fuzz --target ble --reply-timeout 0.5 --replay 'out dir/x.json'"
    bug = sorted(known_bugs(load_bench("reference").reference.profile))[0]
    session = SimpleNamespace(bench_file="reference", config=with_bugs(load_bench("reference"), [bug]))
    assert session_replay_command(session, "ble", Path("s.json")) == \
        f"bench fuzz --target ble --bench reference --bug {bug} --replay s.json"


def _recording():
    fs = 1000.0
    current = np.concatenate([np.full(500, 2.5e-6), np.full(500, 2.0e-3)])
    current[::50] = 5e-3  # radio spikes above the sleep limit: the mean is what is judged
    segments = [SimpleNamespace(state="sleep", i0=0, i1=500), SimpleNamespace(state="audio_streaming", i0=500, i1=1000)]
    means = {"sleep": float(current[:500].mean()), "audio_streaming": float(current[500:].mean())}
    return SimpleNamespace(trace=SimpleNamespace(current_a=current, sample_rate_hz=fs, t0_s=10.0), segments=segments,
                           overflow_idx=np.zeros(0, dtype=int), instrument="ppk2", segmentation="markers",
                           stats=lambda: {s: SimpleNamespace(mean_a=v) for s, v in means.items()}), means


def test_power_trace_draws_each_states_mean_and_limit():
    import matplotlib.pyplot as plt

    rec, means = _recording()
    limits = {"sleep": Limit("sleep_current_a", "A", high=10e-6),
              "audio_streaming": Limit("streaming_current_a", "A", low=100e-6, high=8e-3)}
    fig, ax = plt.subplots()
    try:
        plot._limit_lines(ax, rec, limits)
        labels = ax.get_legend_handles_labels()[1]
        lines = {c.get_label(): c.get_segments()[0] for c in ax.collections}
    finally:
        plt.close(fig)
    assert {"sleep limit ≤ 10 µA", "audio_streaming limit ≥ 100 µA", "audio_streaming limit ≤ 8 mA"} <= set(labels)
    assert any(label.startswith("sleep mean ") for label in labels)
    sleep = lines["sleep limit ≤ 10 µA"]
    assert np.allclose(sleep[:, 1], 10e-3) and np.allclose(sleep[:, 0], [0.0, 0.5])  # in mA, over the sleep segment
    assert np.allclose(lines[next(k for k in lines if k.startswith("sleep mean"))][:, 1], means["sleep"] * 1e3)
    assert plot.trace_png(rec, "sleep", limits)[:4] == b"\x89PNG"


def test_progress_task_text_and_heartbeat():
    now = [0.0]
    task = Task("power capture (ppk2)", total=4, unit="s", timed=True, clock=lambda: now[0])
    now[0] = 3.0
    assert task.text() == "power capture (ppk2): 3/4 s"
    with progress("fuzz ble", total=20, unit="s") as fuzz:
        fuzz.update(12.0, "30 examples, 605 frames/s, ~8 s left")
        assert not fuzz.shown  # not a terminal here
        beat = Heartbeat(1, write=lambda line: None)
        beat.test_started("t::fuzz")
        assert beat.line().endswith("— fuzz ble: 12/20 s, 30 examples, 605 frames/s, ~8 s left")
    assert running() == []


def test_progress_is_a_rich_bar_on_a_terminal():
    """A child process whose stdout is a pty draws the bar (rich's own rendering), and prints no bar when
    $GLASSBENCH_PROGRESS=0."""
    import pty

    code = textwrap.dedent("""
        import time
        from bench.progress import progress
        with progress("fuzz ble", total=4, unit="s") as t:
            t.update(2, "30 examples")
            time.sleep(0.6)  # rich refreshes 4 times a second: the bar is drawn at least once
        print("DONE", flush=True)
    """)

    def run(extra: dict[str, str]) -> str:
        master, slave = pty.openpty()
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=slave, stderr=slave, close_fds=True,
                                env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin", "TERM": "xterm", **extra})
        os.close(slave)
        text, deadline = b"", time.monotonic() + 60
        while b"DONE" not in text and time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if ready:
                try:
                    text += os.read(master, 4096)
                except OSError:
                    break
        proc.wait(timeout=60)
        os.close(master)
        return text.decode("utf-8", "replace")

    shown = run({})
    assert "DONE" in shown and "fuzz ble" in shown and "2/4 s" in shown and "━" in shown, shown
    hidden = run({"GLASSBENCH_PROGRESS": "0"})
    assert "DONE" in hidden and "fuzz ble" not in hidden, hidden


def test_evidence_text_lists_every_file():
    ev = FuzzEvidence(Path("o/fuzz-minimal-ble.json"), "bench fuzz --replay o/fuzz-minimal-ble.json",
                      [Path("o/fuzz-corpus/ab/cd")], "copy it")
    assert ev.text().splitlines() == ["bench fuzz --replay o/fuzz-minimal-ble.json", "steps file: o/fuzz-minimal-ble.json",
                                      "corpus entry: o/fuzz-corpus/ab/cd", "copy it"]
