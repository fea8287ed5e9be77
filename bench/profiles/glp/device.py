"""Device side of the Glasses Link Protocol for the reference glasses.

Transport-agnostic: the GATT server (or a serial adapter) calls `feed(channel, data)` with every write
and `connected()` / `disconnected()` on link changes; the glasses answer through the `send(channel,
data)` callable, which must queue and never block. `feed` never raises: malformed input is answered
with an ErrorReply and the glasses keep going. Request handlers live in handlers.py.
"""

from __future__ import annotations

import enum
import logging
import time
from collections import OrderedDict
from typing import Callable, cast

from bench import boards
from bench.errors import ConfigError
from bench.profiles.glp import messages as m
from bench.profiles.glp.device_contracts import (  # noqa: F401  (part of this module's interface)
    TRANSITIONS,
    AudioHooks,
    DeviceHooks,
    LinkState,
    NullAudio,
)
from bench.profiles.glp.errors import ErrorCode, ProtocolError
from bench.profiles.glp.frames import Frame, Reassembler, WholeFrames, decode_frame, encode_frame, fragment
from bench.profiles.glp.gatt import PHONE_TO_GLASSES, Channel
from bench.profiles.glp.handlers import HANDLERS, DeviceError
from bench.reference.glasses_photo import PhotoStore, Transfer

log = logging.getLogger(__name__)

SKU_CAPABILITIES = {
    m.Sku.CAMERA: m.ALL_CAPABILITIES,
    m.Sku.AUDIO: m.ALL_CAPABILITIES & ~(m.Capability.CAMERA | m.Capability.DISPLAY | m.Capability.TOUCH),
}


def board_limits(board: str | m.Board) -> tuple[m.Board, int, int, m.Capability]:
    """From the board file (bench.boards): wire id, max_frame_len (rx buffer), max_outstanding, codecs the
    board cannot run. The wire id must be one of the GLP ``Board`` values (docs/protocol.md)."""
    spec = boards.get(board.name.lower() if isinstance(board, m.Board) else board)
    p = spec.protocol
    if p.glp_board_id not in set(m.Board):
        raise ConfigError(f"{spec.source}: protocol.glp_board_id: {p.glp_board_id!r} is not a GLP board id "
                          f"({', '.join(f'{b.value} = {b.name.lower()}' for b in m.Board)})")
    no_codecs = m.Capability(0)
    for codec in p.unsupported_codecs:
        no_codecs |= m.CODEC_CAPABILITY[m.Codec[codec.upper()]]
    return m.Board(p.glp_board_id), p.max_frame_len, p.max_outstanding, no_codecs

PRE_HELLO = (m.Hello, m.Ping, m.DeviceInfoGet)
DOWNLINK_BUFFER_FRAMES = 8


class GlassesProtocol:
    """Protocol state of one pair of reference glasses (settings survive reconnects, not factory reset)."""

    reassemblers: dict[Channel, Reassembler | WholeFrames]
    last_text: m.TextNotify  # set by the TextNotify handler

    def __init__(self, board: str | m.Board, sku: str | m.Sku, send: Callable[[Channel, bytes], None],
                 clock: Callable[[], float] = time.monotonic, *,
                 battery_pct: Callable[[], float] = lambda: 87.0, charging: Callable[[], bool] = lambda: False,
                 audio: AudioHooks | None = None, hooks: DeviceHooks | None = None,
                 photo_size_bytes: int = 120_000, heartbeat_interval_s: float = 5.0,
                 firmware_version: str = "1.0.0", serial_number: str = "GB-0001", seed: int = 0,
                 whole_frames: bool = False) -> None:
        self.board, max_frame, outstanding, no_codecs = board_limits(board)
        self.sku = sku if isinstance(sku, m.Sku) else m.Sku[sku.upper()]
        self.capabilities = int(SKU_CAPABILITIES[self.sku] & ~no_codecs)
        self.max_frame_len, self.max_outstanding = max_frame, outstanding
        self._send, self.clock = send, clock
        self.battery_pct, self.charging = battery_pct, charging
        self.audio: AudioHooks = audio or NullAudio()
        self.hooks = hooks or DeviceHooks()
        self.observers: list[Callable[[m.Message, m.Message], None]] = []  # (request, reply) after each reply
        self.heartbeat_interval_s = heartbeat_interval_s
        self.firmware_version, self.serial_number = firmware_version, serial_number
        self.photos = PhotoStore(photo_size_bytes, seed=seed)
        self.boot_s = clock()
        self.settings = m.DEFAULT_SETTINGS
        self.whole_frames = whole_frames  # serial: one frame per packet, no reassembly (§2)
        # Privileged requests (SettingSet, PhotoCapture, FactoryReset; §5.11): the link's owner says
        # whether the link is at the device's privileged security level (the BLE side: from the bond;
        # the wired serial port: always).
        self.privileged_ok: Callable[[], bool] = lambda: True
        self.privileged_level = "open"
        self.state = LinkState.DISCONNECTED
        self.reset()

    # ------------------------------------------------------------------ lifecycle
    def reset(self) -> None:
        """Back to a known state: factory settings, no link, no photos, counters zeroed."""
        self.settings = m.DEFAULT_SETTINGS
        self.photos.clear()
        self.errors_sent = 0
        self.internal_errors = 0
        self.downlink_overruns = 0
        self.is_connected = False
        self.state = LinkState.DISCONNECTED
        self._rx_head = b""
        self._end_session()
        self.max_payload = 20

    def connected(self, max_payload: int = 20) -> None:
        """A phone connected; `max_payload` is ATT MTU - 3 (update it with set_max_payload on MTU exchange)."""
        self._end_session()
        self.is_connected = True
        self.max_payload = max_payload
        self._transition("link_up")

    def set_max_payload(self, max_payload: int) -> None:
        self.max_payload = max_payload

    def disconnected(self) -> None:
        self._end_session()
        self.is_connected = False
        self._transition("link_down")

    def _transition(self, event: str) -> None:
        self.state = TRANSITIONS.get((self.state, event), self.state)
        self.hello_done = self.state is LinkState.READY

    def new_session(self) -> None:
        """A Hello arrived: the previous session ends (streams, reply cache, seq counters), §5.1.
        Reassembly is link state, not session state: partial frames on other channels are kept."""
        reassemblers = self.reassemblers
        self._end_session()
        self.reassemblers = reassemblers

    def factory_reset(self) -> None:
        self.settings = m.DEFAULT_SETTINGS
        self.photos.clear()

    def _end_session(self) -> None:
        if getattr(self, "uplink", None):
            self.audio.uplink_stop()
        if getattr(self, "downlink", None):
            self.audio.downlink_stop()
        self.hello_done = False
        self.version = 0
        self.phone_max_frame_len = 27
        self.uplink: m.AudioUplinkStart | None = None
        self.downlink: m.AudioDownlinkStart | None = None
        self.downlink_credits = 0
        self.downlink_since_grant = 0
        self.transfer: Transfer | None = None
        receiver = WholeFrames if self.whole_frames else Reassembler
        self.reassemblers = {ch: receiver(self.max_frame_len, clock=self.clock) for ch in PHONE_TO_GLASSES}
        self.reply_cache: OrderedDict[int, tuple[bytes, bytes]] = OrderedDict()
        self.seq = {ch: 0 for ch in Channel}
        self.last_rx_s = self.clock()
        self.phone_alive = True
        self.last_battery: tuple[int, bool] | None = None

    @property
    def uptime_s(self) -> float:
        return self.clock() - self.boot_s

    # ------------------------------------------------------------------ input
    def feed(self, channel: Channel | int, data: bytes) -> None:
        """One write from the phone. Never raises."""
        self._rx_head = bytes(data[:3])  # header bytes of the frame being handled (for error replies)
        try:
            self._feed(Channel(channel), bytes(data))
        except Exception as exc:  # the firmware's fault handler: report and keep going
            self.internal_errors += 1
            log.exception("internal error on %r", data[:16])
            self._error(ErrorCode.INTERNAL, 0, f"{type(exc).__name__}: {exc}")

    def _feed(self, channel: Channel, data: bytes) -> None:
        if channel not in PHONE_TO_GLASSES:
            raise ValueError(f"channel {channel.name} is not writable by the phone")
        self.last_rx_s, self.phone_alive = self.clock(), True
        frame: Frame | None
        try:
            raw = self.reassemblers[channel].feed(data)
            if raw is None:
                return
            self._rx_head = raw[:3]
            frame = decode_frame(raw)
        except ProtocolError as exc:
            self._error(exc.code, exc.offset, exc.reason)
            return
        frame = self.hooks.on_frame(channel, frame)
        if frame is None:
            return
        if channel is Channel.AUDIO_DOWN:
            self._audio_down(frame)
        else:
            self._control(frame)

    def _control(self, frame: Frame) -> None:
        if frame.is_reply:
            self._error(ErrorCode.MALFORMED, 0, "the phone must not send REPLY frames")
            return
        why = m.not_accepted(frame.type, Channel.CONTROL_IN)
        if why is not None:
            self._error(ErrorCode.UNKNOWN_TYPE, 1, why)
            return
        is_hello = frame.type == m.Hello.TYPE
        cached = None if is_hello else self.reply_cache.get(frame.seq)  # Hello is always acted on (§5.3)
        if cached is not None and cached[0] == bytes((frame.type,)) + frame.payload:
            self._send_raw(Channel.CONTROL_OUT, cached[1])  # a retry: answer again, do not act twice
            return
        msg: m.Message | None = None
        try:
            msg = m.decode_message(frame)
            if is_hello:
                self.new_session()
            if m.Role.COMMAND in msg.ROLE:
                self._command(msg)
                return
            if not self.hello_done and not isinstance(msg, PRE_HELLO):
                raise DeviceError(ErrorCode.INVALID_STATE, f"{type(msg).__name__} before Hello")
            if msg.REQUIRES & ~self.capabilities:
                raise DeviceError(ErrorCode.UNSUPPORTED, f"{type(msg).__name__} needs {m.Capability(msg.REQUIRES)!r}")
            if msg.PRIVILEGED and not self.privileged_ok():
                raise DeviceError(ErrorCode.INSUFFICIENT_SECURITY,
                                  f"{type(msg).__name__} needs a link at the privileged security level ({self.privileged_level})")
            msg = self.hooks.on_request(msg)
            try:
                reply = self.hooks.on_reply(msg, HANDLERS[type(msg)](self, msg))
            finally:
                if is_hello:
                    self._transition("hello_ok" if self.version else "hello_failed")
        except ProtocolError as exc:
            reply = self._error_reply(exc.code, exc.offset, exc.reason)
        except DeviceError as exc:
            reply = self._error_reply(exc.code, 0, exc.detail)
        raw = self._frame(Channel.CONTROL_OUT, reply, seq=frame.seq, reply=True)
        if isinstance(reply, m.ErrorReply):
            self.errors_sent += 1
        self.reply_cache[frame.seq] = (bytes((frame.type,)) + frame.payload, raw)
        while len(self.reply_cache) > 2 * self.max_outstanding:
            self.reply_cache.popitem(last=False)
        self._send_raw(Channel.CONTROL_OUT, raw)
        self.after_reply()
        for observe in self.observers if msg is not None else ():  # e.g. the power states
            try:
                observe(cast(m.Message, msg), reply)  # the loop is empty when msg is None
            except Exception:  # an observer must never break the protocol
                log.exception("protocol observer %r failed", observe)

    def _command(self, msg: m.Message) -> None:
        if isinstance(msg, m.Credit) and msg.channel is m.CreditChannel.MEDIA:
            if self.transfer is not None:
                self.transfer.credits = min(self.transfer.credits + msg.credits, 0xFFFF)
                self.pump_photo()

    def _audio_down(self, frame: Frame) -> None:
        why = m.not_accepted(frame.type, Channel.AUDIO_DOWN)
        try:
            if frame.is_reply:
                raise DeviceError(ErrorCode.MALFORMED, "the phone must not send REPLY frames")
            if why is not None:
                raise DeviceError(ErrorCode.UNKNOWN_TYPE, why)
            msg = m.decode_message(frame)
            if self.downlink is None:
                raise DeviceError(ErrorCode.INVALID_STATE, "audio frame while the downlink is stopped")
        except (ProtocolError, DeviceError) as exc:
            code, detail = (exc.code, exc.reason) if isinstance(exc, ProtocolError) else (exc.code, exc.detail)
            offset = exc.offset if isinstance(exc, ProtocolError) else (1 if code is ErrorCode.UNKNOWN_TYPE else 0)
            self._error(code, offset, detail)
            return
        assert isinstance(msg, m.AudioFrame)
        if self.downlink_credits <= 0:
            self.downlink_overruns += 1
            self._error(ErrorCode.BUSY, 0, "audio frame without credit: dropped")
            return
        self.downlink_credits -= 1
        if self.audio.downlink_frame(msg.data, msg.capture_time_us) is not False:
            self.downlink_played(1)

    def downlink_played(self, n: int) -> None:
        """The speaker consumed `n` buffered frames: return their credit (in batches of half the buffer)."""
        self.downlink_since_grant += n
        if self.downlink is not None and self.downlink_since_grant >= DOWNLINK_BUFFER_FRAMES // 2:
            self.grant_downlink(self.downlink_since_grant)

    # ------------------------------------------------------------------ output
    def _frame(self, channel: Channel, msg: m.Message, seq: int | None = None, reply: bool = False) -> bytes:
        if seq is None:
            seq = self.seq[channel]
            self.seq[channel] = (seq + 1) & 0xFF
        return encode_frame(m.encode_message(msg, seq, reply=reply))

    def _send_raw(self, channel: Channel, raw: bytes) -> None:
        out = self.hooks.on_send(channel, raw)
        if out is None or not self.is_connected:
            return
        for part in fragment(out, self.max_payload):
            self._send(channel, part)

    def send_message(self, channel: Channel, msg: m.Message) -> None:
        """Send an unsolicited frame (event or stream) with the channel's own sequence counter."""
        self._send_raw(channel, self._frame(channel, msg))

    def _error_reply(self, code: ErrorCode, offset: int, detail: str) -> m.ErrorReply:
        """An ErrorReply naming the frame being handled; it fits the phone's max_frame_len (§5.4)."""
        head = self._rx_head
        return m.error_reply(code, head[1] if len(head) > 1 else 0, offset, detail, self.phone_max_frame_len)

    def _error(self, code: ErrorCode, offset: int, detail: str) -> None:
        """Answer the frame being handled (its seq: byte 2 of what arrived, 0 if none) with an error."""
        self.errors_sent += 1
        head = self._rx_head
        reply = self._error_reply(code, offset, detail)
        seq = head[2] if len(head) > 2 else 0
        self._send_raw(Channel.CONTROL_OUT, self._frame(Channel.CONTROL_OUT, reply, seq=seq, reply=True))

    def after_reply(self) -> None:
        """Work that follows a reply on the wire (credits, photo chunks)."""
        if self.downlink is not None and self.downlink_credits == 0 and self.downlink_since_grant == 0:
            self.grant_downlink(DOWNLINK_BUFFER_FRAMES)
        self.pump_photo()

    def grant_downlink(self, n: int) -> None:
        self.downlink_credits += n
        self.downlink_since_grant = 0
        self.send_message(Channel.CONTROL_OUT, m.CreditGrant(m.CreditChannel.AUDIO_DOWN, n))

    def chunk_data_len(self) -> int:
        """Photo bytes per chunk so that one chunk frame fits one notification and the phone's buffer."""
        return min(self.max_payload, self.phone_max_frame_len) - 7 - m.PHOTO_CHUNK_OVERHEAD

    def pump_photo(self) -> None:
        """Send photo chunks while the phone has granted credits."""
        t = self.transfer
        while t is not None and t.credits > 0 and t.offset < len(t.photo.data):
            data = t.photo.data[t.offset:t.offset + self.chunk_data_len()]
            self.send_message(Channel.MEDIA, m.PhotoChunk(t.photo.photo_id, t.offset, data))
            t.offset += len(data)
            t.credits -= 1
        if t is not None and t.offset >= len(t.photo.data):
            self.transfer = None

    def send_audio_frame(self, data: bytes, capture_time_us: int) -> bool:
        """Uplink one encoded microphone frame; False when the uplink is not running."""
        if self.uplink is None or not self.is_connected:
            return False
        self.send_message(Channel.AUDIO_UP, m.AudioFrame(capture_time_us & 0xFFFFFFFF, data))
        return True

    # ------------------------------------------------------------------ periodic and console
    def tick(self) -> None:
        """Call every ~100 ms: battery notifications and the heartbeat watchdog."""
        if not (self.is_connected and self.hello_done):
            return
        level, charging = round(self.battery_pct()), bool(self.charging())
        if self.last_battery is not None and (level, charging) != self.last_battery:
            self.send_message(Channel.CONTROL_OUT, self.battery_status())
        self.last_battery = (level, charging)
        if self.phone_alive and self.clock() - self.last_rx_s > 3 * self.heartbeat_interval_s:
            self.phone_alive = False  # phone silent for 3 heartbeats: stop streaming to save power
            log.warning("no frame from the phone for %.1f s: stopping streams", self.clock() - self.last_rx_s)
            if self.uplink is not None:
                self.uplink = None
                self.audio.uplink_stop()
            self.transfer = None

    def battery_status(self) -> m.BatteryStatus:
        level = max(0, min(100, round(self.battery_pct())))
        return m.BatteryStatus(level, bool(self.charging()), 3300 + 9 * level)

    def trigger_event(self, kind: str | m.EventKind, detail: str | m.EventDetail) -> bool:
        """Raise a device event (console: `event button double`). ValueError says what is valid."""
        k = kind if isinstance(kind, m.EventKind) else _lookup(m.EventKind, kind)
        d = detail if isinstance(detail, m.EventDetail) else _lookup(m.EventDetail, detail)
        if d not in m.EVENT_DETAILS[k]:
            raise ValueError(f"{k.name.lower()} events are {[x.name.lower() for x in m.EVENT_DETAILS[k]]}, got {d.name.lower()}")
        need = m.EVENT_CAPABILITY.get(k, 0)
        if need & ~self.capabilities:
            raise ValueError(f"this {self.sku.name.lower()} SKU has no {k.name.lower()} sensor")
        if not (self.is_connected and self.hello_done):
            return False
        self.send_message(Channel.CONTROL_OUT, m.DeviceEvent(k, d, int(self.uptime_s * 1e6)))
        return True


def _lookup(cls: type[enum.Enum], name: str):  # noqa: ANN202
    key = name.strip().upper().replace("-", "_")
    aliases = {"WAKE": "WAKE_WORD", "FORWARD": "SWIPE_FORWARD", "BACKWARD": "SWIPE_BACKWARD", "BACK": "SWIPE_BACKWARD",
               "DOUBLE_TAP": "DOUBLE", "LONG_PRESS": "LONG"}
    try:
        return cls[aliases.get(key, key)]
    except KeyError:
        raise ValueError(f"unknown {cls.__name__} {name!r}; expected one of {[x.name.lower() for x in cls]}") from None
