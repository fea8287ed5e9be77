"""GLP conformance: every error code provoked (docs/protocol.md §5.4). Each crafted frame must be
answered by exactly one ErrorReply flagged REPLY carrying the frame's seq, and the DUT must keep
answering afterwards."""

from __future__ import annotations

import pytest

from bench.profiles.glp.tools import capabilities, codec, open_session, reconnect, require
from bench.profiles.glp import messages as m
from bench.profiles.glp.errors import ErrorCode
from bench.profiles.glp.frames import Flags
from bench.profiles.glp.probe import craft
from bench.profiles.glp.gatt import Channel
from bench.profiles.glp.session import DeviceError

pytestmark = [pytest.mark.protocol, pytest.mark.ble]
E = ErrorCode


def _ping(probe, **kw) -> bytes:
    return craft(m.Ping(probe.token()), probe.seq(), **kw)


MALFORMED = {
    "short payload": lambda p: craft(type_=m.Ping.TYPE, payload=b"\x01\x02", seq=p.seq()),
    "trailing bytes": lambda p: craft(type_=m.Ping.TYPE, payload=bytes(4) + b"\xaa", seq=p.seq()),
    "reserved flag": lambda p: _ping(p, flags=0x2),
    "reply flag from the phone": lambda p: _ping(p, flags=Flags.REPLY),
    "bad UTF-8": lambda p: craft(type_=m.TextNotify.TYPE, payload=b"\x02\x02\xc3\x28", seq=p.seq()),
    "write shorter than a header": lambda p: bytes((0x10, m.Ping.TYPE, p.seq(), 0)),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_frames_get_malformed(glp_probe, case):
    raw = MALFORMED[case](glp_probe)
    err = glp_probe.error_for(raw)
    assert err.code is E.MALFORMED, err
    assert err.request_type == raw[1]
    assert err.detail


def test_malformed_reports_the_offset_of_the_problem(glp_probe):
    raw = craft(type_=m.Ping.TYPE, payload=bytes(4) + b"\xaa\xbb", seq=glp_probe.seq())
    err = glp_probe.error_for(raw)
    assert (err.code, err.offset) == (E.MALFORMED, 5 + 4), "trailing bytes start after the 4-byte token"


def test_bad_crc(glp_probe):
    err = glp_probe.error_for(_ping(glp_probe, bad_crc=True))
    assert err.code is E.BAD_CRC and err.request_type == m.Ping.TYPE


@pytest.mark.parametrize("type_code", [0x3E, m.Ack.TYPE, m.DeviceEvent.TYPE, m.PhotoChunk.TYPE],
                         ids=["undefined", "reply type", "event type", "stream type"])
def test_unknown_or_non_request_type(glp_probe, type_code):
    payload = m.encode_payload(m.DeviceEvent(m.EventKind.BUTTON, m.EventDetail.TAP, 1)) \
        if type_code == m.DeviceEvent.TYPE else b""
    if type_code == m.PhotoChunk.TYPE:
        payload = m.encode_payload(m.PhotoChunk(1, 0, b"x"))
    err = glp_probe.error_for(craft(type_=type_code, payload=payload, seq=glp_probe.seq()))
    assert err.code is E.UNKNOWN_TYPE and err.request_type == type_code


def test_unsupported_capability(glp):
    caps = capabilities(glp)
    missing = [(msg, cap) for msg, cap in (
        (m.PhotoCapture(80), m.Capability.CAMERA),
        (m.TextNotify(m.TextMode.DISPLAY, "hi"), m.Capability.DISPLAY),
        (m.AudioUplinkStart(m.Codec.OPUS, 16000, 20000), m.Capability.CODEC_OPUS),
        (m.AudioUplinkStart(m.Codec.LC3, 16000, 10000), m.Capability.CODEC_LC3),
    ) if not caps & cap]
    if not missing:
        pytest.skip(f"DUT advertises every capability ({caps!r}): nothing to be UNSUPPORTED")
    for msg, cap in missing:
        with pytest.raises(DeviceError) as info:
            glp.request(msg)
        assert info.value.code is E.UNSUPPORTED, f"{msg!r} without {cap!r}: {info.value}"


@pytest.mark.parametrize("msg", [
    m.SettingSet(m.SettingKey.VOLUME_PCT, 101),
    m.Hello(2, 1, 512),
    m.Hello(1, 1, 26),
    m.AudioUplinkStart(m.Codec.PCM16, 12345, 10000),
    m.AudioUplinkStart(m.Codec.PCM16, 16000, 5000),
], ids=["setting", "hello min>max", "hello max_frame_len", "sample rate", "frame duration"])
def test_out_of_range_fields(glp, msg):
    with pytest.raises(DeviceError) as info:
        glp.request(msg, check=False)
    assert info.value.code is E.OUT_OF_RANGE, info.value


def test_unknown_enum_value_is_out_of_range(glp_probe):
    raw = craft(type_=m.SettingSet.TYPE, payload=bytes((9,)) + (1).to_bytes(4, "little"), seq=glp_probe.seq())
    err = glp_probe.error_for(raw)
    assert err.code is E.OUT_OF_RANGE and err.offset == 5


def test_invalid_state_before_hello(dut, glp_record):
    reconnect(dut)
    fresh = glp_record.watch(open_session(dut, hello=False), "session before Hello")
    try:
        for msg in (m.SettingsGet(), m.BatteryGet(), m.TextNotify(m.TextMode.SPEAK, "x")):
            with pytest.raises(DeviceError) as info:
                fresh.request(msg)
            assert info.value.code is E.INVALID_STATE, info.value
    finally:
        fresh.close()


def test_invalid_state_uplink_already_running(glp):
    require(glp, m.Capability.AUDIO_UPLINK)
    start = m.AudioUplinkStart(codec(glp), 16000, 10000)
    glp.request(start)
    try:
        with pytest.raises(DeviceError) as info:
            glp.request(start)
        assert info.value.code is E.INVALID_STATE
    finally:
        glp.request(m.AudioUplinkStop())


def test_invalid_state_audio_frame_while_downlink_stopped(glp, glp_probe):
    require(glp, m.Capability.AUDIO_DOWNLINK)
    glp.request(m.AudioDownlinkStop())
    err = glp_probe.error_for(craft(m.AudioFrame(1, bytes(40)), glp_probe.seq()), Channel.AUDIO_DOWN)
    assert err.code is E.INVALID_STATE and err.request_type == m.AudioFrame.TYPE


def test_not_found_unknown_photo(glp):
    require(glp, m.Capability.CAMERA)
    with pytest.raises(DeviceError) as info:
        glp.request(m.PhotoRead(0xFFFF, 0, 4))
    assert info.value.code is E.NOT_FOUND


def test_photo_offset_beyond_size_is_out_of_range(glp):
    require(glp, m.Capability.CAMERA)
    info = glp.request(m.PhotoCapture(1))
    with pytest.raises(DeviceError) as err:
        glp.request(m.PhotoRead(info.photo_id, info.size_bytes, 4))
    assert err.value.code is E.OUT_OF_RANGE


def test_version_no_common_protocol_version(glp):
    with pytest.raises(DeviceError) as info:
        glp.request(m.Hello(2, 15, 512))
    assert info.value.code is E.VERSION
    assert glp.request(m.Hello(1, 1, 8192)).version == 1  # a good Hello still works


def test_version_of_the_frame_itself(glp_probe):
    err = glp_probe.error_for(_ping(glp_probe, version=2))
    assert err.code is E.VERSION and err.offset == 0


def test_too_large_frame(glp, glp_probe):
    limit = glp.hello_reply.max_frame_len
    seq = glp_probe.seq()
    header = bytes((0x10, m.TextNotify.TYPE, seq)) + (limit - 7 + 1).to_bytes(2, "little")
    first = (header + bytes(glp_probe.max_payload))[:glp_probe.max_payload]
    replies = [r for r in glp_probe.exchange([first]) if r.is_reply and r.frame.seq == seq]
    assert len(replies) == 1 and replies[0].error is not None, replies
    assert replies[0].error.code is E.TOO_LARGE and replies[0].error.offset == 3


@pytest.mark.reference
def test_internal_fault_is_reported_and_the_dut_recovers(bench, dut, glp):
    if bench.reference is None or dut.console is None:
        pytest.skip("needs the reference bench's fault switch (console: glp fault internal)")
    assert "internal fault" in dut.console.command("glp fault internal")
    with pytest.raises(DeviceError) as info:
        glp.request(m.SettingsGet(), retries=0)
    assert info.value.code is E.INTERNAL
    assert isinstance(glp.request(m.SettingsGet()), m.Settings)


def test_dut_keeps_answering_after_a_burst_of_bad_frames(glp, glp_probe):
    bad = [craft(type_=0x3E, seq=glp_probe.seq()), _ping(glp_probe, bad_crc=True), b"\x10\x02",
           _ping(glp_probe, version=3), bytes(glp_probe.max_payload)]
    seen = glp_probe.exchange(bad)
    assert all(r.error is not None for r in seen if r.is_reply)
    assert glp.request(m.Ping(77)).token == 77
