"""The one GLP serial endpoint of the reference glasses: COBS packets on a pty (docs/protocol.md §2).

Bring-up without a radio, conformance tests over serial and `bench fuzz --target serial` all use it.
It is a separate GlassesProtocol instance with the same identity as the BLE glasses (board, SKU,
firmware, serial number, battery) and the same seeded bugs (``--bug``), but its own link state:
settings, photos, reply cache and streams are not shared with the BLE side. A serial line has no
link-layer connect: the endpoint is linked from boot and every Hello starts a new session (§5.1).
It carries no microphone uplink (AUDIO_UPLINK is clear in its HelloReply, §2). ``glp reset serial``
and every reboot of the glasses restore its power-on state.
Ready-line key: ``glp_serial`` (the pty path to open with pyserial).
"""

from __future__ import annotations

import asyncio
from typing import Any

from bench.profiles.glp import messages as m
from bench.profiles.glp.device import GlassesProtocol
from bench.profiles.glp.device_serial import GlassesSerialLink
from bench.profiles.glp.frames import OVERHEAD
from bench.reference import bugs
from bench.reference.features import feature
from bench.reference.pty_port import PtyPort

TICK_S = 0.1
MAX_PAYLOAD = 8192 + OVERHEAD  # a serial packet carries any frame the phone may accept
SERIAL_CAPABILITY_MASK = ~int(m.Capability.AUDIO_UPLINK)  # no microphone path on the serial link


class SerialGlp:
    """Protocol, link and pty of the serial endpoint; ``reset()`` restores the state after boot."""

    def __init__(self, bench: Any) -> None:
        g = bench.glasses
        p = g.profile
        self.pty = PtyPort(lambda data: self.link.feed_bytes(data))
        self.link = GlassesSerialLink(self.pty.write)
        size = int(bench.options.settings.get("photo.size_bytes", g.protocol.photos.base_size_bytes))
        self.protocol = GlassesProtocol(p.board.name, p.sku.name, self.link.send,
                                        battery_pct=lambda: g.battery_level_pct,
                                        firmware_version=p.firmware_version, serial_number=p.serial_number,
                                        seed=bench.options.seed or 0, photo_size_bytes=size, whole_frames=True)
        self.protocol.capabilities &= SERIAL_CAPABILITY_MASK
        self.link.attach(self.protocol, MAX_PAYLOAD)
        self.bugs = bugs.install(self.protocol, list(bench.options.bugs), g)
        boot = g.boot

        async def boot_and_reset(reset_reason: str) -> None:  # the serial side reboots with the glasses
            self.reset()
            await boot(reset_reason)
        g.boot = boot_and_reset

    def reset(self) -> None:
        self.protocol.reset()
        self.protocol.connected(MAX_PAYLOAD)
        self.pty.discard_output()
        if self.bugs is not None:
            self.bugs.reset()

    def reconnect(self) -> None:
        self.protocol.disconnected()
        self.protocol.connected(MAX_PAYLOAD)

    async def ticker(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)  # a periodic timer (battery events, heartbeat watchdog)
            if not (self.bugs is not None and self.bugs.silent):
                self.protocol.tick()


@feature("glp_serial")
async def start(bench: Any) -> dict[str, Any]:
    serial = SerialGlp(bench)
    serial.pty.start()
    task = asyncio.ensure_future(serial.ticker())
    bench.glp_serial = serial
    bench.glp_serial_protocol = serial.protocol  # glp_shell, paced_speaker

    async def close() -> None:
        task.cancel()
        serial.pty.close()
    bench.on_close(close)
    return {"glp_serial": serial.pty.path}
