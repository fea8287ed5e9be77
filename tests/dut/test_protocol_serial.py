"""GLP conformance over the serial link (COBS packets, docs/protocol.md §2): the same frames as over BLE,
for bring-up without a radio. Skipped when the bench has no GLP serial port (dut.glp_port)."""

from __future__ import annotations

import zlib

import pytest

from bench import boards
from bench.profiles.glp.probe import GlpProbe, craft
from bench.profiles.glp.tools import capabilities, expect_event
from bench.profiles.glp import messages as m
from bench.profiles.glp.errors import ErrorCode
from bench.profiles.glp.frames import SerialFraming
from bench.profiles.glp.gatt import Channel
from bench.profiles.glp.session import DeviceError

pytestmark = [pytest.mark.protocol, pytest.mark.serial]


def test_serial_hello_and_identity_match_ble(dut, glp_serial):
    reply = glp_serial.hello()
    assert reply.version == 1 and reply.sku is m.Sku[dut.identity.sku.upper()]
    info = glp_serial.request(m.DeviceInfoGet())
    assert (info.board, info.sku) == (boards.get(dut.identity.board).protocol.glp_board_id,
                                      m.Sku[dut.identity.sku.upper()])
    ble_info = dut.need("glp").client.request(m.DeviceInfoGet())
    assert (info.firmware_version, info.serial_number) == (ble_info.firmware_version, ble_info.serial_number)


def test_serial_requests_and_settings(glp_serial):
    assert glp_serial.request(m.Ping(0xABCDEF)).token == 0xABCDEF
    assert glp_serial.request(m.TimeSync(42)).phone_time_us == 42
    try:
        assert glp_serial.request(m.SettingSet(m.SettingKey.VOLUME_PCT, 100)).volume_pct == 100
        with pytest.raises(DeviceError) as info:
            glp_serial.request(m.SettingSet(m.SettingKey.VOLUME_PCT, 101), check=False)
        assert info.value.code is ErrorCode.OUT_OF_RANGE
    finally:
        glp_serial.request(m.FactoryReset())


def test_serial_carries_whole_frames_without_fragmentation(glp_serial):
    probe = GlpProbe(glp_serial)
    assert probe.max_payload >= glp_serial.hello_reply.max_frame_len
    raw = craft(m.TextNotify(m.TextMode.SPEAK, "e" * 200), probe.seq())
    replies = probe.request_raw(raw)
    assert len(probe.fragments(raw)) == 1 and [type(r.msg) for r in replies] == [m.Ack]


def test_serial_error_codes(glp_serial):
    probe = GlpProbe(glp_serial)
    assert probe.error_for(craft(m.Ping(probe.token()), probe.seq(), bad_crc=True)).code is ErrorCode.BAD_CRC
    assert probe.error_for(craft(type_=0x3E, seq=probe.seq())).code is ErrorCode.UNKNOWN_TYPE
    assert probe.error_for(craft(m.Ping(1), probe.seq(), flags=0x4)).code is ErrorCode.MALFORMED


def test_serial_resynchronises_after_garbage(glp_serial):
    port = glp_serial.transport.port
    port.write(b"\x17\x42garbage without a delimiter" + b"\x00")  # not a valid COBS packet
    port.write(b"\x00\x00")  # empty packets
    port.write(SerialFraming.encode(Channel.CONTROL_IN, craft(m.Ping(5), 70))[:-1] + b"\x00")  # a good one
    assert glp_serial.request(m.Ping(6)).token == 6


def test_serial_photo_transfer(glp_serial):
    if not capabilities(glp_serial) & m.Capability.CAMERA:
        pytest.skip("DUT has no camera")
    info = glp_serial.request(m.PhotoCapture(20))
    data = glp_serial.call(lambda s: s.fetch_photo(info, window=8), 30, "photo over serial")
    assert zlib.crc32(data) == info.crc32


@pytest.mark.reference
def test_serial_internal_fault_is_reported(bench, dut, glp_serial):
    if bench.reference is None or dut.console is None:
        pytest.skip("needs the reference bench's fault switch")
    dut.console.command("glp fault internal serial")
    with pytest.raises(DeviceError) as info:
        glp_serial.request(m.BatteryGet(), retries=0)
    assert info.value.code is ErrorCode.INTERNAL
    assert isinstance(glp_serial.request(m.BatteryGet()), m.BatteryStatus)


def test_serial_events(dut, glp_serial):
    if dut.console is None:
        pytest.skip("needs the DUT console to trigger device events")
    out: list[str] = []
    ev = expect_event(glp_serial, m.DeviceEvent, lambda: out.append(dut.console.command("event wear off")),
                      predicate=lambda e: e.kind is m.EventKind.WEAR)
    assert ev.detail is m.EventDetail.OFF and "serial" in out[0]
