"""Console drivers: chosen by the board, overridden or defined in the bench file, checked at load."""

from __future__ import annotations

import pytest
from pty_device import PtyDevice

from bench.config import load_bench
from bench.dut import consoles
from bench.dut.console import Console
from bench.errors import ConfigError, DutCrash
from bench.links.serial import SerialLink

BENCH = """name: x
dut:
  board: {board}
  sku: s
  console:
    port: /dev/ttyACM0
{extra}  ble:
    name: g
"""


def bench(tmp_path, board="nrf52840dk", extra=""):
    path = tmp_path / "bench.yaml"
    path.write_text(BENCH.format(board=board, extra=extra))
    return path


def test_the_board_chooses_the_driver(tmp_path):
    nrf = load_bench(bench(tmp_path, "nrf52840dk")).dut
    esp = load_bench(bench(tmp_path, "esp32s3")).dut
    assert nrf.console.console_driver(nrf.board).name == "zephyr"
    assert esp.console.console_driver(esp.board).reboot_command == "restart"


def test_bench_file_overrides_a_driver(tmp_path):
    dut = load_bench(bench(tmp_path, extra="    driver: zephyr\n    prompt: 'glasses:~$ '\n"
                                          "    reboot_command: reboot\n")).dut
    driver = dut.console.console_driver(dut.board)
    assert (driver.name, driver.prompt, driver.reboot_command) == ("zephyr", "glasses:~$ ", "reboot")
    assert driver.reset_reason_command == "hwinfo reset_cause"  # the rest stays Zephyr's


@pytest.mark.parametrize("extra, line, field, says", [
    ("    driver: freertos\n", 7, "dut.console.driver", "unknown console driver 'freertos'; known: custom, esp-idf, zephyr"),
    ("    boot_patterns: ['Booting (']\n", 7, "dut.console.boot_patterns", "not a valid regular expression"),
    ("    reset_reason_pattern: 'rst:(0x'\n", 7, "dut.console.reset_reason_pattern", "not a valid regular expression"),
    ("    driver: custom\n    prompt: '> '\n", 5, "dut.console", "driver 'custom' needs reboot_command, boot_patterns"),
])
def test_bad_console_settings_name_file_line_and_field(tmp_path, extra, line, field, says):
    path = bench(tmp_path, extra=extra)
    with pytest.raises(ConfigError) as e:
        load_bench(path)
    assert f"{path}:{line}: {field}:" in str(e.value) and says in str(e.value)


def test_a_custom_driver_reads_its_own_firmware(tmp_path):
    dut = load_bench(bench(tmp_path, extra="    driver: custom\n    prompt: 'nsh> '\n    reboot_command: reboot\n"
                                          "    boot_patterns: ['^NuttShell \\(NSH\\) (\\S+)']\n"
                                          "    crash_patterns: ['up_assert: (.*)']\n"
                                          "    reset_reason_pattern: 'reset: (\\w+)'\n")).dut
    driver = dut.console.console_driver(dut.board)
    dev = PtyDevice(b"nsh> ", lambda cmd: f"nsh: {cmd}: command not found\r\n".encode())
    console = Console(SerialLink(dev.path), driver=driver)
    try:
        mark = console.mark()
        dev.emit(b"NuttShell (NSH) NuttX-12.4.0\r\nreset: WDT\r\nnsh> ")
        boot = console.wait_for_boot(3, since=mark)
        assert (boot.reset_reason, boot.reset_reason_raw) == ("WDT", "WDT")
        dev.emit(b"up_assert: Assertion failed at file:sched/sched.c line: 42\r\n")
        console.expect("up_assert", 2)
        with pytest.raises(DutCrash, match="custom crash .*Assertion failed at file:sched/sched.c"):
            console.check_no_crash(mark, allow_reboot=True)
    finally:
        console.close()
        dev.close()


def test_registered_drivers_and_reset_reason_names():
    assert {"zephyr", "esp-idf"} <= set(consoles.DRIVERS)
    assert consoles.get("zephyr").normalise_reset_reason("pin, brownout") == "PIN,BROWNOUT"
    assert consoles.get("esp-idf").normalise_reset_reason("RTCWDT_BROWN_OUT_RST") == "BROWNOUT"
    with pytest.raises(KeyError, match="unknown console driver 'vxworks'"):
        consoles.get("vxworks")
