"""Record current while the DUT is driven through power states, and cut the trace into states.

``PowerRig`` owns the bench's power meter (PPK2 or a VISA instrument), opens it lazily and again
after a fault, and turns every ``InstrumentError`` into ``InstrumentFault`` (the test is broken,
category "instrument fault"). ``record(duration_s, action)`` starts a capture, runs the action that
moves the DUT (a console command, a protocol request) and returns a ``Recording`` segmented by the
best markers available: PPK2 logic inputs *as the bench file wires them* (``markers``; logic inputs
nobody declared are ignored), else the console's ``pm: state …`` lines, else the action's own timing
(``expect_state`` after it).

Memory: samples are spooled to disk as they stream (``bench/power/spool.py``, one raw float32 file
and one uint8 logic file, read back through ``numpy.memmap``), so an hour at 100 kS/s holds a few
MB of Python memory, not the ~50 B/sample of joined chunks. ``spool_dir`` keeps the files (one
``capture-N`` stem per recording); without it they go to a temporary folder that is removed when
the ``Recording`` is garbage-collected.

Safety: a sourcing meter gets its current limit before its output goes on, and a supply voltage
above ``max_voltage_v`` (the board's rating, from the bench file) is refused before anything is sent.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from bench.errors import InstrumentFault
from bench.instruments import Capture, InstrumentError, Ppk2Meter, open_power_meter
from bench.power.analysis import Segment, SegmentTable, StateStats, Trace, segments_from_events, segments_from_markers, state_stats
from bench.power.spool import SampleSpool, open_spool
from bench.power.states import CONSOLE_MESSAGE, CONSOLE_MODULE, STATES
from bench.progress import progress

POLL_S = 0.05


@dataclass
class Recording:
    """One capture, its state segments and what the instrument said about its quality."""

    trace: Trace                    # memory-mapped from the spool files
    segments: Sequence[Segment]
    overflow_idx: np.ndarray        # indices of samples above the range (their value is a lower bound)
    lost_samples: int               # samples the instrument or the link lost (NaN in the trace or unplaced)
    segmentation: str               # "markers" | "console" | "action"
    instrument: str
    action_s: tuple[float, float] | None = None   # when the action ran (CLOCK_MONOTONIC)
    notes: list[str] = field(default_factory=list)
    spool: Path | None = None       # the files' stem (docs/power.md, "Spool files")

    @property
    def overflow(self) -> np.ndarray:
        """Bool per trace sample, True above the range (dense: prefer ``overflow_idx`` on long traces)."""
        dense = np.zeros(len(self.trace), dtype=bool)
        dense[self.overflow_idx] = True
        return dense

    def stats(self) -> dict[str, StateStats]:
        """Mean, p99, peak and charge per state seen in the recording."""
        return state_stats(self.trace, self.segments)

    def state(self, name: str) -> StateStats:
        """Statistics of ``name``; AssertionError (a DUT failure) when the DUT never entered it."""
        stats = self.stats()
        if name not in stats:
            seen = ", ".join(f"{s} {v.duration_s:.2f} s" for s, v in stats.items()) or "nothing"
            raise AssertionError(f"the DUT was never in state {name!r} during the capture "
                                 f"({self.segmentation} segmentation saw {seen})")
        return stats[name]

    def overflow_in(self, name: str) -> int:
        table = SegmentTable.from_segments(self.segments)   # vectorised: 10⁶ segments in an hour's capture
        sel = np.isin(table.code, [k for k, n in enumerate(table.names) if n == name])
        idx = self.overflow_idx
        return int((np.searchsorted(idx, table.i1[sel]) - np.searchsorted(idx, table.i0[sel])).sum())

    def context(self, name: str) -> dict[str, Any]:
        """Extra fields for ``measure(...)``: quality flags and the state's other statistics."""
        st = self.state(name)
        overflow = self.overflow_in(name)
        return {"state": name, "p99_a": st.p99_a, "peak_a": st.peak_a, "charge_c": st.charge_c,
                "duration_s": st.duration_s, "overflow": overflow, "mean_is_lower_bound": overflow > 0,
                "lost_samples": self.lost_samples, "complete": self.lost_samples == 0,
                "segmentation": self.segmentation, "instrument": self.instrument, "notes": "; ".join(self.notes)}


def console_state_events(records: Sequence[Any]) -> list[tuple[float, str]]:
    """(host time, state) from console log records ``<inf> pm: state <name>``."""
    events = []
    for rec in records:
        if getattr(rec, "module", None) == CONSOLE_MODULE and rec.message:
            m = CONSOLE_MESSAGE.fullmatch(rec.message.strip())
            if m and m.group(1) in STATES:
                events.append((rec.host_time_s, m.group(1)))
    return events


class PowerRig:
    """The bench's power meter as the power suites use it (see module docstring)."""

    def __init__(self, kind: str, resource: str, *, supply_voltage_v: float = 3.0, sample_rate_hz: float = 100_000,
                 timeout_s: float = 5.0, mode: str = "source", range_a: float | None = None,
                 console: Callable[[], Any] | None = None, current_limit_a: float = 0.1,
                 max_voltage_v: float | None = 3.6, markers: Mapping[int, str] | None = None, marker_mask: int = 0xFF,
                 channel: int = 1, spool_dir: str | Path | None = None) -> None:
        sources = kind != "ppk2" or mode == "source"
        if sources and max_voltage_v is not None and supply_voltage_v > max_voltage_v:
            raise ValueError(f"refusing to source {supply_voltage_v:g} V: above the DUT's {max_voltage_v:g} V rating "
                             f"(allow_over_voltage: true in the bench file lifts this)")
        self.kind, self.resource, self.range_a = kind, resource, range_a
        self.supply_voltage_v, self.sample_rate_hz = supply_voltage_v, sample_rate_hz
        self.timeout_s, self.mode = timeout_s, mode
        self.current_limit_a, self.max_voltage_v, self.channel = current_limit_a, max_voltage_v, channel
        self.markers, self.marker_mask = markers, marker_mask
        self.spool_dir = Path(spool_dir) if spool_dir is not None else None
        self._spool_ids = itertools.count()
        self.console = console or (lambda: None)
        self._meter: Any = None
        self.identity = ""

    # -- the instrument ---------------------------------------------------------------------------
    @property
    def meter(self) -> Any:
        """The open meter, supplying the DUT; reopened (retrying up to ``timeout_s``) after a fault."""
        if self._meter is None:
            deadline = time.monotonic() + self.timeout_s
            while True:
                try:
                    self._meter = self._open()
                    break
                except InstrumentError as exc:
                    if time.monotonic() > deadline:
                        raise InstrumentFault(f"cannot open the {self.kind} meter: {exc}") from exc
                    time.sleep(0.2)   # a replugged instrument takes a moment to enumerate
            self.identity = self._meter.identity
        return self._meter

    def _open(self) -> Any:
        if self.kind == "ppk2":   # no programmable current limit on a PPK2 (docs/power.md)
            meter = Ppk2Meter(self.resource, mode=self.mode, voltage_v=self.supply_voltage_v, timeout_s=self.timeout_s)
        else:
            meter = open_power_meter(self.resource, timeout_s=self.timeout_s, channel=self.channel)
        try:
            if self.kind != "ppk2":
                meter.set_range(self.range_a)   # None: auto-ranging
                meter.set_current_limit(self.current_limit_a)   # before the output goes on, always
                meter.set_voltage(self.supply_voltage_v)
            meter.output(True)
        except InstrumentError:
            meter.close()
            raise
        return meter

    def broken(self) -> None:
        """Forget the meter after a fault (the next use reopens it)."""
        meter, self._meter = self._meter, None
        if meter is not None:
            try:
                meter.close()
            except Exception:  # noqa: BLE001 - it is broken already
                pass

    def close(self) -> None:
        self.broken()

    # -- capture ----------------------------------------------------------------------------------
    def record(self, duration_s: float, action: Callable[[], Any] | None = None, *, lead_s: float = 0.15,
               expect_state: str | None = None, settle_s: float = 0.02) -> Recording:
        """Capture ``duration_s`` of current; ``action`` runs ``lead_s`` after the start."""
        spool, cleanup = self._new_spool()
        try:
            with progress(f"power capture ({self.kind})", total=duration_s, unit="s", timed=True):
                action_s = self._capture(duration_s, action, lead_s, spool)
        except InstrumentError as exc:
            self.broken()
            raise InstrumentFault(f"{self.kind} meter {self.resource}: {exc}") from exc
        finally:
            spool.close()
        return self._recording(spool, action_s, expect_state, settle_s, cleanup)

    def _new_spool(self) -> tuple[SampleSpool, str | None]:
        """A spool in ``spool_dir`` (kept), else in a temporary folder (removed with its Recording)."""
        if self.spool_dir is not None:
            return SampleSpool(self.spool_dir / f"capture-{time.strftime('%H%M%S')}-{next(self._spool_ids)}"), None
        tmp = tempfile.mkdtemp(prefix="glassbench-power-")
        return SampleSpool(Path(tmp) / "capture"), tmp

    def _capture(self, duration_s: float, action: Callable[[], Any] | None,
                 lead_s: float, spool: SampleSpool) -> tuple[float, float] | None:
        meter = self.meter
        rate = min(self.sample_rate_hz, meter.max_sample_rate_hz)
        streaming = isinstance(meter, Ppk2Meter)
        if not streaming:   # another client may have changed the instrument's range since we opened it
            meter.set_range(self.range_a)
        meter.start_capture(rate, duration_s)
        t0 = time.monotonic()
        last_data_s = t0
        action_s = None
        while (now := time.monotonic()) < t0 + duration_s:
            if action is not None and action_s is None and now >= t0 + lead_s:
                a0 = time.monotonic()
                action()
                action_s = (a0, time.monotonic())
                continue
            time.sleep(POLL_S)
            if streaming:   # drain as we go and notice a stream that stopped
                cap = meter.read_samples()
                if len(cap):
                    spool.append(cap)
                    last_data_s = time.monotonic()
                elif time.monotonic() - last_data_s > min(self.timeout_s, 1.0):
                    raise InstrumentError(f"no samples for {time.monotonic() - last_data_s:.1f} s: the stream stopped",
                                          resource=self.resource)
        spool.append(meter.stop_capture(self.timeout_s))
        if action is not None and action_s is None:
            raise ValueError(f"lead_s {lead_s} leaves no time for the action in a {duration_s} s capture")
        return action_s

    def recording(self, captures: Sequence[Capture], action_s: tuple[float, float] | None,
                  expect_state: str | None, settle_s: float = 0.02) -> Recording:
        """Spool captures (taken elsewhere) and cut them into states (markers, console lines, or the action)."""
        spool, cleanup = self._new_spool()
        with spool:
            for cap in captures:
                spool.append(cap)
        return self._recording(spool, action_s, expect_state, settle_s, cleanup)

    def _recording(self, spool: SampleSpool, action_s: tuple[float, float] | None, expect_state: str | None,
                   settle_s: float, cleanup: str | None) -> Recording:
        if not spool.samples:
            if cleanup:
                shutil.rmtree(cleanup, ignore_errors=True)
            raise InstrumentFault(f"{self.kind} meter {self.resource}: the capture returned no samples")
        trace, overflow, header = open_spool(spool.stem)
        lost = header["lost_samples"]   # holes placed in time, or more when the instrument counted unplaced ones
        notes = list(dict.fromkeys(trace.notes))
        if lost:
            notes.append(f"{lost} samples lost: statistics use the samples that arrived")
        if overflow.size:
            notes.append(f"{overflow.size} samples above the range: their values are lower bounds")
        segments: Sequence[Segment]
        if trace.markers is not None and self.markers is not None:
            segments, how = segments_from_markers(trace, self.markers, mask=self.marker_mask), "markers"
        else:
            console = self.console()
            events = console_state_events(console.records) if console is not None else []
            if events:
                segments, how = segments_from_events(trace, events), "console"
            elif action_s is None and expect_state is not None:
                segments, how = [Segment(expect_state, 0, len(trace))], "action"
            elif action_s is not None and expect_state is not None:
                cut = trace.index_at(action_s[1] + settle_s)
                cuts = [Segment("before", 0, trace.index_at(action_s[0])), Segment(expect_state, cut, len(trace))]
                segments, how = [s for s in cuts if s.i1 > s.i0], "action"
            else:
                raise ValueError("no markers and no console state lines: pass action and expect_state "
                                 "so the recording can be cut at the action")
        rec = Recording(trace, segments, overflow, lost, how, self.identity, action_s, notes, spool.stem)
        if cleanup:
            weakref.finalize(rec, shutil.rmtree, cleanup, True)
        return rec
