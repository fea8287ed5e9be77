"""The received stream's timeline, rebuilt from packet arrival times and frame indices.

Frames are placed by their (unwrapped) frame index, so a dropped frame leaves a concealed gap of
exactly one frame and later audio keeps its position. Sample ``j`` of frame ``k`` is put on the
clock at the frame's hand-off time plus ``j / fs`` (arrival for uplink, write for downlink): the
instant a play-on-arrival receiver would play it. That makes per-sample latency independent of the
sample's position inside its frame.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from bench.audio.codecs import CodecError, CodecSpec
from bench.audio.packets import PacketError, Reassembler


@dataclass
class FrameTimeline:
    """Hand-off time of each frame slot (NaN when the frame never came) on CLOCK_MONOTONIC."""

    frame_samples: int
    sample_rate_hz: float
    frame_times_s: np.ndarray

    @property
    def frame_s(self) -> float:
        return self.frame_samples / self.sample_rate_hz

    def time_at(self, position_samples: float) -> float:
        """Clock time of a (fractional) stream position; a lost frame is timed from its nearest
        received neighbour at the nominal frame rate."""
        k = int(np.floor(position_samples / self.frame_samples))
        known = np.flatnonzero(~np.isnan(self.frame_times_s))
        if known.size == 0:
            raise ValueError("timeline has no received frame")
        j = int(known[np.argmin(np.abs(known - k))])
        return float(self.frame_times_s[j] + (position_samples - j * self.frame_samples) / self.sample_rate_hz)

    def jitter_s(self) -> float:
        """Standard deviation of hand-off times around the nominal frame clock."""
        k = np.flatnonzero(~np.isnan(self.frame_times_s))
        if k.size < 2:
            return 0.0
        dev = self.frame_times_s[k] - k * self.frame_s
        return float(np.std(dev - np.mean(dev)))


@dataclass
class ReceivedStream:
    pcm: np.ndarray  # float64 in [-1, 1], frame k of the timeline at [k*N, (k+1)*N)
    timeline: FrameTimeline
    first_frame_index: int  # u16 index of timeline slot 0
    lost_frames: list[int] = field(default_factory=list)  # slots concealed
    malformed_packets: int = 0
    stale_frames: int = 0  # duplicates or frames older than one already placed

    @property
    def frames_total(self) -> int:
        return len(self.timeline.frame_times_s)


def _unwrap(prev: int, index_u16: int) -> int:
    step = (index_u16 - prev) & 0xFFFF
    return prev + step if step < 0x8000 else prev + step - 0x10000


def reconstruct(packets: Iterable[tuple[float, bytes]], spec: CodecSpec) -> ReceivedStream:
    """Rebuild the decoded stream from ``(arrival_s, packet)`` pairs in arrival order.

    A frame's arrival is that of its last fragment. Gaps in the frame index are decoded as lost
    (codec concealment); malformed packets are counted, not fatal.
    """
    asm = Reassembler()
    frames: list[tuple[int, float, bytes]] = []
    malformed = 0
    last: int | None = None
    for arrival_s, data in packets:
        try:
            done = asm.push(data)
        except PacketError:
            malformed += 1
            continue
        if done is None:
            continue
        idx = done[0] if last is None else _unwrap(last, done[0])
        frames.append((idx, float(arrival_s), done[1]))
        last = idx if last is None else max(last, idx)
    if not frames:
        raise ValueError(f"no complete audio frame in the packets ({malformed} malformed)")
    first = frames[0][0]
    n_slots = max(f[0] for f in frames) - first + 1
    times = np.full(n_slots, np.nan)
    payloads: list[bytes | None] = [None] * n_slots
    stale = 0
    payload: bytes | None
    for idx, t, payload in frames:
        slot = idx - first
        if slot < 0 or payloads[slot] is not None:
            stale += 1
            continue
        times[slot], payloads[slot] = t, payload
    dec, n = spec.decoder(), spec.frame_samples
    pcm = np.empty(n_slots * n)
    lost = []
    for slot, payload in enumerate(payloads):
        if payload is None:
            lost.append(slot)
        try:
            out = dec.decode(payload)
        except CodecError:  # a corrupt frame from the device is a loss, not a harness crash
            if payload is not None:
                lost.append(slot)
            out = dec.decode(None)
        pcm[slot * n:(slot + 1) * n] = out[:n] / 32767.0
    return ReceivedStream(pcm, FrameTimeline(n, spec.sample_rate_hz, times), first & 0xFFFF,
                          sorted(lost), malformed, stale)


def sent_timeline(write_times_s: Iterable[float], spec: CodecSpec) -> FrameTimeline:
    """Timeline of a stream the harness sent (downlink): frame k handed off at ``write_times_s[k]``."""
    return FrameTimeline(spec.frame_samples, spec.sample_rate_hz, np.asarray(list(write_times_s), float))
