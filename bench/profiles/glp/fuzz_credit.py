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

from bench.profiles.glp import messages as m
from bench.profiles.glp.errors import ErrorCode, ProtocolError
from bench.profiles.glp.frames import decode_frame
from bench.profiles.glp.fuzz_matcher import Mismatch

STREAM_BOUNDARIES = frozenset((m.Hello.TYPE, m.AudioDownlinkStart.TYPE, m.AudioDownlinkStop.TYPE))
DEBITS_KEPT = 4096  # audio frames an ErrorReply may still refund (far more than a pipeline holds)


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
        self.held: dict[int, tuple[int, int]] = {}  # AUDIO_DOWN seq -> (write, credit) of frames within credit

    def frame_written(self, source: int, raw: bytes) -> bool:
        """One complete AUDIO_DOWN frame goes out; True when the phone held credit for it."""
        within = self.count > 0
        if len(raw) > 2:  # the seq an ErrorReply would name
            if within:
                self.held[raw[2]] = (source, self.count)
            else:
                self.held.pop(raw[2], None)
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

    def busy_finding(self, raw: bytes) -> Mismatch | None:
        """When a frame the matcher rejected is BUSY for a frame sent within credit: the finding, and that write."""
        try:
            frame = decode_frame(raw)
            msg = m.decode_message(frame)
        except ProtocolError:
            return None
        if not (isinstance(msg, m.ErrorReply) and msg.code is ErrorCode.BUSY and msg.request_type == m.AudioFrame.TYPE):
            return None
        held = self.held.get(frame.seq)
        if held is None:
            return None
        return Mismatch(f"BUSY within credit: AudioFrame seq {frame.seq} was sent holding {held[1]} downlink "
                        f"credit(s) granted by the device (docs/protocol.md §5.5)", held[0])
