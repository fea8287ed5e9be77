"""Stock Zephyr: a device that runs only stock Zephyr pieces (DIS, BAS, SMP, the kernel shell).

No device protocol of its own: every capability comes from the SIG services and the console
(bench/dut/sig.py), OTA from SMP (bench/dut/smp.py). The reference device (device.py, smp_server.py,
reference.py) is what a hardware engineer sees on day one with stock firmware. Doc: docs/profiles.md.
"""

from __future__ import annotations

from typing import Any

from bench.profiles import DeviceProfile, register_profile


def _capabilities(_dut: Any) -> dict[str, Any]:
    return {}  # everything a stock device offers is found by bench.dut.sig.discover


async def _reference(bench: Any) -> dict[str, Any]:
    from bench.profiles.stock.reference import start

    return await start(bench)


PROFILE = register_profile(DeviceProfile(
    name="stock",
    description="stock Zephyr: Device Information, Battery, SMP (mcumgr) and the kernel shell, nothing else",
    capabilities=_capabilities,
    reference=_reference,
    doc="docs/profiles.md",
))
