"""`bench fuzz`: fuzz a DUT's protocol for a time budget; on failure print the minimal example and exit 1.

The DUT's ``fuzz`` capability (its profile's fuzz model) does the protocol; bench/fuzz/runner.py the rest,
so the same command fuzzes GLP, Omi or a product repo's own profile."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Iterable

FUZZ_BENCH = "fuzz.yaml"  # in the project's benches folder, else glassbench's own
DEFAULT_REPLY_TIMEOUT_S = 2.0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--target", default="ble", help="link to fuzz: ble, or serial where the profile has it (default ble)")
    p.add_argument("--budget", type=float, default=60.0, metavar="SECONDS", help="time budget (default 60)")
    p.add_argument("--seed", type=int, default=0, help="seed for example generation (default 0)")
    p.add_argument("--bench", default=None, help="bench YAML (default: fixtures/benches/fuzz.yaml, the reference "
                                                 "bench with a short supervision timeout)")
    p.add_argument("--bug", action="append", default=[], metavar="NAME",
                   help="reference bench only: switch on a seeded bug (see `bench reference --list-bugs`)")
    p.add_argument("--corpus", default=None, help="corpus folder (default fixtures/corpus: hypothesis example database)")
    p.add_argument("--no-save", action="store_true", help="do not add the failure to the corpus")
    p.add_argument("--replay-only", action="store_true", help="replay the corpus, generate nothing")
    p.add_argument("--replay", default=None, metavar="FILE",
                   help="run only the steps saved in FILE (written on failure: <out>/fuzz-minimal-<target>.json) "
                        "on a fresh device, one step at a time; exit 1 if they still fail")
    p.add_argument("--steps", type=int, default=50, help="max steps per example (default 50)")
    p.add_argument("--shrink-budget", type=float, default=60.0, metavar="SECONDS", help="cap on shrinking")
    p.add_argument("--reply-timeout", type=float, default=DEFAULT_REPLY_TIMEOUT_S, metavar="SECONDS",
                   help="no answer for this long = hang (default 2)")
    p.add_argument("--serial-port", default=None, help="protocol serial port for --target serial (default: the reference bench's)")
    p.add_argument("--alluredir", default=None, help="write the failure as an Allure result here")
    p.add_argument("--out", default="out", help="output folder (console log, reference bench log)")


def fuzz_main(args: argparse.Namespace) -> int:
    from bench.config import load_bench, with_bugs
    from bench.fuzz.allure_result import FuzzEvidence, corpus_files, write_result
    from bench.fuzz.corpus import CORPUS_DIR, CorpusDatabase
    from bench.fuzz.runner import FuzzResult, fuzz, print_progress, save_failure
    from bench.progress import progress
    from bench.session import BenchSession

    if args.replay and not Path(args.replay).is_file():
        print(f"bench fuzz --replay: no such file {args.replay}", file=sys.stderr)
        return 2
    if args.budget <= 0 or args.steps < 1 or args.shrink_budget < 0 or args.reply_timeout <= 0:
        print("bench fuzz: --budget and --reply-timeout must be > 0, --steps >= 1, --shrink-budget >= 0", file=sys.stderr)
        return 2
    config = load_bench(args.bench or FUZZ_BENCH)
    if args.bug:
        if config.reference is None:
            print("--bug needs a reference bench", file=sys.stderr)
            return 2
        config = with_bugs(config, args.bug)
    with BenchSession(config, args.out) as session:
        dut = session.dut
        fuzzer = dut.get("fuzz")
        if fuzzer is None:
            print(f"bench fuzz: {dut.missing('fuzz')}", file=sys.stderr)
            return 2
        if args.target not in fuzzer.kinds:
            print(f"bench fuzz: the DUT's fuzz target has no {args.target!r} link (it has {', '.join(fuzzer.kinds)}; "
                  f"profile {dut.profile.name})", file=sys.stderr)
            return 2
        model = fuzzer.open(session, args.target, args.reply_timeout, args.serial_port)
        corpus = CorpusDatabase(Path(args.corpus) if args.corpus else CORPUS_DIR, key=model.corpus_key)
        if args.replay:
            try:
                return _replay(model, Path(args.replay))
            finally:
                model.close()
        def report(r: FuzzResult) -> None:  # a rich bar on a terminal, a line every 2 s in a log
            bar.update(r.elapsed_s, r.progress_detail(args.budget))
            if not bar.shown:
                print_progress(r)
        try:
            with progress(f"fuzz {args.target}", total=args.budget, unit="s") as bar:
                result = fuzz(model, args.budget, args.seed, corpus, generate=not args.replay_only,
                              steps=args.steps, shrink_budget_s=args.shrink_budget, progress=report)
        finally:
            model.close()
    print_progress(result)
    if result.failure is None:
        print(f"no failure in {result.elapsed_s:.1f} s ({result.examples} examples, {result.frames} frames)")
        return 0
    failure = result.fuzz_failure
    if failure is None:
        print(f"fuzzing stopped by an error that is not a DUT failure: {result.failure!r}", file=sys.stderr)
        raise result.failure
    print(failure.report())
    if result.shrunk_from is not None:
        print(f"\ndelta debugging: {result.shrunk_from} -> {len(failure.steps)} steps in {result.shrink_s:.1f} s")
        if result.extra.get("reproduced") is False:
            print("the example did not fail again when replayed on a fresh device with pipelining off: it needs "
                  "the timing of the run (pipelined writes, the device's clock); it is kept as hypothesis shrank it")
    if result.time_to_find_s is not None:
        print(f"found after {result.time_to_find_s:.1f} s")
    evidence, new_values = None, corpus.failures()  # the shrunk example(s) hypothesis kept, not yet committed
    if not args.no_save and not args.replay_only:
        n = save_failure(result, corpus)
        print(f"saved {n} example(s) to {corpus.path}")
    dump = getattr(model, "dump_steps", None)
    if dump is not None:
        path = dump(failure.steps, Path(args.out) / f"fuzz-minimal-{args.target}.json")
        line = replay_command(args.target, path, args.bench, args.bug, args.reply_timeout)
        print(f"replay: {line}")
        evidence = FuzzEvidence(path, line, corpus_files(corpus.path, new_values) if result.saved else [])
    if args.alluredir:
        print(f"Allure result: {write_result(failure, Path(args.alluredir), evidence=evidence)}")
    return 1


def replay_command(target: str, steps_file: Path, bench: str | None = None, bugs: Iterable[str] = (),
                   reply_timeout_s: float = DEFAULT_REPLY_TIMEOUT_S) -> str:
    """The one line that reruns a saved minimal example against the same bench, link and bugs."""
    parts = ["bench fuzz", f"--target {target}"]
    parts += [f"--bench {shlex.quote(str(bench))}"] if bench else []
    parts += [f"--bug {shlex.quote(b)}" for b in bugs]
    parts += [f"--reply-timeout {reply_timeout_s:g}"] if reply_timeout_s != DEFAULT_REPLY_TIMEOUT_S else []
    return " ".join(parts + [f"--replay {shlex.quote(str(steps_file))}"])


def _replay(model: object, path: Path) -> int:
    from bench.fuzz.runner import Replayable, Stats

    load = getattr(model, "load_steps", None)
    if not isinstance(model, Replayable) or load is None:
        print("bench fuzz --replay: this profile's fuzz model cannot replay saved steps", file=sys.stderr)
        return 2
    from bench.errors import BenchError

    try:
        steps = load(path)
    except BenchError as exc:
        print(f"bench fuzz --replay: {exc}", file=sys.stderr)
        return 2
    failure = model.replay(steps, Stats())
    if failure is None:
        print(f"replay of {len(steps)} steps from {path}: no failure")
        return 0
    print(failure.report())
    return 1
