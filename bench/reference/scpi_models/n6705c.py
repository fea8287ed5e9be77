"""Keysight N6705C DC power analyzer with one N6781A SMU, as its programming guide describes it.

Modelled (Keysight N6700 Series Programming Guide, N6705C User's Guide): channel lists ``(@n)`` on
every channel command, the SMU fitted in one slot (others empty: ``-222``); voltage-priority
``CURR:LIM`` (the SMU's current limit; ``CURR`` is the current-priority *level*, not the limit);
``SENS:FUNC:CURR|VOLT ON|OFF`` (current measurement is off after *RST: fetching current without it
is ``-221 Settings conflict``); the digitizer ``SENS:SWE:TINT`` (5.12 µs steps) / ``POIN`` (≤ 512 k);
``TRIG:ACQ:SOUR BUS|IMM|EXT`` (a source left at EXT never fires); ``INIT:ACQ`` arms, and the channel
reports *waiting for trigger* (``STAT:OPER:COND?`` bit 3, WTG-meas) only after an arming delay — a
``TRIG:ACQ`` before that is ignored (``-211``); the output clamps at the current limit (CC, bit 1).
``FETC:ARR:CURR?`` answers ASCII or IEEE 488.2 float32 blocks (``FORM REAL``, ``FORM:BORD``).
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import numpy as np
from pyvisa.util import to_ieee_block

from bench.reference.power_model import PowerTimeline
from bench.reference.scpi_server import Handler, ScpiError, ScpiModel, boolean, choice, number

IDN = "Keysight Technologies,N6705C,MY56000000,D.03.03.2008"
TINT_STEP_S = 5.12e-6
MAX_POINTS = 524_288
OVERFLOW = 9.9e37
RANGES_A = (1e-6, 100e-6, 1e-3, 10e-3, 100e-3, 1.0, 3.0)
ARM_DELAY_S = 0.003        # INIT:ACQ → WTG-meas
CV, CC, OFF, WTG_MEAS, MEAS_ACTIVE = 1, 2, 4, 8, 16   # STATus:OPERation bits


class N6705C(ScpiModel):
    """``ScpiServer(timeline, model="n6705c", slot=1)``: the N6781A sits in ``slot`` (1–4)."""

    name = "n6705c"
    idn = IDN

    def __init__(self, timeline: PowerTimeline, *, slot: int = 1, **opts: Any) -> None:
        self.slot = slot
        super().__init__(timeline, **opts)

    def reset(self) -> None:
        self.voltage_v, self.output_on, self.range_a, self.auto_range = 0.0, False, 3.0, True
        self.current_limit_a, self.limit_set, self.current_level_a = 3.06, False, 0.0
        self.output_on_without_limit = False
        self.sense_current, self.sense_voltage = False, True
        self.tint_s, self.points, self.trig_source = 20.48e-6, 1024, "BUS"
        self.ascii, self.swapped = True, False
        self._armed_at: float | None = None
        self._acq: tuple[float, float, int] | None = None  # t_trigger, tint, points
        self._cache: tuple[tuple, np.ndarray] | None = None

    # -- helpers -----------------------------------------------------------------------------------
    def _chan(self, args: list[str]) -> list[str]:
        """Check and strip the channel list; the rest are the parameters."""
        lists = [a for a in args if a.startswith("(@")]
        for lst in lists:
            m = re.fullmatch(r"\(@([\d,:]+)\)", lst)
            if not m or m.group(1) != str(self.slot):
                raise ScpiError(-222, f"Data out of range; channel list {lst}, only (@{self.slot}) is fitted (N6781A)")
        return [a for a in args if not a.startswith("(@")]

    def _format(self, values: np.ndarray) -> str | bytes:
        if self.ascii:
            return ",".join(f"{v:+.6E}" for v in values)
        return to_ieee_block(values.astype(np.float32), datatype="f", is_big_endian=not self.swapped) + b"\n"  # type: ignore[arg-type]  # pyvisa stub: ndarray is accepted

    async def _acquire(self, t0: float, tint: float, points: int) -> np.ndarray:
        """Wait until the acquisition window has passed, then render it (off → 0 A, overflow → 9.9E37)."""
        await asyncio.sleep(max(0.0, t0 + points * tint + 0.02 - time.monotonic()))   # + pipeline delay
        if not self.output_on:
            return np.zeros(points)
        current, _ = await asyncio.to_thread(self.timeline.render, t0, points, 1 / tint)
        current = np.minimum(current, self.current_limit_a)          # constant-current clamp at the limit
        limit = 3.06 if self.auto_range else self.range_a * 1.02
        return np.where(np.abs(current) > limit, OVERFLOW, current)

    async def _fetch(self, measuring: bool = False) -> np.ndarray:
        if not self.sense_current and not measuring:   # MEAS? configures its own measurement
            raise ScpiError(-221, "Settings conflict; current measurement is off (SENS:FUNC:CURR ON)")
        if self._acq is None:
            raise ScpiError(-230, "Data corrupt or stale; no triggered acquisition")
        key = (self._acq, self.output_on, self.auto_range, self.range_a, self.current_limit_a)
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, await self._acquire(*self._acq))
        return self._cache[1]

    def _status(self) -> int:
        bits = 0 if self.output_on else OFF
        if self.output_on:
            bits |= CV
        if self._armed_at is not None and time.monotonic() >= self._armed_at:
            bits |= WTG_MEAS
        if self._acq is not None and time.monotonic() < self._acq[0] + self._acq[1] * self._acq[2]:
            bits |= MEAS_ACTIVE
        return bits

    def opc(self) -> Any:
        if self._acq is None:
            return None
        end = self._acq[0] + self._acq[1] * self._acq[2]
        return asyncio.sleep(max(0.0, end - time.monotonic()))

    # -- command table -------------------------------------------------------------------------------
    def commands(self) -> dict[str, Handler]:
        def setter(fn: Any) -> Handler:
            async def h(a: list[str]) -> None:
                fn(self._chan(a))
            return h

        def getter(fn: Any) -> Handler:
            async def h(a: list[str]) -> str:
                self._chan(a)
                return str(fn())
            return h

        def volt(a: list[str]) -> None:
            value = number(a, "VOLT")
            if not 0 <= value <= 6.12:
                raise ScpiError(-222, f"Data out of range; VOLT {value:g} (N6781A: 0–6 V)")
            self.voltage_v = value

        def limit(a: list[str]) -> None:
            value = number(a, "CURR:LIM")
            if not 0 < value <= 3.06:
                raise ScpiError(-222, f"Data out of range; CURR:LIM {value:g} (N6781A: ≤ 3 A)")
            self.current_limit_a, self.limit_set = value, True

        def outp(a: list[str]) -> None:
            on = boolean(a)
            if on and not self.output_on and not self.limit_set:
                self.output_on_without_limit = True
            self.output_on = on

        def rng(a: list[str]) -> None:
            value = number(a, "RANG")
            fitting = [r for r in RANGES_A if r >= value * 0.999]
            if not fitting:
                raise ScpiError(-222, f"Data out of range; {value:g} A > 3 A")
            self.range_a, self.auto_range = fitting[0], False

        def tint(a: list[str]) -> None:
            value = number(a, "TINT")
            if not TINT_STEP_S * 0.999 <= value <= 40000:
                raise ScpiError(-222, f"Data out of range; TINT {value:g}")
            self.tint_s = max(1, round(value / TINT_STEP_S)) * TINT_STEP_S

        def points(a: list[str]) -> None:
            value = int(number(a, "POIN"))
            if not 1 <= value <= MAX_POINTS:
                raise ScpiError(-222, f"Data out of range; POIN {value} (1..{MAX_POINTS})")
            self.points = value

        def source(a: list[str]) -> None:
            self.trig_source = choice(a, ("BUS", "IMMediate", "EXTernal", "PIN1", "PIN2", "PIN3", "TRANsient1"),
                                      "TRIG:ACQ:SOUR")[:3]

        def fmt(a: list[str]) -> None:
            self.ascii = choice(a, ("ASCii", "REAL"), "FORM") == "ASCII"

        def trigger() -> None:
            if self._armed_at is None or time.monotonic() < self._armed_at:
                raise ScpiError(-211, "Trigger ignored; acquisition not waiting for trigger (poll STAT:OPER:COND?)")
            self._armed_at = None
            self._acq = (time.monotonic(), self.tint_s, self.points)

        async def init(a: list[str]) -> None:
            self._chan(a)
            self._armed_at = time.monotonic() + ARM_DELAY_S
            if self.trig_source == "IMM":
                await asyncio.sleep(ARM_DELAY_S)
                trigger()

        async def trig(a: list[str]) -> None:
            self._chan(a)
            if self.trig_source != "BUS":
                raise ScpiError(-211, f"Trigger ignored; TRIG:ACQ:SOUR is {self.trig_source}, not BUS")
            trigger()

        async def abort(a: list[str]) -> None:
            self._chan(a)
            self._armed_at, self._acq = None, None

        async def fetch_arr(a: list[str]) -> str | bytes:
            self._chan(a)
            return self._format(await self._fetch())

        async def fetch_mean(a: list[str]) -> str:
            self._chan(a)
            return f"{float(np.mean(await self._fetch())):+.6E}"

        async def meas_arr(a: list[str]) -> str | bytes:
            self._chan(a)
            self._acq = (time.monotonic(), self.tint_s, self.points)
            return self._format(await self._fetch(measuring=True))

        async def meas(a: list[str]) -> str:
            self._chan(a)
            self._acq = (time.monotonic(), self.tint_s, self.points)
            return f"{float(np.mean(await self._fetch(measuring=True))):+.6E}"

        def flag(attr: str) -> Handler:
            return setter(lambda a: setattr(self, attr, boolean(a)))

        def on(v: bool) -> str:
            return "1" if v else "0"

        return {
            "[:SOURce]:VOLTage[:LEVel][:IMMediate][:AMPLitude]": setter(volt),
            "[:SOURce]:VOLTage[:LEVel][:IMMediate][:AMPLitude]?": getter(lambda: f"{self.voltage_v:+.6E}"),
            "[:SOURce]:CURRent:LIMit[:POSitive][:IMMediate][:AMPLitude]": setter(limit),
            "[:SOURce]:CURRent:LIMit[:POSitive][:IMMediate][:AMPLitude]?": getter(lambda: f"{self.current_limit_a:+.6E}"),
            "[:SOURce]:CURRent[:LEVel][:IMMediate][:AMPLitude]": setter(lambda a: setattr(self, "current_level_a", number(a))),
            ":OUTPut[:STATe]": setter(outp), ":OUTPut[:STATe]?": getter(lambda: on(self.output_on)),
            ":SENSe:CURRent[:DC]:RANGe[:UPPer]": setter(rng),
            ":SENSe:CURRent[:DC]:RANGe[:UPPer]?": getter(lambda: f"{self.range_a:+.6E}"),
            ":SENSe:CURRent[:DC]:RANGe:AUTO": flag("auto_range"),
            ":SENSe:CURRent[:DC]:RANGe:AUTO?": getter(lambda: on(self.auto_range)),
            ":SENSe:FUNCtion:CURRent": flag("sense_current"), ":SENSe:FUNCtion:CURRent?": getter(lambda: on(self.sense_current)),
            ":SENSe:FUNCtion:VOLTage": flag("sense_voltage"), ":SENSe:FUNCtion:VOLTage?": getter(lambda: on(self.sense_voltage)),
            ":SENSe:SWEep:TINTerval": setter(tint), ":SENSe:SWEep:TINTerval?": getter(lambda: f"{self.tint_s:+.6E}"),
            ":SENSe:SWEep:POINts": setter(points), ":SENSe:SWEep:POINts?": getter(lambda: f"{self.points:+d}"),
            ":TRIGger:ACQuire:SOURce": setter(source), ":TRIGger:ACQuire:SOURce?": getter(lambda: self.trig_source),
            ":INITiate[:IMMediate]:ACQuire": init, ":TRIGger:ACQuire[:IMMediate]": trig, ":ABORt:ACQuire": abort,
            ":STATus:OPERation:CONDition?": getter(lambda: f"{self._status():+d}"),
            ":SYSTem:CHANnel:MODel?": getter(lambda: "N6781A"), ":SYSTem:CHANnel[:COUNt]?": getter(lambda: "1"),
            ":FETCh:ARRay:CURRent[:DC]?": fetch_arr, ":FETCh[:SCALar]:CURRent[:DC]?": fetch_mean,
            ":MEASure:ARRay:CURRent[:DC]?": meas_arr, ":MEASure[:SCALar]:CURRent[:DC]?": meas,
            ":FORMat[:DATA]": setter(fmt), ":FORMat[:DATA]?": getter(lambda: "ASC" if self.ascii else "REAL"),
            ":FORMat:BORDer": setter(lambda a: setattr(self, "swapped", choice(a, ("NORMal", "SWAPped"), "FORM:BORD")
                                                      == "SWAPPED")),
        }
