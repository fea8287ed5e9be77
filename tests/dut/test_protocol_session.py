"""GLP conformance: flow control, heartbeat, state after reconnect, events and capabilities per SKU
(docs/protocol.md §5.1, §5.5-5.10)."""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from bench import boards
from bench.profiles.glp.probe import GlpProbe
from bench.profiles.glp.tools import capabilities, codec, expect_event, open_session, reconnect, require
from bench.profiles.glp import messages as m
from bench.profiles.glp.errors import ErrorCode
from bench.profiles.glp.gatt import Channel
from bench.profiles.glp.session import DeviceError

pytestmark = [pytest.mark.protocol, pytest.mark.ble]
C = m.Capability
SKU_CAPABILITIES = {  # docs/protocol.md §5.1
    "camera": C.AUDIO_UPLINK | C.AUDIO_DOWNLINK | C.CAMERA | C.DISPLAY | C.SPEAK | C.WAKE_WORD | C.TOUCH | C.WEAR_DETECT,
    "audio": C.AUDIO_UPLINK | C.AUDIO_DOWNLINK | C.SPEAK | C.WAKE_WORD | C.WEAR_DETECT,
}
FEATURES = ~(C.CODEC_LC3 | C.CODEC_OPUS | C.CODEC_PCM16)


def test_capabilities_match_the_sku(dut, glp):
    if dut.identity.sku not in SKU_CAPABILITIES:
        pytest.skip(f"no capability table for SKU {dut.identity.sku!r}")
    assert capabilities(glp) & FEATURES == SKU_CAPABILITIES[dut.identity.sku]


def board_codecs(board: str) -> m.Capability:
    """Codec capabilities the board file says the board runs (an unknown board is an error, not a skip)."""
    cannot = boards.get(board).protocol.unsupported_codecs
    expected = C(0)
    for codec in m.Codec:
        if codec.name.lower() not in cannot:
            expected |= m.CODEC_CAPABILITY[codec]
    return expected


def test_codecs_match_the_board(dut, glp):
    assert capabilities(glp) & ~FEATURES == board_codecs(dut.identity.board)


def test_photo_credits_are_honoured(glp, glp_probe):
    require(glp, C.CAMERA)
    info = glp.request(m.PhotoCapture(50))
    first = glp_probe.collect(lambda s: s.request(m.PhotoRead(info.photo_id, 0, 5)))
    more = glp_probe.collect(lambda s: s.send(m.Credit(m.CreditChannel.MEDIA, 3)))
    glp.request(m.PhotoAbort(info.photo_id))
    chunks = [r.msg for r in first + more if isinstance(r.msg, m.PhotoChunk)]
    assert len([r for r in first if isinstance(r.msg, m.PhotoChunk)]) == 5, "initial grant of 5 chunks"
    assert len([r for r in more if isinstance(r.msg, m.PhotoChunk)]) == 3, "Credit(MEDIA, 3) allows 3 more"
    assert [c.offset for c in chunks] == sorted({c.offset for c in chunks})


def _downlink_session(dut, glp, glp_record):
    """A new connection and session (no credit left over from earlier streams) with the downlink
    started; returns the session and the credit of the glasses' initial CreditGrant."""
    require(glp, C.AUDIO_DOWNLINK)
    reconnect(dut)
    fresh = glp_record.watch(dut.need("glp").client, "downlink session")
    grant = expect_event(fresh, m.CreditGrant,
                         lambda: fresh.request(m.AudioDownlinkStart(codec(fresh), 16000, 10000)))
    assert grant.channel is m.CreditChannel.AUDIO_DOWN and grant.credits >= 1
    return fresh, grant.credits


def test_downlink_sender_within_credit_is_never_refused(dut, glp, glp_record):
    fresh, _ = _downlink_session(dut, glp, glp_record)
    try:
        async def play(s):
            for i in range(24):  # three times the glasses' buffer: needs credit to come back
                await s.send_audio(bytes(40), i * 10_000, timeout_s=3.0)
        seen = GlpProbe(fresh).collect(play, timeout_s=10)
        assert not [r for r in seen if r.error is not None], [r.entry.line() for r in seen if r.error]
    finally:
        fresh.request(m.AudioDownlinkStop())


def test_downlink_frames_beyond_credit_are_refused_busy(dut, glp, glp_record):
    fresh, credit = _downlink_session(dut, glp, glp_record)
    try:
        async def flood(s):
            for i in range(credit + 16):
                await s.send(m.AudioFrame(i, bytes(40)), Channel.AUDIO_DOWN)
        seen = GlpProbe(fresh).collect(flood)
        busy = [r for r in seen if r.error is not None and r.error.code is ErrorCode.BUSY]
        assert busy, "16 frames beyond the granted credit, sent at once, must overrun the buffer"
        assert len(busy) <= 16 and all(r.error.request_type == m.AudioFrame.TYPE for r in busy)
    finally:
        fresh.request(m.AudioDownlinkStop())


async def _close(s) -> None:
    """PhoneSession.close() must stop the heartbeat even when its cancel races with a Pong."""
    try:
        await asyncio.wait_for(s.close(), 3.0)
    except asyncio.TimeoutError:
        raise AssertionError("the session's heartbeat task would not stop") from None


def test_heartbeat_pings_when_idle_and_the_link_stays_alive(glp, glp_probe):
    assert 100 <= glp.hello_reply.heartbeat_interval_ms <= 60000

    async def beat(s):
        pong = asyncio.get_running_loop().create_future()

        def listener(e):
            if e.direction == "rx" and isinstance(_msg(e), m.Pong) and not pong.done():
                pong.set_result(e)
        glp_probe.transcript.listeners.append(listener)
        try:
            s.start_heartbeat(0.2)
            await asyncio.wait_for(pong, 3.0)
        finally:
            glp_probe.transcript.listeners.remove(listener)
            await _close(s)
    glp_probe.collect(beat)
    pings = [e for e in glp.session.transcript if e.direction == "tx" and isinstance(_msg(e), m.Ping)]
    assert pings and glp.session.link_alive


def _msg(entry):
    from bench.profiles.glp.frames import decode_frame

    try:
        return m.decode_message(decode_frame(entry.raw))
    except Exception:  # noqa: BLE001 - undecodable entries are simply not Pings/Pongs
        return None


@pytest.mark.slow
def test_device_stops_streams_after_three_silent_heartbeats(glp):
    require(glp, C.AUDIO_UPLINK)
    start = m.AudioUplinkStart(codec(glp), 16000, 10000)
    glp.request(start)
    try:
        time.sleep(3 * glp.hello_reply.heartbeat_interval_ms / 1000 + 1.0)  # the stimulus: phone silence
        assert isinstance(glp.request(start), m.Ack), "the watchdog should have stopped the uplink"
    finally:
        glp.request(m.AudioUplinkStop())


def test_state_after_reconnect(dut, glp, glp_record):
    glp.request(m.SettingSet(m.SettingKey.LED_BRIGHTNESS_PCT, 17))
    if capabilities(glp) & C.AUDIO_UPLINK:
        glp.request(m.AudioUplinkStart(codec(glp), 16000, 10000))
    reconnect(dut)
    fresh = glp_record.watch(open_session(dut, hello=False), "after reconnect")
    try:
        with pytest.raises(DeviceError) as info:
            fresh.request(m.SettingsGet())
        assert info.value.code is ErrorCode.INVALID_STATE, "a new connection starts before Hello"
        fresh.hello()
        assert fresh.request(m.SettingsGet()).led_brightness_pct == 17, "settings survive reconnects"
        if capabilities(fresh) & C.AUDIO_UPLINK:  # the disconnect stopped the uplink: start is accepted
            assert isinstance(fresh.request(m.AudioUplinkStart(codec(fresh), 16000, 10000)), m.Ack)
            fresh.request(m.AudioUplinkStop())
    finally:
        fresh.request(m.FactoryReset())
        fresh.close()


def test_photo_transfer_resumes_after_reconnect(dut, glp, glp_probe, glp_record):
    require(glp, C.CAMERA)
    info = glp.request(m.PhotoCapture(5))
    got = glp_probe.collect(lambda s: s.request(m.PhotoRead(info.photo_id, 0, 4)))
    chunks = [r.msg for r in got if isinstance(r.msg, m.PhotoChunk)]
    prefix = b"".join(c.data for c in chunks)
    assert len(chunks) == 4 and chunks[0].offset == 0
    reconnect(dut)
    again = glp_record.watch(dut.need("glp").client, "after reconnect")
    data = again.call(lambda s: s.fetch_photo(info, have=prefix), 60, "resumed transfer")
    assert len(data) == info.size_bytes


def _console(dut):
    dut.need("glp")
    if dut.console is None:
        pytest.skip("needs the DUT console to trigger device events")
    if not re.search(r"^\s*event\s", dut.console.command("help"), re.M):
        pytest.skip("the DUT console has no 'event' command")
    return dut.console


def test_console_event_reaches_the_phone_numbered_from_zero(dut, glp_record):
    console = _console(dut)
    reconnect(dut)
    glp = glp_record.watch(dut.need("glp").client, "GLP")
    for detail in ("tap", "double", "long"):
        ev = expect_event(glp, m.DeviceEvent, lambda d=detail: console.command(f"event button {d}"),
                          predicate=lambda e, d=detail: e.detail is m.EventDetail[d.upper()])
        assert ev.kind is m.EventKind.BUTTON and ev.uptime_us > 0
    unsolicited = [e for e in glp.session.transcript if e.direction == "rx" and e.channel is Channel.CONTROL_OUT
                   and not e.raw[0] & 0x1]
    seqs = [e.raw[2] for e in unsolicited]
    assert seqs == list(range(len(seqs))) and len(seqs) >= 3, "events count from 0 on each connection"
    assert glp.session.stream_gaps == 0 and glp.session.duplicates == 0


def test_touch_events_follow_the_touch_capability(dut, glp):
    console = _console(dut)
    if capabilities(glp) & C.TOUCH:
        ev = expect_event(glp, m.DeviceEvent, lambda: console.command("event touch forward"),
                          predicate=lambda e: e.kind is m.EventKind.TOUCH)
        assert ev.detail is m.EventDetail.SWIPE_FORWARD
    else:
        out = console.command("event touch forward")
        assert out.startswith("error"), f"a SKU without touch must refuse touch events, said {out!r}"


def test_invalid_console_event_is_an_error(dut, glp):
    assert _console(dut).command("event button sideways").startswith("error")
