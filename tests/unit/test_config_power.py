"""The bench file's power section: PPK2 mode required, voltages checked against the board's ratings."""

from __future__ import annotations

import pytest

from bench.config import DEFAULT_BENCH, current_limit_a, load_bench, max_voltage_v, supply_voltage_v
from bench.errors import ConfigError

HEAD = "name: x\ndut:\n  board: {board}\n  sku: camera\n  ble:\n    name: g\npower:\n"


def write(tmp_path, power: str, board: str = "nrf52840dk"):
    path = tmp_path / "bench.yaml"
    path.write_text(HEAD.format(board=board) + power)
    return path


def test_ppk2_without_mode_is_refused_at_the_power_line(tmp_path):
    path = write(tmp_path, "  kind: ppk2\n  resource: /dev/ttyACM0\n")
    with pytest.raises(ConfigError) as e:
        load_bench(path)
    assert f"{path}:7: power.mode:" in str(e.value) and "mode: source" in str(e.value)


@pytest.mark.parametrize("board, volts", [("nrf52840dk", 3.7), ("esp32s3", 3.65)])
def test_source_voltage_above_the_board_rating_names_the_line(tmp_path, board, volts):
    path = write(tmp_path, f"  kind: ppk2\n  resource: /dev/ttyACM0\n  mode: source\n  supply_voltage_v: {volts}\n",
                 board)
    with pytest.raises(ConfigError) as e:
        load_bench(path)
    msg = str(e.value)
    assert msg.removeprefix("CONFIG ERROR: ").startswith(f"{path}:11: power.supply_voltage_v: {volts:g} V is above the {board} board's")
    assert "3.6 V" in msg and "allow_over_voltage" in msg and "\n" not in msg


def test_scpi_supplies_are_checked_too(tmp_path):
    path = write(tmp_path, "  kind: visa\n  resource: TCPIP0::10.0.0.5::5025::SOCKET\n  supply_voltage_v: 3.7\n")
    with pytest.raises(ConfigError, match=r":10: power.supply_voltage_v"):
        load_bench(path)


def test_explicit_permission_and_ampere_mode_pass(tmp_path):
    cfg = load_bench(write(tmp_path, "  kind: ppk2\n  resource: /dev/ttyACM0\n  mode: source\n"
                                     "  supply_voltage_v: 3.7\n  allow_over_voltage: true\n"))
    assert supply_voltage_v(cfg) == 3.7 and max_voltage_v(cfg) is None
    cfg = load_bench(write(tmp_path, "  kind: ppk2\n  resource: /dev/ttyACM0\n  mode: ampere\n  supply_voltage_v: 3.7\n"))
    assert cfg.power.mode == "ampere" and not cfg.power.sources   # in series with the DUT's own supply


def test_board_defaults_fill_voltage_and_current_limit(tmp_path):
    cfg = load_bench(write(tmp_path, "  kind: ppk2\n  resource: /dev/ttyACM0\n  mode: source\n", "esp32s3"))
    assert (supply_voltage_v(cfg), current_limit_a(cfg), max_voltage_v(cfg)) == (3.3, 0.5, 3.6)
    cfg = load_bench(write(tmp_path, "  kind: visa\n  resource: TCPIP0::h::5025::SOCKET\n  current_limit_a: 0.2\n"))
    assert (supply_voltage_v(cfg), current_limit_a(cfg)) == (3.0, 0.2)


@pytest.mark.parametrize("power, line, text", [
    ("  kind: visa\n  resource: r\n  mode: source\n", 10, "power.mode: 'mode' is for kind ppk2"),
    ("  kind: visa\n  resource: r\n  markers:\n    states: glassbench\n", 10, "power.markers: 'markers' needs logic inputs"),
    ("  kind: ppk2\n  resource: r\n  mode: source\n  markers:\n    states: {1: snoozing}\n", 12, "snoozing"),
    ("  kind: ppk2\n  resource: r\n  mode: source\n  markers:\n    mask: 256\n    states: glassbench\n", 12,
     "power.markers.mask"),
])
def test_bad_power_fields_name_line_and_field(tmp_path, power, line, text):
    path = write(tmp_path, power)
    with pytest.raises(ConfigError) as e:
        load_bench(path)
    assert f"{path}:{line}: " in str(e.value) and text in str(e.value)


def test_example_hardware_bench_is_safe():
    """The shipped example: ampere mode (the DK keeps its own supply) and declared marker wiring."""
    cfg = load_bench(DEFAULT_BENCH.parent / "nrf52840dk.example.yaml")
    assert cfg.power.mode == "ampere" and supply_voltage_v(cfg) <= 3.6
    assert cfg.power.markers.mask == 0x07 and cfg.power.markers.names()[3] == "connected_idle"
