"""PhoneSession <-> reference GlassesProtocol over the in-memory loopback: requests, errors, ordering."""

from __future__ import annotations

import asyncio

import pytest

from bench.profiles.glp import messages as m
from bench.profiles.glp.errors import ErrorCode
from bench.profiles.glp.frames import OVERHEAD, Frame, decode_frame, encode_frame
from bench.profiles.glp.gatt import Channel
from bench.profiles.glp.session import DeviceError, LoopbackLink, PhoneSession, RequestTimeout
from bench.reference.glasses_loopback import loopback_pair


def run(coro, timeout_s: float = 20.0):
    return asyncio.run(asyncio.wait_for(coro, timeout_s))


make = loopback_pair


def test_basic_requests():
    async def go():
        link, g, s = await make(board="nrf52840dk")
        assert s.hello_reply.max_frame_len == 512 and s.hello_reply.max_outstanding == 4
        info = await s.request(m.DeviceInfoGet())
        assert (info.board, info.sku) == (m.Board.NRF52840DK, m.Sku.CAMERA)
        assert (await s.request(m.BatteryGet())).level_pct == 87
        assert await s.request(m.SettingsGet()) == m.DEFAULT_SETTINGS
        sync = await s.request(m.TimeSync(1_700_000_000_000_000))
        assert sync.phone_time_us == 1_700_000_000_000_000 and sync.device_uptime_us >= 0
        assert isinstance(await s.request(m.TextNotify(m.TextMode.SPEAK, "hello")), m.Ack)
        assert len(s.transcript) == 12 and all(e.hex and "undecodable" not in e.decoded for e in s.transcript)
    run(go())


def test_request_before_hello_and_version_mismatch():
    async def go():
        link, g, s = await make(hello=False)
        assert isinstance(await s.request(m.Ping(1)), m.Pong)  # allowed before hello
        with pytest.raises(DeviceError) as err:
            await s.request(m.SettingsGet())
        assert err.value.code is ErrorCode.INVALID_STATE
        with pytest.raises(DeviceError) as err:
            await s.request(m.Hello(2, 3, 512))
        assert err.value.code is ErrorCode.VERSION
    run(go())


def test_settings_ranges_persist_and_factory_reset():
    async def go():
        link, g, s = await make()
        for key, wire in m.SETTING_RANGES.items():
            for value in (wire.min, wire.max):
                applied = await s.request(m.SettingSet(key, value))
                assert getattr(applied, m.SETTING_FIELDS[key]) == value
            for value in (wire.min - 1, wire.max + 1):
                with pytest.raises(DeviceError) as err:
                    await s.request(m.SettingSet(key, value), check=False)
                assert err.value.code is ErrorCode.OUT_OF_RANGE and key.name in err.value.reply.detail
        await s.request(m.SettingSet(m.SettingKey.VOLUME_PCT, 33))
        link.detach()
        link2 = LoopbackLink(244)
        g.send = None
        g._send = link2.to_phone
        link2.attach(g)
        s2 = PhoneSession(link2, timeout_s=0.3)
        await s2.hello()
        assert (await s2.request(m.SettingsGet())).volume_pct == 33  # survives reconnect
        await s2.request(m.FactoryReset())
        assert await s2.request(m.SettingsGet()) == m.DEFAULT_SETTINGS
    run(go())


@pytest.mark.parametrize("mtu", [23, 185, 247, 517])
def test_fragmentation_and_photo_at_mtu(mtu):
    async def go():
        link, g, s = await make(max_payload=mtu - 3, photo_size_bytes=6000)
        text = "é" * 100  # 200 UTF-8 bytes: a fragmented request at small MTUs
        assert isinstance(await s.request(m.TextNotify(m.TextMode.DISPLAY, text)), m.Ack)
        assert g.last_text.text == text
        info = await s.request(m.PhotoCapture(100))
        data = await s.fetch_photo(info, window=16)
        assert data == g.photos.photos[info.photo_id].data and data[:2] == b"\xff\xd8"
        assert link.down_fragments >= info.size_bytes // (mtu - 3 - OVERHEAD - 6)
    run(go())


@pytest.mark.parametrize("extra", [-1, 0, 1])
def test_request_exactly_at_fragment_boundary(extra):
    async def go():
        sizes = []
        link, g, s = await make(max_payload=20, tap=lambda d, ch, data: sizes.append((d, len(data))) or [data])
        # TextNotify payload = 1 (mode) + 1 (len) + n; frame = payload + 7
        n = 2 * 20 - OVERHEAD - 2 + extra
        await s.request(m.TextNotify(m.TextMode.SPEAK, "a" * n))
        assert g.last_text.text == "a" * n
        up = [size for d, size in sizes if d == "up"][-(3 if extra > 0 else 2):]
        assert sum(up) == n + 2 + OVERHEAD and max(up) == 20
    run(go())


def test_sequence_wraps_around():
    async def go():
        link, g, s = await make()
        seqs = set()
        for i in range(300):
            assert (await s.request(m.Ping(i))).token == i
        seqs = {decode_frame(e.raw).seq for e in s.transcript if e.direction == "tx"}
        assert seqs == set(range(256))
    run(go())


def test_duplicate_frames_are_ignored():
    async def go():
        link, g, s = await make(tap=lambda d, ch, data: [data, data] if d == "down" else [data])
        events = []
        s.subscribe(events.append, m.DeviceEvent)
        for i in range(5):
            assert (await s.request(m.Ping(i))).token == i
        assert g.trigger_event("button", "double")
        await s.wait_event(m.DeviceEvent, 1.0)
        await s.request(m.Ping(99))  # everything queued before this reply has been delivered
        assert len(events) == 1 and events[0].detail is m.EventDetail.DOUBLE
        assert s.duplicates == 1 and s.unmatched_replies == 7  # hello + 6 pings
    run(go())


def test_out_of_order_replies_are_correlated():
    held = []

    def tap(direction, channel, data):
        if direction == "down" and channel is Channel.CONTROL_OUT:
            held.append(data)
            if len(held) < 4:
                return []
            out = list(reversed(held))
            held.clear()
            return out
        return [data]

    async def go():
        link, g, s = await make(board="esp32s3", hello=True)
        replies = await asyncio.gather(*(s.request(m.Ping(t)) for t in (10, 11, 12, 13)))
        assert [r.token for r in replies] == [10, 11, 12, 13]
    run(go())


def test_retry_after_lost_reply_does_not_repeat_the_action():
    dropped = []

    def tap(direction, channel, data):
        if direction == "down" and channel is Channel.CONTROL_OUT and decode_frame(data).type == m.PhotoInfo.TYPE \
                and not dropped:
            dropped.append(data)
            return []
        return [data]

    async def go():
        link, g, s = await make(tap=tap, photo_size_bytes=1000)
        info = await s.request(m.PhotoCapture(50), timeout_s=0.1, retries=2)
        assert dropped and info.photo_id == 1 and list(g.photos.photos) == [1]  # captured once
        assert [e.note for e in s.transcript if e.direction == "tx"][-2:] == ["", "retry 1"]
    run(go())


def test_timeout_after_retries():
    async def go():
        link, g, s = await make(tap=lambda d, ch, data: [] if d == "down" else [data], hello=False)
        with pytest.raises(RequestTimeout, match="3 attempt"):
            await s.request(m.Ping(1), timeout_s=0.05, retries=2)
    run(go())


def test_corrupted_request_gets_bad_crc_and_is_resent():
    corrupted = []

    def tap(direction, channel, data):
        if direction == "up" and not corrupted and data[1] == m.SettingSet.TYPE:
            corrupted.append(data)
            return [data[:-1] + bytes([data[-1] ^ 0x55])]
        return [data]

    async def go():
        link, g, s = await make(tap=tap)
        assert (await s.request(m.SettingSet(m.SettingKey.LED_BRIGHTNESS_PCT, 10))).led_brightness_pct == 10
        assert corrupted and g.errors_sent == 1
    run(go())


def test_window_limits_requests_in_flight():
    async def go():
        in_flight, peak = [0], [0]

        def tap(direction, channel, data):
            if channel is Channel.CONTROL_IN:
                in_flight[0] += 1
                peak[0] = max(peak[0], in_flight[0])
            elif channel is Channel.CONTROL_OUT:
                in_flight[0] -= 1
            return [data]

        link, g, s = await make(board="nrf52840dk", tap=tap)
        await asyncio.gather(*(s.request(m.Ping(i)) for i in range(20)))
        assert peak[0] == 4
    run(go())


def test_capabilities_per_sku():
    async def go():
        link, g, s = await make(sku="audio", board="nrf52840dk")
        caps = s.capabilities
        assert not caps & m.Capability.CAMERA and caps & m.Capability.AUDIO_UPLINK and not caps & m.Capability.CODEC_OPUS
        for req in (m.PhotoCapture(50), m.PhotoRead(1, 0, 1), m.TextNotify(m.TextMode.DISPLAY, "x"),
                    m.AudioUplinkStart(m.Codec.OPUS, 16000, 20000)):
            with pytest.raises(DeviceError) as err:
                await s.request(req)
            assert err.value.code is ErrorCode.UNSUPPORTED
        with pytest.raises(ValueError, match="no touch sensor"):
            g.trigger_event("touch", "swipe_forward")
        link, g, s = await make(sku="camera")
        assert s.capabilities & m.Capability.CAMERA
        assert isinstance(await s.request(m.PhotoCapture(50)), m.PhotoInfo)
    run(go())


def test_events_and_battery_notifications():
    async def go():
        level = [80.0]
        link, g, s = await make(battery_pct=lambda: level[0])
        with pytest.raises(ValueError, match="button events are"):
            g.trigger_event("button", "swipe_forward")
        for kind, detail in (("button", "tap"), ("touch", "forward"), ("wake_word", "detected"), ("wear", "off")):
            assert g.trigger_event(kind, detail)
            ev = await s.wait_event(m.DeviceEvent, 1.0)
            assert ev.kind.name.lower() == kind
        await s.request(m.BatteryGet())
        g.tick()
        level[0] = 79.0
        g.tick()
        assert (await s.wait_event(m.BatteryStatus, 1.0)).level_pct == 79
    run(go())


def test_malformed_input_gets_error_replies_and_glasses_keep_going():
    async def go():
        link, g, s = await make()
        errors = []
        for junk in (b"\x00\x01\x02\x03\x04\x05\x06", b"\x10\x02\x05\x04\x00\x01\x02\x03\x04\x00\x00",
                     b"\x70\x02\x06\x00\x00\x00\x00", b"\x10",
                     encode_frame(Frame(type=0x3E, seq=7)), encode_frame(Frame(type=0x45, seq=8, payload=m.DEFAULT_SETTINGS.encode())),
                     encode_frame(Frame(type=m.Pong.TYPE, seq=9, payload=bytes(8), flags=1))):
            await s.send_raw(Channel.CONTROL_IN, junk)
            await s.request(m.Ping(1))
        errs = [m.decode_message(decode_frame(e.raw)) for e in s.transcript
                if e.direction == "rx" and e.raw[1] == m.ErrorReply.TYPE]
        assert [e.code for e in errs] == [ErrorCode.VERSION, ErrorCode.BAD_CRC, ErrorCode.VERSION, ErrorCode.MALFORMED,
                                          ErrorCode.UNKNOWN_TYPE, ErrorCode.UNKNOWN_TYPE, ErrorCode.MALFORMED]
        assert g.internal_errors == 0 and s.unmatched_replies == 7
    run(go())


def test_internal_fault_becomes_error_frame():
    from bench.profiles.glp.device import DeviceHooks

    class Buggy(DeviceHooks):
        def on_request(self, msg):
            if isinstance(msg, m.BatteryGet):
                raise ZeroDivisionError("seeded bug")
            return msg

    async def go():
        link, g, s = await make(hooks=Buggy())
        with pytest.raises(DeviceError) as err:
            await s.request(m.BatteryGet())
        assert err.value.code is ErrorCode.INTERNAL and "seeded bug" in err.value.reply.detail
        assert isinstance(await s.request(m.Ping(3)), m.Pong) and g.internal_errors == 1
    run(go())


def test_a_cancel_that_races_the_reply_is_not_swallowed():
    """CPython 3.11's wait_for returns the result when a cancel lands in the loop turn the result
    arrived in: the cancelled caller ran on (an echo of a stopped stream once did). Cancelled is cancelled."""
    async def go():
        link, g, s = await make()
        task: asyncio.Task | None = None
        deliver = link._receiver

        def receiver(channel, data):
            deliver(channel, data)  # resolves the request's future...
            if task is not None and not task.done():
                task.cancel()  # ...and its caller is cancelled in the same loop turn
        link._receiver = receiver
        task = asyncio.ensure_future(s.request(m.Ping(7)))
        await asyncio.wait([task], timeout=5)
        return task
    task = run(go())
    assert task.done() and task.cancelled(), f"the request returned {task.result()!r} to a cancelled caller"
