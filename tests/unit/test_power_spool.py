"""Spooled captures (raw float32 + uint8 files read by numpy.memmap) and the per-chunk statistics."""

import json

import numpy as np
import pytest

from bench.instruments.base import Capture
from bench.power.analysis import SegmentTable, Trace, segments_from_markers, state_stats
from bench.power.segments import Segment
from bench.power.spool import SampleSpool, open_spool


def _cap(i0: int, n: int, *, skip: tuple[int, ...] = (), logic: int = 1, over: tuple[int, ...] = ()) -> Capture:
    idx = np.array([i for i in range(i0, i0 + n) if i not in skip])
    overflow = np.isin(idx, over)
    return Capture(t_s=50.0 + idx / 1000, current_a=idx * 1e-6, sample_rate_hz=1000.0, overflow=overflow,
                   markers=np.full(idx.size, logic, np.uint8), lost_samples=len(skip))


def test_spool_places_samples_in_time_and_documents_itself(tmp_path):
    with SampleSpool(tmp_path / "c") as spool:
        spool.append(_cap(0, 10, logic=3, over=(4,)))
        spool.append(_cap(10, 10, skip=(12, 13), logic=5, over=(19,)))
        spool.append(_cap(20, 0))
    raw = np.memmap(tmp_path / "c.f32", dtype="<f4", mode="r")          # the documented format, no glassbench
    logic = np.memmap(tmp_path / "c.logic.u8", dtype=np.uint8, mode="r")
    assert raw.size == logic.size == 20
    assert np.isnan(raw[12]) and np.isnan(raw[13]) and raw[14] == pytest.approx(14e-6)
    assert list(logic[9:15]) == [3, 5, 5, 5, 5, 5]                       # a lost sample repeats the one before
    assert list(np.fromfile(tmp_path / "c.overflow.i64", dtype="<i8")) == [4, 19]
    header = json.loads((tmp_path / "c.json").read_text())
    assert (header["t0_s"], header["samples"], header["holes"], header["lost_samples"]) == (50.0, 20, 2, 2)
    trace, overflow, _ = open_spool(tmp_path / "c")
    assert trace.t0_s == 50.0 and trace.sample_rate_hz == 1000.0 and list(overflow) == [4, 19]
    stats = state_stats(trace, segments_from_markers(trace))
    assert stats["state_5"].samples == 8 and stats["state_5"].lost_samples == 2


def test_a_lost_first_sample_of_a_chunk_keeps_the_previous_logic(tmp_path):
    with SampleSpool(tmp_path / "c") as spool:
        spool.append(_cap(0, 5, logic=2))
        spool.append(_cap(5, 5, skip=(5, 6), logic=7))
    assert list(np.fromfile(tmp_path / "c.logic.u8", dtype=np.uint8)) == [2] * 7 + [7] * 3


def test_empty_spool_is_refused_clearly(tmp_path):
    SampleSpool(tmp_path / "e").close()
    with pytest.raises(ValueError, match="no samples"):
        open_spool(tmp_path / "e")


def _reference_stats(x: np.ndarray, segs: list[Segment]) -> dict[str, tuple[int, float, float]]:
    out: dict[str, list[np.ndarray]] = {}
    for s in segs:
        out.setdefault(s.state, []).append(x[s.i0:s.i1])
    res = {}
    for k, parts in out.items():
        v = np.concatenate(parts).astype(np.float32)
        v = v[~np.isnan(v)]
        res[k] = (v.size, float(np.mean(v, dtype=np.float64)), float(v.max()))
    return res


def test_per_chunk_statistics_equal_per_segment_ones_for_many_segments():
    rng = np.random.default_rng(3)
    lengths = rng.integers(1, 50, 4000)
    codes = rng.integers(0, 4, lengths.size)
    i0 = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    keep = rng.random(lengths.size) > 0.1          # 10 % of the time belongs to no segment
    table = SegmentTable(["a", "b", "c", "a"], codes[keep], i0[keep], (i0 + lengths)[keep])
    x = rng.gamma(2.0, 1e-3, int(lengths.sum()))
    x[rng.integers(0, x.size, 300)] = np.nan
    stats = state_stats(Trace(x, 0.0, 1000.0), table, chunk_samples=1000)
    ref = _reference_stats(x, list(table))
    assert set(stats) == set(ref) == {"a", "b", "c"}
    for name, (n, mean, peak) in ref.items():
        assert stats[name].samples == n
        assert stats[name].mean_a == pytest.approx(mean, rel=1e-9)
        assert stats[name].peak_a == pytest.approx(peak, rel=1e-7)
    assert sum(s.lost_samples for s in stats.values()) == int(np.isnan(x[np.repeat(keep, lengths)]).sum())


def test_overlapping_segments_are_refused():
    with pytest.raises(ValueError, match="overlap"):
        state_stats(Trace(np.ones(100), 0.0, 1000.0), [Segment("a", 0, 60), Segment("b", 50, 100)])


def test_segment_table_reads_as_a_list_of_segments():
    table = SegmentTable(["x", "y"], np.array([0, 1, 0]), np.array([0, 5, 9]), np.array([5, 9, 12]))
    assert table == [Segment("x", 0, 5), Segment("y", 5, 9), Segment("x", 9, 12)]
    assert table[1] == Segment("y", 5, 9) and len(table[1:]) == 2 and [s.state for s in table] == ["x", "y", "x"]
