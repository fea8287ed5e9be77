"""ACME G1 over the virtual radio: the glassbench `dut` fixture with our bench file and board."""

from __future__ import annotations

import pytest

from bench import boards
from bench.profiles import get_profile

pytestmark = pytest.mark.smoke


def test_glasses_are_an_acme_g1(dut):
    from bench.profiles.glp.capabilities import version

    version = version(dut)  # the reference glasses' console `version` command
    assert version["board"] == "acme-g1"
    assert dut.device_info()["hardware_revision"] == boards.get("acme-g1").identity.hardware_revision


def test_link_runs_at_our_board_parameters(bench, dut, measure):
    link = bench.reference.ready["link"]
    spec = boards.get("acme-g1").link
    assert (link["interval_s"], link["supervision_timeout_s"]) == (spec.interval_s, spec.supervision_timeout_s)
    measure("att_mtu", dut.mtu, "bytes")


def test_battery_through_our_profile(dut, measure):
    battery = get_profile("acme").capabilities(dut)["battery"]
    level = battery.level_pct()
    assert level == dut.battery_level()
    measure("battery_level_pct", level, "%")
