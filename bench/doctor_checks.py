"""`bench doctor`'s checks of what a bench file needs from this host: BlueZ, the DUT on air, sound, LAN instruments.

Each check returns :class:`~bench.doctor.Finding` lines (ok / warn / error with a fix). The parts
that depend on the machine — the D-Bus system bus, /proc, /sys/class/rfkill, PortAudio — are
passed in, so unit tests feed fakes and a host without BlueZ gets a clear finding, never a crash.
The DUT scan and the ``*IDN?`` probes go through the harness's own code (BleLink, pyvisa) and run
for real against the reference bench.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from bench.doctor import Finding

SYSTEM_BUS = "unix:path=/run/dbus/system_bus_socket"
BLUEZ_FIX = "apt-get install -y bluez dbus && systemctl enable --now bluetooth (a container needs the host's " \
            "/run/dbus mounted and --net=host)"


@dataclass
class BluezState:
    """What D-Bus says about BlueZ: reachable at all, org.bluez owned, adapters and their Powered flag."""

    bus_error: str = ""
    bluez_owned: bool = False
    adapters: dict[str, bool] = field(default_factory=dict)


async def _query_bluez(timeout_s: float) -> BluezState:
    from dbus_fast import BusType, Message
    from dbus_fast.aio import MessageBus

    address = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS", SYSTEM_BUS)
    try:
        bus = await asyncio.wait_for(MessageBus(bus_address=address, bus_type=BusType.SYSTEM).connect(), timeout_s)
    except (OSError, asyncio.TimeoutError, Exception) as exc:  # noqa: BLE001 - any failure to connect is the finding
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return BluezState(bus_error=f"{address.removeprefix('unix:path=')}: {detail}")
    try:
        reply = await asyncio.wait_for(bus.call(Message(
            destination="org.freedesktop.DBus", path="/org/freedesktop/DBus", interface="org.freedesktop.DBus",
            member="NameHasOwner", signature="s", body=["org.bluez"])), timeout_s)
        state = BluezState(bluez_owned=bool(reply and reply.body and reply.body[0]))
        if state.bluez_owned:
            objects = await asyncio.wait_for(bus.call(Message(
                destination="org.bluez", path="/", interface="org.freedesktop.DBus.ObjectManager",
                member="GetManagedObjects")), timeout_s)
            for path, interfaces in (objects.body[0] if objects and objects.body else {}).items():
                adapter = interfaces.get("org.bluez.Adapter1")
                if adapter is not None:
                    powered = adapter.get("Powered")
                    state.adapters[path.rsplit("/", 1)[-1]] = bool(getattr(powered, "value", powered))
        return state
    finally:
        bus.disconnect()


def query_bluez(timeout_s: float = 2.0) -> BluezState:
    """Ask the system bus about BlueZ (its own short-lived event loop; every call has a timeout)."""
    try:
        return asyncio.run(_query_bluez(timeout_s))
    except ImportError as exc:
        return BluezState(bus_error=f"dbus-fast missing ({exc})")


def daemon_running(proc: Path = Path("/proc"), name: str = "bluetoothd") -> bool:
    """True when a process called ``name`` runs (read from /proc/<pid>/comm)."""
    for comm in proc.glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == name:
                return True
        except OSError:
            continue
    return False


def rfkill_blocks(root: Path = Path("/sys/class/rfkill")) -> list[Finding]:
    """One finding per Bluetooth radio switch: soft/hard blocked or not."""
    def read_in(dev: Path, name: str) -> str:
        try:
            return (dev / name).read_text().strip()
        except OSError:
            return ""

    found = []
    for dev in sorted(root.glob("rfkill*")) if root.is_dir() else []:
        def read(name: str, dev: Path = dev) -> str:
            return read_in(dev, name)
        if read("type") != "bluetooth":
            continue
        label = f"rfkill {dev.name} ({read('name') or '?'})"
        if read("hard") == "1":
            found.append(Finding("error", f"{label} hard-blocked", "a hardware switch or the BIOS/firmware disables "
                                                                     "the radio: switch it on"))
        elif read("soft") == "1":
            found.append(Finding("error", f"{label} soft-blocked", "rfkill unblock bluetooth"))
        else:
            found.append(Finding("ok", f"{label} not blocked"))
    return found or [Finding("info", f"no Bluetooth rfkill switch under {root} (no adapter, or a container)")]


def bluez(adapter: str = "hci0", *, needed: bool = True, why: str = "", proc: Path = Path("/proc"),
          rfkill: Path = Path("/sys/class/rfkill"), query: Callable[[], BluezState] = query_bluez) -> list[Finding]:
    """BlueZ for bleak's default backend: bluetoothd, org.bluez on D-Bus, ``adapter`` powered, rfkill.

    ``needed`` False (a Bumble bench, or no bench file) turns failures into warnings; ``why`` says so.
    """
    bad = "error" if needed else "warn"
    why = f" ({why})" if why else ""
    found = [Finding("ok", "bluetoothd running") if daemon_running(proc) else
             Finding(bad, f"bluetoothd is not running{why}", BLUEZ_FIX)]
    state = query()
    if state.bus_error:
        found.append(Finding(bad, f"D-Bus system bus not reachable: {state.bus_error}{why}", BLUEZ_FIX))
    elif not state.bluez_owned:
        found.append(Finding(bad, f"org.bluez is not on the system bus{why}", "systemctl start bluetooth"))
    elif adapter not in state.adapters:
        known = ", ".join(sorted(state.adapters)) or "none"
        found.append(Finding(bad, f"BlueZ has no adapter {adapter} (has: {known}){why}",
                             "plug in the adapter, or set dut.ble.adapter in the bench file to one of those"))
    elif not state.adapters[adapter]:
        found.append(Finding(bad, f"adapter {adapter} is powered off{why}", f"bluetoothctl power on (or btmgmt --index "
                                                                           f"{adapter.removeprefix('hci')} power on)"))
    else:
        found.append(Finding("ok", f"BlueZ adapter {adapter} powered"))
    return found + [f if needed or f.level != "error" else Finding("warn", f.text + why, f.fix)
                    for f in rfkill_blocks(rfkill)]


def sound_devices_named(rig: Any, query: Callable[[], Any] | None = None) -> list[Finding]:
    """The rig's ``input_device``/``output_device`` names against PortAudio's devices (case-insensitive substring)."""
    if rig is None or getattr(rig, "kind", None) != "sounddevice":
        return [Finding("info", "no sound-card rig in this bench file")]
    try:
        if query is None:
            import sounddevice
            query = sounddevice.query_devices
        devices = list(query())
    except ImportError:
        return [Finding("error", "sounddevice is not installed", "pip install '.[hardware]'")]
    except OSError as exc:   # PortAudio missing
        return [Finding("error", f"PortAudio unavailable: {exc}", "apt-get install -y libportaudio2")]
    found = []
    for role, name, channels in (("input", rig.input_device, "max_input_channels"),
                                 ("output", rig.output_device, "max_output_channels")):
        if not name:
            found.append(Finding("warn", f"rig.{role}_device not set: the system default will be used",
                                 "name the audio interface in the bench file (python -m sounddevice lists them)"))
            continue
        hits = [d["name"] for d in devices if name.lower() in str(d["name"]).lower() and d.get(channels, 0) > 0]
        listed = ", ".join(sorted({str(d["name"]) for d in devices if d.get(channels, 0) > 0})) or "none"
        if not hits:
            found.append(Finding("error", f"rig.{role}_device {name!r}: no {role} device by that name (have: {listed})",
                                 "plug the interface in, or fix the name in the bench file"))
        elif len(set(hits)) > 1:
            found.append(Finding("warn", f"rig.{role}_device {name!r} matches several devices: {', '.join(hits)}",
                                 "use a longer, unique part of the name"))
        else:
            found.append(Finding("ok", f"rig.{role}_device {name!r} → {hits[0]}"))
    return found


def lan_instruments(resources: list[str], timeout_s: float = 2.0, visa_library: str = "@py") -> list[Finding]:
    """``*IDN?`` on each TCPIP resource and the driver it selects (nothing else is sent)."""
    import pyvisa
    from pyvisa import errors as visa_errors

    from bench.instruments.base import InstrumentError, driver_for

    found = []
    for resource in resources:
        if not resource.upper().startswith("TCPIP"):
            continue
        try:
            rm = pyvisa.ResourceManager(visa_library)
            res = rm.open_resource(resource, read_termination="\n", write_termination="\n",
                                   timeout=int(timeout_s * 1000))
            try:
                idn = res.query("*IDN?").strip()  # type: ignore[attr-defined]  # message-based resource
            finally:
                res.close()
        except (visa_errors.Error, OSError, ValueError) as exc:
            found.append(Finding("error", f"{resource}: no *IDN? reply within {timeout_s:g} s ({type(exc).__name__})",
                                 "check the address and port (raw SCPI socket: 5025; VXI-11: ::INSTR), ping it, "
                                 "and that no other program holds the instrument"))
            continue
        try:
            found.append(Finding("ok", f"{resource}: {idn} → driver {driver_for(idn, resource).model}"))
        except InstrumentError as exc:
            found.append(Finding("warn", f"{resource}: {exc}", "see docs/power.md for the supported models"))
    return found or [Finding("info", "no LAN instruments in this bench file")]


def ble_link(session: Any) -> Any:
    """The DUT's BleLink as the harness builds it (backend, endpoints), without opening its console."""
    from bench.links.ble import BleLink

    cfg = session.config.dut.ble
    backend = scan_backend = None
    kwargs: dict[str, Any] = {}
    if cfg.backend == "bumble":
        from bench.links.bumble_backend import BumbleClient, BumbleScanner

        backend, scan_backend = BumbleClient, BumbleScanner
        kwargs["bumble"] = {"hci": session.endpoint(cfg.hci, "hci"), "mtu": cfg.mtu}
    elif getattr(cfg, "adapter", None):
        kwargs["adapter"] = cfg.adapter
    return BleLink(name=session.endpoint(cfg.name, "name"), address=session.endpoint(cfg.address, "address"),
                   backend=backend, scan_backend=scan_backend, backend_kwargs=kwargs, scan_timeout_s=cfg.scan_timeout_s)


def dut_advertising(session: Any, timeout_s: float = 5.0) -> list[Finding]:
    """A short scan for the DUT by name or address through the bench's own BLE backend."""
    try:
        ble = ble_link(session)
    except Exception as exc:  # noqa: BLE001 - a bench that cannot even build its link is the finding
        return [Finding("error", f"cannot set up the BLE link: {exc}", "fix dut.ble in the bench file")]
    ble.scan_timeout_s = min(ble.scan_timeout_s, timeout_s)
    who = ble.address or ble.name
    try:
        device = session.loop.run(ble.find(), ble.scan_timeout_s + 5.0, "doctor scan")
    except Exception as exc:  # noqa: BLE001 - no adapter, no BlueZ, nothing on air: all findings, none a crash
        text = str(exc).split(": ", 1)[-1] if "not seen" in str(exc) else f"{type(exc).__name__}: {exc}"
        return [Finding("error", f"DUT {who!r} not found: {text}",
                        "power the DUT, make sure no phone holds a connection to it (it stops advertising), "
                        "check dut.ble.name/address in the bench file")]
    return [Finding("ok", f"DUT {who!r} advertising as {device.name!r} ({device.address})")]
