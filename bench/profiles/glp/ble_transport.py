"""GLP over BLE: the session's Transport on a bleak connection (any backend).

Writes go to the phone-to-glasses characteristics without response; notifications of the three
glasses-to-phone characteristics reach the session's receiver with their channel.
"""

from __future__ import annotations

from bench.links.ble import BleLink
from bench.profiles.glp.gatt import CHARACTERISTICS, GLASSES_TO_PHONE, Channel, link_max_payload
from bench.profiles.glp.transport import Receiver


class BleTransport:
    """Transport for PhoneSession over a connected BleLink; call ``start()`` to subscribe."""

    def __init__(self, link: BleLink) -> None:
        self.link = link
        self._receiver: Receiver | None = None

    @property
    def max_payload(self) -> int:
        return link_max_payload(self.link.mtu)

    def set_receiver(self, receiver: Receiver) -> None:
        self._receiver = receiver

    async def start(self) -> None:
        client = self.link._require()
        for channel in sorted(GLASSES_TO_PHONE):
            await client.start_notify(CHARACTERISTICS[channel].uuid, self._notifier(channel))

    def _notifier(self, channel: Channel):  # noqa: ANN202
        def on_notify(_char: object, data: bytearray) -> None:
            if self._receiver is not None:
                self._receiver(channel, bytes(data))
        return on_notify

    async def stop(self) -> None:
        """Unsubscribe, so a later session on the same connection is the only receiver."""
        self._receiver = None
        if self.link.is_connected:
            client = self.link._require()
            for channel in sorted(GLASSES_TO_PHONE):
                await client.stop_notify(CHARACTERISTICS[channel].uuid)

    async def send(self, channel: Channel, data: bytes) -> None:
        await self.link._require().write_gatt_char(CHARACTERISTICS[channel].uuid, data, response=False)
