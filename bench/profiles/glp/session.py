"""Phone side of the Glasses Link Protocol: requests with replies, events, photo and audio streams.

One PhoneSession per connection, on one asyncio loop. It fragments outgoing frames to the transport's
max_payload, reassembles incoming ones, correlates replies by sequence number, retries on timeout
(the glasses answer a repeated seq from their reply cache without acting twice), respects the request
window and stream credits, and records every frame in `transcript`. Decoding problems raise (or are
recorded as) ProtocolError only.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import zlib
from typing import Any, Callable

from bench.profiles.glp import messages as m
from bench.profiles.glp.errors import ErrorCode, ProtocolError
from bench.profiles.glp.frames import HEADER_LEN, Frame, Reassembler, WholeFrames, decode_frame, encode_frame, fragment
from bench.profiles.glp.gatt import GLASSES_TO_PHONE, Channel
from bench.profiles.glp.transcript import Transcript
from bench.profiles.glp.transport import LoopbackLink, SerialTransport, Transport

__all__ = ["PhoneSession", "DeviceError", "RequestTimeout", "PhotoTransferError", "Transport",
           "LoopbackLink", "SerialTransport"]
log = logging.getLogger(__name__)


class DeviceError(Exception):
    """The glasses answered a request with an ErrorReply."""

    def __init__(self, reply: m.ErrorReply, request: m.Message) -> None:
        super().__init__(f"{type(request).__name__} failed: {reply.code.name} at byte {reply.offset}: {reply.detail}")
        self.reply, self.request, self.code = reply, request, reply.code


class RequestTimeout(TimeoutError):
    def __init__(self, request: m.Message, attempts: int, timeout_s: float) -> None:
        super().__init__(f"no reply to {type(request).__name__} after {attempts} attempt(s) of {timeout_s:.3f} s")
        self.request, self.attempts = request, attempts


class PhotoTransferError(Exception):
    """Transfer stopped; `received_bytes` is the contiguous prefix already held (resume from there)."""

    def __init__(self, reason: str, received_bytes: int, data: bytes) -> None:
        super().__init__(f"{reason} (have {received_bytes} bytes)")
        self.received_bytes, self.data = received_bytes, data


class _PhotoRx:
    def __init__(self, info: m.PhotoInfo, offset: int, window: int) -> None:
        self.info, self.received, self.window = info, offset, window
        self.buf = bytearray(info.size_bytes)
        self.read_seq: int | None = None  # chunks count only after the PhotoRead with this seq is acked
        self.accepting = False
        self.gap = False
        self.since_grant = 0
        self.progress = asyncio.Event()


class PhoneSession:
    """Phone end of one GLP connection over any Transport."""

    def __init__(self, transport: Transport, *, timeout_s: float = 1.0, retries: int = 2,
                 clock: Callable[[], float] = time.monotonic, max_frame_len: int = 8192) -> None:
        self.transport, self.timeout_s, self.retries, self.clock = transport, timeout_s, retries, clock
        self.max_frame_len = max_frame_len
        self.transcript = Transcript()
        self.errors: list[ProtocolError] = []  # undecodable frames from the glasses
        self.duplicates = self.unmatched_replies = self.stream_gaps = 0
        self.hello_reply: m.HelloReply | None = None
        self.capabilities = m.Capability(0)
        self.link_alive = True
        self.closed = False
        self.last_rx_s = clock()
        receiver = WholeFrames if getattr(transport, "whole_frames", False) else Reassembler
        self._reasm = {ch: receiver(max_frame_len, clock=clock) for ch in GLASSES_TO_PHONE}
        self._pending: dict[int, asyncio.Future[Frame]] = {}
        self._seq = itertools.count()
        self._tx_seq = {ch: 0 for ch in Channel}
        self._last_rx: dict[Channel, tuple[int, bytes]] = {}
        self._window = asyncio.Semaphore(1)
        self._locks = {ch: asyncio.Lock() for ch in Channel}
        self._subs: list[tuple[tuple[type, ...] | None, Callable[[m.Message], None]]] = []
        self._photo: _PhotoRx | None = None
        self._downlink_credits = 0
        self._credit = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._heartbeat: asyncio.Task[None] | None = None
        transport.set_receiver(self._on_fragment)

    # ------------------------------------------------------------------ requests
    async def hello(self, timeout_s: float | None = None) -> m.HelloReply:
        """Negotiate version, learn capabilities and the request window. Call first."""
        reply = await self.request(m.Hello(1, 1, self.max_frame_len), timeout_s)
        assert isinstance(reply, m.HelloReply)
        self.hello_reply, self.capabilities = reply, m.Capability(reply.capabilities)
        self._last_rx.clear()  # a Hello starts a new session: the glasses number events from 0 again
        self._window = asyncio.Semaphore(reply.max_outstanding)
        return reply

    async def request(self, msg: m.Message, timeout_s: float | None = None, retries: int | None = None,
                      check: bool = True, _on_seq: Callable[[int], None] | None = None) -> m.Message:
        """Send a request and return its reply. Raises DeviceError (ErrorReply), RequestTimeout after
        `retries` resends of the same frame, or ProtocolError for a malformed or mismatched reply.
        check=False sends out-of-range fields unchanged (to test the glasses' validation)."""
        if m.Role.REQUEST not in msg.ROLE:
            raise TypeError(f"{type(msg).__name__} is not a request; use send()")
        timeout_s = self.timeout_s if timeout_s is None else timeout_s
        retries = self.retries if retries is None else retries
        if isinstance(msg, (m.AudioDownlinkStart, m.AudioDownlinkStop)):
            self._downlink_credits = 0  # credits belong to one downlink stream
        async with self._window:
            seq = self._alloc_seq()
            if _on_seq:
                _on_seq(seq)
            raw = encode_frame(m.encode_message(msg, seq, check=check))
            try:
                for attempt in range(retries + 1):
                    fut = self._pending[seq] = asyncio.get_running_loop().create_future()
                    await self._send_frame(Channel.CONTROL_IN, raw, f"retry {attempt}" if attempt else "")
                    try:
                        async with asyncio.timeout(timeout_s):
                            frame = await fut
                    except asyncio.TimeoutError:
                        continue
                    reply = m.decode_message(frame)
                    if isinstance(reply, m.ErrorReply):
                        if reply.code is ErrorCode.BAD_CRC and attempt < retries:
                            continue  # corrupted on the way in: resend
                        raise DeviceError(reply, msg)
                    if type(reply) not in msg.REPLY:
                        raise ProtocolError(HEADER_LEN, f"{type(msg).__name__} expects {[c.__name__ for c in msg.REPLY]}, "
                                                        f"got {type(reply).__name__}")
                    return reply
                raise RequestTimeout(msg, retries + 1, timeout_s)
            finally:
                self._pending.pop(seq, None)

    def _alloc_seq(self) -> int:
        while True:
            seq = next(self._seq) & 0xFF
            if seq not in self._pending:
                return seq

    async def send(self, msg: m.Message, channel: Channel = Channel.CONTROL_IN, check: bool = True) -> None:
        """Send a frame that gets no reply (Credit, AudioFrame) with the channel's own sequence counter."""
        seq = self._tx_seq[channel]
        self._tx_seq[channel] = (seq + 1) & 0xFF
        await self._send_frame(channel, encode_frame(m.encode_message(msg, seq, check=check)))

    async def send_raw(self, channel: Channel, data: bytes) -> None:
        """Write bytes as they are (one fragment), for robustness tests."""
        self.transcript.add(self.clock(), "tx", channel, data, "raw")
        await self.transport.send(channel, data)

    async def _send_frame(self, channel: Channel, raw: bytes, note: str = "") -> None:
        async with self._locks[channel]:  # fragments of one frame stay contiguous
            self.transcript.add(self.clock(), "tx", channel, raw, note)
            for part in fragment(raw, self.transport.max_payload):
                await self.transport.send(channel, part)

    # ------------------------------------------------------------------ receiving
    def _on_fragment(self, channel: Channel, data: bytes) -> None:
        now = self.clock()
        self.last_rx_s = now
        try:
            raw = self._reasm[channel].feed(data)
            if raw is None:
                return
            frame = decode_frame(raw)
        except ProtocolError as exc:
            self.errors.append(exc)
            self.transcript.add(now, "rx", channel, bytes(data), f"dropped: {exc}")
            return
        if frame.is_reply:
            fut = self._pending.get(frame.seq)
            if fut is None or fut.done():
                self.unmatched_replies += 1
                self.transcript.add(now, "rx", channel, raw, "unmatched reply")
                return
            self.transcript.add(now, "rx", channel, raw)
            if self._photo is not None and self._photo.read_seq == frame.seq:
                self._photo.accepting = True  # chunks after this Ack belong to the new read
            fut.set_result(frame)
            return
        last = self._last_rx.get(channel)
        if last is not None and last == (frame.seq, raw):
            self.duplicates += 1
            self.transcript.add(now, "rx", channel, raw, "duplicate")
            return
        note = ""
        if last is not None and frame.seq != (last[0] + 1) & 0xFF:
            self.stream_gaps += 1
            note = f"seq gap: expected {(last[0] + 1) & 0xFF}"
        self._last_rx[channel] = (frame.seq, raw)
        self.transcript.add(now, "rx", channel, raw, note)
        try:
            msg = m.decode_message(frame)
        except ProtocolError as exc:
            self.errors.append(exc)
            return
        self._dispatch(msg)

    def _dispatch(self, msg: m.Message) -> None:
        if isinstance(msg, m.PhotoChunk):
            self._on_chunk(msg)
        elif isinstance(msg, m.CreditGrant) and msg.channel is m.CreditChannel.AUDIO_DOWN:
            self._downlink_credits += msg.credits
            self._credit.set()
        for types, callback in list(self._subs):
            if types is None or isinstance(msg, types):
                try:
                    callback(msg)
                except Exception:
                    log.exception("event subscriber %r failed on %r", callback, msg)

    def subscribe(self, callback: Callable[[m.Message], None],
                  types: type[m.Message] | tuple[type[m.Message], ...] | None = None) -> Callable[[], None]:
        """Call `callback(msg)` for every unsolicited message (of `types`); returns an unsubscribe function."""
        entry = (types if isinstance(types, tuple) or types is None else (types,), callback)
        self._subs.append(entry)
        return lambda: self._subs.remove(entry) if entry in self._subs else None

    async def wait_event(self, types: type[m.Message] | tuple[type[m.Message], ...], timeout_s: float,
                         predicate: Callable[[Any], bool] = lambda _: True) -> m.Message:
        """Next unsolicited message of `types` matching `predicate`; TimeoutError after timeout_s."""
        fut: asyncio.Future[m.Message] = asyncio.get_running_loop().create_future()

        def got(msg: m.Message) -> None:
            if not fut.done() and predicate(msg):
                fut.set_result(msg)

        unsubscribe = self.subscribe(got, types)
        try:
            async with asyncio.timeout(timeout_s):
                return await fut
        finally:
            unsubscribe()

    # ------------------------------------------------------------------ streams
    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_chunk(self, chunk: m.PhotoChunk) -> None:
        rx = self._photo
        if rx is None or not rx.accepting or chunk.photo_id != rx.info.photo_id or chunk.offset < rx.received:
            return  # stale or duplicate
        if chunk.offset > rx.received or chunk.offset + len(chunk.data) > len(rx.buf):
            rx.gap = True
            rx.accepting = False
        else:
            rx.buf[chunk.offset:chunk.offset + len(chunk.data)] = chunk.data
            rx.received += len(chunk.data)
            rx.since_grant += 1
            if rx.since_grant >= max(1, rx.window // 2) and rx.received < len(rx.buf):
                self._spawn(self.send(m.Credit(m.CreditChannel.MEDIA, rx.since_grant)))
                rx.since_grant = 0
        rx.progress.set()

    async def fetch_photo(self, info: m.PhotoInfo, have: bytes = b"", window: int = 64,
                          stall_timeout_s: float | None = None, resumes: int = 3) -> bytes:
        """Stream a photo with a credit window and check its CRC32. `have` is a prefix already received
        (PhotoTransferError.data): the transfer resumes at offset len(have). Gaps and stalls resume too."""
        stall_timeout_s = self.timeout_s if stall_timeout_s is None else stall_timeout_s
        rx = self._photo = _PhotoRx(info, len(have), window)
        rx.buf[:len(have)] = have
        try:
            for _ in range(resumes + 1):
                rx.gap, rx.accepting, rx.since_grant = False, False, 0
                rx.progress.clear()
                await self.request(m.PhotoRead(info.photo_id, rx.received, window),
                                   _on_seq=lambda s: setattr(rx, "read_seq", s))
                while rx.received < len(rx.buf) and not rx.gap:
                    rx.progress.clear()
                    try:
                        async with asyncio.timeout(stall_timeout_s):
                            await rx.progress.wait()
                    except asyncio.TimeoutError:
                        break
                if rx.received >= len(rx.buf):
                    break
            else:
                raise PhotoTransferError(f"photo {info.photo_id} incomplete after {resumes} resumes",
                                         rx.received, bytes(rx.buf[:rx.received]))
        finally:
            self._photo = None
        data = bytes(rx.buf)
        if zlib.crc32(data) != info.crc32:
            raise PhotoTransferError(f"CRC32 0x{zlib.crc32(data):08x} != announced 0x{info.crc32:08x}", 0, data)
        return data

    async def send_audio(self, data: bytes, capture_time_us: int, timeout_s: float | None = None) -> None:
        """Send one downlink codec frame, waiting (up to timeout_s) for a credit from the glasses."""
        deadline = self.clock() + (self.timeout_s if timeout_s is None else timeout_s)
        while self._downlink_credits <= 0:
            self._credit.clear()
            async with asyncio.timeout(max(0.0, deadline - self.clock())):  # not wait_for: on 3.11 it can
                await self._credit.wait()  # swallow a cancel that races a grant (the echo of a stopped stream ran on)
        self._downlink_credits -= 1
        await self.send(m.AudioFrame(capture_time_us & 0xFFFFFFFF, data), Channel.AUDIO_DOWN)

    @property
    def downlink_credits(self) -> int:
        return self._downlink_credits

    # ------------------------------------------------------------------ heartbeat
    def start_heartbeat(self, interval_s: float | None = None, on_lost: Callable[[], None] | None = None) -> None:
        """Ping when nothing was received for `interval_s` (default: the glasses' heartbeat interval);
        after a Ping fails with all retries, set link_alive False and call on_lost."""
        if interval_s is None:
            interval_s = self.hello_reply.heartbeat_interval_ms / 1000 if self.hello_reply else 5.0
        self._heartbeat = asyncio.get_running_loop().create_task(self._beat(interval_s, on_lost))

    async def _beat(self, interval_s: float, on_lost: Callable[[], None] | None) -> None:
        token = 0
        while self.link_alive and not self.closed:
            await asyncio.sleep(interval_s)  # a timer, not a race fix: heartbeats are periodic
            if self.clock() - self.last_rx_s < interval_s:
                continue
            token = (token + 1) & 0xFFFFFFFF
            try:
                await self.request(m.Ping(token), timeout_s=interval_s)
            except (RequestTimeout, DeviceError, ProtocolError):
                self.link_alive = False
                if on_lost:
                    on_lost()

    async def close(self) -> None:
        """Stop the heartbeat and background sends.

        Python 3.11's ``wait_for`` can swallow a cancellation that races with its result, so the
        heartbeat is also told to stop through ``closed`` and cancelled again until it has ended.
        """
        self.closed = True
        tasks = [t for t in (self._heartbeat, *self._tasks) if t is not None]
        while tasks:
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks, timeout=0.5)
            tasks = [t for t in tasks if not t.done()]
