"""Every GLP message, declared once (docs/protocol.md §6). Encoding, decoding, range checks and the
hypothesis strategies in strategies.py are derived from these definitions.

Type codes: 0x01-0x3F requests/commands (phone -> glasses), 0x40-0x7F replies, 0x80-0xBF events,
0xC0-0xFF streams. A reply's frame carries Flags.REPLY and the request's seq.
"""

from __future__ import annotations

import enum
from typing import cast

from bench.profiles.glp.errors import ErrorCode, ProtocolError
from bench.profiles.glp.frames import HEADER_LEN, MAX_PAYLOAD_LEN, Flags, Frame
from bench.profiles.glp.gatt import Channel
from bench.profiles.glp.schema import (
    REGISTRY,
    Bool,
    Enum,
    F,
    Int,
    Message,
    Rest,
    Role,
    Str,
    check_message,
    decode_payload,
    encode_payload,
    message,
    wires,
)

__all__ = ["ProtocolError", "ErrorCode", "REGISTRY", "Message", "Role", "decode_message", "encode_message",
           "encode_payload", "decode_payload", "check_message", "wires"]

U8, U16, U32, U64 = Int(1), Int(2), Int(4), Int(8)
IN, OUT = Channel.CONTROL_IN, Channel.CONTROL_OUT


class Capability(enum.IntFlag):
    AUDIO_UPLINK = 1 << 0
    AUDIO_DOWNLINK = 1 << 1
    CAMERA = 1 << 2
    DISPLAY = 1 << 3
    SPEAK = 1 << 4
    WAKE_WORD = 1 << 5
    TOUCH = 1 << 6
    WEAR_DETECT = 1 << 7
    CODEC_LC3 = 1 << 8
    CODEC_OPUS = 1 << 9
    CODEC_PCM16 = 1 << 10


ALL_CAPABILITIES = (1 << 11) - 1


class Sku(enum.IntEnum):
    CAMERA = 1
    AUDIO = 2


class Board(enum.IntEnum):
    """DeviceInfo.board on the wire. Which boards exist is the board files' business (bench.boards): each
    names its wire id in ``protocol.glp_board_id``, checked against these values (device.board_limits)."""

    NRF52840DK = 1
    ESP32S3 = 2


class Codec(enum.IntEnum):
    PCM16 = 1
    LC3 = 2
    OPUS = 3


CODEC_CAPABILITY = {Codec.PCM16: Capability.CODEC_PCM16, Codec.LC3: Capability.CODEC_LC3,
                    Codec.OPUS: Capability.CODEC_OPUS}
SAMPLE_RATES_HZ = (8000, 16000, 24000, 32000, 48000)
FRAME_DURATIONS_US = (7500, 10000, 20000)
#: Stream configurations (codec, sample rate, frame duration) a device runs for each codec capability
#: it advertises; any other valid combination is answered UNSUPPORTED (docs/protocol.md, audio streams).
AUDIO_CONFIGS = frozenset({(Codec.LC3, 16000, 10000), (Codec.LC3, 16000, 7500), (Codec.OPUS, 16000, 20000),
                           (Codec.PCM16, 16000, 10000)})


class SettingKey(enum.IntEnum):
    VOLUME_PCT = 1
    MIC_GAIN_DB = 2
    WAKE_SENSITIVITY = 3
    LED_BRIGHTNESS_PCT = 4
    AUTO_SLEEP_S = 5


class EventKind(enum.IntEnum):
    BUTTON = 1
    TOUCH = 2
    WAKE_WORD = 3
    WEAR = 4


class EventDetail(enum.IntEnum):
    TAP = 1
    DOUBLE = 2
    LONG = 3
    SWIPE_FORWARD = 4
    SWIPE_BACKWARD = 5
    DETECTED = 6
    ON = 7
    OFF = 8


EVENT_DETAILS: dict[EventKind, tuple[EventDetail, ...]] = {
    EventKind.BUTTON: (EventDetail.TAP, EventDetail.DOUBLE, EventDetail.LONG),
    EventKind.TOUCH: (EventDetail.SWIPE_FORWARD, EventDetail.SWIPE_BACKWARD, EventDetail.TAP),
    EventKind.WAKE_WORD: (EventDetail.DETECTED,),
    EventKind.WEAR: (EventDetail.ON, EventDetail.OFF),
}
EVENT_CAPABILITY = {EventKind.TOUCH: Capability.TOUCH, EventKind.WAKE_WORD: Capability.WAKE_WORD,
                    EventKind.WEAR: Capability.WEAR_DETECT}


class TextMode(enum.IntEnum):
    DISPLAY = 1
    SPEAK = 2


class CreditChannel(enum.IntEnum):
    """Streams governed by credits (a subset of Channel)."""

    AUDIO_DOWN = Channel.AUDIO_DOWN
    MEDIA = Channel.MEDIA


# ---------------------------------------------------------------- replies (0x40-0x7F)
@message(0x40, Role.REPLY, OUT)
class Ack(Message):
    """Success with nothing else to say."""


@message(0x41, Role.REPLY, OUT)
class HelloReply(Message):
    version: int = F(Int(1, lo=1, hi=15), "protocol version chosen by the glasses")
    capabilities: int = F(Int(4, hi=ALL_CAPABILITIES), "Capability bits")
    sku: Sku = F(Enum(Sku))
    max_frame_len: int = F(Int(2, lo=27, hi=8192, unit="B"), "longest frame the glasses accept")
    max_outstanding: int = F(Int(1, lo=1, hi=32), "requests the phone may have in flight")
    heartbeat_interval_ms: int = F(Int(2, lo=100, hi=60000, unit="ms"))


@message(0x42, Role.REPLY, OUT)
class Pong(Message):
    token: int = F(U32, "echo of Ping.token")
    uptime_ms: int = F(U32)


@message(0x43, Role.REPLY, OUT)
class DeviceInfo(Message):
    firmware_version: str = F(Str(32))
    board: Board = F(Enum(Board))
    sku: Sku = F(Enum(Sku))
    serial_number: str = F(Str(32))
    hardware_rev: int = F(U8)


@message(0x44, Role.REPLY | Role.EVENT, OUT)
class BatteryStatus(Message):
    """Reply to BatteryGet, and sent unsolicited when the level or charging state changes."""

    level_pct: int = F(Int(1, hi=100, unit="%"))
    charging: bool = F(Bool())
    voltage_mv: int = F(Int(2, hi=5000, unit="mV"))


@message(0x45, Role.REPLY, OUT)
class Settings(Message):
    volume_pct: int = F(Int(1, hi=100, unit="%"))
    mic_gain_db: int = F(Int(1, signed=True, lo=-12, hi=24, unit="dB"))
    wake_sensitivity: int = F(Int(1, hi=10))
    led_brightness_pct: int = F(Int(1, hi=100, unit="%"))
    auto_sleep_s: int = F(Int(2, lo=10, hi=3600, unit="s"))


SETTING_FIELDS = {SettingKey.VOLUME_PCT: "volume_pct", SettingKey.MIC_GAIN_DB: "mic_gain_db",
                  SettingKey.WAKE_SENSITIVITY: "wake_sensitivity",
                  SettingKey.LED_BRIGHTNESS_PCT: "led_brightness_pct", SettingKey.AUTO_SLEEP_S: "auto_sleep_s"}
SETTING_RANGES: dict[SettingKey, Int] = {k: dict(wires(Settings))[f] for k, f in SETTING_FIELDS.items()}  # type: ignore[misc]
DEFAULT_SETTINGS = Settings(volume_pct=50, mic_gain_db=0, wake_sensitivity=5, led_brightness_pct=60, auto_sleep_s=300)


@message(0x47, Role.REPLY, OUT)
class TimeSyncReply(Message):
    phone_time_us: int = F(U64, "echo of TimeSync.phone_time_us")
    device_uptime_us: int = F(U64)


@message(0x4C, Role.REPLY, OUT)
class PhotoInfo(Message):
    photo_id: int = F(Int(2, lo=1))
    size_bytes: int = F(Int(4, lo=1, hi=16 * 1024 * 1024, unit="B"))
    crc32: int = F(U32, "CRC-32/ISO-HDLC of the whole JPEG")


@message(0x7F, Role.REPLY, OUT)
class ErrorReply(Message):
    code: ErrorCode = F(Enum(ErrorCode))
    request_type: int = F(U8, "type byte of the offending frame (0 only if fewer than 2 bytes arrived)")
    offset: int = F(U16, "byte offset in the offending frame where the problem was found")
    detail: str = F(Str(96))


# ---------------------------------------------------------------- requests (0x01-0x3F)
@message(0x01, Role.REQUEST, IN, reply=(HelloReply,))
class Hello(Message):
    min_version: int = F(Int(1, lo=1, hi=15))
    max_version: int = F(Int(1, lo=1, hi=15))
    max_frame_len: int = F(Int(2, lo=27, hi=8192, unit="B"), "longest frame the phone accepts")

    def validate(self) -> None:
        if self.min_version > self.max_version:
            raise ProtocolError(0, f"min_version {self.min_version} > max_version {self.max_version}",
                                ErrorCode.OUT_OF_RANGE)


@message(0x02, Role.REQUEST, IN, reply=(Pong,))
class Ping(Message):
    token: int = F(U32)


@message(0x03, Role.REQUEST, IN, reply=(DeviceInfo,))
class DeviceInfoGet(Message):
    pass


@message(0x04, Role.REQUEST, IN, reply=(BatteryStatus,))
class BatteryGet(Message):
    pass


@message(0x05, Role.REQUEST, IN, reply=(Settings,))
class SettingsGet(Message):
    pass


@message(0x06, Role.REQUEST, IN, reply=(Settings,), privileged=True)
class SettingSet(Message):
    """Set one setting; the reply carries all settings as applied. Range depends on the key."""

    key: SettingKey = F(Enum(SettingKey))
    value: int = F(Int(4, signed=True))

    def validate(self) -> None:
        why = SETTING_RANGES[self.key].problem(self.value)
        if why:
            raise ProtocolError(1, f"{self.key.name}: {why}", ErrorCode.OUT_OF_RANGE)


@message(0x07, Role.REQUEST, IN, reply=(TimeSyncReply,))
class TimeSync(Message):
    phone_time_us: int = F(U64, "phone wall clock, µs since the Unix epoch")


@message(0x08, Role.REQUEST, IN, reply=(Ack,), requires=Capability.AUDIO_UPLINK)
class AudioUplinkStart(Message):
    codec: Codec = F(Enum(Codec))
    sample_rate_hz: int = F(Int(4, allowed=SAMPLE_RATES_HZ, unit="Hz"))
    frame_duration_us: int = F(Int(2, allowed=FRAME_DURATIONS_US, unit="us"))


@message(0x09, Role.REQUEST, IN, reply=(Ack,), requires=Capability.AUDIO_UPLINK)
class AudioUplinkStop(Message):
    pass


@message(0x0A, Role.REQUEST, IN, reply=(Ack,), requires=Capability.AUDIO_DOWNLINK)
class AudioDownlinkStart(Message):
    codec: Codec = F(Enum(Codec))
    sample_rate_hz: int = F(Int(4, allowed=SAMPLE_RATES_HZ, unit="Hz"))
    frame_duration_us: int = F(Int(2, allowed=FRAME_DURATIONS_US, unit="us"))


@message(0x0B, Role.REQUEST, IN, reply=(Ack,), requires=Capability.AUDIO_DOWNLINK)
class AudioDownlinkStop(Message):
    pass


@message(0x0C, Role.REQUEST, IN, reply=(PhotoInfo,), requires=Capability.CAMERA, privileged=True)
class PhotoCapture(Message):
    quality: int = F(Int(1, lo=1, hi=100), "JPEG quality")


@message(0x0D, Role.REQUEST, IN, reply=(Ack,), requires=Capability.CAMERA)
class PhotoRead(Message):
    """Stream photo chunks from `offset` on MEDIA; `credits` chunks may be sent before more are granted."""

    photo_id: int = F(Int(2, lo=1))
    offset: int = F(U32)
    credits: int = F(Int(2, lo=1, hi=1024))


@message(0x0E, Role.REQUEST, IN, reply=(Ack,), requires=Capability.CAMERA)
class PhotoAbort(Message):
    photo_id: int = F(Int(2, lo=1))


@message(0x0F, Role.REQUEST, IN, reply=(Ack,))
class TextNotify(Message):
    mode: TextMode = F(Enum(TextMode))
    text: str = F(Str(200))


@message(0x10, Role.REQUEST, IN, reply=(Ack,), privileged=True)
class FactoryReset(Message):
    pass


@message(0x20, Role.COMMAND, IN)
class Credit(Message):
    """Flow control: the receiver of a stream grants `credits` more frames. Never answered."""

    channel: CreditChannel = F(Enum(CreditChannel))
    credits: int = F(Int(2, lo=1, hi=1024))


# ---------------------------------------------------------------- events (0x80-0xBF)
@message(0x80, Role.EVENT, OUT)
class DeviceEvent(Message):
    kind: EventKind = F(Enum(EventKind))
    detail: EventDetail = F(Enum(EventDetail))
    uptime_us: int = F(U64)

    def validate(self) -> None:
        if self.detail not in EVENT_DETAILS[self.kind]:
            raise ProtocolError(1, f"{self.kind.name} has no detail {self.detail.name}", ErrorCode.OUT_OF_RANGE)


@message(0x81, Role.EVENT | Role.COMMAND, OUT)
class CreditGrant(Message):
    """The glasses grant the phone `credits` more AUDIO_DOWN frames (same semantics as Credit)."""

    channel: CreditChannel = F(Enum(CreditChannel))
    credits: int = F(Int(2, lo=1, hi=1024))


# ---------------------------------------------------------------- streams (0xC0-0xFF)
@message(0xC0, Role.STREAM, Channel.MEDIA)
class PhotoChunk(Message):
    photo_id: int = F(Int(2, lo=1))
    offset: int = F(U32)
    data: bytes = F(Rest(MAX_PAYLOAD_LEN - 6, min_len=1))


@message(0xC1, Role.STREAM, Channel.AUDIO_UP)
class AudioFrame(Message):
    """One codec frame. Also sent phone -> glasses on AUDIO_DOWN."""

    capture_time_us: int = F(U32, "sender's CLOCK_MONOTONIC at capture (µs since its boot), mod 2^32")
    data: bytes = F(Rest(MAX_PAYLOAD_LEN - 4, min_len=1), "audio packet: 3-byte header (§5.8), then codec bytes")


PHOTO_CHUNK_OVERHEAD = 6  # photo_id + offset

#: Message types the glasses accept on each phone -> glasses channel (docs/protocol.md §5.4). Any other
#: type there — a reply, an event, a stream frame on the wrong channel — is answered UNKNOWN_TYPE, before
#: its payload is looked at.
GLASSES_ACCEPT: dict[Channel, frozenset[int]] = {
    Channel.CONTROL_IN: frozenset(t for t, c in REGISTRY.items()
                                  if c.ROLE & (Role.REQUEST | Role.COMMAND) and c.CHANNEL is Channel.CONTROL_IN),
    Channel.AUDIO_DOWN: frozenset({0xC1}),
}
ERROR_REPLY_OVERHEAD = HEADER_LEN + 2 + 5  # frame overhead + code, request_type, offset, detail length
#: Bit rate of each stream configuration (AUDIO_CONFIGS), bit/s: what one frame's data carries.
AUDIO_BITRATES_BPS = {(Codec.LC3, 16000, 10000): 32000, (Codec.LC3, 16000, 7500): 32000,
                      (Codec.OPUS, 16000, 20000): 32000, (Codec.PCM16, 16000, 10000): 256000}


def not_accepted(type_code: int, channel: Channel) -> str | None:
    """Why the glasses do not accept `type_code` on `channel` (an UNKNOWN_TYPE detail), or None."""
    if type_code in GLASSES_ACCEPT.get(channel, frozenset()):
        return None
    cls = REGISTRY.get(type_code)
    if cls is None:
        return f"unknown message type 0x{type_code:02x}"
    return f"{cls.__name__} (0x{type_code:02x}, {cast(str, cls.ROLE.name).lower()}) is not accepted on {channel.name}"


def error_reply(code: ErrorCode, request_type: int, offset: int, detail: str, max_frame_len: int) -> ErrorReply:
    """An ErrorReply whose frame fits `max_frame_len` (the phone's): detail cut at a UTF-8 boundary."""
    room = max(0, min(96, max_frame_len - ERROR_REPLY_OVERHEAD))
    raw = detail.encode("utf-8", "replace")[:room]
    return ErrorReply(code, request_type & 0xFF, min(max(offset, 0), 0xFFFF), raw.decode("utf-8", "ignore"))


def encode_message(msg: Message, seq: int, reply: bool = False, check: bool = True) -> Frame:
    """Wrap a message into a Frame (encode it to bytes with frames.encode_frame)."""
    return Frame(type=msg.TYPE, seq=seq, payload=encode_payload(msg, check), flags=Flags.REPLY if reply else 0)


def decode_message(frame: Frame) -> Message:
    """Decode a frame's payload; ProtocolError offsets are made relative to the frame start."""
    try:
        return decode_payload(frame.type, frame.payload)
    except ProtocolError as exc:
        off = exc.offset + (HEADER_LEN if exc.code != ErrorCode.UNKNOWN_TYPE else 0)
        raise ProtocolError(off, exc.reason, exc.code) from None
