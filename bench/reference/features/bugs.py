"""Seeded bugs (``bench reference --bug NAME``) installed into the reference glasses' BLE protocol."""

from __future__ import annotations

from typing import Any

from bench.reference import bugs
from bench.reference.features import feature


@feature("bugs")
async def start(bench: Any) -> dict[str, Any]:
    names = list(bench.options.bugs)
    bench.ble_bugs = bugs.install(bench.glasses.protocol, names, bench.glasses)
    if names:
        bench.shell.log.warning("main", f"seeded bugs enabled: {', '.join(names)}")
    return {"bugs": names} if names else {}
