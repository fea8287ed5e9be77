"""pytest helpers for fuzz suites: run the fuzzer against the session's DUT and report failures to Allure."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, cast

from bench.fuzz.corpus import CORPUS_DIR, CorpusDatabase
from bench.fuzz.runner import FuzzResult, fuzz


def run_fuzz(session: Any, target: str = "ble", budget_s: float = 20.0, seed: int = 0, replay_only: bool = False,
             corpus_dir: str | os.PathLike[str] = CORPUS_DIR, generate_corpus: bool = True) -> FuzzResult:
    """Fuzz (or only replay the corpus against) `session`'s DUT through its ``fuzz`` capability (skipped
    when the DUT has none or not that target); returns the result, never raises a failure. A failure's
    evidence (steps file, replay command, corpus entry; bench/fuzz/allure_result.py) is written into the
    session's output folder and kept in ``result.extra["evidence"]``."""
    fuzzer = session.dut.need("fuzz")
    if target not in fuzzer.kinds:
        import pytest

        pytest.skip(f"the DUT's fuzz target has no {target!r} link (it has {', '.join(fuzzer.kinds)}; "
                    f"profile {session.dut.profile.name})")
    model = fuzzer.open(session, target)
    try:
        corpus = CorpusDatabase(corpus_dir, key=model.corpus_key, read_corpus=generate_corpus or replay_only)
        from bench.progress import progress  # a rich bar on a terminal, the heartbeat's text in a log

        with progress(f"fuzz {target}", total=budget_s, unit="s") as bar:
            result = fuzz(model, budget_s, seed, corpus, generate=not replay_only, shrink_budget_s=30,
                          minimize_budget_s=60, progress=lambda r: bar.update(r.elapsed_s, r.progress_detail(budget_s)))
        failure = result.fuzz_failure
        if failure is not None:
            from bench.fuzz.allure_result import save_evidence

            out = Path(getattr(session, "out_dir", None) or ".")
            result.extra["evidence"] = save_evidence(model, corpus, failure, out,
                                                     lambda path: session_replay_command(session, target, path))
        return result
    finally:
        model.close()


def session_replay_command(session: Any, target: str, steps_file: Path) -> str:
    """`bench fuzz --replay` on the session's bench file, with the seeded bugs the file itself lacks."""
    from bench.config import load_bench
    from bench.errors import BenchError
    from bench.fuzz.cli import replay_command

    bench_file = getattr(session, "bench_file", None) or session.config.name
    bugs = list(session.config.reference.bugs) if session.config.reference is not None else []
    try:
        in_file = load_bench(bench_file).reference
    except BenchError:
        in_file = None
    bugs = [b for b in bugs if in_file is None or b not in in_file.bugs]
    return replay_command(target, steps_file, bench_file, bugs)


def raise_failure(result: FuzzResult) -> None:
    """Make a fuzz failure this test's result: attachments for Allure, then the categorised exception
    (with the replay command as a note, so the terminal shows it too)."""
    if result.failure is None:
        return
    failure = result.fuzz_failure
    if failure is None:
        raise result.failure
    from bench.fuzz.allure_result import attach

    evidence = result.extra.get("evidence")
    attach(failure, evidence)
    exc = cast(BaseException, failure)  # every FuzzFailure class is also a BenchError
    if evidence is not None and evidence.replay:
        exc.add_note(f"replay: {evidence.replay}")
    raise exc
