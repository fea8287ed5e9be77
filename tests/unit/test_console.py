"""Console parsing against a pty that plays a Zephyr shell (no reference bench needed)."""

from __future__ import annotations

import os
import threading
import time
import tty

import pytest

from bench.dut.console import Console, parse_line
from bench.errors import DutCrash, DutTimeout
from bench.links.serial import SerialLink


def test_parse_zephyr_log_line():
    rec = parse_line("[00:01:02.345,678] <wrn> ble: Disconnected (reason 0x13)", 5.0)
    assert rec.uptime_s == pytest.approx(62.345678)
    assert (rec.level, rec.module, rec.message) == ("wrn", "ble", "Disconnected (reason 0x13)")
    assert parse_line("uart:~$ version").uptime_s is None


class FakeDevice:
    """The device end of a pty: answers shell commands like Zephyr, can emit anything."""

    def __init__(self) -> None:
        self.master, slave = os.openpty()
        tty.setraw(slave)
        self.path = os.ttyname(slave)
        self._slave = slave
        self.answers = {"version": "Glasses firmware v9.9.9 board=nrf52840dk sku=audio serial=X1"}
        self._stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def emit(self, data: bytes) -> None:
        os.write(self.master, data)

    def _serve(self) -> None:
        line = b""
        while not self._stop:
            try:
                data = os.read(self.master, 1024)
            except OSError:
                return
            for b in data:
                if b in (10, 13):
                    cmd = line.decode()
                    line = b""
                    self.emit(cmd.encode() + b"\r\n")
                    if cmd in self.answers:
                        self.emit(b"[00:00:01.000,000] <inf> main: interleaved log\r\n")
                        self.emit(self.answers[cmd].encode() + b"\r\n")
                    self.emit(b"uart:~$ ")
                else:
                    line += bytes([b])

    def close(self) -> None:
        self._stop = True
        for fd in (self.master, self._slave):
            os.close(fd)


@pytest.fixture
def device_and_console(tmp_path):
    dev = FakeDevice()
    console = Console(SerialLink(dev.path, log_path=tmp_path / "console.log"))
    yield dev, console, tmp_path / "console.log"
    console.close()
    dev.close()


def test_command_returns_output_without_log_lines(device_and_console):
    _dev, console, _log = device_and_console
    assert console.command("version", 2) == "Glasses firmware v9.9.9 board=nrf52840dk sku=audio serial=X1"


def test_garbage_is_ignored_by_expect_and_kept_in_the_log(device_and_console):
    dev, console, log = device_and_console
    dev.emit(bytes(range(128, 256)) + b"\x00\x07 noise \r\n")
    dev.emit(b"[00:00:02.000,000] <inf> ble: Advertising\r\n")
    m = console.expect(r"<inf> ble: (\w+)", 2)
    assert m.group(1) == "Advertising"
    time.sleep(0.05)
    assert bytes(range(128, 256)) in log.read_bytes()


def test_boot_banner_and_reset_reason(device_and_console):
    dev, console, _log = device_and_console
    mark = console.mark()
    dev.emit(b"*** Booting nRF Connect SDK v2.6.1 ***\r\n"
             b"[00:00:00.001,000] <inf> main: Glasses firmware v1.2.3 board=nrf52840dk sku=camera serial=S\r\n"
             b"[00:00:00.001,200] <inf> main: Reset reason: WATCHDOG\r\n")
    boot = console.wait_for_boot(2, since=mark)
    assert (boot.firmware_version, boot.board, boot.sku, boot.reset_reason) == ("1.2.3", "nrf52840dk", "camera", "WATCHDOG")
    with pytest.raises(DutCrash, match="unexpected reboot: reset reason WATCHDOG"):
        console.check_no_crash(mark, allow_reboot=True)


def test_fatal_error_dump_is_a_crash(device_and_console):
    dev, console, _log = device_and_console
    mark = console.mark()
    dev.emit(b"[00:00:05.000,000] <err> os: >>> ZEPHYR FATAL ERROR 19: Unknown error on CPU 0\r\n")
    console.expect("FATAL", 2)
    time.sleep(0.05)
    with pytest.raises(DutCrash, match="fatal error 19"):
        console.check_no_crash(mark)


def test_expect_times_out_with_what_it_saw(device_and_console):
    dev, console, _log = device_and_console
    dev.emit(b"something else\r\n")
    with pytest.raises(DutTimeout, match="something else"):
        console.expect("never", 0.3)


def test_missing_port_is_a_clear_error():
    with pytest.raises(ConnectionError, match="/dev/does-not-exist"):
        SerialLink("/dev/does-not-exist")
