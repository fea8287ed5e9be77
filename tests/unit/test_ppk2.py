"""PPK2: numpy decode vs ppk2-api's own, and the wrapper against the pty simulator."""

import time

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from ppk2_api.ppk2_api import PPK2_API

from bench.instruments import InstrumentError, Ppk2Meter
from bench.instruments.ppk2_decode import Ppk2Decoder
from bench.reference.power_model import PowerTimeline
from bench.reference.ppk2_sim import Ppk2Simulator, encode, metadata_text


def make_api(vdd_mv: float = 3000) -> PPK2_API:
    class NoPort(PPK2_API):
        def __init__(self):
            self.ser = None
            import serial
            orig = serial.Serial
            serial.Serial = lambda *a, **k: type("S", (), {"baudrate": 0, "close": lambda s: None})()
            try:
                super().__init__("none")
            finally:
                serial.Serial = orig
    api = NoPort()
    api._parse_metadata(metadata_text())
    api.current_vdd = vdd_mv
    return api


def words(raw, rng, counter, logic) -> bytes:
    w = (np.asarray(raw, np.uint32) | (np.asarray(rng, np.uint32) << 14) | ((np.asarray(counter, np.uint32) & 63) << 18)
         | (np.asarray(logic, np.uint32) << 24))
    return w.astype("<u4").tobytes()


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 0x3FFF), st.integers(0, 4), st.integers(0, 255)), min_size=1, max_size=300),
       st.integers(1, 7))
def test_decode_equals_ppk2_api_without_range_switches_any_chunking(samples, cut):
    raw, _, logic = map(np.array, zip(*samples))
    rng = np.full(raw.size, samples[0][1])
    data = words(raw, rng, np.arange(raw.size), logic)
    api = make_api()
    ref_ua, ref_bits = api.get_samples(data)
    dec = Ppk2Decoder(api.modifiers, 3000, spike_filter=True)
    parts = [dec.feed(data[i:i + cut * 3]) for i in range(0, len(data), cut * 3)]  # splits words too
    current = np.concatenate([p.current_a for p in parts])
    assert np.allclose(current * 1e6, ref_ua, rtol=1e-9, atol=1e-9)
    assert np.concatenate([p.logic for p in parts]).tolist() == list(ref_bits)


def test_spike_filter_matches_ppk2_api_across_range_switches():
    rng = np.repeat([0, 1, 2, 1, 3, 0, 2], 40)
    raw = np.random.default_rng(1).integers(100, 16000, rng.size)
    data = words(raw, rng, np.arange(rng.size), 0)
    ref_ua, _ = make_api().get_samples(data)
    dec = Ppk2Decoder(make_api().modifiers, 3000, spike_filter=True)
    out = np.concatenate([dec.feed(data[:333]).current_a, dec.feed(data[333:]).current_a])
    assert np.allclose(out * 1e6, ref_ua, rtol=1e-9)


def test_counter_gaps_count_lost_samples_and_shift_time():
    counter = np.r_[np.arange(0, 100), np.arange(110, 200)]
    dec = Ppk2Decoder(make_api().modifiers, 3000)
    d = dec.feed(words(np.full(counter.size, 500), np.zeros(counter.size), counter, 0))
    assert d.lost == 10
    assert d.index[100] == 110


def test_full_scale_is_flagged_as_overflow():
    dec = Ppk2Decoder(make_api().modifiers, 3000)
    d = dec.feed(words([100, 0x3FFF], [4, 4], [0, 1], 0))
    assert d.overflow.tolist() == [False, True]


@pytest.fixture
def sim():
    tl = PowerTimeline("nrf52840dk", "audio", seed=5, synth_connection_interval_s=0.03)
    s = Ppk2Simulator(tl)
    s.start()
    yield tl, s
    s.stop()


def test_meter_streams_states_as_logic_markers(sim):
    tl, s = sim
    meter = Ppk2Meter(s.path, mode="source", voltage_v=3.0)
    assert "PPK2" in meter.identity and s.source_mv == 3000 and s.mode == 2
    meter.output(True)
    meter.start_capture()
    tl.enter("audio_streaming")
    deadline = time.monotonic() + 5
    caps = []
    while sum(map(len, caps)) < 30_000 and time.monotonic() < deadline:
        caps.append(meter.read_samples())
        time.sleep(0.02)   # the consumer's own pace; the reader thread keeps draining
    caps.append(meter.stop_capture())
    markers = np.concatenate([c.markers for c in caps])
    current = np.concatenate([c.current_a for c in caps])
    assert sum(c.lost_samples for c in caps) == 0
    assert set(np.unique(markers)) <= {1, 4}
    assert 4 in markers
    assert current[markers == 4].mean() == pytest.approx(1.9e-3, rel=0.05)
    meter.close()


def test_lost_samples_are_reported(sim):
    _, s = sim
    meter = Ppk2Meter(s.path)
    meter.start_capture()
    got = 0
    deadline = time.monotonic() + 5
    while got < 2000 and time.monotonic() < deadline:
        got += len(meter.read_samples())
    dropped_before = s.dropped_samples
    s.skip_samples(40)          # under one counter wrap: seen exactly
    time.sleep(0.05)
    cap = meter.stop_capture()
    # at least what the device dropped (the 40 skipped, plus any queue overflow on a starved machine);
    # more when the simulator thread itself is starved and falls behind the wall clock, which the
    # clock check rightly reports as samples that never came (a real PPK2 keeps its own clock)
    assert cap.lost_samples >= s.dropped_samples - dropped_before >= 40 and not cap.complete
    meter.start_capture()
    s.skip_samples(64 * 50)     # a multiple of the wrap: invisible to the counter, caught by the clock
    time.sleep(0.1)
    cap = meter.stop_capture()
    assert cap.lost_samples >= 64 * 50 - 1000 and any("expected from the clock" in n for n in cap.notes)
    meter.close()


def test_unplugged_ppk2_raises_instrument_error(sim):
    _, s = sim
    meter = Ppk2Meter(s.path)
    meter.start_capture()
    s.disconnect()
    with pytest.raises(InstrumentError):
        for _ in range(50):
            meter.read_samples()
            time.sleep(0.02)
    meter.close()


def test_metadata_timeout_is_instrument_error(tmp_path):
    import os
    import tty
    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        with pytest.raises(InstrumentError, match="metadata"):
            Ppk2Meter(os.ttyname(slave), timeout_s=0.3)
    finally:
        os.close(master)
        os.close(slave)


def test_rejects_rates_the_ppk2_does_not_have(sim):
    meter = Ppk2Meter(sim[1].path)
    with pytest.raises(ValueError, match="100000"):
        meter.start_capture(1000)
    meter.close()
