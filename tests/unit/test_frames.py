"""Frame codec, CRC, fragmentation/reassembly and COBS serial framing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from bench.profiles.glp.errors import ErrorCode, ProtocolError
from bench.profiles.glp.frames import (HEADER_LEN, OVERHEAD, Flags, Frame, Reassembler, SerialFraming, crc16,
                                   crc16_reference, decode_frame, encode_frame, fragment)
from bench.profiles.glp.gatt import CHARACTERISTICS, SERVICE_UUID, Channel, channel_for_uuid

FAST = settings(max_examples=60, deadline=None)
frames_st = st.builds(Frame, type=st.integers(0, 255), seq=st.integers(0, 255),
                      payload=st.binary(max_size=600), flags=st.sampled_from([0, Flags.REPLY]))


def test_uuids_follow_the_base():
    assert SERVICE_UUID == "7f1a0000-6c3b-4e0a-9d6c-3f5b8a2e4c10"
    assert CHARACTERISTICS[Channel.MEDIA].uuid == "7f1a0005-6c3b-4e0a-9d6c-3f5b8a2e4c10"
    assert channel_for_uuid("7F1A0001-6C3B-4E0A-9D6C-3F5B8A2E4C10") is Channel.CONTROL_IN
    assert CHARACTERISTICS[Channel.AUDIO_DOWN].properties == ("write-without-response",)
    with pytest.raises(KeyError, match="not a GLP characteristic"):
        channel_for_uuid("00002a19-0000-1000-8000-00805f9b34fb")


def test_known_frame_bytes():
    # Ping(token=7), seq 3: ver 1 | flags 0, type 0x02, seq 3, len 4, payload, CRC-16/IBM-3740 LE
    raw = encode_frame(Frame(type=0x02, seq=3, payload=(7).to_bytes(4, "little")))
    assert raw.hex() == "100203040007000000244b"
    assert crc16_reference(raw[:-2]) == int.from_bytes(raw[-2:], "little")


@FAST
@given(st.binary(max_size=300))
def test_fast_crc_equals_crc_package(data):
    assert crc16(data) == crc16_reference(data)


@FAST
@given(frames_st)
def test_frame_round_trip(frame):
    raw = encode_frame(frame)
    assert len(raw) == len(frame.payload) + OVERHEAD
    assert decode_frame(raw) == frame


@FAST
@given(st.binary(max_size=80))
def test_any_bytes_decode_or_protocol_error(data):
    try:
        decode_frame(data)
    except ProtocolError as exc:
        assert 0 <= exc.offset <= len(data) + 2 and exc.reason


@FAST
@given(frames_st, st.data())
def test_single_bit_flip_is_caught(frame, data):
    raw = bytearray(encode_frame(frame))
    bit = data.draw(st.integers(0, len(raw) * 8 - 1))
    raw[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(ProtocolError):
        decode_frame(bytes(raw))


def test_errors_name_offset_and_code():
    raw = bytearray(encode_frame(Frame(type=1, seq=1, payload=b"abc")))
    raw[-1] ^= 0xFF
    with pytest.raises(ProtocolError) as err:
        decode_frame(bytes(raw))
    assert err.value.code is ErrorCode.BAD_CRC and err.value.offset == HEADER_LEN + 3
    with pytest.raises(ProtocolError, match="version 2"):
        decode_frame(b"\x20" + bytes(raw[1:]))
    with pytest.raises(ProtocolError, match="reserved flag"):
        decode_frame(b"\x14" + bytes(raw[1:]))
    with pytest.raises(ProtocolError, match="length field"):
        decode_frame(bytes(raw[:-1]))
    with pytest.raises(ValueError, match="seq must be 0..255"):
        encode_frame(Frame(type=1, seq=256))


@pytest.mark.parametrize("max_payload", [20, 182, 244, 514])
@pytest.mark.parametrize("extra", [-1, 0, 1])
def test_fragmentation_at_exact_boundaries(max_payload, extra):
    frame = Frame(type=0xC0, seq=9, payload=bytes(range(256)) * 8)
    raw = encode_frame(Frame(type=0xC0, seq=9, payload=frame.payload[:max_payload * 3 + extra - OVERHEAD]))
    parts = fragment(raw, max_payload)
    assert all(len(p) <= max_payload for p in parts) and b"".join(parts) == raw
    assert len(parts) == -(-len(raw) // max_payload)
    reasm = Reassembler()
    out = [reasm.feed(p) for p in parts]
    assert out[:-1] == [None] * (len(parts) - 1) and out[-1] == raw


def test_reassembler_drops_truncated_frame_and_recovers():
    big = encode_frame(Frame(type=0xC0, seq=1, payload=bytes(100)))  # 107 bytes
    nxt = encode_frame(Frame(type=0xC0, seq=3, payload=bytes(70)))  # 77 bytes
    small = encode_frame(Frame(type=0x02, seq=2, payload=bytes(4)))
    reasm = Reassembler()
    assert reasm.feed(big[:20]) is None
    assert reasm.feed(big[20:40]) is None
    # the rest of `big` (67 bytes) was lost; `nxt` would overrun it, so the partial is abandoned
    assert reasm.feed(nxt) == nxt
    assert reasm.discarded == 1
    assert reasm.feed(small) == small


def test_reassembler_stale_partial_and_limits():
    now = [0.0]
    reasm = Reassembler(max_frame_len=100, stale_after_s=1.0, clock=lambda: now[0])
    raw = encode_frame(Frame(type=1, seq=1, payload=bytes(50)))
    assert reasm.feed(raw[:20]) is None
    now[0] = 5.0
    with pytest.raises(ProtocolError, match="header"):
        reasm.feed(raw[20:23])  # stale partial dropped; 3 bytes cannot start a frame
    assert reasm.discarded == 1 and reasm.pending == 0
    with pytest.raises(ProtocolError) as err:
        reasm.feed(encode_frame(Frame(type=1, seq=1, payload=bytes(200)))[:20])
    assert err.value.code is ErrorCode.TOO_LARGE
    with pytest.raises(ProtocolError, match="beyond"):
        reasm.feed(raw + b"\x00")


def test_serial_framing_multiplexes_channels_and_resyncs():
    sf = SerialFraming()
    a = encode_frame(Frame(type=2, seq=0, payload=b"\x00\x00\x01"))
    b = encode_frame(Frame(type=0xC1, seq=5, payload=bytes(300)))
    stream = SerialFraming.encode(Channel.CONTROL_OUT, a) + SerialFraming.encode(Channel.AUDIO_UP, b)
    assert stream.count(0) == 2  # COBS leaves 0x00 only as the delimiter
    got = []
    for i in range(0, len(stream), 7):  # arrives in arbitrary pieces
        got += sf.feed(stream[i:i + 7])
    assert got == [(Channel.CONTROL_OUT, a), (Channel.AUDIO_UP, b)]
    bad = sf.feed(b"\x05\x01\x02\x00" + SerialFraming.encode(Channel.MEDIA, a))
    assert isinstance(bad[0], ProtocolError) and bad[1] == (Channel.MEDIA, a)
    unknown = sf.feed(b"\x02\x09\x00")
    assert isinstance(unknown[0], ProtocolError) and "unknown channel 9" in unknown[0].reason


def test_serial_framing_bounded_buffer():
    sf = SerialFraming(max_packet_len=50)
    out = sf.feed(b"\x01" * 200)
    assert len(out) == 1 and isinstance(out[0], ProtocolError)
    assert sf.feed(b"\x01\x00") == []  # rest of the oversized packet skipped
    a = encode_frame(Frame(type=2, seq=0, payload=b"hi"))
    assert sf.feed(SerialFraming.encode(Channel.CONTROL_IN, a)) == [(Channel.CONTROL_IN, a)]


@FAST
@given(st.binary(max_size=200))
def test_serial_any_bytes_never_crash(data):
    for item in SerialFraming().feed(data):
        assert isinstance(item, ProtocolError) or isinstance(item[0], Channel)
