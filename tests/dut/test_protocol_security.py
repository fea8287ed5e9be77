"""Privileged GLP requests and link security (docs/protocol.md §5.11).

SettingSet, PhotoCapture and FactoryReset change the device or take a picture: a device whose
privileged security level is *authenticated* answers them INSUFFICIENT_SECURITY unless the link is
encrypted with an authenticated LE Secure Connections key (passkey pairing; Just Works is not enough),
before any other effect. Everything else (Hello, Ping, DeviceInfoGet, SettingsGet, ...) stays open.
"""

from __future__ import annotations

import pytest

from bench.profiles.glp import messages as m
from bench.profiles.glp.errors import ErrorCode
from bench.profiles.glp.session import DeviceError

pytestmark = [pytest.mark.protocol, pytest.mark.ble]

PRIVILEGED = [m.SettingSet(m.SettingKey.VOLUME_PCT, 7), m.FactoryReset(), m.PhotoCapture(80)]


def _level(bench):
    level = bench.reference.ready.get("privileged_security") if bench.reference is not None else None
    if level is None:
        pytest.skip("the DUT's privileged security level is not known (reference bench only)")
    return level


@pytest.fixture
def unpaired(dut, bench):
    """The DUT on a fresh connection that is not paired and not encrypted (the bond removed first)."""
    if dut.pairing_mode in (None, "none"):
        pytest.skip(f"DUT pairing is {dut.pairing_mode or 'not declared (dut.ble.pairing)'}")
    saved = dut.pair_on_connect
    dut.pair_on_connect = False
    dut.unpair()
    dut.connect()
    assert not dut.encrypted
    yield dut
    dut.pair_on_connect = saved
    dut.disconnect()
    dut.connect()  # paired again as the bench says, for the next test


def _refused(glp, msg):
    with pytest.raises(DeviceError) as info:
        glp.request(msg)
    return info.value


@pytest.mark.parametrize("msg", PRIVILEGED, ids=lambda x: type(x).__name__)
def test_privileged_request_refused_on_an_unencrypted_link(bench, unpaired, msg):
    if _level(bench) == "open":
        pytest.skip("this device's privileged requests are open (reference.privileged_security)")
    glp = unpaired.need("glp").client
    before = glp.request(m.SettingsGet())
    err = _refused(glp, msg)
    assert err.code is ErrorCode.INSUFFICIENT_SECURITY, err
    assert err.reply.request_type == msg.TYPE
    assert glp.request(m.SettingsGet()) == before, "a refused privileged request must have no effect"


def test_just_works_bond_is_not_enough_for_authenticated(bench, unpaired):
    if _level(bench) != "authenticated":
        pytest.skip(f"privileged level is {_level(bench)}, not authenticated")
    unpaired.pair(passkey=None)  # no I/O on our side: Just Works, an unauthenticated key
    assert unpaired.encrypted
    err = _refused(unpaired.need("glp").client, m.FactoryReset())
    assert err.code is ErrorCode.INSUFFICIENT_SECURITY, err


def test_open_requests_need_no_pairing(unpaired):
    glp = unpaired.need("glp").client
    assert isinstance(glp.request(m.Ping(3)), m.Pong)
    assert isinstance(glp.request(m.SettingsGet()), m.Settings)
    assert isinstance(glp.request(m.DeviceInfoGet()), m.DeviceInfo)


def test_privileged_request_accepted_with_the_benchs_pairing(bench, dut):
    level = _level(bench)
    if level != "open" and not dut.pair_on_connect:
        pytest.skip("dut.ble.pair_on_connect is off: the harness does not pair")
    glp = dut.need("glp").client
    assert glp.request(m.SettingSet(m.SettingKey.VOLUME_PCT, 9)).volume_pct == 9
    glp.request(m.FactoryReset())
