"""The device end of a pty for console tests: echoes what is typed, answers commands with raw bytes.

Answers are the exact bytes a real shell would send (built in each test from the RTOS's format
strings); the prompt follows every answer. ``emit`` sends anything at any time.
"""

from __future__ import annotations

import os
import threading
import tty
from typing import Callable


class PtyDevice:
    def __init__(self, prompt: bytes, not_found: Callable[[str], bytes],
                 answers: dict[str, bytes | Callable[[], bytes]] | None = None) -> None:
        self.master, slave = os.openpty()
        tty.setraw(slave)
        self.path = os.ttyname(slave)
        self._slave = slave
        self.prompt = prompt
        self.not_found = not_found
        self.answers: dict[str, bytes | Callable[[], bytes]] = dict(answers or {})
        self.typed: list[str] = []
        self.on_char: Callable[[bytes], bytes] | None = None  # extra output after echoing, given the line so far
        self._stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def emit(self, data: bytes) -> None:
        os.write(self.master, data)

    def _serve(self) -> None:
        line = b""
        while not self._stop:
            try:
                data = os.read(self.master, 1024)
            except OSError:
                return
            for b in data:
                if b in (10, 13):
                    if not line:
                        continue
                    cmd = line.decode()
                    line = b""
                    self.typed.append(cmd)
                    answer = self.answers.get(cmd)
                    if callable(answer):
                        answer = answer()
                    self.emit(b"\r\n" + (answer if answer is not None else self.not_found(cmd)) + self.prompt)
                else:
                    line += bytes([b])
                    self.emit(bytes([b]))  # the shell echoes each character
                    if self.on_char is not None:
                        self.emit(self.on_char(line))

    def close(self) -> None:
        self._stop = True
        for fd in (self.master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass
