"""The ESP-IDF console through a pty, fed byte-exact output built from ESP-IDF's format strings.

ROM: ``rst:0x%x (%s),boot:0x%x (%s)``. components/log LOG_FORMAT: ``LOG_COLOR_x "x (%u) %s: " fmt
LOG_RESET_COLOR "\\n"`` (``ESC[0;31m`` E, ``ESC[0;33m`` W, ``ESC[0;32m`` I; stdout turns ``\\n`` into
``\\r\\n``). esp_system panic handler: ``Guru Meditation Error: Core  %d panic'ed (%s). Exception was
unhandled.``, ``abort() was called at PC 0x%08x on core %d``, ``Backtrace: 0x%08x:0x%08x ...``,
``Rebooting...``. esp_console REPL: prompt ``LOG_COLOR_I "esp32s3> " LOG_RESET_COLOR``, ``Unrecognized
command``.
"""

from __future__ import annotations

import pytest
from pty_device import PtyDevice

from bench.dut.console import Console
from bench.errors import DutCrash, ShellError
from bench.links.serial import SerialLink

PROMPT = b"\x1b[0;32mesp32s3> \x1b[0m"
COLORS = {"E": "\x1b[0;31m", "W": "\x1b[0;33m", "I": "\x1b[0;32m", "D": ""}


def log(letter: str, ms: int, tag: str, msg: str, color: bool = True) -> bytes:
    if not color:
        return f"{letter} ({ms}) {tag}: {msg}\r\n".encode()
    return f"{COLORS[letter]}{letter} ({ms}) {tag}: {msg}\x1b[0m\r\n".encode()


def rom(code: int, name: str) -> bytes:
    return (b"ESP-ROM:esp32s3-20210327\r\nBuild:Mar 27 2021\r\n"
            + f"rst:0x{code:x} ({name}),boot:0x8 (SPI_FAST_FLASH_BOOT)\r\n".encode()
            + b"Saved PC:0x40375a1c\r\nSPIWP:0xee\r\nmode:DIO, clock div:1\r\nload:0x3fce3818,len:0x16f8\r\n"
              b"entry 0x403c9908\r\n")


def app_boot(version: str = "2.3.2") -> bytes:
    return (log("I", 27, "boot", "ESP-IDF v5.1.2 2nd stage bootloader")
            + log("I", 256, "app_init", f"App version:      {version}")
            + log("I", 290, "main_task", "Calling app_main()") + PROMPT)


@pytest.fixture
def esp(tmp_path):
    dev = PtyDevice(PROMPT, lambda _cmd: b"Unrecognized command\r\n", {"free": b"254032\r\n"})
    console = Console(SerialLink(dev.path, log_path=tmp_path / "console.log"), driver="esp-idf")
    dev.emit(PROMPT)
    yield dev, console
    console.close()
    dev.close()


def test_boot_gives_reset_reason_from_the_rom_line_and_the_app_version(esp):
    dev, console = esp
    mark = console.mark()
    dev.emit(rom(0xC, "RTC_SW_CPU_RST") + app_boot("2.3.2"))
    boot = console.wait_for_boot(3, since=mark)
    assert (boot.reset_reason, boot.reset_reason_raw, boot.firmware_version) == ("SOFTWARE", "RTC_SW_CPU_RST", "2.3.2")
    assert boot.banner.startswith("rst:0xc (RTC_SW_CPU_RST)")
    assert dev.typed == []  # nothing to ask: the ROM said it
    console.check_no_crash(mark, allow_reboot=True)


def test_watchdog_reset_is_an_unexpected_reboot_naming_the_rom_reason(esp):
    dev, console = esp
    mark = console.mark()
    dev.emit(rom(0x7, "TG0WDT_SYS_RST") + app_boot())
    console.expect("Calling app_main", 2)
    with pytest.raises(DutCrash, match=r"reset reason WATCHDOG \(TG0WDT_SYS_RST\)"):
        console.check_no_crash(mark, allow_reboot=True)


def test_logs_with_and_without_colour(esp):
    dev, console = esp
    mark = console.mark()
    dev.emit(log("W", 1245, "BLE_INIT", "Bluetooth MAC: 34:85:18:00:00:01"))
    dev.emit(log("I", 1300, "pm", "state connected_idle", color=False))
    dev.emit(log("E", 1301, "camera", "Camera probe failed with error 0x105(ESP_ERR_NOT_FOUND)"))
    console.expect("Camera probe failed", 2)
    recs = console.records_since(mark)
    assert [(r.level, r.module, r.uptime_s) for r in recs] == [("wrn", "BLE_INIT", 1.245), ("inf", "pm", 1.3),
                                                               ("err", "camera", 1.301)]
    assert recs[1].message == "state connected_idle"
    assert all("\x1b" not in r.text and "[0;3" not in r.text for r in recs)


def test_log_printed_after_the_prompt_is_still_a_log_line(esp):
    dev, console = esp
    mark = console.mark()
    dev.emit(log("I", 5000, "ble", "Connected"))  # linenoise does not redraw: it lands after "esp32s3> "
    console.expect("Connected", 2)
    rec = console.records_since(mark)[0]
    assert (rec.level, rec.module, rec.message) == ("inf", "ble", "Connected")


def test_guru_meditation_is_a_crash_with_its_backtrace(esp):
    dev, console = esp
    mark = console.mark()
    dev.emit(b"Guru Meditation Error: Core  0 panic'ed (LoadProhibited). Exception was unhandled.\r\n\r\n"
             b"Core  0 register dump:\r\n"
             b"PC      : 0x42008f2a  PS      : 0x00060930  A0      : 0x82009d2e  A1      : 0x3fc9a6f0  \r\n\r\n"
             b"Backtrace: 0x42008f27:0x3fc9a6f0 0x42009d2b:0x3fc9a710 0x4037a8d1:0x3fc9a740\r\n\r\n\r\n"
             b"ELF file SHA256: 3b7c3a1c8e0f7d6e\r\n\r\nRebooting...\r\n" + rom(0xC, "RTC_SW_CPU_RST") + app_boot())
    console.expect("Calling app_main", 2)
    with pytest.raises(DutCrash, match=r"esp-idf crash .*Core  0 panic'ed \(LoadProhibited\)") as e:
        console.check_no_crash(mark, allow_reboot=True)
    assert "Backtrace: 0x42008f27:0x3fc9a6f0" in str(e.value) and "Rebooting..." in str(e.value)


def test_abort_is_a_crash(esp):
    dev, console = esp
    mark = console.mark()
    dev.emit(b"\r\nabort() was called at PC 0x42012a3b on core 0\r\n\r\n"
             b"Backtrace: 0x40375d52:0x3fcebd10 0x4037c8b5:0x3fcebd30\r\n")
    console.expect("Backtrace", 2)
    with pytest.raises(DutCrash, match=r"abort\(\) was called at PC 0x42012a3b on core 0"):
        console.check_no_crash(mark)


def test_commands_and_unrecognized_command(esp):
    _dev, console = esp
    assert console.command("free", 2) == "254032"
    with pytest.raises(ShellError, match="'kernel uptime' failed: 'Unrecognized command'"):
        console.command("kernel uptime", 2)


def test_restart_then_boot(esp):
    dev, console = esp
    dev.answers["restart"] = lambda: log("I", 9000, "cmd_system_common", "Restarting") + rom(0xC, "RTC_SW_CPU_RST") \
        + app_boot("2.3.3")
    mark = console.mark()
    console.link.write(b"restart\r")
    boot = console.wait_for_boot(3, since=mark)
    assert (boot.reset_reason, boot.firmware_version) == ("SOFTWARE", "2.3.3")
