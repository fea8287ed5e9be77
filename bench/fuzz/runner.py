"""Running any profile's fuzz model for a time budget: corpus replay, generation in seeded chunks, shrinking.

A profile's ``fuzz`` capability opens a :class:`FuzzModel` on one link; this runner knows nothing of
the protocol. Hypothesis has no wall-clock budget, so a run is a series of short hypothesis runs (a
few examples each, seeds derived from ``seed``) until the budget is spent or one fails; the first
chunk replays the committed corpus. A failure is shrunk by hypothesis (capped by ``shrink_budget_s``),
then, if the model can replay its examples, by delta debugging on a fresh device until no single step
can be removed (bench/fuzz/shrink.py). Its minimal example can be committed to the corpus.
"""

from __future__ import annotations

import sys
import time
import unittest
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, cast, runtime_checkable

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from hypothesis.internal.conjecture import engine
from hypothesis.reporting import current_reporter, with_reporter
from hypothesis.stateful import RuleBasedStateMachine, run_state_machine_as_test

from bench.fuzz.corpus import CORPUS_DIR, CorpusDatabase
from bench.fuzz.oracles import FuzzFailure, blamed_step

EXAMPLES_PER_CHUNK = 50  # hypothesis scales its shrinking effort with max_examples
# hypothesis's fixed text when its shrink hits engine.MAX_SHRINKING_SECONDS, which fuzz() sets to the shrink budget
SLOW_SHRINK = "WARNING: Hypothesis has spent more than five minutes working to shrink"


@dataclass
class Stats:
    """Shared by every example of a run: progress and coverage (per axis: what was reached)."""

    deadline_s: float = float("inf")
    examples: int = 0
    steps: int = 0
    covered: dict[str, set[Any]] = field(default_factory=dict)
    first_failure_s: float | None = None  # CLOCK_MONOTONIC when an oracle first fired
    on_step: Callable[[], None] | None = None  # called after every step (progress)

    @property
    def over(self) -> bool:
        return time.monotonic() > self.deadline_s

    def cover(self, axis: str, item: Any) -> None:
        self.covered.setdefault(axis, set()).add(item)

    def step(self) -> None:
        self.steps += 1
        if self.on_step is not None:
            self.on_step()

    def failed(self) -> None:
        if self.first_failure_s is None:
            self.first_failure_s = time.monotonic()


@runtime_checkable
class FuzzModel(Protocol):
    """What a profile's fuzz capability opens on one link, and all the runner needs of it."""

    kind: str  # the link: "ble", "serial"
    corpus_key: bytes  # the corpus entries of this model (one folder holds every profile's)
    axes: dict[str, frozenset[Any]]  # coverage axes and everything each could reach ("message types": ...)

    def frames_sent(self) -> int:
        """Writes put on the wire so far (fragments, probes and fillers included)."""
        ...

    def run_chunk(self, stats: Stats, config: settings, seed: int) -> None:
        """One hypothesis run under ``config`` and ``seed`` (see stateful_chunk, given_chunk); a failure
        is raised as a FuzzFailure."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class Replayable(Protocol):
    """A model whose failing examples are a list of steps it can replay on a fresh device."""

    def steps_of(self, failure: FuzzFailure) -> list[Any]: ...

    def replay(self, steps: list[Any], stats: Stats) -> FuzzFailure | None:
        """Run ``steps`` as one example on a freshly reset device; the failure, or None if it passed."""
        ...

    # optional: ``merge(a, b)`` -> one step that sends a's and b's writes, or None (then the minimal
    # example is 1-minimal only; see bench/fuzz/shrink.py merge_adjacent)


def stateful_chunk(machine: type[RuleBasedStateMachine], config: settings, seed: int) -> None:
    """run_chunk for a model that is a hypothesis state machine."""
    def factory() -> RuleBasedStateMachine:
        return machine()
    factory._hypothesis_internal_use_seed = seed  # type: ignore[attr-defined]
    run_state_machine_as_test(factory, settings=config)  # type: ignore[arg-type]  # any zero-argument factory works


def given_chunk(strategy: st.SearchStrategy[Any], example: Callable[[Any], None], config: settings, seed: int) -> None:
    """run_chunk for a model whose examples are drawn from one strategy (e.g. a list of operations)."""
    @config
    @given(strategy)
    def one(value: Any) -> None:
        example(value)
    one._hypothesis_internal_use_seed = seed  # type: ignore[attr-defined]
    one()


@dataclass
class FuzzResult:
    target: str
    failure: BaseException | None = None
    examples: int = 0
    steps: int = 0
    frames: int = 0  # writes
    whole_frames: int = 0  # complete protocol frames (models that count them; else 0)
    elapsed_s: float = 0.0
    time_to_find_s: float | None = None
    coverage: dict[str, tuple[int, int]] = field(default_factory=dict)  # axis -> (reached, reachable)
    shrunk_from: int | None = None  # steps in the example before delta debugging
    shrink_s: float = 0.0
    saved: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def whole_frames_per_s(self) -> float:
        """Complete frames per second (fragments of one frame count once; the fuzz benchmark's rate)."""
        return self.whole_frames / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def types_covered(self) -> int:
        """Reached on the first axis (the message types, or the operation kinds)."""
        return next(iter(self.coverage.values()), (0, 0))[0]

    @property
    def types_total(self) -> int:
        return next(iter(self.coverage.values()), (0, 0))[1]

    @property
    def fuzz_failure(self) -> FuzzFailure | None:
        return find_failure(self.failure)

    def progress_detail(self, budget_s: float) -> str:
        """``30 examples, 605 frames/s, ~8 s left``: a progress bar's figures."""
        return f"{self.examples} examples, {self.frames_per_s:.0f} frames/s, ~{max(0.0, budget_s - self.elapsed_s):.0f} s left"

    def progress_line(self) -> str:
        reached = "  ".join(f"{axis} {n}/{total}" for axis, (n, total) in self.coverage.items())
        return (f"fuzz {self.target}: {self.elapsed_s:6.1f} s  examples {self.examples}  steps {self.steps}  "
                f"frames {self.frames} ({self.frames_per_s:.0f}/s)  {reached}")


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


def fuzz(model: FuzzModel, budget_s: float, seed: int = 0, corpus: CorpusDatabase | None = None,
         generate: bool = True, replay: bool = True, steps: int = 50, shrink_budget_s: float = 60.0,
         minimize_budget_s: float | None = None, progress: Callable[[FuzzResult], None] | None = None,
         progress_every_s: float = 2.0) -> FuzzResult:
    """Fuzz through `model` (opened already) for `budget_s`; stops at the first failure, shrunk."""
    corpus = corpus or CorpusDatabase(CORPUS_DIR, key=model.corpus_key)
    stats = Stats(deadline_s=time.monotonic() + budget_s)
    result = FuzzResult(model.kind)
    start = time.monotonic()
    frames0 = model.frames_sent()
    whole = getattr(model, "whole_frames_sent", None)  # optional: profiles that know their framing
    whole0 = whole() if whole is not None else 0
    last_print = [start]

    def update() -> None:
        result.examples, result.steps = stats.examples, stats.steps
        result.frames = model.frames_sent() - frames0
        result.whole_frames = whole() - whole0 if whole is not None else 0
        result.elapsed_s = time.monotonic() - start
        result.coverage = {axis: (len(stats.covered.get(axis, set()) & universe), len(universe))
                           for axis, universe in model.axes.items()}
        if stats.first_failure_s is not None and result.time_to_find_s is None:
            result.time_to_find_s = stats.first_failure_s - start

    def tick() -> None:
        if progress is not None and time.monotonic() - last_print[0] >= progress_every_s:
            last_print[0] = time.monotonic()
            update()
            progress(result)

    stats.on_step = tick
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
            try:
                with with_reporter(_budget_reporter(shrink_budget_s)):
                    model.run_chunk(stats, config, seed * 1_000_003 + chunk)
            except (Unsatisfiable, unittest.SkipTest):
                if generate:
                    raise
                break  # replay only: every corpus example passed (or there was none), nothing else to run
            except BaseException as exc:  # noqa: BLE001 - a fuzz failure, or a harness error to report
                if isinstance(exc, KeyboardInterrupt):
                    raise
                result.failure = exc
                break
            chunk += 1
            if not generate or stats.over:
                break
        update()
        failure = result.fuzz_failure
        if failure is not None and isinstance(model, Replayable):
            _minimize(model, failure, stats, result, minimize_budget_s if minimize_budget_s is not None else shrink_budget_s)
    finally:
        engine.MAX_SHRINKING_SECONDS = saved_shrink
        update()
    return result


def _budget_reporter(shrink_budget_s: float) -> Callable[[object], None]:
    """Hypothesis's reporter, with its "five minutes" shrink warning told as what it is: the budget ran out."""
    outer = current_reporter()

    def report(value: object) -> None:
        if isinstance(value, str) and value.startswith(SLOW_SHRINK):
            print(f"fuzz: hypothesis's shrink stopped at its budget ({shrink_budget_s:g} s, --shrink-budget); "
                  "delta debugging on a fresh device goes on from there", file=sys.stderr, flush=True)
        else:
            outer(value)
    return report


def _minimize(model: Replayable, failure: FuzzFailure, stats: Stats, result: FuzzResult, budget_s: float) -> None:
    """Delta-debug the shrunk example on fresh devices: the result keeps the smallest that fails the same way."""
    from bench.fuzz.shrink import ddmin, merge_adjacent

    steps = model.steps_of(failure)
    last: list[FuzzFailure] = []  # ddmin adopts every candidate that fails: the last one is the minimum

    def fails(candidate: list[Any]) -> bool:
        again = model.replay(candidate, stats)
        if again is not None and again.kind == failure.kind:
            last[:] = [again]
            return True
        return False

    t0 = time.monotonic()
    blamed = blamed_step(steps, failure.source)  # steps sent after the guilty one (pipelining) rarely matter
    if blamed < len(steps) - 1 and fails(steps[:blamed + 1]):
        steps_tried = steps[:blamed + 1]
    else:
        steps_tried = steps
    minimal = ddmin(steps_tried, fails, deadline_s=t0 + budget_s)
    merge = getattr(model, "merge", None)  # optional: a model that can join two steps into one it could send
    if merge is not None:
        minimal = merge_adjacent(minimal, merge, fails, deadline_s=t0 + budget_s)
    if not last and time.monotonic() < t0 + budget_s:  # no candidate failed: does the example itself, replayed?
        result.extra["reproduced"] = fails(steps)  # False: it needs the run's timing (pipelining, a clock)
    result.shrink_s = time.monotonic() - t0
    result.shrunk_from = len(steps)
    if len(minimal) < len(steps) and last:
        result.failure = cast(BaseException, last[0])  # every FuzzFailure class is also an exception
    elif len(steps) < len(failure.steps):
        failure.steps = list(steps)  # kept as hypothesis shrank it, less the steps that were never sent


def print_progress(result: FuzzResult) -> None:
    print(result.progress_line(), file=sys.stderr, flush=True)


def save_failure(result: FuzzResult, corpus: CorpusDatabase) -> int:
    """Commit the minimal example(s) of this run's failure to the corpus."""
    result.saved = corpus.commit() if result.failure is not None else 0
    return result.saved


__all__ = ["fuzz", "FuzzModel", "FuzzResult", "Replayable", "Stats", "find_failure", "given_chunk", "print_progress",
           "save_failure", "stateful_chunk", "CorpusDatabase"]
