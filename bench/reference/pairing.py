"""Pairing on the reference device: LE Secure Connections through Bumble's SMP, as the bench file says.

``none``: pairing requests are refused (SMP Pairing Not Supported), as firmware without
CONFIG_BT_SMP. ``just-works``: no I/O, unauthenticated LTK. ``passkey``: the glasses display a
6-digit passkey (DisplayOnly), the phone types it; the console prints it in the Zephyr samples'
format (``Passkey for <addr>: 123456``, samples/bluetooth/peripheral_sc_only). Bonds go to the
device's key store, so a bonded phone reconnects and encrypts without pairing again.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

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


SECURITY_LEVELS = {"open": 1, "encrypted": 2, "authenticated": 4}  # Zephyr's BT_SECURITY_L1 / L2 / L4


def privileged_level(setting: str, pairing_mode: str) -> str:
    """The security a privileged request needs: as set, or ``auto`` = authenticated when the device can
    pair with MITM protection (passkey), else open (a development build without pairing I/O)."""
    if setting != "auto":
        return setting
    return "authenticated" if pairing_mode == "passkey" else "open"


def ota_level(setting: str, pairing_mode: str) -> str:
    """The security the SMP (OTA) characteristic needs: as set, or ``auto`` = the best the pairing gives —
    authenticated with passkey (NCS CONFIG_MCUMGR_TRANSPORT_BT_PERM_RW_AUTHEN), encrypted with Just Works
    (_PERM_RW_ENCRYPT), open without pairing (_PERM_RW)."""
    if setting != "auto":
        return setting
    return {"passkey": "authenticated", "just-works": "encrypted"}.get(pairing_mode, "open")


class LinkSecurity:
    """The security level of each connection, as the device sees it (Zephyr's ``bt_conn_get_security``):
    1 unencrypted, 2 encrypted with an unauthenticated key (Just Works), 4 encrypted with an authenticated
    LE Secure Connections key. Bumble sets ``connection.authenticated`` after Just Works too, so the level
    comes from the LTK's own ``authenticated`` flag: from the pairing, or from the bond in the key store."""

    def __init__(self, device: Device) -> None:
        self.device = device
        self.levels: dict[Connection, int] = {}
        self.authenticated_peers: dict[str, bool] = {}  # from pairings this run (the key store has the rest)

    def level(self, connection: Connection | None) -> int:
        return self.levels.get(connection, 1) if connection is not None else 1

    def track(self, connection: Connection) -> None:
        self.levels[connection] = 1
        connection.on("pairing", lambda keys: self._paired(connection, keys))
        connection.on("connection_encryption_change", lambda: asyncio.ensure_future(self._encryption(connection)))
        connection.on("disconnection", lambda _reason: self.levels.pop(connection, None))

    def _paired(self, connection: Connection, keys: Any) -> None:
        self.authenticated_peers[str(connection.peer_address)] = bool(keys.ltk and keys.ltk.authenticated)
        if connection.is_encrypted:
            self.levels[connection] = 4 if self.authenticated_peers[str(connection.peer_address)] else 2

    async def _encryption(self, connection: Connection) -> None:
        if not connection.is_encrypted:
            self.levels[connection] = 1
            return
        peer = str(connection.peer_address)
        authenticated = self.authenticated_peers.get(peer)
        if authenticated is None and self.device.keystore is not None:
            keys = await self.device.keystore.get(peer)
            ltk = keys and (keys.ltk or keys.ltk_peripheral or keys.ltk_central)
            authenticated = bool(ltk and ltk.authenticated)
        if connection in self.levels:
            self.levels[connection] = 4 if authenticated else 2


def configure(device: Device, mode: str, log: ConsoleLog, passkey: int = DEFAULT_PASSKEY) -> LinkSecurity:
    """Install the pairing behaviour ``mode`` on ``device`` (a Bumble peripheral); returns the tracker of
    each connection's security level."""
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
    security = LinkSecurity(device)
    device.on("connection", security.track)
    return security
