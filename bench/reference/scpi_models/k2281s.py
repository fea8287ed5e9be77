"""Keithley 2281S-20-6 in power-supply mode, as its reference manual (077114601) describes it.

Modelled: ``:ENTR:FUNC POW|TEST|SIM``; ``:VOLT`` (0–20 V) and ``:CURR`` (the current limit,
0.1–6.1 A in power-supply mode); ``:OUTP[:STAT]``; ``:SENS:FUNC "CONC"|"VOLT"|"CURR"``;
``:SENS:CURR:RANG`` (10 mA, 100 mA, 1 A, 10 A) and ``:AUTO``; ``:SENS:CURR:NPLC`` (0.002–12 at 50 Hz);
the reading buffer ``:TRAC:CLE``, ``:TRAC:POIN`` (2–2500), ``:TRAC:DATA? "<elements>"`` (readings
stored since the last call) and ``:TRAC:DATA:SEL? <start>,<end>,"<elements>"`` with the elements
READ, SOUR, REL, RNUM; ``:TRIG:ACQ:SOUR IMM`` / ``:TRIG:ACQ:COUN``; ``:INIT``; buffer status in
``:STAT:MEAS:INST:ISUM:COND?`` (64 reading available, 256 buffer full); ``:SYST:LFR?``.
Not the 2450's syntax: ``:TRAC:ACT?`` is an undefined header (-113) and a ``"defbuffer1"`` buffer
name in ``:TRAC:DATA?`` an illegal parameter (-224).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from bench.reference.power_model import PowerTimeline
from bench.reference.scpi_server import Handler, ScpiError, ScpiModel, boolean, choice, number

IDN = "KEITHLEY INSTRUMENTS,MODEL 2281S-20-6,4420123,02.03.00"
RANGES_A = (0.01, 0.1, 1.0, 10.0)
LINE_HZ = 50.0
OVERHEAD_S = 0.0005          # per reading, on top of the integration time
OVERFLOW = 9.9e37
RAV, BUFFER_FULL = 64, 256
ELEMENTS = ("READing", "SOURce", "RELative", "RNUMber")


class K2281S(ScpiModel):
    """``ScpiServer(timeline, model="k2281s")``."""

    name = "k2281s"
    idn = IDN

    def __init__(self, timeline: PowerTimeline, **opts: Any) -> None:
        super().__init__(timeline, **opts)

    def reset(self) -> None:
        self.function, self.voltage_v, self.current_limit_a, self.limit_set = "POWER", 0.0, 0.1, False
        self.output_on = self.output_on_without_limit = False
        self.sense, self.range_a, self.auto_range, self.nplc = "CONC", 0.01, True, 1.0
        self.buffer_points, self.trig_count, self.trig_source = 2500, 1, "IMM"
        self._run: tuple[float, int, float, float] | None = None   # t_start, count, period, aperture
        self._readings: list[tuple[float, float, float]] = []       # (reading, source, rel)
        self._returned = 0

    # -- readings ----------------------------------------------------------------------------------
    def _fill(self) -> None:
        """Store every reading whose integration window has ended by now."""
        if self._run is None:
            return
        t_start, count, period, aperture = self._run
        due = min(count, self.buffer_points, int((time.monotonic() - t_start - aperture) / period) + 1)
        k0 = len(self._readings)
        if due <= k0:
            return
        starts = t_start + np.arange(k0, due) * period
        edges = np.stack([starts, starts + aperture], axis=1).ravel()
        charge = self.timeline.charge_at(edges).reshape(-1, 2)
        current = (charge[:, 1] - charge[:, 0]) / aperture if self.output_on else np.zeros(due - k0)
        current = np.minimum(current, self.current_limit_a)
        if not self.auto_range:
            current = np.where(np.abs(current) > self.range_a * 1.02, OVERFLOW, current)
        self._readings += [(float(i), self.voltage_v, float(t - t_start)) for i, t in zip(current, starts)]

    def _format(self, rows: list[tuple[float, float, float]], first: int, spec: list[str]) -> str:
        if not spec:
            names = ["READING", "SOURCE", "RELATIVE"]
        else:
            names = [choice([e.strip()], ELEMENTS, "buffer element") for e in spec[0].strip("\"'").split(",")]
        out = []
        for k, (reading, source, rel) in enumerate(rows):
            value = {"READING": reading, "SOURCE": source, "RELATIVE": rel, "RNUMBER": first + k}
            out += [f"{value[n]:+.6E}" if n != "RNUMBER" else f"{first + k:04d}" for n in names]
        return ",".join(out)

    # -- command table -------------------------------------------------------------------------------
    def commands(self) -> dict[str, Handler]:
        def setter(fn: Any) -> Handler:
            async def h(a: list[str]) -> None:
                fn(a)
            return h

        def getter(fn: Any) -> Handler:
            async def h(a: list[str]) -> str:
                return str(fn())
            return h

        def bounded(what: str, lo: float, hi: float) -> Any:
            def conv(a: list[str]) -> float:
                value = number(a, what)
                if not lo <= value <= hi:
                    raise ScpiError(-222, f"Data out of range; {what} {value:g} ({lo:g}..{hi:g})")
                return value
            return conv

        def limit(a: list[str]) -> None:
            self.current_limit_a, self.limit_set = bounded(":CURR", 0.1, 6.1)(a), True

        def outp(a: list[str]) -> None:
            on = boolean(a)
            if on and not self.output_on and not self.limit_set:
                self.output_on_without_limit = True
            self.output_on = on

        def func(a: list[str]) -> None:
            self.sense = choice(a, ("CONCurrent", "VOLTage", "CURRent"), ":SENS:FUNC")[:4]

        def rng(a: list[str]) -> None:
            value = number(a, ":SENS:CURR:RANG")
            fitting = [r for r in RANGES_A if r >= value * 0.999]
            if not fitting:
                raise ScpiError(-222, f"Data out of range; {value:g} A > 10 A")
            self.range_a, self.auto_range = fitting[0], False

        def init(a: list[str]) -> None:
            if self.function != "POWER":
                raise ScpiError(-221, f"Settings conflict; buffer capture needs :ENTR:FUNC POW, not {self.function}")
            if self.trig_source != "IMM":
                return   # waits for a trigger that the simulator never gets
            aperture = self.nplc / LINE_HZ
            self._readings, self._returned = [], 0
            self._run = (time.monotonic(), self.trig_count, aperture + OVERHEAD_S, aperture)

        async def data(a: list[str]) -> str:
            if len(a) > 1 or (a and not a[0].startswith(("\"", "'"))):
                raise ScpiError(-224, f"Illegal parameter value; :TRAC:DATA? takes one quoted element list, got "
                                      f"{','.join(a)[:40]} (\"defbuffer1\" and index ranges are 2400/2450 syntax)")
            self._fill()
            if self._returned >= len(self._readings) and len(self._readings) == self.buffer_points:
                self._returned = 0   # a full buffer can be read again from the start
            first, self._returned = self._returned, len(self._readings)
            return self._format(self._readings[first:], first + 1, a)

        async def selected(a: list[str]) -> str:
            start, end = int(number(a[:1], "start")), int(number(a[1:2], "end"))
            self._fill()
            if not 1 <= start <= end <= len(self._readings):
                raise ScpiError(-222, f"Data out of range; {start},{end} with {len(self._readings)} readings stored")
            return self._format(self._readings[start - 1:end], start, a[2:])

        def status() -> str:
            self._fill()
            bits = (RAV if self._readings else 0) | (BUFFER_FULL if len(self._readings) >= self.buffer_points else 0)
            return f"{bits:d}"

        def clear(a: list[str]) -> None:
            self._readings, self._returned, self._run = [], 0, None

        def on(v: bool) -> str:
            return "1" if v else "0"

        return {
            ":ENTRance:FUNCtion": setter(lambda a: setattr(self, "function", choice(a, ("POWer", "TEST", "SIMulator"),
                                                                                     ":ENTR:FUNC"))),
            ":ENTRance:FUNCtion?": getter(lambda: self.function),
            "[:SOURce[1]]:VOLTage[:LEVel][:IMMediate][:AMPLitude]": setter(
                lambda a: setattr(self, "voltage_v", bounded(":VOLT", 0, 20)(a))),
            "[:SOURce[1]]:VOLTage[:LEVel][:IMMediate][:AMPLitude]?": getter(lambda: f"{self.voltage_v:+.6E}"),
            "[:SOURce[1]]:CURRent[:LEVel][:IMMediate][:AMPLitude]": setter(limit),
            "[:SOURce[1]]:CURRent[:LEVel][:IMMediate][:AMPLitude]?": getter(lambda: f"{self.current_limit_a:+.6E}"),
            ":OUTPut[1][:STATe]": setter(outp), ":OUTPut[1][:STATe]?": getter(lambda: on(self.output_on)),
            "[:SENSe[1]]:FUNCtion[:ON]": setter(func), "[:SENSe[1]]:FUNCtion[:ON]?": getter(lambda: f'"{self.sense}"'),
            "[:SENSe[1]]:CURRent[:DC]:RANGe[:UPPer]": setter(rng),
            "[:SENSe[1]]:CURRent[:DC]:RANGe[:UPPer]?": getter(lambda: f"{self.range_a:+.6E}"),
            "[:SENSe[1]]:CURRent[:DC]:RANGe:AUTO": setter(lambda a: setattr(self, "auto_range", boolean(a))),
            "[:SENSe[1]]:CURRent[:DC]:NPLCycles": setter(lambda a: setattr(self, "nplc", bounded("NPLC", 0.002, 12)(a))),
            "[:SENSe[1]]:CONCurrent[:DC]:NPLCycles": setter(lambda a: setattr(self, "nplc", bounded("NPLC", 0.002, 12)(a))),
            "[:SENSe[1]]:CURRent[:DC]:NPLCycles?": getter(lambda: f"{self.nplc:+.6E}"),
            ":TRACe[1]:CLEar": setter(clear),
            ":TRACe[1]:POINts": setter(lambda a: setattr(self, "buffer_points", int(bounded(":TRAC:POIN", 2, 2500)(a)))),
            ":TRACe[1]:POINts?": getter(lambda: f"{self.buffer_points:d}"),
            ":TRACe[1]:DATA?": data, ":TRACe[1]:DATA:SELected?": selected,
            ":TRIGger[1]:ACQuire:SOURce": setter(lambda a: setattr(self, "trig_source", choice(
                a, ("IMMediate", "EXTernal", "MANual", "BUS"), ":TRIG:ACQ:SOUR")[:3])),
            ":TRIGger[1]:ACQuire:COUNt": setter(lambda a: setattr(self, "trig_count", int(bounded("COUN", 1, 2500)(a)))),
            ":INITiate[1][:IMMediate]": setter(init),
            ":STATus:MEASurement:INSTrument:ISUMmary:CONDition?": getter(status),
            ":SYSTem:LFRequency?": getter(lambda: f"{LINE_HZ:g}"),
        }
