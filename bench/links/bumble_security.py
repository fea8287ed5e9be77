"""Pairing, bonding and bond removal for the Bumble backend, through Bumble's SMP and key store.

The harness is the phone: LE Secure Connections, bonding on, and an I/O capability that follows the
caller — with a passkey callback it is KeyboardOnly (the user types what the glasses display),
without one NoInputNoOutput (Just Works). Bonds live in the host's key store (in memory for the
host's life, or Bumble's JSON key store when the transport's device config names one).
"""

from __future__ import annotations

import inspect
from typing import Awaitable, Callable, Union

from bleak.exc import BleakError
from bumble import core, hci
from bumble.device import Connection, Device
from bumble.pairing import PairingConfig, PairingDelegate

PasskeyCallback = Callable[[], Union[int, None, Awaitable[Union[int, None]]]]
"""Returns the 6-digit passkey the DUT displays (None: refuse); may be a coroutine function."""


class _Phone(PairingDelegate):
    def __init__(self, passkey: PasskeyCallback | None) -> None:
        super().__init__(io_capability=PairingDelegate.KEYBOARD_INPUT_ONLY if passkey
                         else PairingDelegate.NO_OUTPUT_NO_INPUT)
        self.passkey = passkey
        self.asked = 0

    async def get_number(self) -> int | None:
        self.asked += 1
        if self.passkey is None:
            return None
        value = self.passkey()
        return await value if inspect.isawaitable(value) else value


async def pair(device: Device, connection: Connection, passkey: PasskeyCallback | None = None,
               bond: bool = True) -> None:
    """Pair (and bond) on ``connection``; a refusal or a wrong passkey raises BleakError naming the SMP reason."""
    delegate = _Phone(passkey)
    previous = device.pairing_config_factory
    device.pairing_config_factory = lambda _c: PairingConfig(sc=True, mitm=passkey is not None, bonding=bond,
                                                             delegate=delegate)
    try:
        await connection.pair()
    except core.ProtocolError as e:
        reason = e.error_name or str(e.error_code)
        hint = {"CONFIRM_VALUE_FAILED": " (wrong passkey)", "PAIRING_NOT_SUPPORTED": " (the device refuses pairing)",
                "PASSKEY_ENTRY_FAILED": " (no passkey given)",
                "AUTHENTICATION_REQUIREMENTS": " (the device needs another pairing method)"}.get(reason, "")
        raise BleakError(f"pairing with {connection.peer_address} failed: SMP {reason}{hint}") from e
    finally:
        device.pairing_config_factory = previous
    if passkey is not None and delegate.asked == 0:
        raise BleakError(f"pairing with {connection.peer_address}: the device did not use passkey entry "
                         "(it paired Just Works; check its I/O capabilities)")


async def bond_keys(device: Device, address: hci.Address) -> object | None:
    """The stored keys of ``address`` (None: not bonded)."""
    if device.keystore is None:
        return None
    return await device.keystore.get(str(address))


async def encrypt_if_bonded(device: Device, connection: Connection) -> bool:
    """Start encryption from a stored bond (as a phone does on reconnect); False when not bonded."""
    if await bond_keys(device, connection.peer_address) is None:
        return False
    try:
        await connection.encrypt()
    except (hci.HCI_Error, core.BaseBumbleError) as e:
        raise BleakError(f"encryption with the stored bond of {connection.peer_address} failed: {e} "
                         "(the device may have lost its bond: remove ours and pair again)") from e
    return True


async def remove_bond(device: Device, address: hci.Address) -> bool:
    """Delete the bond with ``address`` from the key store; False when there was none."""
    if device.keystore is None or await device.keystore.get(str(address)) is None:
        return False
    await device.keystore.delete(str(address))
    return True
