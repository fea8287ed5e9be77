"""Seeded firmware bugs for the reference glasses: they exist to prove that the fuzzer finds real faults.

Every bug is off unless named with ``bench reference --bug NAME`` (``--list-bugs`` lists them). A bug
registers itself in BUGS with ``@bug(name, description, kind)`` and implements any of the hook
methods of :class:`Bug`. A :class:`BugSet` installs the chosen bugs into one GlassesProtocol through
its DeviceHooks and by wrapping ``feed`` (for raw fragments), and resets their state on every reset
or reboot so that behaviour is deterministic between fuzz examples. Crashes and hangs go through the
glasses' own ``crash()`` / ``hang()`` / ``reboot()``, so they look exactly like firmware faults
(fatal dump, radio silence, watchdog reset).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable, Protocol, cast

from bench.profiles.glp import messages as m
from bench.profiles.glp.device import DeviceHooks, GlassesProtocol
from bench.profiles.glp.frames import CRC_LEN, HEADER_LEN, OVERHEAD, SUPPORTED_VERSIONS, Frame, crc16, frame_length
from bench.profiles.glp.gatt import Channel

log = logging.getLogger(__name__)


class Device(Protocol):
    """What a bug needs from the glasses (ReferenceGlasses has all three)."""

    async def crash(self, reason: str = ..., reset_reason: str = ...) -> None: ...
    async def reboot(self, reset_reason: str = ...) -> None: ...
    def hang(self, duration_s: float) -> None: ...


class Bug:
    """Base: every hook passes input through unchanged. ``ctx`` is the BugSet (crash/hang/reboot)."""

    name = ""
    description = ""
    kind = ""  # crash | hang | violation: what the fuzzer should report
    links: tuple[str, ...] = ("ble", "serial")  # where the faulty code runs (serial frames are whole: no reassembly there)

    def reset(self) -> None:
        """Forget state (called on reset and reboot)."""

    def on_feed(self, ctx: "BugSet", channel: Channel, data: bytes) -> bytes | None:
        return data

    def on_frame(self, ctx: "BugSet", channel: Channel, frame: Frame) -> Frame | None:
        return frame

    def on_request(self, ctx: "BugSet", msg: m.Message) -> m.Message:
        return msg


BUGS: dict[str, Bug] = {}


def bug(name: str, description: str, kind: str) -> Callable[[type[Bug]], type[Bug]]:
    def register(cls: type[Bug]) -> type[Bug]:
        obj = cls()
        obj.name, obj.description, obj.kind = name, description, kind
        BUGS[name] = obj
        return cls
    return register


class BugSet(DeviceHooks):
    """The bugs installed into one GlassesProtocol; also the DeviceHooks the protocol calls."""

    def __init__(self, protocol: GlassesProtocol, names: list[str], device: Device | None = None) -> None:
        unknown = [n for n in names if n not in BUGS]
        if unknown:
            raise ValueError(f"unknown bug(s) {unknown}; known: {sorted(BUGS)}")
        self.protocol, self.device = protocol, device
        self.bugs = [type(BUGS[n])() for n in dict.fromkeys(names)]  # fresh state per installation
        for b, n in zip(self.bugs, dict.fromkeys(names)):
            b.name, b.description, b.kind = n, BUGS[n].description, BUGS[n].kind
        self.dead = False  # crashed: ignore input until reset/reboot
        self.hung_until_s = 0.0
        self._feed = protocol.feed
        protocol.hooks = self
        protocol.feed = self.feed  # type: ignore[method-assign]
        boot = getattr(device, "boot", None)
        if boot is not None:  # a reboot forgets the bugs' state, as RAM would
            async def boot_and_reset(reset_reason: str) -> None:
                self.reset()
                await boot(reset_reason)
            device.boot = boot_and_reset  # type: ignore[union-attr]

    @property
    def names(self) -> list[str]:
        return [b.name for b in self.bugs]

    def reset(self) -> None:
        self.dead, self.hung_until_s = False, 0.0
        for b in self.bugs:
            b.reset()

    # -- faults, as the firmware would have them ---------------------------------------------------
    def crash(self, reason: str) -> None:
        self.dead = True
        log.warning("seeded bug: crash (%s)", reason)
        if self.device is not None:
            asyncio.ensure_future(self.device.crash(reason))

    def reboot(self, reset_reason: str, message: str) -> None:
        self.dead = True
        log.warning("seeded bug: reboot (%s)", message)
        if self.device is not None:
            log_ = getattr(self.device, "log", None)
            if log_ is not None:
                log_.error("mem", message)
            asyncio.ensure_future(self.device.reboot(reset_reason))

    def hang(self, duration_s: float) -> None:
        self.hung_until_s = self.protocol.clock() + duration_s
        if self.device is not None:
            self.device.hang(duration_s)

    @property
    def silent(self) -> bool:
        return self.dead or self.protocol.clock() < self.hung_until_s

    # -- hooks ------------------------------------------------------------------------------------
    def feed(self, channel: Channel | int, data: bytes) -> None:
        if self.silent:
            return
        out: bytes | None = bytes(data)
        for b in self.bugs:
            out = b.on_feed(self, Channel(channel), cast(bytes, out))  # not None: the loop returns on None
            if out is None or self.silent:
                return
        self._feed(channel, cast(bytes, out))  # not None: the loop returns on None

    def on_frame(self, channel: Channel, frame: Frame | None) -> Frame | None:
        for b in self.bugs:
            frame = b.on_frame(self, channel, cast(Frame, frame))  # not None: the loop returns on None
            if frame is None or self.silent:
                return None
        return frame

    def on_request(self, msg: m.Message) -> m.Message:
        for b in self.bugs:
            msg = b.on_request(self, msg)
        return msg  # after a crash the reply is swallowed by on_send

    def on_send(self, channel: Channel, data: bytes) -> bytes | None:
        return None if self.silent else data


def install(protocol: GlassesProtocol, names: list[str], device: Device | None = None) -> BugSet | None:
    """Install the named bugs (None when the list is empty: the protocol is left untouched)."""
    return BugSet(protocol, names, device) if names else None


# ------------------------------------------------------------------------------------------ the bugs
@bug("zero-length-fragment", "a zero-length write dereferences an empty buffer: crash", "crash")
class ZeroLengthFragment(Bug):
    def on_feed(self, ctx: BugSet, channel: Channel, data: bytes) -> bytes | None:
        if not data:
            ctx.crash("BUS FAULT")
            return None
        return data


@bug("bad-crc-accepted", "a single-fragment frame with a wrong CRC is acted on instead of rejected", "violation")
class BadCrcAccepted(Bug):
    def on_feed(self, ctx: BugSet, channel: Channel, data: bytes) -> bytes | None:
        if (len(data) >= HEADER_LEN + CRC_LEN and ctx.protocol.reassemblers[channel].pending == 0
                and data[0] >> 4 in SUPPORTED_VERSIONS and frame_length(data) == len(data)):
            return data[:-CRC_LEN] + crc16(data[:-CRC_LEN]).to_bytes(2, "little")  # "CRC check skipped"
        return data


@bug("seq-wrap-stall", "after request seq 255 wraps to 0 the control channel stops answering", "hang")
class SeqWrapStall(Bug):
    def reset(self) -> None:
        self.last: int | None = None
        self.stalled = False

    def __init__(self) -> None:
        self.reset()

    def on_frame(self, ctx: BugSet, channel: Channel, frame: Frame) -> Frame | None:
        if channel is not Channel.CONTROL_IN:
            return frame
        if self.last == 255 and frame.seq == 0:
            self.stalled = True
        self.last = frame.seq
        return None if self.stalled else frame


@bug("photo-read-past-end", "PhotoRead at offset == photo size reads past the buffer: crash", "crash")
class PhotoReadPastEnd(Bug):
    def on_request(self, ctx: BugSet, msg: m.Message) -> m.Message:
        if isinstance(msg, m.PhotoRead):
            photo = ctx.protocol.photos.photos.get(msg.photo_id)
            if photo is not None and msg.offset == len(photo.data):
                ctx.crash("MPU FAULT")
        return msg


@bug("setting-corrupts", "an out-of-range SettingSet is rejected but overwrites the volume (read back wrong)",
     "violation")
class SettingCorrupts(Bug):
    def on_feed(self, ctx: BugSet, channel: Channel, data: bytes) -> bytes | None:
        if (channel is Channel.CONTROL_IN and len(data) == HEADER_LEN + 5 + CRC_LEN
                and data[1] == m.SettingSet.TYPE and data[HEADER_LEN] in set(m.SettingKey)):
            key = m.SettingKey(data[HEADER_LEN])
            value = int.from_bytes(data[HEADER_LEN + 1:HEADER_LEN + 5], "little", signed=True)
            if m.SETTING_RANGES[key].problem(value):
                import dataclasses

                p = ctx.protocol
                p.settings = dataclasses.replace(p.settings, volume_pct=abs(value) % 101)
        return data


@bug("reassembly-overflow", "a frame cut into more than 16 fragments overflows the reassembly table: crash",
     "crash")
class ReassemblyOverflow(Bug):
    LIMIT = 16
    links = ("ble",)

    def reset(self) -> None:
        self.count: dict[Channel, int] = {}

    def __init__(self) -> None:
        self.reset()

    def on_feed(self, ctx: BugSet, channel: Channel, data: bytes) -> bytes | None:
        if ctx.protocol.reassemblers[channel].pending == 0:
            self.count[channel] = 1
        else:
            self.count[channel] = self.count.get(channel, 1) + 1
            if self.count[channel] > self.LIMIT:
                ctx.crash("USAGE FAULT")
                return None
        return data


@bug("audio-start-leak", "every audio stream start leaks a buffer; the 5th start exhausts the heap "
     "and the watchdog resets the glasses", "crash")
class AudioStartLeak(Bug):
    K = 5

    def reset(self) -> None:
        self.starts = 0

    def __init__(self) -> None:
        self.reset()

    def on_request(self, ctx: BugSet, msg: m.Message) -> m.Message:
        if isinstance(msg, (m.AudioUplinkStart, m.AudioDownlinkStart)):
            self.starts += 1
            if self.starts >= self.K:
                ctx.reboot("WATCHDOG", f"k_malloc failed after {self.starts} stream starts: heap exhausted")
        return msg


@bug("hello-v0-hang", "Hello with min_version 0 loops forever in version negotiation: hang", "hang")
class HelloV0Hang(Bug):
    def on_frame(self, ctx: BugSet, channel: Channel, frame: Frame) -> Frame | None:
        if frame.type == m.Hello.TYPE and frame.payload[:1] == b"\x00":
            ctx.hang(30.0)
            return None
        return frame


@bug("unknown-type-acked", "a frame of an unknown message type is acknowledged instead of rejected", "violation")
class UnknownTypeAcked(Bug):
    def on_frame(self, ctx: BugSet, channel: Channel, frame: Frame) -> Frame | None:
        if channel is Channel.CONTROL_IN and frame.type not in m.REGISTRY and not frame.is_reply:
            p: Any = ctx.protocol
            p._send_raw(Channel.CONTROL_OUT, p._frame(Channel.CONTROL_OUT, m.Ack(), seq=frame.seq, reply=True))
            return None
        return frame


# The three classes a fuzzer with uniform draws misses (issue 15): one exact length at a buffer boundary,
# a counter that misbehaves only after it wraps, a device that silently stops answering after valid input.
@bug("frame-at-max-len", "a frame of exactly max_frame_len bytes (the rx buffer size) writes its terminator "
     "one past the buffer: crash", "crash")
class FrameAtMaxLen(Bug):
    def on_frame(self, ctx: BugSet, channel: Channel, frame: Frame) -> Frame | None:
        if OVERHEAD + len(frame.payload) == ctx.protocol.max_frame_len:
            ctx.crash("BUS FAULT")
            return None
        return frame


@bug("audio-index-wrap", "the downlink jitter buffer computes the frame_index gap unsigned: an AudioFrame "
     "with frame_index 0 right after 65535 indexes slot -1: crash", "crash")
class AudioIndexWrap(Bug):
    def reset(self) -> None:
        self.last: int | None = None

    def __init__(self) -> None:
        self.reset()

    def on_frame(self, ctx: BugSet, channel: Channel, frame: Frame) -> Frame | None:
        if channel is not Channel.AUDIO_DOWN or frame.type != m.AudioFrame.TYPE or len(frame.payload) < 6:
            return frame
        if ctx.protocol.downlink is None:  # only a running stream has a jitter buffer
            self.last = None
            return frame
        index = int.from_bytes(frame.payload[4:6], "little")  # §5.8: the packet header's frame_index
        if self.last == 0xFFFF and index == 0:
            ctx.crash("USAGE FAULT")
            return None
        self.last = index
        return frame


@bug("text-queue-stall", "the 100th TextNotify of a session fills the display queue and the control task "
     "blocks on it forever: no crash, no reply, nothing on the console", "hang")
class TextQueueStall(Bug):
    LIMIT = 100

    def reset(self) -> None:
        self.texts = 0

    def __init__(self) -> None:
        self.reset()

    def on_frame(self, ctx: BugSet, channel: Channel, frame: Frame) -> Frame | None:
        if channel is not Channel.CONTROL_IN:
            return frame
        if self.texts >= self.LIMIT:
            return None  # the control task is blocked: every later request goes unanswered
        if frame.type == m.TextNotify.TYPE and not frame.is_reply:
            self.texts += 1
        return frame


@bug("credit-busy-early", "the downlink treats its 2-frame low-water mark as empty: an AudioFrame sent while "
     "1 or 2 credits remain is dropped and answered BUSY", "violation")
class CreditBusyEarly(Bug):
    LOW_WATER = 2

    def on_frame(self, ctx: BugSet, channel: Channel, frame: Frame) -> Frame | None:
        p: Any = ctx.protocol
        if (channel is Channel.AUDIO_DOWN and frame.type == m.AudioFrame.TYPE and not frame.is_reply
                and p.downlink is not None and 0 < p.downlink_credits <= self.LOW_WATER and _decodes(frame)):
            p._error(m.ErrorCode.BUSY, 0, "audio frame without credit: dropped")
            return None
        return frame


def _decodes(frame: Frame) -> bool:
    try:
        m.decode_message(frame)
    except m.ProtocolError:
        return False
    return True
