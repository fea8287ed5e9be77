"""pytest helpers for fuzz suites: run the fuzzer against the session's DUT and report failures to Allure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.fuzz.corpus import CORPUS_DIR, CorpusDatabase
from bench.fuzz.runner import FuzzResult, fuzz
from bench.profiles.glp.fuzz_targets import TARGETS


def run_fuzz(session: Any, target: str = "ble", budget_s: float = 20.0, seed: int = 0, replay_only: bool = False,
             corpus_dir: Path = CORPUS_DIR, generate_corpus: bool = True) -> FuzzResult:
    """Fuzz (or only replay the corpus against) `session`'s DUT; returns the result, never raises a failure."""
    t = TARGETS[target](session)
    try:
        t.discover()
        corpus = CorpusDatabase(corpus_dir, read_corpus=generate_corpus or replay_only)
        return fuzz(t, budget_s, seed, corpus, generate=not replay_only, shrink_budget_s=30)
    finally:
        t.close()


def raise_failure(result: FuzzResult) -> None:
    """Make a fuzz failure this test's result: attachments for Allure, then the categorised exception."""
    if result.failure is None:
        return
    failure = result.fuzz_failure
    if failure is None:
        raise result.failure
    from bench.fuzz.allure_result import attach

    attach(failure)
    raise failure
