"""Matching what the DUT sends against what the model predicts, in order.

The glasses answer frames in the order they arrive, so predictions are made lazily, one input at a
time, right after the previous reply has been matched: a prediction can then use what earlier replies
taught the model (a photo's size, say). Replies must match in order; photo chunks in order on MEDIA;
events in any order among unsolicited frames. Each expectation remembers the write that caused it, so
a failure names the exact input.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Callable, NamedTuple

from bench.profiles.glp import messages as m
from bench.profiles.glp.errors import ProtocolError
from bench.profiles.glp.frames import HEADER_LEN, OVERHEAD, SUPPORTED_VERSIONS, Frame, frame_length
from bench.profiles.glp.gatt import Channel

Check = Callable[[Frame, "m.Message | None"], "str | None"]


class Mismatch(NamedTuple):
    """A frame from the DUT that the model did not predict: why, the write it is tied to, and the oracle
    that fired (a violation, or a hang when the reply shows the DUT skipped a channel's request)."""

    why: str
    source: int
    kind: str = "violation"


@dataclass
class Expect:
    """One frame the DUT must (or, if optional, may) send."""

    what: str
    check: Check
    source: int = -1  # index of the write that caused it
    optional: bool = False
    on_match: Callable[[Frame, bytes], None] | None = None
    matched_raw: bytes | None = None
    channel: Channel | None = None  # the channel of that write (replies only)


@dataclass
class Input:
    """One complete frame (or a reassembly error) as the DUT will see it."""

    channel: Channel
    source: int
    raw: bytes = b""  # the reassembled frame
    error: ProtocolError | None = None  # the reassembler rejected the fragment
    within_credit: bool = True  # AUDIO_DOWN only: the phone held a credit when it sent it


class ModelReassembler:
    """The spec's reassembly rule (docs/protocol.md §4), written independently of the device's code.

    With `whole=True` it models the serial link (§2): every write is one whole frame, nothing is held.
    """

    def __init__(self, max_frame_len: int, whole: bool = False) -> None:
        self.max_frame_len = max_frame_len
        self.whole = whole
        self.buf = bytearray()
        self.want = 0

    @property
    def pending(self) -> int:
        return len(self.buf)

    def missing(self) -> int:
        return self.want - len(self.buf) if self.buf else 0

    @staticmethod
    def _complete(chunk: bytes) -> bool:
        from bench.profiles.glp.frames import decode_frame

        try:
            decode_frame(chunk)
        except ProtocolError:
            return False
        return True

    def feed(self, chunk: bytes) -> bytes | ProtocolError | None:
        if self.buf and (len(chunk) > self.want - len(self.buf) or self._complete(chunk)):
            self.buf.clear()  # an overrun or a whole valid frame abandons the partial frame
        if self.buf:
            self.buf += chunk
            if len(self.buf) < self.want:
                return None
            out = bytes(self.buf)
            self.buf.clear()
            return out
        if len(chunk) < HEADER_LEN:
            return ProtocolError(len(chunk), "short first fragment")
        if chunk[0] >> 4 not in SUPPORTED_VERSIONS:
            return ProtocolError(0, "version", m.ErrorCode.VERSION)
        want = frame_length(chunk)
        if want > self.max_frame_len:
            return ProtocolError(3, "too large", m.ErrorCode.TOO_LARGE)
        if len(chunk) > want:
            return ProtocolError(want, "trailing bytes")
        if len(chunk) == want or self.whole:
            return bytes(chunk)  # on serial a short packet is a truncated frame: decode_frame rejects it
        self.buf += chunk
        self.want = want
        return None


def describe(frame: Frame) -> str:
    try:
        msg = m.decode_message(frame)
    except ProtocolError as exc:
        return f"<type 0x{frame.type:02x} seq={frame.seq} undecodable: {exc}>"
    return f"{'reply ' if frame.is_reply else ''}seq={frame.seq} {msg!r}"


@dataclass
class Matcher:
    """Expected replies / chunks / events and the lazily predicted inputs behind them."""

    predict: Callable[[Input], None]  # the model: turns one input into expectations (calls expect_*)
    pending: deque[Input] = field(default_factory=deque)
    replies: deque[Expect] = field(default_factory=deque)
    chunks: deque[Expect] = field(default_factory=deque)
    events: list[Expect] = field(default_factory=list)
    allow_event: Callable[[m.Message], bool] = lambda _msg: False
    # whether a reply that does not fit the one due shows the DUT passed that request by (a hang)
    skipped: Callable[[Expect, Frame, "m.Message | None"], "Mismatch | None"] = lambda _exp, _frame, _msg: None
    answered: int = -1  # the latest write whose reply has been matched

    def add(self, item: Input) -> None:
        self.pending.append(item)
        self.advance()

    def advance(self) -> None:
        while not self.replies and self.pending:
            self.predict(self.pending.popleft())

    @property
    def done(self) -> bool:
        return (not self.pending and not self.chunks and not self.events
                and all(e.optional for e in self.replies))

    def outstanding(self) -> list[Expect]:
        return [e for e in (*self.replies, *self.chunks, *self.events) if not e.optional]

    def first_unanswered_source(self) -> int:
        srcs = [e.source for e in self.outstanding()] + [i.source for i in self.pending]
        return min(srcs) if srcs else -1

    def receive(self, channel: Channel, raw: bytes) -> Mismatch | None:
        """Match one frame from the DUT; returns the Mismatch (why, source write, kind) or None when it fits."""
        from bench.profiles.glp.frames import decode_frame

        try:
            frame = decode_frame(raw)
        except ProtocolError as exc:
            return Mismatch(f"the DUT sent a malformed frame on {channel.name}: {exc} | {raw.hex(' ')}", -1)
        try:
            msg: m.Message | None = m.decode_message(frame)
        except ProtocolError:
            msg = None
        if channel is Channel.CONTROL_OUT and frame.is_reply:
            return self._reply(frame, msg, raw)
        if channel is Channel.MEDIA:
            return self._match_queue(self.chunks, frame, msg, raw, "photo chunk")
        if channel is Channel.AUDIO_UP:
            return None if isinstance(msg, m.AudioFrame) else Mismatch(f"AUDIO_UP carried {describe(frame)}", -1)
        allowed = msg is not None and self.allow_event(msg)  # also books credits
        for i, exp in enumerate(self.events):
            if exp.check(frame, msg) is None:
                del self.events[i]
                self._matched(exp, frame, raw)
                return None
        if allowed:
            return None
        return Mismatch(f"unexpected event {describe(frame)}", -1)

    def _reply(self, frame: Frame, msg: m.Message | None, raw: bytes) -> Mismatch | None:
        while True:
            self.advance()
            if not self.replies:
                return Mismatch(f"unexpected reply {describe(frame)}", -1)
            exp = self.replies[0]
            why = exp.check(frame, msg)
            if why is None:
                self.replies.popleft()
                self.answered = max(self.answered, exp.source)
                self._matched(exp, frame, raw)
                self.advance()
                return None
            if exp.optional:
                self.replies.popleft()
                continue
            skipped = self.skipped(exp, frame, msg)
            if skipped is not None:
                return skipped
            return Mismatch(f"expected {exp.what}, got {describe(frame)}: {why}", exp.source)

    def _match_queue(self, queue: deque[Expect], frame: Frame, msg: m.Message | None, raw: bytes,
                     what: str) -> Mismatch | None:
        if not queue:
            return Mismatch(f"unexpected {what} {describe(frame)}", -1)
        exp = queue[0]
        why = exp.check(frame, msg)
        if why is not None:
            return Mismatch(f"expected {exp.what}, got {describe(frame)}: {why}", exp.source)
        queue.popleft()
        self._matched(exp, frame, raw)
        return None

    @staticmethod
    def _matched(exp: Expect, frame: Frame, raw: bytes) -> None:
        exp.matched_raw = raw
        if exp.on_match is not None:
            exp.on_match(frame, raw)


__all__ = ["Expect", "Input", "Matcher", "Mismatch", "ModelReassembler", "describe", "OVERHEAD"]
