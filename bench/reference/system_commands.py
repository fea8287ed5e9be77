"""The RTOS's own shell commands on the reference devices, per console format.

Zephyr (CONFIG_KERNEL_SHELL, CONFIG_HWINFO_SHELL): ``kernel uptime``, ``kernel version``,
``kernel reboot cold|warm``, ``hwinfo reset_cause [clear]``. ESP-IDF (the console example's
system_common commands): ``restart``, ``free``.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable

from bench.reference.shell import Shell, UsageError


def register(shell: Shell, reboot: Callable[[], Any], kernel_version: str = "3.5.99") -> None:
    """Register the system commands of ``shell``'s RTOS; ``reboot()`` returns a coroutine or None."""
    log = shell.log

    def do_reboot() -> None:
        out = reboot()
        if asyncio.iscoroutine(out):
            asyncio.ensure_future(out)

    if shell.format.name == "esp-idf":
        @shell.command("restart", "Software reset of the chip")
        def restart(_args: list[str]) -> None:
            log.info("cmd_system_common", "Restarting")
            do_reboot()

        @shell.command("free", "Get the current size of free heap memory")
        def free(_args: list[str]) -> str:
            return "254032"
        return

    @shell.command("kernel uptime", "Kernel uptime.")
    def uptime(_args: list[str]) -> str:
        return f"Uptime: {int(log.uptime_s * 1000)} ms"

    @shell.command("kernel version", "Kernel version.")
    def version(_args: list[str]) -> str:
        return f"Zephyr version {kernel_version}"

    @shell.command("kernel reboot", "Reboot: cold | warm")
    def kernel_reboot(args: list[str]) -> None:
        if args not in (["cold"], ["warm"]):
            raise UsageError("kernel reboot cold|warm")
        do_reboot()

    @shell.command("hwinfo reset_cause", "Print the reset cause (clear: clear it)")
    def reset_cause(args: list[str]) -> str:
        if args == ["clear"]:
            log.reset_cause = None
            return ""
        if args:
            raise UsageError("hwinfo reset_cause [clear]")
        return shell.format.reset_cause(log.reset_cause)
