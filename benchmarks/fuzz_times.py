"""Fuzz shrink time and corpus replay time against the reference bench. One JSON line.

    python benchmarks/fuzz_times.py     # FUZZ_SHRINK_BUG=bad-crc-accepted FUZZ_TIMES_KIND=ble|serial

- shrink_s: with one seeded bug on (default ``bad-crc-accepted``: the glasses accept a frame whose
  CRC is wrong), time from the first failure to the end of ``fuzz()`` — hypothesis' shrinking plus
  delta debugging on fresh devices — on this process's clock (the end) minus the runner's first-failure
  stamp. Truth for the outcome: that bug needs exactly one frame (one step), so the shrunk example
  must be 1 step long; a longer one misses even when fast. Target ≤ 20 s: a developer waits for it
  at the end of every failing run, and `bench fuzz` caps shrinking at 30 s by default.
- replay_s: replay only (``generate=False``) of the committed corpus (fixtures/corpus) on the clean
  device, on this process's clock; truth: the number of committed examples counted here from the
  corpus files must equal the examples the runner replayed. Target ≤ 1 s per example (a replay is
  a short session; CI replays the corpus on every run).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.config import load_bench  # noqa: E402
from bench.fuzz.cli import FUZZ_BENCH  # noqa: E402
from bench.fuzz.corpus import CORPUS_DIR, CorpusDatabase  # noqa: E402
from bench.fuzz.runner import fuzz  # noqa: E402
from bench.session import BenchSession  # noqa: E402

OUT = Path("out/benchmarks/fuzz-times")
TARGET_SHRINK_S, TARGET_REPLAY_S_PER_EXAMPLE = 20.0, 1.0


def session_for(bugs: list[str]) -> BenchSession:
    config = load_bench(os.environ.get("FUZZ_BENCH") or FUZZ_BENCH)
    assert config.reference is not None, "needs a reference bench"
    config.reference.bugs = bugs
    return BenchSession(config, OUT)


def main() -> int:
    kind = os.environ.get("FUZZ_TIMES_KIND", "ble")
    bug = os.environ.get("FUZZ_SHRINK_BUG", "bad-crc-accepted")
    budget_s = float(os.environ.get("FUZZ_TIMES_BUDGET_S", "120"))
    res: dict = {"benchmark": "fuzz_times", "kind": kind, "bug": bug}
    with tempfile.TemporaryDirectory() as tmp, session_for([bug]) as session:
        model = session.dut.need("fuzz").open(session, kind)
        try:
            t0 = time.monotonic()
            result = fuzz(model, budget_s, 0, CorpusDatabase(tmp, key=model.corpus_key, read_corpus=False),
                          shrink_budget_s=30)
            t_end = time.monotonic()
        finally:
            model.close()
    failure = result.fuzz_failure
    found = failure is not None and result.time_to_find_s is not None
    shrink_s = (t_end - t0 - result.time_to_find_s) if found else float("nan")   # type: ignore[operator]
    steps = len(failure.steps) if failure is not None else None
    res.update({"found": found, "time_to_find_s": round(result.time_to_find_s, 2) if found else None,
                "shrink_s": round(shrink_s, 2), "ddmin_s": round(result.shrink_s, 2),
                "shrunk_from_steps": result.shrunk_from, "steps_in_example": steps, "steps_truth": 1,
                "shrink_target_s": TARGET_SHRINK_S})
    corpus_dir = Path(os.fspath(CORPUS_DIR))   # the project's committed corpus
    with session_for([]) as session:
        model = session.dut.need("fuzz").open(session, kind)
        try:
            db = CorpusDatabase(corpus_dir, key=model.corpus_key)
            committed = len(db.committed())
            t0 = time.monotonic()
            replay = fuzz(model, 600, 0, db, generate=False, replay=True)
            replay_s = time.monotonic() - t0
        finally:
            model.close()
    res.update({"corpus_examples": committed, "replayed_examples": replay.examples, "replay_s": round(replay_s, 2),
                "replay_s_per_example": round(replay_s / max(committed, 1), 3),
                "replay_target_s_per_example": TARGET_REPLAY_S_PER_EXAMPLE, "replay_failure": repr(replay.failure)[:200]
                if replay.failure else None, "load_avg_1m": round(os.getloadavg()[0], 2)})
    checks = {"shrink_s": found and shrink_s <= TARGET_SHRINK_S and steps == 1,
              "replay_s": replay.failure is None and committed > 0 and replay.examples >= committed
              and replay_s / committed <= TARGET_REPLAY_S_PER_EXAMPLE}
    res["missed"] = [k for k, ok in checks.items() if not ok]
    res["ok"] = not res["missed"]
    print(json.dumps(res))
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
