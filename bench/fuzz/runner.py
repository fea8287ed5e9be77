"""Running the fuzzer for a time budget: corpus replay, generation in seeded chunks, shrinking, results.

Hypothesis has no wall-clock budget, so a run is a series of short hypothesis runs (a few examples
each, seeds derived from --seed) until the budget is spent or one fails; the first chunk replays the
committed corpus. A failure is shrunk (capped by `shrink_budget_s`), and its minimal example can be
committed to the corpus.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from hypothesis import HealthCheck, Phase, settings
from hypothesis.errors import Unsatisfiable
from hypothesis.internal.conjecture import engine
from hypothesis.stateful import run_state_machine_as_test

from bench.fuzz.corpus import CORPUS_DIR, CorpusDatabase
from bench.fuzz.oracles import FuzzFailure
from bench.profiles.glp.fuzz_machine import Stats, make_machine
from bench.profiles.glp.fuzz_target import Target
from bench.profiles.glp.mutations import MUTATIONS, request_classes

EXAMPLES_PER_CHUNK = 50  # hypothesis scales its shrinking effort with max_examples


@dataclass
class FuzzResult:
    target: str
    failure: BaseException | None = None
    examples: int = 0
    steps: int = 0
    frames: int = 0
    elapsed_s: float = 0.0
    time_to_find_s: float | None = None
    types_covered: int = 0
    types_total: int = 0
    mutations_covered: int = 0
    saved: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def fuzz_failure(self) -> FuzzFailure | None:
        return find_failure(self.failure)

    def progress_line(self) -> str:
        return (f"fuzz {self.target}: {self.elapsed_s:6.1f} s  examples {self.examples}  steps {self.steps}  "
                f"frames {self.frames} ({self.frames_per_s:.0f}/s)  message types {self.types_covered}/"
                f"{self.types_total}  mutations {self.mutations_covered}/{len(MUTATIONS)}")


def find_failure(exc: BaseException | None) -> FuzzFailure | None:
    """The FuzzFailure in `exc` (hypothesis may wrap it in an exception group when it is flaky)."""
    if exc is None or isinstance(exc, FuzzFailure):
        return exc
    for inner in getattr(exc, "exceptions", ()):
        found = find_failure(inner)
        if found is not None:
            return found
    for linked in (exc.__cause__, exc.__context__):
        found = find_failure(linked) if linked is not None else None
        if found is not None:
            return found
    return None


def fuzz(target: Target, budget_s: float, seed: int = 0, corpus: CorpusDatabase | None = None,
         generate: bool = True, replay: bool = True, steps: int = 50, shrink_budget_s: float = 60.0,
         progress: Callable[[FuzzResult], None] | None = None, progress_every_s: float = 2.0) -> FuzzResult:
    """Fuzz `target` (discovered already) for `budget_s`; stops at the first failure (shrunk)."""
    corpus = corpus or CorpusDatabase(CORPUS_DIR)
    stats = Stats(deadline_s=time.monotonic() + budget_s)
    result = FuzzResult(target.kind, types_total=len(request_classes()))
    start = time.monotonic()
    frames0 = target.frames_sent
    last_print = [start]

    def update() -> None:
        result.examples, result.steps = stats.examples, stats.steps
        result.frames = target.frames_sent - frames0
        result.elapsed_s = time.monotonic() - start
        result.types_covered = len(stats.types_sent & {c.TYPE for c in request_classes()})
        result.mutations_covered = len(stats.mutations)
        if stats.first_failure_s is not None and result.time_to_find_s is None:
            result.time_to_find_s = stats.first_failure_s - start

    def tick() -> None:
        if progress is not None and time.monotonic() - last_print[0] >= progress_every_s:
            last_print[0] = time.monotonic()
            update()
            progress(result)

    stats.on_step = tick
    machine = make_machine(target, stats)
    saved_shrink = engine.MAX_SHRINKING_SECONDS
    engine.MAX_SHRINKING_SECONDS = int(max(1, shrink_budget_s))
    chunk = 0
    try:
        while True:
            phases = [Phase.reuse] if (replay and chunk == 0) else []
            if generate:
                phases += [Phase.generate, Phase.shrink]
            config = settings(max_examples=EXAMPLES_PER_CHUNK, stateful_step_count=steps, deadline=None,
                              database=corpus, phases=phases, suppress_health_check=list(HealthCheck),
                              print_blob=False, report_multiple_bugs=False)

            def factory() -> Any:
                return machine()
            factory._hypothesis_internal_use_seed = seed * 1_000_003 + chunk  # type: ignore[attr-defined]
            try:
                run_state_machine_as_test(factory, settings=config)  # type: ignore[arg-type]  # hypothesis stub: any zero-argument factory works
            except Unsatisfiable:
                if generate:
                    raise
                break  # replay only: every corpus example passed, hypothesis had nothing else to run
            except BaseException as exc:  # noqa: BLE001 - a fuzz failure, or a harness error to report
                if isinstance(exc, KeyboardInterrupt):
                    raise
                result.failure = exc
                break
            chunk += 1
            if not generate or stats.over:
                break
    finally:
        engine.MAX_SHRINKING_SECONDS = saved_shrink
        update()
    return result


def print_progress(result: FuzzResult) -> None:
    print(result.progress_line(), file=sys.stderr, flush=True)


def save_failure(result: FuzzResult, corpus: CorpusDatabase) -> int:
    """Commit the minimal example(s) of this run's failure to the corpus."""
    result.saved = corpus.commit() if result.failure is not None else 0
    return result.saved


__all__ = ["fuzz", "FuzzResult", "find_failure", "print_progress", "save_failure", "CorpusDatabase", "Path"]
