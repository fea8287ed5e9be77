"""Coverage feedback from the device, where it can give it (the reference bench's ``glp coverage``).

After every example the machine reads what the device's GLP code did (message types that reached
dispatch, ErrorReply codes, session states and streams), counts it into the run's coverage axes and
hands hypothesis two scores with ``target()``: how much the example covered, and how much of that
was new to the run — so generation favours inputs that reach new branches. A device without the side
channel (hardware) gives no axes and no scores; the fuzzer runs as before.
"""

from __future__ import annotations

from typing import Any

from hypothesis import target
from hypothesis.control import currently_in_test_context

from bench.errors import BenchError
from bench.profiles.glp import messages as m
from bench.profiles.glp.errors import ErrorCode
from bench.profiles.glp.gatt import Channel

#: device item prefix -> the run's coverage axis
AXES = {"rx": "device message types", "error": "device error codes", "state": "device states"}
PHONE_TYPES = frozenset(cls.__name__ for code, cls in m.REGISTRY.items()
                        if any(m.not_accepted(code, ch) is None for ch in (Channel.CONTROL_IN, Channel.AUDIO_DOWN)))
UNIVERSE = {
    "device message types": PHONE_TYPES,
    "device error codes": frozenset(c.name for c in ErrorCode),
    "device states": frozenset(["awaiting_hello", "ready", "downlink", "uplink", "photo-transfer"]),
}


class DeviceCoverage:
    """The side channel of one target; ``available`` is False when the DUT has none."""

    def __init__(self, target: Any) -> None:
        self.target = target
        self.command = f"glp coverage {target.kind}"
        self.available = self._read() is not None

    def _read(self) -> list[str] | None:
        try:
            answer = self.target.command(self.command)
        except (BenchError, NotImplementedError):
            return None  # no console, or no such command: hardware
        line = answer.strip()
        if not line.startswith(self.command + ":"):
            return None  # a shell that answers something else does not have the channel
        return line[len(self.command) + 1:].split()

    @property
    def axes(self) -> dict[str, frozenset[str]]:
        return dict(UNIVERSE) if self.available else {}

    def observe(self, stats: Any) -> tuple[int, int]:
        """Read what the example reached, book it in ``stats``, steer hypothesis; (reached, new)."""
        if not self.available:
            return 0, 0
        items = self._read() or []
        reached = new = 0
        for item in items:
            prefix, _, name = item.partition(":")
            axis = AXES.get(prefix)
            if axis is None:
                continue
            reached += 1
            if name not in stats.covered.get(axis, set()):
                new += 1
            stats.cover(axis, name)
        if currently_in_test_context():  # also read outside hypothesis (replays, tests)
            target(float(reached), label="device coverage")
            target(float(new), label="new device coverage")
        return reached, new
