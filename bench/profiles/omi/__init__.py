"""The Omi profile: BasedHardware's open-source wearables (Omi pendant, nRF; omiGlass, ESP32-S3).

Both halves live here: GATT layout and wire formats (gatt.py, shared), the phone side
(capabilities.py: audio uplink, photo, power-state control, fuzz) and the reference device
(device.py, reference.py), plus the GATT-write fuzzer (fuzz.py). The doc is docs/profiles.md.
"""

from __future__ import annotations

from typing import Any

from bench.profiles import DeviceProfile, register_profile


def _capabilities(dut: Any) -> dict[str, Any]:
    from bench.profiles.omi.capabilities import attach

    return attach(dut)


async def _reference(bench: Any) -> dict[str, Any]:
    from bench.profiles.omi.reference import start

    return await start(bench)


def _bugs() -> dict[str, str]:
    from bench.profiles.omi.device import BUGS

    return dict(BUGS)


PROFILE = register_profile(DeviceProfile(
    name="omi",
    description="Omi / omiGlass (BasedHardware): audio service 19B10000, Opus uplink, omiGlass photo",
    capabilities=_capabilities,
    reference=_reference,
    advertised_service="19b10000-e8f2-537e-4f6c-d104768a1214",
    doc="docs/profiles.md",
    seeded_bugs=_bugs,
))
