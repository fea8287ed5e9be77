"""Two DUTs at once (a pool of two or more): each answers as itself, and one rebooting leaves the other alone."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.ble]


def test_two_duts_answer_independently(dut, second_dut):
    assert second_dut.session is not dut.session
    assert second_dut.session.out_dir != dut.session.out_dir  # out/duts/<id>/: each DUT's own console.log
    for device in (dut, second_dut):
        ident = device.need("identity").identity()
        assert ident.manufacturer or ident.model
        assert device.connected


@pytest.mark.serial
def test_rebooting_one_dut_keeps_the_other_connected(dut, second_dut):
    if second_dut.console is None:
        pytest.skip("the second DUT has no console to reboot it with")
    second_dut.allow_reboot = True
    second_dut.reboot()
    assert dut.connected
    assert dut.need("identity").identity() is not None
    second_dut.ensure_connected()
    assert second_dut.connected
