"""Pairing on the reference device: LE Secure Connections through Bumble's SMP, as the bench file says.

``none``: pairing requests are refused (SMP Pairing Not Supported), as firmware without
CONFIG_BT_SMP. ``just-works``: no I/O, unauthenticated LTK. ``passkey``: the glasses display a
6-digit passkey (DisplayOnly), the phone types it; the console prints it in the Zephyr samples'
format (``Passkey for <addr>: 123456``, samples/bluetooth/peripheral_sc_only). Bonds go to the
device's key store, so a bonded phone reconnects and encrypts without pairing again.
"""

from __future__ import annotations

from typing import Literal

from bumble.device import Connection, Device
from bumble.pairing import PairingConfig, PairingDelegate

from bench.reference.console_log import ConsoleLog

PairingMode = Literal["none", "just-works", "passkey"]
MODES: tuple[str, ...] = ("none", "just-works", "passkey")
DEFAULT_PASSKEY = 123456


class _Refuse(PairingDelegate):
    async def accept(self) -> bool:
        return False


class _Display(PairingDelegate):
    """Displays (logs) a fixed passkey; a real display shows a random one, the bench wants it known."""

    def __init__(self, passkey: int, log: ConsoleLog, peer: str) -> None:
        super().__init__(io_capability=PairingDelegate.DISPLAY_OUTPUT_ONLY)
        self.passkey, self.log, self.peer = passkey, log, peer

    async def generate_passkey(self) -> int:
        return self.passkey

    async def display_number(self, number: int, digits: int) -> None:
        self.log.line(f"Passkey for {self.peer}: {number:0{digits}d}")


def configure(device: Device, mode: str, log: ConsoleLog, passkey: int = DEFAULT_PASSKEY) -> None:
    """Install the pairing behaviour ``mode`` on ``device`` (a Bumble peripheral)."""
    if mode not in MODES:
        raise ValueError(f"pairing must be one of {', '.join(MODES)}, got {mode!r}")
    if not 0 <= passkey <= 999999:
        raise ValueError(f"passkey must be 0..999999, got {passkey}")

    def factory(connection: Connection) -> PairingConfig:
        if mode == "none":
            return PairingConfig(sc=True, mitm=False, bonding=False, delegate=_Refuse())
        if mode == "just-works":
            return PairingConfig(sc=True, mitm=False, bonding=True,
                                 delegate=PairingDelegate(io_capability=PairingDelegate.NO_OUTPUT_NO_INPUT))
        return PairingConfig(sc=True, mitm=True, bonding=True,
                             delegate=_Display(passkey, log, str(connection.peer_address)))

    device.pairing_config_factory = factory

    def on_connection(connection: Connection) -> None:
        connection.on("pairing", lambda keys: log.line(f"Paired {connection.peer_address} "
                                                       f"({'authenticated' if keys.ltk and keys.ltk.authenticated else 'unauthenticated'})"))
        connection.on("pairing_failure", lambda reason: log.line(f"Pairing failed with {connection.peer_address}: "
                                                                  f"reason {reason}"))
    device.on("connection", on_connection)
