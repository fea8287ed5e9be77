"""PNG figures of a latency run for reports: correlation peak, latency per trial (histogram or strip
plot, with the limit), per-trial timeline.

Each function returns PNG bytes (matplotlib, Agg backend, no display needed) so the caller decides
where they go (an Allure attachment, a file).
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from bench.audio.session import Run  # noqa: E402
from bench.figures import png_bytes  # noqa: E402


def _png(fig: plt.Figure) -> bytes:
    return png_bytes(fig, dpi=90)


def correlation_png(run: Run, index: int = 0) -> bytes:
    """Cross-correlation of the stimulus with trial ``index``'s received audio (by default the first
    trial found): whole search window, and the peak zoomed to ±8 samples with the estimate marked."""
    trial, fs = (run.found or run.trials)[index], run.sample_rate_hz
    stim, seg = run.stimulus, trial.segment
    n_fft = 1 << int(np.ceil(np.log2(len(stim) + len(seg))))
    corr = np.fft.irfft(np.conj(np.fft.rfft(stim, n_fft)) * np.fft.rfft(seg, n_fft), n_fft)
    lags = np.arange(0, len(seg) - len(stim) + 1)
    c = corr[lags] / (np.linalg.norm(stim) * np.linalg.norm(seg) + 1e-30)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.4))
    ax1.plot(lags / fs * 1e3, c, lw=0.8)
    ax1.set(xlabel="lag in searched window (ms)", ylabel="normalised correlation",
            title=f"{run.direction} {run.codec} trial {trial.trial}")
    k = int(round(trial.onset_samples))
    near = lags[max(0, k - 8):k + 9]
    ax2.stem(near, c[near], basefmt=" ")
    ax2.axvline(trial.onset_samples, color="r", lw=1, label=f"estimate {trial.onset_samples:.3f} samples")
    ax2.set(xlabel="lag (samples)", title=f"peak, quality {trial.quality:.3f}")
    ax2.legend(loc="lower center", fontsize=8)
    return _png(fig)


STRIP_BELOW = 20  # fewer trials than this: a strip plot (every trial a dot); a histogram of 5 says nothing


def histogram_png(run: Run, limit_s: float | None = None) -> bytes:
    """Per-trial latencies with p50 and p95 marked, and the plan's limit when given: a histogram from
    STRIP_BELOW trials on, a strip plot of every trial below that. Axis in plain ms (no offset)."""
    ms = run.latencies_s * 1e3
    fig, ax = plt.subplots(figsize=(6, 3.4))
    if len(ms) >= STRIP_BELOW:
        ax.hist(ms, bins=max(5, min(40, len(ms) // 2)), color="#4a7ab5")
        ax.set(ylabel="trials")
    else:
        jitter = np.random.default_rng(0).uniform(-0.15, 0.15, len(ms))
        ax.plot(ms, jitter, "o", color="#4a7ab5", ms=6, alpha=0.8, label="trial")
        ax.set(ylim=(-1, 1), yticks=[])
    for q, style in ((50, "-"), (95, "--")):
        v = float(np.percentile(ms, q))
        ax.axvline(v, color="k", ls=style, lw=1, label=f"p{q} {v:.2f} ms")
    if limit_s is not None:
        ax.axvline(limit_s * 1e3, color="r", lw=1.5, label=f"limit {limit_s * 1e3:g} ms")
    ax.ticklabel_format(axis="x", useOffset=False, style="plain")
    kind = "histogram" if len(ms) >= STRIP_BELOW else "every trial"
    ax.set(xlabel="latency (ms)", title=f"{run.direction} latency, {run.codec}, {len(ms)} trials ({kind})")
    ax.legend(fontsize=8)
    return _png(fig)


def timeline_png(run: Run, limit_s: float | None = None) -> bytes:
    """One row per trial: stimulus start at 0, frame hand-offs (ticks), where the stimulus was found, and
    the plan's limit when given."""
    fig, ax = plt.subplots(figsize=(9, max(2.4, 1.0 + 0.3 * len(run.found))))
    handoffs = np.array([t for _, t in run.handoffs]) if run.handoffs else np.zeros(0)
    span_ms = 1.5 * max(float(np.max(run.latencies_s)), limit_s or 0.0) * 1e3
    if limit_s is not None:
        ax.axvline(limit_s * 1e3, color="r", lw=1.5, label=f"limit {limit_s * 1e3:g} ms")
    for i, trial in enumerate(run.found):
        rel = (handoffs - trial.start_s) * 1e3
        rel = rel[(rel >= 0) & (rel <= span_ms)]
        ax.plot(rel, np.full(rel.shape, i), "|", color="0.5", ms=8, label="frame hand-off" if i == 0 else None)
        ax.plot([0], [i], "k>", ms=6, label="stimulus starts" if i == 0 else None)
        ax.plot([trial.latency_s * 1e3], [i], "ro", ms=5, label="stimulus found" if i == 0 else None)
    ax.set(xlabel="ms after the stimulus started", ylabel="trial", xlim=(-2, span_ms))
    ax.set_title(f"{run.direction} {run.codec}: per-trial timeline", loc="left")
    if len(run.found) <= 20:
        ax.set_yticks(range(len(run.found)))
    ax.legend(fontsize=7, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=3, frameon=False)
    return _png(fig)


def attach_run(run: Run, limit_s: float | None = None) -> None:
    """Attach a run's figures and raw numbers (CSV) to the current Allure test; ``limit_s`` is drawn."""
    import allure

    name = f"{run.direction} {run.codec}"
    png = allure.attachment_type.PNG
    allure.attach(correlation_png(run), f"{name}: correlation peak", png)
    allure.attach(histogram_png(run, limit_s), f"{name}: latency per trial", png)
    allure.attach(timeline_png(run, limit_s), f"{name}: per-trial timeline", png)
    allure.attach(run.csv(), f"{name}: trials.csv", allure.attachment_type.CSV)
