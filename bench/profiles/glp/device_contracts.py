"""What the reference glasses' GLP protocol object is built from: the device-side session state machine
(docs/protocol.md §5.0) and the hooks its owners plug in (audio pipeline, seeded bugs, observers).
bench/profiles/glp/device.py re-exports every name.
"""

from __future__ import annotations

import enum
from typing import Protocol

from bench.profiles.glp import messages as m
from bench.profiles.glp.frames import Frame
from bench.profiles.glp.gatt import Channel


class LinkState(enum.Enum):
    """The device-side session state machine (docs/protocol.md §5.0)."""

    DISCONNECTED = "disconnected"  # no link: nothing is received or sent
    AWAITING_HELLO = "awaiting_hello"  # link up, no session: only Hello, Ping, DeviceInfoGet are served
    READY = "ready"  # a Hello was answered with HelloReply: every request is served


#: (state, event) -> next state; events not listed leave the state unchanged.
TRANSITIONS: dict[tuple[LinkState, str], LinkState] = {
    (LinkState.DISCONNECTED, "link_up"): LinkState.AWAITING_HELLO,
    (LinkState.AWAITING_HELLO, "hello_ok"): LinkState.READY,
    (LinkState.AWAITING_HELLO, "hello_failed"): LinkState.AWAITING_HELLO,
    (LinkState.READY, "hello_ok"): LinkState.READY,  # a new session replaces the old one
    (LinkState.READY, "hello_failed"): LinkState.AWAITING_HELLO,
    (LinkState.AWAITING_HELLO, "link_up"): LinkState.AWAITING_HELLO,
    (LinkState.READY, "link_up"): LinkState.AWAITING_HELLO,
    (LinkState.AWAITING_HELLO, "link_down"): LinkState.DISCONNECTED,
    (LinkState.READY, "link_down"): LinkState.DISCONNECTED,
    (LinkState.DISCONNECTED, "link_down"): LinkState.DISCONNECTED,
}


class AudioHooks(Protocol):
    """What the audio pipeline provides; the protocol calls these on stream control."""

    def uplink_start(self, codec: m.Codec, sample_rate_hz: int, frame_duration_s: float) -> None: ...
    def uplink_stop(self) -> None: ...
    def downlink_start(self, codec: m.Codec, sample_rate_hz: int, frame_duration_s: float) -> None: ...
    def downlink_stop(self) -> None: ...
    def downlink_frame(self, data: bytes, capture_time_us: int) -> bool | None:
        """Take one speaker frame. Return False to keep it buffered; then call
        GlassesProtocol.downlink_played(n) when frames have been played (that returns credit)."""


class NullAudio:
    """Audio pipeline stand-in: accepts everything, plays nothing."""

    def uplink_start(self, codec: m.Codec, sample_rate_hz: int, frame_duration_s: float) -> None: ...
    def uplink_stop(self) -> None: ...
    def downlink_start(self, codec: m.Codec, sample_rate_hz: int, frame_duration_s: float) -> None: ...
    def downlink_stop(self) -> None: ...
    def downlink_frame(self, data: bytes, capture_time_us: int) -> bool | None: ...


class DeviceHooks:
    """Injection points for seeded bugs (fuzzing issue). Defaults pass everything through unchanged."""

    def on_frame(self, channel: Channel, frame: Frame) -> Frame | None:
        """A decoded incoming frame; return None to drop it."""
        return frame

    def on_request(self, msg: m.Message) -> m.Message:
        return msg

    def on_reply(self, request: m.Message, reply: m.Message) -> m.Message:
        return reply

    def on_send(self, channel: Channel, data: bytes) -> bytes | None:
        """An encoded outgoing frame; return None to drop it."""
        return data
