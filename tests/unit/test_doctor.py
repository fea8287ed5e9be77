"""bench doctor: bench files and plans are checked, problems name file:line and the fix."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from bench.config import load_bench
from bench.doctor import Finding, check_bench, check_plan, doctor_main, format_finding
from bench.doctor_checks import BluezState, bluez, dut_advertising, lan_instruments, sound_devices_named
from bench.reference.power_model import PowerTimeline
from bench.reference.scpi_server import ScpiServer
from bench.session import BenchSession


def test_bench_file_device_paths_checked_with_line(tmp_path):
    """A bench file in the real schema: a present pty passes, a missing port and VISA address do not."""
    master, slave = os.openpty()
    try:
        bench = tmp_path / "bench.yaml"
        bench.write_text(
            "name: lab-1\n"
            "dut:\n  board: nrf52840dk\n  sku: audio\n"
            f"  console:\n    port: {os.ttyname(slave)}\n"
            "  ble:\n    backend: default\n    name: GB-1\n"
            "power:\n  kind: n6705c\n  resource: USB0::0x2A8D::0x0102::MY1::INSTR\n"
            "other:\n  port: /dev/ttyACM97\n")
        findings = check_bench(bench, visa=[])
    finally:
        os.close(master)
        os.close(slave)
    errors = [f.text for f in findings if f.level == "error"]
    device_errors = [e for e in errors if "does not exist" in e or "not found" in e]
    assert device_errors == [f"{bench}:12: VISA resource USB0::0x2A8D::0x0102::MY1::INSTR not found",
                             f"{bench}:14: /dev/ttyACM97 does not exist"]
    assert all(f.fix for f in findings if f.text in device_errors)


def test_bench_file_yaml_error(tmp_path):
    bench = tmp_path / "bench.yaml"
    bench.write_text("dut: [unclosed\n")
    (finding,) = check_bench(bench, visa=[])
    assert finding.level == "error" and f"{bench}:2" in finding.text


def test_plan_check(tmp_path):
    assert check_plan("smoke")[0].level == "ok"
    bad = tmp_path / "p.yaml"
    bad.write_text("name: p\nsuites: [tests]\nlimits:\n  connect_time_s: {low: 2, high: 1}\n")
    (finding,) = check_plan(bad)
    assert finding.level == "error" and f"{bad}:4" in finding.text and "inverted" in finding.text


def test_doctor_main_exit_code(tmp_path, capsys):
    bench = tmp_path / "bench.yaml"
    bench.write_text("console: /dev/ttyACM98\n")
    assert doctor_main(bench, None) == 1
    out = capsys.readouterr().out
    assert "serial ports:" in out and "VISA resources:" in out and "FAIL" in out and "(fix: " in out


# -- what a bench needs from the host (bench/doctor_checks.py) ----------------------------------------

def _fake_proc(tmp_path, *names):
    proc = tmp_path / "proc"
    for pid, name in enumerate(names, start=100):
        (proc / str(pid)).mkdir(parents=True)
        (proc / str(pid) / "comm").write_text(name + "\n")
    return proc


def _rfkill(tmp_path, soft="0", hard="0", kind="bluetooth"):
    dev = tmp_path / "rfkill" / "rfkill0"
    dev.mkdir(parents=True)
    for name, value in (("type", kind), ("soft", soft), ("hard", hard), ("name", "hci0")):
        (dev / name).write_text(value + "\n")
    return dev.parent


def test_bluez_healthy_host(tmp_path):
    findings = bluez("hci0", proc=_fake_proc(tmp_path, "bash", "bluetoothd"), rfkill=_rfkill(tmp_path),
                     query=lambda: BluezState(bluez_owned=True, adapters={"hci0": True}))
    assert [f.level for f in findings] == ["ok", "ok", "ok"]
    assert "hci0 powered" in findings[1].text


@pytest.mark.parametrize("state, soft, text, fix", [
    (BluezState(bluez_owned=True, adapters={"hci0": False}), "0", "hci0 is powered off", "power on"),
    (BluezState(bluez_owned=True, adapters={"hci1": True}), "0", "no adapter hci0 (has: hci1)", "dut.ble.adapter"),
    (BluezState(bluez_owned=False), "0", "org.bluez is not on the system bus", "systemctl start bluetooth"),
    (BluezState(bluez_owned=True, adapters={"hci0": True}), "1", "soft-blocked", "rfkill unblock bluetooth"),
])
def test_bluez_problems_come_with_their_fix(tmp_path, state, soft, text, fix):
    findings = bluez("hci0", proc=_fake_proc(tmp_path, "bluetoothd"), rfkill=_rfkill(tmp_path, soft=soft),
                     query=lambda: state)
    (bad,) = [f for f in findings if f.level == "error"]
    assert text in bad.text and fix in bad.fix


def test_bluez_not_needed_by_a_bumble_bench_only_warns(tmp_path):
    findings = bluez(proc=_fake_proc(tmp_path), rfkill=tmp_path / "none", needed=False, why="Bumble bench",
                     query=lambda: BluezState(bus_error="/run/dbus/system_bus_socket: FileNotFoundError"))
    assert [f.level for f in findings] == ["warn", "warn", "info"] and "(Bumble bench)" in findings[0].text


def test_bluez_on_this_host_is_a_finding_not_a_crash():
    """The real D-Bus query: on a host without a system bus it says where it looked."""
    findings = bluez(needed=True)
    assert findings and all(f.level in ("ok", "info", "warn", "error") for f in findings)
    if not Path("/run/dbus/system_bus_socket").exists() and "DBUS_SYSTEM_BUS_ADDRESS" not in os.environ:
        assert any("system_bus_socket" in f.text and f.level == "error" for f in findings)


def test_sound_devices_by_name():
    devices = [{"name": "Scarlett 2i2 USB: Audio (hw:1,0)", "max_input_channels": 2, "max_output_channels": 2},
               {"name": "HDA Intel PCH: ALC3246 Analog", "max_input_channels": 2, "max_output_channels": 0}]
    rig = SimpleNamespace(kind="sounddevice", input_device="scarlett", output_device="ALC3246")
    ok, bad = sound_devices_named(rig, lambda: devices)
    assert ok.level == "ok" and "Scarlett 2i2" in ok.text
    assert bad.level == "error" and "no output device" in bad.text and "Scarlett 2i2 USB" in bad.text
    assert sound_devices_named(SimpleNamespace(kind="reference"))[0].level == "info"


def test_lan_instruments_idn_against_the_simulated_analyzer():
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = ScpiServer(PowerTimeline("nrf52840dk", "audio"), model="k2281s")
    try:
        asyncio.run_coroutine_threadsafe(server.start(), loop).result(5)
        dead = "TCPIP0::127.0.0.1::9::SOCKET"
        ok, bad = lan_instruments([server.resource, dead, "/dev/ttyACM0"], timeout_s=0.5)
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
    assert ok.level == "ok" and "2281S" in ok.text and "driver Keithley" in ok.text
    assert bad.level == "error" and dead in bad.text and "5025" in bad.fix
    assert server.log == ["*IDN?"]                     # doctor asks, it changes nothing


def test_dut_advertising_scans_through_the_benchs_backend(tmp_path):
    config = load_bench("reference")
    with BenchSession(config, out_dir=tmp_path) as session:
        (seen,) = dut_advertising(session, timeout_s=5)
        ble = config.dut.ble.model_copy(update={"name": "GB-Nobody-0000", "scan_timeout_s": 0.5})
        session.config = config.model_copy(update={"dut": config.dut.model_copy(update={"ble": ble})})
        (missing,) = dut_advertising(session)
    assert seen.level == "ok" and "advertising as 'GB-" in seen.text
    assert missing.level == "error" and "GB-Nobody-0000" in missing.text and missing.fix


def test_each_finding_prints_on_one_line():
    line = format_finding(Finding("error", "adapter hci0\n is powered off", "bluetoothctl power on"))
    assert line == "  FAIL adapter hci0 is powered off  (fix: bluetoothctl power on)"
