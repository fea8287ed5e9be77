"""The stock-Zephyr reference device: what a board with stock firmware offers on day one.

GATT: Device Information without firmware revision (Zephyr's DIS with CONFIG_BT_DIS_FW_REV off, the
Kconfig default strings), Battery that notifies on change only (the level drops 1 % every
``drain_s_per_pct`` seconds), and SMP (mcumgr) for OTA. Advertises ``Zephyr`` (CONFIG_BT_DEVICE_NAME's
default). The console prints Zephyr's banner and the Bluetooth host's boot lines, nothing else.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bumble import hci
from bumble.core import AdvertisingData
from bumble.device import Connection, Device
from bumble.profiles.battery_service import BatteryService
from bumble.profiles.device_information_service import DeviceInformationService

from bench.links.controller import TimedController
from bench.links.radio import TimedLink
from bench.profiles.stock.smp_server import SmpServer
from bench.reference.boards import Profile
from bench.reference.console_log import ConsoleLog

DEVICE_NAME = "Zephyr"
ZEPHYR_VERSION = "3.7.0"
BANNER = f"*** Booting Zephyr OS build v{ZEPHYR_VERSION} ***"
REMOTE_POWER_OFF = hci.HCI_ErrorCode.REMOTE_DEVICE_TERMINATED_CONNECTION_DUE_TO_POWER_OFF_ERROR


class StockDevice:
    """A Bumble device on ``link`` serving only stock Zephyr services; ``reboot()`` is a cold reset."""

    def __init__(self, profile: Profile, link: TimedLink, console: ConsoleLog,
                 address: str = "C0:98:E5:49:00:02", drain_s_per_pct: float = 10.0,
                 battery_pct: int = 100) -> None:
        self.profile = profile
        self.link = link
        self.log = console
        self.drain_s_per_pct = drain_s_per_pct
        self.battery_level_pct = battery_pct
        self.address = hci.Address(address)
        self.controller = TimedController("stock", link=link)
        self.device = Device.with_hci(DEVICE_NAME, self.address, self.controller, self.controller)
        self.device.le_enabled = True
        self.device.gatt_server.max_mtu = profile.board.mtu
        self.dis = DeviceInformationService(manufacturer_name="Manufacturer", model_number="Model",
                                            serial_number="Serial", hardware_revision="Hardware")
        self.battery = BatteryService(lambda _conn: self.battery_level_pct)
        self.smp = SmpServer(self.device, self.reboot)
        self.device.add_services([self.dis, self.battery, self.smp.service])
        self.connection: Connection | None = None
        self.boot_count = 0
        self._tasks: list[asyncio.Task] = []
        self._boot_task: asyncio.Task | None = None
        self.device.on("connection", self._on_connection)

    @property
    def device_name(self) -> str:
        return DEVICE_NAME

    # -- lifecycle --------------------------------------------------------------------------------
    async def start(self) -> None:
        await self.device.power_on()
        self.smp.start()
        self._tasks = [asyncio.ensure_future(self._drain())]
        await self.boot()

    async def boot(self, reset_reason: str = "POWER_ON") -> None:
        self.boot_count += 1
        self.log.boot(self.profile, reset_reason, app_version_line=False, banner=BANNER,
                      before=self.smp.boot())  # MCUboot first: it may swap in an uploaded image
        for module, text in _hci_boot_lines(str(self.address)):
            self.log.info(module, text)
        await self.start_advertising()

    async def start_advertising(self) -> None:
        adv = AdvertisingData([(AdvertisingData.FLAGS, bytes([0x06])),
                               (AdvertisingData.COMPLETE_LOCAL_NAME, DEVICE_NAME.encode())])
        interval_ms = self.profile.board.advertising_interval_s * 1000
        await self.device.start_advertising(auto_restart=True, advertising_data=bytes(adv),
                                            advertising_interval_min=interval_ms,
                                            advertising_interval_max=interval_ms)

    async def reboot(self) -> None:
        """Cold reset: the radio goes silent at once (the phone's link drops), then a fresh boot."""
        self.smp.enabled = False
        self.device.auto_restart_advertising = False  # type: ignore[attr-defined]  # bumble: a Device attribute in older versions, unused by 0.0.236
        try:
            await self.device.stop_advertising()
        except Exception:  # noqa: BLE001 - advertising is off while connected
            pass
        self.link.drop_all(self.controller, REMOTE_POWER_OFF)
        self.connection = None

        async def later() -> None:
            await asyncio.sleep(0.2)
            await self.boot("SOFTWARE")
        self._boot_task = asyncio.ensure_future(later())

    def _on_connection(self, connection: Connection) -> None:
        self.connection = connection
        connection.on("disconnection", lambda _reason: self._on_disconnection(connection))

    def _on_disconnection(self, connection: Connection) -> None:
        self.smp.disconnected(connection)
        if self.connection is connection:
            self.connection = None

    async def _drain(self) -> None:
        """The battery loses 1 % every ``drain_s_per_pct``; BAS notifies the change (and only then)."""
        while self.battery_level_pct > 0:
            await asyncio.sleep(self.drain_s_per_pct)
            self.battery_level_pct -= 1
            if self.connection is not None:
                try:
                    await self.device.notify_subscribers(self.battery.battery_level_characteristic)
                except Exception:  # noqa: BLE001 - the link went down
                    pass

    async def close(self) -> None:
        self.smp.close()
        for task in (self._boot_task, *self._tasks):
            if task is not None:
                task.cancel()


def _hci_boot_lines(address: str) -> list[tuple[str, str]]:
    """What Zephyr's Bluetooth host logs when ``bt_enable()`` brings the controller up."""
    return [
        ("bt_hci_core", "HW Platform: Nordic Semiconductor (0x0002)"),
        ("bt_hci_core", "HW Variant: nRF52x (0x0002)"),
        ("bt_hci_core", "Firmware: Standard Bluetooth controller (0x00) Version 3.7 Build 99"),
        ("bt_hci_core", f"Identity: {address} (random)"),
        ("bt_hci_core", "HCI: version 5.4 (0x0d) revision 0x0000, manufacturer 0x05f1"),
        ("bt_hci_core", "LMP: version 5.4 (0x0d) subver 0xffff"),
    ]


def options(settings: dict[str, str]) -> dict[str, Any]:
    """StockDevice keyword arguments from the bench's ``--set`` settings (``stock.drain_s_per_pct``)."""
    out: dict[str, Any] = {}
    if "stock.drain_s_per_pct" in settings:
        out["drain_s_per_pct"] = float(settings["stock.drain_s_per_pct"])
    return out
