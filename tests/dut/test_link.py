"""The connection itself: parameters and PHY as the controller reports them, asked for and applied or refused."""

from __future__ import annotations

import pytest

from bench.links.link_params import LinkRequest

pytestmark = [pytest.mark.ble]


def test_connection_parameters_are_reported(dut, measure):
    """The interval the link runs is recorded (the report environment has it too), and what the bench
    asked for either runs or is listed as not applied."""
    link = dut.link
    asked = dut.ble.link_request.asked()
    for key in asked.keys() & {"interval_s", "latency", "supervision_timeout_s", "phy"}:
        assert key in link.not_applied or getattr(link, key) == pytest.approx(asked[key], abs=0.005), \
            f"asked {key}={asked[key]}, the link runs {getattr(link, key)} and it is not recorded as not applied"
    if link.interval_s is None:
        pytest.skip(f"connection interval unknown on this backend ({link.source}): bleak on BlueZ does not report it")
    measure("connection_interval_s", link.interval_s, "s", low=0.0075, high=4.0)
    measure("supervision_timeout_s", link.supervision_timeout_s, "s", low=0.1, high=32.0)


def test_connection_update_and_phy_are_applied_or_refused_with_a_reason(dut, measure):
    before = dut.link
    target = LinkRequest(interval_s=0.03 if before.interval_s != 0.03 else 0.015,
                         phy="1M" if before.phy != "1M" else "2M")
    try:
        after = dut.apply_link(target)
        if after.not_applied:
            assert all(reason for reason in after.not_applied.values())
            pytest.skip("not applied here: " + "; ".join(f"{k}: {v}" for k, v in after.not_applied.items()))
        assert after.interval_s == pytest.approx(target.interval_s) and after.phy == target.phy
        measure("updated_connection_interval_s", after.interval_s, "s", low=target.interval_s - 0.00125,
                high=target.interval_s + 0.00125)
        if dut.get("link_test") is not None:  # the link still carries data at the new interval
            assert len(dut.ping(count=5)) == 5
    finally:
        if before.interval_s is not None and before.phy is not None:
            dut.apply_link(LinkRequest(interval_s=before.interval_s, latency=before.latency,
                                       supervision_timeout_s=before.supervision_timeout_s, phy=before.phy))
