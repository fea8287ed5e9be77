"""The recovery ladder's outcome text and which supply a bench file powers the DUT with."""

from __future__ import annotations

import pytest

from bench.config import PowerSpec
from bench.recovery import Outcome, Step
from bench.session import supply_of


def test_a_recovered_outcome_names_the_step_that_worked_and_the_time():
    outcome = Outcome("console silent", [Step("reconnect", False, 3.1, "no answer"), Step("power-cycle", True, 1.4, "ppk2")],
                      4.53)
    assert outcome.recovered and outcome.recovered_by is outcome.steps[1]
    assert outcome.summary() == "DUT hung; recovered by power-cycle (ppk2) in 4.5 s"
    assert "reconnect" in outcome.report() and "symptom: console silent" in outcome.report()


def test_an_unrecovered_outcome_lists_what_was_tried():
    outcome = Outcome("BLE link down", [Step("reconnect", False, 10.0, "connect timed out")], 10.0)
    assert not outcome.recovered
    assert outcome.summary() == "DUT hung; not recovered after 10.0 s (reconnect: connect timed out)"
    assert Outcome("x", [], 0.0).summary().endswith("(no recovery step available)")


@pytest.mark.parametrize("power, supply", [
    (None, "none"),
    (PowerSpec(kind="ppk2", resource="auto", mode="source"), "ppk2"),
    (PowerSpec(kind="ppk2", resource="auto", mode="ampere"), "none"),   # an ammeter does not power the DUT
    (PowerSpec(kind="visa", resource="auto"), "scpi"),
])
def test_the_supply_that_powers_the_dut(power, supply):
    assert supply_of(power) == supply
