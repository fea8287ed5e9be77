"""A speaker stand-in that plays downlink audio at the stream's frame rate.

Without it the reference glasses (NullAudio) consume a frame the instant it arrives, so AUDIO_DOWN
credit could never run out and flow control (BUSY on overrun) could not be observed. Installed only
where no real audio pipeline has been set (another feature may set ``glasses.protocol.audio``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from bench.profiles.glp import messages as m
from bench.profiles.glp.device import GlassesProtocol, NullAudio
from bench.reference.features import feature


class PacedSpeaker(NullAudio):
    """Buffers downlink frames (credit keeps them within the glasses' buffer) and plays one per frame duration."""

    def __init__(self, protocol: GlassesProtocol) -> None:
        self.protocol = protocol
        self.frame_s = 0.01
        self.queued = 0
        self.played = 0
        self._timer: asyncio.TimerHandle | None = None

    def downlink_start(self, codec: m.Codec, sample_rate_hz: int, frame_duration_s: float) -> None:
        self.frame_s, self.queued = frame_duration_s, 0

    def downlink_stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self.queued = None, 0

    def downlink_frame(self, data: bytes, capture_time_us: int) -> bool:
        self.queued += 1
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.frame_s, self._play)
        return False  # buffered: credit returns when it has been played

    def _play(self) -> None:
        self._timer = None
        if self.queued:
            self.queued -= 1
            self.played += 1
            self.protocol.downlink_played(1)
        if self.queued:
            self._timer = asyncio.get_running_loop().call_later(self.frame_s, self._play)


@feature("paced_speaker")
async def start(bench: Any) -> dict[str, Any]:
    for proto in (bench.glasses.protocol, getattr(bench, "glp_serial_protocol", None)):
        if proto is not None and type(proto.audio) is NullAudio:
            proto.audio = PacedSpeaker(proto)
    return {}
