"""GLP over a COBS serial link on a second pty (bring-up without a radio; docs/protocol.md §2).

The serial glasses are a separate GlassesProtocol instance with the same identity as the BLE glasses
(board, SKU, firmware, serial number, battery) but their own link state: settings, photos, reply
cache and streams are not shared with the BLE side. A serial line has no link-layer connect, so a
Hello frame starts a new connection (sequence counters, reply cache and streams reset).
Ready-line key: ``glp_serial`` (the pty path to open with pyserial).
"""

from __future__ import annotations

import asyncio
import errno
import os
import tty
from typing import Any, Callable

from bench.protocol import messages as m
from bench.protocol.frames import Flags, PROTOCOL_VERSION
from bench.protocol.gatt import Channel
from bench.reference.features import feature
from bench.reference.glasses_protocol import GlassesProtocol
from bench.reference.glasses_serial import GlassesSerialLink

MAX_BUFFERED_BYTES = 8 * 1024 * 1024  # output kept while the harness is not reading (then dropped)
TICK_S = 0.1


class PtyPort:
    """A pty whose master side the bench owns: reads go to `on_bytes`, writes are buffered, never block."""

    def __init__(self, on_bytes: Callable[[bytes], None]) -> None:
        self.master_fd, slave_fd = os.openpty()
        tty.setraw(slave_fd)
        self.path = os.ttyname(slave_fd)
        self._slave_fd = slave_fd  # kept open so the pty survives clients coming and going
        os.set_blocking(self.master_fd, False)
        self.on_bytes = on_bytes
        self._out = bytearray()
        self._writer_on = False
        self.dropped_bytes = 0
        self.loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.loop.add_reader(self.master_fd, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self.master_fd, 65536)
        except OSError:
            return
        if data:
            self.on_bytes(data)

    def write(self, data: bytes) -> None:
        if len(self._out) + len(data) > MAX_BUFFERED_BYTES:
            self.dropped_bytes += len(data)
            return
        self._out += data
        self._flush()

    def _flush(self) -> None:
        while self._out:
            try:
                n = os.write(self.master_fd, self._out)
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EIO):
                    raise
                break
            del self._out[:n]
        want = bool(self._out) and self.loop is not None
        if want != self._writer_on and self.loop is not None:
            if want:
                self.loop.add_writer(self.master_fd, self._flush)
            else:
                self.loop.remove_writer(self.master_fd)
            self._writer_on = want

    def close(self) -> None:
        if self.loop is not None:
            self.loop.remove_reader(self.master_fd)
            if self._writer_on:
                self.loop.remove_writer(self.master_fd)
        for fd in (self.master_fd, self._slave_fd):
            try:
                os.close(fd)
            except OSError:
                pass


class SerialConnection:
    """Stands between the serial link and the glasses: a Hello from the phone opens a new connection."""

    def __init__(self, glasses: GlassesProtocol) -> None:
        self.glasses = glasses
        self.max_payload = 20

    def connected(self, max_payload: int) -> None:
        self.max_payload = max_payload
        self.glasses.connected(max_payload)

    def feed(self, channel: Channel, data: bytes) -> None:
        if (channel is Channel.CONTROL_IN and len(data) > 1 and data[1] == m.Hello.TYPE
                and data[0] >> 4 == PROTOCOL_VERSION and not data[0] & Flags.REPLY):
            self.glasses.connected(self.max_payload)
        self.glasses.feed(channel, data)


@feature("glp_serial")
async def start(bench: Any) -> dict[str, Any]:
    g, p = bench.glasses, bench.profile
    link: GlassesSerialLink
    port = PtyPort(lambda data: link.feed_bytes(data))
    link = GlassesSerialLink(port.write)
    size = int(bench.options.settings.get("photo.size_bytes", g.protocol.photos.base_size_bytes))
    proto = GlassesProtocol(p.board.name, p.sku.name, link.send, battery_pct=lambda: g.battery_level_pct,
                            firmware_version=p.firmware_version, serial_number=p.serial_number,
                            seed=bench.options.seed or 0, photo_size_bytes=size)
    link.attach(SerialConnection(proto))
    bench.glp_serial_protocol = proto
    bench.glp_serial_link = link
    port.start()

    async def ticker() -> None:
        while True:
            await asyncio.sleep(TICK_S)  # a periodic timer (battery events, heartbeat watchdog)
            proto.tick()
    task = asyncio.ensure_future(ticker())

    async def close() -> None:
        task.cancel()
        port.close()
    bench.on_close(close)
    return {"glp_serial": port.path}
