"""The fuzzer against the reference protocol in-process: clean means no failure, seeded bugs are found."""

from __future__ import annotations

import pytest
from fuzz_loopback import LoopTarget

from bench.fuzz.corpus import CorpusDatabase
from bench.fuzz.oracles import FuzzHang, FuzzViolation
from bench.fuzz.runner import fuzz
from bench.profiles.glp.device import GlassesProtocol
from bench.profiles.glp.fuzz_machine import GlpFuzzModel
from bench.reference.bugs import BUGS, install


@pytest.fixture
def corpus(tmp_path):
    return CorpusDatabase(tmp_path / "corpus", read_corpus=False)


def run(corpus, bugs=(), budget_s=20.0, privileged=True):
    target = LoopTarget(tuple(bugs), privileged=privileged)
    try:
        target.discover()
        return fuzz(GlpFuzzModel(target), budget_s, seed=1, corpus=corpus, shrink_budget_s=10, steps=30)
    finally:
        target.close()


def test_registry_has_eight_bugs_of_every_kind():
    assert len(BUGS) >= 8
    assert {b.kind for b in BUGS.values()} == {"crash", "hang", "violation"}
    assert all(b.description for b in BUGS.values())


def test_unknown_bug_is_a_clear_error():
    g = GlassesProtocol("nrf52840dk", "camera", lambda ch, d: None)
    with pytest.raises(ValueError, match="unknown bug.*known"):
        install(g, ["no-such-bug"])


def test_clean_protocol_gives_no_failure(corpus):
    result = run(corpus, budget_s=3.0)
    assert result.failure is None, result.failure
    assert result.examples > 0 and result.frames > 100
    assert result.types_covered == result.types_total


def test_model_predicts_refused_privileged_requests(corpus):
    """On a link below the privileged security level every SettingSet/PhotoCapture/FactoryReset is refused:
    the discovery probe tells the model, so a clean device stays clean."""
    result = run(corpus, budget_s=3.0, privileged=False)
    assert result.failure is None, result.failure
    assert result.examples > 0


@pytest.mark.parametrize("bug", ["bad-crc-accepted", "unknown-type-acked", "setting-corrupts"])
def test_violation_bug_is_found_and_shrunk(corpus, bug):
    result = run(corpus, [bug])
    failure = result.fuzz_failure
    assert isinstance(failure, FuzzViolation), result.failure
    assert 0 <= failure.source, "the failure names the write that caused it"
    assert failure.steps[-1].writes, failure.report()
    assert corpus.failures(), "hypothesis kept no failing example"


def test_hang_bug_is_found(corpus):
    result = run(corpus, ["hello-v0-hang"])
    assert isinstance(result.fuzz_failure, FuzzHang), result.failure
    assert "Hello" in result.fuzz_failure.sequence()


def test_committed_failure_replays(tmp_path):
    first = CorpusDatabase(tmp_path / "c", read_corpus=False)
    found = run(first, ["bad-crc-accepted"])
    assert found.fuzz_failure is not None
    assert first.commit() >= 1
    replay = CorpusDatabase(tmp_path / "c")
    target = LoopTarget(("bad-crc-accepted",))
    try:
        target.discover()
        again = fuzz(GlpFuzzModel(target), 10, corpus=replay, generate=False)
    finally:
        target.close()
    assert isinstance(again.fuzz_failure, FuzzViolation)
    clean = LoopTarget()
    try:
        clean.discover()
        assert fuzz(GlpFuzzModel(clean), 10, corpus=CorpusDatabase(tmp_path / "c"), generate=False).failure is None
    finally:
        clean.close()
