"""Simulated SCPI power instruments over a raw TCP socket, each serving a PowerTimeline.

One server, one instrument model chosen by name (``n6705c`` — Keysight N6705C with an N6781A SMU,
``k2281s`` — Keithley 2281S-20-6, ``dp832`` — Rigol DP832; see ``scpi_models.py``). This file is
the part they share: the socket, IEEE 488.2 common commands (``*IDN? *RST *CLS *OPC? *WAI``), a
real error queue behind ``SYST:ERR?``, short/long header forms with optional nodes, and faults
(``inject('hang'|'disconnect'|'garbage')``).

Truthful on purpose: a header the modelled instrument does not have — a typo, or another model's
syntax such as the 2450's ``defbuffer1`` sent to a 2281S — queues ``-113,"Undefined header"`` and,
if it was a query, sends nothing (as the real units do), so drivers find out through ``SYST:ERR?``.
Every accepted command is appended to ``log`` so tests can check the order (limit before output).
When the instrument is the DUT's supply (``on_supply``), its output switching off (``OUTP OFF``,
``*RST``) powers the reference glasses off, and on again powers them up (bench/reference/supply.py).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, Awaitable, Callable

from bench.reference.power_model import PowerTimeline

Handler = Callable[[list[str]], Awaitable[str | bytes | None]]


class ScpiError(Exception):
    """An SCPI error to queue: (code, message)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f'{code},"{message}"')
        self.code, self.message = code, message


def header_regex(spec: str) -> re.Pattern[str]:
    """'[:SOURce]:VOLTage[:LEVel]' → regex accepting short/long forms and the optional nodes."""
    def node(m: re.Match[str]) -> str:
        word = m.group(0)
        short = "".join(c for c in word if c.isupper() or c.isdigit())
        return f"(?:{short}|{word.upper()})" if short != word.upper() else word.upper()
    body = re.sub(r"[A-Za-z]+", node, spec.replace("*", r"\*").replace("?", r"\?"))
    return re.compile(body.replace("[", "(?:").replace("]", ")?"), re.IGNORECASE)


def split_args(text: str) -> list[str]:
    """Split a parameter list on commas outside quotes and parentheses (channel lists stay whole)."""
    out, depth, quote, cur = [], 0, "", ""
    for c in text:
        if quote:
            quote = "" if c == quote else quote
        elif c in "\"'":
            quote = c
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
            continue
        cur += c
    if cur.strip():
        out.append(cur.strip())
    return out


def number(args: list[str], what: str = "value") -> float:
    if not args:
        raise ScpiError(-109, f"Missing parameter; {what}")
    try:
        return float(args[0])
    except ValueError:
        raise ScpiError(-104, f"Data type error; expected a number for {what}, got {args[0]!r}") from None


def boolean(args: list[str]) -> bool:
    if not args or args[0].upper() not in ("ON", "OFF", "1", "0"):
        raise ScpiError(-224, f"Illegal parameter value; expected ON|OFF|1|0, got {args[:1]}")
    return args[0].upper() in ("ON", "1")


def choice(args: list[str], options: tuple[str, ...], what: str) -> str:
    """The long form of an enumerated parameter given in short or long form (``BUS``, ``IMMediate``)."""
    if args:
        word = args[0].strip("\"'").upper()
        for opt in options:
            short = "".join(c for c in opt if c.isupper())
            if word in (short, opt.upper()):
                return opt.upper()
    raise ScpiError(-224, f"Illegal parameter value; {what} takes {'|'.join(options)}, got {args[:1]}")


class ScpiModel:
    """One instrument model: its *IDN?, its state, its command table. Subclasses register by name."""

    idn = ""
    models: dict[str, type["ScpiModel"]] = {}
    name = ""

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if cls.name:
            ScpiModel.models[cls.name] = cls

    def __init__(self, timeline: PowerTimeline, *, output_on: bool = False,
                 on_supply: Callable[[bool], None] | None = None, **opts: Any) -> None:
        """``output_on``: the output's state at start (a bench left powered); ``on_supply(on)`` is called
        whenever the output that powers the DUT switches."""
        self.timeline = timeline
        self.on_supply: Callable[[bool], None] | None = None
        self.reset()
        if output_on:
            self.output_on = True  # as found: no switch to report
        self.on_supply = on_supply

    _output_on = False

    @property
    def output_on(self) -> Any:
        return self._output_on

    @output_on.setter
    def output_on(self, on: Any) -> None:
        changed = bool(on) != bool(self._output_on)
        self._output_on = on
        if changed and self.on_supply is not None:
            self.on_supply(bool(on))

    def reset(self) -> None:
        """*RST state."""

    def commands(self) -> dict[str, Handler]:
        raise NotImplementedError

    def opc(self) -> Awaitable[None] | None:
        """What *OPC? waits for (pending operations); None = nothing pending."""
        return None


class ScpiServer:
    """``port = await ScpiServer(timeline, model="n6705c").start()``; pyvisa address in ``.resource``."""

    def __init__(self, timeline: PowerTimeline, *, model: str = "n6705c", host: str = "127.0.0.1", port: int = 0,
                 **model_opts: Any) -> None:
        from bench.reference import scpi_models  # noqa: F401  (registers the models)

        if model not in ScpiModel.models:
            raise ValueError(f"unknown SCPI model {model!r}; known: {', '.join(sorted(ScpiModel.models))}")
        self.timeline = timeline
        self.instrument = ScpiModel.models[model](timeline, **model_opts)
        self.host, self.port = host, port
        self.fault: str | None = None
        self.errors: list[ScpiError] = []
        self.log: list[str] = []
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        table: dict[str, Handler] = {"*IDN?": self._idn, "*RST": self._rst, "*CLS": self._cls, "*OPC?": self._opc,
                                     "*OPC": self._nothing, "*WAI": self._wai, ":SYSTem:ERRor[:NEXT]?": self._err}
        table.update(self.instrument.commands())
        self._table = [(header_regex(spec), fn) for spec, fn in table.items()]

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

    # -- connection --------------------------------------------------------------------------------
    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while not reader.at_eof():
                line = await reader.readline()
                if not line or self.fault == "disconnect":
                    break
                for cmd in split_commands(line.decode("ascii", errors="replace").strip()):
                    if self.fault == "hang":
                        continue
                    reply = await self.execute(cmd)
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

    async def execute(self, cmd: str) -> str | bytes | None:
        """Run one command; errors go to the queue (and a failed query answers nothing)."""
        header, _, argtext = cmd.strip().partition(" ")
        if not header.startswith((":", "*")):
            header = ":" + header
        for pattern, fn in self._table:
            if pattern.fullmatch(header):
                try:
                    reply = await fn(split_args(argtext))
                except ScpiError as exc:
                    self._queue(exc)
                    return None
                self.log.append(cmd.strip())
                return reply
        self._queue(ScpiError(-113, f"Undefined header; {cmd.strip()[:48]}"))
        return None

    def _queue(self, err: ScpiError) -> None:
        if len(self.errors) >= 10:
            self.errors[-1] = ScpiError(-350, "Queue overflow")
        else:
            self.errors.append(err)

    # -- IEEE 488.2 common commands ------------------------------------------------------------------
    async def _idn(self, a: list[str]) -> str:
        return self.instrument.idn

    async def _rst(self, a: list[str]) -> None:
        self.instrument.reset()

    async def _cls(self, a: list[str]) -> None:
        self.errors.clear()

    async def _err(self, a: list[str]) -> str:
        return str(self.errors.pop(0)) if self.errors else '+0,"No error"'

    async def _opc(self, a: list[str]) -> str:
        pending = self.instrument.opc()
        if pending is not None:
            await pending
        return "1"

    async def _wai(self, a: list[str]) -> None:
        pending = self.instrument.opc()
        if pending is not None:
            await pending

    async def _nothing(self, a: list[str]) -> None:
        return None


def split_commands(line: str) -> list[str]:
    """``A 1;:B 2;C?`` → commands; a header without a leading colon after ';' keeps the same root in SCPI,
    but every driver here sends full paths, so each part is taken as rooted."""
    return [c.strip() for c in line.split(";") if c.strip()]
