"""GLP over a pty (COBS packets) for `bench fuzz --target serial`: a second protocol endpoint of the
same glasses, with the same seeded bugs. Ready key ``fuzz_serial`` = the pty path for pyserial."""

from __future__ import annotations

import asyncio
import errno
import os
import tty
from typing import Any

from bench.protocol.frames import OVERHEAD
from bench.reference import bugs
from bench.reference.features import feature
from bench.reference.glasses_protocol import GlassesProtocol
from bench.reference.glasses_serial import GlassesSerialLink

MAX_PAYLOAD = 8192 + OVERHEAD


class PtyEndpoint:
    """The glasses' end of a pty: reads feed the serial link, writes are queued (never blocking, never lost)."""

    def __init__(self) -> None:
        self.master_fd, self._slave_fd = os.openpty()
        tty.setraw(self._slave_fd)
        self.path = os.ttyname(self._slave_fd)
        os.set_blocking(self.master_fd, False)
        self._out = bytearray()
        self._writing = False
        self.link = GlassesSerialLink(self.write)

    def start(self) -> None:
        asyncio.get_running_loop().add_reader(self.master_fd, self._on_readable)

    def _on_readable(self) -> None:
        try:
            data = os.read(self.master_fd, 65536)
        except OSError:
            return
        if data:
            self.link.feed_bytes(data)

    def write(self, data: bytes) -> None:
        self._out += data
        self._flush()

    def discard_output(self) -> None:
        """Drop queued packets, but finish the one already half on the wire (the reader resyncs at 0x00)."""
        end = self._out.find(0)
        del self._out[end + 1 if end >= 0 else 0:]

    def _flush(self) -> None:
        while self._out:
            try:
                n = os.write(self.master_fd, self._out[:4096])
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EIO):
                    raise
                n = 0
            if n == 0:
                if not self._writing:
                    asyncio.get_running_loop().add_writer(self.master_fd, self._on_writable)
                    self._writing = True
                return
            del self._out[:n]
        if self._writing:
            asyncio.get_running_loop().remove_writer(self.master_fd)
            self._writing = False

    def _on_writable(self) -> None:
        self._flush()

    def close(self) -> None:
        loop = asyncio.get_running_loop()
        loop.remove_reader(self.master_fd)
        if self._writing:
            loop.remove_writer(self.master_fd)
        for fd in (self.master_fd, self._slave_fd):
            try:
                os.close(fd)
            except OSError:
                pass


class SerialGlp:
    """Protocol, link and pty of the serial endpoint; ``reset()`` restores the state after boot."""

    def __init__(self, bench: Any) -> None:
        g = bench.glasses
        self.pty = PtyEndpoint()
        p = g.profile
        self.protocol = GlassesProtocol(p.board.name, p.sku.name, self.pty.link.send,
                                        battery_pct=lambda: g.battery_level_pct,
                                        firmware_version=p.firmware_version, serial_number=p.serial_number)
        self.pty.link.attach(self.protocol, MAX_PAYLOAD)
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
