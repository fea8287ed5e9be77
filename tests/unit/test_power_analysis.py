"""Segmentation, per-state statistics, event charge and battery projection."""

from pathlib import Path

import numpy as np
import pytest

from bench.instruments.base import Capture
from bench.power.analysis import Trace, charge_per_event, segment, segments_by_level, segments_from_events, segments_from_markers, state_stats
from bench.power.battery import load_profile, project_battery_life
from bench.reference.power_model import PowerTimeline
from bench.reference.power_profiles import STATES

PROFILES = Path(__file__).resolve().parents[2] / "fixtures" / "power_profiles"


def model_trace(rate=100_000, dur=6.0):
    tl = PowerTimeline("nrf52840dk", "camera", seed=11, t0_s=0.0, synth_connection_interval_s=0.03)
    for t, s in [(1.0, "advertising"), (2.0, "connected_idle"), (3.0, "audio_streaming"), (4.0, "camera_capture"),
                 (5.0, "sleep")]:
        tl.enter(s, t)
    current, markers = tl.render(0.0, int(dur * rate), rate)
    return tl, Trace(current.astype(np.float32), 0.0, rate, markers)


def test_marker_segmentation_recovers_model_means_and_charge():
    tl, trace = model_trace()
    stats = state_stats(trace, segments_from_markers(trace, STATES), chunk_samples=4096)
    truth = tl.truth_means(0.0, 6.0)
    for state, mean in truth.items():
        assert stats[state].mean_a == pytest.approx(mean, rel=0.01), state
    assert stats["sleep"].duration_s == pytest.approx(2.0, rel=1e-3)
    cam = trace.current_a[trace.markers == 5].astype(np.float64)
    assert stats["camera_capture"].peak_a == pytest.approx(cam.max(), rel=1e-6)
    assert stats["camera_capture"].p99_a == pytest.approx(np.percentile(cam, 99), rel=0.005)
    total = sum(s.charge_c for s in stats.values())
    assert total == pytest.approx(tl.charge_at(np.array([0.0, 6.0]))[-1], rel=0.005)


def test_event_segmentation_matches_marker_segmentation():
    _, trace = model_trace()
    by_markers = segments_from_markers(trace, STATES)
    events = [(s.i0 / trace.sample_rate_hz, s.state) for s in by_markers]
    assert segments_from_events(Trace(trace.current_a, 0.0, trace.sample_rate_hz), events) == by_markers


def test_level_fallback_finds_the_steps():
    x = np.concatenate([np.full(100_000, 3e-6), np.full(100_000, 2e-3), np.full(100_000, 3e-6),
                        np.full(100_000, 20e-3)])
    x += np.random.default_rng(0).normal(0, 1e-7, x.size)
    segs = segment(Trace(x, 0.0, 100_000))
    assert [s.state for s in segs] == ["level_0", "level_1", "level_0", "level_2"]
    assert [s.i0 for s in segs] == [0, 100_000, 200_000, 300_000]
    assert segments_by_level(Trace(np.full(50_000, 1e-3), 0.0, 100_000))[0].state == "level_0"


def test_memmap_trace_gives_the_same_numbers(tmp_path):
    _, trace = model_trace(dur=3.0)
    trace.current_a.astype("<f4").tofile(tmp_path / "i.f32")
    np.asarray(trace.markers).tofile(tmp_path / "m.u8")
    mm = Trace.open_memmap(tmp_path / "i.f32", 0.0, 100_000, markers_path=tmp_path / "m.u8")
    a = state_stats(trace, segments_from_markers(trace, STATES))
    b = state_stats(mm, segments_from_markers(mm, STATES), chunk_samples=10_000)
    assert {k: v.mean_a for k, v in a.items()} == pytest.approx({k: v.mean_a for k, v in b.items()}, rel=1e-9)


def test_captures_with_lost_samples_keep_time_and_report_the_loss():
    t = np.arange(10) / 1000.0
    caps = [Capture(t[:4], np.ones(4), 1000.0, markers=np.ones(4, np.uint8)),
            Capture(t[7:], np.ones(3), 1000.0, lost_samples=3, markers=np.ones(3, np.uint8))]
    trace = Trace.from_captures(caps)
    assert len(trace) == 10 and trace.lost_samples == 3
    stats = state_stats(trace, segments_from_markers(trace))
    assert stats["state_1"].samples == 7 and stats["state_1"].lost_samples == 3


def test_charge_per_event_above_baseline():
    x = np.full(10_000, 1e-6)
    x[1000:1040] += 5e-3
    trace = Trace(x, 10.0, 100_000)
    q = charge_per_event(trace, [10.0 + 1000 / 100_000, 99.0], window_s=0.001, baseline_a=1e-6)
    assert q[0] == pytest.approx(40 * 5e-3 / 100_000)
    assert np.isnan(q[1])


def test_battery_projection_from_profile():
    profile = load_profile(PROFILES / "standby.yaml")
    proj = project_battery_life({"sleep": 3e-6, "advertising": 100e-6, "connected_idle": 40e-6}, profile)
    mean = 0.9 * 3e-6 + 0.02 * 100e-6 + 0.08 * 40e-6
    assert proj.mean_current_a == pytest.approx(mean)
    assert proj.life_h == pytest.approx(263 * 3.6 / mean / 3600)


def test_profile_errors_name_file_and_problem(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("states: {sleep: 0.5, connected_idle: 0.3}\n")
    with pytest.raises(ValueError, match=r"bad.yaml.*sum to 1"):
        load_profile(bad)
    with pytest.raises(ValueError, match="audio_streaming"):
        project_battery_life({"sleep": 1e-6}, load_profile(PROFILES / "audio_heavy.yaml"))


def test_undeclared_and_masked_marker_values_never_crash():
    """Values ≥ len(names) used to raise IndexError; unwired inputs are masked away."""
    current = np.full(600, 1e-3, dtype=np.float32)
    markers = np.array([3] * 200 + [0x83] * 200 + [9] * 200, dtype=np.uint8)   # D7 floating high mid-run
    trace = Trace(current, 0.0, 1000.0, markers)
    segs = segments_from_markers(trace, STATES)
    assert [(s.state, s.i0, s.i1) for s in segs] == [("connected_idle", 0, 200), ("undeclared_marker_0x83", 200, 400),
                                                     ("undeclared_marker_0x09", 400, 600)]
    masked = segments_from_markers(trace, {3: "connected_idle"}, mask=0x07, chunk_samples=128)
    assert [(s.state, s.i0, s.i1) for s in masked] == [("connected_idle", 0, 400), ("undeclared_marker_0x01", 400, 600)]
    assert set(state_stats(trace, masked)) == {"connected_idle", "undeclared_marker_0x01"}
