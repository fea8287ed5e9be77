"""GLP conformance: sequence numbers, duplicates, reordering, retries after a lost reply, the request
window (docs/protocol.md §5.2-5.3). Lost replies and duplicates are made by the phone side: a crafted
frame sent twice, or a request whose timeout is shorter than the round trip (its reply arrives late)."""

from __future__ import annotations

import asyncio

import pytest

from bench.profiles.glp.probe import craft
from bench.profiles.glp.tools import codec, require
from bench.profiles.glp import messages as m
from bench.profiles.glp.frames import decode_frame

pytestmark = [pytest.mark.protocol, pytest.mark.ble]


def test_sequence_numbers_wrap_around(glp):
    for i in range(300):
        assert glp.request(m.Ping(i)).token == i
    tx = [decode_frame(e.raw) for e in glp.session.transcript if e.direction == "tx" and not e.note]
    assert {f.seq for f in tx} == set(range(256)), "the phone used every seq and wrapped"


def test_out_of_order_sequence_numbers_are_answered_with_their_own(glp_probe):
    seqs = [glp_probe.seq() for _ in range(4)][::-1]  # descending: not the order a counter gives
    frames = [craft(m.Ping(glp_probe.token()), seq) for seq in seqs]
    seen = [r for r in glp_probe.exchange(frames) if r.is_reply]
    assert [r.frame.seq for r in seen] == seqs
    assert [r.msg.token for r in seen] == [int.from_bytes(f[5:9], "little") for f in frames]


def test_duplicate_request_is_answered_again_without_acting_twice(glp, glp_probe):
    require(glp, m.Capability.AUDIO_UPLINK)
    start = craft(m.AudioUplinkStart(codec(glp), 16000, 10000), glp_probe.seq())
    try:
        replies = [r for r in glp_probe.exchange([start, start]) if r.is_reply]
        assert len(replies) == 2 and all(isinstance(r.msg, m.Ack) for r in replies), \
            "a repeated seq must be answered from the reply cache, not run again (INVALID_STATE)"
        assert replies[0].entry.raw == replies[1].entry.raw
    finally:
        glp.request(m.AudioUplinkStop())


def test_duplicate_photo_capture_takes_one_photo(glp, glp_probe):
    require(glp, m.Capability.CAMERA)
    capture = craft(m.PhotoCapture(1), glp_probe.seq())
    infos = [r.msg for r in glp_probe.exchange([capture, capture]) if r.is_reply]
    assert len(infos) == 2 and infos[0] == infos[1]
    assert glp.request(m.PhotoCapture(1)).photo_id == infos[0].photo_id % 0xFFFF + 1


def test_retry_after_a_lost_reply_gets_the_cached_reply(glp, glp_probe):
    """A timeout shorter than the round trip makes the phone resend the same frame; the replies to the
    earlier attempts arrive late. Every reply must be the same Ack: the action ran once."""
    require(glp, m.Capability.AUDIO_UPLINK)
    request = m.AudioUplinkStart(codec(glp), 16000, 10000)
    seqs: list[int] = []
    try:
        seen = glp_probe.collect(lambda s: s.request(request, timeout_s=0.002, retries=500, _on_seq=seqs.append))
        retries = [e for e in glp.session.transcript if e.direction == "tx" and e.note.startswith("retry")]
        replies = [r for r in seen if r.is_reply and r.frame.seq == seqs[0]]
        assert retries, "the reply came back within 2 ms: no retry was provoked"
        assert len(replies) >= 2 and all(isinstance(r.msg, m.Ack) for r in replies), [r.entry.line() for r in replies]
        assert len({r.entry.raw for r in replies}) == 1
    finally:
        glp.request(m.AudioUplinkStop())


def test_pipelined_requests_up_to_the_window_are_correlated(glp):
    window = glp.hello_reply.max_outstanding

    async def burst(s):
        return await asyncio.gather(*(s.request(m.Ping(1000 + i)) for i in range(3 * window)))
    pongs = glp.call(burst, 20, "pipelined pings")
    assert [p.token for p in pongs] == [1000 + i for i in range(3 * window)]


def test_a_full_window_of_raw_requests_is_answered(glp, glp_probe):
    window = glp.hello_reply.max_outstanding
    frames = [craft(m.Ping(glp_probe.token()), glp_probe.seq()) for _ in range(window)]
    seen = [r for r in glp_probe.exchange(frames) if r.is_reply]
    assert sorted(r.frame.seq for r in seen) == sorted(f[2] for f in frames)
    assert all(isinstance(r.msg, m.Pong) for r in seen)


def test_replies_do_not_depend_on_other_requests_in_flight(glp):
    async def mixed(s):
        return await asyncio.gather(s.request(m.SettingsGet()), s.request(m.DeviceInfoGet()),
                                    s.request(m.BatteryGet()), s.request(m.Ping(9)))
    settings, info, battery, pong = glp.call(mixed, 10, "mixed requests")
    assert isinstance(settings, m.Settings) and isinstance(info, m.DeviceInfo)
    assert isinstance(battery, m.BatteryStatus) and pong.token == 9
