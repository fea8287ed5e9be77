"""Latency estimation: GCC-PHAT with band-limited sub-sample peak search, per-trial latency, statistics.

``estimate_delay`` finds where ``reference`` occurs inside ``received`` (in samples, fractional).
The integer peak of the weighted cross-correlation is refined by maximising the band-limited
(Fourier-interpolated) correlation between the neighbouring lags, so a fractional delay is found
without the bias of parabolic interpolation. ``trial_latency`` turns that position into seconds on a
timeline (``bench.audio.stream.FrameTimeline`` or a capture start time).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Iterable, Protocol

import numpy as np
from scipy.optimize import minimize_scalar


class NoSignalError(ValueError):
    """The reference was not found in the received audio (correlation quality too low)."""


class UnplacedError(ValueError):
    """The reference was heard, but not as one delayed copy: its head and the whole disagree on where
    it starts (the stream was cut and resumed mid-stimulus, e.g. a playout restart after a stall)."""

    def __init__(self, message: str, estimate: "DelayEstimate") -> None:
        super().__init__(message)
        self.estimate = estimate  # the whole-signal estimate, for plots and quality (not a latency)


@dataclass(frozen=True)
class DelayEstimate:
    delay_samples: float  # position of reference sample 0 inside the received signal
    sample_rate_hz: float
    quality: float  # normalised correlation peak, 0 (nothing) .. 1 (identical up to delay and gain)

    @property
    def delay_s(self) -> float:
        return self.delay_samples / self.sample_rate_hz


def _weighted_cross_spectrum(ref: np.ndarray, rec: np.ndarray, n_fft: int, method: str,
                             band_floor: float) -> tuple[np.ndarray, np.ndarray, float]:
    x, y = np.fft.rfft(ref, n_fft), np.fft.rfft(rec, n_fft)
    g = np.conj(x) * y
    power = np.abs(x) ** 2
    mask = power >= band_floor * power.max() if power.max() > 0 else np.zeros_like(power, bool)
    if method == "gcc-phat":
        w = np.where(mask, 1.0 / np.maximum(np.abs(g), 1e-30), 0.0)
    elif method == "xcorr":
        w = mask.astype(float)
    else:
        raise ValueError(f"unknown delay method {method!r}; expected 'gcc-phat' or 'xcorr'")
    gw = g * w
    # Hermitian weights: interior bins count twice in the real inverse transform.
    herm = np.full(len(gw), 2.0)
    herm[0] = 1.0
    if n_fft % 2 == 0:
        herm[-1] = 1.0
    if method == "gcc-phat":
        norm = float(np.sum(herm * mask))
    else:
        norm = float(np.sqrt(np.sum(herm * mask * power) * np.sum(herm * mask * np.abs(y) ** 2)))
    return gw, herm, norm


def estimate_delay(reference: np.ndarray, received: np.ndarray, sample_rate_hz: float, *,
                   method: str = "gcc-phat", min_delay_s: float | None = None,
                   max_delay_s: float | None = None, band_floor: float = 1e-3,
                   min_quality: float = 0.0) -> DelayEstimate:
    """Estimate where ``reference`` starts inside ``received`` (sub-sample).

    ``min_delay_s``/``max_delay_s`` bound the search (defaults: the whole received signal, delay >= 0
    allowed down to -len(reference)). ``band_floor`` keeps only frequency bins where the reference has
    at least that fraction of its peak power (PHAT would otherwise amplify out-of-band noise).
    Raises ``NoSignalError`` when the peak quality is below ``min_quality``.
    """
    ref = np.asarray(reference, dtype=float)
    rec = np.asarray(received, dtype=float)
    if ref.ndim != 1 or rec.ndim != 1 or len(ref) < 2 or len(rec) < 2:
        raise ValueError(f"estimate_delay needs two 1-D signals of >= 2 samples, got shapes "
                         f"{ref.shape} and {rec.shape}")
    n_fft = 1 << int(np.ceil(np.log2(len(ref) + len(rec))))
    gw, herm, norm = _weighted_cross_spectrum(ref, rec, n_fft, method, band_floor)
    corr = np.fft.irfft(gw, n_fft) * n_fft  # lag k at index k (negative lags wrap)
    lo = -len(ref) + 1 if min_delay_s is None else int(np.floor(min_delay_s * sample_rate_hz))
    hi = len(rec) - 1 if max_delay_s is None else int(np.ceil(max_delay_s * sample_rate_hz))
    if hi < lo:
        raise ValueError(f"empty delay search window [{min_delay_s}, {max_delay_s}] s")
    lags = np.arange(lo, hi + 1)
    k = int(lags[np.argmax(corr[lags % n_fft])])

    freqs = np.arange(len(gw)) / n_fft
    hgw = herm * gw

    def neg_corr(tau: float) -> float:
        return -float(np.real(np.sum(hgw * np.exp(2j * np.pi * freqs * tau))))

    res = minimize_scalar(neg_corr, bounds=(k - 1.0, k + 1.0), method="bounded",
                          options={"xatol": 1e-5})
    tau = float(res.x) if -res.fun >= corr[k % n_fft] else float(k)
    quality = max(0.0, -neg_corr(tau) / norm) if norm > 0 else 0.0
    if quality < min_quality:
        raise NoSignalError(f"reference not found: correlation quality {quality:.3f} < {min_quality} "
                            f"(best lag {tau:.2f} samples of {len(rec)} received)")
    return DelayEstimate(tau, float(sample_rate_hz), min(quality, 1.0))


def place_onset(reference: np.ndarray, received: np.ndarray, sample_rate_hz: float, *,
                head_s: float = 0.05, tolerance_samples: float = 1.0, head_match: float = 0.9,
                **estimate_kw: Any) -> DelayEstimate:
    """Where ``reference`` starts in ``received``, checked: the whole reference gives the estimate, its
    first ``head_s`` (the onset the latency is defined by) must agree within ``tolerance_samples``, or
    at least correlate at the whole's lag ``head_match`` times as well as at its own best lag.

    The whole-signal peak follows the larger part of a stimulus that reached the listener in two pieces
    at different delays (a playout that ran dry for 10 frames restarts its clock ≥ 100 ms later); the
    onset lies with the head. The head is faded out over its last 40 % and placed by plain
    cross-correlation: PHAT on a short, hard-cut, low-frequency head is biased by ~3 samples, this by
    < 0.5 at 10 dB SNR. Raises ``UnplacedError`` when they disagree (the trial cannot be placed:
    report it so, never as a number) and ``NoSignalError`` as estimate_delay does.
    """
    whole = estimate_delay(reference, received, sample_rate_hz, **estimate_kw)
    n_head = int(round(head_s * sample_rate_hz))
    if n_head >= len(reference):
        return whole
    fade = max(1, int(0.4 * n_head))
    head_ref = np.array(reference[:n_head], dtype=float)
    head_ref[-fade:] *= 0.5 + 0.5 * np.cos(np.pi * np.arange(fade) / fade)
    kw = {k: v for k, v in estimate_kw.items() if k not in ("min_quality", "method")}
    head = estimate_delay(head_ref, received, sample_rate_hz, method="xcorr", **kw)
    if abs(head.delay_samples - whole.delay_samples) <= tolerance_samples:
        return whole
    # A damaged head (a concealed frame in it) moves its own peak a little but still matches at the
    # whole's lag; a head that was played elsewhere (≥ 100 ms away) does not match there at all.
    lag_s = whole.delay_samples / sample_rate_hz
    there = estimate_delay(head_ref, received, sample_rate_hz, method="xcorr",
                           min_delay_s=lag_s - 1.0 / sample_rate_hz, max_delay_s=lag_s + 1.0 / sample_rate_hz,
                           **{k: v for k, v in kw.items() if k not in ("min_delay_s", "max_delay_s")})
    if there.quality < head_match * head.quality:
        raise UnplacedError(f"stimulus head found at {head.delay_samples:.2f} samples, the whole at "
                            f"{whole.delay_samples:.2f} (tolerance {tolerance_samples}), where the head "
                            f"matches {there.quality:.2f} against {head.quality:.2f}: heard in pieces", whole)
    return whole


class Timeline(Protocol):
    """Maps a (fractional) sample position of a stream to CLOCK_MONOTONIC seconds."""

    def time_at(self, position_samples: float) -> float: ...


@dataclass(frozen=True)
class LinearTimeline:
    """Samples at a constant rate from ``t0_s`` (a capture from the rig or a sound card)."""

    t0_s: float
    sample_rate_hz: float

    def time_at(self, position_samples: float) -> float:
        return self.t0_s + position_samples / self.sample_rate_hz


@dataclass(frozen=True)
class TrialLatency:
    latency_s: float
    onset_samples: float  # where the stimulus was found in the received audio
    quality: float


def trial_latency(stimulus: np.ndarray, stimulus_start_s: float, received: np.ndarray,
                  timeline: Timeline, sample_rate_hz: float, **estimate_kw: Any) -> TrialLatency:
    """Latency of one trial: time the stimulus appears on ``timeline`` minus when it was sent."""
    est = estimate_delay(stimulus, received, sample_rate_hz, **estimate_kw)
    return TrialLatency(timeline.time_at(est.delay_samples) - stimulus_start_s, est.delay_samples,
                        est.quality)


@dataclass(frozen=True)
class LatencyStats:
    """Summary of per-trial latencies (seconds); jitter is the p95 - p5 spread."""

    trials: int
    p50_s: float
    p95_s: float
    p99_s: float
    mean_s: float
    min_s: float
    max_s: float
    std_s: float
    jitter_s: float
    loss_ratio: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def summarize(latencies_s: Iterable[float], frames_lost: int = 0, frames_total: int = 0) -> LatencyStats:
    """Percentiles, spread and frame-loss ratio over trials."""
    x = np.asarray(list(latencies_s), dtype=float)
    if x.size == 0:
        raise ValueError("summarize needs at least one trial latency, got none")
    if frames_total < 0 or not 0 <= frames_lost <= max(frames_total, 0):
        raise ValueError(f"frames_lost must be in 0..frames_total, got {frames_lost}/{frames_total}")
    p5, p50, p95, p99 = np.percentile(x, [5, 50, 95, 99])
    return LatencyStats(int(x.size), float(p50), float(p95), float(p99), float(x.mean()),
                        float(x.min()), float(x.max()), float(x.std()), float(p95 - p5),
                        frames_lost / frames_total if frames_total else 0.0)
