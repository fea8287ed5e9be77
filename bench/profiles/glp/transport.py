"""Phone-side transports for the GLP session: the small contract, an in-memory loopback, and serial.

A transport moves *fragments* (each at most `max_payload` bytes) on numbered channels. The session
fragments and reassembles; the transport only delivers. The bleak adapter (bench/links) implements
the same three members: `max_payload`, `set_receiver`, `send`.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Callable, Protocol

from bench.profiles.glp.errors import ProtocolError
from bench.profiles.glp.frames import OVERHEAD, SerialFraming
from bench.profiles.glp.gatt import GLASSES_TO_PHONE, PHONE_TO_GLASSES, Channel

Receiver = Callable[[Channel, bytes], None]
Tap = Callable[[str, Channel, bytes], list[bytes]]


class Transport(Protocol):
    """What PhoneSession needs from a link."""

    @property
    def max_payload(self) -> int:  # bytes per write/notification: ATT MTU - 3 over BLE; large over serial
        ...

    def set_receiver(self, receiver: Receiver) -> None:
        """Register the callback for every notification (channel, fragment); called on the session's loop."""

    async def send(self, channel: Channel, data: bytes) -> None:
        """Write one fragment (<= max_payload) without response on a phone-to-glasses channel."""


class LoopbackLink:
    """In-memory link joining a PhoneSession (this object is its Transport) to a device-side object
    with `feed(channel, data)`, `connected(max_payload)`, `disconnected()` — e.g. GlassesProtocol.

    Delivery is in order through the running loop (`call_soon`), like a reliable GATT link. `tap`, if
    set, sees every fragment as (direction 'up'|'down', channel, data) and returns what to deliver
    instead (drop: [], duplicate: [d, d], corrupt: [d'] ...).
    """

    def __init__(self, max_payload: int = 244, tap: Tap | None = None) -> None:
        self.max_payload = max_payload
        self.tap = tap
        self.device: Any = None
        self._receiver: Receiver | None = None
        self.up_fragments = 0  # phone -> glasses
        self.down_fragments = 0

    def attach(self, device: Any) -> None:
        """Connect the device end (calls its connected(max_payload))."""
        self.device = device
        device.connected(self.max_payload)

    def detach(self) -> None:
        if self.device is not None:
            self.device.disconnected()
        self.device = None

    def set_receiver(self, receiver: Receiver) -> None:
        self._receiver = receiver

    async def send(self, channel: Channel, data: bytes) -> None:
        if channel not in PHONE_TO_GLASSES:
            raise ValueError(f"phone cannot write {channel.name}")
        if len(data) > self.max_payload:
            raise ValueError(f"write of {len(data)} bytes exceeds max_payload {self.max_payload}")
        if self.device is None:
            raise ConnectionError("loopback link is not connected")
        for part in self.tap("up", channel, data) if self.tap else [data]:
            self.up_fragments += 1
            asyncio.get_running_loop().call_soon(self._to_device, channel, part)

    def _to_device(self, channel: Channel, data: bytes) -> None:
        if self.device is not None:
            self.device.feed(channel, data)

    def to_phone(self, channel: Channel, data: bytes) -> None:
        """The device's `send` callable."""
        if channel not in GLASSES_TO_PHONE:
            raise ValueError(f"glasses cannot notify on {channel.name}")
        if len(data) > self.max_payload:
            raise ValueError(f"notification of {len(data)} bytes exceeds max_payload {self.max_payload}")
        for part in self.tap("down", channel, data) if self.tap else [data]:
            self.down_fragments += 1
            asyncio.get_running_loop().call_soon(self._to_phone, channel, part)

    def _to_phone(self, channel: Channel, data: bytes) -> None:
        if self._receiver is not None:
            self._receiver(channel, data)


class SerialTransport:
    """GLP over a pyserial port (bring-up without a radio): COBS packets, channel byte first.

    A reader thread polls the port (`timeout` must be set on it, e.g. 0.05 s) and hands packets to
    the loop; decoding problems are kept in `errors`. Call `close()` to stop the thread.
    """

    whole_frames = True  # each COBS packet is one frame: the session does not reassemble (§2)

    def __init__(self, port: Any, loop: asyncio.AbstractEventLoop, max_payload: int = 8192 + OVERHEAD) -> None:
        self.port, self.loop, self.max_payload = port, loop, max_payload
        self.framing = SerialFraming()
        self.errors: list[ProtocolError] = []
        self._receiver: Receiver | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read_loop, name="glp-serial", daemon=True)
        self._thread.start()

    def set_receiver(self, receiver: Receiver) -> None:
        self._receiver = receiver

    async def send(self, channel: Channel, data: bytes) -> None:
        self.port.write(SerialFraming.encode(channel, data))  # pty/USB-CDC writes return at once

    async def send_many(self, items: list[tuple[Channel, bytes]]) -> None:
        """Several packets, in order, in one port write."""
        if items:
            self.port.write(b"".join(SerialFraming.encode(channel, data) for channel, data in items))

    def _read_loop(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.port.read(max(1, getattr(self.port, "in_waiting", 0) or 1))
            except Exception as exc:  # port closed under us
                self.loop.call_soon_threadsafe(self.errors.append, ProtocolError(0, f"serial read failed: {exc}"))
                return
            if data:
                for item in self.framing.feed(data):
                    self.loop.call_soon_threadsafe(self._deliver, item)

    def _deliver(self, item: tuple[Channel, bytes] | ProtocolError) -> None:
        if isinstance(item, ProtocolError):
            self.errors.append(item)
        elif self._receiver is not None:
            self._receiver(*item)

    def close(self, timeout_s: float = 1.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)
