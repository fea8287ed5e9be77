"""The committed fuzz corpus (fixtures/corpus/) replayed deterministically.

On the DUT under test it must pass. On a reference bench with a seeded bug switched on it must fail,
which proves that the corpus still reproduces what it was saved for (if the state machine changes
so much that it does not, regenerate the corpus with `bench fuzz --bug NAME`).
"""

from __future__ import annotations

import pytest

from bench.fuzz.corpus import CORPUS_DIR, CorpusDatabase
from bench.fuzz.fixtures import raise_failure, run_fuzz
from bench.profiles.omi.device import BUG_SKUS as OMI_BUG_SKUS

pytestmark = [pytest.mark.fuzz]

# Per profile, the bugs whose minimal examples are committed; each must be reproduced by replaying the corpus.
CORPUS_BUGS = {
    "glp": ["bad-crc-accepted", "unknown-type-acked", "hello-v0-hang", "setting-corrupts", "zero-length-fragment",
            "photo-read-past-end", "seq-wrap-stall", "audio-start-leak", "reassembly-overflow", "frame-at-max-len",
            "audio-index-wrap", "text-queue-stall", "credit-busy-early"],
    "omi": ["omi-photo-interval", "omi-speaker-len"],
}
BUG_SKU = OMI_BUG_SKUS  # a bug whose code exists only on one SKU runs on it (the Omi pendant has the speaker)
CORPUS_KEYS = {"glp": b"glp-session-v1", "omi": b"omi-gatt-writes-v1"}


@pytest.mark.parametrize("profile", sorted(CORPUS_KEYS))
def test_corpus_is_committed(profile):
    assert CorpusDatabase(CORPUS_DIR, key=CORPUS_KEYS[profile]).committed(), f"no {profile} examples in {CORPUS_DIR}"


@pytest.mark.ble
def test_corpus_replays_clean_over_ble(bench):
    raise_failure(run_fuzz(bench, "ble", 60, replay_only=True))


@pytest.mark.reference
@pytest.mark.parametrize("bug", [b for bugs in CORPUS_BUGS.values() for b in bugs])
def test_corpus_catches_seeded_bug(bench_config, tmp_path, bug):
    from bench.session import BenchSession

    if bench_config.reference is None:
        pytest.skip("seeded bugs exist only on the reference bench")
    profile = bench_config.reference.profile
    if bug not in CORPUS_BUGS.get(profile, []):
        pytest.skip(f"{bug} is not a seeded bug of profile {profile}")
    config = bench_config.model_copy(deep=True)
    config.reference.bugs = [bug]
    if bug in BUG_SKU:
        config.reference.sku = config.dut.sku = BUG_SKU[bug]
    with BenchSession(config, tmp_path) as session:
        result = run_fuzz(session, "ble", 60, replay_only=True)
    assert result.fuzz_failure is not None, f"the corpus no longer reproduces {bug}: {result.failure!r}"
    evidence = result.extra["evidence"]  # what the report attaches: steps file and the line that replays it
    if profile == "glp":  # GLP's fuzz model replays saved steps (bench/profiles/glp/fuzz_steps.py); Omi's does not
        assert evidence.steps_file is not None and evidence.steps_file.is_file()
        assert f"--bug {bug}" in evidence.replay and evidence.replay.endswith(f"--replay {evidence.steps_file}")
