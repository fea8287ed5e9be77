"""The bug classes uniform draws miss (issue 15): boundary lengths, counter wraps, silent stops; and the
GLP model's replay of recorded steps (delta debugging, `bench fuzz --replay`)."""

from __future__ import annotations

import pytest
from fuzz_loopback import LoopTarget
from hypothesis import given, settings, strategies as st

from bench.errors import BenchError
from bench.fuzz.corpus import CorpusDatabase
from bench.fuzz.oracles import FuzzHang, blamed_step
from bench.fuzz.runner import Stats, fuzz
from bench.profiles.glp import messages as m
from bench.profiles.glp.frames import OVERHEAD, encode_frame
from bench.profiles.glp.fuzz_machine import GlpFuzzModel
from bench.profiles.glp.fuzz_steps import StepRecord, dump_steps, load_steps
from bench.profiles.glp.gatt import Channel
from bench.profiles.glp.mutations import havoc
from bench.profiles.glp.strategies import boundary_lengths, length_strategy
from bench.reference.bugs import BUGS

# bug -> the rule its minimal example must end with (the step the liveness probe first failed after)
MISSED_CLASSES = {"frame-at-max-len": "sized_frame:", "audio-index-wrap": "long_stream:", "text-queue-stall": "burst:text"}


def test_boundary_lengths_straddle_every_edge():
    edges = boundary_lengths(max_payload=244, max_frame_len=512)
    for edge in (244, 488, 512, 27):
        assert {edge - 1, edge, edge + 1} <= set(edges)
    assert OVERHEAD in edges and max(edges) == 513


def test_an_edge_has_the_same_index_on_every_board():
    """A corpus example is a choice sequence: the index it drew must name the same edge on an nRF52
    (MTU 247, rx buffer 512) as on an ESP32-S3 (MTU 517, rx buffer 2048), even where edges fall out of range."""
    nrf = boundary_lengths(max_payload=244, max_frame_len=512)
    esp = boundary_lengths(max_payload=514, max_frame_len=2048)
    tiny = boundary_lengths(max_payload=20, max_frame_len=64, hi=40)
    assert len(nrf) == len(esp) == len(tiny)
    assert nrf.index(512) == esp.index(2048) and tiny[nrf.index(512)] == 40  # max_frame_len (clamped to hi on the tiny one)
    assert nrf.index(244) == esp.index(514)
    assert all(OVERHEAD <= n <= 40 for n in tiny)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), mp=st.sampled_from([20, 244, 8192]), mfl=st.sampled_from([512, 2048]))
def test_drawn_lengths_stay_in_range(data, mp, mfl):
    n = data.draw(length_strategy(mp, mfl, lo=OVERHEAD + 5))
    assert OVERHEAD + 5 <= n <= mfl + 1


@settings(max_examples=200, deadline=None)
@given(data=st.data(), msg=st.sampled_from([m.Ping(1), m.TextNotify(m.TextMode.DISPLAY, "hello")]))
def test_havoc_changes_at_most_a_few_bytes_anywhere(data, msg):
    raw = encode_frame(m.encode_message(msg, 3))
    out = data.draw(havoc(raw))
    assert out and abs(len(out) - len(raw)) <= 8 * 16


def test_blame_is_the_step_that_made_the_write():
    steps = [StepRecord("a", [(0, Channel.CONTROL_IN, b"x", "")]), StepRecord("b", [(1, Channel.CONTROL_IN, b"y", ""),
                                                                                     (2, Channel.CONTROL_IN, b"z", "probe")]),
             StepRecord("c", [(3, Channel.CONTROL_IN, b"w", "")])]
    assert blamed_step(steps, 2) == 1
    assert blamed_step(steps, -1) == 2  # unknown write: the last step


REPLY_TIMEOUT_S = 1.0  # silence for this long is a hang: generous, so a busy machine gives no false one


def _run(bugs, budget_s=30.0, seed=1):
    target = LoopTarget(tuple(bugs), reply_timeout_s=REPLY_TIMEOUT_S)
    target.discover()
    return target, fuzz(GlpFuzzModel(target), budget_s, seed=seed, corpus=CorpusDatabase("/nonexistent", read_corpus=False),
                        shrink_budget_s=10, minimize_budget_s=20, steps=30)


@pytest.mark.parametrize("bug", sorted(MISSED_CLASSES))
def test_missed_bug_classes_are_found_minimal_and_replay(bug, tmp_path):
    """Found, shrunk to <= 5 steps (the bug needs at most 2: a Hello and the step), blamed on the right
    step; the saved steps fail again on a fresh buggy device and pass on a clean one."""
    target, result = _run([bug])
    try:
        failure = result.fuzz_failure
        assert failure is not None, f"{bug} not found: {result.progress_line()}"
        assert len(failure.steps) <= 5, failure.report()
        assert failure.steps[-1].rule.startswith(MISSED_CLASSES[bug]), failure.report()
        assert f"after step {len(failure.steps) - 1} " in str(failure), str(failure)  # blame names the last step
        path = dump_steps(failure.steps, tmp_path / "steps.json", "loopback")
        again = GlpFuzzModel(target).replay(load_steps(path), Stats())
        assert again is not None and again.kind == failure.kind, again
    finally:
        target.close()
    clean = LoopTarget(reply_timeout_s=REPLY_TIMEOUT_S)
    try:
        clean.discover()
        assert GlpFuzzModel(clean).replay(load_steps(path), Stats()) is None
    finally:
        clean.close()


def test_silent_stop_is_a_hang_not_a_crash():
    target, result = _run(["text-queue-stall"])
    target.close()
    assert isinstance(result.fuzz_failure, FuzzHang), result.failure
    assert "stopped answering" in str(result.fuzz_failure) and "write #100" in str(result.fuzz_failure)


def test_new_bugs_are_registered_with_their_kind():
    assert {n: BUGS[n].kind for n in MISSED_CLASSES} == {"frame-at-max-len": "crash", "audio-index-wrap": "crash",
                                                          "text-queue-stall": "hang"}


def test_a_wrong_steps_file_is_one_clear_error(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text('{"format": "something-else", "steps": []}')
    with pytest.raises(BenchError, match="not a GLP fuzz steps file.*format"):
        load_steps(bad)
