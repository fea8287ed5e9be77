"""The phone's exact view of AUDIO_DOWN credit (docs/protocol.md §5.5), for the fuzz model.

The glasses return credit as their speaker plays (time-driven), so the phone cannot know the device's
count, only a lower bound of it: the grants it has seen minus every audio frame it sent since the last
stream boundary, plus every frame the device refused (an ErrorReply: no credit used). Every grant the
phone has seen was sent before the device handled the frames written after it, so the device holds at
least this much: a frame sent while the bound is > 0 must be taken, and BUSY for it is a finding.

A stream boundary (a written Hello, AudioDownlinkStart or Stop) sets the bound to 0 and grants are not
counted until the device has answered every boundary written: until then the phone cannot tell which
stream a grant belongs to. Refunds count only within the stream the frame was sent in.
"""

from __future__ import annotations

from collections import deque

from bench.profiles.glp import messages as m
from bench.profiles.glp.errors import ErrorCode, ProtocolError
from bench.profiles.glp.frames import decode_frame
from bench.profiles.glp.fuzz_matcher import Mismatch

STREAM_BOUNDARIES = frozenset((m.Hello.TYPE, m.AudioDownlinkStart.TYPE, m.AudioDownlinkStop.TYPE))
DEBITS_KEPT = 4096  # audio frames an ErrorReply may still refund (far more than a pipeline holds)
SENT_PER_SEQ = 4  # AUDIO_DOWN writes remembered per 8-bit seq (a step sends at most ~270 frames: a seq twice)


class DownlinkCredit:
    """Feed it the phone's writes and the device's grants and refusals; ask whether a frame is within credit."""

    def __init__(self) -> None:
        self.count = 0  # the lower bound (may go negative)
        self.epoch = 0  # stream boundaries written so far
        self.reset()

    def reset(self) -> None:
        """A new connection: nothing is known."""
        self.count = 0
        self.epoch += 1
        self.debited: dict[int, int] = {}  # write -> epoch, for audio frames not yet refunded
        self.boundaries: set[int] = set()  # boundary writes the device has not answered yet
        # AUDIO_DOWN seq -> its latest writes: (write, type, credit held when sent; 0: none)
        self.sent: dict[int, deque[tuple[int, int, int]]] = {}

    def frame_written(self, source: int, raw: bytes) -> bool:
        """One complete AUDIO_DOWN frame goes out; True when the phone held credit for it."""
        within = self.count > 0
        if len(raw) > 2:  # the type and seq an ErrorReply would name
            self.sent.setdefault(raw[2], deque(maxlen=SENT_PER_SEQ)).append((source, raw[1], max(self.count, 0)))
        self.count -= 1
        self.debited[source] = self.epoch
        if len(self.debited) > DEBITS_KEPT:  # taken frames are never answered: forget the oldest
            del self.debited[next(iter(self.debited))]
        return within

    def control_written(self, source: int, raw: bytes) -> None:
        """One complete CONTROL_IN frame goes out: a possible stream boundary."""
        if len(raw) > 1 and raw[1] in STREAM_BOUNDARIES:
            self.boundaries.add(source)
            self.count = 0
            self.epoch += 1

    def still_due(self, sources: set[int]) -> None:
        """Writes not answered yet: every boundary not among them has been answered."""
        if self.boundaries:
            self.boundaries &= sources

    def refused(self, source: int) -> None:
        """The device answered audio frame `source` with an error: it used no credit."""
        if self.debited.pop(source, None) == self.epoch:
            self.count += 1

    def granted(self, n: int, device_downlink: bool) -> None:
        """A CreditGrant(AUDIO_DOWN, n) arrived; it counts when its stream is known to be the current one."""
        if device_downlink and not self.boundaries:
            self.count += n

    def owner(self, seq: int, type_code: int, after: int, before: int | None) -> tuple[int, int] | None:
        """(write, credit held) of the AUDIO_DOWN frame an ErrorReply naming `seq`/`type_code` answers.

        The device answers in arrival order, so it is a frame written after `after` (the last write whose
        answer has arrived), and one written before `before` (the write whose reply is due; None when none
        is) when there is one: the 8-bit seq repeats in a long stream, and a later frame with the same seq
        is not it. None when no frame, or more than one, fits."""
        fits = [(w, c) for w, t, c in self.sent.get(seq, ()) if w > after and t == type_code]
        fits = [f for f in fits if before is None or f[0] < before] or fits
        return fits[0] if len(fits) == 1 else None

    def busy_finding(self, raw: bytes, after: int, before: int | None) -> Mismatch | None:
        """When a frame the matcher rejected is BUSY for a frame sent within credit: the finding, and that write."""
        try:
            frame = decode_frame(raw)
            msg = m.decode_message(frame)
        except ProtocolError:
            return None
        if not (isinstance(msg, m.ErrorReply) and msg.code is ErrorCode.BUSY and msg.request_type == m.AudioFrame.TYPE):
            return None
        owner = self.owner(frame.seq, msg.request_type, after, before)
        if owner is None or owner[1] <= 0:
            return None
        return Mismatch(f"BUSY within credit: AudioFrame seq {frame.seq} was sent holding {owner[1]} downlink "
                        f"credit(s) granted by the device (docs/protocol.md §5.5)", owner[0])
