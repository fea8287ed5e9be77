"""The reference glasses' supply rail: which simulated instrument powers them, and what losing it does.

A real DK on a PPK2 in source mode (or on an N6705C output) dies when the supply switches off: the
radio goes silent (the phone sees a supervision timeout), nothing advertises, the UART is quiet and
RAM is gone. When the supply comes back the chip cold-boots: boot banner, reset reason POWER_ON,
advertising again. ``power.supply`` (reference option ``--set power.supply=ppk2|scpi|none``) says which
instrument is wired to the DUT; ``none`` = a supply outside the bench (the glasses never lose power).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from bumble import hci

logger = logging.getLogger(__name__)

SUPPLIES = ("ppk2", "scpi", "none")
OFF_FOREVER_S = 10 * 365 * 86400.0
SUPERVISION_TIMEOUT = hci.HCI_ErrorCode.CONNECTION_TIMEOUT_ERROR


class SupplyRail:
    """Switches ``glasses`` (and the console ``shell``) off and on as the wired supply does."""

    def __init__(self, glasses: Any, shell: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.glasses, self.shell, self.loop = glasses, shell, loop
        self.powered = True
        self.power_cycles = 0
        self._task: asyncio.Future | None = None

    def switch(self, on: bool) -> None:
        """Called by the instrument (from any thread) when the power it supplies switches."""
        self.loop.call_soon_threadsafe(self._switch, on)

    def _switch(self, on: bool) -> None:
        if on == self.powered:
            return
        self.powered = on
        previous = self._task
        self._task = asyncio.ensure_future(self._power_on(previous) if on else self._power_off(previous))

    async def _power_off(self, previous: asyncio.Future | None) -> None:
        if previous is not None:
            await asyncio.gather(previous, return_exceptions=True)
        g = self.glasses
        logger.info("DUT supply off: glasses lose power")
        self.shell.powered = False          # the UART goes quiet first: nothing more is printed
        g.hang(OFF_FOREVER_S)               # no GATT answers, no notifications
        boot_task = getattr(g, "_boot_task", None)
        if boot_task is not None:
            boot_task.cancel()              # a reboot that was under way never completes
        g.link.jam(True)                    # radio silent: the phone's link dies by supervision timeout
        g.advertising_wanted = False
        g.device.auto_restart_advertising = False
        try:
            await g.device.stop_advertising()
        except Exception:  # noqa: BLE001 - advertising may be off already
            pass
        g._power("off")

    async def _power_on(self, previous: asyncio.Future | None) -> None:
        if previous is not None:
            await asyncio.gather(previous, return_exceptions=True)
        g = self.glasses
        logger.info("DUT supply on: glasses cold-boot")
        if g.connection is not None or g.controller.le_connections:
            # the phone has not noticed yet: its link times out now (the old connection is gone for good)
            g.link.drop_all(g.controller, SUPERVISION_TIMEOUT)
            g.connection = None
        g.link.jam(False)
        self.power_cycles += 1
        self.shell.powered = True
        self.shell.stall(0)
        g.advertising_wanted = True         # RAM is lost: the firmware's defaults again
        await g.boot("POWER_ON")
