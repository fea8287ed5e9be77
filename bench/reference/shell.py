"""The shell of the reference glasses on a pseudo-terminal: Zephyr's shell or ESP-IDF's esp_console.

The harness opens the pty's slave path with pyserial exactly as it opens /dev/ttyACM0 on a dev kit.
Like the real shells the glasses echo what is typed, answer, and print the prompt (``uart:~$ `` in
green, ``esp32s3> ``); an unknown command gets the RTOS's own answer; log lines that arrive while the
prompt is shown are printed the way the RTOS does it (Zephyr: prompt erased, line, prompt and typed
command redrawn). Commands register by name (``@command("ble adv")``); ``help`` lists them.
"""

from __future__ import annotations

import asyncio
import errno
import inspect
import os
import time
import tty
from typing import Awaitable, Callable

from bench.reference.console_formats import EspIdfFormat, ZephyrFormat
from bench.reference.console_log import LEVELS, ConsoleLog

PROMPT = "uart:~$ "
Handler = Callable[[list[str]], "str | None | Awaitable[str | None]"]


class Shell:
    """A line-oriented shell on a pty master; output is dropped, never blocking, when nobody reads."""

    def __init__(self, fmt: ZephyrFormat | EspIdfFormat | None = None) -> None:
        self.format = fmt or ZephyrFormat()
        self.master_fd, slave_fd = os.openpty()
        tty.setraw(slave_fd)
        self.path = os.ttyname(slave_fd)
        self._slave_fd = slave_fd  # kept open so the pty survives clients coming and going
        os.set_blocking(self.master_fd, False)
        self.prompt = self.format.prompt_bytes()
        self.prompt_shown = False  # the prompt (and self._line) is on the screen, no command running
        self.log = ConsoleLog(self.print_async, self.format)
        self.log.on_reset = self._screen_reset
        self.log.on_ready = self.show_prompt
        self.commands: dict[str, tuple[Handler, str]] = {}
        self._line = bytearray()
        self.dropped_bytes = 0
        self.powered = True          # False while the DUT's supply is off (bench/reference/supply.py)
        self.stalled_until_s = 0.0   # a firmware lockup: no echo, no answers, no log output
        self.command("help", "list commands")(self._help)

    def command(self, name: str, help_text: str) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            self.commands[name] = (fn, help_text)
            return fn
        return register

    def start(self) -> None:
        asyncio.get_running_loop().add_reader(self.master_fd, self._on_readable)

    def close(self) -> None:
        try:
            asyncio.get_running_loop().remove_reader(self.master_fd)
        except RuntimeError:
            pass
        for fd in (self.master_fd, self._slave_fd):
            try:
                os.close(fd)
            except OSError:
                pass

    @property
    def responsive(self) -> bool:
        return self.powered and time.monotonic() >= self.stalled_until_s

    def stall(self, duration_s: float) -> None:
        """Fall silent for ``duration_s`` (0 ends a stall): what is typed meanwhile is lost."""
        self.stalled_until_s = time.monotonic() + duration_s if duration_s > 0 else 0.0

    def write(self, data: bytes) -> None:
        if not self.responsive:
            self.dropped_bytes += len(data)
            return
        try:
            n = os.write(self.master_fd, data)
            self.dropped_bytes += len(data) - n
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EIO):
                raise
            self.dropped_bytes += len(data)

    def _screen_reset(self) -> None:
        self._line.clear()
        self.prompt_shown = False

    def show_prompt(self) -> None:
        self.write(self.prompt + bytes(self._line))
        self.prompt_shown = True

    def print_async(self, data: bytes) -> None:
        """Output not caused by a command (logs, boot lines): around the prompt as the RTOS does it."""
        if self.prompt_shown and self.format.redraw:
            self.write(self.format.erase(len(self.format.prompt) + len(self._line)) + data)
            self.show_prompt()
        else:
            self.write(data)

    def _on_readable(self) -> None:
        try:
            data = os.read(self.master_fd, 4096)
        except OSError:
            return
        if not self.responsive:
            self._line.clear()
            return
        for byte in data:
            if byte in (0x0D, 0x0A):
                if byte == 0x0A and not self._line and getattr(self, "_last_cr", False):
                    self._last_cr = False
                    continue
                self._last_cr = byte == 0x0D
                line = self._line.decode(errors="replace").strip()
                self._line.clear()
                self.prompt_shown = False
                self.write(b"\r\n")
                asyncio.ensure_future(self._execute(line))
            elif byte in (0x08, 0x7F):
                if self._line:
                    self._line.pop()
                    self.write(b"\b \b")
            elif byte == 0x03:  # Ctrl-C
                self._line.clear()
                self.write(b"^C\r\n")
                self.show_prompt()
            else:
                self._last_cr = False
                self._line.append(byte)
                self.write(bytes([byte]))

    def resolve(self, words: list[str]) -> tuple[Handler | None, list[str]]:
        """Longest registered command that prefixes ``words``, and the remaining arguments."""
        for n in range(len(words), 0, -1):
            entry = self.commands.get(" ".join(words[:n]))
            if entry is not None:
                return entry[0], words[n:]
        return None, words

    async def _execute(self, line: str) -> None:
        words = line.split()
        if words:
            handler, args = self.resolve(words)
            if handler is None:
                self.write(self.format.not_found(words[0]))
            else:
                try:
                    out = handler(args)
                    if inspect.isawaitable(out):
                        out = await out
                except UsageError as e:
                    out = f"usage: {e}"
                except Exception as e:  # noqa: BLE001 - a shell reports, it does not die
                    out = f"error: {type(e).__name__}: {e}"
                if out:
                    self.write((out.rstrip("\n").replace("\n", "\r\n") + "\r\n").encode())
        self.show_prompt()

    def _help(self, _args: list[str]) -> str:
        width = max(len(n) for n in self.commands)
        return "Available commands:\n" + "\n".join(
            f"  {name.ljust(width)}  {text}" for name, (_, text) in sorted(self.commands.items()))

    def set_log_level(self, level: str) -> None:
        if level not in LEVELS:
            raise UsageError(f"log level <{'|'.join(LEVELS)}>")
        self.log.level = LEVELS[level]


class UsageError(Exception):
    """A command was called with the wrong arguments; the message is its usage line."""
