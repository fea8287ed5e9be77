"""SoundDeviceRig against a fake PortAudio (sounddevice is not installed here, nor is a device)."""
import sys
import threading
import time
import types

import numpy as np
import pytest

from bench.audio.latency import LinearTimeline, trial_latency
from bench.audio.signals import log_sweep

HIDDEN_DELAY = 157  # samples of converter latency the fake interface does not report
BLOCK = 256


class FakeStream:
    """A full-duplex 'interface' whose output is wired to its input through HIDDEN_DELAY samples."""

    def __init__(self, device, samplerate, channels, dtype, callback):
        self.fs, self.cb = samplerate, callback
        self._stop = threading.Event()
        self._line = np.zeros(HIDDEN_DELAY + BLOCK, dtype=np.float32)

    @property
    def time(self):
        return time.monotonic() + 1000.0  # a different clock than CLOCK_MONOTONIC

    def start(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        t0, k = self.time, 0
        while not self._stop.is_set():
            due = t0 + (k + 1) * BLOCK / self.fs  # hardware clock: a block each BLOCK/fs
            while self.time < due and not self._stop.is_set():
                time.sleep(0.001)
            stamp = t0 + k * BLOCK / self.fs
            info = types.SimpleNamespace(inputBufferAdcTime=stamp, outputBufferDacTime=stamp)
            out = np.zeros((BLOCK, 1), dtype=np.float32)
            indata = self._line[:BLOCK].reshape(-1, 1).copy()
            self.cb(indata, out, BLOCK, info, None)
            self._line = np.concatenate([self._line[BLOCK:], out[:, 0]])
            k += 1

    def stop(self):
        self._stop.set()
        self._thread.join(2)

    def close(self):
        pass


@pytest.fixture
def fake_sounddevice(monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", types.SimpleNamespace(Stream=FakeStream))


def test_import_without_sounddevice():
    import bench.audio.sounddevice_rig  # noqa: F401  (module import must not need the package)


def test_calibration_finds_the_hidden_latency(fake_sounddevice):
    from bench.audio.sounddevice_rig import SoundDeviceRig

    rig = SoundDeviceRig(sample_rate_hz=16000, ring_s=5.0)
    try:
        # the line is HIDDEN_DELAY long after BLOCK samples of input buffering
        offset = rig.calibrate(timeout_s=3.0)
        assert offset == pytest.approx((HIDDEN_DELAY + BLOCK) / 16000, abs=0.05 / 16000)
        stim = log_sweep(0.1, sample_rate_hz=16000)
        t0 = rig.inject(stim, time.monotonic() + 0.2)
        heard, c0 = rig.capture(t0 - 0.01, 0.2, timeout_s=2.0)
        # the window starts on a sample at or before start_s (float rounding may land on the boundary)
        assert -1e-9 <= t0 - 0.01 - c0 <= 1 / 16000 + 1e-9
        lat = trial_latency(stim, t0, heard, LinearTimeline(c0, 16000), 16000)
        assert lat.latency_s == pytest.approx(0.0, abs=0.05 / 16000)  # corrected: no delay in the loop
    finally:
        rig.close()
