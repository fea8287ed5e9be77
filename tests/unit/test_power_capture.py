"""PowerRig against the simulated PPK2, segmentation fallbacks, the report table and the evidence files."""

import io
import time

import numpy as np
import pytest

from bench.dut.console import parse_line
from bench.errors import InstrumentFault
from bench.instruments import Capture
from bench.power.capture import PowerRig, console_state_events
from bench.power.plot import samples_npz, trace_png
from bench.power.report import format_power_table, power_table
from bench.power.states import STATES
from bench.reference.power_model import PowerTimeline
from bench.reference.ppk2_sim import Ppk2Simulator


@pytest.fixture
def ppk2():
    timeline = PowerTimeline("nrf52840dk", "camera", seed=4, synth_connection_interval_s=0.0075, empty_pdu_s=44e-6)
    timeline.enter("connected_idle")
    sim = Ppk2Simulator(timeline)
    yield timeline, sim, sim.start()
    sim.stop()


def test_ppk2_markers_segment_the_states_the_model_went_through(ppk2):
    timeline, _sim, path = ppk2
    rig = PowerRig("ppk2", path, supply_voltage_v=3.0, timeout_s=2.0, markers=dict(enumerate(STATES)))
    try:
        rec = rig.record(0.6, lambda: timeline.enter("audio_streaming"), lead_s=0.25)
    finally:
        rig.close()
    assert rec.segmentation == "markers" and rec.lost_samples == 0
    assert [s.state for s in rec.segments] == ["connected_idle", "audio_streaming"]
    seg = rec.segments[1]
    t0 = rec.trace.t0_s + seg.i0 / rec.trace.sample_rate_hz
    t1 = rec.trace.t0_s + seg.i1 / rec.trace.sample_rate_hz
    truth_a = timeline.truth_means(t0, t1)["audio_streaming"]
    assert rec.state("audio_streaming").mean_a == pytest.approx(truth_a, rel=0.02)
    assert rec.context("audio_streaming")["complete"] is True


def test_undeclared_logic_inputs_are_not_taken_as_states(ppk2):
    """No markers in the bench file: the PPK2's inputs are ignored and the action cuts the trace."""
    timeline, _sim, path = ppk2
    rig = PowerRig("ppk2", path, supply_voltage_v=3.0, timeout_s=2.0)
    try:
        rec = rig.record(0.5, lambda: timeline.enter("audio_streaming"), lead_s=0.2, expect_state="audio_streaming")
    finally:
        rig.close()
    assert rec.trace.markers is not None and rec.segmentation == "action"
    assert [s.state for s in rec.segments] == ["before", "audio_streaming"]


def test_over_voltage_is_refused_before_the_meter_is_opened():
    with pytest.raises(ValueError, match="refusing to source 3.7 V"):
        PowerRig("ppk2", "/dev/does-not-exist", supply_voltage_v=3.7, max_voltage_v=3.6)
    with pytest.raises(ValueError, match="refusing"):
        PowerRig("visa", "TCPIP0::127.0.0.1::1::SOCKET", supply_voltage_v=3.7, max_voltage_v=3.6)
    PowerRig("ppk2", "/dev/does-not-exist", supply_voltage_v=3.7, mode="ampere", max_voltage_v=3.6)  # not sourced
    PowerRig("ppk2", "/dev/does-not-exist", supply_voltage_v=3.7, max_voltage_v=None)   # allow_over_voltage


def test_unplugged_ppk2_is_an_instrument_fault_not_a_hang(ppk2):
    _timeline, sim, path = ppk2
    rig = PowerRig("ppk2", path, supply_voltage_v=3.0, timeout_s=1.0)
    t0 = time.monotonic()
    with pytest.raises(InstrumentFault, match="^INSTRUMENT FAULT: ppk2 meter"):
        rig.record(3.0, sim.disconnect, lead_s=0.1)
    assert time.monotonic() - t0 < 3.0 + 5.0


def _capture(n: int, t0_s: float = 100.0, overflow_at: int | None = None) -> Capture:
    current = np.full(n, 1e-3)
    overflow = np.zeros(n, dtype=bool)
    if overflow_at is not None:
        overflow[overflow_at] = True
    return Capture(t_s=t0_s + np.arange(n) / 1000, current_a=current, sample_rate_hz=1000, overflow=overflow)


def test_console_lines_are_markers_without_logic_inputs():
    records = [parse_line("[00:00:01.000,000] <inf> pm: state connected_idle", 99.0),
               parse_line("[00:00:01.500,000] <inf> ble: Connected", 99.9),
               parse_line("[00:00:02.000,000] <inf> pm: state audio_streaming", 100.4),
               parse_line("[00:00:02.100,000] <inf> pm: state dancing", 100.5)]
    assert console_state_events(records) == [(99.0, "connected_idle"), (100.4, "audio_streaming")]
    console = type("C", (), {"records": records})()
    rig = PowerRig("visa", "none", console=lambda: console)
    rec = rig.recording([_capture(1000, overflow_at=700)], None, None, 0.0)
    assert rec.segmentation == "console"
    assert [(s.state, s.i0, s.i1) for s in rec.segments] == [("connected_idle", 0, 400), ("audio_streaming", 400, 1000)]
    assert rec.overflow_in("audio_streaming") == 1 and rec.context("audio_streaming")["mean_is_lower_bound"]
    with pytest.raises(AssertionError, match="never in state 'sleep'"):
        rec.state("sleep")


def test_without_any_marker_the_action_cuts_the_trace():
    rig = PowerRig("visa", "none")
    rec = rig.recording([_capture(1000)], (100.2, 100.3), "audio_streaming", 0.05)
    assert rec.segmentation == "action"
    assert [(s.state, s.i0, s.i1) for s in rec.segments] == [("before", 0, 200), ("audio_streaming", 350, 1000)]
    with pytest.raises(ValueError, match="expect_state"):
        rig.recording([_capture(10)], (100.0, 100.001), None, 0.0)


def test_power_table_rows_and_projection():
    records = [
        {"name": "sleep_current_a", "value": 2.5e-6, "verdict": "pass", "test": "t1"},
        {"name": "streaming_current_a[pcm]", "value": 3e-3, "verdict": "pass", "test": "t2"},
        {"name": "streaming_current_a[lc3]", "value": 2e-3, "verdict": "pass", "test": "t3"},
        {"name": "battery_life_h", "value": 100.0, "verdict": "pass", "test": "t4", "profile": "p", "battery_mah": 263,
         "mean_current_a": 2.63e-3, "shares": {"sleep": 0.5, "audio_streaming": 0.3, "display_tts": 0.2},
         "state_currents_a": {"sleep": 2.4e-6, "audio_streaming": 2.1e-3, "display_tts": 12e-3}},
    ]
    rows = power_table(records)
    assert [r["state"] for r in rows] == ["sleep", "audio_streaming", "display_tts", "battery life"]
    assert rows[1]["variant"] == "lc3" and rows[1]["current_a"] == 2e-3
    assert rows[2]["contribution_a"] == pytest.approx(0.2 * 12e-3)
    assert rows[-1]["life_h"] == 100.0
    text = format_power_table(rows)
    assert "battery life: 100.0 h" in text and "2.5 µA" in text


def test_evidence_png_and_npz():
    rig = PowerRig("visa", "none")
    rec = rig.recording([_capture(5000, overflow_at=10)], (101.0, 101.1), "audio_streaming", 0.0)
    png = trace_png(rec, "unit")
    assert png.startswith(b"\x89PNG")
    data = np.load(io.BytesIO(samples_npz(rec)))
    assert data["current_a"].dtype == np.float32 and data["current_a"].size == 5000
    assert list(data["segment_state"]) == ["before", "audio_streaming"] and data["overflow"].sum() == 1
