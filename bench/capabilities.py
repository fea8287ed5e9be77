"""Capabilities: the small contracts suites ask a DUT for, whatever its protocol.

A suite never reaches into a profile: it asks ``dut.need(AudioUplink)`` (or marks the test
``@pytest.mark.needs("audio_uplink")``) and gets an object with these methods, or the test is
skipped with a reason that names the capability and the profile ("DUT has no audio downlink
(profile omi)"). Who provides a capability is decided when the DUT is assembled: the SIG services
found on the GATT server (Device Information, Battery, SMP, the link-test service), the console
(shell, reboot), and the device's profile (audio, photo, power-state control, fuzz targets).

Every method is synchronous and has a timeout, like the rest of the DUT facade. Each contract is a
``typing.Protocol`` (labgrid's ``PowerProtocol`` is the model); ``name`` is the key used by
markers, reports and the session's capability line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable


@dataclass
class DeviceIdentity:
    """Who the DUT says it is. Strings it does not report are empty (stock DIS may omit firmware)."""

    manufacturer: str = ""
    model: str = ""
    serial: str = ""
    hardware_revision: str = ""
    firmware_revision: str = ""
    software_revision: str = ""
    board: str = ""  # only when the DUT reports it (console banner, a protocol's device info)
    sku: str = ""
    extra: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class Identity(Protocol):
    name: ClassVar[str] = "identity"
    label: ClassVar[str] = "identity (Device Information)"

    def identity(self) -> DeviceIdentity: ...


@runtime_checkable
class Battery(Protocol):
    name: ClassVar[str] = "battery"
    label: ClassVar[str] = "battery level"
    notify_interval_s: float | None  # periodic notifications; None = notifies on change only

    def level_pct(self) -> int: ...

    def subscribe(self) -> None: ...

    def next_level(self, timeout_s: float) -> tuple[float, int]:
        """(host time s, level %) of the next Battery Level notification."""
        ...


@runtime_checkable
class Shell(Protocol):
    name: ClassVar[str] = "shell"
    label: ClassVar[str] = "shell (console commands)"

    def command(self, line: str, timeout_s: float | None = None) -> str: ...


@runtime_checkable
class Reboot(Protocol):
    name: ClassVar[str] = "reboot"
    label: ClassVar[str] = "reboot"

    def reboot(self) -> Any:
        """Reboot, wait for the boot to be seen; returns bench.dut.console.BootInfo (or None)."""
        ...


@runtime_checkable
class AudioUplink(Protocol):
    """Mic → phone: start a stream, collect its packets with arrival times, stop."""

    name: ClassVar[str] = "audio_uplink"
    label: ClassVar[str] = "audio uplink"

    def codecs(self) -> list[str]:
        """Codec variants the DUT can stream (names of bench.audio.variants)."""
        ...

    def start(self, codec: str, echo: bool = False) -> None:
        """Start the uplink (``echo``: the phone sends every frame back down, for round trips)."""
        ...

    def wait_arrival_after(self, t_s: float, timeout_s: float) -> None: ...

    def stop(self) -> list[tuple[float, bytes]]:
        """Stop; returns (arrival s, stream packet) pairs in bench.audio.packets format."""
        ...


@runtime_checkable
class AudioDownlink(Protocol):
    """Phone → speaker: paced stream packets."""

    name: ClassVar[str] = "audio_downlink"
    label: ClassVar[str] = "audio downlink"

    def codecs(self) -> list[str]: ...

    def packet_bytes(self) -> int:
        """Largest stream packet (header + codec bytes) one write can carry."""
        ...

    def start(self, codec: str) -> None: ...

    def send_paced(self, frames: list[list[bytes]], t0_s: float, frame_s: float, timeout_s: float) -> list[float]:
        """Write each frame's packets at t0 + k·frame_s; returns the hand-off times."""
        ...

    def stop(self) -> None: ...

    def notes(self) -> dict[str, int]:
        """Phone-side counters of the last stream (credit stalls, late frames)."""
        ...


@runtime_checkable
class Photo(Protocol):
    name: ClassVar[str] = "photo"
    label: ClassVar[str] = "camera (photo)"

    def take_photo(self, timeout_s: float = 10.0) -> bytes: ...


@runtime_checkable
class PowerControl(Protocol):
    """Moves the DUT into the power states the power suites measure."""

    name: ClassVar[str] = "power_control"
    label: ClassVar[str] = "power-state control"
    states: frozenset[str]  # the states this DUT can be put in: sleep, advertising, connected_idle, ...

    def enter(self, state: str) -> None:
        """Put the DUT in ``state`` (``audio_streaming[codec]`` for a stream)."""
        ...

    def leave(self, state: str) -> None:
        """Undo ``enter``: back to connected idle (the state every other test expects)."""
        ...

    def streaming_codecs(self) -> list[str]: ...


@runtime_checkable
class LinkTestEcho(Protocol):
    name: ClassVar[str] = "link_test"
    label: ClassVar[str] = "link-test echo"

    def ping(self, count: int = 20, size: int = 20, timeout_s: float = 2.0) -> list[float]: ...


@runtime_checkable
class FuzzTarget(Protocol):
    """Where the protocol fuzzer can aim: ``open(session, kind)`` returns the profile's fuzz model on that
    link (a bench.fuzz.runner.FuzzModel), which bench.fuzz.runner.fuzz drives; the caller closes it."""

    name: ClassVar[str] = "fuzz"
    label: ClassVar[str] = "fuzz target"
    kinds: tuple[str, ...]

    def open(self, session: Any, kind: str, reply_timeout_s: float = 2.0, port: str | None = None) -> Any: ...


@runtime_checkable
class Ota(Protocol):
    name: ClassVar[str] = "ota"
    label: ClassVar[str] = "OTA (SMP)"

    def echo(self, text: str) -> str: ...

    def image_state(self) -> list[dict[str, Any]]: ...

    def upload(self, image: bytes, slot_image: int = 0, timeout_s: float = 30.0, resumes: int = 3) -> bool | None:
        """Write ``image`` (an MCUboot image) to the update slot, resuming after a lost link; returns the
        device's sha ``match`` (None: not checked)."""
        ...

    def test(self, digest: bytes) -> list[dict[str, Any]]:
        """Boot the image with this hash once at the next reset (it rolls back unless confirmed)."""
        ...

    def confirm(self, digest: bytes | None = None) -> list[dict[str, Any]]:
        """Confirm the running image (None), or make ``digest`` permanent."""
        ...

    def reset(self) -> None:
        """Ask the device to reboot (it answers first; the link then drops)."""
        ...


ALL: tuple[type, ...] = (Identity, Battery, Shell, Reboot, AudioUplink, AudioDownlink, Photo, PowerControl,
                         LinkTestEcho, FuzzTarget, Ota)
BY_NAME: dict[str, type] = {c.name: c for c in ALL}  # type: ignore[attr-defined]
# capabilities a profile offers beyond the common contracts (its raw session, say), by name
LABELS: dict[str, str] = {"glp": "GLP service (Glasses Link Protocol)"}


def label(key: str) -> str:
    """What a capability is called in skip reasons and reports."""
    cls = BY_NAME.get(key)
    return cls.label if cls is not None else LABELS.get(key, key)  # type: ignore[attr-defined]


def capability(key: str | type) -> type:
    """A capability class from its name or itself; an unknown name lists the known ones."""
    if isinstance(key, type):
        return key
    try:
        return BY_NAME[key]
    except KeyError:
        raise KeyError(f"unknown capability {key!r}; known: {', '.join(BY_NAME)}") from None
