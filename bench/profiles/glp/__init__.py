"""The Glasses Link Protocol (GLP): glassbench's own phone–glasses protocol, the first device profile.

Both halves live here: frames, messages and GATT layout (shared), the phone side (session.py,
client.py, audio.py, capabilities.py) and the reference glasses' side (device.py, handlers.py,
device_serial.py), plus the fuzz model (fuzz_*.py). The spec is docs/protocol.md.
"""

from __future__ import annotations

from typing import Any

from bench.profiles import DeviceProfile, register_profile


def _capabilities(dut: Any) -> dict[str, Any]:
    from bench.profiles.glp.capabilities import attach

    return attach(dut)


async def _reference(bench: Any) -> dict[str, Any]:
    from bench.profiles.glp.reference import start

    return await start(bench)


def _bugs() -> dict[str, str]:
    from bench.reference.bugs import BUGS

    return {name: bug.description for name, bug in BUGS.items()}


PROFILE = register_profile(DeviceProfile(
    name="glp",
    description="Glasses Link Protocol: glassbench's reference glasses protocol (requests, events, audio, photos)",
    capabilities=_capabilities,
    reference=_reference,
    advertised_service=None,  # bench.profiles.glp.gatt.SERVICE_UUID (not imported here: keep this module light)
    fixtures=("bench.profiles.glp.fixtures",),
    doc="docs/protocol.md",
    seeded_bugs=_bugs,
))
