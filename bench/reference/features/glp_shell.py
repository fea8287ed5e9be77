"""Console commands for the Glasses Link Protocol on the reference glasses.

  event <kind> <detail>     raise a device event to every connected phone (``event button double``)
  photo size [bytes]        size of the next photos taken at quality 100 (``--set photo.size_bytes=N``)
  glp fault internal [serial]  the next request hits an internal fault (answered INTERNAL, then recovers)
  glp stats                 error replies sent, internal errors, downlink overruns
The protocol instances are the BLE glasses' and, when the glp_serial feature runs, the serial ones.
"""

from __future__ import annotations

from typing import Any

from bench.profiles.glp import messages as m
from bench.profiles.glp.device import DeviceHooks, GlassesProtocol
from bench.profiles.glp.frames import Frame
from bench.profiles.glp.gatt import Channel
from bench.reference.features import feature
from bench.reference.shell import UsageError

EVENT_USAGE = "event button tap|double|long | touch forward|backward|tap | wake_word detected | wear on|off"


def protocols(bench: Any) -> dict[str, GlassesProtocol]:
    out = {"ble": bench.glasses.protocol}
    serial = getattr(bench, "glp_serial_protocol", None)
    if serial is not None:
        out["serial"] = serial
    return out


class InternalFaultOnce(DeviceHooks):
    """Wraps the installed hooks; the next request raises inside the firmware, then the hooks are restored."""

    def __init__(self, protocol: GlassesProtocol) -> None:
        self.protocol, self.inner = protocol, protocol.hooks

    def on_frame(self, channel: Channel, frame: Frame) -> Frame | None:
        return self.inner.on_frame(channel, frame)

    def on_request(self, msg: m.Message) -> m.Message:
        self.protocol.hooks = self.inner
        raise RuntimeError(f"seeded fault while handling {type(msg).__name__} (glp fault internal)")

    def on_reply(self, request: m.Message, reply: m.Message) -> m.Message:
        return self.inner.on_reply(request, reply)

    def on_send(self, channel: Channel, data: bytes) -> bytes | None:
        return self.inner.on_send(channel, data)


def set_photo_size(bench: Any, size_bytes: int) -> None:
    if not 400 <= size_bytes <= 16 * 1024 * 1024:
        raise UsageError(f"photo size <bytes>, 400..{16 * 1024 * 1024}, got {size_bytes}")
    for proto in protocols(bench).values():
        proto.photos.base_size_bytes = size_bytes


@feature("glp_shell")
async def start(bench: Any) -> dict[str, Any]:
    shell = bench.shell
    if "photo.size_bytes" in bench.options.settings:
        set_photo_size(bench, int(bench.options.settings["photo.size_bytes"]))

    @shell.command("event", "event <kind> <detail>: raise a device event (e.g. event button double)")
    def event(args: list[str]) -> str:
        if len(args) != 2:
            raise UsageError(EVENT_USAGE)
        sent = []
        for name, proto in protocols(bench).items():
            try:
                if proto.trigger_event(args[0], args[1]):
                    sent.append(name)
            except ValueError as e:
                return f"error: {e}"
        if not sent:
            return "error: no phone connected (an event needs a phone that said Hello)"
        return f"event {args[0]} {args[1]} sent ({', '.join(sent)})"

    @shell.command("photo size", "photo size [bytes]: size of photos taken at quality 100")
    def photo_size(args: list[str]) -> str:
        if len(args) > 1:
            raise UsageError("photo size [bytes]")
        if args:
            try:
                set_photo_size(bench, int(args[0]))
            except ValueError:
                raise UsageError(f"photo size <bytes>, got {args[0]!r}") from None
        return f"photo size {bench.glasses.protocol.photos.base_size_bytes} bytes at quality 100"

    @shell.command("glp fault", "glp fault internal [serial]: next request fails inside the firmware")
    def glp_fault(args: list[str]) -> str:
        if not args or args[0] != "internal" or len(args) > 2 or args[1:] not in ([], ["serial"]):
            raise UsageError("glp fault internal [serial]")
        name = args[1] if len(args) == 2 else "ble"
        proto = protocols(bench).get(name)
        if proto is None:
            return f"error: no {name} GLP link on this bench"
        proto.hooks = InternalFaultOnce(proto)
        return f"next {name} GLP request will hit an internal fault"

    @shell.command("glp stats", "GLP counters: error replies, internal errors, downlink overruns")
    def glp_stats(_args: list[str]) -> str:
        return "\n".join(f"{name}: errors_sent={p.errors_sent} internal_errors={p.internal_errors} "
                         f"downlink_overruns={p.downlink_overruns}" for name, p in protocols(bench).items())
    return {}
