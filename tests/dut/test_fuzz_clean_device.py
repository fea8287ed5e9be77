"""A time-boxed fuzz run against the DUT: no input sequence may crash it, hang it or get a wrong reply."""

from __future__ import annotations

import os

import pytest

from bench.fuzz.fixtures import raise_failure, run_fuzz

pytestmark = [pytest.mark.fuzz, pytest.mark.ble]

DEFAULT_BUDGET_S = float(os.environ.get("GLASSBENCH_FUZZ_BUDGET_S", "20"))


def test_fuzz_ble_time_boxed(bench, measure, plan):
    """The budget is the plan's ``fuzz.time_budget_s`` (else $GLASSBENCH_FUZZ_BUDGET_S, else 20 s)."""
    fuzz = plan.parameters.fuzz if plan is not None else None
    budget_s = fuzz.time_budget_s if fuzz is not None and fuzz.time_budget_s else DEFAULT_BUDGET_S
    result = run_fuzz(bench, "ble", budget_s, replay_only=False)
    measure("fuzz_examples", result.examples, "examples")
    measure("fuzz_frames_per_s", result.frames_per_s, "frames/s")
    raise_failure(result)
    assert result.examples > 0 and result.types_covered == result.types_total
