"""What the reference glasses print on their UART: log lines, boot output, fatal dumps, in the real
format of the board's RTOS (bench/reference/console_formats.py: Zephyr or ESP-IDF).

Log lines are stamped with the uptime since the last boot. Output goes to a writer (the shell, which
erases and redraws its prompt around them where the RTOS does); nothing blocks when nobody listens.
"""

from __future__ import annotations

import random
import time
from typing import Any, Callable

from bench.reference.console_formats import EspIdfFormat, ZephyrFormat, uptime_stamp

LEVELS = {"off": 0, "err": 1, "wrn": 2, "inf": 3, "dbg": 4}
__all__ = ["LEVELS", "ConsoleLog", "uptime_stamp"]


class ConsoleLog:
    """The firmware's log output, with the uptime clock that restarts at every boot."""

    def __init__(self, write: Callable[[bytes], None] | None = None,
                 fmt: ZephyrFormat | EspIdfFormat | None = None) -> None:
        self.write = write or (lambda _b: None)
        self.format = fmt or ZephyrFormat()
        self.boot_time_s = time.monotonic()
        self.level = LEVELS["inf"]
        self.history: list[str] = []
        self.reset_cause: str | None = None  # what ``hwinfo reset_cause`` reports until cleared
        self.on_reset: Callable[[], None] = lambda: None  # the shell: the screen starts afresh (no prompt)
        self.on_ready: Callable[[], None] = lambda: None  # the shell: it is up, prompt shown

    @property
    def uptime_s(self) -> float:
        return time.monotonic() - self.boot_time_s

    def line(self, text: str) -> None:
        self.history.append(text)
        del self.history[:-2000]
        self.write((text + "\r\n").encode())

    def log(self, level: str, module: str, message: str) -> None:
        if LEVELS[level] <= self.level:
            self.line(self.format.log_line(self.uptime_s, level, module, message))

    def info(self, module: str, message: str) -> None:
        self.log("inf", module, message)

    def warning(self, module: str, message: str) -> None:
        self.log("wrn", module, message)

    def error(self, module: str, message: str) -> None:
        self.log("err", module, message)

    def debug(self, module: str, message: str) -> None:
        self.log("dbg", module, message)

    def boot(self, profile: Any, reset_reason: str, app_version_line: bool = True, banner: str | None = None,
             before: list[str] | None = None) -> None:
        """The RTOS's boot output (``before``: a boot loader's lines; then the banner or ROM lines, ``banner``
        replacing a Zephyr board's), the shell coming up, and for glassbench firmware its version log line."""
        self.reset_cause = reset_reason
        self.on_reset()
        for text in before or []:
            self.line(text)
        self.boot_time_s = time.monotonic()  # the uptime clock (kernel uptime, log stamps) restarts
        lines = [banner] if banner and self.format.name == "zephyr" else self.format.boot_lines(profile, reset_reason)
        for text in lines:
            self.line(text)
        self.on_ready()
        if app_version_line:
            self.info("main", f"Glasses firmware v{profile.firmware_version} board={profile.board.name} "
                              f"sku={profile.sku.name} serial={profile.serial_number}")

    def fatal(self, reason: str, thread: str = "glp_rx") -> None:
        for kind, text in self.format.fatal(reason, thread):
            if kind == "raw":
                self.line(text)
            else:
                self.log("err", "os", text)

    def garbage(self, n: int = 48, seed: int | None = None) -> None:
        """Line noise, as a UART gives when baud rates disagree or a board browns out."""
        rng = random.Random(seed)
        self.write(bytes(rng.randrange(256) for _ in range(n)) + b"\r\n")
