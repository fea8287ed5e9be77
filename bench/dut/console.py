"""The DUT's console as tests use it: expect, commands, log records, boot, reboot and crash detection.

What the console prints is read through a console driver (bench/dut/consoles: ``zephyr``,
``esp-idf`` or the bench file's own): every line is rendered as a terminal would show it
(bench/dut/ansi.py: colours, the log backend's erase/redraw of the prompt), then parsed as a log
record, a boot, a crash or shell output. Line noise is ignored by matching and kept in the raw log.
Every wait takes a timeout.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from typing import Callable, Optional, TypeVar

from bench.dut import ansi, consoles
from bench.dut.consoles import ConsoleDriver
from bench.dut.records import MAX_RECORDS, RecordRing
from bench.errors import DutCrash, DutTimeout, ShellError
from bench.links.serial import SerialLink

T = TypeVar("T")
PROMPT = consoles.get("zephyr").prompt
BOOT_SETTLE_S = 0.5  # a boot with no prompt or ready line after this much quiet is complete
CRASH_CONTEXT_LINES = 15


@dataclasses.dataclass(frozen=True)
class LogRecord:
    """One console line as a terminal shows it, stamped with the host's CLOCK_MONOTONIC on arrival."""

    host_time_s: float
    text: str
    uptime_s: float | None = None
    level: str | None = None
    module: str | None = None
    message: str | None = None


def parse_line(text: str, host_time_s: float = 0.0, driver: ConsoleDriver | str = "zephyr") -> LogRecord:
    """Parse a rendered console line; non-log lines (shell output, banners, noise) keep only their text."""
    drv = consoles.get(driver) if isinstance(driver, str) else driver
    fields = drv.log_fields(text)
    if fields is None:
        return LogRecord(host_time_s, text)
    return LogRecord(host_time_s, text, fields.uptime_s, fields.level, fields.module, fields.message)


@dataclasses.dataclass(frozen=True)
class BootInfo:
    banner: str  # the line that started the boot (Zephyr banner, ESP32 ROM ``rst:`` line)
    firmware_version: str  # from the boot lines where the RTOS prints it (ESP-IDF ``App version``), else ""
    board: str
    sku: str
    reset_reason: str  # normalised: SOFTWARE, POWER_ON, WATCHDOG, BROWNOUT, PIN, CPU_LOCKUP, ... or ""
    host_time_s: float
    reset_reason_raw: str = ""  # as the DUT printed it (``RTC_SW_CPU_RST``, ``software``)
    record_index: int = -1


class Console:
    """Shell and log of one DUT over a SerialLink, read through a console driver."""

    def __init__(self, link: SerialLink, prompt: Optional[str] = None,
                 driver: ConsoleDriver | str = "zephyr", max_records: int = MAX_RECORDS) -> None:
        self.link = link
        self.driver = consoles.get(driver) if isinstance(driver, str) else driver
        self.prompt = prompt if prompt is not None else self.driver.prompt
        self.records: RecordRing[LogRecord] = RecordRing(max_records)   # absolute positions; older lines: console.log
        self.boots: dict[int, BootInfo] = {}  # record index of a boot line → what wait_for_boot found
        self._partial = bytearray()
        self._prompt_at: int | None = None  # records before the prompt now shown (None: no prompt shown)
        self._expect_from = 0
        self._cond = threading.Condition()
        link.taps.append(self._tap)

    # -- input ------------------------------------------------------------------------------------
    def _tap(self, data: bytes) -> None:
        now = time.monotonic()
        prompt = self.prompt.rstrip()
        with self._cond:
            self._partial += data
            *lines, rest = self._partial.split(b"\n")
            self._partial = bytearray(rest)
            for raw in lines:
                text = _render(raw)
                while prompt and text.startswith(prompt):  # a prompt (or the echo after it) starts the line
                    text = text[len(prompt):].lstrip()
                if text:
                    self.records.append(parse_line(text, now, self.driver))
            shown = _render(rest)
            self._prompt_at = len(self.records) if prompt and shown == prompt else None
            self._cond.notify_all()

    def mark(self) -> int:
        """A position in the record list, for ``records_since`` and crash checks (RecordsLost once too old)."""
        with self._cond:
            return len(self.records)

    def records_since(self, mark: int) -> list[LogRecord]:
        with self._cond:
            return list(self.records[mark:])

    def wait(self, predicate: Callable[[], T | None], timeout_s: float, what: str) -> T:
        """Wait (under the lock, woken by new input) until ``predicate()`` is not None; DutTimeout naming
        ``what`` with the last lines otherwise, ConnectionError if the port failed for good. The predicate
        may read ``records`` (the lock is held)."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                found = predicate()
                if found is not None:
                    return found
                if self.link.error:
                    raise ConnectionError(self.link.error)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    tail = " | ".join(r.text for r in self.records[-6:])
                    raise DutTimeout(f"console {self.link.port}: {what} within {timeout_s:g} s; "
                                     f"last lines: {tail!r}")
                self._cond.wait(min(remaining, 0.1))

    # -- expect and commands ------------------------------------------------------------------------
    def expect(self, pattern: str | re.Pattern[str], timeout_s: float = 5.0) -> re.Match[str]:
        """Wait for ``pattern`` in the rendered console lines since the last match or command; consumes
        the lines through the match."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern

        def scan() -> re.Match[str] | None:
            self._expect_from = max(self._expect_from, self.records.first)  # lines that fell out were not matched
            texts = [r.text for r in self.records[self._expect_from:]]
            m = regex.search("\n".join(texts) + "\n" + _render(self._partial))
            if m is None:
                return None
            self._expect_from += min(len(texts), m.string.count("\n", 0, m.end()) + 1)
            return m
        return self.wait(scan, timeout_s, f"no match for /{regex.pattern}/")

    def command(self, cmd: str, timeout_s: float = 5.0, check: bool = True) -> str:
        """Run a shell command and return its answer (log lines that interleave are left out).

        An answer the driver knows as a shell error (``cmd: command not found``) raises ShellError.
        """
        with self._cond:
            start = len(self.records)
            self._expect_from = start  # like a terminal cleared: expect() looks at what comes after this
        self.link.write(cmd.encode() + b"\r")
        wanted = cmd.strip()

        def answered() -> tuple[int, int] | None:
            echo = next((i for i in range(start, len(self.records)) if self.records[i].text == wanted), None)
            if echo is not None and self._prompt_at is not None and self._prompt_at > echo:
                return echo, self._prompt_at
            return None
        echo, end = self.wait(answered, timeout_s, f"no answer to {cmd!r} (echo, then the prompt {self.prompt!r})")
        lines = [r.text for r in self.records_since(echo + 1)[:end - echo - 1] if r.level is None]
        answer = "\n".join(lines)
        if check:
            for line in lines:
                if self.driver.shell_error(line) is not None:
                    raise ShellError(f"console {self.link.port}: {cmd!r} failed: {answer!r}", cmd, answer)
        return answer

    # -- boots --------------------------------------------------------------------------------------
    def wait_for_boot(self, timeout_s: float = 10.0, since: int | None = None) -> BootInfo:
        """Wait for a boot (after ``since``): its banner or ROM line, the end of the boot output, and
        the reset reason (from the boot lines, or asked with the driver's reset-reason command)."""
        deadline = time.monotonic() + timeout_s
        start = self.mark() if since is None else since

        def booted() -> int | None:
            starts = self.driver.boot_starts([r.text for r in self.records[start:]])
            return start + starts[0] if starts else None
        index = self.wait(booted, timeout_s, "no boot banner")
        if index in self.boots:
            return self.boots[index]

        def complete() -> bool | None:
            later = self.records[index + 1:]
            if self._prompt_at is not None and self._prompt_at > index:
                return True
            if any(p.search(r.text) for p in self.driver.ready_patterns for r in later):
                return True
            if self.driver.bootloader_patterns and any(p.search(self.records[index].text)
                                                       for p in self.driver.bootloader_patterns) \
                    and not any(self.driver.boot(r.text) for r in later):
                return None  # the boot loader may be quiet for a while (image swap): wait for the application
            last_s = (later[-1] if later else self.records[index]).host_time_s
            return True if time.monotonic() - last_s > BOOT_SETTLE_S else None
        try:
            self.wait(complete, max(0.1, deadline - time.monotonic()), "boot output did not settle")
        except DutTimeout:
            pass  # a chatty boot: take what has come
        records = self.records_since(index)
        raw = ""
        if self.driver.reset_reason_pattern is not None and self.driver.reset_reason_command is None:
            raw = next((g for r in records[:20] if (g := _first_group(self.driver.reset_reason_pattern.search(r.text)))), "")
        elif self.driver.reset_reason_command:
            raw = self._ask_reset_reason(max(1.0, deadline - time.monotonic()))
        version = ""
        if self.driver.version_pattern is not None:
            version = next((g for r in records if (g := _first_group(self.driver.version_pattern.search(r.text)))), "")
        info = BootInfo(records[0].text, version, "", "", self.driver.normalise_reset_reason(raw), records[0].host_time_s,
                        raw, index)
        self.boots[index] = info
        return info

    def _ask_reset_reason(self, timeout_s: float) -> str:
        cmd = self.driver.reset_reason_command
        pattern = self.driver.reset_reason_pattern
        assert cmd is not None
        try:
            answer = self.command(cmd, timeout_s)
        except (ShellError, DutTimeout):
            return ""
        causes = [g for line in answer.splitlines() if pattern is not None and (g := _first_group(pattern.search(line)))]
        if self.driver.reset_reason_clear_command:
            try:
                self.command(self.driver.reset_reason_clear_command, timeout_s)
            except (ShellError, DutTimeout):
                pass
        return ", ".join(causes)

    # -- crashes ------------------------------------------------------------------------------------
    def crash_line(self, since: int) -> str | None:
        """The first crash line (fatal error, panic, abort) after ``since``, or None."""
        return next((r.text for r in self.records_since(since) if self.driver.crash(r.text)), None)

    def check_no_crash(self, since: int, allow_reboot: bool = False) -> None:
        """Raise DutCrash for a crash dump or a boot after ``since``; the message names the reset reason.
        With ``allow_reboot`` (the test asked for reboots) boots with reset reason SOFTWARE are expected."""
        records = self.records_since(since)
        for n, rec in enumerate(records):
            m = self.driver.crash(rec.text)
            if m is not None:
                context = [r.text for r in records[max(0, n - CRASH_CONTEXT_LINES):n + 1]]
                context += [r.text for r in records[n + 1:n + 40] if any(p.search(r.text) for p in self.driver.context_patterns)]
                what = _first_group(m) or rec.text
                raise DutCrash(f"{self.driver.name} crash on console {self.link.port}: {what}\n" + "\n".join(context))
        boots = [since + n for n in self.driver.boot_starts([r.text for r in records])]
        for index in boots:
            info = self.boots.get(index)
            if info is None:
                try:
                    info = self.wait_for_boot(5.0, since=index)
                except (DutTimeout, ConnectionError):
                    info = BootInfo(self.records[index].text, "", "", "", "", self.records[index].host_time_s)
            if allow_reboot and info.reset_reason in ("SOFTWARE", ""):
                continue
            reason = info.reset_reason or "not reported"
            raw = f" ({info.reset_reason_raw})" if info.reset_reason_raw and info.reset_reason_raw != reason else ""
            raise DutCrash(f"DUT reboot during the test{'' if allow_reboot else ' (not requested)'}: "
                           f"reset reason {reason}{raw}; boot line {info.banner!r}")

    def close(self) -> None:
        self.link.close()


def _render(raw: bytes | bytearray) -> str:
    return ansi.render(bytes(raw).decode("utf-8", "replace"))


def _first_group(m: re.Match[str] | None) -> str | None:
    if m is None:
        return None
    return next((g for g in m.groups() if g), None) if m.groups() else m.group(0)


__all__ = ["BootInfo", "Console", "LogRecord", "PROMPT", "parse_line"]
