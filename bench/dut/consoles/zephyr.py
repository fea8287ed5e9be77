"""The Zephyr shell and log console (CONFIG_SHELL with the UART backend, CONFIG_LOG on the shell).

Formats, from zephyr's sources: subsys/logging/log_output.c prints ``[%02u:%02u:%02u.%03u,%03u] ``
then ``<err|wrn|inf|dbg> `` and ``module: `` (colours around level and message when the backend has
them); CONFIG_LOG_MODE_MINIMAL prints ``E: msg``. kernel/fatal.c logs ``>>> ZEPHYR FATAL ERROR %d: %s
on CPU %d`` after the arch's register dump (``r0/a1: ...``, ``Faulting instruction address``). The
boot banner is ``*** Booting Zephyr OS build v3.7.0 ***`` (nRF Connect SDK: ``*** Booting nRF Connect
SDK v2.6.1 ***`` then ``*** Using Zephyr OS v3.5.99 ***``). subsys/shell/shell.c answers an unknown
command with ``<cmd>: command not found``; drivers/hwinfo's shell answers ``hwinfo reset_cause`` with
``reset caused by:`` and one ``- <cause>`` line per cause. MCUboot (Zephyr-based) prints its own
``*** Booting MCUboot v2.1.0 ***`` and ``I: ...`` lines before the application's banner: one boot.
"""

from __future__ import annotations

import re
from typing import Optional

from bench.dut.consoles import ConsoleDriver, LogFields, register

LOG = re.compile(r"^\[(\d+):(\d{2}):(\d{2})\.(\d{3}),(\d{3})\] <(err|wrn|inf|dbg)> (?:([^\s:]+): )?(.*)$")
MINIMAL = re.compile(r"^([EWID]): (.*)$")
MINIMAL_LEVELS = {"E": "err", "W": "wrn", "I": "inf", "D": "dbg"}


def parse_log(text: str) -> Optional[LogFields]:
    m = LOG.match(text)
    if m is not None:
        h, mi, s, ms, us, level, module, message = m.groups()
        uptime_s = int(h) * 3600 + int(mi) * 60 + int(s) + int(ms) / 1e3 + int(us) / 1e6
        return LogFields(uptime_s, level, module, message)
    m = MINIMAL.match(text)
    if m is not None:
        return LogFields(None, MINIMAL_LEVELS[m.group(1)], None, m.group(2))
    return None


# drivers/hwinfo/hwinfo_shell.c cause_to_string()
RESET_CAUSES = (("pin", "PIN"), ("software", "SOFTWARE"), ("brownout", "BROWNOUT"),
                ("power-on reset", "POWER_ON"), ("watchdog", "WATCHDOG"), ("debug", "DEBUG"),
                ("security", "SECURITY"), ("low-power", "LOW_POWER"), ("cpu lockup", "CPU_LOCKUP"),
                ("parity error", "PARITY"), ("PLL error", "PLL"), ("clock error", "CLOCK"),
                ("hardware", "HARDWARE"), ("user", "USER"), ("temperature", "TEMPERATURE"),
                ("bootloader", "BOOTLOADER"), ("flash ECC", "FLASH_ECC"),
                ("No reset cause set", ""))

ZEPHYR = register(ConsoleDriver(
    name="zephyr",
    prompt="uart:~$ ",
    reboot_command="kernel reboot cold",
    boot_patterns=(re.compile(r"\*\*\* Booting (.+?) \*\*\*"),),
    crash_patterns=(re.compile(r">>> ZEPHYR FATAL ERROR (\d+): (.*?)(?: on CPU \d+)?$"),
                    re.compile(r"ASSERTION FAIL \[.*"),),
    reset_reason_pattern=re.compile(r"^- (.+)$|^(No reset cause set)$"),
    reset_reason_command="hwinfo reset_cause",
    reset_reason_clear_command="hwinfo reset_cause clear",
    reset_reasons=RESET_CAUSES,
    ready_patterns=(),
    bootloader_patterns=(re.compile(r"\*\*\* Booting MCUboot"),),
    context_patterns=(re.compile(r"\*\*\*\*\* .* \*\*\*\*\*|r\d+/a\d+:|Faulting instruction address|"
                                 r"Current thread:|Halting system|Resetting system"),),
    error_patterns=(re.compile(r"^(\S+): command not found$"), re.compile(r"^(\S+): wrong parameter count$")),
    probe_command="kernel uptime",
    parse_log=parse_log,
))
