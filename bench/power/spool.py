"""A capture spooled to disk as it streams: raw files that ``numpy.memmap`` reads (docs/power.md).

An hour at 100 kS/s is 360 M samples; held as Python/numpy chunks it would need tens of GB. The
spool writes each decoded chunk at once and keeps only counters, so memory stays flat:

``<stem>.f32``          little-endian float32 current (A), sample k at ``t0_s + k / sample_rate_hz``;
                        NaN where the instrument or the link lost the sample
``<stem>.logic.u8``     uint8 logic inputs D0..D7 per sample (a lost sample repeats the one before);
                        only when the instrument has logic inputs (PPK2)
``<stem>.overflow.i64`` little-endian int64 indices of samples above the range, ascending
``<stem>.json``         header: format, version, t0_s, sample_rate_hz, samples, holes, lost_samples,
                        overflow_samples, has_logic, voltage_v, notes (written by ``close``)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from bench.power.analysis import Trace

FORMAT = "glassbench-power-spool"
VERSION = 1


class SampleSpool:
    """Append instrument ``Capture`` chunks; samples are placed by their timestamps, gaps become NaN."""

    def __init__(self, stem: str | Path) -> None:
        self.stem = Path(stem)
        self.stem.parent.mkdir(parents=True, exist_ok=True)
        self.t0_s: float | None = None
        self.sample_rate_hz = 0.0
        self.samples = self.holes = self.reported_lost = self.overflow_samples = 0
        self.has_logic = False
        self.voltage_v: float | None = None
        self.notes: list[str] = []
        self._last_logic = np.zeros(1, dtype=np.uint8)
        self._files: dict[str, BinaryIO] = {}
        self.closed = False

    def path(self, suffix: str) -> Path:
        return self.stem.with_name(self.stem.name + suffix)

    def _file(self, suffix: str) -> BinaryIO:
        f = self._files.get(suffix)
        if f is None:
            f = self._files[suffix] = open(self.path(suffix), "wb")
        return f

    def append(self, cap: Any) -> None:
        """Write one chunk (a ``bench.instruments.Capture``) to the files."""
        self.reported_lost += cap.lost_samples
        self.notes.extend(n for n in cap.notes if n not in self.notes)
        if cap.voltage_v is not None:
            self.voltage_v = cap.voltage_v
        if not len(cap):
            return
        if self.t0_s is None:
            self.t0_s, self.sample_rate_hz = float(cap.t_s[0]), float(cap.sample_rate_hz)
            self.has_logic = cap.markers is not None
        idx = np.rint((np.asarray(cap.t_s) - self.t0_s) * self.sample_rate_hz).astype(np.int64) - self.samples
        keep = idx >= 0                     # a sample placed before what is written already is dropped
        if not keep.all():
            idx = idx[keep]
            self.notes.append("samples out of time order were dropped")
            if not idx.size:
                return
        n_new = int(idx[-1]) + 1
        current = np.full(n_new, np.nan, dtype="<f4")
        current[idx] = np.asarray(cap.current_a)[keep]
        self._file(".f32").write(current.tobytes())
        self.holes += n_new - idx.size
        if self.has_logic:
            logic = np.zeros(n_new, dtype=np.uint8)
            if cap.markers is not None:
                logic[idx] = np.asarray(cap.markers)[keep]
            if idx.size < n_new or cap.markers is None:   # a lost sample keeps the logic of the one before
                placed = np.zeros(n_new + 1, dtype=bool)
                placed[0], placed[idx + 1] = True, cap.markers is not None
                src = np.maximum.accumulate(np.where(placed, np.arange(n_new + 1), 0))
                logic = np.concatenate([self._last_logic, logic])[src[1:]]
            self._file(".logic.u8").write(logic.tobytes())
            self._last_logic = logic[-1:].copy()
        if cap.overflow is not None and np.any(cap.overflow):
            over = (idx[np.asarray(cap.overflow)[keep]] + self.samples).astype("<i8")
            self._file(".overflow.i64").write(over.tobytes())
            self.overflow_samples += over.size
        self.samples += n_new

    @property
    def lost_samples(self) -> int:
        """Holes placed in time, or the instrument's own count when it is larger (unplaced losses)."""
        return max(self.holes, self.reported_lost)

    def header(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "t0_s": self.t0_s, "sample_rate_hz": self.sample_rate_hz,
                "samples": self.samples, "holes": self.holes, "lost_samples": self.lost_samples,
                "overflow_samples": self.overflow_samples, "has_logic": self.has_logic, "voltage_v": self.voltage_v,
                "notes": self.notes}

    def close(self) -> dict[str, Any]:
        """Flush and close the files, write the header; returns it."""
        for f in self._files.values():
            f.close()
        self._files.clear()
        header = self.header()
        self.path(".json").write_text(json.dumps(header, indent=1) + "\n")
        self.closed = True
        return header

    def __enter__(self) -> "SampleSpool":
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.closed:
            self.close()


def open_spool(stem: str | Path, *, memmap: bool = True) -> tuple[Trace, np.ndarray, dict[str, Any]]:
    """(trace, overflow indices, header) of a closed spool; samples mapped (or read chunkwise), not loaded.

    ``memmap=False`` reads through ``np.fromfile`` slices instead, so even a full pass keeps resident
    memory at one chunk (mapped pages of a 1.4 GB file count towards RSS while they are cached).
    """
    stem = Path(stem)
    header = json.loads(stem.with_name(stem.name + ".json").read_text())
    if header.get("format") != FORMAT:
        raise ValueError(f"{stem}.json: not a {FORMAT} header (format={header.get('format')!r})")
    if not header["samples"]:
        raise ValueError(f"{stem}: the spool holds no samples")
    f32 = stem.with_name(stem.name + ".f32")
    logic = stem.with_name(stem.name + ".logic.u8") if header["has_logic"] else None
    opener = Trace.open_memmap if memmap else Trace.open_file
    trace = opener(f32, header["t0_s"], header["sample_rate_hz"], markers_path=logic)
    trace.lost_samples, trace.overflow_samples = header["lost_samples"], header["overflow_samples"]
    trace.notes = list(header["notes"])
    over_path = stem.with_name(stem.name + ".overflow.i64")
    overflow = np.fromfile(over_path, dtype="<i8") if over_path.exists() else np.zeros(0, dtype=np.int64)
    return trace, overflow, header
