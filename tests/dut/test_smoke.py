"""Smoke suite: runs against any DUT (dev kit or reference glasses) through the same harness."""

from __future__ import annotations

import numpy as np
import pytest

from bench.dut.glasses import BATTERY_LEVEL, LINK_TEST_ECHO

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


@pytest.mark.serial
def test_device_information_matches_console(dut):
    info = dut.device_info()
    version = dut.version()
    assert info["firmware_revision"] == version["firmware"]
    assert info["serial"] == version["serial"]
    assert version["board"] == dut.identity.board
    assert version["sku"] == dut.identity.sku


def test_battery_level_notifications(dut, measure):
    level = dut.battery_level()
    assert 0 <= level <= 100
    dut.subscribe(BATTERY_LEVEL)
    first = dut.notification(BATTERY_LEVEL, timeout_s=6)
    second = dut.notification(BATTERY_LEVEL, timeout_s=6)
    assert len(first.data) == 1 and 0 <= first.data[0] <= 100
    assert abs(first.data[0] - level) <= 1
    measure("battery_notify_interval_s", second.host_time_s - first.host_time_s, "s")
    measure("battery_level_pct", level, "%", low=0, high=100)


@pytest.mark.serial
def test_reboot_disconnects_and_reconnects(dut, measure):
    boot = dut.reboot()
    assert boot.reset_reason == "SOFTWARE"
    reason = dut.wait_disconnected(timeout_s=5)
    assert reason
    reconnect_s = dut.connect()
    measure("reconnect_time_s", reconnect_s, "s")
    assert dut.device_info()["firmware_revision"] == boot.firmware_version


def test_write_notify_round_trip(dut, measure):
    if dut.ble.client.services.get_characteristic(LINK_TEST_ECHO) is None:
        pytest.skip("DUT firmware has no link-test service")
    rtts_s = np.array(dut.ping(count=40))
    measure("write_notify_rtt_p50_s", float(np.percentile(rtts_s, 50)), "s")
    measure("write_notify_rtt_p95_s", float(np.percentile(rtts_s, 95)), "s")
