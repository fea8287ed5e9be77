"""The BLE link to a DUT, through bleak: scan by name or address, connect with retries, notify queues.

The same code runs against real glasses (bleak's platform backend) and the reference bench
(``backend=BumbleClient``). Everything here is asyncio and runs on the session's loop; the DUT
facade (bench/dut/glasses.py) wraps it for synchronous tests. Every wait takes a timeout.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sys
import time
from typing import TYPE_CHECKING, Any, cast

from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak.exc import BleakError

from bench.errors import DutTimeout, LinkLost
from bench.links import link_params
from bench.links.link_params import LinkRequest, LinkState

if TYPE_CHECKING:
    from bench.links.bumble_security import PasskeyCallback

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
            async with asyncio.timeout(timeout_s):
                return await self.queue.get()
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
                 scan_timeout_s: float = 10.0, connect_timeout_s: float = 10.0, connect_retries: int = 3,
                 adapter: str | None = None, link_request: LinkRequest | None = None,
                 not_applied: dict[str, str] | None = None) -> None:
        self.name = name
        self.adapter = adapter  # BlueZ adapter (hci1); bleak's ``bluez={"adapter": ...}``
        self.link_request = link_request or LinkRequest()
        self.not_applied = dict(not_applied or {})  # requested fields known not to apply here (link_params)
        self.link_state = LinkState(not_applied=dict(self.not_applied))  # until the first connect reads the link
        self.mtu_note: str | None = None
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
        return dict(self._adapter_kwargs(), **({"backend": self.scan_backend} if self.scan_backend else {}))

    def _client_kwargs(self) -> dict[str, Any]:
        return dict(self._adapter_kwargs(), **({"backend": self.backend} if self.backend else {}))

    def _adapter_kwargs(self) -> dict[str, Any]:
        kwargs = dict(self.backend_kwargs)
        if self.adapter:
            kwargs["bluez"] = {**kwargs.get("bluez", {}), "adapter": self.adapter}
        return kwargs

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
                                     timeout=self.connect_timeout_s, **self._client_kwargs())
                self.disconnected.clear()
                self.disconnect_reason = None
                self._before_connect()
                await client.connect()
                self.client = client
                self.queues.clear()
                await self._after_connect(client)
                self.connect_time_s = time.monotonic() - t0
                return self.connect_time_s
            except (BleakError, DutTimeout, TimeoutError) as e:
                errors.append(f"attempt {attempt}: {e}")
                logger.info("connect attempt %d failed: %s", attempt, e)
        raise LinkLost(f"could not connect to {self.address or self.name!r}: " + "; ".join(errors))

    def _before_connect(self) -> None:
        """BlueZ: the kernel takes new connections' parameters from debugfs (root; see link_params)."""
        conn_keys = {"interval_s", "latency", "supervision_timeout_s"} & self.link_request.asked().keys()
        if self.backend is None and sys.platform.startswith("linux") and conn_keys - self.not_applied.keys():
            written = link_params.apply_debugfs(self.link_request, self.adapter)
            logger.info("BlueZ debugfs: wrote %s", ", ".join(written))

    async def _after_connect(self, client: BleakClient) -> None:
        """Negotiated MTU (BlueZ), connection parameters and PHY as requested, and what the link runs."""
        backend = client._backend
        acquire = getattr(backend, "_acquire_mtu", None)  # BlueZ only: mtu_size is 23 until this is called
        if acquire is not None:
            try:
                await acquire()
                self.mtu_note = None
            except Exception as e:  # noqa: BLE001 - no acquirable characteristic, or it needs a bond first
                self.mtu_note = f"MTU not acquired ({type(e).__name__}: {e}); BlueZ reports 23"
                logger.warning("%s", self.mtu_note)
        self.link_state = await link_params.apply(backend, self.link_request, self.not_applied)
        self.link_state.mtu = self.mtu

    async def apply_link(self, request: LinkRequest, not_applied: dict[str, str]) -> LinkState:
        """Change the running connection's parameters / PHY where the backend can (fields in ``not_applied``
        are known not to apply and are only recorded); the result becomes ``link_state``."""
        client = self._require()
        self.link_state = await link_params.apply(client._backend, request, not_applied)
        self.link_state.mtu = self.mtu
        return self.link_state

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
            async with asyncio.timeout(timeout_s):
                return await aw
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

    # -- pairing and bonds ------------------------------------------------------------------------
    async def pair(self, passkey: PasskeyCallback | None = None, timeout_s: float = 30.0) -> None:
        """Pair and bond: Just Works, or passkey entry with ``passkey`` returning what the DUT displays."""
        client = self._require()
        if passkey is not None and self.backend is None:
            raise BleakError("passkey entry through bleak's default backend needs the OS's pairing agent "
                             "(BlueZ: run `bluetoothctl` with `agent KeyboardOnly`); pass no passkey callback")
        kwargs = {"passkey": passkey} if passkey is not None else {}
        await self._guard(client.pair(**kwargs), "pair", timeout_s)

    async def unpair(self, timeout_s: float = 10.0) -> None:
        """Remove the bond (and disconnect: bleak's unpair does both)."""
        client = self.client or BleakClient(self.device or cast(str, self.address), timeout=self.connect_timeout_s,
                                            **self._client_kwargs())
        self.client = None
        try:
            async with asyncio.timeout(timeout_s):
                await client.unpair()
        except TimeoutError:
            raise DutTimeout(f"unpair {self.address or self.name!r}: no answer within {timeout_s:g} s") from None

    @property
    def encrypted(self) -> bool | None:
        """Whether the link is encrypted (None: the backend does not say — bleak on BlueZ)."""
        if self.client is None:
            return False
        value = getattr(self.client._backend, "is_encrypted", None)
        return None if value is None else bool(value)

    @property
    def resumed_bond(self) -> bool:
        """The last connect encrypted from a stored bond without pairing (Bumble backend)."""
        return bool(self.client is not None and getattr(self.client._backend, "resumed_bond", False))

    async def wait_disconnected(self, timeout_s: float) -> str:
        try:
            async with asyncio.timeout(timeout_s):
                await self.disconnected.wait()
        except TimeoutError:
            raise DutTimeout(f"link to {self.address or self.name!r} still up after {timeout_s:g} s") from None
        return self.disconnect_reason or "disconnected"

    async def disconnect(self, timeout_s: float = 5.0) -> None:
        client, self.client = self.client, None
        if client is not None and client.is_connected:
            try:
                async with asyncio.timeout(timeout_s):
                    await client.disconnect()
            except (BleakError, TimeoutError) as e:
                logger.info("disconnect: %s", e)
