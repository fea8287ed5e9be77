"""Connection parameters and PHY: what the bench asks for, what each backend can apply, what the link runs.

The phone side (central) chooses the connection interval, peripheral latency, supervision timeout
and PHY. Whether the harness can choose them depends on the backend:

* Bumble (``backend: bumble``, the reference bench): LE Connection Update and LE Set PHY after
  connecting; the controller reports the parameters it runs, so they are read back, not assumed.
* bleak on BlueZ: bleak has no API for either. The kernel takes the interval, latency and supervision
  timeout of *new* connections from debugfs (``/sys/kernel/debug/bluetooth/hciN/conn_min_interval``
  etc., root only); the PHY is the kernel's choice. What runs is not reported over D-Bus: "unknown".
* bleak elsewhere (macOS, Windows): nothing can be set or read.

What cannot be applied either refuses the run (``dut.ble.unapplied: refuse``, the default) or is
recorded as not applied (``record``): never silently ignored.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

from bench.errors import ConfigError

DEBUGFS = Path("/sys/kernel/debug/bluetooth")
# debugfs file → (LinkRequest field, HCI unit in seconds); the kernel validates min ≤ max itself
_DEBUGFS_FILES = {"conn_latency": ("latency", None), "supervision_timeout": ("supervision_timeout_s", 10e-3)}


@dataclasses.dataclass(frozen=True)
class LinkRequest:
    """Parameters the bench wants on the DUT's connection (None: the stacks' defaults)."""

    interval_s: float | None = None
    latency: int | None = None
    supervision_timeout_s: float | None = None
    phy: str | None = None
    mtu: int | None = None
    # radio-model settings: only the reference bench's virtual radio can apply them
    data_length: int | None = None
    per: float | None = None
    jitter_s: float | None = None

    def asked(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


@dataclasses.dataclass
class LinkState:
    """What the connection runs, where that came from, and what was asked but not applied (with why)."""

    interval_s: float | None = None
    latency: int | None = None
    supervision_timeout_s: float | None = None
    phy: str | None = None
    mtu: int | None = None
    source: str = "unknown"  # "controller" (read back from HCI events) or "unknown"
    not_applied: dict[str, str] = dataclasses.field(default_factory=dict)

    def environment(self) -> dict[str, str]:
        """``link.*`` properties for the report environment."""
        props = {"link.source": self.source}
        for key, value in (("interval_ms", self.interval_s and self.interval_s * 1000), ("latency", self.latency),
                           ("supervision_timeout_ms", self.supervision_timeout_s and self.supervision_timeout_s * 1000),
                           ("phy", self.phy), ("mtu", self.mtu)):
            props[f"link.{key}"] = "unknown" if value is None else f"{value:g}" if isinstance(value, float) else str(value)
        for key, why in sorted(self.not_applied.items()):
            props[f"link.not_applied.{key}"] = why
        return props


def unsupported(request: LinkRequest, backend: str, *, reference: bool, adapter: str | None = None,
                debugfs: Path = DEBUGFS, platform: str = sys.platform) -> dict[str, str]:
    """Field → reason, for every requested field this backend cannot apply (checked before connecting)."""
    asked = request.asked()
    out: dict[str, str] = {}
    if not reference:
        for key in ("data_length", "per", "jitter_s"):
            if key in asked:
                out[key] = "a virtual-radio setting: only the reference bench applies it"
    if backend == "bumble":
        return out
    conn_keys = [k for k in ("interval_s", "latency", "supervision_timeout_s") if k in asked]
    if platform.startswith("linux"):
        folder = debugfs / (adapter or "hci0")
        if conn_keys and not _writable(folder / "conn_min_interval"):
            why = f"bleak on BlueZ cannot set it; the kernel's {folder}/conn_*_interval needs root"
            out.update({k: why for k in conn_keys})
        if "phy" in asked:
            out["phy"] = "bleak on BlueZ cannot set the PHY (the kernel chooses it)"
        if "mtu" in asked:
            out["mtu"] = "BlueZ negotiates the MTU itself (ExchangeMTU in /etc/bluetooth/main.conf)"
    else:
        why = f"bleak on {platform} cannot set connection parameters, PHY or MTU"
        out.update({k: why for k in (*conn_keys, *(k for k in ("phy", "mtu") if k in asked))})
    return out


def refuse_or_record(request: LinkRequest, missing: dict[str, str], policy: str, where: str) -> None:
    """Raise ConfigError naming what cannot be applied unless ``policy`` is 'record'."""
    if missing and policy != "record":
        items = "; ".join(f"{k}={getattr(request, k)!r}: {why}" for k, why in missing.items())
        raise ConfigError(f"{where}: requested link settings cannot be applied on this bench ({items}). "
                          "Set dut.ble.unapplied: record to run anyway with them recorded as not applied")


def _writable(path: Path) -> bool:
    try:
        with open(path, "r+b"):
            return True
    except OSError:
        return False


def apply_debugfs(request: LinkRequest, adapter: str | None = None, debugfs: Path = DEBUGFS) -> list[str]:
    """Write the connection parameters of new connections into BlueZ's debugfs; returns the files written.

    Interval bounds are written in the order that keeps min ≤ max at every step (the kernel refuses
    a min above the current max, and a max below the current min).
    """
    folder = debugfs / (adapter or "hci0")
    written: list[str] = []
    if request.interval_s is not None:
        units = round(request.interval_s / 1.25e-3)
        current_max = int((folder / "conn_max_interval").read_text().strip() or 0)
        order = ("conn_max_interval", "conn_min_interval") if units > current_max else \
            ("conn_min_interval", "conn_max_interval")
        for name in order:
            (folder / name).write_text(f"{units}\n")
            written.append(name)
    for name, (key, unit_s) in _DEBUGFS_FILES.items():
        value = getattr(request, key)
        if value is not None:
            (folder / name).write_text(f"{round(value / unit_s) if unit_s else int(value)}\n")
            written.append(name)
    return written


async def apply(backend: Any, request: LinkRequest, not_applied: dict[str, str]) -> LinkState:
    """Apply ``request`` on a connected bleak backend where it can, and read back what the link runs.

    A backend that can (bench.links.bumble_backend.BumbleClient) has ``update_connection``,
    ``set_phy`` and ``link_parameters``; a value the controller or the DUT did not take is
    recorded in ``not_applied`` with what runs instead.
    """
    state = LinkState(not_applied=dict(not_applied))
    if not hasattr(backend, "link_parameters"):
        return state
    from bleak.exc import BleakError

    now = backend.link_parameters()
    conn_keys = [k for k in ("interval_s", "latency", "supervision_timeout_s")
                 if getattr(request, k) is not None and k not in not_applied]
    try:
        if conn_keys:
            await backend.update_connection(*(now[k] if getattr(request, k) is None else getattr(request, k)
                                              for k in ("interval_s", "latency", "supervision_timeout_s")))
        if request.phy is not None and "phy" not in not_applied and now["phy"] != request.phy:
            await backend.set_phy(request.phy)
    except BleakError as e:
        state.not_applied.update({k: f"refused: {e}" for k in (*conn_keys, "phy") if getattr(request, k) is not None})
    now = backend.link_parameters()
    state.interval_s, state.latency = now["interval_s"], now["latency"]
    state.supervision_timeout_s, state.phy = now["supervision_timeout_s"], now["phy"]
    state.source = "controller"
    for key in (*conn_keys, "phy"):
        want, got = getattr(request, key), now[key]
        if want is not None and key not in state.not_applied and not _same(want, got):
            state.not_applied[key] = f"asked {want}, the link runs {got}"
    return state


def _same(want: Any, got: Any) -> bool:
    if isinstance(want, float) and isinstance(got, float):
        return abs(want - got) <= 5e-3 + 1e-9 if want >= 0.1 else abs(want - got) <= 0.625e-3 + 1e-9
    return bool(want == got)  # HCI units: 1.25 ms (interval), 10 ms (supervision timeout)
