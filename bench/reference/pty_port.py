"""A pty whose master end the reference bench owns: what a dev kit's USB-CDC port is to the harness.

Reads go to a callback; writes are buffered (up to a bound, then dropped and counted) and never block
the bench's loop, whether or not anything has the slave end open.
"""

from __future__ import annotations

import asyncio
import errno
import os
import tty
from typing import Callable

MAX_BUFFERED_BYTES = 8 * 1024 * 1024  # output kept while the harness is not reading (then dropped)


class PtyPort:
    """A pty whose master side the bench owns: reads go to `on_bytes`, writes are buffered, never block."""

    def __init__(self, on_bytes: Callable[[bytes], None]) -> None:
        self.master_fd, slave_fd = os.openpty()
        tty.setraw(slave_fd)
        self.path = os.ttyname(slave_fd)
        self._slave_fd = slave_fd  # kept open so the pty survives clients coming and going
        os.set_blocking(self.master_fd, False)
        self.on_bytes = on_bytes
        self._out = bytearray()
        self._writer_on = False
        self.dropped_bytes = 0
        self.loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.loop.add_reader(self.master_fd, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self.master_fd, 65536)
        except OSError:
            return
        if data:
            self.on_bytes(data)

    def write(self, data: bytes) -> None:
        if len(self._out) + len(data) > MAX_BUFFERED_BYTES:
            self.dropped_bytes += len(data)
            return
        self._out += data
        self._flush()

    def _flush(self) -> None:
        while self._out:
            try:
                n = os.write(self.master_fd, self._out)
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EIO):
                    raise
                break
            del self._out[:n]
        want = bool(self._out) and self.loop is not None
        if want != self._writer_on and self.loop is not None:
            if want:
                self.loop.add_writer(self.master_fd, self._flush)
            else:
                self.loop.remove_writer(self.master_fd)
            self._writer_on = want

    def discard_output(self) -> None:
        """Drop queued packets but finish the one half on the wire (a COBS reader resyncs at 0x00)."""
        end = self._out.find(0)
        del self._out[end + 1 if end >= 0 else 0:]

    def close(self) -> None:
        if self.loop is not None:
            self.loop.remove_reader(self.master_fd)
            if self._writer_on:
                self.loop.remove_writer(self.master_fd)
        for fd in (self.master_fd, self._slave_fd):
            try:
                os.close(fd)
            except OSError:
                pass
