"""The session as the phone sees it: what the glasses must answer to every frame (docs/protocol.md).

The model holds the state the phone can know (hello done, settings as written, streams running,
photos captured, the transfer in progress, the reply cache) and predicts, for each complete frame the
glasses receive, the reply (exact where the spec says so: echoes, settings, error codes, photo ids),
the photo chunks and the events that follow. Values the spec leaves to the device (uptime, battery,
photo size) are checked for range only, and learned when later predictions need them.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from bench.profiles.glp import messages as m
from bench.profiles.glp.errors import ErrorCode, ProtocolError
from bench.profiles.glp.frames import Frame, decode_frame
from bench.profiles.glp.fuzz_credit import DownlinkCredit
from bench.profiles.glp.fuzz_matcher import Expect, Input, Matcher, Mismatch, ModelReassembler, describe
from bench.profiles.glp.gatt import PHONE_TO_GLASSES, Channel

PRE_HELLO = (m.Hello, m.Ping, m.DeviceInfoGet)
PHOTOS_KEPT = 4


@dataclass(frozen=True)
class DeviceParams:
    """What the glasses said about themselves once (every later answer must agree)."""

    hello: m.HelloReply
    info: m.DeviceInfo
    max_payload: int  # link payload per write/notification (ATT MTU - 3; the whole frame on serial)
    whole_frames: bool = False  # serial: every write is one whole frame, nothing is reassembled
    privileged: bool = True  # privileged requests are accepted on this link (else INSUFFICIENT_SECURITY, §5.11)


def _is(cls: type, **fields: Any) -> Any:
    def check(frame: Frame, msg: m.Message | None) -> str | None:
        if not isinstance(msg, cls):
            return f"expected a {cls.__name__}"
        for k, v in fields.items():
            if getattr(msg, k) != v:
                return f"{k} is {getattr(msg, k)!r}, expected {v!r}"
        return None
    return check


@dataclass
class Transfer:
    photo_id: int
    offset: int
    size: int
    credits: int


class SessionModel:
    """Predicts the DUT's answers; feed it every write with ``write()`` and every frame with ``receive()``."""

    def __init__(self, params: DeviceParams) -> None:
        self.params = params
        self.caps = params.hello.capabilities
        self.settings = m.DEFAULT_SETTINGS
        self.photos: OrderedDict[int, tuple[int, int]] = OrderedDict()  # id -> (size, crc32)
        self.next_photo_id = 1
        self.matcher = Matcher(self._predict, allow_event=self._allow_event, skipped=self._skipped)
        self.credit = DownlinkCredit()  # what the phone knows of the downlink credit (exact lower bound)
        self.new_session()

    def new_session(self) -> None:
        """A new connection: everything per-session is forgotten (settings and photos stay)."""
        self.hello_done = False
        self.phone_max_frame_len = 27
        self.uplink = self.downlink = False
        self.downlink_seen = False  # grants may still arrive after a stop the model has already predicted
        # Whether the device had a downlink open when it sent what is being matched now: grants come
        # back as the speaker plays (time-driven), so a grant of the previous stream can arrive after
        # the model has already predicted the next start. Grants count only for the stream they belong to.
        self.device_downlink = False
        self.transfer: Transfer | None = None
        self.cache: OrderedDict[int, tuple[bytes, Expect]] = OrderedDict()
        self.reasm = {ch: ModelReassembler(self.params.hello.max_frame_len, self.params.whole_frames)
                      for ch in PHONE_TO_GLASSES}
        self.credit.reset()
        self.matcher.pending.clear()
        self.matcher.replies.clear()
        self.matcher.chunks.clear()
        self.matcher.events.clear()

    # ------------------------------------------------------------------ inputs
    def write(self, channel: Channel, fragment: bytes, source: int) -> None:
        """One write as it goes on the wire (a fragment)."""
        out = self.reasm[channel].feed(fragment)
        if out is None:
            return
        item = Input(channel, source)
        if isinstance(out, ProtocolError):
            item.error, item.raw = out, bytes(fragment)  # the error names the fragment's header bytes
        else:
            item.raw = out
            if channel is Channel.AUDIO_DOWN:
                item.within_credit = self.credit.frame_written(source, out)
            else:
                self.credit.control_written(source, out)
        self.matcher.add(item)

    def flush_bytes(self, channel: Channel) -> int:
        """Bytes still missing from a partial frame (the machine completes it so no state leaks)."""
        return self.reasm[channel].missing()

    def expect_event(self, what: str, check: Any, source: int) -> None:
        self.matcher.events.append(Expect(what, check, source))

    def receive(self, channel: Channel, raw: bytes) -> Mismatch | None:
        bad = self.matcher.receive(channel, raw)
        if self.credit.boundaries:
            self.credit.still_due({e.source for e in self.matcher.replies} | {i.source for i in self.matcher.pending})
        if bad is not None:
            due = bad.source if bad.source >= 0 else None
            return self.credit.busy_finding(raw, self.matcher.answered, due) or bad
        return None

    def _skipped(self, exp: Expect, frame: Frame, msg: m.Message | None) -> Mismatch | None:
        """The DUT answers in arrival order (docs/protocol.md §5.4), so an ErrorReply for an AUDIO_DOWN frame
        written after the CONTROL_IN request still owed means the device passed that request by: its control
        channel stopped answering while the audio path still runs (a hang, not a wrong reply)."""
        if exp.channel is not Channel.CONTROL_IN or not isinstance(msg, m.ErrorReply):
            return None
        owner = self.credit.owner(frame.seq, msg.request_type, self.matcher.answered, exp.source)
        if owner is None or owner[0] < exp.source:
            return None
        return Mismatch(f"no reply to write #{exp.source} ({exp.what}): the DUT answered a later AUDIO_DOWN write "
                        f"(#{owner[0]}) first, {describe(frame)}; its CONTROL_IN channel stopped answering",
                        exp.source, "hang")

    @property
    def down_credits(self) -> int:
        """Downlink frames the phone may still send (a lower bound of the device's count; may be < 0)."""
        return self.credit.count

    @property
    def done(self) -> bool:
        return self.matcher.done

    # ------------------------------------------------------------------ predictions
    def _reply(self, item: Input, what: str, check: Any, on_match: Any = None, optional: bool = False) -> Expect:
        exp = Expect(what, check, item.source, optional, on_match, channel=item.channel)
        self.matcher.replies.append(exp)
        return exp

    def _error(self, item: Input, code: ErrorCode, frame: Frame | None = None, optional: bool = False) -> Expect:
        """An ErrorReply of `code` naming the offending frame: its type and seq whenever the bytes that
        arrived hold them (docs/protocol.md §5.4), 0 otherwise."""
        head = item.raw[:3] if frame is None else bytes((0, frame.type, frame.seq))
        want_type = head[1] if len(head) > 1 else 0
        want_seq = head[2] if len(head) > 2 else 0
        limit = self.phone_max_frame_len

        def check(f: Frame, msg: m.Message | None) -> str | None:
            if not isinstance(msg, m.ErrorReply):
                return f"expected ErrorReply {code.name}"
            if msg.code is not code:
                return f"error code {msg.code.name}, expected {code.name}"
            if f.seq != want_seq or msg.request_type != want_type:
                return (f"error names seq {f.seq} type 0x{msg.request_type:02x}, "
                        f"expected {want_seq} 0x{want_type:02x}")
            if len(_raw(f)) > limit:
                return f"ErrorReply of {len(_raw(f))} bytes exceeds the phone's max_frame_len {limit}"
            return None
        refund = (lambda _f, _raw: self.credit.refused(item.source)) if item.channel is Channel.AUDIO_DOWN else None
        return self._reply(item, f"ErrorReply({code.name})", check, refund, optional=optional)

    def _predict(self, item: Input) -> None:
        if item.error is not None:
            self._error(item, item.error.code)
            return
        try:
            frame = decode_frame(item.raw)
        except ProtocolError as exc:
            self._error(item, exc.code)
            return
        if item.channel is Channel.AUDIO_DOWN:
            self._audio_down(item, frame)
            return
        if frame.is_reply:
            self._error(item, ErrorCode.MALFORMED, frame)
            return
        if m.not_accepted(frame.type, Channel.CONTROL_IN) is not None:
            self._error(item, ErrorCode.UNKNOWN_TYPE, frame)  # replies, events, streams, unknown codes
            return
        key = bytes((frame.type,)) + frame.payload
        is_hello = frame.type == m.Hello.TYPE
        cached = None if is_hello else self.cache.get(frame.seq)  # a Hello is always acted on
        if cached is not None and cached[0] == key:
            earlier = cached[1]
            self._reply(item, f"the cached reply to seq {frame.seq}",
                        lambda f, _m: None if earlier.matched_raw == _raw(f) else "differs from the first answer")
            return
        try:
            msg = m.decode_message(frame)
        except ProtocolError as exc:
            exp = self._error(item, exc.code, frame)
        else:
            if is_hello:
                self._hello_session()
            if m.Role.COMMAND in msg.ROLE:
                self._command(item, msg)
                return
            if not self.hello_done and not isinstance(msg, PRE_HELLO):
                exp = self._error(item, ErrorCode.INVALID_STATE, frame)
            elif msg.REQUIRES & ~self.caps:
                exp = self._error(item, ErrorCode.UNSUPPORTED, frame)
            elif msg.PRIVILEGED and not self.params.privileged:
                exp = self._error(item, ErrorCode.INSUFFICIENT_SECURITY, frame)
            else:
                exp = self._request(item, frame, msg)
        self.cache[frame.seq] = (key, exp)
        while len(self.cache) > 2 * self.params.hello.max_outstanding:
            self.cache.popitem(last=False)
        self._pump()

    def _hello_session(self) -> None:
        """A decoded Hello ends the session (§5.1): streams stop, the reply cache is forgotten."""
        self.cache.clear()
        self.hello_done, self.phone_max_frame_len = False, 27
        self.uplink = self.downlink = False
        self.transfer = None

    def _request(self, item: Input, frame: Frame, msg: m.Message) -> Expect:
        p, seq = self.params.hello, frame.seq
        ok = lambda what, check, on_match=None: self._reply(item, what, _and(_seq(seq), check), on_match)  # noqa: E731
        err = lambda code: self._error(item, code, frame)  # noqa: E731
        if isinstance(msg, m.Hello):
            if not msg.min_version <= 1 <= msg.max_version:
                return self._reply(item, "ErrorReply(VERSION)", _and(_seq(seq), _is(m.ErrorReply, code=ErrorCode.VERSION)),
                                   lambda _f, _raw: self._device_downlink(False))
            self.hello_done, self.phone_max_frame_len = True, msg.max_frame_len
            return ok("HelloReply", _is(m.HelloReply, version=1, capabilities=p.capabilities, sku=p.sku,
                                        max_frame_len=p.max_frame_len, max_outstanding=p.max_outstanding,
                                        heartbeat_interval_ms=p.heartbeat_interval_ms),
                      lambda _f, _raw: self._device_downlink(False))
        if isinstance(msg, m.Ping):
            return ok(f"Pong(token={msg.token})", _is(m.Pong, token=msg.token))
        if isinstance(msg, m.DeviceInfoGet):
            return ok("DeviceInfo", _is(m.DeviceInfo, **dataclasses.asdict(self.params.info)))
        if isinstance(msg, m.BatteryGet):
            return ok("BatteryStatus", _is(m.BatteryStatus))
        if isinstance(msg, m.SettingsGet):
            return ok(f"{self.settings!r}", _is(m.Settings, **dataclasses.asdict(self.settings)))
        if isinstance(msg, m.SettingSet):
            self.settings = dataclasses.replace(self.settings, **{m.SETTING_FIELDS[msg.key]: msg.value})
            return ok(f"{self.settings!r}", _is(m.Settings, **dataclasses.asdict(self.settings)))
        if isinstance(msg, m.TimeSync):
            return ok("TimeSyncReply", _is(m.TimeSyncReply, phone_time_us=msg.phone_time_us))
        if isinstance(msg, (m.AudioUplinkStart, m.AudioDownlinkStart)):
            up = isinstance(msg, m.AudioUplinkStart)
            if not self.caps & m.CODEC_CAPABILITY[msg.codec] or (
                    (msg.codec, msg.sample_rate_hz, msg.frame_duration_us) not in m.AUDIO_CONFIGS):
                return err(ErrorCode.UNSUPPORTED)
            if self.uplink if up else self.downlink:
                return err(ErrorCode.INVALID_STATE)
            if up:
                self.uplink = True
                return ok("Ack", _is(m.Ack))
            self.downlink, self.downlink_seen = True, True
            self.expect_event("CreditGrant(AUDIO_DOWN)", _is(m.CreditGrant, channel=m.CreditChannel.AUDIO_DOWN),
                              item.source)
            return ok("Ack", _is(m.Ack), lambda _f, _raw: self._device_downlink(True))
        if isinstance(msg, m.AudioUplinkStop):
            self.uplink = False
            return ok("Ack", _is(m.Ack))
        if isinstance(msg, m.AudioDownlinkStop):
            self.downlink = False
            return ok("Ack", _is(m.Ack), lambda _f, _raw: self._device_downlink(False))
        if isinstance(msg, m.PhotoCapture):
            photo_id = self.next_photo_id
            self.next_photo_id = photo_id % 0xFFFF + 1
            return ok(f"PhotoInfo(photo_id={photo_id})", _is(m.PhotoInfo, photo_id=photo_id),
                      lambda f, raw: self._captured(m.decode_message(f)))
        if isinstance(msg, m.PhotoRead):
            photo = self.photos.get(msg.photo_id)
            if photo is None:
                return err(ErrorCode.NOT_FOUND)
            if msg.offset >= photo[0]:
                return err(ErrorCode.OUT_OF_RANGE)
            self.transfer = Transfer(msg.photo_id, msg.offset, photo[0], msg.credits)
            return ok("Ack", _is(m.Ack))
        if isinstance(msg, m.PhotoAbort):
            if self.transfer is not None and self.transfer.photo_id == msg.photo_id:
                self.transfer = None
            return ok("Ack", _is(m.Ack))
        if isinstance(msg, m.TextNotify):
            need = m.Capability.DISPLAY if msg.mode is m.TextMode.DISPLAY else m.Capability.SPEAK
            return ok("Ack", _is(m.Ack)) if self.caps & need else err(ErrorCode.UNSUPPORTED)
        if isinstance(msg, m.FactoryReset):
            self.settings, self.next_photo_id = m.DEFAULT_SETTINGS, 1
            self.photos.clear()
            return ok("Ack", _is(m.Ack))
        raise AssertionError(f"the model has no rule for {type(msg).__name__}")

    def _captured(self, info: m.Message) -> None:
        assert isinstance(info, m.PhotoInfo)
        self.photos[info.photo_id] = (info.size_bytes, info.crc32)
        while len(self.photos) > PHOTOS_KEPT:
            del self.photos[min(self.photos)]

    def _command(self, item: Input, msg: m.Message) -> None:
        if isinstance(msg, m.Credit) and msg.channel is m.CreditChannel.MEDIA and self.transfer is not None:
            self.transfer.credits = min(self.transfer.credits + msg.credits, 0xFFFF)
            self._pump(item.source)

    @property
    def chunk_len(self) -> int:
        return min(self.params.max_payload, self.phone_max_frame_len) - 7 - m.PHOTO_CHUNK_OVERHEAD

    def _pump(self, source: int = -1) -> None:
        t = self.transfer
        while t is not None and t.credits > 0 and t.offset < t.size:
            n = min(self.chunk_len, t.size - t.offset)
            self.matcher.chunks.append(Expect(f"PhotoChunk(id={t.photo_id}, offset={t.offset}, {n} B)",
                                              _chunk(t.photo_id, t.offset, n), source))
            t.offset += n
            t.credits -= 1
        if t is not None and t.offset >= t.size:
            self.transfer = None

    def _audio_down(self, item: Input, frame: Frame) -> None:
        if frame.is_reply:
            self._error(item, ErrorCode.MALFORMED, frame)
            return
        if m.not_accepted(frame.type, Channel.AUDIO_DOWN) is not None:
            self._error(item, ErrorCode.UNKNOWN_TYPE, frame)
            return
        try:
            m.decode_message(frame)
        except ProtocolError as exc:
            self._error(item, exc.code, frame)
            return
        if not self.downlink:
            self._error(item, ErrorCode.INVALID_STATE, frame)
        elif not item.within_credit:
            # Beyond the phone's count the device may still hold credit (grants in flight, grants not
            # counted across a stream boundary): BUSY may come. Within it nothing may: the device has at
            # least the credit the phone counts (every grant the phone saw was sent before this frame).
            self._error(item, ErrorCode.BUSY, frame, optional=True)

    def _device_downlink(self, running: bool) -> None:
        """The device acknowledged a downlink start or stop (credit was reset when the phone wrote it)."""
        self.device_downlink = running

    def _allow_event(self, msg: m.Message) -> bool:
        if isinstance(msg, m.BatteryStatus):
            return True
        if isinstance(msg, m.CreditGrant) and msg.channel is m.CreditChannel.AUDIO_DOWN and self.downlink_seen:
            self.credit.granted(msg.credits, self.device_downlink)
            return True
        return False


def _raw(frame: Frame) -> bytes:
    from bench.profiles.glp.frames import encode_frame

    return encode_frame(frame)


def _seq(seq: int) -> Any:
    return lambda f, _msg: None if f.seq == seq else f"reply seq {f.seq}, expected {seq}"


def _and(*checks: Any) -> Any:
    def check(f: Frame, msg: m.Message | None) -> str | None:
        for c in checks:
            why = c(f, msg)
            if why:
                return why
        return None
    return check


def _chunk(photo_id: int, offset: int, n: int) -> Any:
    def check(f: Frame, msg: m.Message | None) -> str | None:
        if not isinstance(msg, m.PhotoChunk):
            return "expected a PhotoChunk"
        if (msg.photo_id, msg.offset, len(msg.data)) != (photo_id, offset, n):
            return f"chunk is (id {msg.photo_id}, offset {msg.offset}, {len(msg.data)} B)"
        return None
    return check
