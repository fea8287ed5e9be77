"""Flash drivers: the bench-file section, the command lines built, the tools' output parsed, failures.

nrfutil, nrfjprog and west do not run here (no probe, no workspace): a stand-in executable on PATH
records the argv it was given and replays a recorded output (tests/unit/data/flash) with an exit
code, so the real subprocess path (PATH lookup, timeout, exit code, parsing) is what is tested.
esptool and pyocd run as the real libraries against a pty with nothing behind it / no probe.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import textwrap
import tty
from pathlib import Path

import pytest
from serial.urlhandler import protocol_loop

from bench.config import BenchConfig
from bench.errors import ConfigError
from bench.flash import FlashError, from_bench, known, make_driver, options_model
from bench.flash.esptool_driver import Esptool, EsptoolOptions
from bench.flash.nrfjprog import Nrfjprog, NrfjprogOptions, errors_in
from bench.flash.nrfutil import Nrfutil, NrfutilOptions, parse_output
from bench.flash.pyocd_driver import Pyocd, PyocdOptions
from bench.flash.west import West, WestOptions
from bench.flash.west import parse_output as west_output
from bench.yamlconf import load_model

DATA = Path(__file__).parent / "data" / "flash"

FAKE_TOOL = textwrap.dedent('''\
    #!{python}
    import json, os, sys, time
    with open(os.environ["FAKE_TOOL_LOG"], "a") as log:
        log.write(json.dumps(sys.argv) + "\\n")
    time.sleep(float(os.environ.get("FAKE_TOOL_SLEEP", "0")))
    replies = os.environ["FAKE_TOOL_REPLY"].split(os.pathsep)
    calls = sum(1 for _ in open(os.environ["FAKE_TOOL_LOG"]))
    sys.stdout.write(open(replies[min(calls, len(replies)) - 1]).read())
    sys.exit(int(os.environ.get("FAKE_TOOL_EXIT", "0")))
''')


@pytest.fixture
def fake_tool(tmp_path, monkeypatch):
    """``fake_tool(name, *replies, exit=0)``: an executable ``name`` on PATH; returns the argv log."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "argv.log"

    def install(name: str, *replies: str, exit: int = 0, sleep_s: float = 0.0) -> Path:
        exe = bindir / name
        exe.write_text(FAKE_TOOL.format(python=sys.executable))
        exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
        monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}/usr/bin:/bin")
        monkeypatch.setenv("FAKE_TOOL_LOG", str(log))
        monkeypatch.setenv("FAKE_TOOL_REPLY", os.pathsep.join(str(DATA / r) for r in replies))
        monkeypatch.setenv("FAKE_TOOL_EXIT", str(exit))
        monkeypatch.setenv("FAKE_TOOL_SLEEP", str(sleep_s))
        return log
    return install


def argvs(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


@pytest.fixture
def hexfile(tmp_path) -> Path:
    path = tmp_path / "zephyr.hex"
    path.write_text(":00000001FF\n")
    return path


# -- the bench-file section -----------------------------------------------------------------------
BENCH = """\
name: lab
dut:
  board: nrf52840dk
  sku: camera
  console:
    port: /dev/serial/by-id/usb-SEGGER_J-Link_001050012345-if00
  ble:
    name: GB-Camera-0001
  flash:
{flash}
"""


def bench_file(tmp_path: Path, flash: str) -> Path:
    path = tmp_path / "lab.yaml"
    path.write_text(BENCH.format(flash=textwrap.indent(textwrap.dedent(flash), "    ")))
    return path


def test_every_driver_is_registered_by_name():
    assert known() == ["esptool", "nrfjprog", "nrfutil", "pyocd", "west"]
    with pytest.raises(ValueError, match="unknown flash driver 'jlink'; known: esptool, nrfjprog"):
        options_model("jlink")


@pytest.mark.parametrize("flash, where", [
    ("driver: nrfutil\nserial_numbr: '1050'\n", r"lab.yaml:11: dut.flash.serial_numbr: Extra inputs"),
    ("driver: jlinkexe\n", r"lab.yaml:9: dut.flash: Input tag 'jlinkexe' .* 'nrfutil', 'nrfjprog', 'west'"),
    ("driver: pyocd\n", r"lab.yaml:9: dut.flash.target: Field required"),
    ("driver: esptool\nport: auto\nbaud: -1\n", r"lab.yaml:12: dut.flash.baud: Input should be greater than 0"),
    ("driver: nrfjprog\nfamily: NRF99\n", r"lab.yaml:11: dut.flash.family: Input should be 'NRF51'"),
])
def test_a_bad_flash_section_names_file_line_and_field(tmp_path, flash, where):
    with pytest.raises(ConfigError, match=where):
        load_model(BenchConfig, bench_file(tmp_path, flash))


def test_esptool_port_auto_is_the_dut_console_and_address_takes_hex(tmp_path):
    config = load_model(BenchConfig, bench_file(tmp_path, "driver: esptool\nport: auto\naddress: '0x10000'\n"))
    driver = from_bench(config)
    assert isinstance(driver, Esptool)
    assert driver.options.port == "/dev/serial/by-id/usb-SEGGER_J-Link_001050012345-if00"
    assert driver.options.address == 0x10000


# -- nrfutil --------------------------------------------------------------------------------------
def test_nrfutil_program_and_reset_commands(fake_tool, hexfile):
    log = fake_tool("nrfutil", "nrfutil_program_ok.ndjson", "nrfutil_reset_ok.ndjson")
    result = Nrfutil(NrfutilOptions(serial_number="001050012345", verify="VERIFY_HASH")).flash(hexfile)
    program, reset = argvs(log)
    assert program[1:] == ["--json", "device", "program", "--firmware", str(hexfile), "--serial-number", "001050012345",
                           "--options", "chip_erase_mode=ERASE_RANGES_TOUCHED_BY_FIRMWARE,verify=VERIFY_HASH"]
    assert reset[1:] == ["--json", "device", "reset", "--serial-number", "001050012345"]
    assert result.action == "flash" and "Programmed" in result.output


def test_nrfutil_failure_is_the_task_end_error(fake_tool, hexfile):
    fake_tool("nrfutil", "nrfutil_program_no_device.ndjson", "nrfutil_reset_ok.ndjson", exit=1)
    with pytest.raises(FlashError, match=r"nrfutil device program failed \(exit 1\): No devices found with serial "
                                         r"number 001050099999 \(code 3\)"):
        Nrfutil(NrfutilOptions(serial_number="001050099999")).flash(hexfile)


def test_nrfutil_parser_reads_task_ends_and_ignores_non_json():
    ends, errors = parse_output("Some banner\n" + (DATA / "nrfutil_program_ok.ndjson").read_text() + "{broken\n")
    assert [e["result"] for e in ends] == ["success"] and errors == []
    ends, errors = parse_output((DATA / "nrfutil_program_no_device.ndjson").read_text())
    assert errors == ["No devices found with serial number 001050099999 (code 3)"]


def test_a_missing_cli_is_one_line_naming_how_to_install(monkeypatch, tmp_path, hexfile):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(FlashError) as info:
        Nrfutil(NrfutilOptions()).reset()
    assert str(info.value).startswith("FLASH ERROR: nrfutil not found on PATH; install nRF Util")
    assert "\n" not in str(info.value)


def test_a_cli_that_hangs_is_stopped_at_its_timeout(fake_tool):
    fake_tool("nrfutil", "nrfutil_reset_ok.ndjson", sleep_s=30)
    with pytest.raises(FlashError, match=r"nrfutil --json device reset did not finish within 0.5 s"):
        Nrfutil(NrfutilOptions(reset_timeout_s=0.5)).reset()


def test_an_image_that_is_missing_or_of_the_wrong_kind_is_refused(tmp_path):
    with pytest.raises(FlashError, match="does not exist"):
        Nrfjprog(NrfjprogOptions()).flash(tmp_path / "nope.hex")
    (tmp_path / "app.bin").write_bytes(b"\0")
    with pytest.raises(FlashError, match=r"nrfjprog flashes \.hex images, not app\.bin"):
        Nrfjprog(NrfjprogOptions()).flash(tmp_path / "app.bin")


# -- nrfjprog -------------------------------------------------------------------------------------
def test_nrfjprog_program_command_and_success(fake_tool, hexfile):
    log = fake_tool("nrfjprog", "nrfjprog_program_ok.txt")
    Nrfjprog(NrfjprogOptions(serial_number="001050012345", erase="chiperase")).flash(hexfile)
    assert argvs(log)[0][1:] == ["-f", "NRF52", "--snr", "001050012345", "--program", str(hexfile), "--chiperase",
                                 "--verify", "--reset"]


@pytest.mark.parametrize("reply, code, reason", [
    ("nrfjprog_verify_failed.txt", 55, "Data does not match in address range"),
    ("nrfjprog_no_debugger.txt", 41, "There is no debugger connected to the PC."),
])
def test_nrfjprog_errors_are_its_error_lines(fake_tool, hexfile, reply, code, reason):
    fake_tool("nrfjprog", reply, exit=code)
    with pytest.raises(FlashError, match=rf"nrfjprog program failed \(exit {code}\): .*{reason}"):
        Nrfjprog(NrfjprogOptions()).flash(hexfile)


def test_nrfjprog_pin_reset_and_error_line_parser(fake_tool):
    log = fake_tool("nrfjprog", "nrfjprog_program_ok.txt")
    Nrfjprog(NrfjprogOptions(pin_reset=True, family="NRF53")).reset()
    assert argvs(log)[0][1:] == ["-f", "NRF53", "--pinreset"]
    assert errors_in((DATA / "nrfjprog_verify_failed.txt").read_text())[-1] == "Write verify failed."
    assert errors_in((DATA / "nrfjprog_program_ok.txt").read_text()) == []


# -- west -----------------------------------------------------------------------------------------
def test_west_flash_command_and_runner(fake_tool, hexfile, tmp_path):
    log = fake_tool("west", "west_flash_ok.txt")
    result = West(WestOptions(build_dir="build", runner="nrfutil", dev_id="001050012345", cwd=str(tmp_path),
                              runner_args=["--erase"])).flash(hexfile)
    assert argvs(log)[0][1:] == ["flash", "-d", "build", "-r", "nrfutil", "--hex-file", str(hexfile),
                                 "--dev-id", "001050012345", "--erase"]
    assert result.details["runner"] == "nrfutil"


def test_west_failure_names_the_runner_and_its_error(fake_tool, hexfile):
    fake_tool("west", "west_flash_fail.txt", exit=1)
    with pytest.raises(FlashError, match=r"west flash failed \(exit 1, runner nrfjprog\): There is no debugger"):
        West(WestOptions()).flash(hexfile)
    assert west_output((DATA / "west_flash_ok.txt").read_text()) == ("nrfutil", [])


def test_west_reset_needs_a_reset_command(fake_tool):
    with pytest.raises(FlashError, match="west has no reset command; set dut.flash.reset_command"):
        West(WestOptions()).reset()
    log = fake_tool("nrfjprog", "nrfjprog_program_ok.txt")
    West(WestOptions(reset_command=["nrfjprog", "--reset"])).reset()
    assert argvs(log)[0][1:] == ["--reset"]


# -- esptool (the real library) -------------------------------------------------------------------
@pytest.fixture
def silent_pty():
    master, slave = os.openpty()
    tty.setraw(slave)
    yield os.ttyname(slave)
    os.close(master)
    os.close(slave)


def test_esptool_write_flash_without_a_chip_is_a_flash_error_naming_the_port(silent_pty, tmp_path):
    image = tmp_path / "merged.bin"
    image.write_bytes(b"\xe9" + bytes(255))
    driver = make_driver(EsptoolOptions(port=silent_pty, connect_attempts=1, timeout_s=60))
    with pytest.raises(FlashError, match=rf"esptool write_flash on {silent_pty}: Failed to connect to Espressif"):
        driver.flash(image)


def test_esptool_reset_refuses_a_port_without_modem_lines(silent_pty):
    # esptool itself only warns ("Chip was NOT reset") and carries on: the driver must not report a reset
    with pytest.raises(FlashError, match="has no DTR/RTS control"):
        Esptool(EsptoolOptions(port=silent_pty)).reset()


class ModemLines(protocol_loop.Serial):
    """pyserial's loop:// port that records every DTR/RTS change (what the EN/IO0 circuit sees)."""

    def open(self) -> None:
        self.changes: list[tuple[str, bool]] = []
        super().open()

    def _update_rts_state(self) -> None:
        self.changes.append(("rts", self._rts_state))

    def _update_dtr_state(self) -> None:
        self.changes.append(("dtr", self._dtr_state))


def test_esptool_hard_reset_pulses_en_through_rts_and_leaves_io0_high():
    port = ModemLines("loop://")
    port.changes.clear()
    driver = Esptool(EsptoolOptions(port="loop://"))
    driver.open_port = lambda _url: port  # type: ignore[method-assign]
    result = driver.reset()
    # the DevKitC auto-program circuit: EN is low while RTS and not DTR, IO0 low while DTR and not RTS
    lines = {"rts": False, "dtr": False}
    en_low = []
    io0_low_at_release = []
    for line, on in port.changes:
        was_low = lines["rts"] and not lines["dtr"]
        lines[line] = on
        low = lines["rts"] and not lines["dtr"]
        en_low.append(low)
        if was_low and not low:
            io0_low_at_release.append(lines["dtr"] and not lines["rts"])
    assert any(en_low), port.changes                              # the chip was held in reset
    assert io0_low_at_release == [False], port.changes            # released once, with IO0 high: a normal boot
    assert result.action == "reset"


# -- pyocd (the real library) ---------------------------------------------------------------------
def test_pyocd_without_a_probe_is_a_flash_error(hexfile):
    with pytest.raises(FlashError, match=r"pyocd: no debug probe matching '0240000034544e45' connected"):
        Pyocd(PyocdOptions(target="nrf52840", probe="0240000034544e45")).flash(hexfile)


def test_pyocd_session_options():
    opts = Pyocd(PyocdOptions(target="nrf52840", frequency_hz=1_000_000, erase="chip", reset_type="hw")).session_options()
    assert opts == {"target_override": "nrf52840", "frequency": 1_000_000, "chip_erase": "chip",
                    "hide_programming_progress": True, "reset_type": "hw"}
