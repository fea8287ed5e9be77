"""Capabilities every DUT may have whatever its protocol: the Bluetooth SIG services and the console.

Found, not configured: Device Information (0x180A) gives ``identity`` with whichever strings the
firmware exposes (stock Zephyr leaves out the firmware revision unless CONFIG_BT_DIS_FW_REV is set);
Battery (0x180F) gives ``battery``; the link-test service (nRF Connect SDK throughput-sample style
echo) gives ``link_test``; SMP (mcumgr, bench/dut/smp.py) gives ``ota``; a console gives ``shell`` and ``reboot`` (the console driver's reboot
command: ``kernel reboot cold`` on Zephyr, ``restart`` on ESP-IDF, unless the bench file names another).
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import TYPE_CHECKING, Any

from bench.capabilities import DeviceIdentity
from bench.dut.smp import SMP_CHARACTERISTIC, SmpOta

if TYPE_CHECKING:
    from bench.dut.console import BootInfo
    from bench.dut.glasses import Dut


def sig_uuid(short: int) -> str:
    """A Bluetooth SIG 16-bit UUID as bleak's 128-bit string."""
    return f"0000{short:04x}-0000-1000-8000-00805f9b34fb"


DIS_SERVICE = sig_uuid(0x180A)
DIS = {
    "manufacturer": sig_uuid(0x2A29), "model": sig_uuid(0x2A24), "serial": sig_uuid(0x2A25),
    "hardware_revision": sig_uuid(0x2A27), "firmware_revision": sig_uuid(0x2A26),
    "software_revision": sig_uuid(0x2A28),
}
BATTERY_SERVICE = sig_uuid(0x180F)
BATTERY_LEVEL = sig_uuid(0x2A19)
LINK_TEST_ECHO = "7f1a1001-6c3b-4e0a-9d6c-3f5b8a2e4c10"
LINK_TEST_STREAM = "7f1a1002-6c3b-4e0a-9d6c-3f5b8a2e4c10"


class DisIdentity:
    """``identity`` from the Device Information Service: the characteristics that exist are read."""

    def __init__(self, dut: "Dut") -> None:
        self.dut = dut
        self.present = [key for key, uuid in DIS.items() if dut.has_characteristic(uuid)]

    def identity(self) -> DeviceIdentity:
        values: dict[str, Any] = {key: self.dut.read(DIS[key]).decode("utf-8", "replace") for key in self.present}
        self.dut.info = values
        return DeviceIdentity(**values)


class BasBattery:
    """``battery`` from the Battery Service; ``notify_interval_s`` None = the device notifies on change."""

    def __init__(self, dut: "Dut", notify_interval_s: float | None = None) -> None:
        self.dut = dut
        self.notify_interval_s = notify_interval_s

    def level_pct(self) -> int:
        return self.dut.read(BATTERY_LEVEL)[0]

    def subscribe(self) -> None:
        self.dut.subscribe(BATTERY_LEVEL)

    def next_level(self, timeout_s: float) -> tuple[float, int]:
        n = self.dut.notification(BATTERY_LEVEL, timeout_s)
        if len(n.data) != 1:
            from bench.errors import ProtocolViolation

            raise ProtocolViolation(f"Battery Level notification: expected 1 byte, got {n.data.hex()}")
        return n.host_time_s, n.data[0]


class ConsoleShell:
    def __init__(self, dut: "Dut") -> None:
        self.dut = dut

    def command(self, line: str, timeout_s: float | None = None) -> str:
        return self.dut.require_console().command(line, timeout_s or self.dut.timeout_s)


class ConsoleReboot:
    """Reboot from the console and wait for the boot banner (does not reconnect BLE)."""

    def __init__(self, dut: "Dut", command: str) -> None:
        self.dut = dut
        self.command = command

    def reboot(self) -> "BootInfo":
        dut = self.dut
        console = dut.require_console()
        dut.allow_reboot = True
        mark = console.mark()
        console.link.write(self.command.encode() + b"\r")
        dut.last_boot = console.wait_for_boot(dut.boot_timeout_s, since=mark)
        return dut.last_boot


class LinkTestPing:
    """``link_test``: round trips (s) of write without response → notification on the echo characteristic."""

    def __init__(self, dut: "Dut") -> None:
        self.dut = dut

    def ping(self, count: int = 20, size: int = 20, timeout_s: float = 2.0) -> list[float]:
        return self.dut.run(_ping(self.dut.ble, count, size, timeout_s), timeout_s * count + 5, "ping")


async def _ping(ble: Any, count: int, size: int, timeout_s: float) -> list[float]:
    queue = await ble.subscribe(LINK_TEST_ECHO)
    queue.drain()
    rtts = []
    for i in range(count):
        payload = i.to_bytes(4, "little") + bytes(max(0, size - 4))
        t0 = time.monotonic()
        await ble.write(LINK_TEST_ECHO, payload, response=False)
        while True:
            n = await queue.get(timeout_s)
            if n.data == payload:
                rtts.append(n.host_time_s - t0)
                break
        # back-to-back pings would lock to the connection events; a random gap samples every phase
        await asyncio.sleep(random.uniform(0.0, 0.015))
    return rtts


def discover(dut: "Dut") -> dict[str, Any]:
    """The SIG and console capabilities of a connected DUT."""
    caps: dict[str, Any] = {}
    if any(dut.has_characteristic(uuid) for uuid in DIS.values()):
        caps["identity"] = DisIdentity(dut)
    if dut.has_characteristic(BATTERY_LEVEL):
        caps["battery"] = BasBattery(dut)
    if dut.has_characteristic(LINK_TEST_ECHO):
        caps["link_test"] = LinkTestPing(dut)
    if dut.has_characteristic(SMP_CHARACTERISTIC):
        caps["ota"] = SmpOta(dut)
    if dut.console is not None:
        caps["shell"] = ConsoleShell(dut)
        caps["reboot"] = ConsoleReboot(dut, dut.reboot_command)
    return caps
