"""Smoke suite: runs against any DUT (dev kit or reference glasses) through the same harness."""

from __future__ import annotations

import numpy as np
import pytest

from bench.capabilities import label

pytestmark = [pytest.mark.ble]


def test_advertises_name_and_service(dut):
    dut.disconnect()
    device = dut.run(dut.ble.find(), dut.ble.scan_timeout_s, "scan")
    assert device.name == dut.ble.name or device.address == dut.ble.address


def test_connects_and_exchanges_mtu(dut, measure):
    dut.disconnect()
    connect_time_s = dut.connect()
    measure("connect_time_s", connect_time_s, "s")
    measure("att_mtu", dut.mtu, "bytes", low=23, high=517)
    assert dut.connected


def test_identity_matches_bench_and_boot(dut):
    """Who the DUT says it is agrees with the bench file and with what its console printed at boot."""
    ident = dut.need("identity").identity()
    assert ident.manufacturer or ident.model, f"Device Information names neither manufacturer nor model: {ident}"
    if ident.board:
        assert ident.board == dut.identity.board
    if ident.sku:
        assert ident.sku == dut.identity.sku
    boot = dut.last_boot
    if ident.firmware_revision and boot is not None and boot.firmware_version:
        assert ident.firmware_revision == boot.firmware_version


def test_battery_level_notifications(dut, measure):
    battery = dut.need("battery")
    level = battery.level_pct()
    assert 0 <= level <= 100
    measure("battery_level_pct", level, "%", low=0, high=100)
    if battery.notify_interval_s is None:
        pytest.skip(f"DUT's {label('battery')} notifies on change only: no periodic battery notifications "
                    f"to time (profile {dut.profile.name})")
    battery.subscribe()
    t1, first = battery.next_level(battery.notify_interval_s * 3 + 3)
    t2, _ = battery.next_level(battery.notify_interval_s * 3 + 3)
    assert 0 <= first <= 100 and abs(first - level) <= 1
    measure("battery_notify_interval_s", t2 - t1, "s")


def test_reboot_disconnects_and_reconnects(dut, measure):
    boot = dut.reboot()
    if boot is not None:
        assert boot.reset_reason in ("SOFTWARE", ""), f"reset reason after a requested reboot: {boot.reset_reason}"
    reason = dut.wait_disconnected(timeout_s=5)
    assert reason
    reconnect_s = dut.connect()
    measure("reconnect_time_s", reconnect_s, "s")
    ident = dut.get("identity")
    if ident is not None and boot is not None and boot.firmware_version:
        firmware = ident.identity().firmware_revision
        assert not firmware or firmware == boot.firmware_version


def test_write_notify_round_trip(dut, measure):
    rtts_s = np.array(dut.need("link_test").ping(count=40))
    measure("write_notify_rtt_p50_s", float(np.percentile(rtts_s, 50)), "s")
    measure("write_notify_rtt_p95_s", float(np.percentile(rtts_s, 95)), "s")
