"""Audio stream packets: one encoded frame split into fragments that fit one notification/write.

Header (3 bytes, Omi-style): ``frame_index`` u16 LE (wraps at 65536), then ``fragment`` u8 whose
bits 0-6 are the fragment number (0, 1, ...) and bit 7 marks the frame's last fragment. The rest of
the packet is codec payload. Both the reference glasses and the harness use this module.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

HEADER = struct.Struct("<HB")
HEADER_BYTES = HEADER.size
LAST_FRAGMENT = 0x80
MAX_FRAGMENTS = 0x80


class PacketError(ValueError):
    """A malformed audio packet (says what was expected and what came)."""


@dataclass(frozen=True)
class AudioPacket:
    frame_index: int
    fragment: int
    last: bool
    payload: bytes

    def to_bytes(self) -> bytes:
        return HEADER.pack(self.frame_index & 0xFFFF, self.fragment | (LAST_FRAGMENT if self.last else 0)) \
            + self.payload

    @classmethod
    def parse(cls, data: bytes) -> "AudioPacket":
        """Parse one packet; raises ``PacketError`` for anything shorter than the header."""
        if len(data) < HEADER_BYTES:
            raise PacketError(f"audio packet: expected >= {HEADER_BYTES} header bytes, got {len(data)}: "
                              f"{bytes(data).hex()}")
        index, frag = HEADER.unpack_from(data)
        return cls(index, frag & 0x7F, bool(frag & LAST_FRAGMENT), bytes(data[HEADER_BYTES:]))


def fragment_frame(frame_index: int, payload: bytes, max_packet_bytes: int) -> list[bytes]:
    """Split one encoded frame into packets of at most ``max_packet_bytes`` (e.g. ATT MTU - 3)."""
    room = max_packet_bytes - HEADER_BYTES
    if room < 1:
        raise ValueError(f"max_packet_bytes must exceed the {HEADER_BYTES}-byte header, got {max_packet_bytes}")
    chunks = [payload[i:i + room] for i in range(0, len(payload), room)] or [b""]
    if len(chunks) > MAX_FRAGMENTS:
        raise ValueError(f"frame of {len(payload)} bytes needs {len(chunks)} fragments of {room} bytes; "
                         f"at most {MAX_FRAGMENTS} fit the header")
    return [AudioPacket(frame_index, i, i == len(chunks) - 1, c).to_bytes() for i, c in enumerate(chunks)]


class Reassembler:
    """Rebuilds frames from fragments; a frame with a missing or out-of-order fragment is dropped."""

    def __init__(self) -> None:
        self._index: int | None = None
        self._parts: list[bytes] = []
        self.dropped_frames = 0

    def push(self, data: bytes) -> tuple[int, bytes] | None:
        """Feed one packet; returns ``(frame_index_u16, payload)`` when a frame completes."""
        pkt = AudioPacket.parse(data)
        if self._index is not None and (pkt.frame_index != self._index or pkt.fragment != len(self._parts)):
            self.dropped_frames += 1  # the previous frame never got its last fragment
            self._index, self._parts = None, []
        if pkt.fragment != len(self._parts):
            return None  # joined mid-frame: its first fragment was lost
        self._index = pkt.frame_index
        self._parts.append(pkt.payload)
        if not pkt.last:
            return None
        frame = (pkt.frame_index, b"".join(self._parts))
        self._index, self._parts = None, []
        return frame
