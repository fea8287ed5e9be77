"""Delta debugging: minimal failing subsequences, 1-minimality, the deadline."""

from __future__ import annotations

import time

from hypothesis import given
from hypothesis import strategies as st

from bench.fuzz.shrink import ddmin


def test_single_guilty_step_is_isolated():
    steps = list(range(40))
    calls = []

    def fails(c):
        calls.append(c)
        return 17 in c
    assert ddmin(steps, fails) == [17]
    assert all(len(c) < len(steps) for c in calls), "the full sequence is never re-run"


def test_two_steps_in_order_are_both_kept():
    steps = list("abcdefghijkl")

    def fails(c):  # fails only when 'c' comes before 'j' (a state set up, then used)
        return "c" in c and "j" in c and c.index("c") < c.index("j")
    assert ddmin(steps, fails) == ["c", "j"]


@given(st.lists(st.integers(0, 9), min_size=1, max_size=30), st.sets(st.integers(0, 9), min_size=1, max_size=3))
def test_result_is_one_minimal(steps, needed):
    steps = steps + sorted(needed)  # the full sequence fails

    def fails(c):
        return needed <= set(c)
    out = ddmin(steps, fails)
    assert fails(out)
    for i in range(len(out)):
        assert not fails(out[:i] + out[i + 1:]), f"step {i} of {out} could be removed"


def test_deadline_keeps_the_smallest_found_so_far():
    steps = list(range(64))
    out = ddmin(steps, lambda c: 5 in c, deadline_s=time.monotonic() - 1)
    assert out == steps




def _session_then_five_starts(steps):
    """A toy firmware: a step is a burst of bytes; 0x07 opens a session, 0x10 starts a stream inside one,
    and the fifth start crashes it. Whether a burst is split into steps does not matter to it."""
    session, starts = False, 0
    for burst in steps:
        for b in burst:
            session = session or b == 0x07
            starts += session and b == 0x10
    return starts >= 5


def test_one_minimal_is_not_minimal_until_neighbours_are_merged():
    from bench.fuzz.shrink import merge_adjacent

    steps = [(0x01,), (0x07,), (0x10,), (0x02,), (0x10,), (0x10,), (0x10,), (0x10,)]
    one_minimal = ddmin(steps, _session_then_five_starts)
    assert one_minimal == [(0x07,), (0x10,), (0x10,), (0x10,), (0x10,), (0x10,)]  # no single step can go
    merged = merge_adjacent(one_minimal, lambda a, b: a + b, _session_then_five_starts)
    assert merged == [(0x07, 0x10, 0x10, 0x10, 0x10, 0x10)]


def test_merge_keeps_apart_what_cannot_be_joined():
    from bench.fuzz.shrink import merge_adjacent

    steps = [(0x07,), (0x10,), ("reconnect",), (0x10,)]
    fails = lambda s: sum(b == 0x10 for burst in s for b in burst) >= 2 and any("reconnect" in b for b in s)  # noqa: E731
    merged = merge_adjacent(steps, lambda a, b: None if b == ("reconnect",) else a + b, fails)
    assert merged == [(0x07, 0x10), ("reconnect", 0x10)]

class _TwoStepBug:
    """A fuzz model with no device and no profile: examples are lists of bytes written to a toy
    firmware that crashes on a write >= 0xF0 once it has seen a 0x07 (state set up, then used)."""

    kind, corpus_key = "toy", b"toy-v1"
    axes = {"bytes": frozenset(range(256))}

    def __init__(self):
        self.writes = 0
        self.replays = 0

    def frames_sent(self):
        return self.writes

    def example(self, steps, stats):
        from bench.fuzz.oracles import FuzzCrash

        stats.examples += 1
        armed = False
        for n, value in enumerate(steps):
            self.writes += 1
            stats.cover("bytes", value)
            armed = armed or value == 0x07
            if armed and value >= 0xF0:
                stats.failed()
                failure = FuzzCrash(f"fuzz crash at step {n}")
                failure._fill("crash", n, list(steps[:n + 1]), "", [], self.kind)
                raise failure
            stats.step()

    def run_chunk(self, stats, config, seed):
        from hypothesis import strategies as st

        from bench.fuzz.runner import given_chunk

        given_chunk(st.lists(st.integers(0, 255), min_size=1, max_size=40), lambda s: self.example(s, stats), config, seed)

    def steps_of(self, failure):
        return list(failure.steps)

    def replay(self, steps, stats):
        from bench.fuzz.oracles import FuzzCrash

        self.replays += 1
        try:
            self.example(steps, stats)
        except FuzzCrash as failure:
            return failure
        return None

    def close(self):
        pass


def test_runner_drives_any_model_and_ends_one_minimal(tmp_path):
    from bench.fuzz.corpus import CorpusDatabase
    from bench.fuzz.runner import fuzz

    model = _TwoStepBug()
    result = fuzz(model, 30, seed=3, corpus=CorpusDatabase(tmp_path, key=model.corpus_key, read_corpus=False),
                  shrink_budget_s=0)  # hypothesis barely shrinks: delta debugging has to do it
    failure = result.fuzz_failure
    assert failure is not None, result.failure
    assert len(failure.steps) == 2 and failure.steps[0] == 0x07 and failure.steps[1] >= 0xF0, failure.report()
    assert failure.source == 1 and ">> step 1" in failure.sequence()
    assert result.coverage["bytes"][1] == 256 and result.types_covered == result.coverage["bytes"][0] > 0
    assert result.shrunk_from is not None and result.shrunk_from >= 2


class _SlowToShrink(_TwoStepBug):
    """Every example costs 0.1 s (a device's round trips) and crashes when its bytes sum past 1000:
    found at once, but hypothesis's shrink toward the smallest such list outlasts a 1 s budget."""

    def example(self, steps, stats):
        from bench.fuzz.oracles import FuzzCrash

        time.sleep(0.1)
        stats.examples += 1
        if sum(steps) > 1000:
            stats.failed()
            failure = FuzzCrash("fuzz crash: sum past 1000")
            failure._fill("crash", len(steps) - 1, list(steps), "", [], self.kind)
            raise failure


def test_shrink_budget_running_out_is_told_as_the_budget_not_as_five_minutes(tmp_path, capsys):
    from bench.fuzz.corpus import CorpusDatabase
    from bench.fuzz.runner import fuzz

    model = _SlowToShrink()
    result = fuzz(model, 30, seed=1, corpus=CorpusDatabase(tmp_path, key=model.corpus_key, read_corpus=False),
                  shrink_budget_s=1, minimize_budget_s=0)
    assert result.fuzz_failure is not None, result.failure
    out = capsys.readouterr()
    assert "five minutes" not in out.out + out.err
    assert "shrink stopped at its budget (1 s" in out.err


class _NeedsTheRunsTiming(_TwoStepBug):
    """Fails while fuzzing (its last step is recorded but never sent: None), never when replayed alone."""

    def example(self, steps, stats):
        from bench.fuzz.oracles import FuzzCrash

        stats.examples += 1
        if len(steps) >= 3:
            stats.failed()
            failure = FuzzCrash("fuzz crash: only at the run's own pace")
            failure._fill("crash", 1, [*steps[:3], None], "", [], self.kind)
            raise failure

    def steps_of(self, failure):
        return [s for s in failure.steps if s is not None]  # as the GLP model drops steps never sent

    def replay(self, steps, stats):
        self.replays += 1
        return None


def test_an_example_that_replay_cannot_reproduce_is_kept_and_said_so(tmp_path):
    from bench.fuzz.corpus import CorpusDatabase
    from bench.fuzz.runner import fuzz

    model = _NeedsTheRunsTiming()
    result = fuzz(model, 30, seed=2, corpus=CorpusDatabase(tmp_path, key=model.corpus_key, read_corpus=False),
                  shrink_budget_s=1)
    failure = result.fuzz_failure
    assert failure is not None and len(failure.steps) == 3 and None not in failure.steps, failure.steps
    assert result.extra["reproduced"] is False and model.replays > 0
