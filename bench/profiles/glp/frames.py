"""GLP frame codec, fragmentation to ATT payloads, reassembly, and COBS framing for serial links.

Frame (docs/protocol.md §3), all multi-byte fields little-endian:

    0      1      2     3..4         5..5+N-1   5+N..6+N
    ver|fl type   seq   length N     payload    CRC-16/IBM-3740 over bytes 0..5+N-1

7 bytes of overhead per frame. Over BLE a frame longer than the link's max payload (ATT MTU - 3) is
cut into fragments with no extra header: the first fragment starts with the frame header, whose length
says how many bytes follow; a fragment never carries bytes of two frames. Over serial every COBS
packet is exactly one frame (WholeFrames): nothing is reassembled.
"""

from __future__ import annotations

import binascii
import enum
import time
from dataclasses import dataclass
from typing import Callable

import crc
from cobs import cobs

from bench.profiles.glp.errors import ErrorCode, ProtocolError
from bench.profiles.glp.gatt import Channel

PROTOCOL_VERSION = 1
SUPPORTED_VERSIONS = range(1, 2)
HEADER_LEN = 5
CRC_LEN = 2
OVERHEAD = HEADER_LEN + CRC_LEN
MAX_PAYLOAD_LEN = 0xFFFF
MIN_LINK_PAYLOAD = 20  # ATT MTU 23 - 3


class Flags(enum.IntFlag):
    """Frame flags (low nibble of byte 0). Bits 1..3 are reserved and must be 0."""

    NONE = 0
    REPLY = 0x1  # answers the request that carried the same seq


RESERVED_FLAGS = 0xE

# The CRC is *defined* by the `crc` package's CRC-16/IBM-3740 (poly 0x1021, init 0xFFFF, no reflection,
# no final xor). binascii.crc_hqx computes the same function in C; it is used only after it has been
# checked against the `crc` package here (and property-tested in tests/unit/test_frames.py).
CRC_CONFIG = crc.Crc16.IBM_3740
_crc_reference = crc.Calculator(CRC_CONFIG, optimized=True)  # type: ignore[arg-type]  # crc stub: Crc16 members are Configurations


def crc16_reference(data: bytes) -> int:
    """The frame CRC as the `crc` package computes it (slow, pure Python)."""
    return _crc_reference.checksum(data)


def _crc_hqx(data: bytes) -> int:
    return binascii.crc_hqx(data, 0xFFFF)


_VECTORS = (b"", b"123456789", bytes(range(256)), b"\x00" * 7, b"\xff" * 31)
crc16: Callable[[bytes], int] = (
    _crc_hqx if all(_crc_hqx(v) == crc16_reference(v) for v in _VECTORS) else crc16_reference
)


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame. `payload` is the message body, decoded by bench.profiles.glp.messages."""

    type: int
    seq: int
    payload: bytes = b""
    flags: int = 0
    version: int = PROTOCOL_VERSION

    @property
    def is_reply(self) -> bool:
        return bool(self.flags & Flags.REPLY)


def encode_frame(frame: Frame) -> bytes:
    """Serialise a frame; ValueError names the field that is out of range."""
    for name, value, hi in (("version", frame.version, 15), ("flags", frame.flags, 15),
                            ("type", frame.type, 255), ("seq", frame.seq, 255),
                            ("payload length", len(frame.payload), MAX_PAYLOAD_LEN)):
        if not 0 <= value <= hi:
            raise ValueError(f"frame {name} must be 0..{hi}, got {value}")
    head = bytes((frame.version << 4 | frame.flags, frame.type, frame.seq)) + len(frame.payload).to_bytes(2, "little")
    body = head + frame.payload
    return body + crc16(body).to_bytes(2, "little")


def frame_length(header: bytes) -> int:
    """Total frame length announced by a header (needs >= HEADER_LEN bytes)."""
    return HEADER_LEN + int.from_bytes(header[3:5], "little") + CRC_LEN


def decode_frame(data: bytes) -> Frame:
    """Parse exactly one frame; raises ProtocolError(offset, reason) for anything malformed."""
    if len(data) < OVERHEAD:
        raise ProtocolError(len(data), f"frame needs at least {OVERHEAD} bytes, got {len(data)}")
    version, flags = data[0] >> 4, data[0] & 0xF
    if version not in SUPPORTED_VERSIONS:
        raise ProtocolError(0, f"frame version {version} not supported (expected {PROTOCOL_VERSION})",
                            ErrorCode.VERSION)
    if flags & RESERVED_FLAGS:
        raise ProtocolError(0, f"reserved flag bits set: 0x{flags:x}")
    total = frame_length(data)
    if len(data) != total:
        raise ProtocolError(min(len(data), total), f"length field says {total} bytes in frame, got {len(data)}")
    want = int.from_bytes(data[-CRC_LEN:], "little")
    got = crc16(data[:-CRC_LEN])
    if want != got:
        raise ProtocolError(total - CRC_LEN, f"CRC mismatch: frame says 0x{want:04x}, computed 0x{got:04x}",
                            ErrorCode.BAD_CRC)
    return Frame(type=data[1], seq=data[2], payload=bytes(data[HEADER_LEN:-CRC_LEN]), flags=flags, version=version)


def fragment(data: bytes, max_payload: int) -> list[bytes]:
    """Cut an encoded frame into write/notification payloads of at most `max_payload` bytes."""
    if max_payload < MIN_LINK_PAYLOAD:
        raise ValueError(f"max_payload must be >= {MIN_LINK_PAYLOAD} (ATT MTU 23), got {max_payload}")
    return [data[i:i + max_payload] for i in range(0, len(data), max_payload)] or [b""]


REASSEMBLY_TIMEOUT_S = 0.5  # a partial frame with no new fragment for this long is abandoned (§4 rule 3)


def check_frame_start(chunk: bytes, max_frame_len: int) -> int:
    """Check the first fragment (or serial packet) of a frame; return the frame's total length.

    Raises ProtocolError in the spec's precedence (docs/protocol.md §5.4): short header (MALFORMED),
    version (VERSION), length beyond max_frame_len (TOO_LARGE), bytes beyond the frame (MALFORMED).
    """
    if len(chunk) < HEADER_LEN:
        raise ProtocolError(len(chunk), f"first fragment must hold the {HEADER_LEN}-byte header, got {len(chunk)} bytes")
    if chunk[0] >> 4 not in SUPPORTED_VERSIONS:
        raise ProtocolError(0, f"frame version {chunk[0] >> 4} not supported", ErrorCode.VERSION)
    want = frame_length(chunk)
    if want > max_frame_len:
        raise ProtocolError(3, f"frame of {want} bytes exceeds max_frame_len {max_frame_len}", ErrorCode.TOO_LARGE)
    if len(chunk) > want:
        raise ProtocolError(want, f"fragment carries {len(chunk) - want} bytes beyond its {want}-byte frame")
    return want


def is_whole_frame(chunk: bytes) -> bool:
    """True when `chunk` is by itself one complete frame with a good CRC (the resynchronisation test)."""
    return (len(chunk) >= OVERHEAD and chunk[0] >> 4 in SUPPORTED_VERSIONS and not chunk[0] & RESERVED_FLAGS
            and frame_length(chunk) == len(chunk)
            and crc16(chunk[:-CRC_LEN]) == int.from_bytes(chunk[-CRC_LEN:], "little"))


class Reassembler:
    """Rebuilds frames from the fragments of one channel (BLE, docs/protocol.md §4).

    `feed(chunk)` returns the complete frame bytes, or None while more fragments are due. A chunk
    that cannot start a frame raises ProtocolError and is dropped. A partial frame is abandoned (and
    counted in `discarded`) when a chunk would overrun it, when a chunk is by itself a whole valid
    frame (the partial was truncated: resynchronise on the new frame), or when no fragment arrived
    for `stale_after_s`.
    """

    def __init__(self, max_frame_len: int = OVERHEAD + MAX_PAYLOAD_LEN, stale_after_s: float = REASSEMBLY_TIMEOUT_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_frame_len = max_frame_len
        self.stale_after_s = stale_after_s
        self.clock = clock
        self.discarded = 0
        self._buf = bytearray()
        self._want = 0
        self._last_s = 0.0

    def reset(self) -> None:
        if self._buf:
            self.discarded += 1
        self._buf.clear()
        self._want = 0

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame held."""
        return len(self._buf)

    def feed(self, chunk: bytes) -> bytes | None:
        if self._buf and (len(chunk) > self._want - len(self._buf) or is_whole_frame(chunk)
                          or self.clock() - self._last_s > self.stale_after_s):
            self.reset()
        if not self._buf:
            return self._start(chunk)
        self._buf += chunk
        self._last_s = self.clock()
        if len(self._buf) < self._want:
            return None
        out = bytes(self._buf)
        self._buf.clear()
        return out

    def _start(self, chunk: bytes) -> bytes | None:
        want = check_frame_start(chunk, self.max_frame_len)
        if len(chunk) == want:
            return bytes(chunk)
        self._buf += chunk
        self._want = want
        self._last_s = self.clock()
        return None


class WholeFrames:
    """The serial counterpart of Reassembler (docs/protocol.md §2): every packet is one whole frame.

    `feed(packet)` returns the packet once its header checks pass; a packet shorter than its header's
    length is a truncated frame that decode_frame rejects. Nothing is ever held between packets.
    """

    pending = 0
    discarded = 0

    def __init__(self, max_frame_len: int = OVERHEAD + MAX_PAYLOAD_LEN, **_ignored: object) -> None:
        self.max_frame_len = max_frame_len

    def reset(self) -> None:
        pass

    def feed(self, chunk: bytes) -> bytes | None:
        check_frame_start(chunk, self.max_frame_len)
        return bytes(chunk)


class SerialFraming:
    """GLP over a byte stream: each packet is COBS(channel byte + frame) followed by a 0x00 delimiter.

    `encode(channel, frame)` gives bytes to write; `feed(data)` returns a list whose items are either
    (Channel, frame bytes) or a ProtocolError for a packet that was dropped; decoding then goes on.
    """

    def __init__(self, max_packet_len: int = 1 + OVERHEAD + MAX_PAYLOAD_LEN) -> None:
        self.max_packet_len = max_packet_len
        self._buf = bytearray()
        self._overflow = False

    @staticmethod
    def encode(channel: Channel, frame: bytes) -> bytes:
        return cobs.encode(bytes((int(channel),)) + frame) + b"\x00"

    def feed(self, data: bytes) -> list[tuple[Channel, bytes] | ProtocolError]:
        out: list[tuple[Channel, bytes] | ProtocolError] = []
        self._buf += data
        while True:
            end = self._buf.find(0)
            if end < 0:
                break
            packet = bytes(self._buf[:end])
            del self._buf[:end + 1]
            if self._overflow:
                self._overflow = False
                continue
            if packet:
                out.append(self._decode(packet))
        limit = cobs.max_encoded_length(self.max_packet_len)
        if len(self._buf) > limit:
            out.append(ProtocolError(len(self._buf), f"no 0x00 delimiter within {limit} bytes; skipping to the next one"))
            self._buf.clear()
            self._overflow = True
        return out

    def _decode(self, packet: bytes) -> tuple[Channel, bytes] | ProtocolError:
        try:
            raw = cobs.decode(packet)
        except cobs.DecodeError as exc:
            return ProtocolError(0, f"bad COBS packet: {exc}")
        if not raw:
            return ProtocolError(0, "empty COBS packet: expected a channel byte")
        try:
            channel = Channel(raw[0])
        except ValueError:
            return ProtocolError(0, f"unknown channel {raw[0]} (expected 1..{max(Channel)})")
        return channel, raw[1:]
