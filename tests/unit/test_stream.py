"""Packets and the received stream's timeline."""
import numpy as np
import pytest

from bench.audio.codecs import get_codec
from bench.audio.packets import AudioPacket, PacketError, Reassembler, fragment_frame
from bench.audio.stream import reconstruct


def test_fragmenting_and_reassembly():
    payload = bytes(range(250))
    pkts = fragment_frame(65535, payload, max_packet_bytes=100)
    assert [len(p) for p in pkts] == [100, 100, 59]
    assert [AudioPacket.parse(p).fragment for p in pkts] == [0, 1, 2]
    assert [AudioPacket.parse(p).last for p in pkts] == [False, False, True]
    asm = Reassembler()
    assert [asm.push(p) for p in pkts] == [None, None, (65535, payload)]


def test_missing_fragment_drops_the_frame_only():
    a, b = fragment_frame(1, b"a" * 50, 30), fragment_frame(2, b"b" * 50, 30)
    asm = Reassembler()
    assert asm.push(a[0]) is None
    assert asm.push(b[0]) is None and asm.dropped_frames == 1
    assert asm.push(b[1]) == (2, b"b" * 50)


def test_short_packet_is_a_protocol_error():
    with pytest.raises(PacketError, match="expected >= 3"):
        AudioPacket.parse(b"\x01")
    with pytest.raises(ValueError, match="header"):
        fragment_frame(0, b"x", 3)


def test_reconstruct_places_frames_by_index_across_wrap_and_loss():
    spec = get_codec("pcm16")
    n = spec.frame_samples
    frames = {}
    packets = []
    for k, idx in enumerate([65534, 65535, 0, 2]):  # frame 1 (index 1) lost
        pcm = np.full(n, (k + 1) * 1000, dtype=np.int16)
        frames[idx] = pcm
        packets += [(10.0 + k * 0.01 + j * 1e-4, p)
                    for j, p in enumerate(fragment_frame(idx, pcm.tobytes(), 100))]
    packets.insert(3, (10.015, b"\x00"))  # garbage in the stream is counted, not fatal
    st = reconstruct(packets, spec)
    assert st.first_frame_index == 65534 and st.frames_total == 5 and st.lost_frames == [3]
    assert st.malformed_packets == 1
    assert np.all(st.pcm[3 * n:4 * n] == 0) and st.pcm[4 * n] == pytest.approx(4000 / 32767)
    last_frag = 10.0 + 3 * 0.01 + 3e-4  # 320 bytes -> 4 fragments (97, 97, 97, 29)
    assert st.timeline.time_at(4 * n + 8) == pytest.approx(last_frag + 8 / 16000)
    # the lost slot is timed from its nearest received neighbour at the frame rate
    assert np.isnan(st.timeline.frame_times_s[3])
    assert st.timeline.time_at(3 * n) in (pytest.approx(last_frag - 0.01),
                                          pytest.approx(10.02 + 3e-4 + 0.01))


def test_corrupt_frame_becomes_a_loss():
    spec = get_codec("lc3-10ms")
    enc = spec.encoder()
    good = enc.encode(np.zeros(160, dtype=np.int16))
    pk = [(1.0, p) for p in fragment_frame(0, good, 244)] + [(1.01, p) for p in fragment_frame(1, b"\x01", 244)]
    st = reconstruct(pk, spec)
    assert st.lost_frames == [1]
