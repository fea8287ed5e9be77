"""Pairing, bonding and bond removal over the Bumble backend, against reference benches in each pairing mode."""

from __future__ import annotations

import pytest
from bleak import BleakClient
from bleak.exc import BleakError
from bumble_run import run

from bench.config import ReferenceSpec
from bench.links import bumble_security
from bench.links.bumble_host import get_host
from bench.session import ReferenceProcess

PASSKEY = 654321
BATTERY = "00002a19-0000-1000-8000-00805f9b34fb"




def _reference(tmp_path_factory, pairing: str) -> ReferenceProcess:
    spec = ReferenceSpec(seed=1, pairing=pairing, passkey=PASSKEY)
    return ReferenceProcess(spec, tmp_path_factory.mktemp(f"ref-{pairing}") / "reference.log")


@pytest.fixture(scope="module")
def passkey_ref(tmp_path_factory):
    ref = _reference(tmp_path_factory, "passkey")
    yield ref
    ref.stop()


@pytest.fixture(scope="module")
def just_works_ref(tmp_path_factory):
    ref = _reference(tmp_path_factory, "just-works")
    yield ref
    ref.stop()


def client(ready) -> BleakClient:
    from bench.links.bumble_backend import BumbleClient

    return BleakClient(ready["address"], backend=BumbleClient, bumble={"hci": ready["hci"], "mtu": 247})


async def _ltk_authenticated(ready) -> bool | None:
    host = await get_host(ready["hci"])
    keys = await host.device.keystore.get(ready["address"]) if host.device.keystore else None
    return None if keys is None or keys.ltk is None else keys.ltk.authenticated


def test_just_works_bonds_then_reconnects_encrypted_without_pairing_and_unpair_forgets(just_works_ref):
    ready = just_works_ref.ready

    async def body():
        c = client(ready)
        await c.connect()
        assert not c._backend.is_encrypted
        await c.pair()
        first = (c._backend.is_encrypted, await _ltk_authenticated(ready))
        await c.disconnect()
        await c.connect()  # the bond is used: encrypted at once, no pairing
        second = (c._backend.is_encrypted, c._backend.resumed_bond, bytes(await c.read_gatt_char(BATTERY)))
        await c.unpair()  # disconnects and deletes the bond
        after_unpair = await _ltk_authenticated(ready)
        await c.connect()
        third = (c._backend.is_encrypted, c._backend.resumed_bond)
        await c.disconnect()
        return first, second, after_unpair, third
    first, second, after_unpair, third = run(body())
    assert first == (True, False)  # Just Works: an unauthenticated LTK
    assert second[:2] == (True, True) and len(second[2]) == 1
    assert after_unpair is None
    assert third == (False, False)


def test_passkey_entry_with_the_displayed_passkey_gives_an_authenticated_bond(passkey_ref):
    ready = passkey_ref.ready
    asked = []

    async def body():
        c = client(ready)
        await c.connect()
        await c.pair(passkey=lambda: asked.append(1) or PASSKEY)
        result = (c._backend.is_encrypted, await _ltk_authenticated(ready))
        await c.disconnect()
        return result
    assert run(body()) == (True, True)
    assert asked == [1]


async def _async_passkey() -> int:
    return PASSKEY


def test_passkey_callback_may_be_a_coroutine(passkey_ref):
    async def body():
        c = client(passkey_ref.ready)
        await c.connect()
        await c.pair(passkey=_async_passkey)
        encrypted = c._backend.is_encrypted
        await c.unpair()
        return encrypted
    assert run(body()) is True


def test_wrong_passkey_is_a_clear_error_and_leaves_no_bond(passkey_ref):
    ready = passkey_ref.ready

    async def body():
        c = client(ready)
        await c.connect()
        try:
            with pytest.raises(BleakError, match=r"SMP CONFIRM_VALUE_FAILED \(wrong passkey\)"):
                await c.pair(passkey=lambda: PASSKEY + 1)
            return await _ltk_authenticated(ready), c.is_connected
        finally:
            await c.disconnect()
    bond, still_connected = run(body())
    assert bond is None and still_connected


def test_passkey_callback_against_a_just_works_device_is_refused(just_works_ref):
    async def body():
        c = client(just_works_ref.ready)
        await c.connect()
        try:
            with pytest.raises(BleakError, match="did not use passkey entry"):
                await c.pair(passkey=lambda: PASSKEY)
        finally:
            await c.unpair()
    run(body())


def test_a_device_without_pairing_refuses(tmp_path_factory):
    ref = _reference(tmp_path_factory, "none")
    try:
        async def body():
            c = client(ref.ready)
            await c.connect()
            try:
                with pytest.raises(BleakError, match=r"PAIRING_NOT_SUPPORTED \(the device refuses pairing\)"):
                    await c.pair()
            finally:
                await c.disconnect()
        run(body())
    finally:
        ref.stop()


def test_remove_bond_reports_whether_there_was_one(just_works_ref):
    ready = just_works_ref.ready

    async def body():
        c = client(ready)
        await c.connect()
        await c.pair()
        host = await get_host(ready["hci"])
        peer = c._backend._connection.peer_address
        await c.disconnect()
        return (await bumble_security.remove_bond(host.device, peer),
                await bumble_security.remove_bond(host.device, peer))
    assert run(body()) == (True, False)
