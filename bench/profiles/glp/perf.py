"""Workloads the benchmarks time (benchmarks/ prints the figures; nothing here asserts speed)."""

from __future__ import annotations

from bench.profiles.glp import messages as m
from bench.profiles.glp.frames import Reassembler, decode_frame, encode_frame, fragment

_SAMPLE = (
    m.AudioFrame(123456, bytes(range(40))),  # one LC3 16 kHz 10 ms frame at 32 kbit/s
    m.PhotoChunk(1, 4096, bytes(231)),  # a full chunk at ATT MTU 247
    m.Settings(50, 0, 5, 60, 300),
    m.DeviceEvent(m.EventKind.BUTTON, m.EventDetail.DOUBLE, 1_000_000),
)


def codec_round_trips(n: int, max_payload: int = 244) -> int:
    """Encode, fragment, reassemble and decode `n` frames (a mix of audio, photo, control); returns
    the number of frames that came back equal. codec_frames_per_s = n / elapsed time."""
    reasm = Reassembler()
    ok = 0
    for i in range(n):
        msg = _SAMPLE[i % len(_SAMPLE)]
        raw = encode_frame(m.encode_message(msg, i & 0xFF))
        out = None
        for part in fragment(raw, max_payload):
            out = reasm.feed(part)
        if out is not None and m.decode_message(decode_frame(out)) == msg:
            ok += 1
    return ok
