"""The reference glasses' power model: charge accounting, determinism, board/SKU profiles."""

import numpy as np
import pytest

from bench.reference.power_model import PowerTimeline
from bench.reference.power_profiles import BOARDS


def timeline(**kw) -> PowerTimeline:
    tl = PowerTimeline(kw.pop("board", "nrf52840dk"), kw.pop("sku", "audio"), seed=kw.pop("seed", 7), t0_s=0.0, **kw)
    return tl


def test_radio_event_adds_exactly_its_air_time_charge():
    tl = timeline()
    tl.enter("connected_idle", 1.0)
    base = tl.charge_at(np.array([1.0, 2.0]))[-1]
    tl.radio_event(1.5, tx_s=328e-6, rx_s=80e-6)
    p = BOARDS["nrf52840dk"]
    extra = 328e-6 * p.radio_tx_a + 80e-6 * p.radio_rx_a + p.radio_ramp_s * p.radio_ramp_a
    assert tl.charge_at(np.array([1.0, 2.0]))[-1] - base == pytest.approx(extra, rel=1e-9)


def test_samples_are_box_averages_so_their_charge_is_the_models():
    tl = timeline(synth_connection_interval_s=0.0075)
    tl.enter("audio_streaming", 0.5)
    x = tl.render(0.0, 100_000, 100_000, noise=False)[0]
    assert x.sum() / 100_000 == pytest.approx(tl.charge_at(np.array([0.0, 1.0]))[-1], rel=1e-9)


def test_same_seed_same_samples_however_the_window_is_cut():
    a, b = timeline(seed=1), timeline(seed=1)
    whole = a.samples(0.0, 0.2, 100_000)
    parts = np.concatenate([b.samples(0.0, 0.05, 100_000), b.samples(0.05, 0.2, 100_000)])
    assert np.allclose(whole, parts, rtol=1e-9, atol=1e-12)
    assert not np.allclose(whole, timeline(seed=2).samples(0.0, 0.2, 100_000))


def test_truth_means_follow_states_and_boards():
    nrf, esp = timeline(), timeline(board="esp32s3")
    for tl in (nrf, esp):
        tl.enter("audio_streaming", 1.0)
        tl.enter("sleep", 2.0)
    n, e = nrf.truth_means(0.0, 3.0), esp.truth_means(0.0, 3.0)
    assert n["sleep"] == pytest.approx(2.5e-6, rel=0.1)
    assert e["audio_streaming"] > 20 * n["audio_streaming"]


def test_advertising_events_synthesised_until_the_radio_reports_them():
    tl = timeline()
    tl.enter("advertising", 0.0)
    auto = tl.truth_means(0.0, 1.0)["advertising"]
    assert auto > 10 * 2.5e-6
    tl.advertising_event(0.5)
    assert tl.truth_means(0.0, 1.0)["advertising"] < auto / 5


def test_camera_needs_the_camera_sku_and_adds_bursts():
    with pytest.raises(ValueError, match="camera SKU"):
        timeline().enter("camera_capture", 1.0)
    tl = timeline(sku="camera")
    tl.enter("camera_capture", 1.0)
    x = tl.render(1.0, 100_000, 100_000, noise=False)[0]
    assert x.max() > 1.5 * np.median(x)


def test_state_ids_mark_each_sample():
    tl = timeline()
    tl.enter("display_tts", 0.5)
    _, states = tl.render(0.0, 1000, 1000)
    assert states[:500].tolist() == [1] * 500 and states[500:].tolist() == [6] * 500


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="known"):
        PowerTimeline("stm32", "audio")
    with pytest.raises(ValueError, match="known"):
        timeline().enter("dancing")


def _event_charge(tx_s: float, rx_s: float) -> float:
    p = BOARDS["nrf52840dk"]
    return tx_s * p.radio_tx_a + rx_s * p.radio_rx_a + p.radio_ramp_s * p.radio_ramp_a


def test_idle_connection_events_counted_once_per_slot():
    ci, empty = 0.0075, 44e-6
    tl = timeline(synth_connection_interval_s=ci, empty_pdu_s=empty)
    tl.connection_anchor(1.0)
    tl.enter("connected_idle", 0.99)
    window = np.array([1.0 - 1e-3, 1.0 + 40 * ci - 1e-3])   # slots 0..39 with their radio ramp-up
    idle = tl.charge_at(window)[-1]
    assert idle == pytest.approx(40 * _event_charge(empty, empty) + 40 * ci * 2.5e-6, rel=1e-6)
    tl.radio_event(1.0 + 7 * ci, tx_s=400e-6, rx_s=44e-6)    # slot 7 carried data: it replaces the empty one
    with_data = tl.charge_at(window)[-1]
    assert with_data - idle == pytest.approx(_event_charge(400e-6, 44e-6) - _event_charge(empty, empty), rel=1e-6)


def test_reported_event_off_the_grid_moves_the_anchor():
    ci = 0.03
    tl = timeline(synth_connection_interval_s=ci)
    tl.enter("connected_idle", 0.0)
    tl.radio_event(0.5123, tx_s=80e-6, rx_s=80e-6)
    x = tl.render(0.4, 20_000, 100_000, noise=False)[0]   # 0.4 .. 0.6 s
    peaks = 0.4 + np.flatnonzero(x > 1e-3) / 100_000
    slots = (peaks - 0.5123) / ci
    assert np.allclose(slots, np.round(slots), atol=0.02)


def test_radio_events_are_bounded_and_old_windows_fail_clearly():
    tl = PowerTimeline("nrf52840dk", "audio", seed=1, t0_s=0.0, history_s=60.0)
    tl.enter("connected_idle", 0.0)
    for k in range(40_000):                      # 300 s of 7.5 ms connection events
        tl.radio_event(0.001 + k * 0.0075, 1e-4, 1e-4)
    assert len(tl._radio) <= 60 / 0.0075 + 4096 + 1
    recent = tl.truth_means(290.0, 299.0)["connected_idle"]
    assert recent > tl.profile.state_a["connected_idle"]          # the recent events still count
    with pytest.raises(ValueError, match="history_s=60 s were dropped"):
        tl.truth_means(10.0, 20.0)
