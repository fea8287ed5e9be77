"""The DUT's console as tests use it: expect, commands, log records, boot and crash detection.

Speaks the Zephyr shell (``uart:~$ `` prompt, command echo) and Zephyr's log format
(``[00:00:01.234,567] <inf> module: message``). Line noise is ignored by matching and kept in the
raw log. Every wait takes a timeout.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import time

from bench.dut.records import MAX_RECORDS, RecordRing
from bench.errors import DutCrash, DutTimeout
from bench.links.serial import SerialLink

PROMPT = "uart:~$ "
LOG_LINE = re.compile(r"^\[(\d{2}):(\d{2}):(\d{2})\.(\d{3}),(\d{3})\] <(\w+)> ([\w.]+): (.*)$")
BANNER = re.compile(r"\*\*\* Booting (.+?) \*\*\*")
FIRMWARE = re.compile(r"firmware v(\S+) board=(\S+) sku=(\S+)")
RESET = re.compile(r"Reset reason: (\w+)")
FATAL = re.compile(r">>> ZEPHYR FATAL ERROR (\d+): (.*)")
BANNER_SETTLE_S = 0.5  # a banner with no firmware/reset lines after this long is a stock boot


@dataclasses.dataclass(frozen=True)
class LogRecord:
    """One console line, stamped with the host's CLOCK_MONOTONIC on arrival."""

    host_time_s: float
    text: str
    uptime_s: float | None = None
    level: str | None = None
    module: str | None = None
    message: str | None = None


def parse_line(text: str, host_time_s: float = 0.0) -> LogRecord:
    """Parse a console line; non-log lines (shell output, banners, noise) keep only their text."""
    m = LOG_LINE.match(text)
    if not m:
        return LogRecord(host_time_s, text)
    h, mi, s, ms, us, level, module, message = m.groups()
    uptime = int(h) * 3600 + int(mi) * 60 + int(s) + int(ms) / 1e3 + int(us) / 1e6
    return LogRecord(host_time_s, text, uptime, level, module, message)


@dataclasses.dataclass(frozen=True)
class BootInfo:
    banner: str
    firmware_version: str
    board: str
    sku: str
    reset_reason: str
    host_time_s: float


class Console:
    """Shell and log of one DUT over a SerialLink."""

    def __init__(self, link: SerialLink, prompt: str = PROMPT, max_records: int = MAX_RECORDS) -> None:
        self.link = link
        self.prompt = prompt
        self.records: RecordRing[LogRecord] = RecordRing(max_records)   # absolute positions; older lines: console.log
        self._partial = bytearray()
        self._lock = threading.Lock()
        link.taps.append(self._tap)

    def _tap(self, data: bytes) -> None:
        now = time.monotonic()
        with self._lock:
            self._partial += data
            *lines, rest = self._partial.split(b"\n")
            self._partial = bytearray(rest)
            for raw in lines:
                text = _printable(raw.decode("latin-1").rstrip("\r"))
                text = text.removeprefix(self.prompt)
                if text:
                    self.records.append(parse_line(text, now))

    def mark(self) -> int:
        """A position in the record list, for ``records_since`` and crash checks (RecordsLost once too old)."""
        with self._lock:
            return len(self.records)

    def records_since(self, mark: int) -> list[LogRecord]:
        with self._lock:
            return list(self.records[mark:])

    def expect(self, pattern: str | re.Pattern[str], timeout_s: float = 5.0) -> re.Match[str]:
        """Wait for ``pattern`` in the console output; consumes output through the match."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern

        def scan(buffer: bytearray) -> tuple[re.Match[str], int] | None:
            m = regex.search(buffer.decode("latin-1"))
            return (m, m.end()) if m else None
        try:
            return self.link.wait_for(scan, timeout_s)
        except TimeoutError:
            tail = _printable(self.link.pending()[-300:].decode("latin-1"))
            raise DutTimeout(f"console {self.link.port}: no match for /{regex.pattern}/ within "
                             f"{timeout_s:g} s; last output: {tail!r}") from None

    def command(self, cmd: str, timeout_s: float = 5.0) -> str:
        """Run a shell command and return its output (log lines that interleave are left out)."""
        self.link.discard()
        self.link.write(cmd.encode() + b"\r")
        echo = re.escape(cmd) + r"\r?\n"
        self.expect(echo, timeout_s)
        m = self.expect(re.compile(r"(.*?)" + re.escape(self.prompt), re.S), timeout_s)
        lines = [_printable(line.rstrip("\r")) for line in m.group(1).split("\n")]
        return "\n".join(line for line in lines if line and not LOG_LINE.match(line))

    def wait_for_boot(self, timeout_s: float = 10.0, since: int | None = None) -> BootInfo:
        """Wait for a boot banner (after ``since``) and parse firmware, board, SKU and reset reason."""
        deadline = time.monotonic() + timeout_s
        start = self.mark() if since is None else since
        while True:
            info = self._find_boot(self.records_since(start))
            if info is not None:
                return info
            if time.monotonic() > deadline:
                raise DutTimeout(f"console {self.link.port}: no boot banner within {timeout_s:g} s")
            time.sleep(0.02)

    @staticmethod
    def _find_boot(records: list[LogRecord]) -> BootInfo | None:
        for i, rec in enumerate(records):
            banner = BANNER.search(rec.text)
            if not banner:
                continue
            version = board = sku = reason = None
            later = records[i + 1:i + 12]
            for after in later:
                if (m := FIRMWARE.search(after.text)) is not None:
                    version, board, sku = m.groups()
                if (m := RESET.search(after.text)) is not None:
                    reason = m.group(1)
            if version and reason:
                return BootInfo(banner.group(1), version, board or "", sku or "", reason, rec.host_time_s)
            # stock firmware prints only the banner: a boot whose banner has been followed by a few
            # lines, or has stood for a while, is complete without firmware line or reset reason
            if len(later) >= 3 or time.monotonic() - rec.host_time_s > BANNER_SETTLE_S:
                return BootInfo(banner.group(1), version or "", board or "", sku or "", reason or "",
                                rec.host_time_s)
        return None

    def check_no_crash(self, since: int, allow_reboot: bool = False) -> None:
        """Raise DutCrash if a fatal-error dump or an unexpected boot appeared after ``since``."""
        records = self.records_since(since)
        for rec in records:
            if (m := FATAL.search(rec.text)) is not None:
                context = "\n".join(r.text for r in records[-15:])
                raise DutCrash(f"fatal error {m.group(1)} ({m.group(2)}) on the console:\n{context}")
        info = self._find_boot(records)
        if info is not None and not (allow_reboot and info.reset_reason in ("SOFTWARE", "")):
            raise DutCrash(f"unexpected reboot: reset reason {info.reset_reason or 'not printed'}")

    def close(self) -> None:
        self.link.close()


def _printable(text: str) -> str:
    """Drop control characters and line noise that a terminal would not show."""
    return "".join(ch for ch in text if ch == "\t" or 32 <= ord(ch) < 127)
