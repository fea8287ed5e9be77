"""Pairing and bonding as the bench file says the DUT offers them (``dut.ble.pairing``)."""

from __future__ import annotations

import pytest

from bench.errors import PairingFailed

pytestmark = [pytest.mark.ble]


def test_pairs_bonds_and_reconnects_encrypted_without_pairing(bonded_dut, measure):
    dut = bonded_dut
    if dut.encrypted is None:
        pytest.skip("this backend does not say whether the link is encrypted")
    assert dut.encrypted
    dut.disconnect()
    measure("bonded_reconnect_time_s", dut.connect(), "s")
    assert dut.encrypted and dut.resumed_bond, "reconnected without using the bond"


@pytest.fixture
def no_auto_pairing(dut):
    """Connections stay unpaired during the test (``pair_on_connect`` off), as the bench says afterwards."""
    saved, dut.pair_on_connect = dut.pair_on_connect, False
    yield dut
    dut.pair_on_connect = saved
    if dut.connected:
        dut.disconnect()
    dut.connect()


def test_removed_bond_is_not_used_again(bonded_dut, no_auto_pairing):
    dut = bonded_dut
    dut.unpair()
    dut.connect()
    assert not dut.resumed_bond
    assert dut.encrypted is not True


def test_wrong_passkey_is_refused_with_a_clear_error(dut, no_auto_pairing):
    if dut.pairing_mode != "passkey":
        pytest.skip(f"DUT pairing is {dut.pairing_mode or 'not declared (dut.ble.pairing)'}, not passkey entry")
    dut.unpair()
    dut.connect()
    with pytest.raises(PairingFailed, match="wrong passkey"):
        dut.pair(passkey=lambda: (dut.displayed_passkey() + 1) % 1_000_000)
    assert dut.connected and not dut.encrypted


def test_device_without_pairing_refuses(dut):
    if dut.pairing_mode != "none":
        pytest.skip(f"DUT pairing is {dut.pairing_mode or 'not declared (dut.ble.pairing)'}")
    with pytest.raises(PairingFailed, match="refuses pairing"):
        dut.pair()
