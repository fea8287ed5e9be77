"""Request handlers of the reference glasses: one function per request type, registered in HANDLERS.

Each takes the GlassesProtocol and the decoded request and returns the reply message, or raises
DeviceError(code, detail), which becomes an ErrorReply.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Callable

from bench.profiles.glp import messages as m
from bench.profiles.glp.errors import ErrorCode
from bench.profiles.glp.frames import SUPPORTED_VERSIONS
from bench.reference.glasses_photo import Transfer

if TYPE_CHECKING:
    from bench.profiles.glp.device import GlassesProtocol

HANDLERS: dict[type[m.Message], Callable[["GlassesProtocol", m.Message], m.Message]] = {}


class DeviceError(Exception):
    def __init__(self, code: ErrorCode, detail: str) -> None:
        super().__init__(detail)
        self.code, self.detail = code, detail


def handles(cls: type[m.Message]) -> Callable:
    def reg(fn: Callable) -> Callable:
        HANDLERS[cls] = fn
        return fn
    return reg


@handles(m.Hello)
def hello(g: "GlassesProtocol", req: m.Hello) -> m.Message:
    common = [v for v in SUPPORTED_VERSIONS if req.min_version <= v <= req.max_version]
    if not common:
        raise DeviceError(ErrorCode.VERSION, f"glasses speak {list(SUPPORTED_VERSIONS)}, phone "
                                             f"{req.min_version}..{req.max_version}")
    g.hello_done, g.version, g.phone_max_frame_len = True, max(common), req.max_frame_len
    return m.HelloReply(g.version, g.capabilities, g.sku, g.max_frame_len, g.max_outstanding,
                        int(g.heartbeat_interval_s * 1000))


@handles(m.Ping)
def ping(g: "GlassesProtocol", req: m.Ping) -> m.Message:
    return m.Pong(req.token, int(g.uptime_s * 1000) & 0xFFFFFFFF)


@handles(m.DeviceInfoGet)
def device_info(g: "GlassesProtocol", req: m.DeviceInfoGet) -> m.Message:
    return m.DeviceInfo(g.firmware_version, g.board, g.sku, g.serial_number, 1)


@handles(m.BatteryGet)
def battery(g: "GlassesProtocol", req: m.BatteryGet) -> m.Message:
    status = g.battery_status()
    g.last_battery = (status.level_pct, status.charging)
    return status


@handles(m.SettingsGet)
def settings_get(g: "GlassesProtocol", req: m.SettingsGet) -> m.Message:
    return g.settings


@handles(m.SettingSet)
def setting_set(g: "GlassesProtocol", req: m.SettingSet) -> m.Message:
    g.settings = dataclasses.replace(g.settings, **{m.SETTING_FIELDS[req.key]: req.value})
    return g.settings


@handles(m.TimeSync)
def time_sync(g: "GlassesProtocol", req: m.TimeSync) -> m.Message:
    return m.TimeSyncReply(req.phone_time_us, int(g.uptime_s * 1e6))


def _codec_ok(g: "GlassesProtocol", req: m.AudioUplinkStart | m.AudioDownlinkStart) -> None:
    if not g.capabilities & m.CODEC_CAPABILITY[req.codec]:
        raise DeviceError(ErrorCode.UNSUPPORTED, f"codec {req.codec.name} not available on {g.board.name}")
    if (req.codec, req.sample_rate_hz, req.frame_duration_us) not in m.AUDIO_CONFIGS:
        raise DeviceError(ErrorCode.UNSUPPORTED, f"{req.codec.name} at {req.sample_rate_hz} Hz with "
                                                 f"{req.frame_duration_us} us frames is not a stream configuration")


@handles(m.AudioUplinkStart)
def uplink_start(g: "GlassesProtocol", req: m.AudioUplinkStart) -> m.Message:
    _codec_ok(g, req)
    if g.uplink is not None:
        raise DeviceError(ErrorCode.INVALID_STATE, "uplink already running; stop it first")
    g.audio.uplink_start(req.codec, req.sample_rate_hz, req.frame_duration_us / 1e6)  # may refuse
    g.uplink = req
    return m.Ack()


@handles(m.AudioUplinkStop)
def uplink_stop(g: "GlassesProtocol", req: m.AudioUplinkStop) -> m.Message:
    if g.uplink is not None:
        g.uplink = None
        g.audio.uplink_stop()
    return m.Ack()


@handles(m.AudioDownlinkStart)
def downlink_start(g: "GlassesProtocol", req: m.AudioDownlinkStart) -> m.Message:
    _codec_ok(g, req)
    if g.downlink is not None:
        raise DeviceError(ErrorCode.INVALID_STATE, "downlink already running; stop it first")
    g.audio.downlink_start(req.codec, req.sample_rate_hz, req.frame_duration_us / 1e6)  # may refuse
    g.downlink, g.downlink_credits, g.downlink_since_grant = req, 0, 0
    return m.Ack()  # the initial CreditGrant follows the Ack (GlassesProtocol.after_reply)


@handles(m.AudioDownlinkStop)
def downlink_stop(g: "GlassesProtocol", req: m.AudioDownlinkStop) -> m.Message:
    if g.downlink is not None:
        g.downlink = None
        g.audio.downlink_stop()
    return m.Ack()


@handles(m.PhotoCapture)
def photo_capture(g: "GlassesProtocol", req: m.PhotoCapture) -> m.Message:
    photo = g.photos.capture(req.quality)
    return m.PhotoInfo(photo.photo_id, len(photo.data), photo.crc32)


@handles(m.PhotoRead)
def photo_read(g: "GlassesProtocol", req: m.PhotoRead) -> m.Message:
    photo = g.photos.photos.get(req.photo_id)
    if photo is None:
        raise DeviceError(ErrorCode.NOT_FOUND, f"no photo {req.photo_id} (have {sorted(g.photos.photos)})")
    if req.offset >= len(photo.data):
        raise DeviceError(ErrorCode.OUT_OF_RANGE, f"offset {req.offset} >= size {len(photo.data)}")
    if g.chunk_data_len() < 1:
        raise DeviceError(ErrorCode.INVALID_STATE, "link payload too small for photo chunks")
    g.transfer = Transfer(photo, req.offset, req.credits)
    return m.Ack()  # chunks follow the Ack on MEDIA


@handles(m.PhotoAbort)
def photo_abort(g: "GlassesProtocol", req: m.PhotoAbort) -> m.Message:
    if g.transfer is not None and g.transfer.photo.photo_id == req.photo_id:
        g.transfer = None
    return m.Ack()


@handles(m.TextNotify)
def text_notify(g: "GlassesProtocol", req: m.TextNotify) -> m.Message:
    need = m.Capability.DISPLAY if req.mode is m.TextMode.DISPLAY else m.Capability.SPEAK
    if not g.capabilities & need:
        raise DeviceError(ErrorCode.UNSUPPORTED, f"{g.sku.name.lower()} SKU cannot {req.mode.name.lower()} text")
    g.last_text = req
    return m.Ack()


@handles(m.FactoryReset)
def factory_reset(g: "GlassesProtocol", req: m.FactoryReset) -> m.Message:
    g.factory_reset()
    return m.Ack()
