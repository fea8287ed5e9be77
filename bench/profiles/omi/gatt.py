"""The Omi / omiGlass GATT layout and wire formats, shared by the phone side and the reference device.

Facts from BasedHardware/omi (see docs/profiles.md, "Omi profile"): the audio service
19B10000-E8F2-537E-4F6C-D104768A1214 with audio data (…0001, read/notify), codec id (…0002, read,
one byte) and speaker (…0003, write/notify, Omi pendant only); omiGlass adds photo data (…0005,
notify) and photo control (…0006, write, one int8). Each audio notification starts with
``[index lo, index hi, fragment]``; there is no last-fragment bit, so the phone decides where a
frame ends (a notification shorter than the fragment room ends it; a full one may continue).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from bench.audio.packets import AudioPacket

SERVICE_UUID = "19b10000-e8f2-537e-4f6c-d104768a1214"
AUDIO_DATA = "19b10001-e8f2-537e-4f6c-d104768a1214"
AUDIO_CODEC = "19b10002-e8f2-537e-4f6c-d104768a1214"
SPEAKER = "19b10003-e8f2-537e-4f6c-d104768a1214"
PHOTO_DATA = "19b10005-e8f2-537e-4f6c-d104768a1214"
PHOTO_CONTROL = "19b10006-e8f2-537e-4f6c-d104768a1214"

# codec id (the codec characteristic) -> bench.audio.variants name; None = not supported by the bench
CODEC_IDS: dict[int, str | None] = {
    0: None,        # PCM16 16 kHz
    1: None,        # PCM16 8 kHz (the rig runs at 16 kHz: not yet on the bench)
    10: None,       # mu-law 16 kHz
    11: None,       # mu-law 8 kHz
    20: None,       # Opus 16 kHz, 10 ms frames (Omi pendant)
    21: "opus",     # Opus 16 kHz, 20 ms frames (omiGlass, AUDIO_CODEC_ID 21)
}
CODEC_ID_BY_VARIANT = {name: cid for cid, name in CODEC_IDS.items() if name is not None}

HEADER = struct.Struct("<HB")  # index (u16 LE), fragment number within the frame
HEADER_BYTES = HEADER.size

# photo control (int8): -1 one shot, 0 stop, 5..127 interval capture (the firmware then uses its own
# fixed PHOTO_CAPTURE_INTERVAL_MS); other values are ignored
PHOTO_ONE_SHOT, PHOTO_STOP = -1, 0
PHOTO_INTERVAL_MIN = 5
PHOTO_END = b"\xff\xff"          # end-of-photo marker notification
PHOTO_FIRST_HEADER = 3           # chunk 0: index u16 (0) + orientation byte
PHOTO_HEADER = 2                 # later chunks: index u16
PHOTO_CHUNK_BYTES = 200          # JPEG bytes per chunk (199 in chunk 0)
SPEAKER_ACK = struct.Struct("<H")  # the Omi firmware notifies a u16 (400) on every speaker write


def speaker_ack() -> bytes:
    return SPEAKER_ACK.pack(400)


def fragment_room(att_mtu: int) -> int:
    """Codec bytes per notification: ATT payload (MTU - 3) minus the 3-byte header."""
    return att_mtu - 3 - HEADER_BYTES


def wire(index: int, fragment: int, payload: bytes) -> bytes:
    return HEADER.pack(index & 0xFFFF, fragment & 0xFF) + payload


@dataclass
class _Held:
    arrival_s: float
    fragment: int
    payload: bytes


class OmiReassembler:
    """Phone side: Omi audio notifications → bench.audio.packets packets (frame index, fragment, last).

    Frames are numbered by the phone from 0 (the Omi index counts notifications on the pendant and
    frames on omiGlass, and neither restarts with a subscription). A notification with fewer codec
    bytes than ``room`` ends its frame at once; a full one is held until the next shows whether the
    frame goes on (fragment + 1) or a new one starts (fragment 0).
    """

    def __init__(self, room: int) -> None:
        self.room = room
        self.frame = -1
        self._held: _Held | None = None
        self.malformed = 0

    def push(self, arrival_s: float, data: bytes) -> list[tuple[float, bytes]]:
        if len(data) < HEADER_BYTES:
            self.malformed += 1
            return []
        _index, frag = HEADER.unpack_from(data)
        payload = bytes(data[HEADER_BYTES:])
        out: list[tuple[float, bytes]] = []
        held = self._held
        if held is not None:
            self._held = None
            cont = frag == held.fragment + 1
            out.append((arrival_s if not cont else held.arrival_s,
                        AudioPacket(self.frame & 0xFFFF, held.fragment, not cont, held.payload).to_bytes()))
        if frag == 0:
            self.frame += 1
        if self.frame < 0:
            return out  # joined mid-frame
        if len(payload) >= self.room and frag < 0x7F:
            self._held = _Held(arrival_s, frag, payload)
        else:
            out.append((arrival_s, AudioPacket(self.frame & 0xFFFF, frag, True, payload).to_bytes()))
        return out

    def flush(self) -> list[tuple[float, bytes]]:
        held, self._held = self._held, None
        if held is None:
            return []
        return [(held.arrival_s, AudioPacket(self.frame & 0xFFFF, held.fragment, True, held.payload).to_bytes())]


def photo_chunk(index: int, data: bytes, orientation: int = 0) -> bytes:
    if index == 0:
        return bytes([0, 0, orientation & 0xFF]) + data
    return struct.pack("<H", index & 0xFFFF) + data


class PhotoAssembler:
    """Phone side of the omiGlass photo transfer: chunks in, a JPEG out at the end marker."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.orientation = 0
        self.next_index = 0

    def push(self, data: bytes) -> bytes | None:
        if bytes(data[:2]) == PHOTO_END and len(data) == 2:
            return b"".join(self.parts)
        index = struct.unpack_from("<H", data)[0]
        if index != self.next_index:
            raise ValueError(f"photo chunk {index} out of order (expected {self.next_index})")
        self.next_index += 1
        if index == 0:
            self.orientation = data[2]
            self.parts = [bytes(data[PHOTO_FIRST_HEADER:])]
        else:
            self.parts.append(bytes(data[PHOTO_HEADER:]))
        return None
