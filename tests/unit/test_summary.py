"""Measurement summary: tolerant JSONL reader, per-measurement table, CSV."""

from __future__ import annotations

import csv
import json

import pytest

from bench.report.summary import format_quantity, format_table, read_measurements, summarize, write_csv


def rec(name="connect_time_s", value=0.4, verdict="pass", **extra):
    base = {"test": "tests/dut/test_smoke.py::test_connect", "name": name, "value": value, "unit": "s",
            "low": None, "high": 3.0, "marginal_low": None, "marginal_high": 2.5, "verdict": verdict,
            "t": 1700000000.0, "sku": "audio", "board": "nrf52840dk"}
    return {**base, **extra}


@pytest.fixture
def jsonl(tmp_path):
    path = tmp_path / "measurements.jsonl"
    lines = [json.dumps(rec(value=0.4)), json.dumps(rec(value=2.7, verdict="marginal")),
             json.dumps(rec(value=3.2, verdict="fail", codec="lc3")),      # extra key kept
             json.dumps({"name": "sleep_current_a", "value": 3.1e-6}),     # optional keys missing
             "", "not json", json.dumps({"value": 1}), json.dumps(rec(value="n/a")),
             '{"name": "streaming_current_a", "val']                       # torn last line
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def test_reader_keeps_good_records_and_says_which_lines_it_skipped(jsonl):
    data = read_measurements(jsonl)
    assert [r["value"] for r in data.records] == [0.4, 2.7, 3.2, 3.1e-6]
    assert data.records[2]["codec"] == "lc3"
    assert [n for n, _ in data.skipped] == [6, 7, 8, 9]
    assert "not JSON" in data.skipped[0][1] and "no 'name'" in data.skipped[1][1] and "'n/a'" in data.skipped[2][1]


def test_summary_groups_and_reports_worst_verdict(jsonl):
    rows = {r["name"]: r for r in summarize(read_measurements(jsonl).records)}
    ct = rows["connect_time_s"]
    assert (ct["n"], ct["min"], ct["median"], ct["max"]) == (3, 0.4, 2.7, 3.2)
    assert (ct["verdict"], ct["fails"], ct["marginals"], ct["high"]) == ("fail", 1, 1, 3.0)
    assert rows["sleep_current_a"]["verdict"] == "-" and rows["sleep_current_a"]["unit"] == ""


def test_table_shows_units_with_prefixes_and_failures(jsonl):
    table = format_table(summarize(read_measurements(jsonl).records))
    lines = table.splitlines()
    assert lines[0].split()[:4] == ["measurement", "board", "sku", "n"]
    row = next(line for line in lines if line.startswith("connect_time_s"))
    assert "400 ms" in row and "3.2 s" in row and "FAIL (1 fail, 1 marginal)" in row


@pytest.mark.parametrize("value, unit, text", [
    (0.0123, "s", "12.3 ms"), (3e-6, "A", "3 µA"), (2.5, "s", "2.5 s"), (0, "A", "0 A"),
    (4.2e-10, "A", "0.42 nA"), (7.25, "h", "7.25 h"), (3, "count", "3"), (None, "s", ""),
])
def test_format_quantity(value, unit, text):
    assert format_quantity(value, unit) == text


def test_csv_has_known_columns_then_extras(jsonl, tmp_path):
    out = write_csv(read_measurements(jsonl).records, tmp_path / "m.csv")
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert list(rows[0])[:3] == ["test", "name", "value"] and list(rows[0])[-1] == "codec"
    assert rows[2]["codec"] == "lc3" and rows[0]["codec"] == "" and rows[0]["low"] == ""
    assert float(rows[1]["value"]) == 2.7 and rows[3]["sku"] == ""
