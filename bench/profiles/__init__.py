"""Device profiles: one folder per device protocol, registered by name.

A profile holds both halves of a device's protocol, side by side (as bumble's profile files do): the
GATT layout and message definitions, the phone-side client, the reference-device server, the fuzz
model and its doc. The harness never switches on a profile's name: the bench file names a profile
(``dut.profile``), the DUT facade asks it for the capabilities it offers (bench/capabilities.py) and
the reference bench asks it for the device side.

Built-in profiles live in this package (``glp``, ``omi``, ``stock``). A product repo adds its own
with an entry point in the group ``glassbench.profiles`` whose value is a module (importing it
registers) or a ``DeviceProfile``.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Awaitable, Callable, Mapping

ENTRY_POINT_GROUP = "glassbench.profiles"


@dataclass(frozen=True)
class DeviceProfile:
    """What glassbench knows about one device protocol.

    ``capabilities(dut)`` returns the phone-side capabilities the profile adds to a connected DUT,
    keyed by capability name (``bench.capabilities``); it runs after GATT discovery, so it can look
    at ``dut.ble.client.services``. ``reference(bench)`` starts the device side on the reference
    bench (``bench.reference.bench.ReferenceBench``) and returns ready-line entries.
    """

    name: str
    description: str
    capabilities: Callable[[Any], dict[str, Any]]
    reference: Callable[[Any], Awaitable[dict[str, Any]]] | None = None
    advertised_service: str | None = None  # 128-bit UUID a scan can filter on
    fixtures: tuple[str, ...] = ()  # pytest plugin modules with the profile's own fixtures
    doc: str = ""  # path of its doc, relative to the repo (shown by `bench doctor`)
    seeded_bugs: Callable[[], Mapping[str, str]] | None = None  # reference device's bugs: name -> what it does
    extra: dict[str, Any] = field(default_factory=dict)


PROFILES: dict[str, DeviceProfile] = {}
_loaded = False


def register_profile(profile: DeviceProfile) -> DeviceProfile:
    """Add a profile (built-in or from a product repo). The name is what bench files use."""
    PROFILES[profile.name] = profile
    return profile


def load_profiles() -> dict[str, DeviceProfile]:
    """Import the built-in profiles and every ``glassbench.profiles`` entry point (once)."""
    global _loaded
    if not _loaded:
        _loaded = True
        for info in pkgutil.iter_modules(__path__):  # every sub-package here is a built-in profile
            if info.ispkg:
                importlib.import_module(f"{__name__}.{info.name}")
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            obj = ep.load()
            if isinstance(obj, DeviceProfile):
                register_profile(obj)
    return PROFILES


def get_profile(name: str) -> DeviceProfile:
    """The profile registered as ``name``; an unknown name lists the known ones."""
    profiles = load_profiles()
    try:
        return profiles[name]
    except KeyError:
        raise KeyError(f"unknown device profile {name!r}; known: {', '.join(sorted(profiles))} "
                       f"(a product repo registers its own with a {ENTRY_POINT_GROUP!r} entry point)") from None
