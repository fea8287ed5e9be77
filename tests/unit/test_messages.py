"""Message schema: round trips for every type, ranges, malformed payloads, strategies."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from bench.profiles.glp import messages as m
from bench.profiles.glp import strategies as strat
from bench.profiles.glp.errors import ErrorCode, ProtocolError
from bench.profiles.glp.frames import Frame, decode_frame, encode_frame

FAST = settings(max_examples=40, deadline=None)
ALL = sorted(m.REGISTRY.values(), key=lambda c: c.TYPE)


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
@FAST
@given(data=st.data())
def test_round_trip_every_message(cls, data):
    msg = data.draw(strat.message_strategy(cls))
    frame = m.encode_message(msg, seq=data.draw(st.integers(0, 255)))
    assert m.decode_message(decode_frame(encode_frame(frame))) == msg


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
@FAST
@given(payload=strat.raw_payloads(40))
def test_any_payload_gives_message_or_protocol_error(cls, payload):
    try:
        msg = m.decode_payload(cls.TYPE, payload)
    except ProtocolError as exc:
        assert 0 <= exc.offset <= len(payload) and exc.reason
        return
    assert isinstance(msg, cls) and msg.encode() == payload  # canonical: re-encodes to the same bytes


@FAST
@given(st.integers(0, 255), st.binary(max_size=40))
def test_any_type_any_payload(type_code, payload):
    try:
        m.decode_message(Frame(type=type_code, seq=0, payload=payload))
    except ProtocolError:
        pass


def test_type_codes_follow_the_ranges():
    for code, cls in m.REGISTRY.items():
        if cls.ROLE & (m.Role.REQUEST | m.Role.COMMAND) and cls.CHANNEL.name == "CONTROL_IN":
            assert 0x01 <= code <= 0x3F, cls
        elif cls.ROLE & m.Role.STREAM:
            assert code >= 0xC0, cls
        elif cls.ROLE & m.Role.REPLY:
            assert 0x40 <= code <= 0x7F, cls
        else:
            assert 0x80 <= code <= 0xBF, cls
        for reply in cls.REPLY:
            assert m.Role.REPLY in reply.ROLE


def test_settings_ranges_are_enforced_both_ways():
    with pytest.raises(ProtocolError) as err:
        m.SettingSet(m.SettingKey.VOLUME_PCT, 101).encode()
    assert err.value.code is ErrorCode.OUT_OF_RANGE and "0..100" in err.value.reason
    raw = m.SettingSet(m.SettingKey.MIC_GAIN_DB, -13).encode(check=False)
    with pytest.raises(ProtocolError, match="MIC_GAIN_DB: -13 outside -12..24 dB"):
        m.decode_payload(m.SettingSet.TYPE, raw)
    for key, rng in m.SETTING_RANGES.items():
        for v in (rng.min, rng.max):
            assert m.decode_payload(m.SettingSet.TYPE, m.SettingSet(key, v).encode()) == m.SettingSet(key, v)
    assert m.SETTING_RANGES[m.SettingKey.AUTO_SLEEP_S].min == 10


def test_decode_errors_name_field_and_offset():
    with pytest.raises(ProtocolError) as err:
        m.decode_message(Frame(type=m.AudioUplinkStart.TYPE, seq=0, payload=b"\x02\x80\x3e\x00\x00\x11\x11"))
    assert "frame_duration_us" in err.value.reason and err.value.offset == 5 + 5
    with pytest.raises(ProtocolError, match="trailing"):
        m.decode_payload(m.Ping.TYPE, bytes(5))
    with pytest.raises(ProtocolError) as err:
        m.decode_payload(0x3E, b"")
    assert err.value.code is ErrorCode.UNKNOWN_TYPE
    with pytest.raises(ProtocolError, match="UTF-8"):
        m.decode_payload(m.TextNotify.TYPE, b"\x01\x02\xff\xfe")
    with pytest.raises(ProtocolError, match="BUTTON has no detail ON"):
        m.decode_payload(m.DeviceEvent.TYPE, bytes([1, 7]) + bytes(8))
    with pytest.raises(ProtocolError, match="bool must be 0 or 1"):
        m.decode_payload(m.BatteryStatus.TYPE, bytes([50, 2, 0, 0]))


def test_example_bytes_from_the_spec():
    # docs/protocol.md §9 examples
    assert encode_frame(m.encode_message(m.SettingSet(m.SettingKey.VOLUME_PCT, 80), 1)).hex(" ") == \
        "10 06 01 05 00 01 50 00 00 00 39 ce"
    assert encode_frame(m.encode_message(m.Hello(1, 1, 8192), 0)).hex(" ") == "10 01 00 04 00 01 01 00 20 18 6f"


def test_strategies_try_boundaries():
    wire = m.SETTING_RANGES[m.SettingKey.MIC_GAIN_DB]
    assert wire.boundaries()[:2] == [-12, 24]
    seen = set()

    @settings(max_examples=200, deadline=None, derandomize=True, database=None)
    @given(strat.message_strategy(m.Settings))
    def collect(msg):
        seen.add(msg.mic_gain_db)

    collect()
    assert {-12, 24} <= seen
