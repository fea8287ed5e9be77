"""The ESP-IDF console: ROM boot lines, ``esp_log`` lines, the panic handler and the esp_console REPL.

Formats, from espressif/esp-idf: the ROM prints ``rst:0xc (RTC_SW_CPU_RST),boot:0x8
(SPI_FAST_FLASH_BOOT)`` after every reset (the reset reason is on that line); components/log's
LOG_FORMAT is ``<colour><letter> (<ms>) <tag>: <msg><reset colour>`` (colours ``ESC[0;31m`` E,
``ESC[0;33m`` W, ``ESC[0;32m`` I, none for D/V); esp_system's panic handler prints ``Guru Meditation
Error: Core  0 panic'ed (<reason>). Exception was unhandled.``, ``abort() was called at PC 0x... on
core 0``, ``Backtrace: 0x...:0x...`` and ``Rebooting...``; app_init logs ``App version:      <v>``.
esp_console's REPL prompts ``<target>> `` and answers an unknown command with ``Unrecognized command``.
"""

from __future__ import annotations

import re
from typing import Optional

from bench.dut.consoles import ConsoleDriver, LogFields, register

LOG = re.compile(r"^([EWIDV]) \((?:(\d+)|(\d{2}):(\d{2}):(\d{2})\.(\d{3}))\) ([^:]+?): ?(.*)$")
LEVELS = {"E": "err", "W": "wrn", "I": "inf", "D": "dbg", "V": "dbg"}


def parse_log(text: str) -> Optional[LogFields]:
    m = LOG.match(text)
    if m is None:
        return None
    letter, ms, h, mi, s, frac, tag, message = m.groups()
    uptime_s = int(ms) / 1e3 if ms is not None else int(h) * 3600 + int(mi) * 60 + int(s) + int(frac) / 1e3
    return LogFields(uptime_s, LEVELS[letter], tag, message)


# ESP32-S3 ROM reset reasons (components/soc/esp32s3/include/soc/reset_reasons.h, ROM spelling)
RESET_REASONS = (("POWERON", "POWER_ON"), ("RTC_SW_SYS_RST", "SOFTWARE"), ("RTC_SW_CPU_RST", "SOFTWARE"),
                 ("DEEPSLEEP_RST", "DEEP_SLEEP"), ("TG0WDT_SYS_RST", "WATCHDOG"), ("TG1WDT_SYS_RST", "WATCHDOG"),
                 ("RTCWDT_SYS_RST", "WATCHDOG"), ("TG0WDT_CPU_RST", "WATCHDOG"), ("TG1WDT_CPU_RST", "WATCHDOG"),
                 ("RTCWDT_CPU_RST", "WATCHDOG"), ("RTCWDT_RTC_RST", "WATCHDOG"), ("SUPER_WDT_RST", "WATCHDOG"),
                 ("RTCWDT_BROWN_OUT_RST", "BROWNOUT"), ("INTRUSION_RST", "SECURITY"), ("GLITCH_RTC_RST", "GLITCH"),
                 ("EFUSE_RST", "EFUSE"), ("USB_UART_CHIP_RESET", "PIN"), ("USB_JTAG_CHIP_RESET", "PIN"),
                 ("POWER_GLITCH_RESET", "GLITCH"))

ESP_IDF = register(ConsoleDriver(
    name="esp-idf",
    prompt="esp32s3> ",
    reboot_command="restart",
    boot_patterns=(re.compile(r"^rst:0x[0-9a-f]+ \((\w+)\),boot:0x[0-9a-f]+"),),
    crash_patterns=(re.compile(r"Guru Meditation Error: (Core +\d+ panic'ed \(.*?\))"),
                    re.compile(r"(abort\(\) was called at PC 0x[0-9a-f]+(?: on core \d+)?)"),
                    re.compile(r"\*\*\*ERROR\*\*\* (A stack overflow in task .*)"),
                    re.compile(r"^(assert failed: .*)"),
                    re.compile(r"(Task watchdog got triggered.*)")),
    reset_reason_pattern=re.compile(r"^rst:0x[0-9a-f]+ \((\w+)\)"),
    reset_reasons=RESET_REASONS,
    ready_patterns=(re.compile(r"main_task: Returned from app_main\(\)|main_task: Calling app_main\(\)"),),
    version_pattern=re.compile(r"app_init: App version: +(\S+)|cpu_start: App version: +(\S+)"),
    context_patterns=(re.compile(r"^Backtrace: |^Core +\d+ register dump|^PC +: |^ELF file SHA256|^Rebooting"),),
    error_patterns=(re.compile(r"^(Unrecognized command)$"), re.compile(r"^Command returned non-zero error code: (.*)$")),
    probe_command="free",
    parse_log=parse_log,
))
