"""GLP over a COBS serial link on a second pty (bring-up without a radio; docs/protocol.md §2).

The serial glasses are a separate GlassesProtocol instance with the same identity as the BLE glasses
(board, SKU, firmware, serial number, battery) but their own link state: settings, photos, reply
cache and streams are not shared with the BLE side. A serial line has no link-layer connect, so a
Hello frame starts a new connection (sequence counters, reply cache and streams reset).
Ready-line key: ``glp_serial`` (the pty path to open with pyserial).
"""

from __future__ import annotations

import asyncio
from typing import Any

from bench.profiles.glp import messages as m
from bench.profiles.glp.device import GlassesProtocol
from bench.profiles.glp.device_serial import GlassesSerialLink
from bench.profiles.glp.frames import PROTOCOL_VERSION, Flags
from bench.profiles.glp.gatt import Channel
from bench.reference.features import feature
from bench.reference.pty_port import PtyPort

TICK_S = 0.1


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
