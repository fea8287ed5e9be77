"""GLP over a serial port (COBS packets, docs/protocol.md §2): the same GlpClient as over BLE.

For bring-up without a radio: a dev kit's second UART / USB-CDC interface, or the reference bench's
``glp_serial`` pty. Over serial a Hello opens a new connection (there is no link-layer connect).
"""

from __future__ import annotations

import asyncio
from typing import Any

import serial

from bench.errors import LinkLost
from bench.links.loop import LoopThread
from bench.profiles.glp.client import GlpClient
from bench.profiles.glp.session import PhoneSession
from bench.profiles.glp.transport import SerialTransport


class SerialGlpTransport(SerialTransport):
    """SerialTransport that also closes its port on ``stop()`` (what GlpClient.close calls)."""

    async def stop(self) -> None:
        self.close()
        self.port.close()


def open_serial_glp(loop: LoopThread, port: str, baudrate: int = 115200, hello: bool = True,
                    timeout_s: float = 1.0) -> GlpClient:
    """Open `port` with pyserial and return a GlpClient on it (hello'd unless hello=False)."""
    try:
        ser = serial.serial_for_url(port, baudrate=baudrate, timeout=0.05, exclusive=True)
    except (serial.SerialException, OSError, ValueError) as e:
        raise LinkLost(f"cannot open GLP serial port {port}: {e}") from e
    ser.reset_input_buffer()  # bytes from a previous session would only be unmatched replies

    async def build() -> tuple[PhoneSession, Any]:
        transport = SerialGlpTransport(ser, asyncio.get_running_loop())
        return PhoneSession(transport, timeout_s=timeout_s), transport
    session, transport = loop.run(build(), 5.0, "GLP serial set-up")
    client = GlpClient(loop, session, transport)
    if hello:
        client.hello()
    return client
