"""Bench files: valid examples load; malformed ones name file, line and field."""

from __future__ import annotations

import pytest

from bench.config import DEFAULT_BENCH, load_bench
from bench.errors import ConfigError


def test_shipped_bench_files_load():
    assert load_bench(DEFAULT_BENCH).reference is not None
    hw = load_bench(DEFAULT_BENCH.parent / "nrf52840dk.example.yaml")
    assert hw.reference is None and hw.dut.console.port.startswith("/dev/serial/by-id/")


def write(tmp_path, text):
    path = tmp_path / "bench.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, line, field", [
    ("name: x\ndut:\n  board: esp32s3\n  sku: s\n  ble:\n    name: g\n    mtu: 9000\n", 7, "dut.ble.mtu"),
    ("name: x\ndut:\n  board: esp32s3\n  sku: s\n  ble:\n    name: g\n    mtuu: 100\n", 7, "dut.ble.mtuu"),
    ("name: x\ndut:\n  board: esp32s3\n  sku: s\n  ble:\n    backend: bumble\n    name: g\n", 5, "dut.ble"),
    ("name: x\ndut:\n  board: esp32s3\n  sku: s\n  console:\n    port: auto\n  ble:\n    name: g\n", 1, "(top level)"),
])
def test_errors_name_file_line_and_field(tmp_path, text, line, field):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load_bench(path)
    assert f"{path}:{line}: {field}:" in str(e.value)


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = write(tmp_path, "name: x\ndut: [unclosed\n")
    with pytest.raises(ConfigError, match=rf"{path}:\d+: not valid YAML"):
        load_bench(path)


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_bench(tmp_path / "nope.yaml")


@pytest.mark.parametrize("text, line, field", [
    ("name: x\ndut:\n  board: arduino\n  sku: s\n  ble:\n    name: g\n", 3, "dut.board"),
    ("name: x\nreference:\n  sku: audio\n  board: nrf52840\ndut:\n  board: esp32s3\n  sku: s\n  ble:\n    name: g\n",
     4, "reference.board"),
])
def test_unknown_board_names_file_line_field_and_the_known_boards(tmp_path, text, line, field):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load_bench(path)
    assert f"{path}:{line}: {field}:" in str(e.value)
    assert "known boards: esp32s3, nrf52840dk" in str(e.value)
