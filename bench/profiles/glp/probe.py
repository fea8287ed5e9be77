"""Raw GLP exchanges for conformance tests: crafted frames in, everything the DUT answered out.

A probe watches the session's transcript (every frame sent and received, including replies no
request waits for), so a test can write hand-made bytes with ``send_raw`` and then read what came
back. ``exchange`` ends with a barrier Ping: the DUT handles writes in order and notifies in order,
so every answer to the crafted writes has arrived when the barrier's Pong does. No sleeps.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from typing import Awaitable, Callable, Iterable, cast

from bench.errors import DutTimeout
from bench.profiles.glp import messages as m
from bench.profiles.glp.client import GlpClient
from bench.profiles.glp.errors import ProtocolError
from bench.profiles.glp.frames import Frame, decode_frame, encode_frame, fragment
from bench.profiles.glp.gatt import Channel
from bench.profiles.glp.session import PhoneSession
from bench.profiles.glp.transcript import Transcript, TranscriptEntry


class WatchedTranscript(Transcript):
    """A Transcript that also tells listeners about every new entry."""

    def __init__(self, old: Transcript) -> None:
        super().__init__(old.entries.maxlen or 100_000)
        self.entries.extend(old.entries)
        self.listeners: list[Callable[[TranscriptEntry], None]] = []

    def add(self, t_s: float, direction: str, channel: Channel, raw: bytes, note: str = "") -> None:
        super().add(t_s, direction, channel, raw, note)
        entry = self.entries[-1]
        for listener in list(self.listeners):
            listener(entry)


@dataclasses.dataclass(frozen=True)
class Rx:
    """One thing the DUT sent: the transcript entry, its frame and message when they decode."""

    entry: TranscriptEntry
    frame: Frame | None
    msg: m.Message | None

    @property
    def channel(self) -> Channel:
        return self.entry.channel

    @property
    def is_reply(self) -> bool:
        return self.frame is not None and self.frame.is_reply

    @property
    def error(self) -> m.ErrorReply | None:
        return self.msg if isinstance(self.msg, m.ErrorReply) else None


def _rx(entry: TranscriptEntry) -> Rx:
    try:
        frame = decode_frame(entry.raw)
    except ProtocolError:
        return Rx(entry, None, None)
    try:
        return Rx(entry, frame, m.decode_message(frame))
    except ProtocolError:
        return Rx(entry, frame, None)


def craft(msg: m.Message | None = None, seq: int = 0, *, type_: int | None = None, payload: bytes | None = None,
          flags: int = 0, version: int = 1, bad_crc: bool = False, check: bool = True) -> bytes:
    """Encode a frame by hand: any type, payload, flags, version; optionally with a wrong CRC."""
    if msg is not None:
        body = m.encode_payload(msg, check)
        type_ = msg.TYPE if type_ is None else type_
        payload = body if payload is None else payload
    assert type_ is not None
    raw = encode_frame(Frame(type=type_, seq=seq, payload=payload or b"", flags=flags, version=version))
    if bad_crc:
        raw = raw[:-2] + bytes((raw[-2] ^ 0xFF, raw[-1]))
    return raw


class GlpProbe:
    """Crafted-frame exchanges on one GlpClient (BLE or serial)."""

    _tokens = itertools.count(0x5EED0000)

    def __init__(self, glp: GlpClient) -> None:
        self.glp = glp
        self._seqs = itertools.count()
        self._barriers = itertools.count()
        session = glp.session
        if not isinstance(session.transcript, WatchedTranscript):
            session.transcript = WatchedTranscript(session.transcript)
        self.transcript: WatchedTranscript = session.transcript

    @property
    def session(self) -> PhoneSession:
        return self.glp.session

    @property
    def max_payload(self) -> int:
        return self.session.transport.max_payload

    def fragments(self, raw: bytes) -> list[bytes]:
        return fragment(raw, self.max_payload)

    def token(self) -> int:
        """A Ping token not used before in this run (so no reply cache entry can match it)."""
        return next(self._tokens) & 0xFFFFFFFF

    def exchange(self, writes: Iterable[bytes], channel: Channel = Channel.CONTROL_IN,
                 timeout_s: float = 5.0) -> list[Rx]:
        """Write each item as one fragment, then a barrier Ping; return what the DUT sent in between."""
        writes = list(writes)
        for w in writes:
            if len(w) > self.max_payload:
                raise ValueError(f"write of {len(w)} bytes exceeds max_payload {self.max_payload}; use fragments()")

        async def send(s: PhoneSession) -> None:
            for w in writes:
                await s.send_raw(channel, w)
        return self.collect(send, timeout_s)

    def collect(self, action: Callable[[PhoneSession], Awaitable[object]], timeout_s: float = 5.0) -> list[Rx]:
        """Run `action(session)`, then a barrier Ping; return everything the DUT sent meanwhile (not the Pong)."""
        return self.glp.call(lambda s: self._collect(s, action, timeout_s), timeout_s * 3, "GLP raw exchange")

    async def _collect(self, s: PhoneSession, action: Callable[[PhoneSession], Awaitable[object]],
                       timeout_s: float) -> list[Rx]:
        got: list[TranscriptEntry] = []
        token = self.token()
        barrier = craft(m.Ping(token), self._barrier_seq())
        done = asyncio.get_running_loop().create_future()

        def listener(e: TranscriptEntry) -> None:
            if e.direction != "rx":
                return
            got.append(e)
            r = _rx(e)
            if r.is_reply and r.frame is not None and r.frame.seq == barrier[2] and not done.done():
                done.set_result(r)
        self.transcript.listeners.append(listener)
        try:
            await action(s)
            for _attempt in range(3):  # a barrier glued onto leftover bytes is answered BAD_CRC: resend
                for part in self.fragments(barrier):
                    await s.send_raw(Channel.CONTROL_IN, part)
                try:
                    async with asyncio.timeout(timeout_s):
                        answer = await asyncio.shield(done)
                except asyncio.TimeoutError:
                    raise DutTimeout(f"no answer to the barrier Ping (seq {barrier[2]}) within {timeout_s:g} s") from None
                if isinstance(answer.msg, m.Pong) and answer.msg.token == token:
                    break
                done = asyncio.get_running_loop().create_future()
            else:
                raise DutTimeout(f"barrier Ping (seq {barrier[2]}) not answered with its Pong after 3 attempts")
        finally:
            self.transcript.listeners.remove(listener)
        return [r for r in map(_rx, got)
                if not (r.is_reply and isinstance(r.msg, m.Pong) and r.msg.token == token)]

    def seq(self) -> int:
        """A sequence number for a crafted request (64..191; barriers use 192..255, the session its own)."""
        return 64 + next(self._seqs) % 128

    def _barrier_seq(self) -> int:
        return 192 + next(self._barriers) % 64

    def request_raw(self, raw: bytes, channel: Channel = Channel.CONTROL_IN) -> list[Rx]:
        """Send one crafted frame (fragmented to the link) and return the replies carrying its seq."""
        seq = raw[2] if len(raw) > 2 else 0
        return [r for r in self.exchange(self.fragments(raw), channel) if r.is_reply and cast(Frame, r.frame).seq == seq]

    def error_for(self, raw: bytes, channel: Channel = Channel.CONTROL_IN) -> m.ErrorReply:
        """The one ErrorReply a crafted frame must provoke (AssertionError with the replies otherwise)."""
        replies = self.request_raw(raw, channel)
        errors = [r.error for r in replies if r.error is not None]
        assert len(errors) == 1 and len(replies) == 1, (
            f"expected exactly one ErrorReply to {raw.hex(' ')}, got {[r.entry.line() for r in replies]}")
        return errors[0]
