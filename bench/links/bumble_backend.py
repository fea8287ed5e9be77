"""A bleak backend over Bumble: ``BleakClient(addr, backend=BumbleClient)`` talks HCI over TCP.

The harness keeps bleak's public API and swaps only what is at the other end: a Bumble host whose
controller is the reference bench's phone radio (``unix:/tmp/glassbench-hci-…/hci.sock``, a socket only its user can open) — or any Bumble
transport, e.g. ``usb:0`` for a real controller dongle. Scanner and clients on one loop share one
Bumble host, as programs share one adapter.

Choosing the HCI transport, in order: the ``bumble={"hci": SPEC}`` keyword, the spec given to
``use_as_default(SPEC)``, the environment variable ``GLASSBENCH_HCI``.

Errors surface as ``BleakError`` (bleak's contract), never as a Bumble exception or a bare
``CancelledError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Optional

import bleak
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakError
from bumble import core, hci
from bumble.core import AdvertisingData
from bumble.device import Advertisement, Connection, Peer

from bench.links import bumble_host, bumble_security
from bench.links.bumble_host import BumbleHost, bleak_uuid, close_hosts, get_host, spec_from  # noqa: F401 (re-exported)
from bench.links.bumble_security import PasskeyCallback

logger = logging.getLogger(__name__)

DEFAULT_MTU = 517


def _advertisement_fields(adv: Advertisement) -> dict[str, Any]:
    data = adv.data
    uuids: list[str] = []
    for kind in (AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
                 AdvertisingData.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
                 AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
                 AdvertisingData.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS):
        for u in data.get(kind) or []:
            uuids.append(bleak_uuid(u))
    fields: dict[str, Any] = {"service_uuids": uuids}
    name = data.get(AdvertisingData.COMPLETE_LOCAL_NAME) or data.get(AdvertisingData.SHORTENED_LOCAL_NAME)
    if name:
        fields["local_name"] = name
    manufacturer = data.get(AdvertisingData.MANUFACTURER_SPECIFIC_DATA)
    if manufacturer:
        company, payload = manufacturer
        fields["manufacturer_data"] = {company: bytes(payload)}
    tx = data.get(AdvertisingData.TX_POWER_LEVEL)
    if tx is not None:
        fields["tx_power"] = tx
    return fields


class BumbleScanner(BaseBleakScanner):
    """bleak scanner backend: active scan, advertising and scan-response data merged per device."""

    def __init__(self, detection_callback: Optional[AdvertisementDataCallback],
                 service_uuids: Optional[list[str]], scanning_mode: str = "active", *,
                 bumble: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(detection_callback, service_uuids)
        self._spec = spec_from(bumble)
        self._active = scanning_mode != "passive"
        self._host: BumbleHost | None = None
        self._merged: dict[str, dict[str, Any]] = {}

    async def start(self) -> None:
        self._host = await get_host(self._spec)
        self.seen_devices = {}
        self._merged = {}
        self._host.device.on("advertisement", self._on_advertisement)
        try:
            await self._host.device.start_scanning(active=self._active, filter_duplicates=False)
        except Exception as e:  # noqa: BLE001
            raise BleakError(f"scan start failed on {self._spec}: {e}") from e

    async def stop(self) -> None:
        if self._host is None:
            return
        self._host.device.remove_listener("advertisement", self._on_advertisement)
        if not self._host.lost:
            with contextlib.suppress(Exception):
                await self._host.device.stop_scanning()

    def _on_advertisement(self, adv: Advertisement) -> None:
        key = str(adv.address)
        merged = self._merged.setdefault(key, {"service_uuids": [], "manufacturer_data": {}})
        fields = _advertisement_fields(adv)
        for u in fields.pop("service_uuids"):
            if u not in merged["service_uuids"]:
                merged["service_uuids"].append(u)
        merged["manufacturer_data"].update(fields.pop("manufacturer_data", {}))
        merged.update(fields)
        data = AdvertisementData(
            local_name=merged.get("local_name"), manufacturer_data=dict(merged["manufacturer_data"]),
            service_data={}, service_uuids=list(merged["service_uuids"]), tx_power=merged.get("tx_power"),
            rssi=adv.rssi, platform_data=(adv,))
        if not self.is_allowed_uuid(data.service_uuids):
            return
        device = self.create_or_update_device(key, key, data.local_name, adv.address, data)
        self.call_detection_callbacks(device, data)


class BumbleClient(BaseBleakClient):
    """bleak client backend: connect, MTU exchange, full discovery, read/write/notify over Bumble."""

    def __init__(self, address_or_ble_device: BLEDevice | str, services: Any = None, *,
                 bumble: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(address_or_ble_device, **kwargs)
        self._spec = spec_from(bumble)
        self._mtu_request = int((bumble or {}).get("mtu", DEFAULT_MTU))
        self._peer_address = (address_or_ble_device.details
                              if isinstance(address_or_ble_device, BLEDevice)
                              and isinstance(address_or_ble_device.details, hci.Address) else None)
        self._host: BumbleHost | None = None
        self._connection: Connection | None = None
        self._peer: Peer | None = None
        self.disconnect_reason: str | None = None
        self.resumed_bond = False  # the last connect encrypted from a stored bond (no pairing)
        self._phy: str | None = None

    @property
    def name(self) -> str:
        return str(self._peer_address or self.address)

    @property
    def mtu_size(self) -> int:
        return self._connection.att_mtu if self._connection is not None else 23

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        timeout = kwargs.get("timeout", self._timeout)
        self._host = await get_host(self._spec)
        address = self._peer_address or _parse_address(self.address)
        try:
            async with asyncio.timeout(timeout):
                connection = await self._host.device.connect(address, timeout=timeout)
                self._connection = connection
                self.disconnect_reason = None
                connection.on("disconnection", self._on_disconnection)
                self._host.lost_callbacks.add(self._on_link_lost)
                self._peer = Peer(connection)
                self.resumed_bond = await bumble_security.encrypt_if_bonded(self._host.device, connection)
                await self._peer.request_mtu(self._mtu_request)
                await self._discover()
                await self._read_phy()
                if pair and not self.resumed_bond:
                    await bumble_security.pair(self._host.device, connection, kwargs.get("passkey"))
        except BleakError:
            await self._abort()
            raise
        except (Exception, asyncio.CancelledError) as e:  # noqa: BLE001
            await self._abort()
            if isinstance(e, (TimeoutError, core.TimeoutError)):
                raise BleakError(f"connect to {address} timed out after {timeout:g} s") from e
            raise BleakError(f"connect to {address} failed: {type(e).__name__}: {e}") from e

    async def _abort(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await connection.disconnect()

    async def _discover(self) -> None:
        assert self._peer is not None
        collection = BleakGATTServiceCollection()
        mtu = lambda: self.mtu_size - 3  # noqa: E731
        for service in await self._peer.discover_services():
            bs = BleakGATTService(service, service.handle, bleak_uuid(service.uuid))
            collection.add_service(bs)
            for char in await service.discover_characteristics():
                props = [name for name, flag in _PROPERTIES if char.properties & flag]
                bc = BleakGATTCharacteristic(char, char.handle, bleak_uuid(char.uuid), props, mtu, bs)  # type: ignore[arg-type]  # bleak stub: Literal property names
                collection.add_characteristic(bc)
                for desc in await char.discover_descriptors():
                    collection.add_descriptor(BleakGATTDescriptor(desc, desc.handle, bleak_uuid(desc.type), bc))
        self.services = collection

    def _on_disconnection(self, reason: int) -> None:
        self._connection = None
        if self._host is not None and (self._host.lost or self._host.transport.source.terminated.done()):
            self.disconnect_reason = f"link lost: HCI transport {self._spec} closed"
        else:
            self.disconnect_reason = f"HCI reason 0x{reason:02x} ({hci.HCI_Constant.error_name(reason)})"
        self._finish_disconnect()

    def _on_link_lost(self) -> None:
        if self._connection is None:
            return
        self._connection = None
        self.disconnect_reason = f"link lost: HCI transport {self._spec} closed"
        self._finish_disconnect()

    def _finish_disconnect(self) -> None:
        if self._host is not None:
            self._host.lost_callbacks.discard(self._on_link_lost)
        if self._disconnected_callback is not None:
            self._disconnected_callback()

    async def disconnect(self) -> None:
        connection = self._connection
        if connection is None:
            return
        try:
            async with asyncio.timeout(5):
                await connection.disconnect()
        except (Exception, asyncio.CancelledError):  # noqa: BLE001 - gone is gone
            pass
        if self._connection is connection:
            self._connection = None
            self._finish_disconnect()

    async def pair(self, *args: Any, passkey: PasskeyCallback | None = None, **kwargs: Any) -> None:
        """Pair and bond (LE Secure Connections): Just Works, or passkey entry when ``passkey`` is given."""
        assert self._host is not None
        await self._call(bumble_security.pair(self._host.device, self._require(), passkey), "pair")

    async def unpair(self) -> None:
        """Disconnect and delete the bond from the host's key store (bleak: unpair also disconnects)."""
        address = self._connection.peer_address if self._connection is not None else \
            (self._peer_address or _parse_address(self.address))
        await self.disconnect()
        self._host = self._host or await get_host(self._spec)
        await bumble_security.remove_bond(self._host.device, address)

    @property
    def is_encrypted(self) -> bool:
        return self._connection is not None and bool(self._connection.is_encrypted)

    # -- connection parameters and PHY (bench/links/link_params.py) ---------------------------------
    def link_parameters(self) -> dict[str, Any]:
        """What the controller reports the connection runs: interval_s, latency, supervision_timeout_s, phy."""
        c = self._require()
        p = c.parameters
        return {"interval_s": p.connection_interval / 1000, "latency": p.peripheral_latency,
                "supervision_timeout_s": p.supervision_timeout / 1000, "phy": self._phy}

    async def update_connection(self, interval_s: float, latency: int, supervision_timeout_s: float) -> None:
        """LE Connection Update (the central's procedure), waiting for the controller's completion."""
        ms = interval_s * 1000
        await self._call(self._require().update_parameters(ms, ms, latency, supervision_timeout_s * 1000),
                         "connection update")

    async def set_phy(self, phy: str) -> str:
        """LE Set PHY both ways; returns the PHY the controller reports afterwards."""
        c = self._require()
        wanted = {"1M": hci.Phy.LE_1M, "2M": hci.Phy.LE_2M}[phy]
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def on_update(p: Any) -> None:
            if not done.done():
                done.set_result(p)

        def on_fail(e: int) -> None:
            if not done.done():
                done.set_exception(BleakError(f"PHY update failed: HCI 0x{e:02x}"))
        c.on("connection_phy_update", on_update)
        c.on("connection_phy_update_failure", on_fail)
        try:
            await self._call(c.set_phy([wanted], [wanted]), "set PHY")
            await self._call(asyncio.wait_for(done, 5), "PHY update")
        finally:
            c.remove_listener("connection_phy_update", on_update)
            c.remove_listener("connection_phy_update_failure", on_fail)
        await self._read_phy()
        return str(self._phy)

    async def _read_phy(self) -> None:
        phy = await self._call(self._require().get_phy(), "read PHY")
        self._phy = {hci.Phy.LE_1M: "1M", hci.Phy.LE_2M: "2M"}.get(phy.tx_phy, f"0x{phy.tx_phy:02x}")

    def _require(self) -> Connection:
        if self._connection is None or self._peer is None:
            raise BleakError(f"not connected to {self.address}" +
                             (f" ({self.disconnect_reason})" if self.disconnect_reason else ""))
        return self._connection

    async def _call(self, aw: Any, what: str) -> Any:
        """Await a Bumble operation, translating its failures into BleakError."""
        try:
            return await aw
        except BleakError:
            raise
        except asyncio.CancelledError as e:
            if self._connection is None:  # the link died under the operation
                raise BleakError(f"{what}: disconnected ({self.disconnect_reason})") from e
            raise
        except Exception as e:  # noqa: BLE001
            raise BleakError(f"{what} failed: {type(e).__name__}: {e}") from e

    async def read_gatt_char(self, characteristic: BleakGATTCharacteristic, **kwargs: Any) -> bytearray:
        self._require()
        assert self._peer is not None
        value = await self._call(self._peer.read_value(characteristic.handle), f"read {characteristic.uuid}")
        return bytearray(value)

    async def read_gatt_descriptor(self, descriptor: BleakGATTDescriptor, **kwargs: Any) -> bytearray:
        self._require()
        assert self._peer is not None
        return bytearray(await self._call(self._peer.read_value(descriptor.handle), f"read descriptor {descriptor.handle}"))

    async def write_gatt_char(self, characteristic: BleakGATTCharacteristic, data: Any, response: bool) -> None:
        self._require()
        assert self._peer is not None
        await self._call(self._peer.write_value(characteristic.handle, bytes(data), with_response=response),
                         f"write {characteristic.uuid}")

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: Any) -> None:
        self._require()
        assert self._peer is not None
        await self._call(self._peer.write_value(descriptor.handle, bytes(data), with_response=True),
                         f"write descriptor {descriptor.handle}")

    async def start_notify(self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback,
                           **kwargs: Any) -> None:
        self._require()
        assert self._peer is not None
        proxy = characteristic.obj
        subscriber = _Subscriber(callback)
        characteristic.obj_subscriber = subscriber  # type: ignore[attr-defined]
        await self._call(self._peer.subscribe(proxy, subscriber, prefer_notify=not kwargs.get("force_indicate")),
                         f"subscribe {characteristic.uuid}")

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        self._require()
        assert self._peer is not None
        subscriber = getattr(characteristic, "obj_subscriber", None)
        await self._call(self._peer.unsubscribe(characteristic.obj, subscriber), f"unsubscribe {characteristic.uuid}")


class _Subscriber:
    """Adapts Bumble's value callback to bleak's bytearray callback."""

    def __init__(self, callback: NotifyCallback) -> None:
        self.callback = callback

    def __call__(self, value: bytes) -> None:
        self.callback(bytearray(value))


_PROPERTIES = [
    ("broadcast", 0x01), ("read", 0x02), ("write-without-response", 0x04), ("write", 0x08),
    ("notify", 0x10), ("indicate", 0x20), ("authenticated-signed-writes", 0x40), ("extended-properties", 0x80),
]


def _parse_address(text: str) -> hci.Address:
    """``AA:BB:..`` is taken as a random address (what glasses advertise); ``/P`` marks public."""
    try:
        if text.endswith("/P"):
            return hci.Address(text)
        return hci.Address(text, hci.Address.RANDOM_DEVICE_ADDRESS)
    except Exception as e:  # noqa: BLE001
        raise BleakError(f"not a Bluetooth address: {text!r}") from e


def use_as_default(hci_spec: str | None = None) -> None:
    """Make Bumble bleak's default backend in this process, for tools that build their own clients.

    Third-party code (smpclient, vendor SDKs) calls ``BleakClient(address)`` without ``backend=``;
    bleak chooses the default through ``bleak.get_platform_client_backend_type`` and
    ``bleak.get_platform_scanner_backend_type``, which this replaces (on the ``bleak`` module, where
    BleakClient looks them up). ``hci_spec`` becomes the default transport.
    """
    if hci_spec is not None:
        bumble_host.default_spec = hci_spec
    bleak.get_platform_client_backend_type = lambda: (BumbleClient, "bumble")  # type: ignore[assignment,return-value]
    bleak.get_platform_scanner_backend_type = lambda: (BumbleScanner, "bumble")  # type: ignore[assignment,return-value]
