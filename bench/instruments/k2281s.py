"""Keithley 2281S battery simulator / precision supply, reading back its reading buffer.

The 2281S is slow next to a digitizer (integration set in NPLC); capture = fill ``defbuffer1`` with
``count`` readings and read them with their relative timestamps (``:TRAC:DATA? … READ,REL``), so
sample times are the instrument's own, not assumed. Command set as in the 2281S reference manual;
here it is exercised only against the pyvisa-sim definition in fixtures/instruments/k2281s.yaml.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from bench.instruments.base import Capture, InstrumentError, register
from bench.instruments.scpi import DEFAULT_TIMEOUT_S, ScpiInstrument

BUFFER = '"defbuffer1"'


@register(r"KEITHLEY.*228[01]S", "Keithley 2280S/2281S")
class K2281S(ScpiInstrument):
    """2281S in power-supply (default) or battery-simulator mode (``battery_simulator=True``)."""

    max_sample_rate_hz = 1000.0  # order of magnitude at the shortest NPLC; check your unit
    _RANGES_A = (0.01, 0.1, 1.0, 6.0)

    def __init__(self, resource: Any, *, idn: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S,
                 battery_simulator: bool = False, line_hz: float = 50.0) -> None:
        super().__init__(resource, idn=idn, timeout_s=timeout_s)
        self.line_hz = line_hz
        self._range_a: float | None = None
        self._started: tuple[float, int] | None = None
        self.write("*CLS")
        self.write(f":ENTR:FUNC {'SIM' if battery_simulator else 'POW'}")
        self.write(':SENS:FUNC "CURR"')
        self.check(":ENTR:FUNC")

    def ranges_a(self) -> tuple[float, ...]:
        return self._RANGES_A

    def set_range(self, range_a: float | None) -> None:
        self.write(":SENS:CURR:RANG:AUTO ON" if range_a is None else f":SENS:CURR:RANG {range_a:g}")
        self._range_a = range_a
        self.check("set range")

    def set_voltage(self, voltage_v: float) -> None:
        self.write(f":VOLT {voltage_v:g}")
        self.check(":VOLT")

    def output(self, on: bool) -> None:
        self.write(f":OUTP {'ON' if on else 'OFF'}")
        self.check(":OUTP")

    def start_capture(self, sample_rate_hz: float, duration_s: float | None = None) -> None:
        if duration_s is None:
            raise ValueError("2281S captures fill a finite buffer: pass duration_s")
        if sample_rate_hz > self.max_sample_rate_hz:
            raise ValueError(f"2281S reads at most ~{self.max_sample_rate_hz:.0f} S/s, asked {sample_rate_hz:g}")
        count = max(1, int(round(sample_rate_hz * duration_s)))
        self.write(f":SENS:CURR:NPLC {self.line_hz / sample_rate_hz:.6g}")
        self.write(":TRAC:CLE")
        self.write(f":TRAC:POIN {count}")
        self.write(":TRIG:ACQ:SOUR IMM")
        self.write(f":TRIG:ACQ:COUN {count}")
        self.write(":INIT")
        self._started = (time.monotonic(), count)
        self.check(":INIT")

    def read_samples(self, timeout_s: float = 5.0) -> Capture:
        """Read the buffer (waits up to the capture duration + ``timeout_s`` for it to fill)."""
        if self._started is None:
            raise InstrumentError("no capture started", resource=self.resource_name, command=":TRAC:DATA?")
        t0, count = self._started
        deadline = time.monotonic() + timeout_s + count / self.max_sample_rate_hz
        while (have := int(self.query_float(f":TRAC:ACT? {BUFFER}"))) < count:
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)  # polling the buffer fill level is the instrument's protocol
        values = self.query_ascii(f":TRAC:DATA? 1,{max(have, 1)},{BUFFER},READ,REL") if have else np.empty(0)
        self._started = None
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
