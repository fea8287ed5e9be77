"""pytest helpers for fuzz suites: run the fuzzer against the session's DUT and report failures to Allure."""

from __future__ import annotations

import os
from typing import Any, cast

from bench.fuzz.corpus import CORPUS_DIR, CorpusDatabase
from bench.fuzz.runner import FuzzResult, fuzz


def run_fuzz(session: Any, target: str = "ble", budget_s: float = 20.0, seed: int = 0, replay_only: bool = False,
             corpus_dir: str | os.PathLike[str] = CORPUS_DIR, generate_corpus: bool = True) -> FuzzResult:
    """Fuzz (or only replay the corpus against) `session`'s DUT through its ``fuzz`` capability (skipped
    when the DUT has none or not that target); returns the result, never raises a failure."""
    fuzzer = session.dut.need("fuzz")
    if target not in fuzzer.kinds:
        import pytest

        pytest.skip(f"the DUT's fuzz target has no {target!r} link (it has {', '.join(fuzzer.kinds)}; "
                    f"profile {session.dut.profile.name})")
    model = fuzzer.open(session, target)
    try:
        corpus = CorpusDatabase(corpus_dir, key=model.corpus_key, read_corpus=generate_corpus or replay_only)
        from bench.report.progress import note  # the session heartbeat says how far the fuzz run is

        return fuzz(model, budget_s, seed, corpus, generate=not replay_only, shrink_budget_s=30, minimize_budget_s=60,
                    progress=lambda r: note(f"{r.progress_line().strip()}, ~{max(0.0, budget_s - r.elapsed_s):.0f} s left"))
    finally:
        model.close()


def raise_failure(result: FuzzResult) -> None:
    """Make a fuzz failure this test's result: attachments for Allure, then the categorised exception."""
    if result.failure is None:
        return
    failure = result.fuzz_failure
    if failure is None:
        raise result.failure
    from bench.fuzz.allure_result import attach

    attach(failure)
    raise cast(BaseException, failure)  # every FuzzFailure class is also a BenchError
