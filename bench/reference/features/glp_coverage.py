"""Coverage of the reference glasses' GLP code, read over a reference-only console side channel.

``glp coverage ble|serial`` answers one line, ``glp coverage <link>: <item> <item> ...``: what the
device's protocol code did since the last read (then it starts afresh), as ``axis:name`` items —
``rx:<type>`` a frame of that type that passed the frame checks (CRC, length) and reached dispatch, ``tx:<type>`` what the device sent (which
handler answered), ``error:<code>`` an ErrorReply code (which rejecting branch ran), ``state:<name>``
the session state and streams (``state:ready``, ``state:downlink``, ``state:uplink``,
``state:photo-transfer``) seen after an input. The fuzzer steers its draws with it (docs/fuzzing.md);
hardware has no such command and is fuzzed without it.
"""

from __future__ import annotations

from typing import Any

from bench.profiles.glp import messages as m
from bench.profiles.glp.errors import ProtocolError
from bench.profiles.glp.frames import decode_frame
from bench.profiles.glp.gatt import Channel
from bench.reference.features import feature
from bench.reference.shell import UsageError

AXES = ("rx", "tx", "error", "state")


def _type_name(type_code: int) -> str:
    cls = m.REGISTRY.get(type_code)
    return cls.__name__ if cls is not None else f"0x{type_code:02x}"


class CoverageRecorder:
    """Wraps one GlassesProtocol's input and output (instance attributes, like the seeded bugs do)."""

    def __init__(self, protocol: Any) -> None:
        self.protocol = protocol
        self.items: set[str] = set()
        self._feed, self._send_raw, self._dispatch = protocol.feed, protocol._send_raw, protocol.hooks.on_frame
        protocol.feed = self.feed
        protocol._send_raw = self.send_raw
        protocol.hooks.on_frame = self.on_frame

    def on_frame(self, channel: Channel, frame: Any) -> Any:
        out = self._dispatch(channel, frame)
        if out is not None:
            self.items.add(f"rx:{_type_name(out.type)}")
        return out

    def feed(self, channel: Any, data: bytes) -> None:
        self._feed(channel, data)
        p = self.protocol
        self.items.add(f"state:{p.state.value}")
        for name, on in (("downlink", p.downlink), ("uplink", p.uplink), ("photo-transfer", p.transfer)):
            if on is not None:
                self.items.add(f"state:{name}")

    def send_raw(self, channel: Channel, raw: bytes) -> None:
        self._send_raw(channel, raw)
        try:
            frame = decode_frame(raw)
            msg = m.decode_message(frame)
        except ProtocolError:
            return
        self.items.add(f"tx:{type(msg).__name__}")
        if isinstance(msg, m.ErrorReply):
            self.items.add(f"error:{msg.code.name}")

    def read(self) -> list[str]:
        """What ran since the last read (then forgotten)."""
        out, self.items = sorted(self.items), set()
        return out


def recorder_for(protocol: Any) -> CoverageRecorder:
    """The recorder of `protocol`, installed on first use (a rebooted device has a new protocol object)."""
    rec = getattr(protocol, "_coverage", None)
    if rec is None:
        rec = protocol._coverage = CoverageRecorder(protocol)
    return rec


@feature("glp_coverage")
async def start(bench: Any) -> dict[str, Any]:
    @bench.shell.command("glp coverage", "glp coverage ble|serial: GLP code reached since the last read")
    def coverage(args: list[str]) -> str:
        if args == ["ble"]:
            protocol = bench.glasses.protocol
        elif args == ["serial"] and getattr(bench, "glp_serial", None) is not None:
            protocol = bench.glp_serial.protocol
        else:
            raise UsageError("glp coverage ble|serial")
        return f"glp coverage {args[0]}: " + " ".join(recorder_for(protocol).read())

    return {}
