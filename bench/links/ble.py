"""The BLE link to a DUT, through bleak: scan by name or address, connect with retries, notify queues.

The same code runs against real glasses (bleak's platform backend) and the reference bench
(``backend=BumbleClient``). Everything here is asyncio and runs on the session's loop; the DUT
facade (bench/dut/glasses.py) wraps it for synchronous tests. Every wait takes a timeout.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from typing import Any, cast

from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak.exc import BleakError

from bench.errors import DutTimeout, LinkLost

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Notification:
    host_time_s: float
    data: bytes


class NotificationQueue:
    """Notifications of one characteristic, in arrival order, stamped with CLOCK_MONOTONIC."""

    def __init__(self, uuid: str) -> None:
        self.uuid = uuid
        self.queue: asyncio.Queue[Notification] = asyncio.Queue()

    def put(self, data: bytearray) -> None:
        self.queue.put_nowait(Notification(time.monotonic(), bytes(data)))

    async def get(self, timeout_s: float) -> Notification:
        try:
            return await asyncio.wait_for(self.queue.get(), timeout_s)
        except TimeoutError:
            raise DutTimeout(f"no notification on {self.uuid} within {timeout_s:g} s") from None

    def drain(self) -> list[Notification]:
        out = []
        while not self.queue.empty():
            out.append(self.queue.get_nowait())
        return out


class BleLink:
    """One DUT over BLE. ``backend``/``backend_kwargs`` choose what is at the other end."""

    def __init__(self, *, name: str | None = None, address: str | None = None, backend: Any = None,
                 backend_kwargs: dict[str, Any] | None = None, scan_backend: Any = None,
                 scan_timeout_s: float = 10.0, connect_timeout_s: float = 10.0, connect_retries: int = 3) -> None:
        self.name = name
        self.address = address
        self.backend = backend
        self.scan_backend = scan_backend
        self.backend_kwargs = backend_kwargs or {}
        self.scan_timeout_s = scan_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.connect_retries = connect_retries
        self.client: BleakClient | None = None
        self.device: BLEDevice | None = None
        self.queues: dict[str, NotificationQueue] = {}
        self.disconnected = asyncio.Event()
        self.disconnect_reason: str | None = None
        self.connect_time_s: float | None = None

    def _scanner_kwargs(self) -> dict[str, Any]:
        return dict(self.backend_kwargs, **({"backend": self.scan_backend} if self.scan_backend else {}))

    async def find(self) -> BLEDevice:
        """Scan until the DUT advertises (by address if given, else by name)."""
        kwargs = self._scanner_kwargs()
        if self.address:
            device = await BleakScanner.find_device_by_address(self.address, timeout=self.scan_timeout_s, **kwargs)
        else:
            device = await BleakScanner.find_device_by_name(cast(str, self.name), timeout=self.scan_timeout_s, **kwargs)
        if device is None:
            raise DutTimeout(f"DUT {self.address or self.name!r} not seen advertising within {self.scan_timeout_s:g} s")
        return device

    async def connect(self) -> float:
        """Scan and connect, retrying; returns the time from scan start to a discovered GATT (s)."""
        errors: list[str] = []
        for attempt in range(1, self.connect_retries + 1):
            t0 = time.monotonic()
            try:
                self.device = await self.find()
                client = BleakClient(self.device, disconnected_callback=self._on_disconnect,
                                     timeout=self.connect_timeout_s,
                                     **dict(self.backend_kwargs, **({"backend": self.backend} if self.backend else {})))
                self.disconnected.clear()
                self.disconnect_reason = None
                await client.connect()
                self.client = client
                self.queues.clear()
                self.connect_time_s = time.monotonic() - t0
                return self.connect_time_s
            except (BleakError, DutTimeout, TimeoutError) as e:
                errors.append(f"attempt {attempt}: {e}")
                logger.info("connect attempt %d failed: %s", attempt, e)
        raise LinkLost(f"could not connect to {self.address or self.name!r}: " + "; ".join(errors))

    def _on_disconnect(self, client: BleakClient) -> None:
        self.disconnect_reason = getattr(client._backend, "disconnect_reason", None) or "disconnected"
        self.disconnected.set()

    @property
    def is_connected(self) -> bool:
        return self.client is not None and self.client.is_connected

    @property
    def mtu(self) -> int:
        return self.client.mtu_size if self.client is not None else 23

    def _require(self) -> BleakClient:
        if self.client is None or not self.client.is_connected:
            raise LinkLost(f"not connected to {self.address or self.name!r}"
                           + (f": {self.disconnect_reason}" if self.disconnect_reason else ""))
        return self.client

    async def _guard(self, aw: Any, what: str, timeout_s: float) -> Any:
        try:
            return await asyncio.wait_for(aw, timeout_s)
        except TimeoutError:
            raise DutTimeout(f"{what}: no answer within {timeout_s:g} s") from None
        except BleakError as e:
            if not self.is_connected:
                raise LinkLost(f"{what}: {self.disconnect_reason or e}") from e
            raise

    async def read(self, uuid: str, timeout_s: float = 5.0) -> bytes:
        return bytes(await self._guard(self._require().read_gatt_char(uuid), f"read {uuid}", timeout_s))

    async def write(self, uuid: str, data: bytes, response: bool = False, timeout_s: float = 5.0) -> None:
        await self._guard(self._require().write_gatt_char(uuid, data, response=response), f"write {uuid}", timeout_s)

    async def subscribe(self, uuid: str, timeout_s: float = 5.0) -> NotificationQueue:
        """Enable notifications on ``uuid``; the returned queue collects them from now on."""
        if uuid in self.queues:
            return self.queues[uuid]
        queue = NotificationQueue(uuid)
        await self._guard(self._require().start_notify(uuid, lambda _c, d: queue.put(d)), f"subscribe {uuid}", timeout_s)
        self.queues[uuid] = queue
        return queue

    async def wait_disconnected(self, timeout_s: float) -> str:
        try:
            await asyncio.wait_for(self.disconnected.wait(), timeout_s)
        except TimeoutError:
            raise DutTimeout(f"link to {self.address or self.name!r} still up after {timeout_s:g} s") from None
        return self.disconnect_reason or "disconnected"

    async def disconnect(self, timeout_s: float = 5.0) -> None:
        client, self.client = self.client, None
        if client is not None and client.is_connected:
            try:
                await asyncio.wait_for(client.disconnect(), timeout_s)
            except (BleakError, TimeoutError) as e:
                logger.info("disconnect: %s", e)
