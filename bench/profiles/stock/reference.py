"""The stock profile's device side on the reference bench: the stock device and Zephyr's kernel shell.

No glassbench features (no power model, rig, GLP serial or seeded bugs): only what stock Zephyr
firmware brings, so the harness's behaviour against a freshly flashed board can be seen here.
"""

from __future__ import annotations

from typing import Any

from bench.profiles.stock.device import ZEPHYR_VERSION, StockDevice, options
from bench.reference import system_commands
from bench.reference.shell import Shell


async def start(bench: Any) -> dict[str, Any]:
    bench.glasses = StockDevice(bench.profile, bench.link, bench.shell.log, **options(bench.options.settings))
    register(bench.shell, bench.glasses)
    return {}


def register(shell: Shell, device: StockDevice) -> None:
    """Zephyr's ``kernel`` and ``hwinfo`` shell commands (CONFIG_KERNEL_SHELL, CONFIG_HWINFO_SHELL)."""
    system_commands.register(shell, device.reboot, ZEPHYR_VERSION)
