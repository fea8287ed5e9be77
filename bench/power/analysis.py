"""Current traces → per-state statistics: segmentation by markers, mean/p99/peak/charge, event charge.

Works on arrays or memory-mapped files in fixed-size chunks, so an hour at 100 kS/s (360 M samples)
is analysed with a few MB of working memory. p99 comes from a histogram of the float32 bit pattern
(8 mantissa bits: ≤ 0.4 % relative resolution), so it too is one pass.
Segmentation, best first: PPK2 logic inputs as the bench file wires them (``power.markers``: a mask
and value → state), timestamped events (console log, protocol), and as a fallback level detection on
block means. A marker value nobody declared is kept as its own ``undeclared_marker_0x..`` segment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import numpy as np

from bench.power.segments import CHUNK_SAMPLES, Segment, SegmentTable, marker_label, segments_from_events, segments_from_markers

__all__ = ["CHUNK_SAMPLES", "FileSamples", "Segment", "SegmentTable", "StateStats", "Trace", "charge_per_event",
           "marker_label", "segment", "segments_by_level", "segments_from_events", "segments_from_markers",
           "state_stats"]

_HIST_SHIFT = 15
_HIST_BINS = 1 << (31 - _HIST_SHIFT)


@dataclass
class Trace:
    """Evenly sampled current (A) from ``t0_s`` (CLOCK_MONOTONIC) with optional per-sample markers."""

    current_a: np.ndarray
    t0_s: float
    sample_rate_hz: float
    markers: np.ndarray | None = None
    lost_samples: int = 0
    overflow_samples: int = 0
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.current_a.shape[0])

    @property
    def duration_s(self) -> float:
        return len(self) / self.sample_rate_hz

    def index_at(self, t_s: float) -> int:
        """Sample index at time ``t_s`` (clipped to the trace)."""
        return int(min(max(round((t_s - self.t0_s) * self.sample_rate_hz), 0), len(self)))

    @classmethod
    def from_captures(cls, captures: Sequence) -> "Trace":
        """Join instrument Capture chunks; samples known lost become NaN at their place in time."""
        caps = [c for c in captures if len(c)]
        if not caps:
            raise ValueError("no samples in the captures")
        rate = caps[0].sample_rate_hz
        t = np.concatenate([c.t_s for c in caps])
        idx = np.rint((t - t[0]) * rate).astype(np.int64)
        current = np.full(int(idx[-1]) + 1, np.nan)
        current[idx] = np.concatenate([c.current_a for c in caps])
        markers = None
        if all(c.markers is not None for c in caps):
            markers = np.zeros(current.size, dtype=np.uint8)
            markers[idx] = np.concatenate([c.markers for c in caps])
            if idx.size < current.size:  # a lost sample keeps the marker of the sample before it
                keep = np.zeros(current.size, dtype=bool)
                keep[idx] = True
                markers = markers[np.maximum.accumulate(np.where(keep, np.arange(current.size), 0))]
        overflow = sum(int(np.count_nonzero(c.overflow)) for c in caps if c.overflow is not None)
        notes = [n for c in caps for n in c.notes]
        return cls(current, float(t[0]), rate, markers, sum(c.lost_samples for c in caps), overflow, notes)

    @classmethod
    def open_memmap(cls, path: str | Path, t0_s: float, sample_rate_hz: float, *, dtype: str = "float32",
                    markers_path: str | Path | None = None) -> "Trace":
        """A raw little-endian sample file (and optional uint8 marker file) mapped, not loaded."""
        current = np.memmap(path, dtype=np.dtype(dtype).newbyteorder("<"), mode="r")
        markers = np.memmap(markers_path, dtype=np.uint8, mode="r") if markers_path else None
        if markers is not None and markers.shape != current.shape:
            raise ValueError(f"{markers_path}: {markers.size} markers for {current.size} samples in {path}")
        return cls(current, t0_s, sample_rate_hz, markers)

    @classmethod
    def open_file(cls, path: str | Path, t0_s: float, sample_rate_hz: float, *, dtype: str = "<f4",
                  markers_path: str | Path | None = None) -> "Trace":
        """Like open_memmap but read chunk by chunk, so resident memory stays bounded for any length."""
        markers = FileSamples(markers_path, "u1") if markers_path else None
        return cls(FileSamples(path, dtype), t0_s, sample_rate_hz, markers)  # type: ignore[arg-type]


class FileSamples:
    """A raw sample file read slice by slice with ``np.fromfile`` (RSS stays at one chunk)."""

    def __init__(self, path: str | Path, dtype: str = "<f4") -> None:
        self.path, self.dtype = Path(path), np.dtype(dtype)
        self.shape = (self.path.stat().st_size // self.dtype.itemsize,)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: int | slice) -> np.ndarray:
        if isinstance(key, slice):
            start, stop, step = key.indices(self.shape[0])
            if step != 1:
                raise IndexError("FileSamples reads contiguous slices only")
            return np.fromfile(self.path, self.dtype, max(stop - start, 0), offset=start * self.dtype.itemsize)
        return self[key:key + 1][0]


@dataclass
class StateStats:
    """What one state cost over the whole trace."""

    state: str
    duration_s: float
    samples: int
    mean_a: float
    p99_a: float
    peak_a: float
    charge_c: float
    lost_samples: int = 0


def _chunks(n: int, size: int) -> Iterator[tuple[int, int]]:
    for c0 in range(0, n, size):
        yield c0, min(n, c0 + size)


def segments_by_level(trace: Trace, block_s: float = 0.1, rel_step: float = 0.3, floor_a: float = 1e-6,
                      confirm_blocks: int = 3) -> list[Segment]:
    """Fallback without markers: split where block means move by > ``rel_step`` for a while.

    Levels are named ``level_0`` (lowest) upward; segments whose means lie within ``rel_step`` of
    each other share a name. Radio events average out within a block when ``block_s`` ≫ the interval.
    """
    block = max(1, int(block_s * trace.sample_rate_hz))
    means: list[np.ndarray] = []
    for c0, c1 in _chunks(len(trace), (CHUNK_SAMPLES // block) * block or block):
        x = np.asarray(trace.current_a[c0:c1], dtype=np.float64)
        full = x[: x.size // block * block].reshape(-1, block)
        means.append(np.nanmean(full, axis=1))
        if x.size % block:
            means.append(np.array([np.nanmean(x[x.size // block * block:])]))
    bm = np.concatenate(means) if means else np.zeros(0)
    cuts, seg_sum, seg_n, k = [0], 0.0, 0, 0
    while k < bm.size:
        level = seg_sum / seg_n if seg_n else bm[k]
        tol = rel_step * max(abs(level), floor_a)
        run = bm[k:k + confirm_blocks]
        if seg_n and np.all(np.abs(run - level) > tol) and run.size == confirm_blocks:
            cuts.append(k)
            seg_sum, seg_n = 0.0, 0
            continue
        seg_sum, seg_n, k = seg_sum + bm[k], seg_n + 1, k + 1
    cuts.append(bm.size)
    seg_means = [float(np.mean(bm[a:b])) for a, b in zip(cuts[:-1], cuts[1:])]
    order = np.argsort(seg_means)
    names: dict[int, str] = {}
    level_id, ref = -1, None
    for i in order:
        if ref is None or seg_means[i] > (1 + rel_step) * max(ref, floor_a):
            level_id, ref = level_id + 1, seg_means[i]
        names[int(i)] = f"level_{level_id}"
    return [Segment(names[j], a * block, min(b * block, len(trace))) for j, (a, b) in enumerate(zip(cuts[:-1], cuts[1:]))]


def segment(trace: Trace, *, events: Sequence[tuple[float, str]] | None = None,
            names: Mapping[int, str] | Sequence[str] | None = None) -> Sequence[Segment]:
    """Best available segmentation: markers, else events, else level detection."""
    if trace.markers is not None:
        return segments_from_markers(trace, names)
    if events:
        return segments_from_events(trace, events)
    return segments_by_level(trace)


_NAN_BIN = 0x7F800000 >> _HIST_SHIFT   # bins from here up hold inf/NaN bit patterns: lost samples


def _pieces(table: SegmentTable, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(start, code) of contiguous pieces covering [0, n): the segments plus gaps (code -1), sorted."""
    keep = table.i1 > table.i0
    i0, i1, code = np.clip(table.i0[keep], 0, n), np.clip(table.i1[keep], 0, n), table.code[keep]
    order = np.argsort(i0, kind="stable")
    i0, i1, code = i0[order], i1[order], code[order]
    if i0.size and np.any(i0[1:] < i1[:-1]):
        k = int(np.flatnonzero(i0[1:] < i1[:-1])[0])
        raise ValueError(f"segments overlap: [{i0[k]}, {i1[k]}) and [{i0[k + 1]}, {i1[k + 1]}); each sample "
                         "belongs to one state")
    gap_at = np.concatenate([[0], i1])                      # a gap may start after each segment end
    gap_end = np.concatenate([i0, [n]])
    has_gap = gap_end > gap_at
    starts = np.concatenate([i0, gap_at[has_gap]])
    codes = np.concatenate([code, np.full(int(has_gap.sum()), -1, dtype=np.int32)])
    order = np.argsort(starts, kind="stable")
    starts, codes = starts[order], codes[order]
    nonempty = np.diff(np.append(starts, n)) > 0
    return starts[nonempty], codes[nonempty]


def _quantile(hist: np.ndarray, q: float) -> float:
    cum = np.cumsum(hist)
    target = q * cum[-1]
    b = int(np.searchsorted(cum, target))
    below = cum[b - 1] if b else 0
    frac = (target - below) / max(hist[b], 1)
    lo, hi = np.array([b << _HIST_SHIFT, (b + 1) << _HIST_SHIFT], dtype=np.int32).view(np.float32)
    return float(lo + (hi - lo) * frac)


def state_stats(trace: Trace, segments: Sequence[Segment], chunk_samples: int = CHUNK_SAMPLES) -> dict[str, StateStats]:
    """Mean, p99, peak and charge per state, one chunked pass over the trace.

    Per chunk, not per segment: one ``bincount`` over (state, float32 bit-pattern bin) keys makes
    every state's histogram at once, and ``reduceat`` gives each piece's sum and peak, so the cost
    is per sample whether the trace has 5 segments or 10⁶. Segments must not overlap.
    """
    table = SegmentTable.from_segments(segments)
    names = list(dict.fromkeys(table.names))
    name_of_code = np.array([names.index(s) for s in table.names] + [len(names)], dtype=np.int32)  # -1 → ignored
    n_states = len(names)
    starts, codes = _pieces(table, len(trace))
    state = name_of_code[codes]
    hist = np.zeros((n_states + 1, _HIST_BINS), dtype=np.int64)
    total = np.zeros(n_states + 1)
    peak = np.full(n_states + 1, -np.inf)
    for c0, c1 in _chunks(len(trace), chunk_samples):
        j0 = int(np.searchsorted(starts, c0, side="right")) - 1
        j1 = int(np.searchsorted(starts, c1, side="left"))
        local = np.maximum(starts[j0:j1], c0) - c0
        st = state[j0:j1]
        x = np.asarray(trace.current_a[c0:c1], dtype=np.float32)
        present, st_local = np.unique(st, return_inverse=True)
        lengths = np.diff(np.append(local, c1 - c0))
        key = np.repeat(st_local.astype(np.int32).reshape(-1) * _HIST_BINS, lengths)
        key += np.maximum(x, 0).view(np.int32) >> _HIST_SHIFT
        h = np.bincount(key, minlength=present.size * _HIST_BINS).reshape(present.size, _HIST_BINS)
        hist[present] += h
        if h[:, _NAN_BIN:].any():   # lost samples (NaN): left out of sum and peak
            sums = np.add.reduceat(np.where(np.isnan(x), 0, x), local, dtype=np.float64)
            peaks = np.fmax.reduceat(x, local)
        else:
            sums = np.add.reduceat(x, local, dtype=np.float64)
            peaks = np.maximum.reduceat(x, local)
        np.add.at(total, st, sums)
        np.fmax.at(peak, st, peaks.astype(np.float64))
    dt = 1.0 / trace.sample_rate_hz
    out = {}
    for k, name in enumerate(names):
        good = hist[k, :_NAN_BIN]
        n = int(good.sum())
        if n:
            out[name] = StateStats(name, n * dt, n, total[k] / n, _quantile(good, 0.99), float(peak[k]), total[k] * dt,
                                   int(hist[k, _NAN_BIN:].sum()))
    return out


def charge_per_event(trace: Trace, event_times_s: Sequence[float], window_s: float,
                     baseline_a: float = 0.0) -> np.ndarray:
    """Charge (C) above ``baseline_a`` in [t, t + window_s) for each event time (NaN if off the trace)."""
    n = max(1, int(round(window_s * trace.sample_rate_hz)))
    out = np.full(len(event_times_s), np.nan)
    for k, t in enumerate(event_times_s):
        i0 = int(round((t - trace.t0_s) * trace.sample_rate_hz))
        if 0 <= i0 and i0 + n <= len(trace):
            out[k] = float(np.sum(np.asarray(trace.current_a[i0:i0 + n], dtype=np.float64) - baseline_a)) / trace.sample_rate_hz
    return out
