"""An ``AudioRig`` on a real audio interface (python-sounddevice / PortAudio), for lab benches.

Wiring: output ``out_channel`` drives the mouth simulator (speaker in front of the glasses' mic);
input ``mic_channel`` is the measurement mic in front of the glasses' speaker. PortAudio stamps each
callback buffer with ADC/DAC times on its stream clock; we map that clock to CLOCK_MONOTONIC once
at start. ``calibrate()`` measures what those stamps get wrong (converter and driver latency the
interface does not report) through a loopback, and every later capture is corrected by it.
``sounddevice`` is imported only when a rig is opened, so the harness imports without it.
"""
from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from bench.audio.latency import LinearTimeline, trial_latency
from bench.audio.signals import log_sweep


class SoundDeviceRig:
    """Full-duplex stream; plays scheduled stimuli, records the measurement mic into a ring buffer."""

    def __init__(self, device: Any = None, sample_rate_hz: int = 48000, out_channel: int = 0,
                 mic_channel: int = 0, channels: tuple[int, int] = (1, 1), ring_s: float = 30.0,
                 loopback_offset_s: float = 0.0) -> None:
        try:
            import sounddevice
        except ImportError as exc:  # the harness itself never needs it
            raise RuntimeError("SoundDeviceRig needs the 'sounddevice' package (pip install "
                               "'glassbench[hardware]') and a PortAudio device") from exc
        self.sample_rate_hz = int(sample_rate_hz)
        self.out_channel, self.mic_channel = out_channel, mic_channel
        self.loopback_offset_s = loopback_offset_s  # set by calibrate()
        self._ring = np.zeros(int(ring_s * sample_rate_hz), dtype=np.float32)
        self._written = 0  # total input samples recorded
        self._adc0_s = float("nan")  # monotonic time of input sample 0
        self._plays: list[tuple[int, np.ndarray]] = []  # (output sample index, samples)
        self._out_count = 0  # total output samples produced
        self._dac0_s = float("nan")
        self._cond = threading.Condition()
        self._stream = sounddevice.Stream(device=device, samplerate=sample_rate_hz, channels=channels,
                                          dtype="float32", callback=self._callback)
        self._clock_offset_s = time.monotonic() - self._stream.time  # stream clock -> monotonic
        self._stream.start()

    def _callback(self, indata, outdata, frames, time_info, status) -> None:  # PortAudio thread
        with self._cond:
            if self._written == 0:
                self._adc0_s = time_info.inputBufferAdcTime + self._clock_offset_s
                self._dac0_s = time_info.outputBufferDacTime + self._clock_offset_s
            outdata.fill(0.0)
            start, end = self._out_count, self._out_count + frames
            for at, x in self._plays:
                a, b = max(start, at), min(end, at + len(x))
                if b > a:
                    outdata[a - start:b - start, self.out_channel] = x[a - at:b - at]
            self._plays = [(at, x) for at, x in self._plays if at + len(x) > end]
            self._out_count = end
            pos = np.arange(self._written, self._written + frames) % len(self._ring)
            self._ring[pos] = indata[:, self.mic_channel]
            self._written += frames
            self._cond.notify_all()

    def inject(self, samples: np.ndarray, start_s: float, trial: str | None = None) -> float:
        """Schedule on the DAC clock, rounded to a whole output sample; returns the actual time."""
        with self._cond:
            if np.isnan(self._dac0_s):
                self._cond.wait_for(lambda: not np.isnan(self._dac0_s), timeout=2.0)
            if np.isnan(self._dac0_s):
                raise TimeoutError("audio interface produced no callback within 2 s")
            at = int(round((start_s - self._dac0_s) * self.sample_rate_hz))
            if at < self._out_count:
                raise ValueError(f"start_s is {(self._out_count - at) / self.sample_rate_hz:.3f} s too soon "
                                 "for the output buffer; schedule further ahead")
            self._plays.append((at, np.asarray(samples, dtype=np.float32)))
            return self._dac0_s + at / self.sample_rate_hz

    def capture(self, start_s: float, duration_s: float, timeout_s: float) -> tuple[np.ndarray, float]:
        """Measurement-mic samples from ``start_s`` (corrected by the calibration offset)."""
        fs = self.sample_rate_hz
        first = int(np.floor((start_s + self.loopback_offset_s - self._adc0_s) * fs))
        n = int(round(duration_s * fs))
        with self._cond:
            if not self._cond.wait_for(lambda: self._written >= first + n, timeout=duration_s + timeout_s):
                raise TimeoutError(f"audio interface delivered {self._written} samples, needed {first + n}")
            if first < max(0, self._written - len(self._ring)):
                raise ValueError("capture window is older than the ring buffer")
            x = self._ring[np.arange(first, first + n) % len(self._ring)].astype(float)
        return x, self._adc0_s + first / fs - self.loopback_offset_s

    def calibrate(self, acoustic_s: float = 0.0, timeout_s: float = 5.0) -> float:
        """Loopback calibration: wire the output to the input (cable, or speaker and mic ``acoustic_s``
        apart), play a sweep, and store how late it arrives beyond ``acoustic_s``."""
        self.loopback_offset_s = 0.0
        stim = log_sweep(0.5, 100.0, min(16000.0, 0.45 * self.sample_rate_hz), self.sample_rate_hz)
        t0 = self.inject(stim, time.monotonic() + 0.3)
        heard, c0 = self.capture(t0, 1.5, timeout_s)
        lat = trial_latency(stim, t0, heard, LinearTimeline(c0, self.sample_rate_hz), self.sample_rate_hz,
                            min_quality=0.3)
        self.loopback_offset_s = lat.latency_s - acoustic_s
        return self.loopback_offset_s

    def close(self) -> None:
        self._stream.stop()
        self._stream.close()
