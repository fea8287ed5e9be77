"""The stock profile's device side on the reference bench: the stock device and Zephyr's kernel shell.

No glassbench features (no power model, rig, GLP serial or seeded bugs): only what stock Zephyr
firmware brings, so the harness's behaviour against a freshly flashed board can be seen here.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bench.profiles.stock.device import ZEPHYR_VERSION, StockDevice, options
from bench.reference.shell import Shell, UsageError


async def start(bench: Any) -> dict[str, Any]:
    bench.glasses = StockDevice(bench.profile, bench.link, bench.shell.log, **options(bench.options.settings))
    register(bench.shell, bench.glasses)
    return {}


def register(shell: Shell, device: StockDevice) -> None:
    """Zephyr's ``kernel`` shell commands (CONFIG_KERNEL_SHELL)."""

    @shell.command("kernel version", "Kernel version.")
    def version(_args: list[str]) -> str:
        return f"Zephyr version {ZEPHYR_VERSION}"

    @shell.command("kernel uptime", "Kernel uptime.")
    def uptime(_args: list[str]) -> str:
        return f"Uptime: {int(shell.log.uptime_s * 1000)} ms"

    @shell.command("kernel reboot", "Reboot: cold | warm")
    def reboot(args: list[str]) -> None:
        if args not in (["cold"], ["warm"]):
            raise UsageError("kernel reboot cold|warm")
        asyncio.ensure_future(device.reboot())
