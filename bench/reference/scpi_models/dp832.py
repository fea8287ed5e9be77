"""Rigol DP832 three-channel supply, as its programming guide describes the commands glassbench uses.

Modelled: ``[:SOURce<n>]:VOLTage`` / ``[:SOURce<n>]:CURRent`` (the channel's current limit; CH1/CH2
0–30 V 0–3 A, CH3 0–5 V 0–3 A), ``:OUTPut[:STATe] CH<n>,ON|OFF`` and its query, ``:MEASure:CURRent?
CH<n>`` (a reading averaged over ~50 ms, 1 mA resolution), ``:MEASure[:VOLTage]? CH<n>``. The DUT is
on ``channel`` (others read 0 A); the output clamps at the limit.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from bench.reference.power_model import PowerTimeline
from bench.reference.scpi_server import Handler, ScpiError, ScpiModel, boolean, number

IDN = "RIGOL TECHNOLOGIES,DP832,DP8C123456789,00.01.16"
VMAX = {1: 30.0, 2: 30.0, 3: 5.0}
WINDOW_S = 0.05


class DP832(ScpiModel):
    """``ScpiServer(timeline, model="dp832", channel=1)``: the DUT hangs off ``channel``."""

    name = "dp832"
    idn = IDN

    def __init__(self, timeline: PowerTimeline, *, channel: int = 1, **opts: Any) -> None:
        self.channel = channel
        super().__init__(timeline)

    def reset(self) -> None:
        self.voltage_v = {n: 0.0 for n in VMAX}
        self.current_limit_a = {n: 3.2 for n in VMAX}
        self.limit_set = {n: False for n in VMAX}
        self.outputs = {n: False for n in VMAX}
        self.output_on_without_limit = False

    @staticmethod
    def _ch(word: str) -> int:
        w = word.strip().upper()
        if w not in ("CH1", "CH2", "CH3"):
            raise ScpiError(-224, f"Illegal parameter value; channel {word!r} (CH1|CH2|CH3)")
        return int(w[2])

    def _current(self, n: int) -> float:
        if n != self.channel or not self.outputs[n]:
            return 0.0
        now = time.monotonic()
        q = self.timeline.charge_at(np.array([now - WINDOW_S, now]))
        return round(min(float(q[1] - q[0]) / WINDOW_S, self.current_limit_a[n]), 3)

    def commands(self) -> dict[str, Handler]:
        table: dict[str, Handler] = {}

        def per_channel(n: int) -> None:
            async def volt(a: list[str]) -> None:
                value = number(a, "VOLT")
                if not 0 <= value <= VMAX[n]:
                    raise ScpiError(-222, f"Data out of range; CH{n} VOLT {value:g}")
                self.voltage_v[n] = value

            async def curr(a: list[str]) -> None:
                value = number(a, "CURR")
                if not 0 <= value <= 3.2:
                    raise ScpiError(-222, f"Data out of range; CH{n} CURR {value:g}")
                self.current_limit_a[n], self.limit_set[n] = value, True

            async def volt_q(a: list[str]) -> str:
                return f"{self.voltage_v[n]:.3f}"

            async def curr_q(a: list[str]) -> str:
                return f"{self.current_limit_a[n]:.3f}"

            src = f":SOURce{n}" if n > 1 else "[:SOURce[1]]"
            table.update({f"{src}:VOLTage[:LEVel][:IMMediate][:AMPLitude]": volt,
                          f"{src}:VOLTage[:LEVel][:IMMediate][:AMPLitude]?": volt_q,
                          f"{src}:CURRent[:LEVel][:IMMediate][:AMPLitude]": curr,
                          f"{src}:CURRent[:LEVel][:IMMediate][:AMPLitude]?": curr_q})

        for n in VMAX:
            per_channel(n)

        async def outp(a: list[str]) -> None:
            if len(a) == 1:
                a = ["CH1", a[0]]
            n, on = self._ch(a[0]), boolean(a[1:])
            if on and not self.outputs[n] and not self.limit_set[n]:
                self.output_on_without_limit = True
            self.outputs[n] = on

        async def outp_q(a: list[str]) -> str:
            return "ON" if self.outputs[self._ch(a[0]) if a else 1] else "OFF"

        async def meas_curr(a: list[str]) -> str:
            return f"{self._current(self._ch(a[0]) if a else 1):.3f}"

        async def meas_volt(a: list[str]) -> str:
            n = self._ch(a[0]) if a else 1
            return f"{self.voltage_v[n] if self.outputs[n] else 0.0:.3f}"

        table.update({":OUTPut[:STATe]": outp, ":OUTPut[:STATe]?": outp_q,
                      ":MEASure:CURRent[:DC]?": meas_curr, ":MEASure[:VOLTage][:DC]?": meas_volt})
        return table
