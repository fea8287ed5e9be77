"""Console drivers: what one RTOS's console prints and answers, registered by name.

A driver knows the shell prompt, the reboot command, how a boot starts (Zephyr's ``*** Booting ...
***`` banner, the ESP32 ROM's ``rst:0xc (RTC_SW_CPU_RST),boot:...`` line), where the reset reason is
(on the boot line, or the answer of ``hwinfo reset_cause``), what a crash looks like (``>>> ZEPHYR
FATAL ERROR``, ``Guru Meditation Error``), how log lines read and how the shell says a command failed.
``zephyr`` and ``esp-idf`` are built in (bench/dut/consoles/zephyr.py, esp_idf.py); a bench file may
override any field or describe its own (``driver: custom``); a product repo registers more with
``register``. Patterns are matched against rendered lines (bench/dut/ansi.py: colours removed).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Callable, Iterable, Optional

Pattern = re.Pattern[str]


@dataclasses.dataclass(frozen=True)
class LogFields:
    uptime_s: Optional[float]
    level: Optional[str]  # err | wrn | inf | dbg (Zephyr's names; other RTOSes map to them)
    module: Optional[str]
    message: str


@dataclasses.dataclass(frozen=True)
class ConsoleDriver:
    """One console dialect. Every pattern is searched in one rendered line."""

    name: str
    prompt: str
    reboot_command: str
    boot_patterns: tuple[Pattern, ...]
    crash_patterns: tuple[Pattern, ...] = ()
    reset_reason_pattern: Optional[Pattern] = None  # group 1: the reason, on a boot line or a command answer
    reset_reason_command: Optional[str] = None  # asked after a boot when no boot line named the reason
    reset_reason_clear_command: Optional[str] = None  # run after reading it (nRF RESETREAS accumulates)
    reset_reasons: tuple[tuple[str, str], ...] = ()  # raw → normalised (SOFTWARE, POWER_ON, WATCHDOG, ...)
    ready_patterns: tuple[Pattern, ...] = ()  # the boot is complete (besides the prompt)
    bootloader_patterns: tuple[Pattern, ...] = ()  # a boot line of a boot loader: the next boot line is the same boot
    version_pattern: Optional[Pattern] = None  # group 1: the firmware version, in the boot lines
    context_patterns: tuple[Pattern, ...] = ()  # lines worth quoting with a crash (backtrace, registers)
    error_patterns: tuple[Pattern, ...] = ()  # a shell answer that means the command failed
    probe_command: Optional[str] = None  # a harmless command the health check runs
    parse_log: Optional[Callable[[str], Optional[LogFields]]] = None

    def log_fields(self, text: str) -> Optional[LogFields]:
        return self.parse_log(text) if self.parse_log is not None else None

    def normalise_reset_reason(self, raw: str) -> str:
        """SOFTWARE, POWER_ON, WATCHDOG, ... for the known raw names; the raw name upper-cased otherwise."""
        table = dict(self.reset_reasons)
        parts = [table.get(p.strip(), p.strip().upper().replace(" ", "_")) for p in raw.split(",") if p.strip()]
        return ",".join(dict.fromkeys(parts))

    def crash(self, text: str) -> Optional[re.Match[str]]:
        return _first(self.crash_patterns, text)

    def boot(self, text: str) -> Optional[re.Match[str]]:
        return _first(self.boot_patterns, text)

    def boot_starts(self, texts: list[str]) -> list[int]:
        """Indices of the lines that start a boot; an application banner right after a boot loader's
        (MCUboot's ``*** Booting MCUboot ***``, within BOOTLOADER_LINES) belongs to the same boot."""
        starts: list[int] = []
        loader_at: Optional[int] = None
        for i, text in enumerate(texts):
            if not self.boot(text):
                continue
            if loader_at is None or i - loader_at > BOOTLOADER_LINES:
                starts.append(i)
            loader_at = i if _first(self.bootloader_patterns, text) else None
        return starts

    def shell_error(self, text: str) -> Optional[re.Match[str]]:
        return _first(self.error_patterns, text)


def _first(patterns: Iterable[Pattern], text: str) -> Optional[re.Match[str]]:
    for p in patterns:
        m = p.search(text)
        if m is not None:
            return m
    return None


BOOTLOADER_LINES = 60
DRIVERS: dict[str, ConsoleDriver] = {}
CUSTOM = "custom"


def register(driver: ConsoleDriver) -> ConsoleDriver:
    """Add a console driver under its name (a product repo's own RTOS or shell)."""
    DRIVERS[driver.name] = driver
    return driver


def names() -> list[str]:
    return sorted([*DRIVERS, CUSTOM])


def get(name: str) -> ConsoleDriver:
    if name not in DRIVERS:
        raise KeyError(f"unknown console driver {name!r}; known: {', '.join(names())}")
    return DRIVERS[name]


def compile_pattern(pattern: str, field: str) -> Pattern:
    """A regex from a bench file; a bad one raises ValueError naming the field."""
    try:
        return re.compile(pattern)
    except re.error as e:
        raise ValueError(f"{field}: not a valid regular expression ({e}): {pattern!r}") from None


def build(name: str, *, prompt: Optional[str] = None, reboot_command: Optional[str] = None,
          boot_patterns: Iterable[str] = (), crash_patterns: Iterable[str] = (),
          reset_reason_pattern: Optional[str] = None, reset_reason_command: Optional[str] = None) -> ConsoleDriver:
    """The driver ``name`` with the bench file's overrides; ``custom`` is built from them alone."""
    overrides: dict[str, object] = {}
    if prompt is not None:
        overrides["prompt"] = prompt
    if reboot_command is not None:
        overrides["reboot_command"] = reboot_command
    if boot_patterns:
        overrides["boot_patterns"] = tuple(compile_pattern(p, "boot_patterns") for p in boot_patterns)
    if crash_patterns:
        overrides["crash_patterns"] = tuple(compile_pattern(p, "crash_patterns") for p in crash_patterns)
    if reset_reason_pattern is not None:
        overrides["reset_reason_pattern"] = compile_pattern(reset_reason_pattern, "reset_reason_pattern")
    if reset_reason_command is not None:
        overrides["reset_reason_command"] = reset_reason_command
    if name == CUSTOM:
        missing = [f for f in ("prompt", "reboot_command", "boot_patterns") if f not in overrides]
        if missing:
            raise ValueError(f"console driver 'custom' needs {', '.join(missing)}")
        return ConsoleDriver(name=CUSTOM, **overrides)  # type: ignore[arg-type]
    return dataclasses.replace(get(name), **overrides)  # type: ignore[arg-type]


from bench.dut.consoles import esp_idf, zephyr  # noqa: E402,F401  - the built-in drivers register themselves
