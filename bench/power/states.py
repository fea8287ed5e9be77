"""The power states the bench knows and their marker ids (the firmware ↔ bench contract).

Firmware drives the state id on GPIOs wired to the PPK2's logic inputs D0..D7 (docs/power.md) and
logs ``pm: state <name>`` on its console; both use these names and ids. Shared by the harness and
the reference glasses, so the contract is written once.
"""

from __future__ import annotations

import re

STATES: tuple[str, ...] = ("off", "sleep", "advertising", "connected_idle", "audio_streaming",
                           "camera_capture", "display_tts", "ota")
STATE_IDS: dict[str, int] = {s: i for i, s in enumerate(STATES)}
CONSOLE_MODULE = "pm"
CONSOLE_MESSAGE = re.compile(r"state (\w+)")
