"""The "acme" device profile: ACME G1 glasses speak the standard Battery Service (0x180F) and nothing else
glassbench needs to know about. Importing this module registers the profile (entry point
``glassbench.profiles``); ``capabilities(dut)`` gives suites a ``battery`` capability
(bench.capabilities.Battery) over the DUT's BLE link.
"""

from __future__ import annotations

from typing import Any

from bench.profiles import DeviceProfile, register_profile

BATTERY_SERVICE = "0000180f-0000-1000-8000-00805f9b34fb"
BATTERY_LEVEL = "00002a19-0000-1000-8000-00805f9b34fb"


class AcmeBattery:
    """Battery Level (0x2A19): read, subscribe, next notification."""

    name = "battery"

    def __init__(self, dut: Any) -> None:
        self.dut = dut

    def level_pct(self) -> int:
        value = self.dut.read(BATTERY_LEVEL)
        if len(value) != 1 or value[0] > 100:
            raise AssertionError(f"Battery Level must be one byte 0..100, got {value.hex()}")
        return value[0]

    def subscribe(self) -> None:
        self.dut.subscribe(BATTERY_LEVEL)

    def next_level(self, timeout_s: float) -> tuple[float, int]:
        n = self.dut.notification(BATTERY_LEVEL, timeout_s)
        return n.host_time_s, n.data[0]


PROFILE = register_profile(DeviceProfile(
    name="acme",
    description="ACME G1 glasses: standard Battery Service",
    capabilities=lambda dut: {"battery": AcmeBattery(dut)},
    advertised_service=BATTERY_SERVICE,
    doc="README of acme-glasses-bench",
))
