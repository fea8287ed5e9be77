"""PhoneSession streams: photo credit window and resume, audio credits, heartbeat, serial link."""

from __future__ import annotations

import asyncio
import os
import zlib

import pytest
import serial

from bench.profiles.glp import messages as m
from bench.profiles.glp.errors import ErrorCode
from bench.profiles.glp.frames import decode_frame
from bench.profiles.glp.gatt import Channel
from bench.profiles.glp.session import DeviceError, PhoneSession, PhotoTransferError, SerialTransport
from bench.profiles.glp.device import GlassesProtocol
from bench.reference.glasses_loopback import loopback_pair
from bench.profiles.glp.device_serial import GlassesSerialLink

make = loopback_pair


def run(coro, timeout_s: float = 20.0):
    return asyncio.run(asyncio.wait_for(coro, timeout_s))


def test_photo_credit_window_bounds_chunks_in_flight():
    async def go():
        ahead, peak = [0], [0]

        def tap(direction, channel, data):
            if channel is Channel.MEDIA:
                ahead[0] += 1
                peak[0] = max(peak[0], ahead[0])
            elif channel is Channel.CONTROL_IN and data[1] == m.Credit.TYPE:
                ahead[0] -= m.decode_message(decode_frame(data)).credits
            elif channel is Channel.CONTROL_IN and data[1] == m.PhotoRead.TYPE:
                ahead[0] = 0
            return [data]

        link, g, s = await make(tap=tap, photo_size_bytes=40_000)
        info = await s.request(m.PhotoCapture(100))
        data = await s.fetch_photo(info, window=8)
        assert zlib.crc32(data) == info.crc32 and peak[0] == 8
    run(go())


def test_photo_resumes_after_lost_chunk_and_from_offset():
    lost = []

    def tap(direction, channel, data):
        if channel is Channel.MEDIA and not lost and m.decode_message(decode_frame(data)).offset > 5000:
            lost.append(data)
            return []
        return [data]

    async def go():
        link, g, s = await make(tap=tap, photo_size_bytes=20_000)
        info = await s.request(m.PhotoCapture(100))
        assert await s.fetch_photo(info, window=16) == g.photos.photos[1].data and lost
        assert s.stream_gaps == 1
        link.tap = lambda d, ch, data: [] if ch is Channel.MEDIA and d == "down" and ahead_of(data, 12_000) else [data]
        with pytest.raises(PhotoTransferError) as err:
            await s.fetch_photo(info, window=16, stall_timeout_s=0.05, resumes=1)
        have = err.value.received_bytes
        assert 12_000 <= have < 12_000 + 231 and err.value.data == g.photos.photos[1].data[:have]
        link.tap = None
        reads = len([e for e in s.transcript if e.raw[1] == m.PhotoRead.TYPE])
        assert await s.fetch_photo(info, have=err.value.data) == g.photos.photos[1].data
        last_read = [m.decode_message(decode_frame(e.raw)) for e in s.transcript if e.raw[1] == m.PhotoRead.TYPE]
        assert len(last_read) == reads + 1 and last_read[-1].offset == have
        with pytest.raises(DeviceError) as nf:
            await s.request(m.PhotoRead(77, 0, 4))
        assert nf.value.code is ErrorCode.NOT_FOUND
    run(go())


def ahead_of(data: bytes, offset: int) -> bool:
    return m.decode_message(decode_frame(data)).offset >= offset


def test_audio_uplink_and_downlink_credits():
    class Audio:
        def __init__(self):
            self.played, self.calls, self.buffering = [], [], False

        def uplink_start(self, *a): self.calls.append(("up", a))
        def uplink_stop(self): self.calls.append(("up-stop",))
        def downlink_start(self, *a): self.calls.append(("down", a))
        def downlink_stop(self): self.calls.append(("down-stop",))
        def downlink_frame(self, data, t):
            self.played.append(data)
            return not self.buffering

    async def go():
        audio = Audio()
        link, g, s = await make(audio=audio)
        frames = []
        s.subscribe(frames.append, m.AudioFrame)
        assert not g.send_audio_frame(b"x" * 40, 1)
        await s.request(m.AudioUplinkStart(m.Codec.LC3, 16000, 10000))
        assert audio.calls[-1] == ("up", (m.Codec.LC3, 16000, 0.01))
        assert g.send_audio_frame(b"x" * 40, 1234)
        await s.request(m.Ping(0))
        assert frames == [m.AudioFrame(1234, b"x" * 40)]
        await s.request(m.AudioDownlinkStart(m.Codec.PCM16, 16000, 10000))
        for i in range(30):
            await s.send_audio(bytes([i]) * 20, i, timeout_s=1.0)
        await s.request(m.Ping(1))
        assert len(audio.played) == 30 and g.downlink_overruns == 0
        audio.buffering = True  # the speaker now holds frames until downlink_played()
        credits = s.downlink_credits
        assert 0 < credits <= 8  # the glasses' buffer bounds what the phone may send ahead
        for i in range(credits):
            await s.send_audio(b"b", i, timeout_s=1.0)
        with pytest.raises(asyncio.TimeoutError):
            await s.send_audio(b"late", 9, timeout_s=0.05)  # no credit left: the phone waits
        await s.send(m.AudioFrame(0, b"z"), Channel.AUDIO_DOWN)  # bypassing credits: the glasses refuse it
        await s.request(m.Ping(2))
        assert g.downlink_overruns == 1 and len(audio.played) == 30 + credits
        g.downlink_played(credits)
        await s.send_audio(b"again", 10, timeout_s=1.0)
        await s.request(m.Ping(3))
        assert audio.played[-1] == b"again"
    run(go())


def test_heartbeat_detects_a_dead_link_and_device_watchdog():
    async def go():
        link, g, s = await make(heartbeat_interval_s=0.1)
        lost = asyncio.Event()
        s.start_heartbeat(on_lost=lost.set)
        link.tap = lambda d, ch, data: []  # radio silence both ways
        await asyncio.wait_for(lost.wait(), 3.0)
        assert not s.link_alive
        await s.close()

        now = [0.0]
        link, g, s = await make(clock=lambda: now[0], heartbeat_interval_s=1.0)
        await s.request(m.AudioUplinkStart(m.Codec.LC3, 16000, 10000))
        now[0] = 2.9
        g.tick()
        assert g.uplink is not None
        now[0] = 3.1
        g.tick()
        assert g.uplink is None and not g.phone_alive
    run(go())


def test_serial_transport_over_a_pty():
    async def go():
        loop = asyncio.get_running_loop()
        master, slave = os.openpty()
        os.set_blocking(master, False)
        port = serial.Serial(os.ttyname(slave), timeout=0.02)
        import tty
        tty.setraw(slave)
        dev = GlassesSerialLink(lambda b: os.write(master, b))
        g = GlassesProtocol("nrf52840dk", "camera", dev.send, photo_size_bytes=3000)
        dev.attach(g)
        loop.add_reader(master, lambda: dev.feed_bytes(os.read(master, 4096)))
        transport = SerialTransport(port, loop)
        s = PhoneSession(transport, timeout_s=0.5)
        try:
            await s.hello()
            info = await s.request(m.PhotoCapture(100))
            assert await s.fetch_photo(info) == g.photos.photos[1].data
        finally:
            loop.remove_reader(master)
            transport.close()
            port.close()
            os.close(master)
            os.close(slave)
    run(go())
