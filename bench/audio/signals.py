"""Stimuli for latency measurement: log sweeps, MLS, click trains, speech-shaped noise bursts.

Every generator returns float64 samples in [-1, 1] at ``sample_rate_hz`` and is deterministic
(seeded). Stimuli register themselves by name in ``STIMULI`` so test plans can name them.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from scipy import signal as sps

Stimulus = Callable[..., np.ndarray]
STIMULI: dict[str, Stimulus] = {}


def register_stimulus(name: str) -> Callable[[Stimulus], Stimulus]:
    """Register a stimulus generator under ``name`` (decorator)."""

    def deco(fn: Stimulus) -> Stimulus:
        if name in STIMULI:
            raise ValueError(f"stimulus {name!r} already registered by {STIMULI[name].__module__}")
        STIMULI[name] = fn
        return fn

    return deco


def make_stimulus(name: str, **params: float) -> np.ndarray:
    """Build a registered stimulus by name; unknown names list what exists."""
    try:
        fn = STIMULI[name]
    except KeyError:
        raise KeyError(f"unknown stimulus {name!r}; expected one of {sorted(STIMULI)}") from None
    return fn(**params)


def _fade(x: np.ndarray, sample_rate_hz: int, fade_s: float) -> np.ndarray:
    n = min(int(round(fade_s * sample_rate_hz)), len(x) // 2)
    if n > 0:
        ramp = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, n))
        x[:n] *= ramp
        x[-n:] *= ramp[::-1]
    return x


def log_sweep_at(t_s: np.ndarray, duration_s: float, f0_hz: float, f1_hz: float) -> np.ndarray:
    """Exponential (Farina) sweep evaluated at arbitrary times ``t_s`` (0 outside the sweep).

    Evaluating the analytic phase at shifted times gives an exact fractional delay, which tests use
    as ground truth independent of any interpolation filter.
    """
    k = np.log(f1_hz / f0_hz)
    t = np.asarray(t_s, dtype=float)
    phase = 2 * np.pi * f0_hz * duration_s / k * (np.exp(t * k / duration_s) - 1.0)
    return np.where((t >= 0) & (t < duration_s), np.sin(phase), 0.0)


@register_stimulus("log_sweep")
def log_sweep(duration_s: float = 0.5, f0_hz: float = 100.0, f1_hz: float = 6000.0,
              sample_rate_hz: int = 16000, amplitude: float = 0.5, fade_s: float = 0.005) -> np.ndarray:
    """Exponential sine sweep from ``f0_hz`` to ``f1_hz`` with raised-cosine fades."""
    if not 0 < f0_hz < f1_hz < sample_rate_hz / 2:
        raise ValueError(f"sweep needs 0 < f0 < f1 < fs/2, got f0={f0_hz} f1={f1_hz} fs={sample_rate_hz}")
    t = np.arange(int(round(duration_s * sample_rate_hz))) / sample_rate_hz
    return amplitude * _fade(log_sweep_at(t, duration_s, f0_hz, f1_hz), sample_rate_hz, fade_s)


@register_stimulus("mls")
def mls(order: int = 12, repeats: int = 1, amplitude: float = 0.5, **_: float) -> np.ndarray:
    """Maximum-length sequence of ``2**order - 1`` chips (±amplitude), repeated ``repeats`` times."""
    if not 2 <= order <= 24:
        raise ValueError(f"MLS order must be 2..24, got {order}")
    seq = sps.max_len_seq(int(order))[0].astype(float) * 2.0 - 1.0
    return amplitude * np.tile(seq, int(repeats))


@register_stimulus("click_train")
def click_train(n_clicks: int = 5, period_s: float = 0.1, sample_rate_hz: int = 16000,
                click_s: float = 0.001, amplitude: float = 0.8) -> np.ndarray:
    """Hann-windowed clicks every ``period_s``; period should exceed the expected jitter."""
    n_click = max(3, int(round(click_s * sample_rate_hz)))
    click = amplitude * np.hanning(n_click)
    period = int(round(period_s * sample_rate_hz))
    if period <= n_click:
        raise ValueError(f"click period {period_s} s is shorter than the click {click_s} s")
    out = np.zeros(period * int(n_clicks))
    for i in range(int(n_clicks)):
        out[i * period:i * period + n_click] = click
    return out


def speech_shaped_noise(n_samples: int, sample_rate_hz: int = 16000, seed: int = 0) -> np.ndarray:
    """Noise with a long-term speech-like spectrum: flat to ~500 Hz, then about -9 dB/octave."""
    rng = np.random.default_rng(seed)
    spec = np.fft.rfft(rng.standard_normal(n_samples))
    f = np.fft.rfftfreq(n_samples, 1.0 / sample_rate_hz)
    shape = 1.0 / (1.0 + (f / 500.0) ** 1.5)
    shape[f < 80.0] = 0.0
    x = np.fft.irfft(spec * shape, n_samples)
    return x / (np.max(np.abs(x)) + 1e-12)


@register_stimulus("speech_bursts")
def speech_bursts(n_bursts: int = 3, burst_s: float = 0.15, gap_s: float = 0.1,
                  sample_rate_hz: int = 16000, amplitude: float = 0.5, seed: int = 0) -> np.ndarray:
    """Speech-shaped noise bursts separated by silence, each faded in and out (10 ms)."""
    nb, ng = int(round(burst_s * sample_rate_hz)), int(round(gap_s * sample_rate_hz))
    parts = []
    for i in range(int(n_bursts)):
        b = _fade(speech_shaped_noise(nb, sample_rate_hz, seed + i), sample_rate_hz, 0.01)
        parts += [amplitude * b, np.zeros(ng)]
    return np.concatenate(parts) if parts else np.zeros(0)


def to_pcm16(x: np.ndarray) -> bytes:
    """Float samples in [-1, 1] to little-endian PCM16 bytes (clipped, rounded)."""
    return np.clip(np.round(np.asarray(x) * 32767.0), -32768, 32767).astype("<i2").tobytes()


def from_pcm16(data: bytes) -> np.ndarray:
    """Little-endian PCM16 bytes to float64 samples in [-1, 1)."""
    if len(data) % 2:
        raise ValueError(f"PCM16 data must have an even length, got {len(data)} bytes")
    return np.frombuffer(data, dtype="<i2").astype(float) / 32767.0
