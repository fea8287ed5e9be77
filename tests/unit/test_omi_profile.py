"""The Omi profile: its wire formats (phone-side reassembly, photo chunks) and its fuzzer finding a
seeded bug on the reference Omi device and shrinking it to the one guilty write."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from bench.audio.packets import AudioPacket, Reassembler, fragment_frame
from bench.profiles.omi import gatt as og

ROOT = Path(__file__).resolve().parents[2]


def _omi_wire(frames: list[bytes], room: int, per_notification: bool) -> list[bytes]:
    """What the reference device sends: bench packets re-headed the Omi way (no last bit)."""
    out, index = [], 500
    for k, frame in enumerate(frames):
        for p in fragment_frame(k, frame, room + og.HEADER_BYTES):
            pkt = AudioPacket.parse(p)
            out.append(og.wire(index, pkt.fragment, pkt.payload))
            if per_notification or pkt.last:
                index += 1
    return out


@pytest.mark.parametrize("per_notification", [False, True])
@given(frames=st.lists(st.binary(min_size=1, max_size=300), min_size=1, max_size=8))
def test_reassembly_gives_back_every_frame(per_notification, frames):
    room = 60
    asm, rebuilt = og.OmiReassembler(room), []
    packets = []
    for t, data in enumerate(_omi_wire(frames, room, per_notification)):
        packets += asm.push(float(t), data)
    packets += asm.flush()
    bench_asm = Reassembler()
    for _t, p in packets:
        done = bench_asm.push(p)
        if done is not None:
            rebuilt.append(done)
    assert [payload for _i, payload in rebuilt] == frames
    assert [i for i, _p in rebuilt] == list(range(len(frames)))


def test_photo_chunks_round_trip():
    jpeg = bytes(range(256)) * 5
    chunks = [jpeg[:199]] + [jpeg[i:i + 200] for i in range(199, len(jpeg), 200)]
    asm = og.PhotoAssembler()
    for i, c in enumerate(chunks):
        assert asm.push(og.photo_chunk(i, c, orientation=2)) is None
    assert asm.push(og.PHOTO_END) == jpeg and asm.orientation == 2


@pytest.mark.reference
@pytest.mark.timeout(280)
def test_fuzzer_finds_and_shrinks_seeded_photo_crash(tmp_path):
    from bench.config import load_bench
    from bench.fuzz.fixtures import run_fuzz
    from bench.fuzz.oracles import FuzzCrash
    from bench.session import BenchSession

    config = load_bench(ROOT / "fixtures/benches/reference-omi.yaml")
    config.reference.bugs = ["omi-photo-interval"]
    with BenchSession(config, tmp_path) as session:
        result = run_fuzz(session, "ble", 60, seed=0)
    failure = result.fuzz_failure
    assert isinstance(failure, FuzzCrash), f"the seeded crash was not found: {result.failure!r}"
    assert len(failure.steps) == 1 and failure.source == 0, failure.report()  # delta debugging: one write is left
    guilty = failure.steps[0]
    value = int.from_bytes(guilty.data, "little", signed=True)
    assert guilty.kind == "write:photo_control" and len(guilty.data) == 1 and value >= 33, failure.report()
    assert ">> op 0: write:photo_control" in failure.report()


def test_write_lengths_sit_on_codec_frame_edges_and_fit_an_attribute():
    from bench.profiles.omi.fuzz import boundary_lengths

    edges = boundary_lengths(514)  # ATT MTU 517
    assert 77 in edges and 80 in edges and 83 in edges  # an Opus 20 ms frame without / with the Omi header
    assert max(edges) <= 514 and min(edges) == 0
    assert boundary_lengths(20) == sorted(n for n in edges if n <= 20)


@pytest.mark.reference
@pytest.mark.timeout(280)
def test_fuzzer_finds_the_speaker_length_hang(tmp_path):
    """One exact speaker write length (77 B) on the pendant: a boundary draw, not luck."""
    from bench.config import load_bench
    from bench.fuzz.fixtures import run_fuzz
    from bench.fuzz.oracles import FuzzHang
    from bench.session import BenchSession

    config = load_bench(ROOT / "fixtures/benches/reference-omi.yaml")
    config.reference.sku = config.dut.sku = "audio"  # the pendant has the speaker
    config.reference.bugs = ["omi-speaker-len"]
    with BenchSession(config, tmp_path) as session:
        result = run_fuzz(session, "ble", 60, seed=0)
    failure = result.fuzz_failure
    assert isinstance(failure, FuzzHang), f"the seeded hang was not found: {result.failure!r}"
    assert any(op.kind == "write:speaker" and len(op.data) == 77 for op in failure.steps), failure.report()
