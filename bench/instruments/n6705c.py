"""Keysight N6705C DC power analyzer with an N6781A SMU module, digitizer capture.

Capture = the mainframe's digitizer (``SENS:SWE:TINT``/``POIN``, ``INIT:ACQ``, ``TRIG:ACQ``) read back
with ``FETC:ARR:CURR?`` as a big-endian float32 IEEE 488.2 block (``FORM REAL``). One acquisition
holds at most 512 k points, so a capture is finite: ``duration_s`` is required.
"""

from __future__ import annotations

import time
from typing import Any

from bench.instruments.base import Capture, InstrumentError, register
from bench.instruments.scpi import DEFAULT_TIMEOUT_S, ScpiInstrument, uniform_capture

MAX_POINTS = 524_288
TINT_STEP_S = 5.12e-6


@register(r"N6705[BC]", "Keysight N6705B/C (+ N6781A/N6782A SMU)")
class N6705C(ScpiInstrument):
    """N6705C channel ``channel`` (the slot holding the N6781A). Ranges are the N6781A's."""

    max_sample_rate_hz = 1 / TINT_STEP_S
    _RANGES_A = (1e-6, 100e-6, 1e-3, 10e-3, 100e-3, 1.0, 3.0)

    def __init__(self, resource: Any, *, idn: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S,
                 channel: int = 1) -> None:
        super().__init__(resource, idn=idn, timeout_s=timeout_s)
        self.channel = channel
        self._ch = f"(@{channel})"
        self._range_a: float | None = None
        self._armed: tuple[float, float, int] | None = None  # (t_trigger_s, rate_hz, points)
        self.write("*CLS")
        self.write("FORM REAL")
        self.write("FORM:BORD NORM")
        self.check("FORM REAL; FORM:BORD NORM")

    def ranges_a(self) -> tuple[float, ...]:
        return self._RANGES_A

    def set_range(self, range_a: float | None) -> None:
        if range_a is None:
            self.write(f"SENS:CURR:RANG:AUTO ON,{self._ch}")
        else:
            self.write(f"SENS:CURR:RANG {range_a:g},{self._ch}")
        self._range_a = range_a
        self.check(f"set range {range_a}")

    def set_voltage(self, voltage_v: float) -> None:
        self.write(f"VOLT {voltage_v:g},{self._ch}")
        self.check(f"VOLT {voltage_v:g}")

    def output(self, on: bool) -> None:
        self.write(f"OUTP {'ON' if on else 'OFF'},{self._ch}")
        self.check("OUTP")

    def measure_current_a(self) -> float:
        """One averaged reading (the instrument's own MEAS:CURR?)."""
        return self.query_float(f"MEAS:CURR? {self._ch}")

    def start_capture(self, sample_rate_hz: float, duration_s: float | None = None) -> None:
        if duration_s is None:
            raise ValueError("N6705C digitizer captures are finite: pass duration_s (≤ 512k points)")
        if sample_rate_hz > self.max_sample_rate_hz:
            raise ValueError(f"N6705C digitizer tops at {self.max_sample_rate_hz:.0f} S/s, asked {sample_rate_hz:g}")
        points = int(round(sample_rate_hz * duration_s))
        if not 1 <= points <= MAX_POINTS:
            raise ValueError(f"capture of {points} points does not fit one acquisition (1..{MAX_POINTS})")
        self.write(f"SENS:SWE:TINT {1 / sample_rate_hz:.9g},{self._ch}")
        self.write(f"SENS:SWE:POIN {points},{self._ch}")
        tint_s = self.query_float(f"SENS:SWE:TINT? {self._ch}")  # the instrument quantises TINT
        self.write(f"INIT:ACQ {self._ch}")
        self.write(f"TRIG:ACQ {self._ch}")
        t_trigger = time.monotonic()
        self.check("INIT:ACQ; TRIG:ACQ")
        self._armed = (t_trigger, 1 / tint_s, points)

    def read_samples(self, timeout_s: float = 5.0) -> Capture:
        """Wait for the acquisition to finish and fetch it (``timeout_s`` on top of its duration)."""
        if self._armed is None:
            raise InstrumentError("no capture started", resource=self.resource_name, command="FETC:ARR:CURR?")
        t0, rate, points = self._armed
        remaining_s = max(0.0, t0 + points / rate - time.monotonic())
        data = self.query_block(f"FETC:ARR:CURR? {self._ch}", timeout_s=remaining_s + timeout_s)
        self._armed = None
        return uniform_capture(t0, rate, data, self._range_a, expected=points)

    def stop_capture(self, timeout_s: float = 5.0) -> Capture:
        return self.read_samples(timeout_s)

    def abort(self) -> None:
        """Abort a running acquisition."""
        self.write(f"ABOR:ACQ {self._ch}")
        self._armed = None
