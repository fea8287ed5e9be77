"""A serial console link over pyserial, drained continuously by a reader thread.

Works the same on ``/dev/serial/by-id/...`` of a dev kit, on the reference bench's pty and on any
pyserial URL (``socket://``, ``loop://``). Every byte received is kept in a raw log file and in
a buffer that ``wait_for`` scans under a timeout.

A dev kit's USB-CDC port disappears when the board resets (J-Link OB, ESP32-S3 USB-Serial/JTAG) and
comes back, often as another ``/dev/ttyACMn``: the reader then re-opens the same path (use the stable
``/dev/serial/by-id/...`` one) until it is back. Past ``reopen_timeout_s`` waiters get a
ConnectionError naming the port, but the reader keeps trying, so a late return is still picked up.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, BinaryIO, Callable, TypeVar

import serial

T = TypeVar("T")


class SerialLink:
    """An open serial port whose input is buffered by a background reader."""

    def __init__(self, port: str, baudrate: int = 115200, log_path: str | Path | None = None,
                 reopen_timeout_s: float = 10.0) -> None:
        self.port = port
        self.baudrate = baudrate
        self.reopen_timeout_s = reopen_timeout_s
        self.reopens = 0  # times the port came back after going away
        self._serial = self._open()
        self._buffer = bytearray()
        self._cond = threading.Condition()
        self._closed = False
        self.error: str | None = None
        self.taps: list[Callable[[bytes], None]] = []
        self._log: BinaryIO | None = None
        if log_path is not None:
            Path(log_path).parent.mkdir(parents=True, exist_ok=True)
            self._log = open(log_path, "ab", buffering=0)
        self._thread = threading.Thread(target=self._reader, name=f"serial:{port}", daemon=True)
        self._thread.start()

    def _open(self) -> Any:  # serial.Serial or a URL handler (socket://, loop://)
        try:
            return serial.serial_for_url(self.port, baudrate=self.baudrate, timeout=0.05, exclusive=True)
        except (serial.SerialException, OSError, ValueError) as e:
            raise ConnectionError(f"cannot open serial port {self.port}: {e}") from e

    def _reopen(self, failure: Exception) -> bool:
        """The port went away (USB re-enumeration): re-open its path until it is back or the link closes."""
        try:
            self._serial.close()
        except Exception:  # noqa: BLE001 - the device is gone already
            pass
        deadline = time.monotonic() + self.reopen_timeout_s
        while not self._closed:
            try:
                self._serial = self._open()
            except ConnectionError as e:
                if time.monotonic() > deadline and self.error is None:
                    self.error = (f"serial port {self.port} went away ({failure}) and did not come back within "
                                  f"{self.reopen_timeout_s:g} s: {e}")
                    with self._cond:
                        self._cond.notify_all()
                time.sleep(0.05 if time.monotonic() < deadline else 0.5)
                continue
            self.error = None
            self.reopens += 1
            return True
        return False

    def _reader(self) -> None:
        while not self._closed:
            try:
                data = self._serial.read(max(1, self._serial.in_waiting))
            except (serial.SerialException, OSError, TypeError) as e:
                if self._closed or not self._reopen(e):
                    with self._cond:
                        self._cond.notify_all()
                    return
                continue
            if data:
                if self._log is not None:
                    self._log.write(data)
                for tap in self.taps:
                    tap(data)
                with self._cond:
                    self._buffer += data
                    self._cond.notify_all()

    def write(self, data: bytes) -> None:
        try:
            self._serial.write(data)
            self._serial.flush()
        except (serial.SerialException, OSError) as e:
            raise ConnectionError(f"write to {self.port} failed: {e}") from e

    def wait_for(self, scan: Callable[[bytearray], tuple[T, int] | None], timeout_s: float) -> T:
        """Wait until ``scan(buffer)`` returns (result, consumed bytes); consume and return result.

        Raises TimeoutError after ``timeout_s`` and ConnectionError if the port failed.
        """
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                found = scan(self._buffer)
                if found is not None:
                    result, consumed = found
                    del self._buffer[:consumed]
                    return result
                if self.error:
                    raise ConnectionError(self.error)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"nothing matched on {self.port} within {timeout_s:g} s")
                self._cond.wait(remaining)

    def pending(self) -> bytes:
        """Bytes received but not yet consumed."""
        with self._cond:
            return bytes(self._buffer)

    def discard(self) -> bytes:
        with self._cond:
            data = bytes(self._buffer)
            self._buffer.clear()
            return data

    def close(self) -> None:
        self._closed = True
        try:
            self._serial.close()
        except Exception:  # noqa: BLE001
            pass
        self._thread.join(1.0)
        if self._log is not None:
            self._log.close()
