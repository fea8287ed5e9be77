"""The Bumble host behind the bleak backend: one per HCI transport and event loop.

Programs share one adapter; likewise the scanner and every client on one loop share one Bumble host
on one HCI transport (the reference bench's phone radio, or a controller dongle). The host notices
when its transport dies (the bench process killed, a dongle unplugged) and tells its clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import Any, Callable

from bleak.exc import BleakError
from bumble import core, hci
from bumble.device import Device
from bumble.transport import open_transport

from bench.links import bumble_speedups

logger = logging.getLogger(__name__)

ENV_HCI = "GLASSBENCH_HCI"
HOST_ADDRESS = "F0:F1:F2:F3:F4:F5"
default_spec: str | None = None  # set by bumble_backend.use_as_default
_hosts: dict[tuple[int, str], "BumbleHost"] = {}
_host_locks: dict[int, asyncio.Lock] = {}


class LinkLostError(BleakError):
    """The radio (or the process serving it) went away: every connection on it is gone."""


def spec_from(bumble: dict[str, Any] | None) -> str:
    """The HCI transport: ``bumble={"hci": ...}``, else use_as_default's, else $GLASSBENCH_HCI."""
    spec = (bumble or {}).get("hci") or default_spec or os.environ.get(ENV_HCI)
    if not spec:
        raise BleakError("no Bumble HCI transport: pass bumble={'hci': SPEC}, call "
                         "bench.links.bumble_backend.use_as_default(SPEC) or set GLASSBENCH_HCI")
    return spec


def bleak_uuid(uuid: core.UUID) -> str:
    """Bumble UUID → bleak's lowercase 128-bit string (Bumble stores bytes little-endian)."""
    raw = uuid.uuid_128_bytes[::-1].hex()
    return f"{raw[0:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:32]}"


class BumbleHost:
    """One Bumble host on one HCI transport, shared by the scanner and clients of one loop."""

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self.lost = False
        self.lost_callbacks: set[Callable[[], None]] = set()

    async def open(self) -> None:
        bumble_speedups.install()
        try:
            self.transport = await open_transport(self.spec)
        except Exception as e:  # noqa: BLE001 - any transport failure is "cannot reach the radio"
            raise BleakError(f"cannot open Bumble HCI transport {self.spec!r}: {e}") from e
        self.device = Device.with_hci("glassbench", hci.Address(HOST_ADDRESS), self.transport.source,
                                      self.transport.sink)
        self.transport.source.terminated.add_done_callback(lambda _f: self._on_lost())
        try:
            async with asyncio.timeout(10):
                await self.device.power_on()
        except Exception as e:  # noqa: BLE001
            await self.transport.close()
            raise BleakError(f"Bumble host on {self.spec!r} did not power on: {e}") from e

    def _on_lost(self) -> None:
        self.lost = True
        _hosts.pop((id(asyncio.get_event_loop()), self.spec), None)
        logger.warning("HCI transport %s lost", self.spec)
        for cb in list(self.lost_callbacks):
            cb()

    async def close(self) -> None:
        _hosts.pop((id(asyncio.get_running_loop()), self.spec), None)
        with contextlib.suppress(Exception):
            await self.transport.close()


async def get_host(spec: str) -> BumbleHost:
    """The loop's shared host for ``spec``, opened on first use."""
    loop = asyncio.get_running_loop()
    lock = _host_locks.setdefault(id(loop), asyncio.Lock())
    async with lock:
        host = _hosts.get((id(loop), spec))
        if host is None or host.lost:
            host = BumbleHost(spec)
            await host.open()
            _hosts[(id(loop), spec)] = host
        return host


async def close_hosts() -> None:
    """Close every host of the running loop (call before closing the loop)."""
    loop_id = id(asyncio.get_running_loop())
    for key in [k for k in _hosts if k[0] == loop_id]:
        await _hosts[key].close()
    _host_locks.pop(loop_id, None)
