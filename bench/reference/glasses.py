"""The reference glasses: a Bumble device on the timed radio with the services real glasses have.

GATT: Device Information (0x180A), Battery (0x180F, notified periodically), the Glasses Link
Protocol service (handled by a pluggable protocol handler), and the link-test service (echo and
stream, like the nRF Connect SDK throughput sample) that the bench uses to measure the link itself.
Lifecycle: the board's RTOS boot output on the console (bench/reference/console_formats.py; the
reset reason where that RTOS tells it), advertising with auto-restart, reboot, crash (fatal-error
dump or panic, radio silence, reset), hang.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from typing import Any, Callable, Protocol

from bumble import att, gatt, hci
from bumble.core import UUID, AdvertisingData
from bumble.device import Connection, Device
from bumble.profiles.battery_service import BatteryService
from bumble.profiles.device_information_service import DeviceInformationService

from bench.links.controller import TimedController
from bench.links.radio import TimedLink
from bench.profiles.glp import gatt as glp_gatt
from bench.profiles.glp.device import AudioHooks, DeviceHooks, GlassesProtocol
from bench.profiles.glp.gatt import Channel
from bench.reference.boards import Profile
from bench.reference.console_log import ConsoleLog

logger = logging.getLogger(__name__)

LINK_TEST_SERVICE = "7f1a1000-6c3b-4e0a-9d6c-3f5b8a2e4c10"
LINK_TEST_ECHO = "7f1a1001-6c3b-4e0a-9d6c-3f5b8a2e4c10"
LINK_TEST_STREAM = "7f1a1002-6c3b-4e0a-9d6c-3f5b8a2e4c10"
STREAM_REQUEST = struct.Struct("<IHI")  # count, size, delay (µs): after the delay, stream `count` notifications
STREAM_HEADER = struct.Struct("<Id")  # index, CLOCK_MONOTONIC send time (s)

REMOTE_POWER_OFF = hci.HCI_ErrorCode.REMOTE_DEVICE_TERMINATED_CONNECTION_DUE_TO_POWER_OFF_ERROR


def _read_not_permitted(_connection: Connection) -> bytes:
    """Bumble answers a read of a value without a read function with no response at all (the
    phone then waits for the 30 s ATT timeout); a real stack answers Read Not Permitted."""
    raise att.ATT_Error(att.ATT_READ_NOT_PERMITTED_ERROR)


class PowerStates(Protocol):
    def enter(self, state: str, t_s: float | None = None) -> None: ...


class ReferenceGlasses:
    """One pair of reference glasses on ``link``; drive it from the console or the harness."""

    app_version_line = True  # glassbench firmware logs its version, board and SKU after the RTOS's boot output

    def __init__(self, profile: Profile, link: TimedLink, console: ConsoleLog,
                 address: str = "C0:98:E5:49:00:01", power: PowerStates | None = None,
                 battery_notify_interval_s: float = 1.0, audio: AudioHooks | None = None,
                 hooks: DeviceHooks | None = None, seed: int = 0) -> None:
        self.profile = profile
        self.link = link
        self.log = console
        self.power = power
        self.battery_notify_interval_s = battery_notify_interval_s
        self.controller = TimedController("glasses", link=link)
        self.device = Device.with_hci(profile.device_name, hci.Address(address), self.controller, self.controller)
        self.device.le_enabled = True
        self.device.gatt_server.max_mtu = profile.board.mtu
        self.protocol = GlassesProtocol(
            profile.board.name, profile.sku.name, self._glp_send, battery_pct=lambda: self.battery_level_pct,
            audio=audio, hooks=hooks, firmware_version=profile.firmware_version,
            serial_number=profile.serial_number, seed=seed)
        self._outbox: asyncio.Queue[tuple[Connection, gatt.Characteristic, bytes]] = asyncio.Queue()
        self._tasks: list[asyncio.Task] = []
        self.connection: Connection | None = None
        self.advertising_wanted = True
        self.hang_until_s = 0.0
        self.reset_reason = "POWER_ON"
        self.boot_count = 0
        self.battery_charge_c = profile.sku.battery_capacity_mah * 3.6 * 0.87
        self._battery_task: asyncio.Task | None = None
        self._boot_task: asyncio.Task | None = None
        self.smp: Any = None  # the SMP (mcumgr) server, on boards whose firmware is Zephyr
        self._build_gatt()
        self.device.on("connection", self._on_connection)

    def use_security(self, security: Any, level: str) -> None:
        """Privileged GLP requests need the current connection at ``level`` (bench/reference/pairing.py)."""
        from bench.reference.pairing import SECURITY_LEVELS

        required = SECURITY_LEVELS[level]
        self.protocol.privileged_level = level
        self.protocol.privileged_ok = lambda: security.level(self.connection) >= required

    # -- GATT -------------------------------------------------------------------------------------
    def _build_gatt(self) -> None:
        p = self.profile
        self.dis = DeviceInformationService(
            manufacturer_name=p.manufacturer, model_number=p.sku.model, serial_number=p.serial_number,
            hardware_revision=p.board.hardware_revision, firmware_revision=p.firmware_version,
            software_revision=f"{p.board.name}/{p.sku.name}")
        self.battery = BatteryService(lambda _conn: self.battery_level_pct)
        rw = gatt.Characteristic.Properties
        self.echo: gatt.Characteristic[bytes] = gatt.Characteristic(
            LINK_TEST_ECHO, rw.WRITE | rw.WRITE_WITHOUT_RESPONSE | rw.NOTIFY, gatt.Characteristic.WRITEABLE,
            gatt.CharacteristicValue(read=_read_not_permitted, write=self._on_echo_write))
        self.stream: gatt.Characteristic[bytes] = gatt.Characteristic(
            LINK_TEST_STREAM, rw.WRITE | rw.NOTIFY, gatt.Characteristic.WRITEABLE,
            gatt.CharacteristicValue(read=_read_not_permitted, write=self._on_stream_write))
        self.glp: dict[Channel, gatt.Characteristic] = {}
        for channel, spec in glp_gatt.CHARACTERISTICS.items():
            # permissions follow the properties: reading a write-only characteristic is an ATT error
            if spec.phone_writes:
                self.glp[channel] = gatt.Characteristic(
                    spec.uuid, rw.WRITE_WITHOUT_RESPONSE, gatt.Characteristic.WRITEABLE,
                    gatt.CharacteristicValue(read=_read_not_permitted, write=self._glp_writer(channel)))
            else:
                self.glp[channel] = gatt.Characteristic(spec.uuid, rw.NOTIFY, 0, b"")  # type: ignore[arg-type]  # bumble stub: 0 (no permissions) is a valid Permissions value
        services = [self.dis, self.battery, gatt.Service(glp_gatt.SERVICE_UUID, list(self.glp.values())),
                    gatt.Service(LINK_TEST_SERVICE, [self.echo, self.stream])]
        if self.profile.board.console == "zephyr":  # Zephyr/NCS firmware updates over SMP, booted by MCUboot
            from bench.profiles.stock.mcuboot import Bootloader, factory_image
            from bench.profiles.stock.smp_server import SmpServer

            self.smp = SmpServer(self.device, lambda: self.reboot("SOFTWARE"),
                                 Bootloader(factory_image(self.profile.firmware_version)))
            services.append(self.smp.service)
        self.device.add_services(services)

    def _glp_writer(self, channel: Channel) -> Callable[[Connection, bytes], None]:
        def write(_connection: Connection, value: bytes) -> None:
            if not self.hung:
                self.protocol.feed(channel, bytes(value))
        return write

    def _glp_send(self, channel: Channel, data: bytes) -> None:
        """Queue a notification on a GLP channel (never blocks; dropped when nobody is connected)."""
        if self.connection is not None:
            self._outbox.put_nowait((self.connection, self.glp[channel], data))

    async def _sender(self) -> None:
        """Sends queued notifications in order (the protocol's frames must not be reordered)."""
        while True:
            connection, char, data = await self._outbox.get()
            if connection is self.connection and not self.hung:
                await self.device.notify_subscriber(connection, char, data)

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(0.1)
            if not self.hung:
                self.protocol.tick()

    @property
    def device_name(self) -> str:
        return self.profile.device_name

    @property
    def mtu(self) -> int:
        return self.connection.att_mtu if self.connection is not None else 23

    def _on_echo_write(self, connection: Connection, value: bytes) -> None:
        if not self.hung:
            asyncio.ensure_future(self.device.notify_subscriber(connection, self.echo, bytes(value)))

    def _on_stream_write(self, connection: Connection, value: bytes) -> None:
        if self.hung or len(value) != STREAM_REQUEST.size:
            return
        count, size, delay_us = STREAM_REQUEST.unpack(value)
        size = max(STREAM_HEADER.size, min(size, connection.att_mtu - 3))
        asyncio.ensure_future(self._stream(connection, count, size, delay_us * 1e-6))

    async def _stream(self, connection: Connection, count: int, size: int, delay_s: float) -> None:
        if delay_s > 0:
            await asyncio.sleep(delay_s)
        pad = bytes(size - STREAM_HEADER.size)
        for i in range(count):
            if self.connection is not connection:
                return
            payload = STREAM_HEADER.pack(i, time.monotonic()) + pad
            await self.device.notify_subscriber(connection, self.stream, payload)

    # -- battery ----------------------------------------------------------------------------------
    @property
    def battery_level_pct(self) -> int:
        full_c = self.profile.sku.battery_capacity_mah * 3.6
        return max(0, min(100, round(100 * self.battery_charge_c / full_c)))

    @property
    def battery_voltage_v(self) -> float:
        return 3.3 + 0.9 * self.battery_level_pct / 100

    def drain(self, charge_c: float) -> None:
        self.battery_charge_c = max(0.0, self.battery_charge_c - charge_c)

    async def _battery_loop(self) -> None:
        while True:
            await asyncio.sleep(self.battery_notify_interval_s)
            if self.connection is not None and not self.hung:
                await self.device.notify_subscribers(self.battery.battery_level_characteristic)

    # -- lifecycle --------------------------------------------------------------------------------
    async def start(self) -> None:
        await self.device.power_on()
        if self.smp is not None:
            self.smp.start()
        self._battery_task = asyncio.ensure_future(self._battery_loop())
        self._tasks = [asyncio.ensure_future(self._sender()), asyncio.ensure_future(self._ticker())]
        await self.boot("POWER_ON")

    async def boot(self, reset_reason: str) -> None:
        self.reset_reason = reset_reason
        self.boot_count += 1
        self.hang_until_s = 0.0
        boot_loader = self.smp.boot() if self.smp is not None else None  # MCUboot may swap in an uploaded image
        self.log.boot(self.profile, reset_reason, app_version_line=self.app_version_line, before=boot_loader)
        if self.advertising_wanted:
            await self.start_advertising()
        self.log.info("main", "Ready")

    async def start_advertising(self) -> None:
        p = self.profile
        adv = AdvertisingData([
            (AdvertisingData.FLAGS, bytes([0x06])),
            (AdvertisingData.COMPLETE_LOCAL_NAME, p.device_name.encode()),
        ])
        scan_rsp = AdvertisingData([
            (AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
             UUID(glp_gatt.SERVICE_UUID).to_bytes()),
        ])
        interval_ms = p.board.advertising_interval_s * 1000
        await self.device.start_advertising(
            auto_restart=True, advertising_data=bytes(adv), scan_response_data=bytes(scan_rsp),
            advertising_interval_min=interval_ms, advertising_interval_max=interval_ms)
        self.advertising_wanted = True
        if self.connection is None:  # connected glasses keep their connected power state
            self._power("advertising")
        self.log.info("ble", f"Advertising as \"{p.device_name}\"")

    async def stop_advertising(self) -> None:
        self.advertising_wanted = False
        self.device.auto_restart_advertising = False  # type: ignore[attr-defined]  # bumble: a Device attribute in older versions, unused by 0.0.236
        await self.device.stop_advertising()
        if self.connection is None:
            self._power("sleep")
        self.log.info("ble", "Advertising stopped")

    def _on_connection(self, connection: Connection) -> None:
        self.connection = connection
        params = self.link.params
        self.log.info("ble", f"Connected {connection.peer_address} interval {params.interval_s * 1000:.2f} ms "
                             f"phy {params.phy} dl {params.data_length}")
        self._power("connected")
        connection.on("disconnection", lambda reason: self._on_disconnection(connection, reason))
        connection.on("connection_att_mtu_update", lambda: self._on_mtu(connection))
        self.protocol.connected(glp_gatt.link_max_payload(connection.att_mtu))

    def _on_mtu(self, connection: Connection) -> None:
        self.log.info("ble", f"MTU {connection.att_mtu}")
        if connection is self.connection:
            self.protocol.set_max_payload(glp_gatt.link_max_payload(connection.att_mtu))

    def _on_disconnection(self, connection: Connection, reason: int) -> None:
        if self.smp is not None:
            self.smp.disconnected(connection)
        if self.connection is connection:
            self.connection = None
        self.log.info("ble", f"Disconnected (reason 0x{reason:02x})")
        self.protocol.disconnected()
        self._power("advertising" if self.advertising_wanted else "sleep")

    def _power(self, state: str) -> None:
        if self.power is not None:
            self.power.enter(state)

    async def reboot(self, reset_reason: str = "SOFTWARE", delay_s: float = 0.2) -> None:
        """Graceful reboot: terminate the link (power off), restart, banner with the reset reason."""
        self.log.info("main", "Rebooting...")
        await self._shutdown(graceful=True)
        self._schedule_boot(reset_reason, delay_s)

    async def crash(self, reason: str = "MPU FAULT", reset_reason: str = "CPU_LOCKUP",
                    watchdog_s: float | None = None) -> None:
        """Fatal error: dump, fall silent on the air (the phone sees a supervision timeout), reset."""
        self.log.fatal(reason)
        self.link.jam(True)
        self.device.auto_restart_advertising = False  # type: ignore[attr-defined]  # bumble: a Device attribute in older versions, unused by 0.0.236
        timeout_s = self.link.params.supervision_timeout_s
        if self.connection is not None:  # the phone may have asked for another timeout
            conn = self.link.connection_between(self.connection.self_address, self.connection.peer_address)
            timeout_s = conn.supervision_timeout_s if conn is not None else timeout_s
        wait_s = timeout_s + 0.1 if watchdog_s is None else watchdog_s
        await asyncio.sleep(wait_s)
        await self._shutdown(graceful=False)
        self.link.jam(False)
        self._schedule_boot(reset_reason, 0.05)

    def hang(self, duration_s: float) -> None:
        """Stop serving GATT writes and notifications for ``duration_s`` (the link stays up)."""
        self.hang_until_s = time.monotonic() + duration_s
        self.log.warning("main", f"main thread blocked for {duration_s:.1f} s")

    @property
    def hung(self) -> bool:
        return time.monotonic() < self.hang_until_s

    async def _shutdown(self, graceful: bool) -> None:
        self.device.auto_restart_advertising = False  # type: ignore[attr-defined]  # bumble: a Device attribute in older versions, unused by 0.0.236
        try:
            await self.device.stop_advertising()
        except Exception:  # noqa: BLE001 - advertising may already be off
            pass
        connection = self.connection
        if connection is not None:
            if graceful:
                try:
                    await asyncio.wait_for(connection.disconnect(REMOTE_POWER_OFF), 2.0)
                except Exception:  # noqa: BLE001 - the link may already be gone
                    pass
            else:
                self.link.drop_all(self.controller, REMOTE_POWER_OFF)
        self.connection = None
        if self.smp is not None:
            self.smp.enabled = False  # off until the next boot
        self._power("off")

    def _schedule_boot(self, reset_reason: str, delay_s: float) -> None:
        async def later() -> None:
            await asyncio.sleep(delay_s)
            await self.boot(reset_reason)
        self._boot_task = asyncio.ensure_future(later())

    async def close(self) -> None:
        if self.smp is not None:
            self.smp.close()
        for task in (self._battery_task, self._boot_task, *self._tasks):
            if task is not None:
                task.cancel()
