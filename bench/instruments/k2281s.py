"""Keithley 2281S-20-6 battery simulator / precision supply, reading back its reading buffer.

Commands as the 2281S reference manual (077114601, section 7) has them — not the 2450's TSP-style
``defbuffer1`` syntax, which a 2281S rejects: ``:ENTR:FUNC POW|SIM`` selects the function,
``:CURR`` is the current limit (0.1–6.1 A in power-supply mode), ``:SENS:FUNC "CURR"`` with
``:SENS:CURR:NPLC`` and ``:SENS:CURR:RANG[:AUTO]`` configures the measurement, and a capture fills
the buffer (``:TRAC:CLE``, ``:TRAC:POIN`` 2–2500, ``:TRIG:ACQ:SOUR IMM``, ``:TRIG:ACQ:COUN``,
``:INIT``), waits for buffer-full in ``:STAT:MEAS:INST:ISUM:COND?`` and reads
``:TRAC:DATA? "READ,REL"`` — readings with the instrument's own relative timestamps, so sample times
are measured, not assumed. The 2281S is slow next to a digitizer (integration in NPLC).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from bench.instruments.base import Capture, InstrumentError, register
from bench.instruments.scpi import DEFAULT_TIMEOUT_S, ScpiInstrument

BUFFER_POINTS = 2500
BUFFER_FULL = 256      # :STATus:MEASurement:INSTrument:ISUMmary bit 8
CURRENT_LIMIT_A = (0.1, 6.1)
POLL_S = 0.05


@register(r"KEITHLEY.*228[01]S", "Keithley 2280S/2281S")
class K2281S(ScpiInstrument):
    """2281S in power-supply (default) or battery-simulator mode (``battery_simulator=True``)."""

    max_sample_rate_hz = 1000.0  # order of magnitude at the shortest NPLC; check your unit
    _RANGES_A = (0.01, 0.1, 1.0, 10.0)

    def __init__(self, resource: Any, *, idn: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S,
                 battery_simulator: bool = False, line_hz: float | None = None, channel: int = 1) -> None:
        super().__init__(resource, idn=idn, timeout_s=timeout_s)
        if channel != 1:
            raise ValueError(f"the 2281S has one output channel, asked channel {channel}")
        self._range_a: float | None = None
        self._started: tuple[float, int] | None = None
        self.write("*CLS")
        self.write(f":ENTR:FUNC {'SIM' if battery_simulator else 'POW'}")
        self.write(':SENS:FUNC "CURR"')
        self.check(':ENTR:FUNC; :SENS:FUNC "CURR"')
        self.line_hz = line_hz if line_hz is not None else self.query_float(":SYST:LFR?")

    def ranges_a(self) -> tuple[float, ...]:
        return self._RANGES_A

    def set_range(self, range_a: float | None) -> None:
        self.write(":SENS:CURR:RANG:AUTO ON" if range_a is None else f":SENS:CURR:RANG {range_a:g}")
        self._range_a = range_a
        self.check("set range")

    def set_current_limit(self, limit_a: float) -> None:
        """``:CURR`` — the output's current limit (the 2281S accepts 0.1–6.1 A in power-supply mode)."""
        lo, hi = CURRENT_LIMIT_A
        if not lo <= limit_a <= hi:
            raise ValueError(f"the 2281S's current limit is {lo:g}–{hi:g} A, asked {limit_a:g} A")
        self.write(f":CURR {limit_a:g}")
        self.check(":CURR")
        self.current_limit_a = limit_a

    def set_voltage(self, voltage_v: float) -> None:
        self.write(f":VOLT {voltage_v:g}")
        self.check(":VOLT")

    def output(self, on: bool) -> None:
        if on:
            self.require_current_limit()
        self.write(f":OUTP {'ON' if on else 'OFF'}")
        self.check(":OUTP")

    def start_capture(self, sample_rate_hz: float, duration_s: float | None = None) -> None:
        if duration_s is None:
            raise ValueError("2281S captures fill a finite buffer: pass duration_s")
        if sample_rate_hz > self.max_sample_rate_hz:
            raise ValueError(f"2281S reads at most ~{self.max_sample_rate_hz:.0f} S/s, asked {sample_rate_hz:g}")
        count = max(2, int(round(sample_rate_hz * duration_s)))
        if count > BUFFER_POINTS:
            raise ValueError(f"{count} readings do not fit the 2281S buffer ({BUFFER_POINTS}); lower the rate "
                             f"or the duration")
        self.write(f":SENS:CURR:NPLC {max(0.002, min(12.0, self.line_hz / sample_rate_hz)):.6g}")
        self.write(":TRAC:CLE")
        self.write(f":TRAC:POIN {count}")
        self.write(":TRIG:ACQ:SOUR IMM")
        self.write(f":TRIG:ACQ:COUN {count}")
        self.write(":INIT")
        self._started = (time.monotonic(), count)
        self.check(":INIT")

    def read_samples(self, timeout_s: float = 5.0) -> Capture:
        """Wait for the buffer to fill (≤ its duration + ``timeout_s``) and read it."""
        if self._started is None:
            raise InstrumentError("no capture started", resource=self.resource_name, command=":TRAC:DATA?")
        t0, count = self._started
        self._started = None
        deadline = time.monotonic() + timeout_s + count / self.max_sample_rate_hz * 2
        while not int(self.query_float(":STAT:MEAS:INST:ISUM:COND?")) & BUFFER_FULL:
            if time.monotonic() > deadline:
                break   # read what is there; the shortfall is reported as lost samples
            time.sleep(POLL_S)   # polling the buffer status is the instrument's protocol
        reply = self.query(':TRAC:DATA? "READ,REL"', timeout_s=timeout_s)
        try:
            values = np.array([float(v) for v in reply.split(",")]) if reply else np.empty(0)
        except ValueError:
            raise InstrumentError(f"expected READ,REL numbers, got {reply[:60]!r}", resource=self.resource_name,
                                  command=":TRAC:DATA?") from None
        if values.size % 2:
            raise InstrumentError(f"expected READ,REL pairs, got {values.size} values", resource=self.resource_name,
                                  command=":TRAC:DATA?")
        pairs = values.reshape(-1, 2)
        current, rel_s = pairs[:, 0], pairs[:, 1]
        overflow = current >= 9.9e37
        if self._range_a is not None:
            overflow |= np.abs(current) >= self._range_a
        rate = (len(rel_s) - 1) / (rel_s[-1] - rel_s[0]) if len(rel_s) > 1 and rel_s[-1] > rel_s[0] else 0.0
        return Capture(t_s=t0 + rel_s, current_a=current, sample_rate_hz=rate, overflow=overflow,
                       lost_samples=max(0, count - len(current)), expected_samples=count)

    def stop_capture(self, timeout_s: float = 5.0) -> Capture:
        return self.read_samples(timeout_s)
