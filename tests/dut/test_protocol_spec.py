"""GLP conformance for the rules a clean-room client needed from docs/protocol.md: error precedence
(§5.4), the frame named in every error reply, error replies within the phone's max_frame_len,
resynchronisation after a truncated frame (§2, §4), message types the glasses do not accept, the
session state machine (§5.0, §5.1) and the serial link's own rules (§2). Over BLE and serial alike
where the rule is link-independent."""

from __future__ import annotations

import time

import pytest

from bench.profiles.glp import messages as m
from bench.profiles.glp.errors import ErrorCode
from bench.profiles.glp.frames import REASSEMBLY_TIMEOUT_S, decode_frame
from bench.profiles.glp.gatt import Channel
from bench.profiles.glp.probe import GlpProbe, craft
from bench.profiles.glp.session import DeviceError

pytestmark = [pytest.mark.protocol]

NOT_ACCEPTED = sorted(t for t, c in m.REGISTRY.items() if t not in m.GLASSES_ACCEPT[Channel.CONTROL_IN])


@pytest.fixture(params=["ble", "serial"])
def link(request):
    """A hello'd GLP client over BLE or over serial."""
    return request.getfixturevalue("glp" if request.param == "ble" else "glp_serial")


def _pong_after(probe: GlpProbe, writes: list[bytes], timeout_s: float) -> tuple[list, float]:
    """Write `writes` then one valid Ping (its own write); return what came back and the Ping's latency."""
    token = probe.token()
    ping = craft(m.Ping(token), probe.seq())
    t0 = time.monotonic()
    got = probe.exchange([*writes, ping], timeout_s=timeout_s)
    pongs = [r for r in got if isinstance(r.msg, m.Pong) and r.msg.token == token]
    assert pongs, f"the valid Ping after {[w.hex(' ') for w in writes]} was never answered: {[r.entry.line() for r in got]}"
    return got, pongs[0].entry.t_s - t0


@pytest.mark.parametrize("type_", NOT_ACCEPTED, ids=[m.REGISTRY[t].__name__ for t in NOT_ACCEPTED])
def test_reply_event_and_stream_types_from_the_phone_are_unknown_type(link, type_):
    """§5.4: a type the glasses do not accept on CONTROL_IN is UNKNOWN_TYPE, whatever its payload."""
    probe = GlpProbe(link)
    for payload in (b"", b"\xff" * 3):  # neither empty nor garbage payloads are decoded first
        err = probe.error_for(craft(type_=type_, seq=probe.seq(), payload=payload))
        assert err.code is ErrorCode.UNKNOWN_TYPE and err.request_type == type_, err


def test_errors_name_the_frame_whenever_its_header_was_readable(link):
    """§5.4: request_type is byte 1 of what arrived, also for frame-level errors."""
    probe = GlpProbe(link)
    cases = {
        ErrorCode.BAD_CRC: craft(m.Ping(1), probe.seq(), bad_crc=True),
        ErrorCode.MALFORMED: craft(m.Ping(1), probe.seq(), flags=0x4),
        ErrorCode.VERSION: craft(m.Ping(1), probe.seq(), version=2),
        ErrorCode.OUT_OF_RANGE: craft(m.SettingSet(m.SettingKey.VOLUME_PCT, 101), probe.seq(), check=False),
    }
    for code, raw in cases.items():
        err = probe.error_for(raw)
        assert (err.code, err.request_type) == (code, raw[1]), (code.name, err)
    too_large = bytearray(craft(m.Ping(1), probe.seq()))
    too_large[3:5] = (link.hello_reply.max_frame_len).to_bytes(2, "little")  # header claims a frame > max
    err = probe.error_for(bytes(too_large[:probe.max_payload]))
    assert (err.code, err.request_type) == (ErrorCode.TOO_LARGE, m.Ping.TYPE), err


def test_error_precedence(link):
    """§5.4 precedence table: frame checks before type, type before payload, payload before state."""
    probe = GlpProbe(link)
    order = [
        (craft(type_=0x3E, seq=probe.seq(), bad_crc=True), ErrorCode.BAD_CRC),  # CRC beats unknown type
        (craft(m.Ping(1), probe.seq(), version=2, bad_crc=True), ErrorCode.VERSION),  # version beats CRC
        (craft(type_=m.Ack.TYPE, seq=probe.seq(), flags=0x1), ErrorCode.MALFORMED),  # REPLY flag beats type
        (craft(type_=m.Ping.TYPE, seq=probe.seq(), payload=b"\x01"), ErrorCode.MALFORMED),  # short payload
        (craft(type_=m.SettingSet.TYPE, seq=probe.seq(), payload=b"\x09\x00\x00\x00\x00"), ErrorCode.OUT_OF_RANGE),
    ]
    for raw, code in order:
        assert probe.error_for(raw).code is code, (raw.hex(" "), code.name)


def test_error_reply_fits_the_phones_max_frame_len(glp_serial):
    """§5.4: the detail text is cut so the ErrorReply frame never exceeds the phone's max_frame_len."""
    probe = GlpProbe(glp_serial)
    try:
        hello = probe.request_raw(craft(m.Hello(1, 1, 27), probe.seq()))
        assert [type(r.msg) for r in hello] == [m.HelloReply]
        for raw in (craft(m.SettingSet(m.SettingKey.VOLUME_PCT, 101), probe.seq(), check=False),
                    craft(type_=0x3E, seq=probe.seq(), payload=b"x" * 10)):
            replies = probe.request_raw(raw)
            assert len(replies) == 1 and replies[0].error is not None, [r.entry.line() for r in replies]
            assert len(replies[0].entry.raw) <= 27, replies[0].entry.line()
    finally:
        glp_serial.hello()


def test_ble_truncated_frame_does_not_swallow_the_next_one(glp_probe):
    """§4 rule 3: a whole valid frame arriving while a partial one is pending starts anew, at once."""
    truncated = craft(m.TextNotify(m.TextMode.SPEAK, "t" * 100), glp_probe.seq())[:12]  # header says 114 B
    got, latency_s = _pong_after(glp_probe, [truncated], timeout_s=2 * REASSEMBLY_TIMEOUT_S)
    assert latency_s < REASSEMBLY_TIMEOUT_S, f"Ping answered after {latency_s:.3f} s: it waited for a timeout"


def test_serial_truncated_packet_is_answered_and_the_next_frame_served(glp_serial):
    """§2: a packet is one frame; a short one is MALFORMED (naming its type and seq), nothing is kept."""
    probe = GlpProbe(glp_serial)
    raw = craft(m.TextNotify(m.TextMode.SPEAK, "t" * 40), probe.seq())
    got, _ = _pong_after(probe, [raw[:20]], timeout_s=2.0)
    errors = [r.error for r in got if r.error is not None and r.frame.seq == raw[2]]
    assert len(errors) == 1 and (errors[0].code, errors[0].request_type) == (ErrorCode.MALFORMED, raw[1]), \
        [r.entry.line() for r in got]


def test_serial_does_not_reassemble_frames_across_packets(glp_serial):
    """§2: the two halves of one frame in two packets are two bad frames, never one good one."""
    probe = GlpProbe(glp_serial)
    raw = craft(m.TextNotify(m.TextMode.SPEAK, "s" * 40), probe.seq())
    got = probe.exchange([raw[:20], raw[20:]])
    assert not any(isinstance(r.msg, m.Ack) for r in got), [r.entry.line() for r in got]
    assert any(r.error is not None and r.error.request_type == raw[1] for r in got), [r.entry.line() for r in got]


def test_serial_link_has_no_microphone_uplink(glp_serial):
    """§2: the serial HelloReply clears AUDIO_UPLINK, so AudioUplinkStart is UNSUPPORTED (never a silent Ack)."""
    assert not glp_serial.hello_reply.capabilities & m.Capability.AUDIO_UPLINK
    with pytest.raises(DeviceError) as info:
        glp_serial.request(m.AudioUplinkStart(m.Codec.LC3, 16000, 10000), retries=0)
    assert info.value.code is ErrorCode.UNSUPPORTED


def test_hello_ends_the_session_and_its_reply_cache(glp_serial):
    """§5.1/§5.3: retries are served from the cache within a session; after a Hello they act again."""
    probe = GlpProbe(glp_serial)
    set10 = craft(m.SettingSet(m.SettingKey.VOLUME_PCT, 10), probe.seq())
    try:
        assert probe.request_raw(set10)[0].msg.volume_pct == 10
        glp_serial.request(m.SettingSet(m.SettingKey.VOLUME_PCT, 20))
        assert probe.request_raw(set10)[0].msg.volume_pct == 10  # the cached answer ...
        assert glp_serial.request(m.SettingsGet()).volume_pct == 20  # ... without acting again
        glp_serial.hello()
        probe.request_raw(set10)
        assert glp_serial.request(m.SettingsGet()).volume_pct == 10  # a new session: acted on
    finally:
        glp_serial.request(m.FactoryReset())


def test_state_machine_failed_hello_ends_the_session(glp_serial):
    """§5.0: READY --Hello without a common version--> AWAITING_HELLO (only Hello/Ping/DeviceInfoGet)."""
    probe = GlpProbe(glp_serial)
    try:
        assert probe.error_for(craft(m.Hello(2, 3, 512), probe.seq())).code is ErrorCode.VERSION
        assert probe.error_for(craft(m.BatteryGet(), probe.seq())).code is ErrorCode.INVALID_STATE
        assert [type(r.msg) for r in probe.request_raw(craft(m.Ping(5), probe.seq()))] == [m.Pong]
        assert probe.error_for(craft(type_=0x3E, seq=probe.seq())).code is ErrorCode.UNKNOWN_TYPE  # type beats state
    finally:
        glp_serial.hello()
    assert isinstance(glp_serial.request(m.BatteryGet()), m.BatteryStatus)


def test_serial_events_number_from_zero_after_hello(dut, glp_serial):
    """§5.7: each session (a Hello) numbers the glasses' events on CONTROL_OUT from 0."""
    if dut.console is None:
        pytest.skip("needs the DUT console to trigger device events")
    probe = GlpProbe(glp_serial)
    glp_serial.hello()
    got = probe.collect(lambda s: _console(dut, "event wear on"))
    events = [r for r in got if not r.is_reply and r.frame is not None and r.frame.type == m.DeviceEvent.TYPE]
    assert events and events[0].frame.seq == 0, [r.entry.line() for r in got]


async def _console(dut, command: str) -> None:
    import asyncio

    await asyncio.get_running_loop().run_in_executor(None, dut.console.command, command)


def test_glp_reset_serial_restores_power_on_state(bench, dut, glp_serial):
    """The one serial endpoint has one reset path: after `glp reset serial` a Hello is needed again."""
    if bench.reference is None or dut.console is None:
        pytest.skip("needs the reference bench's console")
    try:
        dut.console.command("glp reset serial")
        probe = GlpProbe(glp_serial)
        assert probe.error_for(craft(m.BatteryGet(), probe.seq())).code is ErrorCode.INVALID_STATE
    finally:
        glp_serial.hello()
