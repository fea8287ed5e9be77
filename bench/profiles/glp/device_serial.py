"""GLP over a serial byte stream on the glasses' side (bring-up without a radio)."""

from __future__ import annotations

from typing import Callable

from bench.profiles.glp.errors import ProtocolError
from bench.profiles.glp.frames import SerialFraming
from bench.profiles.glp.gatt import Channel


class GlassesSerialLink:
    """Feeds COBS packets from `write`-side bytes into a GlassesProtocol and frames its output.

    Wire it as: `link = GlassesSerialLink(port.write)`; `glasses = GlassesProtocol(..., send=link.send)`;
    `link.attach(glasses)`; then call `link.feed_bytes(data)` with every read from the port.
    """

    def __init__(self, write: Callable[[bytes], object]) -> None:
        self.write = write
        self.framing = SerialFraming()
        self.errors: list[ProtocolError] = []
        self.glasses = None

    def attach(self, glasses, max_payload: int = 8192 + 7) -> None:  # noqa: ANN001
        self.glasses = glasses
        glasses.connected(max_payload)

    def send(self, channel: Channel, data: bytes) -> None:
        self.write(SerialFraming.encode(channel, data))

    def feed_bytes(self, data: bytes) -> None:
        for item in self.framing.feed(data):
            if isinstance(item, ProtocolError):
                self.errors.append(item)  # a broken packet is dropped; the phone's request times out
            elif self.glasses is not None:
                self.glasses.feed(*item)
