"""GLP over a pty (COBS packets) for `bench fuzz --target serial`: a second protocol endpoint of the
same glasses, with the same seeded bugs. Ready key ``fuzz_serial`` = the pty path for pyserial."""

from __future__ import annotations

import asyncio
from typing import Any

from bench.profiles.glp.device import GlassesProtocol
from bench.profiles.glp.device_serial import GlassesSerialLink
from bench.profiles.glp.frames import OVERHEAD
from bench.reference import bugs
from bench.reference.features import feature
from bench.reference.pty_port import PtyPort

MAX_PAYLOAD = 8192 + OVERHEAD


class SerialGlp:
    """Protocol, link and pty of the serial endpoint; ``reset()`` restores the state after boot."""

    def __init__(self, bench: Any) -> None:
        g = bench.glasses
        self.pty = PtyPort(lambda data: self.link.feed_bytes(data))
        self.link = GlassesSerialLink(self.pty.write)
        p = g.profile
        self.protocol = GlassesProtocol(p.board.name, p.sku.name, self.link.send,
                                        battery_pct=lambda: g.battery_level_pct,
                                        firmware_version=p.firmware_version, serial_number=p.serial_number)
        self.link.attach(self.protocol, MAX_PAYLOAD)
        self.bugs = bugs.install(self.protocol, list(bench.options.bugs), g)
        self.max_payload = MAX_PAYLOAD
        self._glasses = g
        boot = g.boot

        async def boot_and_reset(reset_reason: str) -> None:  # the serial side reboots with the glasses
            self.reset()
            await boot(reset_reason)
        g.boot = boot_and_reset

    def reset(self) -> None:
        self.protocol.reset()
        self.protocol.connected(self.max_payload)
        self.pty.discard_output()
        if self.bugs is not None:
            self.bugs.reset()

    def reconnect(self) -> None:
        self.protocol.disconnected()
        self.protocol.connected(self.max_payload)

    async def ticker(self) -> None:
        while True:
            await asyncio.sleep(0.1)
            if not (self.bugs is not None and self.bugs.silent):
                self.protocol.tick()


@feature("fuzz_serial")
async def start(bench: Any) -> dict[str, Any]:
    serial = SerialGlp(bench)
    serial.pty.start()
    task = asyncio.ensure_future(serial.ticker())
    bench.fuzz_serial = serial

    async def close() -> None:
        task.cancel()
        serial.pty.close()
    bench.on_close(close)
    return {"fuzz_serial": serial.pty.path}
