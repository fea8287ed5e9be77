"""State segments of a trace: samples [i0, i1) per state, as a list or as a table of numpy arrays.

An hour segmented per connection event has ~10⁶ segments; ``SegmentTable`` keeps them as three
arrays (state code, i0, i1) and still reads as a ``Sequence[Segment]``, so ``state_stats`` works on
the arrays directly and callers that iterate see ``Segment`` objects made on demand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence, overload

import numpy as np

if TYPE_CHECKING:
    from bench.power.analysis import Trace

CHUNK_SAMPLES = 1 << 20


@dataclass(frozen=True)
class Segment:
    """Samples [i0, i1) spent in ``state``."""

    state: str
    i0: int
    i1: int


class SegmentTable(Sequence[Segment]):
    """Segments as arrays: ``names[code[k]]`` held samples ``[i0[k], i1[k])``."""

    def __init__(self, names: Sequence[str], code: np.ndarray, i0: np.ndarray, i1: np.ndarray) -> None:
        self.names = tuple(names)
        self.code = np.asarray(code, dtype=np.int32)
        self.i0 = np.asarray(i0, dtype=np.int64)
        self.i1 = np.asarray(i1, dtype=np.int64)
        if not self.code.shape == self.i0.shape == self.i1.shape:
            raise ValueError(f"code, i0, i1 differ in length: {self.code.size}, {self.i0.size}, {self.i1.size}")

    @classmethod
    def from_segments(cls, segments: Sequence[Segment]) -> "SegmentTable":
        if isinstance(segments, SegmentTable):
            return segments
        names = list(dict.fromkeys(s.state for s in segments))
        index = {n: k for k, n in enumerate(names)}
        return cls(names, np.array([index[s.state] for s in segments], dtype=np.int32),
                   np.array([s.i0 for s in segments], dtype=np.int64), np.array([s.i1 for s in segments], dtype=np.int64))

    def __len__(self) -> int:
        return int(self.code.size)

    @overload
    def __getitem__(self, k: int) -> Segment: ...

    @overload
    def __getitem__(self, k: slice) -> "SegmentTable": ...

    def __getitem__(self, k: int | slice) -> "Segment | SegmentTable":
        if isinstance(k, slice):
            return SegmentTable(self.names, self.code[k], self.i0[k], self.i1[k])
        return Segment(self.names[int(self.code[k])], int(self.i0[k]), int(self.i1[k]))

    def __iter__(self) -> Iterator[Segment]:
        names = self.names
        for c, a, b in zip(self.code.tolist(), self.i0.tolist(), self.i1.tolist()):
            yield Segment(names[c], a, b)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"SegmentTable({len(self)} segments of {', '.join(self.names) or 'no state'})"


def marker_label(value: int) -> str:
    """Name of a marker value nobody declared: kept as its own segment, never an error."""
    return f"undeclared_marker_{value:#04x}"


def segments_from_markers(trace: "Trace", names: Mapping[int, str] | Sequence[str] | None = None,
                          chunk_samples: int = CHUNK_SAMPLES, mask: int = 0xFF) -> SegmentTable:
    """Segments where the masked marker value (e.g. PPK2 D0..D7 = state id) stays constant.

    ``mask`` keeps only the wired logic inputs (unwired ones float or read 0). A value ``names`` does
    not declare becomes its own segment named by :func:`marker_label`: a stray GPIO pattern is data.
    Edges are found per chunk with numpy, so 10⁶ segments cost arrays, not objects.
    """
    if trace.markers is None:
        raise ValueError("trace has no markers; use segments_from_events or segments_by_level")
    table: Mapping[int, str] = dict(enumerate(names)) if isinstance(names, Sequence) else (names or {})

    def label(v: int) -> str:
        if names is None:
            return f"state_{v}"
        return table.get(v) or marker_label(v)

    n = len(trace)
    if not n:
        return SegmentTable([], np.zeros(0), np.zeros(0), np.zeros(0))
    first = np.asarray(trace.markers[0:1]) & mask
    starts: list[Any] = [np.zeros(1, dtype=np.int64)]
    values: list[Any] = [first.astype(np.uint8)]
    for c0 in range(0, n, chunk_samples):
        lo, c1 = max(c0 - 1, 0), min(n, c0 + chunk_samples)
        m = np.asarray(trace.markers[lo:c1]) & mask
        edges = np.flatnonzero(m[1:] != m[:-1]) + 1
        starts.append(edges + lo)
        values.append(m[edges])
    i0 = np.concatenate(starts)
    uniq, code = np.unique(np.concatenate(values), return_inverse=True)
    return SegmentTable([label(int(v)) for v in uniq], code.reshape(-1), i0, np.append(i0[1:], n))


def segments_from_events(trace: "Trace", events: Sequence[tuple[float, str]]) -> list[Segment]:
    """Segments from timestamped state entries (console log lines, protocol events): (t_s, state)."""
    ordered = sorted(events)
    out: list[Segment] = []
    for k, (t, state) in enumerate(ordered):
        i0 = trace.index_at(t)
        i1 = trace.index_at(ordered[k + 1][0]) if k + 1 < len(ordered) else len(trace)
        if i1 > i0:
            out.append(Segment(state, i0, i1))
    return out
