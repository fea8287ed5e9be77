"""A simulated Keysight N6705C (+ N6781A in slot 1) over a raw TCP socket, serving a PowerTimeline.

The subset the harness drivers use: ``*IDN? *RST *CLS *OPC? *WAI``, ``SYST:ERR?`` (a real error
queue), ``VOLT``, ``OUTP``, ``SENS:CURR:RANG[:AUTO]``, ``SENS:SWE:TINT|POIN``, ``TRIG:ACQ:SOUR``,
``INIT:ACQ``, ``TRIG:ACQ``, ``ABOR:ACQ``, ``FETC|MEAS[:ARR]:CURR?`` and ``FORM ASC|REAL``,
``FORM:BORD NORM|SWAP`` (REAL answers with IEEE 488.2 float32 blocks built by pyvisa.util).
Headers accept SCPI short/long forms and optional nodes. Like the real unit, a query it cannot
answer queues an error and sends nothing. ``inject('hang'|'disconnect'|'garbage')`` for fault tests.
When the analyzer is the DUT's supply (``on_supply``), ``OUTP OFF`` and ``*RST`` power the glasses off.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Awaitable, Callable

import numpy as np
from pyvisa.util import to_ieee_block

from bench.reference.power_model import PowerTimeline

IDN = "Keysight Technologies,N6705C,MY56000000,D.03.03.2008"
TINT_STEP_S = 5.12e-6
MAX_POINTS = 524_288
OVERFLOW = 9.9e37
_RANGES_A = (1e-6, 100e-6, 1e-3, 10e-3, 100e-3, 1.0, 3.0)


class ScpiError(Exception):
    """An SCPI error to queue: (code, message)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f'{code},"{message}"')
        self.code, self.message = code, message


def _header_regex(spec: str) -> re.Pattern[str]:
    """'[:SOURce]:VOLTage[:LEVel]' → regex accepting short/long forms and the optional nodes."""
    def node(m: re.Match[str]) -> str:
        word = m.group(0)
        short = "".join(c for c in word if c.isupper() or c.isdigit())
        return f"(?:{short}|{word.upper()})" if short != word.upper() else word.upper()
    body = re.sub(r"[A-Za-z]+", node, spec.replace("*", r"\*").replace("?", r"\?"))
    return re.compile(body.replace("[", "(?:").replace("]", ")?"), re.IGNORECASE)


class ScpiServer:
    """``port = await ScpiServer(timeline).start()``; pyvisa address in ``.resource``."""

    def __init__(self, timeline: PowerTimeline, *, host: str = "127.0.0.1", port: int = 0,
                 output_on: bool = False, on_supply: Callable[[bool], None] | None = None) -> None:
        """``output_on``: the output's state at start (a bench left powered); ``on_supply(on)`` is
        called when the output switches."""
        self.timeline = timeline
        self.on_supply = on_supply
        self.host, self.port = host, port
        self.fault: str | None = None
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._table: list[tuple[re.Pattern[str], Callable[[list[str]], Awaitable[str | bytes | None]]]] = []
        for spec, fn in self._commands().items():
            self._table.append((_header_regex(spec), fn))
        self._output_on = False
        self.reset()
        self._output_on = output_on

    @property
    def output_on(self) -> bool:
        return self._output_on

    @output_on.setter
    def output_on(self, on: bool) -> None:
        changed = on != self._output_on
        self._output_on = on
        if changed and self.on_supply is not None:
            self.on_supply(on)

    # -- lifecycle ---------------------------------------------------------------------------------
    async def start(self) -> int:
        """Listen on host:port (0 = ephemeral) and return the bound port."""
        self._server = await asyncio.start_server(self._client, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    @property
    def resource(self) -> str:
        """The VISA resource string for pyvisa-py."""
        return f"TCPIP0::{self.host}::{self.port}::SOCKET"

    async def stop(self) -> None:
        """Close the listener and every client connection."""
        for w in list(self._writers):
            w.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def inject(self, fault: str | None) -> None:
        """'hang' (stop answering), 'disconnect' (drop clients), 'garbage' (malformed replies), None."""
        if fault not in (None, "hang", "disconnect", "garbage"):
            raise ValueError(f"unknown fault {fault!r}")
        self.fault = fault
        if fault == "disconnect":
            for w in list(self._writers):
                w.close()

    def reset(self) -> None:
        """*RST state."""
        self.voltage_v, self.output_on, self.range_a, self.auto_range = 0.0, False, 3.0, True
        self.tint_s, self.points, self.trig_source = 20.48e-6, 1024, "BUS"
        self.ascii, self.swapped = True, False
        self.errors: list[ScpiError] = []
        self._armed = False
        self._acq: tuple[float, float, int] | None = None  # t_trigger, tint, points
        self._cache: tuple[tuple, np.ndarray] | None = None

    # -- connection --------------------------------------------------------------------------------
    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while not reader.at_eof():
                line = await reader.readline()
                if not line or self.fault == "disconnect":
                    break
                for cmd in line.decode("ascii", errors="replace").strip().split(";"):
                    if not cmd.strip() or self.fault == "hang":
                        continue
                    reply = await self._execute(cmd.strip())
                    if reply is None:
                        continue
                    if self.fault == "garbage":
                        reply = b"#9\x00garbage" if isinstance(reply, bytes) else "+1.2.3,#?"
                    writer.write(reply if isinstance(reply, bytes) else reply.encode() + b"\n")
                    await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _execute(self, cmd: str) -> str | bytes | None:
        header, _, argtext = cmd.partition(" ")
        if not header.startswith((":", "*")):
            header = ":" + header
        for pattern, fn in self._table:
            if pattern.fullmatch(header):
                try:
                    return await fn(self._args(argtext))
                except ScpiError as exc:
                    self._queue(exc)
                    return None
        self._queue(ScpiError(-113, f"Undefined header; {cmd[:40]}"))
        return None

    def _queue(self, err: ScpiError) -> None:
        if len(self.errors) >= 10:
            self.errors[-1] = ScpiError(-350, "Queue overflow")
        else:
            self.errors.append(err)

    @staticmethod
    def _args(text: str) -> list[str]:
        m = re.search(r"\(@([\d,:]+)\)", text)
        if m and m.group(1) != "1":
            raise ScpiError(-222, f"Data out of range; channel list (@{m.group(1)}), only (@1) fitted")
        rest = re.sub(r",?\s*\(@[\d,:]+\)", "", text).strip()
        return [a.strip() for a in rest.split(",")] if rest else []

    # -- helpers -------------------------------------------------------------------------------------
    @staticmethod
    def _number(args: list[str]) -> float:
        if not args:
            raise ScpiError(-109, "Missing parameter")
        try:
            return float(args[0])
        except ValueError:
            raise ScpiError(-104, f"Data type error; expected a number, got {args[0]!r}") from None

    @staticmethod
    def _bool(args: list[str]) -> bool:
        if not args or args[0].upper() not in ("ON", "OFF", "1", "0"):
            raise ScpiError(-224, f"Illegal parameter value; expected ON|OFF|1|0, got {args[:1]}")
        return args[0].upper() in ("ON", "1")

    def _format(self, values: np.ndarray) -> str | bytes:
        if self.ascii:
            return ",".join(f"{v:+.6E}" for v in values)
        return to_ieee_block(values.astype(np.float32), datatype="f", is_big_endian=not self.swapped) + b"\n"  # type: ignore[arg-type]  # pyvisa stub: ndarray is accepted

    async def _acquire(self, t0: float, tint: float, points: int) -> np.ndarray:
        """Wait until the acquisition window has passed, then render it (off → 0 A, overflow → 9.9E37)."""
        # + 20 ms pipeline delay, so radio events reported a little late are still in the data
        await asyncio.sleep(max(0.0, t0 + points * tint + 0.02 - time.monotonic()))
        if not self.output_on:
            return np.zeros(points)
        current, _ = await asyncio.to_thread(self.timeline.render, t0, points, 1 / tint)
        limit = 3.06 if self.auto_range else self.range_a * 1.02
        return np.where(np.abs(current) > limit, OVERFLOW, current)

    async def _fetch(self) -> np.ndarray:
        """The current acquisition; fetching it again returns the same data, as on the instrument."""
        if self._acq is None:
            raise ScpiError(-230, "Data corrupt or stale; no triggered acquisition")
        key = (self._acq, self.output_on, self.auto_range, self.range_a)
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, await self._acquire(*self._acq))
        return self._cache[1]

    def _set(self, attr: str, conv: Callable[[list[str]], object]) -> Callable[[list[str]], Awaitable[None]]:
        async def fn(args: list[str]) -> None:
            setattr(self, attr, conv(args))
        return fn

    def _get(self, fmt: Callable[[], str]) -> Callable[[list[str]], Awaitable[str]]:
        async def fn(args: list[str]) -> str:
            return fmt()
        return fn

    # -- command table -------------------------------------------------------------------------------
    def _commands(self) -> dict[str, Callable[[list[str]], Awaitable[str | bytes | None]]]:
        async def rst(a: list[str]) -> None:
            self.reset()

        async def cls(a: list[str]) -> None:
            self.errors.clear()

        async def syst_err(a: list[str]) -> str:
            return str(self.errors.pop(0)) if self.errors else '+0,"No error"'

        def rng(a: list[str]) -> float:
            value = self._number(a)
            fitting = [r for r in _RANGES_A if r >= value * 0.999]
            if not fitting:
                raise ScpiError(-222, f"Data out of range; {value:g} A > 3 A")
            self.auto_range = False
            return fitting[0]

        def tint(a: list[str]) -> float:
            value = self._number(a)
            if not 5.12e-6 * 0.999 <= value <= 40000:
                raise ScpiError(-222, f"Data out of range; TINT {value:g}")
            return max(1, round(value / TINT_STEP_S)) * TINT_STEP_S

        def points(a: list[str]) -> int:
            value = int(self._number(a))
            if not 1 <= value <= MAX_POINTS:
                raise ScpiError(-222, f"Data out of range; POIN {value}")
            return value

        def source(a: list[str]) -> str:
            if not a or a[0].upper()[:3] not in ("BUS", "IMM"):
                raise ScpiError(-224, "Illegal parameter value; TRIG:ACQ:SOUR BUS|IMM")
            return a[0].upper()[:3]

        def fmt(a: list[str]) -> bool:
            if not a or a[0].upper()[:3] not in ("ASC", "REA"):
                raise ScpiError(-224, "Illegal parameter value; FORM ASCii|REAL")
            return a[0].upper().startswith("ASC")

        async def init(a: list[str]) -> None:
            self._armed = True
            if self.trig_source == "IMM":
                await trig(a)

        async def trig(a: list[str]) -> None:
            if not self._armed:
                raise ScpiError(-211, "Trigger ignored; acquisition not initiated")
            self._armed = False
            self._acq = (time.monotonic(), self.tint_s, self.points)

        async def abort(a: list[str]) -> None:
            self._armed, self._acq = False, None

        async def fetch_arr(a: list[str]) -> str | bytes:
            return self._format(await self._fetch())

        async def fetch_mean(a: list[str]) -> str:
            return f"{float(np.mean(await self._fetch())):+.6E}"

        async def meas_arr(a: list[str]) -> str | bytes:
            self._acq = (time.monotonic(), self.tint_s, self.points)
            return await fetch_arr(a)

        async def meas(a: list[str]) -> str:
            self._acq = (time.monotonic(), self.tint_s, self.points)
            return await fetch_mean(a)

        async def auto(a: list[str]) -> None:
            self.auto_range = self._bool(a)

        return {
            "*IDN?": self._get(lambda: IDN), "*RST": rst, "*CLS": cls, "*OPC?": self._get(lambda: "1"),
            "*WAI": self._set("_wai", lambda a: None),
            ":SYSTem:ERRor[:NEXT]?": syst_err,
            "[:SOURce]:VOLTage[:LEVel][:IMMediate][:AMPLitude]": self._set("voltage_v", self._number),
            "[:SOURce]:VOLTage[:LEVel][:IMMediate][:AMPLitude]?": self._get(lambda: f"{self.voltage_v:+.6E}"),
            ":OUTPut[:STATe]": self._set("output_on", self._bool),
            ":OUTPut[:STATe]?": self._get(lambda: "1" if self.output_on else "0"),
            ":SENSe:CURRent[:DC]:RANGe[:UPPer]": self._set("range_a", rng),
            ":SENSe:CURRent[:DC]:RANGe[:UPPer]?": self._get(lambda: f"{self.range_a:+.6E}"),
            ":SENSe:CURRent[:DC]:RANGe:AUTO": auto,
            ":SENSe:CURRent[:DC]:RANGe:AUTO?": self._get(lambda: "1" if self.auto_range else "0"),
            ":SENSe:SWEep:TINTerval": self._set("tint_s", tint),
            ":SENSe:SWEep:TINTerval?": self._get(lambda: f"{self.tint_s:+.6E}"),
            ":SENSe:SWEep:POINts": self._set("points", points),
            ":SENSe:SWEep:POINts?": self._get(lambda: f"{self.points:+d}"),
            ":TRIGger:ACQuire:SOURce": self._set("trig_source", source),
            ":INITiate[:IMMediate]:ACQuire": init, ":TRIGger:ACQuire[:IMMediate]": trig, ":ABORt:ACQuire": abort,
            ":FETCh:ARRay:CURRent[:DC]?": fetch_arr, ":FETCh[:SCALar]:CURRent[:DC]?": fetch_mean,
            ":MEASure:ARRay:CURRent[:DC]?": meas_arr, ":MEASure[:SCALar]:CURRent[:DC]?": meas,
            ":FORMat[:DATA]": self._set("ascii", fmt), ":FORMat[:DATA]?": self._get(lambda: "ASC" if self.ascii else "REAL"),
            ":FORMat:BORDer": self._set("swapped", lambda a: bool(a) and a[0].upper().startswith("SWAP")),
        }
