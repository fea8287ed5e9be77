"""Test plans: the shipped plans validate, bad plans are rejected with file:line and field."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.limits import Limits, make_limit, parse_quantity
from bench.limits import load_catalogue
from bench.plan import PLANS_DIR, PlanError, load_plan, plan_to_pytest_args

SHIPPED = ["smoke", "protocol", "latency", "power", "fuzz", "release-camera", "release-audio", "demo"]


def write_plan(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(text.lstrip("\n"), encoding="utf-8")
    return path


def problems_of(path: Path) -> list[tuple[str, str, str]]:
    with pytest.raises(PlanError) as info:
        load_plan(path)
    return info.value.problems


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_plans_validate(name):
    plan = load_plan(name)
    assert plan.name == name and plan.source == PLANS_DIR / f"{name}.yaml"
    assert len(plan.limits_table()) > 0, "every shipped plan checks something"


def test_all_plan_files_are_shipped_plans():
    assert sorted(p.stem for p in PLANS_DIR.glob("*.yaml")) == sorted(SHIPPED)


def test_unknown_measurement_names_file_line_and_field(tmp_path):
    path = write_plan(tmp_path, """
name: t
suites: [tests/dut]
limits:
  connect_time_s: {high: 3 s}
  conect_time_s: {high: 3 s}
""")
    (where, field, msg), = problems_of(path)
    assert where == f"{path}:5" and field == "limits.conect_time_s"
    assert "unknown measurement 'conect_time_s'" in msg and "connect_time_s" in msg  # suggests the fix


def test_inverted_limit_names_file_line(tmp_path):
    path = write_plan(tmp_path, """
name: t
suites: [tests/dut]
limits:
  uplink_latency_s[lc3]:
    low: 80 ms
    high: 60 ms
""")
    with pytest.raises(PlanError) as info:
        load_plan(path)
    assert f"{path}:4: limits.uplink_latency_s[lc3]: inverted limit: low (0.08 s) is above high (0.06 s)" in str(info.value)


def test_inverted_limit_from_sku_override_merged_with_default(tmp_path):
    path = write_plan(tmp_path, """
name: t
suites: [tests/dut]
limits:
  streaming_current_a:
    low: 10 mA
    sku:
      camera: {high: 5 mA}
""")
    (where, field, msg), = problems_of(path)
    assert (where, field) == (f"{path}:7", "limits.streaming_current_a.sku.camera") and "inverted" in msg


def test_schema_errors_name_line_and_field(tmp_path):
    path = write_plan(tmp_path, """
name: t
suites: [tests/dut]
parameters:
  trails: 3
  link:
    phy: 3M
    interval_s: 2 ms
""")
    problems = {field: (where, msg) for where, field, msg in problems_of(path)}
    assert problems["parameters.trails"] == (f"{path}:4", "unknown field")
    assert problems["parameters.link.phy"][0] == f"{path}:6" and "'1M' or '2M'" in problems["parameters.link.phy"][1]
    assert problems["parameters.link.interval_s"][0] == f"{path}:7"


@pytest.mark.parametrize("snippet, field, expected", [
    ("limits:\n  sleep_current_a: {high: 5 mV}\n", "limits.sleep_current_a.high", "in A"),
    ("limits:\n  sleep_current_a: {high: 5 uA, sku: {camra: {high: 1}}}\n", "limits.sleep_current_a.sku.camra", "unknown SKU"),
    ("limits:\n  connect_time_s: {high: 1, requirement: REQ-9}\n", "limits.connect_time_s.requirement", "unknown requirement"),
    ("limits:\n  connect_time_s: {high: 1, marginal: 0.6, low: 0}\n", "limits.connect_time_s", "does not fit"),
    ("limits:\n  connect_time_s: {marginal: 0.1}\n", "limits.connect_time_s", "needs a low or a high"),
    ("limits:\n  connect_time_s[h264]: {high: 1}\n", "limits.connect_time_s[h264]", "unknown variant"),
    ("dut: {board: stm32}\n", "dut.board", "unknown board"),
    ("suites: []\n", "suites", "at least 1"),
])
def test_semantic_errors(tmp_path, snippet, field, expected):
    text = "name: t\n" + ("" if snippet.startswith("suites") else "suites: [tests/dut]\n") + snippet
    problems = problems_of(write_plan(tmp_path, text))
    assert any(f == field and expected in m and w.startswith(f"{tmp_path / 'plan.yaml'}:") for w, f, m in problems), problems


def test_missing_required_field_and_yaml_errors(tmp_path):
    (where, field, msg), = problems_of(write_plan(tmp_path, "name: t\n"))
    assert (field, msg) == ("suites", "required field is missing")
    (where, field, msg), = problems_of(write_plan(tmp_path, "name: t\nsuites: [a]\nname: u\n"))
    assert (where, field) == (f"{tmp_path / 'plan.yaml'}:3", "name") and "duplicate key (first defined at line 1)" in msg
    (where, field, msg), = problems_of(write_plan(tmp_path, "name: t\nsuites: [a\n"))
    assert where.startswith(f"{tmp_path / 'plan.yaml'}:") and "not valid YAML" in msg


def test_unknown_plan_name_lists_known_plans():
    with pytest.raises(PlanError, match="smoke"):
        load_plan("no-such-plan")


def test_limits_resolve_per_sku_and_variant():
    table = load_plan("latency").limits_table()
    assert table.get("uplink_latency_s[lc3]").high == pytest.approx(0.060)
    assert table.get("uplink_latency_s", sku="camera", variant="lc3").high == pytest.approx(0.070)
    camera = table.get("uplink_latency_s[lc3]", sku="camera")
    assert camera.marginal_high == pytest.approx(0.060)  # override inherits marginal 10 ms
    assert table.get("uplink_latency_s", variant="pcm") is None
    assert table.get("latency_jitter_s", sku="audio").high == pytest.approx(0.015)
    power = load_plan("power").limits_table()
    assert power.get("sleep_current_a", sku="audio").high == pytest.approx(10e-6)
    assert power.get("sleep_current_a", sku="camera").high == pytest.approx(1e-3)


def test_verdicts_with_marginal_band():
    limit = load_plan("smoke").limits_table().get("write_notify_rtt_p95_s")
    assert (limit.high, limit.marginal_high) == (pytest.approx(0.1), pytest.approx(0.08))
    assert [limit.verdict(v) for v in (0.05, 0.09, 0.1, 0.11, math.nan)] == ["pass", "marginal", "marginal", "fail", "fail"]


@pytest.mark.parametrize("text, unit, value", [
    ("80 ms", "s", 0.08), ("2.5uA", "A", 2.5e-6), ("10 µA", "A", 1e-5), ("0.5 C", "C", 0.5),
    (3, "s", 3.0), ("6 h", "h", 6.0), ("1e-3", "A", 1e-3),
])
def test_parse_quantity(text, unit, value):
    assert parse_quantity(text, unit) == pytest.approx(value)


@pytest.mark.parametrize("text, unit", [("5 mV", "A"), ("fast", "s"), (True, "s"), ("3 mh", "count")])
def test_parse_quantity_rejects(text, unit):
    with pytest.raises(ValueError, match="expected"):
        parse_quantity(text, unit)


@settings(max_examples=60, deadline=None)
@given(st.floats(-1e3, 1e3), st.floats(1e-3, 1e3), st.floats(0, 0.45), st.floats(-2e3, 2e3))
def test_verdict_matches_window(low, width, band_fraction, value):
    limit = make_limit("x_s", "s", low, low + width, band_fraction * width)
    verdict = limit.verdict(value)
    assert (verdict == "fail") == (value < low or value > low + width)
    if verdict == "pass":
        assert limit.marginal_low <= value <= limit.marginal_high


def test_catalogue_units_match_name_suffix():
    suffix_unit = {"_s": "s", "_a": "A", "_c": "C", "_h": "h"}
    for name, entry in load_catalogue().measurements.items():
        for suffix, unit in suffix_unit.items():
            if name.endswith(suffix):
                assert entry.unit == unit, f"{name} has unit {entry.unit}"


def test_plan_to_pytest_args():
    plan = load_plan("protocol")
    args = plan_to_pytest_args(plan)
    assert args[0].endswith("tests/dut") and args[1:3] == ["-m", "protocol and not fuzz"]
    assert args[-2:] == ["--plan", str(plan.source)]


def test_severity_and_requirements_from_plan():
    plan = load_plan("smoke")
    assert plan_to_pytest_args(plan)[0].endswith("tests/dut/test_smoke.py")
    assert plan.severity_of("test_boot_banner") == "blocker"
    assert plan.severity_of("test_something_else") == "normal"
    assert plan.requirements_of("test_write_notify_round_trip") == ["REQ-BLE-002"]
    assert isinstance(plan.limits_table(), Limits)


def test_limits_source_feeds_the_measurement_recorder():
    from bench.plan import limits_source

    source = limits_source(load_plan("latency"), sku="camera")
    limit = source("uplink_latency_s[opus]")
    assert (limit.low, limit.marginal_low) == (None, None)
    assert (limit.high, limit.marginal_high) == (pytest.approx(0.090), pytest.approx(0.080))
    assert source("uplink_latency_s[opus]").verdict(0.085) == "marginal"
    assert source("att_mtu") is None
