"""A time-boxed fuzz run against the DUT: no input sequence may crash it, hang it or get a wrong reply."""

from __future__ import annotations

import os

import pytest

from bench.fuzz.fixtures import raise_failure, run_fuzz

pytestmark = [pytest.mark.fuzz, pytest.mark.ble]

BUDGET_S = float(os.environ.get("GLASSBENCH_FUZZ_BUDGET_S", "20"))


def test_fuzz_ble_time_boxed(bench, measure):
    result = run_fuzz(bench, "ble", BUDGET_S, replay_only=False)
    measure("fuzz_examples", result.examples, "examples")
    measure("fuzz_frames_per_s", result.frames_per_s, "frames/s")
    raise_failure(result)
    assert result.examples > 0 and result.types_covered == result.types_total
