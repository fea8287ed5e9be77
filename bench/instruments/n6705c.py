"""Keysight N6705C DC power analyzer with an N6781A/N6782A SMU (or any module): digitizer captures.

Per the N6700 Series Programming Guide: every channel command carries ``(@channel)`` (the bench
file's ``power.channel``); the current limit is ``CURR:LIM`` on an SMU in voltage priority, ``CURR``
on the other modules (asked with ``SYST:CHAN:MOD?``). A capture turns current measurement on
(``SENS:FUNC:CURR ON``), sets ``SENS:SWE:TINT``/``POIN`` and ``TRIG:ACQ:SOUR BUS``, arms with
``INIT:ACQ``, waits until the channel reports WTG-meas (``STAT:OPER:COND?`` bit 3) and only then sends
``TRIG:ACQ``; ``FETC:ARR:CURR?`` reads it back as a big-endian float32 block (``FORM REAL``).

One acquisition holds at most 512 k points (≈ 5.2 s at 100 kS/s). Longer captures run as back-to-back
acquisitions on a thread: the few ms between them (fetch + re-arm) are not sampled and are counted
in ``lost_samples`` at their place in time — the host never pretends the trace is gap-free.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from bench.instruments.base import Capture, InstrumentError, register
from bench.instruments.scpi import DEFAULT_TIMEOUT_S, ScpiInstrument, uniform_capture

MAX_POINTS = 524_288
TINT_STEP_S = 5.12e-6
WTG_MEAS = 8          # STATus:OPERation bit 3: waiting for the measurement trigger
POLL_S = 0.001


@register(r"N6705[BC]", "Keysight N6705B/C (+ N6781A/N6782A SMU)")
class N6705C(ScpiInstrument):
    """N6705C channel ``channel`` (the slot holding the N6781A). Ranges are the N6781A's."""

    max_sample_rate_hz = 1 / TINT_STEP_S
    _RANGES_A = (1e-6, 100e-6, 1e-3, 10e-3, 100e-3, 1.0, 3.0)

    def __init__(self, resource: Any, *, idn: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S,
                 channel: int = 1, max_points: int = MAX_POINTS) -> None:
        super().__init__(resource, idn=idn, timeout_s=timeout_s)
        self.channel, self.max_points, self.timeout_s = channel, max_points, timeout_s
        self._ch = f"(@{channel})"
        self._range_a: float | None = None
        self._armed: tuple[float, float, int] | None = None  # (t_trigger_s, rate_hz, points)
        self._chunks: _Chunked | None = None
        self.write("*CLS")
        self.write("FORM REAL")
        self.write("FORM:BORD NORM")
        self.check("FORM REAL; FORM:BORD NORM")
        self.module = self.query(f"SYST:CHAN:MOD? {self._ch}")
        self.check(f"SYST:CHAN:MOD? {self._ch} (is a module fitted in slot {channel}?)")

    def ranges_a(self) -> tuple[float, ...]:
        return self._RANGES_A

    def set_range(self, range_a: float | None) -> None:
        if range_a is None:
            self.write(f"SENS:CURR:RANG:AUTO ON,{self._ch}")
        else:
            self.write(f"SENS:CURR:RANG {range_a:g},{self._ch}")
        self._range_a = range_a
        self.check(f"set range {range_a}")

    def set_current_limit(self, limit_a: float) -> None:
        """Current limit: ``CURR:LIM`` on an N678x SMU (voltage priority), ``CURR`` on the others."""
        header = "CURR:LIM" if self.module.upper().startswith("N678") else "CURR"
        self.write(f"{header} {limit_a:g},{self._ch}")
        self.check(f"{header} {limit_a:g}")
        self.current_limit_a = limit_a

    def set_voltage(self, voltage_v: float) -> None:
        self.write(f"VOLT {voltage_v:g},{self._ch}")
        self.check(f"VOLT {voltage_v:g}")

    def output(self, on: bool) -> None:
        if on:
            self.require_current_limit()
        self.write(f"OUTP {'ON' if on else 'OFF'},{self._ch}")
        self.check("OUTP")

    def measure_current_a(self) -> float:
        """One averaged reading (the instrument's own MEAS:CURR?)."""
        return self.query_float(f"MEAS:CURR? {self._ch}")

    # -- capture ----------------------------------------------------------------------------------
    def start_capture(self, sample_rate_hz: float, duration_s: float | None = None) -> None:
        if duration_s is None:
            raise ValueError("N6705C digitizer captures are finite: pass duration_s")
        if sample_rate_hz > self.max_sample_rate_hz:
            raise ValueError(f"N6705C digitizer tops at {self.max_sample_rate_hz:.0f} S/s, asked {sample_rate_hz:g}")
        points = int(round(sample_rate_hz * duration_s))
        if points < 1:
            raise ValueError(f"a {duration_s:g} s capture at {sample_rate_hz:g} S/s has no samples")
        self.write(f"SENS:FUNC:CURR ON,{self._ch}")
        self.write(f"SENS:SWE:TINT {1 / sample_rate_hz:.9g},{self._ch}")
        self.write(f"TRIG:ACQ:SOUR BUS,{self._ch}")
        self.check("SENS:FUNC:CURR ON; SENS:SWE:TINT; TRIG:ACQ:SOUR BUS")
        rate = 1 / self.query_float(f"SENS:SWE:TINT? {self._ch}")  # the instrument quantises TINT
        if points <= self.max_points:
            self._armed = (self._trigger(points), rate, points)
        else:
            self._chunks = _Chunked(self, rate, duration_s)

    def _trigger(self, points: int) -> float:
        """Arm one acquisition of ``points``, wait for WTG-meas, trigger it; returns the trigger time."""
        self.write(f"SENS:SWE:POIN {points},{self._ch}")
        self.write(f"INIT:ACQ {self._ch}")
        deadline = time.monotonic() + self.timeout_s
        while not int(self.query_float(f"STAT:OPER:COND? {self._ch}")) & WTG_MEAS:
            if time.monotonic() > deadline:
                raise InstrumentError(f"not waiting for trigger {self.timeout_s:g} s after INIT:ACQ",
                                      resource=self.resource_name, command="STAT:OPER:COND?")
            time.sleep(POLL_S)   # polling the condition register is the instrument's protocol
        self.write(f"TRIG:ACQ {self._ch}")
        t_trigger = time.monotonic()
        self.check("SENS:SWE:POIN; INIT:ACQ; TRIG:ACQ")
        return t_trigger

    def _fetch(self, t0: float, rate: float, points: int, timeout_s: float) -> Capture:
        remaining_s = max(0.0, t0 + points / rate - time.monotonic())
        data = self.query_block(f"FETC:ARR:CURR? {self._ch}", timeout_s=remaining_s + timeout_s)
        return uniform_capture(t0, rate, data, self._range_a, expected=points)

    def read_samples(self, timeout_s: float = 5.0) -> Capture:
        """Wait for the capture to finish and fetch it (``timeout_s`` on top of its duration)."""
        if self._chunks is not None:
            chunks, self._chunks = self._chunks, None
            return chunks.result(timeout_s)
        if self._armed is None:
            raise InstrumentError("no capture started", resource=self.resource_name, command="FETC:ARR:CURR?")
        t0, rate, points = self._armed
        self._armed = None
        return self._fetch(t0, rate, points, timeout_s)

    def stop_capture(self, timeout_s: float = 5.0) -> Capture:
        return self.read_samples(timeout_s)

    def abort(self) -> None:
        """Abort a running acquisition."""
        self.write(f"ABOR:ACQ {self._ch}")
        self._armed = None


class _Chunked:
    """Back-to-back acquisitions covering ``duration_s`` from the first trigger, on a thread."""

    def __init__(self, meter: N6705C, rate_hz: float, duration_s: float) -> None:
        self.meter, self.rate_hz, self.duration_s = meter, rate_hz, duration_s
        self.captures: list[Capture] = []
        self.fault: BaseException | None = None
        self.t0 = time.monotonic()
        self.thread = threading.Thread(target=self._run, name=f"n6705c-chunks {meter.resource_name}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            end = None
            while end is None or time.monotonic() < end:
                left = self.meter.max_points if end is None else int((end - time.monotonic()) * self.rate_hz)
                if left < 1:
                    break
                t = self.meter._trigger(min(self.meter.max_points, left))
                if end is None:
                    self.t0, end = t, t + self.duration_s
                n = min(self.meter.max_points, left)
                self.captures.append(self.meter._fetch(t, self.rate_hz, n, self.meter.timeout_s))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller of result()
            self.fault = exc

    def result(self, timeout_s: float) -> Capture:
        self.thread.join(self.duration_s + timeout_s + self.meter.timeout_s)
        if self.thread.is_alive():
            raise InstrumentError(f"chunked capture still running {timeout_s:g} s after its end",
                                  resource=self.meter.resource_name)
        if self.fault is not None:
            raise self.fault
        caps = self.captures
        expected = int(round(self.duration_s * self.rate_hz))
        t = np.concatenate([c.t_s for c in caps])
        keep = t < self.t0 + expected / self.rate_hz     # the last acquisition may run past the end: cut it
        overflow = np.concatenate([c.overflow if c.overflow is not None else np.zeros(len(c), bool) for c in caps])
        got = int(keep.sum())
        return Capture(t_s=t[keep], current_a=np.concatenate([c.current_a for c in caps])[keep],
                       sample_rate_hz=self.rate_hz, overflow=overflow[keep], lost_samples=max(0, expected - got),
                       expected_samples=expected,
                       notes=[f"{len(caps)} back-to-back acquisitions of ≤ {self.meter.max_points} points; "
                              f"{max(0, expected - got)} samples between them not sampled"])
