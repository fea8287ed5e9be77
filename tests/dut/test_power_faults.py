"""Power suite: instrument faults break the test promptly ("instrument fault"), quality problems are flagged.

The fault switches are the reference bench's (``fault instrument ...`` on its console); the overflow
test uses the reference bench's SCPI analyzer on a fixed range. The last test checks the whole
chain (model → instrument protocol → driver → segmentation) against the model's exact means.
"""

from __future__ import annotations

import json
import time

import pytest

from bench.errors import InstrumentFault
from bench.power.capture import PowerRig

pytestmark = [pytest.mark.power, pytest.mark.reference, pytest.mark.serial]


@pytest.fixture(autouse=True)
def _reference_only(bench):
    if bench.config.reference is None:
        pytest.skip("needs the reference bench's instrument fault switches")


def _console(dut, command: str) -> str:
    return dut.require_console().command(command)


@pytest.mark.parametrize("fault", ["disconnect", "hang"])
def test_instrument_fault_breaks_the_test_promptly(dut, power, fault):
    arg = "disconnect 0.5" if fault == "disconnect" else "hang"
    t0 = time.monotonic()
    try:
        with pytest.raises(InstrumentFault) as info:
            power.record(2.0, lambda: _console(dut, f"fault instrument {arg}"), lead_s=0.2)
    finally:
        _console(dut, "fault instrument ok")
    elapsed_s = time.monotonic() - t0
    assert str(info.value).startswith("INSTRUMENT FAULT:")
    assert elapsed_s < 2.0 + 2 * power.timeout_s + 5.0, f"the fault took {elapsed_s:.1f} s to surface"
    rec = power.record(0.3, expect_state="connected_idle")   # the rig reopens the meter after the fault
    assert len(rec.trace) > 0


def test_lost_samples_are_flagged(dut, power):
    if power.kind != "ppk2":
        pytest.skip("sample loss is injected into the PPK2 stream only")
    rec = power.record(1.0, lambda: _console(dut, "fault instrument drop 3000"), lead_s=0.2,
                       expect_state="connected_idle")
    ctx = rec.context("connected_idle")
    # the 6-bit counter sees 3000 mod 64; the host clock finds the rest, give or take its start latency
    assert rec.lost_samples >= 2500 and ctx["complete"] is False, (rec.lost_samples, rec.notes)
    assert any("lost" in n for n in rec.notes)


def test_range_overflow_is_flagged(dut, bench, power_meter):
    # power_meter: a bench without a power instrument skips naming it (the analyzer below is the same one's)
    rig = PowerRig("visa", bench.endpoint("auto", "scpi"), range_a=1e-3, timeout_s=2.0,
                   console=lambda: dut.console)
    try:
        rec = rig.record(0.5, expect_state="connected_idle")
        rig.meter.set_range(None)   # one instrument, shared: leave it auto-ranging for the next client
    finally:
        rig.close()
    ctx = rec.context("connected_idle")
    assert ctx["overflow"] > 0 and ctx["mean_is_lower_bound"], "radio peaks above 1 mA were not flagged"
    assert any("above the range" in n for n in rec.notes)


def test_measured_means_match_the_reference_model(dut, power):
    rec = power.record(1.0, expect_state="connected_idle")
    tr = rec.trace
    seg = max((s for s in rec.segments if s.state == "connected_idle"), key=lambda s: s.i1 - s.i0)
    t0, t1 = tr.t0_s + seg.i0 / tr.sample_rate_hz, tr.t0_s + seg.i1 / tr.sample_rate_hz
    truth_a = json.loads(_console(dut, f"pm truth {t0:.6f} {t1:.6f}"))["connected_idle"]
    measured_a = rec.state("connected_idle").mean_a
    assert measured_a == pytest.approx(truth_a, rel=0.03), (measured_a, truth_a)
