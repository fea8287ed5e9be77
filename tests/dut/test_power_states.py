"""Power suite: mean current per device state, measured by the bench's meter and cut by state markers.

Each test drives the DUT (console, BLE, Glasses Link Protocol), records ~1 s and judges the state's
mean against the plan (test_plans/power.yaml when no --plan is given). The trace with its state bands
(PNG) and the samples (NPZ) are attached to the report.
"""

from __future__ import annotations

import pytest

from bench.power import drive

pytestmark = [pytest.mark.power, pytest.mark.ble]
WINDOW_S = 1.0


def _judge(power_measure, rec, name: str, state: str) -> None:
    st = rec.state(state)
    power_measure(name, st.mean_a, "A", **rec.context(state))


@pytest.mark.serial
def test_sleep_current(dut, power, power_measure, power_evidence):
    drive.to_sleep(dut)
    try:
        rec = power.record(WINDOW_S, expect_state="sleep")
    finally:
        drive.back_to_connected(dut)
    power_evidence(rec, "sleep")
    assert set(rec.stats()) == {"sleep"}, f"the DUT left sleep during the capture: {sorted(rec.stats())}"
    _judge(power_measure, rec, "sleep_current_a", "sleep")


@pytest.mark.serial
def test_advertising_current(dut, power, power_measure, power_evidence):
    drive.to_advertising(dut)
    try:
        rec = power.record(WINDOW_S, expect_state="advertising")
    finally:
        drive.back_to_connected(dut)
    power_evidence(rec, "advertising")
    st = rec.state("advertising")
    assert st.peak_a > 3 * st.mean_a, "no advertising events in the trace (the radio looks silent)"
    _judge(power_measure, rec, "advertising_current_a", "advertising")


def test_connected_idle_current(dut, power, power_measure, power_evidence):
    rec = power.record(WINDOW_S, expect_state="connected_idle")
    power_evidence(rec, "connected idle")
    _judge(power_measure, rec, "connected_idle_current_a", "connected_idle")


@pytest.mark.parametrize("codec", sorted(drive.CODECS))
def test_streaming_current(dut, power, power_measure, power_evidence, codec):
    drive.control(dut, "audio_streaming")
    if not drive.codec_supported(dut, codec):
        pytest.skip(f"the DUT does not stream {codec} (profile {dut.profile.name})")
    try:
        rec = power.record(WINDOW_S + 0.3, lambda: drive.uplink_start(dut, codec), lead_s=0.3,
                           expect_state="audio_streaming")
    finally:
        drive.uplink_stop(dut)
    power_evidence(rec, f"streaming {codec}")
    streaming = rec.state("audio_streaming")
    if "connected_idle" in rec.stats():   # the lead-in is the baseline: streaming must cost more
        assert streaming.mean_a > rec.state("connected_idle").mean_a, "streaming draws no more than idle"
    _judge(power_measure, rec, f"streaming_current_a[{codec}]", "audio_streaming")
