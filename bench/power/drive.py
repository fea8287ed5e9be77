"""Moving the DUT into each power state through its ``power_control`` capability.

The profile decides how (GLP glasses: the shell's ``ble adv on|off``, a BLE disconnect and GLP
requests; an Omi device: subscribing to its audio characteristic); the power suites only name the
state. A state the DUT cannot be put in skips the test with a reason that says so.
"""

from __future__ import annotations

from typing import Any

import pytest

from bench.power.capture import console_state_events

CODECS = ("lc3", "opus", "pcm")  # streaming states the plans give limits for: streaming_current_a[<codec>]


def control(dut: Any, state: str | None = None) -> Any:
    """The DUT's power-state control; skips when it lacks one, or cannot enter ``state``."""
    pc = dut.need("power_control")
    if state is not None and state.partition("[")[0] not in pc.states:
        pytest.skip(f"the DUT's power-state control cannot enter {state} (it can: {', '.join(sorted(pc.states))}; "
                    f"profile {dut.profile.name})")
    return pc


def codec_supported(dut: Any, codec: str) -> bool:
    """Whether the DUT can stream ``codec`` while its power is measured."""
    pc = dut.get("power_control")
    return pc is not None and "audio_streaming" in pc.states and codec in pc.streaming_codecs()


REPORT_TIMEOUT_S = 5.0  # a state change the firmware reports on its console, seen on a busy bench


def reported(dut: Any, state: str, timeout_s: float = REPORT_TIMEOUT_S) -> None:
    """Return once the DUT's firmware reports ``state`` on its console (``<inf> pm: state <name>``), at
    once if it never reported a power state. The phone sees its disconnect before the firmware's own
    transition (0.5 ms later on the reference glasses), and a capture started in between begins in the
    old state. DutTimeout when the firmware reports states but not this one."""
    console = getattr(dut, "console", None)
    if console is None:
        return

    def there() -> bool | None:
        events = console_state_events(console.records)
        return True if not events or events[-1][1] == state else None
    console.wait(there, timeout_s, f"the DUT did not report power state {state!r}")


def to_sleep(dut: Any) -> None:
    """Radio off: no advertising, no connection."""
    control(dut, "sleep").enter("sleep")
    reported(dut, "sleep")


def to_advertising(dut: Any) -> None:
    """Disconnected and advertising."""
    control(dut, "advertising").enter("advertising")
    reported(dut, "advertising")


def back_to_connected(dut: Any) -> None:
    """Advertising on again and the phone connected (the state every other test expects)."""
    pc = dut.get("power_control")
    if pc is not None:
        pc.leave("advertising")
    dut.ensure_connected()
    reported(dut, "connected_idle")


def quiet(dut: Any) -> None:
    """Connected, with no stream running (the state every power test starts from)."""
    pc = dut.get("power_control")
    if pc is not None:
        pc.enter("connected_idle")
    else:
        dut.ensure_connected()
    reported(dut, "connected_idle")


def uplink_start(dut: Any, codec: str) -> None:
    control(dut, "audio_streaming").enter(f"audio_streaming[{codec}]")


def uplink_stop(dut: Any) -> None:
    control(dut, "audio_streaming").leave("audio_streaming")


def take_photo(dut: Any) -> None:
    control(dut, "camera_capture").enter("camera_capture")


def speak(dut: Any) -> None:
    control(dut, "display_tts").enter("display_tts")
