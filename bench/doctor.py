"""`bench doctor`: what is attached to this machine, and is it enough for a bench file and a plan?

Lists serial ports (with their stable /dev/serial/by-id names), VISA resources, PPK2s, BLE adapters
and sound devices; checks the report toolchain; validates a bench file and a plan. With a bench file
it also checks what that bench needs (bench/doctor_checks.py): BlueZ (bluetoothd, org.bluez on D-Bus,
the adapter powered, rfkill), that the DUT is advertising (a short scan through the bench's backend;
a reference bench is started for it), the rig's sound devices by name, and ``*IDN?`` on LAN
instruments. Each finding is one line — ok / WARN / FAIL — with its fix on the same line.
"""

from __future__ import annotations

import ctypes.util
import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from bench import _data
from bench.errors import ConfigError
from bench.plan import Marks, PlanError, load_plan, resolve_bench, resolve_suite
from bench.yamlconf import load_yaml

BY_ID = Path("/dev/serial/by-id")
# USB ids of the dev kits and instruments glassbench knows (vid, pid) → what it is
KNOWN_USB = {
    (0x1915, 0xC00A): "Nordic PPK2",
    (0x1366, 0x1015): "SEGGER J-Link (nRF52840 DK)", (0x1366, 0x1051): "SEGGER J-Link (nRF52840 DK)",
    (0x1366, 0x1061): "SEGGER J-Link (nRF DK)",
    (0x303A, 0x1001): "Espressif USB JTAG/serial (ESP32-S3)",
    (0x10C4, 0xEA60): "CP210x UART (ESP32 DevKitC)", (0x1A86, 0x7523): "CH340 UART (ESP32 DevKitC)",
    (0x1A86, 0x55D4): "CH9102 UART (ESP32 DevKitC)",
}


@dataclass
class Finding:
    level: str  # "ok", "info", "warn", "error"
    text: str
    fix: str = ""


def by_id_names() -> dict[str, str]:
    """Real device path → its /dev/serial/by-id name (stable across reboots and re-plugging)."""
    if not BY_ID.is_dir():
        return {}
    return {os.path.realpath(p): str(p) for p in sorted(BY_ID.iterdir())}


def serial_ports() -> list[Finding]:
    from serial.tools import list_ports

    names = by_id_names()
    found = []
    for port in sorted(list_ports.comports(), key=lambda p: p.device):
        if port.vid is None and not port.device.startswith(("/dev/ttyACM", "/dev/ttyUSB")):
            continue  # legacy on-board UARTs (ttyS*) are noise here
        kind = KNOWN_USB.get((port.vid, port.pid), port.description or "")
        ids = f" {port.vid:04x}:{port.pid:04x} sn={port.serial_number}" if port.vid is not None else ""
        stable = names.get(os.path.realpath(port.device))
        found.append(Finding("ok" if stable else "warn", f"{port.device}  {kind}{ids}" + (f"\n          by-id: {stable}" if stable else ""),
                             "" if stable else "no by-id name: see docs/ci.md (udev rules) for a stable SYMLINK"))
    return found or [Finding("info", "no USB serial ports (dev kits not plugged in, or no permission to see them)")]


def visa_resources() -> list[Finding]:
    try:
        import pyvisa

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pyvisa-py warns about optional discovery back-ends
            rm = pyvisa.ResourceManager("@py")
            resources = [r for r in rm.list_resources("?*") if not r.startswith(("ASRL/dev/ttyS", "PRLGX-ASRL"))]
            rm.close()
    except Exception as exc:  # pyvisa back-ends raise assorted errors when a bus is unavailable
        return [Finding("warn", f"VISA resources could not be listed: {exc}", "pip install pyvisa-py pyusb")]
    return [Finding("ok", r) for r in resources] or [
        Finding("info", "no VISA instruments found (USBTMC needs pyusb + a udev rule; LAN ones are not probed)")]


def ppk2s() -> list[Finding]:
    try:
        from ppk2_api.ppk2_api import PPK2_API

        devices = PPK2_API.list_devices()
    except Exception as exc:  # an import or enumeration failure is a finding, not a crash
        return [Finding("warn", f"PPK2 enumeration failed: {exc}", "pip install ppk2-api")]
    names = by_id_names()
    return [Finding("ok", f"PPK2 at {d}" + (f" ({names[os.path.realpath(d)]})" if os.path.realpath(d) in names else ""))
            for d in devices] or [Finding("info", "no PPK2 connected")]


def ble_adapters() -> list[Finding]:
    root = Path("/sys/class/bluetooth")
    adapters = sorted(p.name for p in root.iterdir()) if root.is_dir() else []
    found = [Finding("ok", f"{name} {(root / name / 'address').read_text().strip() if (root / name / 'address').exists() else ''}".strip())
             for name in adapters if ":" not in name]
    return found or [Finding("info", "no BLE adapter (the reference bench needs none; a lab bench does)",
                             "plug in a USB BLE dongle or use the DK's HCI firmware; check `btmgmt info`")]


def sound_devices() -> list[Finding]:
    try:
        import sounddevice

        devices = sounddevice.query_devices()
        return [Finding("ok", f"{i}: {d['name']} (in {d['max_input_channels']}, out {d['max_output_channels']})")
                for i, d in enumerate(devices)] or [Finding("info", "no sound devices")]
    except ImportError:
        cards = Path("/proc/asound/cards")
        text = cards.read_text().strip() if cards.exists() else ""
        hint = "pip install '.[hardware]' (sounddevice) to use a sound card for the acoustic rig"
        return [Finding("info", line.strip(), hint) for line in text.splitlines()[::2]] or [
            Finding("info", "no sound cards (the reference bench's acoustic rig is a socket: none needed)", hint)]
    except Exception as exc:  # PortAudio missing raises OSError
        return [Finding("warn", f"sound devices could not be listed: {exc}", "apt-get install -y libportaudio2")]


def toolchain() -> list[Finding]:
    from bench.report.html import ALLURE_BIN

    found = [Finding("ok", f"Allure 3: {ALLURE_BIN}") if ALLURE_BIN.exists()
             else Finding("error", "Allure 3 not installed (bench report cannot make HTML)", f"cd {_data.root()} && npm ci"),
             Finding("ok", f"chromium: {shutil.which('chromium')}") if shutil.which("chromium")
             else Finding("warn", "chromium missing (browser check of the report)", "apt-get install -y chromium"),
             Finding("ok", "libopus") if ctypes.util.find_library("opus")
             else Finding("error", "libopus missing (opuslib)", "apt-get install -y libopus0")]
    return found


def _strings(data: Any, path: tuple = ()) -> Iterator[tuple[tuple, str]]:
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _strings(v, path + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _strings(v, path + (i,))
    elif isinstance(data, str):
        yield path, data


def check_bench(bench_file: str | Path, visa: list[str]) -> list[Finding]:
    """Validate a bench file: with bench.config if present, then every device path and VISA address."""
    try:
        data, lines = load_yaml(bench_file)
    except ConfigError as exc:
        return [Finding("error", str(exc))]
    marks = Marks(str(bench_file), lines)
    found = [Finding("ok", f"{bench_file} parses")]
    try:
        from bench import config  # the lead's bench schema; optional here

        loader = getattr(config, "load_bench", None)
        if loader is not None:
            loader(bench_file)
            found.append(Finding("ok", f"{bench_file} matches the bench schema"))
    except ImportError:
        pass
    except Exception as exc:  # the schema's own error names file:line
        found.append(Finding("error", str(exc)))
    names = by_id_names()
    for path, value in _strings(data):
        where = marks.where(path)
        if value.startswith("/dev/"):
            dev = Path(value)
            if not dev.exists():
                found.append(Finding("error", f"{where}: {value} does not exist",
                                     f"plug the device in; pick a path from /dev/serial/by-id ({len(names)} present)"))
            elif not os.access(dev, os.R_OK | os.W_OK):
                found.append(Finding("error", f"{where}: no read/write permission on {value}",
                                     "add the runner user to group dialout / plugdev, or install the udev rules in docs/ci.md"))
            elif not value.startswith(str(BY_ID)) and value.startswith(("/dev/ttyACM", "/dev/ttyUSB")):
                found.append(Finding("warn", f"{where}: {value} may change on re-plug",
                                     f"use {names.get(os.path.realpath(value), '/dev/serial/by-id/...')}"))
        elif value.startswith(("USB", "GPIB")) and "::" in value and value not in visa:
            found.append(Finding("error", f"{where}: VISA resource {value} not found",
                                 "check the USB cable and the udev rule for USBTMC (docs/ci.md)"))
    return found


def check_plan(plan_file: str | Path) -> list[Finding]:
    try:
        plan = load_plan(plan_file)
    except PlanError as exc:
        return [Finding("error", str(exc), "fix the plan (docs/test-plans.md)")]
    found = [Finding("ok", f"plan {plan.name} ({plan.source}): {len(plan.limits_table())} limits")]
    for suite in plan.suites:
        if not resolve_suite(plan, suite).exists():
            found.append(Finding("error", f"{plan.source}: suite {suite} does not exist ({resolve_suite(plan, suite)})"))
    try:
        resolve_bench(plan)
    except ConfigError:
        found.append(Finding("warn", f"{plan.source}: bench {plan.bench} does not exist", "pass --bench FILE"))
    return found


def bench_needs(bench_file: str | Path, scan_timeout_s: float = 5.0) -> list[tuple[str, list[Finding]]]:
    """What a valid bench file needs from this host: BlueZ, the DUT on air, sound devices, LAN instruments."""
    from bench import doctor_checks as dc
    from bench.config import load_bench
    from bench.session import BenchSession

    try:
        config = load_bench(bench_file)
    except (ConfigError, ValueError):
        return []   # check_bench reported it
    ble = config.dut.ble
    sections = [("BlueZ", dc.bluez(getattr(ble, "adapter", None) or "hci0", needed=ble.backend == "default",
                                   why="" if ble.backend == "default" else "this bench uses Bumble: not needed")),
                ("sound devices by name", dc.sound_devices_named(config.rig))]
    try:
        session = BenchSession(config, out_dir=Path(config.out_dir) / "doctor").start()
    except Exception as exc:  # noqa: BLE001 - a reference bench that does not start is a finding
        return sections + [("DUT", [Finding("error", f"the bench did not start: {exc}", "run `bench reference` by hand "
                                                                                       "to see why")])]
    try:
        resources = [session.endpoint(config.power.resource, "scpi")] if config.power and config.power.kind == "visa" \
            else []
        bluez_down = ble.backend == "default" and any(f.level == "error" for f in sections[0][1])
        advertising = [Finding("error", "DUT not scanned for: BlueZ is unavailable (see BlueZ above)")] if bluez_down \
            else dc.dut_advertising(session, scan_timeout_s)
        sections += [("DUT advertising", advertising),
                     ("LAN instruments", dc.lan_instruments([r for r in resources if r]))]
    finally:
        session.close()
    return sections


MARKS = {"ok": "ok  ", "info": "-   ", "warn": "WARN", "error": "FAIL"}


def format_finding(f: Finding) -> str:
    """One line: mark, text, and the fix on the same line."""
    text = " ".join(f.text.split())
    return f"  {MARKS[f.level]} {text}" + (f"  (fix: {f.fix})" if f.fix else "")


def doctor_main(bench_file: str | Path | None = None, plan_file: str | Path | None = None) -> int:
    """Print the inventory and checks; 1 if anything needed by the bench file or plan is missing."""
    from bench import doctor_checks as dc

    visa = visa_resources()
    sections = [("serial ports", serial_ports()), ("VISA resources", visa), ("PPK2", ppk2s()),
                ("BLE adapters", ble_adapters()), ("sound devices", sound_devices()), ("toolchain", toolchain())]
    if bench_file is None:
        sections.append(("BlueZ", dc.bluez(needed=False, why="needed by benches with dut.ble.backend: default")))
    else:
        sections.append((f"bench file {bench_file}", check_bench(bench_file, [f.text for f in visa if f.level == "ok"])))
        sections += bench_needs(bench_file)
    if plan_file is not None:
        sections.append((f"plan {plan_file}", check_plan(plan_file)))
    errors = 0
    for title, findings in sections:
        print(f"{title}:")
        for f in findings:
            print(format_finding(f))
            errors += f.level == "error"
    print(f"doctor: {errors} problem(s)" if errors else "doctor: nothing missing")
    return 1 if errors else 0
