"""The Zephyr console through a pty, fed byte-exact output built from Zephyr's format strings.

subsys/logging/log_output.c: ``"[%02u:%02u:%02u.%03u,%03u] "``, the level colour (``ESC[1;31m``
err, ``ESC[1;33m`` wrn, ``ESC[0m`` otherwise), ``"<%s> "``, ``"%s: "``, the message, ``ESC[0m``,
``"\\r\\n"``. subsys/shell: the prompt in SHELL_INFO green (``ESC[1;32m`` ... ``ESC[m``), the log
backend's z_shell_cmd_line_erase (``ESC[<n>D ESC[J``) before a log line and the prompt redrawn after
it, ``"%s: command not found"`` in red. kernel/fatal.c: ``">>> ZEPHYR FATAL ERROR %d: %s on CPU %d"``.
"""

from __future__ import annotations

import time

import pytest
from pty_device import PtyDevice

from bench.dut import ansi
from bench.dut.console import Console, parse_line
from bench.errors import DutCrash, DutTimeout, ShellError
from bench.links.serial import SerialLink

PROMPT = b"\x1b[1;32muart:~$ \x1b[m"
ERASE = b"\x1b[8D\x1b[J"  # cursor back over the 8-column prompt, clear to end of screen


def log(stamp: str, level: str, module: str, msg: str) -> bytes:
    color = {"err": "\x1b[1;31m", "wrn": "\x1b[1;33m"}.get(level, "\x1b[0m")
    return f"[{stamp}] {color}<{level}> {module}: {msg}\x1b[0m\r\n".encode()


def redrawn(line: bytes) -> bytes:
    """A log line as the shell log backend prints it while the prompt is shown."""
    return ERASE + line + PROMPT


def not_found(cmd: str) -> bytes:
    return f"\x1b[1;31m{cmd.split()[0]}: command not found\r\n\x1b[m".encode()  # argv[0] only


@pytest.fixture
def zephyr(tmp_path):
    dev = PtyDevice(PROMPT, not_found, {
        "kernel uptime": b"Uptime: 1234 ms\r\n",
        "kernel version": b"Zephyr version 3.5.99\r\n",
        "hwinfo reset_cause": b"reset caused by:\r\n- software\r\n",
        "hwinfo reset_cause clear": b"",
    })
    console = Console(SerialLink(dev.path, log_path=tmp_path / "console.log"), driver="zephyr")
    dev.emit(PROMPT)
    yield dev, console, tmp_path / "console.log"
    console.close()
    dev.close()


def settle(console: Console, n: int, timeout_s: float = 2.0) -> None:
    deadline = time.monotonic() + timeout_s
    while console.mark() < n and time.monotonic() < deadline:
        time.sleep(0.01)


def test_render_applies_cursor_moves_erases_and_drops_colours():
    assert ansi.render("\x1b[1;32muart:~$ \x1b[m\x1b[8D\x1b[J[00:00:01.000,000] \x1b[0m<inf> a: b\x1b[0m") \
        == "[00:00:01.000,000] <inf> a: b"
    assert ansi.render("\x1b]0;title\x07\x1b[2Kok\x1b(B") == "ok"
    assert ansi.render("abc\bX") == "abX"
    assert ansi.render("uart:~$ kernel up\x1b[17D\x1b[J") == ""


def test_parse_zephyr_log_line():
    rec = parse_line("[00:01:02.345,678] <wrn> ble: Disconnected (reason 0x13)", 5.0)
    assert rec.uptime_s == pytest.approx(62.345678)
    assert (rec.level, rec.module, rec.message) == ("wrn", "ble", "Disconnected (reason 0x13)")
    assert parse_line("E: r0/a1:  0x00000000").level == "err"  # CONFIG_LOG_MODE_MINIMAL
    assert parse_line("uart:~$ version").uptime_s is None


def test_coloured_log_lines_redrawn_around_the_prompt_are_parsed(zephyr):
    dev, console, _log = zephyr
    mark = console.mark()
    dev.emit(redrawn(log("00:00:01.234,567", "wrn", "ble", "Disconnected (reason 0x13)")))
    dev.emit(redrawn(log("00:00:01.300,000", "inf", "pm", "state advertising")))
    settle(console, mark + 2)
    recs = console.records_since(mark)
    assert [(r.level, r.module, r.message) for r in recs] == [
        ("wrn", "ble", "Disconnected (reason 0x13)"), ("inf", "pm", "state advertising")]
    assert recs[0].uptime_s == pytest.approx(1.234567)
    assert all("[1;" not in r.text and "\x1b" not in r.text for r in recs)


def test_command_output_has_no_colour_residue_and_no_log_lines(zephyr):
    dev, console, _log = zephyr
    dev.answers["version"] = log("00:00:01.000,000", "inf", "main", "interleaved") + b"Glasses firmware v9.9.9\r\n"
    assert console.command("kernel uptime", 2) == "Uptime: 1234 ms"
    assert console.command("version", 2) == "Glasses firmware v9.9.9"


def test_command_not_found_raises_shell_error_with_command_and_answer(zephyr):
    _dev, console, _log = zephyr
    with pytest.raises(ShellError, match=r"'glp reset' failed: 'glp: command not found'") as e:
        console.command("glp reset", 2)
    assert (e.value.command, e.value.answer) == ("glp reset", "glp: command not found")


def test_a_log_line_while_typing_is_redrawn_and_the_command_still_answers(zephyr):
    dev, console, _log = zephyr

    def log_after_three_chars(line: bytes) -> bytes:
        if len(line) != 3:
            return b""
        # the log backend erases prompt and half-typed command, prints its line, redraws both
        return b"\x1b[11D\x1b[J" + log("00:00:02.000,000", "inf", "ble", "MTU 247") + PROMPT + line
    dev.on_char = log_after_three_chars
    mark = console.mark()
    assert console.command("kernel version", 2) == "Zephyr version 3.5.99"
    assert [r.message for r in console.records_since(mark) if r.level] == ["MTU 247"]


def test_boot_banner_then_reset_reason_from_hwinfo(zephyr):
    dev, console, _log = zephyr
    dev.answers["hwinfo reset_cause"] = b"reset caused by:\r\n- watchdog\r\n"
    mark = console.mark()
    dev.emit(b"*** Booting nRF Connect SDK v2.6.1 ***\r\n*** Using Zephyr OS v3.5.99-ncs1 ***\r\n" + PROMPT
             + redrawn(log("00:00:00.001,000", "inf", "main", "Ready")))
    boot = console.wait_for_boot(3, since=mark)
    assert boot.banner == "*** Booting nRF Connect SDK v2.6.1 ***"
    assert (boot.reset_reason, boot.reset_reason_raw) == ("WATCHDOG", "watchdog")
    assert dev.typed[-2:] == ["hwinfo reset_cause", "hwinfo reset_cause clear"]  # nRF RESETREAS accumulates
    with pytest.raises(DutCrash, match="DUT reboot during the test: reset reason WATCHDOG"):
        console.check_no_crash(mark, allow_reboot=True)


def test_requested_reboot_is_allowed_an_unrequested_one_is_reported(zephyr):
    dev, console, _log = zephyr
    mark = console.mark()
    dev.emit(b"*** Booting Zephyr OS build v3.7.0 ***\r\n" + PROMPT)
    assert console.wait_for_boot(3, since=mark).reset_reason == "SOFTWARE"
    console.check_no_crash(mark, allow_reboot=True)
    with pytest.raises(DutCrash, match=r"\(not requested\): reset reason SOFTWARE"):
        console.check_no_crash(mark)


def test_unexpected_reboot_found_after_the_test_asks_for_the_reason(zephyr):
    dev, console, _log = zephyr
    dev.answers["hwinfo reset_cause"] = b"reset caused by:\r\n- pin\r\n- brownout\r\n"
    mark = console.mark()
    dev.emit(b"*** Booting Zephyr OS build v3.7.0 ***\r\n" + PROMPT)
    settle(console, mark + 1)
    with pytest.raises(DutCrash, match="reset reason PIN,BROWNOUT"):
        console.check_no_crash(mark)


def test_mcuboot_then_the_application_is_one_boot(zephyr):
    dev, console, _log = zephyr
    mcuboot = (b"*** Booting MCUboot v2.1.0 ***\r\n*** Using Zephyr OS build v3.7.0 ***\r\nI: Starting bootloader\r\n"
               b"I: Image index: 0, Swap type: none\r\nI: Jumping to the first image slot\r\n")
    mark = console.mark()
    dev.emit(mcuboot + b"*** Booting Zephyr OS build v3.7.0 ***\r\n" + PROMPT)
    boot = console.wait_for_boot(3, since=mark)
    assert boot.banner == "*** Booting MCUboot v2.1.0 ***" and boot.reset_reason == "SOFTWARE"
    second = console.mark()
    dev.emit(mcuboot + b"*** Booting Zephyr OS build v3.7.0 ***\r\n" + PROMPT)
    console.wait_for_boot(3, since=second)
    texts = [r.text for r in console.records_since(mark)]
    assert [texts[i] for i in console.driver.boot_starts(texts)] == ["*** Booting MCUboot v2.1.0 ***"] * 2
    console.check_no_crash(mark, allow_reboot=True)  # two requested software resets


def test_fatal_error_dump_is_a_crash_with_its_registers(zephyr):
    dev, console, _log = zephyr
    mark = console.mark()
    for text in ("***** MPU FAULT *****", "  Data Access Violation", "r0/a1:  0x00000000  r1/a2:  0x20003a10",
                 "Faulting instruction address (r15/pc): 0x0002c5f4",
                 ">>> ZEPHYR FATAL ERROR 19: Unknown error on CPU 0", "Current thread: 0x20001c48 (glp_rx)"):
        dev.emit(b"E: " + text.encode() + b"\r\n")  # CONFIG_LOG_MODE_MINIMAL, as in a panic
    console.expect("Current thread", 2)
    with pytest.raises(DutCrash, match=r"zephyr crash on console .*: 19") as e:
        console.check_no_crash(mark)
    assert "r0/a1:  0x00000000" in str(e.value) and "MPU FAULT" in str(e.value)


def test_garbage_is_ignored_by_expect_and_kept_in_the_log(zephyr):
    dev, console, log_path = zephyr
    dev.emit(bytes(range(128, 256)) + b"\x00\x07 noise \x1b\r\n")
    dev.emit(redrawn(log("00:00:02.000,000", "inf", "ble", "Advertising")))
    m = console.expect(r"<inf> ble: (\w+)", 2)
    assert m.group(1) == "Advertising"
    deadline = time.monotonic() + 2
    while bytes(range(128, 256)) not in log_path.read_bytes() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert bytes(range(128, 256)) in log_path.read_bytes()


def test_expect_times_out_with_what_it_saw(zephyr):
    dev, console, _log = zephyr
    dev.emit(b"something else\r\n")
    with pytest.raises(DutTimeout, match="something else"):
        console.expect("never", 0.3)


def test_missing_port_is_a_clear_error():
    with pytest.raises(ConnectionError, match="/dev/does-not-exist"):
        SerialLink("/dev/does-not-exist")


def test_power_drive_returns_once_the_firmware_reports_the_state(zephyr):
    """The phone sees its disconnect before the firmware logs its own move to sleep (0.5 ms later on the
    reference glasses): a capture started in between began in connected_idle (a busy make test)."""
    import threading
    from types import SimpleNamespace

    from bench.power import drive
    from bench.power.capture import console_state_events
    dev, console, _ = zephyr
    dev.emit(redrawn(log("00:00:01.000,000", "inf", "pm", "state connected_idle")))
    settle(console, 1)

    class Control:
        states = frozenset({"sleep"})

        def enter(self, state):  # returns at the disconnect; the firmware's line comes later
            threading.Timer(0.2, dev.emit, [redrawn(log("00:00:01.300,000", "inf", "pm", "state sleep"))]).start()
    dut = SimpleNamespace(console=console, need=lambda _name: Control(), profile=SimpleNamespace(name="t"))
    drive.to_sleep(dut)
    assert console_state_events(console.records)[-1][1] == "sleep"
    with pytest.raises(DutTimeout, match="did not report power state 'advertising'"):
        drive.reported(dut, "advertising", timeout_s=0.3)  # it reports states, but not this one


def test_power_drive_does_not_wait_on_firmware_that_reports_no_states(zephyr):
    from types import SimpleNamespace

    from bench.power import drive
    dev, console, _ = zephyr
    dev.emit(redrawn(log("00:00:01.000,000", "inf", "ble", "Disconnected (reason 0x13)")))
    settle(console, 1)
    t0 = time.monotonic()
    drive.reported(SimpleNamespace(console=console), "sleep", timeout_s=30)
    assert time.monotonic() - t0 < 10  # returned without waiting for a line this firmware never prints
