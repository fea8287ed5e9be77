"""Audio over GLP without a radio: phone streams (bench/audio/phone.py) ↔ in-memory link ↔ the reference
glasses' audio hooks ↔ acoustic rig, graded against the ground truth; plus the radio truth tap."""
from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
from bumble import att, l2cap

from bench.audio.latency import estimate_delay
from bench.audio.packets import AudioPacket, fragment_frame
from bench.profiles.glp.audio import PhoneAudio, advertised_codecs, glp_codec, stream_packet_bytes
from bench.audio.signals import log_sweep
from bench.audio.stream import reconstruct, sent_timeline
from bench.profiles.glp import messages as m
from bench.profiles.glp.errors import ErrorCode
from bench.profiles.glp.frames import encode_frame
from bench.profiles.glp.session import DeviceError
from bench.reference.audio_truth import AudioTruth
from bench.reference.glasses_audio import GlassesAudio, UplinkTruthTap, codec_name
from bench.profiles.glp.handlers import DeviceError as GlassesDeviceError
from bench.reference.glasses_loopback import loopback_pair
from bench.reference.rig import AcousticRig

FS = 16000
STIM = log_sweep(duration_s=0.15, sample_rate_hz=FS)


def run(coro, timeout_s: float = 20.0):
    return asyncio.run(asyncio.wait_for(coro, timeout_s))


async def setup(board: str = "nrf52840dk", max_payload: int = 244):
    rig = AcousticRig()
    link, g, s = await loopback_pair(board=board, max_payload=max_payload)
    g.audio = GlassesAudio(g, rig, board)
    return rig, g, s, PhoneAudio(s, FS)


def test_codec_mapping_and_advertised_codecs():
    assert codec_name(m.Codec.LC3, 0.0075) == "lc3-7.5ms" and codec_name(m.Codec.OPUS, 0.02) == "opus-20ms"
    with pytest.raises(GlassesDeviceError, match="OPUS with 10 ms"):
        codec_name(m.Codec.OPUS, 0.01)
    nrf = int(m.ALL_CAPABILITIES & ~m.Capability.CODEC_OPUS)
    assert advertised_codecs(nrf) == ["lc3", "lc3-7.5ms", "pcm"]
    assert "opus" in advertised_codecs(m.ALL_CAPABILITIES)
    assert stream_packet_bytes(244) == 233


def test_refused_stream_leaves_the_glasses_stopped():
    async def go():
        rig, g, s, phone = await setup()
        with pytest.raises(DeviceError) as err:
            await s.request(m.AudioUplinkStart(m.Codec.LC3, 48000, 10000))
        assert err.value.reply.code is ErrorCode.UNSUPPORTED and "48000 Hz" in err.value.reply.detail
        assert g.uplink is None and g.audio.uplink is None
        await s.request(m.AudioUplinkStart(m.Codec.LC3, FS, 10000))  # a valid start still works
        assert g.uplink is not None
    run(go())


@pytest.mark.parametrize("variant", ["lc3", "pcm"])
def test_uplink_over_glp_matches_truth(variant):
    async def go():
        rig, g, s, phone = await setup()
        await phone.start_uplink(variant)
        await phone.wait_arrival_after(time.monotonic(), 2.0)
        t_inj = rig.inject(STIM, time.monotonic() + 0.03, trial="t")
        await phone.wait_arrival_after(t_inj + 0.25, 3.0)
        packets = await phone.stop_uplink()
        return rig, g, packets

    rig, g, packets = run(go())
    assert all(len(d) <= stream_packet_bytes(g.max_payload) for _, d in packets)
    assert g.audio.uplink is None and g.uplink is None
    stream = reconstruct(packets, glp_codec(variant).spec(FS))
    assert not stream.lost_frames and stream.malformed_packets == 0
    for t, d in packets:  # the phone's hand-off log; no radio here, so it is also the delivery
        p = AudioPacket.parse(d)
        if p.last:
            rig.truth.uplink_packet_delivered(d, t)
    est = estimate_delay(STIM, stream.pcm, FS, min_quality=0.5)
    latency = stream.timeline.time_at(est.delay_samples) - rig.truth.injections_s["t"]
    truth = rig.truth.uplink("t")
    assert latency == pytest.approx(truth["latency_s"], abs=0.1 / FS)
    assert truth["latency_s"] >= glp_codec(variant).spec(FS).delay_s


def test_downlink_over_glp_plays_on_the_rig_and_matches_truth():
    spec = glp_codec("lc3").spec(FS)
    n, onset = spec.frame_samples, 1000
    x = np.zeros(40 * n)
    x[onset:onset + len(STIM)] = STIM
    pcm = np.round(x * 32767).astype(np.int16)
    enc = spec.encoder()
    frames = [fragment_frame(65530 + k, enc.encode(pcm[k * n:(k + 1) * n]), 233) for k in range(40)]

    async def go():
        rig, g, s, phone = await setup()
        await phone.start_downlink("lc3")
        # 18 silent frames follow the stimulus: it has been played once the last frame is written
        written = await phone.send_paced(frames, time.monotonic() + 0.02, spec.frame_s)
        await phone.stop_downlink()
        return rig, g, written

    rig, g, written = run(go())
    assert g.audio.downlink is None
    for k, t in enumerate(written):
        rig.truth.downlink_frame_written(65530 + k, t)
    cap_t0 = written[0]
    capture = rig.capture(cap_t0, int((written[-1] - cap_t0 + 0.05) * FS))
    est = estimate_delay(STIM, capture, FS, min_quality=0.5)
    latency = cap_t0 + est.delay_samples / FS - sent_timeline(written, spec).time_at(onset)
    truth = rig.truth.downlink(65530, onset)  # the u16 frame index wrapped during the stream
    assert latency == pytest.approx(truth["latency_s"], abs=0.1 / FS)


def _notification_pdu(handle: int, value: bytes) -> bytes:
    pdu = att.ATT_Handle_Value_Notification(attribute_handle=handle, attribute_value=value)
    return bytes(l2cap.L2CAP_PDU(cid=4, payload=bytes(pdu)))


def test_truth_tap_records_audio_notifications_only():
    truth = AudioTruth()
    tap = UplinkTruthTap(truth.uplink_packet_delivered, lambda: 42)
    packet = fragment_frame(7, b"\x01" * 40, 233)[0]
    glp = encode_frame(m.encode_message(m.AudioFrame(0, packet), seq=3))
    tap(False, _notification_pdu(42, glp), 1.25)
    assert truth.ul_delivered_s == {7: 1.25}
    tap(True, _notification_pdu(42, glp), 2.0)  # phone -> glasses: not uplink
    tap(False, _notification_pdu(43, glp), 2.0)  # another characteristic
    tap(False, _notification_pdu(42, glp[:-1] + b"\x00"), 2.0)  # bad CRC: counted, not raised
    tap(False, b"\x01", 2.0)  # not even L2CAP
    assert truth.ul_delivered_s == {7: 1.25} and tap.ignored == 2


def test_phone_credits_start_afresh_with_each_downlink_stream():
    async def go():
        rig, g, s, phone = await setup()
        for _ in range(3):
            await phone.start_downlink("lc3")
            await s.send_audio(fragment_frame(0, b"\x00" * 40, 233)[0], 0, timeout_s=1.0)  # waits for the grant
            await s.request(m.Ping(1))  # the link is in order: the glasses have taken the frame
            assert s.downlink_credits == g.downlink_credits == 7
            await phone.stop_downlink()
    run(go())


def test_uplink_stop_ends_the_echo_even_when_its_cancel_is_lost():
    """CPython 3.11's wait_for can swallow a cancellation that races its result; an echo that lost its
    cancel waited on an empty queue for ever and `stop_uplink` hung (a busy fresh-clone make test)."""
    async def go():
        rig, g, s, phone = await setup()
        swallowed = []

        async def send_audio(data, capture_time_us, timeout_s=None):
            try:
                await asyncio.sleep(0.05)  # the echo is in the middle of a send when the stop comes
            except asyncio.CancelledError:
                swallowed.append(True)  # ...and the cancel is lost, as in wait_for's race

        s.send_audio = send_audio
        await phone.start_uplink("lc3", echo=True)
        await phone.wait_arrival_after(time.monotonic(), 2.0)
        await asyncio.wait_for(phone.stop_uplink(), 5.0)
        return swallowed

    assert run(go()), "the stop came while the echo was sending (else this test proves nothing)"
