"""Timestamped record of every frame a session sent or received; hex and decoded text on demand."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Iterator

from bench.profiles.glp.errors import ProtocolError
from bench.profiles.glp.frames import decode_frame
from bench.profiles.glp.gatt import Channel
from bench.profiles.glp.messages import decode_message


@dataclass(frozen=True, slots=True)
class TranscriptEntry:
    t_s: float  # session clock (CLOCK_MONOTONIC by default)
    direction: str  # "tx" phone -> glasses, "rx" glasses -> phone
    channel: Channel
    raw: bytes
    note: str = ""  # e.g. "retry 1", "duplicate", "unmatched reply", a decode error

    @property
    def hex(self) -> str:
        return self.raw.hex(" ")

    @property
    def decoded(self) -> str:
        try:
            frame = decode_frame(self.raw)
            msg = decode_message(frame)
        except ProtocolError as exc:
            return f"<undecodable: {exc}>"
        return f"{'reply ' if frame.is_reply else ''}seq={frame.seq} {msg!r}"

    def line(self) -> str:
        note = f" [{self.note}]" if self.note else ""
        return f"{self.t_s:.6f} {self.direction} {self.channel.name:<11} {self.decoded}{note} | {self.hex}"


class Transcript:
    """Bounded log (oldest entries fall off after `max_entries`: an hour of audio would be ~300 k frames)."""

    def __init__(self, max_entries: int = 20_000) -> None:   # ~4 MB; ~4 min of audio frames
        self.entries: deque[TranscriptEntry] = deque(maxlen=max_entries)

    def add(self, t_s: float, direction: str, channel: Channel, raw: bytes, note: str = "") -> None:
        self.entries.append(TranscriptEntry(t_s, direction, channel, raw, note))

    def __iter__(self) -> Iterator[TranscriptEntry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def dump(self) -> str:
        return "\n".join(e.line() for e in self.entries)
