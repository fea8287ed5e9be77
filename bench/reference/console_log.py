"""What the reference glasses print on their UART: Zephyr-style log lines, boot banner, fatal dumps.

Lines look like Zephyr's: ``[00:00:01.234,567] <inf> ble: Connected ...``, stamped with the uptime
since the last boot. Output goes to a writer (the pty); nothing blocks when nobody listens.
"""

from __future__ import annotations

import random
import time
from typing import Callable

LEVELS = {"off": 0, "err": 1, "wrn": 2, "inf": 3, "dbg": 4}


def uptime_stamp(uptime_s: float) -> str:
    us = int(round(uptime_s * 1e6))
    h, rem = divmod(us, 3_600_000_000)
    m, rem = divmod(rem, 60_000_000)
    s, rem = divmod(rem, 1_000_000)
    return f"[{h:02d}:{m:02d}:{s:02d}.{rem // 1000:03d},{rem % 1000:03d}]"


class ConsoleLog:
    """The firmware's log output, with the uptime clock that restarts at every boot."""

    def __init__(self, write: Callable[[bytes], None] | None = None) -> None:
        self.write = write or (lambda _b: None)
        self.boot_time_s = time.monotonic()
        self.level = LEVELS["inf"]
        self.history: list[str] = []

    @property
    def uptime_s(self) -> float:
        return time.monotonic() - self.boot_time_s

    def line(self, text: str) -> None:
        self.history.append(text)
        del self.history[:-2000]
        self.write((text + "\r\n").encode())

    def log(self, level: str, module: str, message: str) -> None:
        if LEVELS[level] <= self.level:
            self.line(f"{uptime_stamp(self.uptime_s)} <{level}> {module}: {message}")

    def info(self, module: str, message: str) -> None:
        self.log("inf", module, message)

    def warning(self, module: str, message: str) -> None:
        self.log("wrn", module, message)

    def error(self, module: str, message: str) -> None:
        self.log("err", module, message)

    def debug(self, module: str, message: str) -> None:
        self.log("dbg", module, message)

    def boot(self, profile, reset_reason: str) -> None:  # noqa: ANN001 - boards.Profile
        self.boot_time_s = time.monotonic()
        self.line(profile.board.sdk_banner)
        self.info("main", f"Glasses firmware v{profile.firmware_version} board={profile.board.name} "
                          f"sku={profile.sku.name} serial={profile.serial_number}")
        self.info("main", f"Reset reason: {reset_reason}")

    def fatal(self, reason: str, thread: str = "glp_rx") -> None:
        for text in (f"***** {reason} *****", "  Data Access Violation", "  MMFAR Address: 0x0",
                     "r0/a1:  0x00000000  r1/a2:  0x20003a10  r2/a3:  0x00000004",
                     "Faulting instruction address (r15/pc): 0x0002c5f4",
                     ">>> ZEPHYR FATAL ERROR 19: Unknown error on CPU 0",
                     f"Current thread: 0x20001c48 ({thread})", "Halting system"):
            self.log("err", "os", text)

    def garbage(self, n: int = 48, seed: int | None = None) -> None:
        """Line noise, as a UART gives when baud rates disagree or a board browns out."""
        rng = random.Random(seed)
        self.write(bytes(rng.randrange(256) for _ in range(n)) + b"\r\n")
