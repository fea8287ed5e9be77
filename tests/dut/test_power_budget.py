"""Power suite: charge per photo (camera SKU) and projected battery life for the plan's use profile."""

from __future__ import annotations

import pytest

from bench.power import drive
from bench.power.battery import project_battery_life

pytestmark = [pytest.mark.power, pytest.mark.ble]


@pytest.mark.camera
def test_photo_charge(dut, power, power_measure, power_evidence):
    drive.control(dut, "camera_capture")
    rec = power.record(1.0, lambda: drive.take_photo(dut), lead_s=0.25, expect_state="camera_capture")
    power_evidence(rec, "photo")
    camera = rec.state("camera_capture")
    baseline_a = rec.state("connected_idle").mean_a
    charge_c = camera.charge_c - baseline_a * camera.duration_s   # what the photo added on top of idle
    assert charge_c > 0, f"a photo added no charge ({camera.charge_c:.3g} C over {camera.duration_s:.2f} s)"
    power_measure("photo_charge_c", charge_c, "C", baseline_a=baseline_a, **rec.context("camera_capture"))


def _tour(dut, power, states: set[str]) -> dict[str, object]:
    """Visit every state the profile needs, one short capture each; returns state → recording."""
    recs: dict[str, object] = {}
    dwell_s = 0.5
    if "connected_idle" in states:
        recs["connected_idle"] = power.record(dwell_s, expect_state="connected_idle")
    if "audio_streaming" in states:
        codec = next(c for c in ("lc3", "opus", "pcm") if drive.codec_supported(dut, c))
        try:
            recs["audio_streaming"] = power.record(dwell_s, lambda: drive.uplink_start(dut, codec), lead_s=0.05,
                                                   expect_state="audio_streaming")
        finally:
            drive.uplink_stop(dut)
    if "display_tts" in states:
        recs["display_tts"] = power.record(dwell_s, lambda: drive.speak(dut), lead_s=0.05, expect_state="display_tts")
    if "camera_capture" in states:
        recs["camera_capture"] = power.record(dwell_s, lambda: drive.take_photo(dut), lead_s=0.05,
                                              expect_state="camera_capture")
    try:
        if "advertising" in states:
            drive.to_advertising(dut)
            recs["advertising"] = power.record(dwell_s, expect_state="advertising")
        if "sleep" in states:
            drive.to_sleep(dut)
            recs["sleep"] = power.record(dwell_s, expect_state="sleep")
    finally:
        drive.back_to_connected(dut)
    return recs


@pytest.mark.serial
def test_battery_life(dut, power, power_measure, power_evidence, usage_profile):
    needed = {s for s, share in usage_profile.states.items() if share > 0}
    pc = drive.control(dut)
    if needed - pc.states:
        pytest.skip(f"profile {usage_profile.name!r} needs states the DUT's power-state control cannot enter: "
                    f"{sorted(needed - pc.states)} (profile {dut.profile.name})")
    recs = _tour(dut, power, needed)
    missing = needed - set(recs)
    assert not missing, f"profile {usage_profile.name!r} needs states the tour cannot reach: {sorted(missing)}"
    means = {}
    for state, rec in recs.items():
        power_evidence(rec, state)
        means[state] = rec.state(state).mean_a
    life = project_battery_life(means, usage_profile)
    flags = {"lost_samples": sum(r.lost_samples for r in recs.values()),
             "overflow": sum(r.overflow_in(s) for s, r in recs.items())}
    power_measure("battery_life_h", life.life_h, "h", profile=usage_profile.name, battery_mah=usage_profile.battery_mah,
                  mean_current_a=life.mean_current_a, state_currents_a=means, shares=dict(usage_profile.states),
                  contribution_a=life.contribution_a, **flags)
