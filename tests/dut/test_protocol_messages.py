"""GLP conformance: every request and its reply (docs/protocol.md §5-6). Runs on any DUT; checks of
SKU-specific features read the capabilities the DUT advertised in its HelloReply."""

from __future__ import annotations

import zlib

import pytest

from bench import boards
from bench.profiles.glp.tools import capabilities, codec, require
from bench.profiles.glp import messages as m
from bench.profiles.glp.gatt import Channel

pytestmark = [pytest.mark.protocol, pytest.mark.ble]


def test_hello_negotiates_version_and_advertises_limits(dut, glp):
    reply = glp.request(m.Hello(1, 15, 8192))
    assert isinstance(reply, m.HelloReply)
    assert reply.version == 1
    assert reply.sku is m.Sku[dut.identity.sku.upper()]
    assert 27 <= reply.max_frame_len <= 8192
    assert 1 <= reply.max_outstanding <= 32
    assert 100 <= reply.heartbeat_interval_ms <= 60000
    assert reply.capabilities & ~m.ALL_CAPABILITIES == 0


def test_ping_echoes_token_and_uptime_advances(glp):
    first = glp.request(m.Ping(0))
    last = glp.request(m.Ping(0xFFFFFFFF))
    assert (first.token, last.token) == (0, 0xFFFFFFFF)
    assert last.uptime_ms >= first.uptime_ms


def test_device_info_matches_identity_and_dis(dut, glp):
    info = glp.request(m.DeviceInfoGet())
    assert info.board == boards.get(dut.identity.board).protocol.glp_board_id
    assert info.sku is m.Sku[dut.identity.sku.upper()]
    assert info.firmware_version == dut.device_info()["firmware_revision"]
    assert info.serial_number


def test_battery_matches_the_battery_service(dut, glp):
    status = glp.request(m.BatteryGet())
    assert 0 <= status.level_pct <= 100 and 0 < status.voltage_mv <= 5000
    assert abs(status.level_pct - dut.battery_level()) <= 1


def test_settings_get_returns_every_setting_in_range(glp):
    settings = glp.request(m.SettingsGet())
    assert isinstance(settings, m.Settings)
    m.check_message(settings)  # every field within its documented range


def test_setting_set_applies_and_returns_all_settings(glp):
    before = glp.request(m.SettingsGet())
    try:
        after = glp.request(m.SettingSet(m.SettingKey.WAKE_SENSITIVITY, 9))
        assert after.wake_sensitivity == 9
        assert (after.volume_pct, after.mic_gain_db, after.auto_sleep_s) == (
            before.volume_pct, before.mic_gain_db, before.auto_sleep_s)
        assert glp.request(m.SettingsGet()) == after
    finally:
        glp.request(m.SettingSet(m.SettingKey.WAKE_SENSITIVITY, before.wake_sensitivity))


def test_time_sync_echoes_phone_time(glp):
    a = glp.request(m.TimeSync(1_700_000_000_123_456))
    b = glp.request(m.TimeSync(2**64 - 1))
    assert a.phone_time_us == 1_700_000_000_123_456 and b.phone_time_us == 2**64 - 1
    assert b.device_uptime_us >= a.device_uptime_us > 0


def test_uplink_start_and_stop_are_acknowledged(glp):
    require(glp, m.Capability.AUDIO_UPLINK)
    try:
        assert isinstance(glp.request(m.AudioUplinkStart(codec(glp), 16000, 10000)), m.Ack)
    finally:
        assert isinstance(glp.request(m.AudioUplinkStop()), m.Ack)
    assert isinstance(glp.request(m.AudioUplinkStop()), m.Ack)  # stopping a stopped stream is fine


def test_downlink_start_grants_credit_after_the_ack(glp, glp_probe):
    require(glp, m.Capability.AUDIO_DOWNLINK)
    try:
        seen = glp_probe.collect(lambda s: s.request(m.AudioDownlinkStart(codec(glp), 16000, 10000)))
        ack = [r for r in seen if r.is_reply]
        grants = [r for r in seen if isinstance(r.msg, m.CreditGrant)]
        assert isinstance(ack[0].msg, m.Ack)
        assert grants and grants[0].msg.channel is m.CreditChannel.AUDIO_DOWN and grants[0].msg.credits >= 1
        assert seen.index(grants[0]) > seen.index(ack[0]), "CreditGrant must follow the Ack"
        assert not grants[0].is_reply and grants[0].channel is Channel.CONTROL_OUT
    finally:
        assert isinstance(glp.request(m.AudioDownlinkStop()), m.Ack)


def test_photo_capture_and_transfer_give_a_valid_jpeg(glp):
    require(glp, m.Capability.CAMERA)
    info = glp.request(m.PhotoCapture(10))
    assert isinstance(info, m.PhotoInfo) and info.size_bytes > 0
    data = glp.call(lambda s: s.fetch_photo(info, window=32), 60, "photo transfer")
    assert len(data) == info.size_bytes and zlib.crc32(data) == info.crc32
    assert data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9"  # JPEG SOI ... EOI


def test_photo_abort_stops_the_transfer(glp, glp_probe):
    require(glp, m.Capability.CAMERA)
    info = glp.request(m.PhotoCapture(50))

    async def read_then_abort(s):
        await s.request(m.PhotoRead(info.photo_id, 0, 4))
        await s.request(m.PhotoAbort(info.photo_id))
        await s.send(m.Credit(m.CreditChannel.MEDIA, 64))  # credit after abort must not restart chunks
    seen = glp_probe.collect(read_then_abort)
    chunks = [r.msg for r in seen if isinstance(r.msg, m.PhotoChunk)]
    assert len(chunks) == 4 and [c.offset for c in chunks] == sorted(c.offset for c in chunks)


def test_text_notify_per_capability(glp):
    caps = capabilities(glp)
    for mode, cap in ((m.TextMode.SPEAK, m.Capability.SPEAK), (m.TextMode.DISPLAY, m.Capability.DISPLAY)):
        if caps & cap:
            assert isinstance(glp.request(m.TextNotify(mode, "Turn left in 200 m")), m.Ack)


def test_factory_reset_restores_default_settings(glp):
    glp.request(m.SettingSet(m.SettingKey.VOLUME_PCT, 3))
    glp.request(m.SettingSet(m.SettingKey.AUTO_SLEEP_S, 3600))
    assert isinstance(glp.request(m.FactoryReset()), m.Ack)
    assert glp.request(m.SettingsGet()) == m.DEFAULT_SETTINGS


def test_credit_command_is_never_answered(glp_probe):
    seen = glp_probe.collect(lambda s: s.send(m.Credit(m.CreditChannel.MEDIA, 8)))
    assert [r for r in seen if r.is_reply] == []


def test_pre_hello_requests_are_answered_on_a_fresh_connection(dut, glp_record):
    from bench.profiles.glp.tools import open_session, reconnect

    reconnect(dut)
    fresh = glp_record.watch(open_session(dut, hello=False), "fresh session")
    try:
        assert fresh.request(m.Ping(5)).token == 5
        assert fresh.request(m.DeviceInfoGet()).sku is m.Sku[dut.identity.sku.upper()]
        assert isinstance(fresh.hello(), m.HelloReply)
    finally:
        fresh.close()


@pytest.mark.parametrize("key", list(m.SettingKey), ids=lambda k: k.name.lower())
def test_setting_range_limits(glp, key):
    from bench.profiles.glp.errors import ErrorCode
    from bench.profiles.glp.session import DeviceError

    rng, field = m.SETTING_RANGES[key], m.SETTING_FIELDS[key]
    try:
        for edge in (rng.min, rng.max):
            assert getattr(glp.request(m.SettingSet(key, edge)), field) == edge
        for outside in (rng.min - 1, rng.max + 1):
            with pytest.raises(DeviceError) as info:
                glp.request(m.SettingSet(key, outside), check=False)
            assert info.value.code is ErrorCode.OUT_OF_RANGE and key.name in info.value.reply.detail
            assert getattr(glp.request(m.SettingsGet()), field) == rng.max, "a refused value must not be applied"
    finally:
        glp.request(m.FactoryReset())
