"""Rigol DP832 bench supply: current by polling ``:MEAS:CURR? CHn``.

Honest about what it is: each reading is one SCPI round trip (tens of ms on real units, 1 mA
resolution on the DP832, 0.1 mA on the DP832A), so it cannot see BLE events or µA sleep currents.
A capture polls from a thread and stamps each reading with the host clock; the achieved rate is
reported in the Capture, and asking for more than ``max_sample_rate_hz`` is refused.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from bench.instruments.base import Capture, InstrumentError, register
from bench.instruments.scpi import DEFAULT_TIMEOUT_S, ScpiInstrument


@register(r"RIGOL.*DP83[12]", "Rigol DP831/DP832(A)")
class DP832(ScpiInstrument):
    """One DP832 channel (``channel`` 1–3) as a slow power meter."""

    max_sample_rate_hz = 20.0
    _RANGES_A = (3.0,)

    def __init__(self, resource: Any, *, idn: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S,
                 channel: int = 1) -> None:
        super().__init__(resource, idn=idn, timeout_s=timeout_s)
        if channel not in (1, 2, 3):
            raise ValueError(f"the DP832 has channels 1–3, asked channel {channel}")
        self._ch = f"CH{channel}"
        self.channel = channel
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._t: list[float] = []
        self._i: list[float] = []
        self._capture_fault: InstrumentError | None = None
        self._rate_hz = 0.0

    def ranges_a(self) -> tuple[float, ...]:
        return self._RANGES_A

    def set_range(self, range_a: float | None) -> None:
        if range_a is not None and range_a not in self._RANGES_A:
            raise ValueError(f"DP832 has one fixed 3 A readback range, asked {range_a:g} A")

    def set_current_limit(self, limit_a: float) -> None:
        """``:SOURn:CURR`` — the channel's current setting, its limit while in constant voltage."""
        self.write(f":SOUR{self.channel}:CURR {limit_a:g}")
        self.check(f":SOUR{self.channel}:CURR")
        self.current_limit_a = limit_a

    def set_voltage(self, voltage_v: float) -> None:
        self.write(f":SOUR{self.channel}:VOLT {voltage_v:g}")
        self.check(f":SOUR{self.channel}:VOLT")

    def output(self, on: bool) -> None:
        if on:
            self.require_current_limit()
        self.write(f":OUTP {self._ch},{'ON' if on else 'OFF'}")
        self.check(":OUTP")

    def measure_current_a(self) -> float:
        return self.query_float(f":MEAS:CURR? {self._ch}")

    def start_capture(self, sample_rate_hz: float, duration_s: float | None = None) -> None:
        if sample_rate_hz > self.max_sample_rate_hz:
            raise ValueError(f"DP832 is polled over SCPI: at most ~{self.max_sample_rate_hz:g} S/s, asked "
                             f"{sample_rate_hz:g}; use a PPK2 or N6705C for event-level current")
        self._stop.clear()
        self._t, self._i, self._capture_fault, self._rate_hz = [], [], None, sample_rate_hz
        until = None if duration_s is None else time.monotonic() + duration_s
        self._thread = threading.Thread(target=self._poll, args=(1 / sample_rate_hz, until), daemon=True,
                                        name="dp832-poll")
        self._thread.start()

    def _poll(self, period_s: float, until: float | None) -> None:
        next_t = time.monotonic()
        while not self._stop.is_set() and (until is None or next_t < until):
            try:
                value = self.measure_current_a()
            except InstrumentError as exc:
                self._capture_fault = exc
                return
            self._t.append(time.monotonic())
            self._i.append(value)
            next_t += period_s
            self._stop.wait(max(0.0, next_t - time.monotonic()))  # paces the polling, not a race fix

    def _take(self) -> Capture:
        if self._capture_fault is not None:
            raise self._capture_fault
        n = len(self._t)
        t, i = np.array(self._t[:n]), np.array(self._i[:n])
        del self._t[:n], self._i[:n]
        achieved = (n - 1) / (t[-1] - t[0]) if n > 1 and t[-1] > t[0] else 0.0
        notes = [] if achieved >= 0.9 * self._rate_hz or n < 2 else [
            f"polling reached {achieved:.1f} S/s of the {self._rate_hz:g} asked"]
        return Capture(t_s=t, current_a=i, sample_rate_hz=achieved, overflow=i >= 3.0, notes=notes)

    def read_samples(self, timeout_s: float = 5.0) -> Capture:
        return self._take()

    def stop_capture(self, timeout_s: float = 5.0) -> Capture:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                raise InstrumentError(f"poll thread still busy after {timeout_s} s", resource=self.resource_name)
            self._thread = None
        return self._take()
