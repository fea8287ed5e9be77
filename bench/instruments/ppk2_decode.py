"""Vectorised decode of the PPK2 sample stream (numpy), equivalent to ppk2-api's per-sample loop.

Word layout (4 bytes, little-endian): bits 0–13 ADC, 14–16 range (shunt R0..R4), 18–23 a rolling
6-bit sample counter (as nRF Connect Power Profiler reads it; ppk2-api ignores it), 24–31 logic
inputs D0..D7. Calibration follows ``PPK2_API.get_adc_result``. Its spike filter (an exponential
average substituted for the 3 samples after a range switch) is reproduced with ``lfilter``; the one
difference is that ppk2-api also freezes the averages for the first 2 samples in range 4.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

ADC_MULT = 1.8 / 163840
ADC_MAX = 0x3FFF
SAMPLE_RATE_HZ = 100_000.0
SPIKE_ALPHA, SPIKE_ALPHA5, SPIKE_SAMPLES = 0.18, 0.06, 3


@dataclass
class Decoded:
    """One decoded chunk: current (A), logic byte, shunt range, overflow flag, sample index."""

    current_a: np.ndarray
    logic: np.ndarray
    range_id: np.ndarray
    overflow: np.ndarray
    index: np.ndarray        # sample number since start, gaps where the counter says samples were lost
    lost: int


class Ppk2Decoder:
    """Stateful decoder: feed it raw bytes as they arrive, in chunks of any size."""

    def __init__(self, modifiers: dict, vdd_mv: float, *, spike_filter: bool = True) -> None:
        def table(key: str) -> np.ndarray:
            return np.array([float(modifiers[key][str(r)]) for r in range(5)])

        self.r, self.gs, self.gi, self.o = table("R"), table("GS"), table("GI"), table("O")
        self.s, self.i, self.ug = table("S"), table("I"), table("UG")
        self.vdd_v = vdd_mv / 1000.0
        self.spike_filter = spike_filter
        self._rest = b""
        self._zi = np.zeros(1)
        self._zi5 = np.zeros(1)
        self._started = False
        self._prev_range = -1
        self._recent_change = np.zeros(SPIKE_SAMPLES - 1, dtype=bool)
        self._next_index = 0
        self._prev_counter: int | None = None
        self.counter_ok: bool | None = None   # None until we know whether the firmware fills the counter

    def feed(self, data: bytes) -> Decoded:
        """Decode whole 4-byte words; an incomplete trailing word is kept for the next call."""
        buf = self._rest + data if self._rest else data
        n = len(buf) // 4
        self._rest = bytes(buf[n * 4:])
        words = np.frombuffer(buf, dtype="<u4", count=n)
        adc_raw = (words & ADC_MAX).astype(np.int64)
        rng = np.minimum((words >> 14) & 7, 4).astype(np.intp)
        logic = (words >> 24).astype(np.uint8)
        counter = ((words >> 18) & 0x3F).astype(np.int64)
        current = self._calibrate(adc_raw * 4, rng)
        if self.spike_filter and n:
            current = self._filter(current, rng)
        index, lost = self._indices(counter)
        return Decoded(current, logic, rng.astype(np.uint8), adc_raw >= ADC_MAX, index, lost)

    def _calibrate(self, adc: np.ndarray, rng: np.ndarray) -> np.ndarray:
        rwg = (adc - self.o[rng]) * (ADC_MULT / self.r[rng])
        return self.ug[rng] * (rwg * (self.gs[rng] * rwg + self.gi[rng]) + (self.s[rng] * self.vdd_v + self.i[rng]))

    def _filter(self, current: np.ndarray, rng: np.ndarray) -> np.ndarray:
        if not self._started:  # ppk2-api seeds both averages with the first sample
            self._zi = np.array([(1 - SPIKE_ALPHA) * current[0]])
            self._zi5 = np.array([(1 - SPIKE_ALPHA5) * current[0]])
            self._prev_range = int(rng[0])
            self._started = True
        avg, self._zi = lfilter([SPIKE_ALPHA], [1, -(1 - SPIKE_ALPHA)], current, zi=self._zi)
        avg5, self._zi5 = lfilter([SPIKE_ALPHA5], [1, -(1 - SPIKE_ALPHA5)], current, zi=self._zi5)
        change = np.empty(rng.size, dtype=bool)
        change[0] = rng[0] != self._prev_range
        change[1:] = rng[1:] != rng[:-1]
        ext = np.concatenate([self._recent_change, change])
        hit = ext[SPIKE_SAMPLES - 1:].copy()
        for lag in range(1, SPIKE_SAMPLES):
            hit |= ext[SPIKE_SAMPLES - 1 - lag:ext.size - lag]
        self._recent_change = ext[-(SPIKE_SAMPLES - 1):]
        self._prev_range = int(rng[-1])
        return np.where(hit, np.where(rng == 4, avg5, avg), current)

    def _indices(self, counter: np.ndarray) -> tuple[np.ndarray, int]:
        n = counter.size
        if n == 0:
            return np.zeros(0, dtype=np.int64), 0
        if self.counter_ok is None and n >= 64:
            self.counter_ok = bool(np.mean(((np.diff(counter) - 1) & 0x3F) == 0) > 0.9)
        if not self.counter_ok:
            index = self._next_index + np.arange(n, dtype=np.int64)
            self._next_index += n
            self._prev_counter = int(counter[-1])
            return index, 0
        prev = counter[0] - 1 if self._prev_counter is None else self._prev_counter
        step = ((np.diff(counter, prepend=prev) - 1) & 0x3F) + 1
        index = self._next_index - 1 + np.cumsum(step)
        self._next_index = int(index[-1]) + 1
        self._prev_counter = int(counter[-1])
        return index, int(step.sum() - n)
