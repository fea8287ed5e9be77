"""The reference glasses' shell commands (what a Zephyr app registers with SHELL_CMD)."""

from __future__ import annotations

import asyncio
import time

from bench.reference import system_commands
from bench.reference.glasses import ReferenceGlasses
from bench.reference.shell import Shell, UsageError


def register(shell: Shell, glasses: ReferenceGlasses) -> None:
    """Register the glasses' commands, and the RTOS's own (``kernel reboot cold`` / ``restart``), on ``shell``."""
    p = glasses.profile
    system_commands.register(shell, lambda: glasses.reboot("SOFTWARE"))

    @shell.command("version", "firmware version, board and SKU")
    def version(_args: list[str]) -> str:
        return (f"Glasses firmware v{p.firmware_version} board={p.board.name} sku={p.sku.name} "
                f"serial={p.serial_number} hw={p.board.hardware_revision}")

    @shell.command("status", "connection, link parameters and battery")
    def status(_args: list[str]) -> str:
        c = glasses.connection
        lp = glasses.link.params
        state = "connected" if c is not None else ("advertising" if glasses.advertising_wanted else "idle")
        lines = [f"state: {state}", f"name: {p.device_name}", f"address: {glasses.device.random_address}",
                 f"reset_reason: {glasses.reset_reason}", f"boot_count: {glasses.boot_count}",
                 f"battery: {glasses.battery_level_pct}%"]
        if c is not None:
            lines += [f"peer: {c.peer_address}", f"interval_ms: {lp.interval_s * 1000:.2f}",
                      f"phy: {lp.phy}", f"data_length: {lp.data_length}", f"mtu: {c.att_mtu}"]
        return "\n".join(lines)

    @shell.command("battery", "battery level and voltage")
    def battery(_args: list[str]) -> str:
        return f"Battery: {glasses.battery_level_pct}% {glasses.battery_voltage_v * 1000:.0f} mV discharging"

    @shell.command("reboot", "reboot (reset reason SOFTWARE)")
    async def reboot(_args: list[str]) -> None:
        asyncio.ensure_future(glasses.reboot("SOFTWARE"))

    @shell.command("ble adv", "ble adv on|off")
    async def adv(args: list[str]) -> str:
        if args == ["on"]:
            await glasses.start_advertising()
            return "advertising on"
        if args == ["off"]:
            await glasses.stop_advertising()
            return "advertising off"
        raise UsageError("ble adv on|off")

    @shell.command("log level", "log level off|err|wrn|inf|dbg")
    def log_level(args: list[str]) -> str:
        if len(args) != 1:
            raise UsageError("log level off|err|wrn|inf|dbg")
        shell.set_log_level(args[0])
        return f"log level {args[0]}"

    @shell.command("fault", "fault crash|reboot <reason>|hang <s>|garbage|linkloss <s>|per <p>|stall <s> (test "
                            "faults; reboot = an unrequested reset with that reason; hang = firmware lockup: GATT and "
                            "console silent until the time is up or a power-cycle; stall = the bench host starves this "
                            "process: its whole event loop stops)")
    async def fault(args: list[str]) -> str:
        match args:
            case ["crash"]:
                asyncio.ensure_future(glasses.crash())
                return ""
            case ["reboot", reason]:  # an unrequested reset: WATCHDOG, BROWNOUT, PIN, SOFTWARE
                asyncio.ensure_future(glasses.reboot(reason.upper(), delay_s=0.05))
                return ""
            case ["hang", seconds]:
                glasses.hang(float(seconds))
                shell.stall(float(seconds))
                return ""
            case ["garbage"]:
                shell.log.garbage()
                return "garbage sent"
            case ["linkloss", seconds]:
                glasses.link.jam(True)
                asyncio.get_running_loop().call_later(float(seconds), glasses.link.jam, False)
                return f"radio jammed for {seconds} s"
            case ["per", value]:
                glasses.link.params.per = float(value)
                return f"packet error rate {float(value):.3f}"
            case ["stall", seconds]:
                asyncio.get_running_loop().call_later(0.05, time.sleep, min(float(seconds), 30.0))  # the answer first
                return f"event loop will stall for {float(seconds):g} s"
        raise UsageError("fault crash|reboot <reason>|hang <s>|garbage|linkloss <s>|per <p>|stall <s>")
