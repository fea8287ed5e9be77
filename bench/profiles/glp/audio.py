"""The phone's end of the GLP audio streams, on the session loop: start/stop, collect uplink frames with
their arrival times, send paced downlink frames, echo uplink back down (round trip).

Each GLP ``AudioFrame`` carries one stream packet (bench/audio/packets.py: frame index, fragment
number, codec bytes). A packet's arrival time is the instant the phone session decoded its frame
(``PhoneSession.last_rx_s`` of that fragment): that is when the phone app has it.
"""
from __future__ import annotations

import asyncio
from typing import Callable

from bench.audio.variants import Variant, variant
from bench.profiles.glp import messages as m
from bench.profiles.glp.frames import OVERHEAD
from bench.profiles.glp.session import PhoneSession

AUDIO_FRAME_OVERHEAD = OVERHEAD + 4  # GLP header + CRC, AudioFrame.capture_time_us


GLP_CODECS: dict[str, tuple[m.Codec, int]] = {  # variant → (GLP codec, frame duration µs)
    "lc3": (m.Codec.LC3, 10000),
    "lc3-7.5ms": (m.Codec.LC3, 7500),
    "opus": (m.Codec.OPUS, 20000),
    "pcm": (m.Codec.PCM16, 10000),
}


def glp_codec(name: str) -> Variant:
    """The codec variant ``name`` (bench.audio.variants), if GLP can carry it."""
    if name not in GLP_CODECS:
        raise KeyError(f"unknown audio codec {name!r}; expected one of {sorted(GLP_CODECS)}")
    return variant(name)


def advertised_codecs(capabilities: int) -> list[str]:
    """Codec variants a DUT can stream, from its HelloReply capability bits."""
    return [v for v, (c, _) in GLP_CODECS.items() if capabilities & m.CODEC_CAPABILITY[c]]


def stream_packet_bytes(max_payload: int) -> int:
    """Largest stream packet whose GLP AudioFrame fits one write/notification of ``max_payload``."""
    return max_payload - AUDIO_FRAME_OVERHEAD


class PhoneAudio:
    """Audio streams of one PhoneSession. Every method runs on the session's loop."""

    def __init__(self, session: PhoneSession, sample_rate_hz: int = 16000) -> None:
        self.session, self.sample_rate_hz = session, sample_rate_hz
        self.received: list[tuple[float, bytes]] = []  # (arrival_s, packet) in arrival order
        self.echoed = 0
        self.credit_stalls = 0  # downlink writes that had to wait for a credit (last send_paced)
        self.late_frames = 0  # downlink frames handed off more than a frame behind schedule
        self._unsubscribe: Callable[[], None] | None = None
        self._echo: asyncio.Queue[m.AudioFrame | None] | None = None  # None: the echo ends
        self._echo_task: asyncio.Task[None] | None = None
        self._arrived = asyncio.Event()

    def _request(self, name: str, start: type[m.Message]) -> m.Message:
        codec, frame_us = GLP_CODECS[glp_codec(name).name]
        return start(codec, self.sample_rate_hz, frame_us)  # type: ignore[call-arg]

    # --- uplink --------------------------------------------------------------------------------
    async def start_uplink(self, variant: str, echo: bool = False, timeout_s: float = 2.0) -> None:
        """Collect AUDIO_UP frames (and echo them to AUDIO_DOWN when ``echo``), then start the stream."""
        self.received = []
        if echo:
            self._echo = asyncio.Queue()
            self._echo_task = asyncio.get_running_loop().create_task(self._echo_loop())
        self._unsubscribe = self.session.subscribe(self._on_frame, m.AudioFrame)
        await self.session.request(self._request(variant, m.AudioUplinkStart), timeout_s)

    def _on_frame(self, msg: m.Message) -> None:
        assert isinstance(msg, m.AudioFrame)
        self.received.append((self.session.last_rx_s, msg.data))
        self._arrived.set()
        if self._echo is not None:
            self._echo.put_nowait(msg)

    async def _echo_loop(self) -> None:
        assert self._echo is not None
        while True:
            frame = await self._echo.get()
            if frame is None:
                return
            await self.session.send_audio(frame.data, frame.capture_time_us)
            self.echoed += 1

    async def wait_arrival_after(self, t_s: float, timeout_s: float) -> None:
        """Wait until a frame arrives at or after monotonic ``t_s`` (the stream got that far)."""
        async def until() -> None:
            while not self.received or self.received[-1][0] < t_s:
                self._arrived.clear()
                await self._arrived.wait()
        try:
            async with asyncio.timeout(timeout_s):
                await until()
        except asyncio.TimeoutError:
            last = self.received[-1][0] if self.received else None
            raise TimeoutError(f"audio uplink: no frame arrived after t={t_s:.3f} s within {timeout_s} s "
                               f"({len(self.received)} packets so far, last at {last})") from None

    async def stop_uplink(self, timeout_s: float = 2.0) -> list[tuple[float, bytes]]:
        """Stop the stream (and the echo); returns the collected ``(arrival_s, packet)`` pairs."""
        try:
            await self.session.request(m.AudioUplinkStop(), timeout_s)
        finally:
            if self._unsubscribe is not None:
                self._unsubscribe()
                self._unsubscribe = None
            if self._echo_task is not None and self._echo is not None:
                while not self._echo.empty():  # nothing more is echoed once the stream is stopped
                    self._echo.get_nowait()
                self._echo.put_nowait(None)  # the loop's own end, should a cancel below be lost
                while not self._echo_task.done():  # (3.11's wait_for can swallow one that races its result)
                    self._echo_task.cancel()
                    await asyncio.wait([self._echo_task], timeout=0.5)
                await asyncio.gather(self._echo_task, return_exceptions=True)
                self._echo_task, self._echo = None, None
        return list(self.received)

    # --- downlink ------------------------------------------------------------------------------
    async def start_downlink(self, variant: str, timeout_s: float = 2.0) -> None:
        await self.session.request(self._request(variant, m.AudioDownlinkStart), timeout_s)

    async def send_paced(self, frames: list[list[bytes]], t0_s: float, frame_s: float,
                         credit_timeout_s: float = 1.0) -> list[float]:
        """Hand frame k's packets to the link at ``t0_s + k·frame_s``; returns each frame's hand-off
        time (just before its first packet is written)."""
        clock = self.session.clock
        written = []
        self.credit_stalls, self.late_frames = 0, 0
        for k, packets in enumerate(frames):
            due = t0_s + k * frame_s
            if due > clock():
                await asyncio.sleep(due - clock())  # real-time pacing of a live stream, not a race fix
            elif clock() - due > frame_s:
                self.late_frames += 1  # the phone fell behind its own schedule
            written.append(clock())
            for packet in packets:
                if self.session.downlink_credits <= 0:
                    self.credit_stalls += 1  # the glasses' buffer window is full: the write waits
                await self.session.send_audio(packet, int(k * frame_s * 1e6), credit_timeout_s)
        return written

    async def stop_downlink(self, timeout_s: float = 2.0) -> None:
        await self.session.request(m.AudioDownlinkStop(), timeout_s)
