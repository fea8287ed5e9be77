"""The reference glasses' audio as the Glasses Link Protocol drives it: GLP ``AudioHooks`` over
``AudioPipeline``s, the mic/speaker on an ``AcousticRig``, and the radio tap that records ground truth.

Uplink: each stream packet (frame index, fragment number, codec bytes; bench/audio/packets.py) is one
GLP ``AudioFrame`` on the AUDIO_UP characteristic, sized so that the GLP frame fits one notification
(``max_packet_bytes = ATT MTU - 3 - GLP overhead``), so it crosses the timed radio like any other
notification. Downlink: every ``AudioFrame`` the phone writes on AUDIO_DOWN carries one such packet
and goes into the downlink pipeline's jitter buffer. The two directions may run at once (round trip
with the phone echoing uplink frames back unchanged).
"""
from __future__ import annotations

import asyncio
import logging
import random
from typing import TYPE_CHECKING, Callable

from bumble import att, l2cap

from bench.audio.codecs import get_codec
from bench.audio.packets import AudioPacket, PacketError
from bench.profiles.glp import messages as m
from bench.profiles.glp.errors import ErrorCode, ProtocolError
from bench.profiles.glp.frames import OVERHEAD, decode_frame
from bench.profiles.glp.handlers import DeviceError
from bench.reference.audio_pipeline import AudioPipeline, board_audio
from bench.reference.rig import AcousticRig

if TYPE_CHECKING:
    from bench.profiles.glp.device import GlassesProtocol

log = logging.getLogger(__name__)

AUDIO_FRAME_OVERHEAD = OVERHEAD + 4  # GLP header + CRC, AudioFrame.capture_time_us
# A PDM microphone takes a few ms to start, and the time varies from start to start. Without that,
# the simulated mic clock would start exactly at the connection event that carried AudioUplinkStart,
# and every stream would sit at the same phase of the connection interval. Uniform 0-15 ms covers
# every phase of a 7.5 or 15 ms interval evenly.
MIC_STARTUP_MAX_S = 0.015
ATT_CID = 0x0004


def codec_name(codec: m.Codec, frame_s: float) -> str:
    """The registered codec (bench.audio.codecs) for a GLP codec and frame duration."""
    names = {(m.Codec.LC3, 10000): "lc3-10ms", (m.Codec.LC3, 7500): "lc3-7.5ms",
             (m.Codec.OPUS, 20000): "opus-20ms", (m.Codec.PCM16, 10000): "pcm16"}
    try:
        return names[(codec, round(frame_s * 1e6))]
    except KeyError:
        raise DeviceError(ErrorCode.UNSUPPORTED, f"{codec.name} with {frame_s * 1e3:g} ms frames is not "
                                                 f"supported; have {sorted(names.values())}") from None


class GlassesAudio:
    """``AudioHooks`` of the reference glasses: one uplink and one downlink pipeline on a rig."""

    def __init__(self, protocol: "GlassesProtocol", rig: AcousticRig, board: str,
                 on_streaming: Callable[[bool], None] | None = None, first_frame_index: int = 0,
                 seed: int = 0) -> None:
        self.protocol, self.rig, self.board = protocol, rig, board
        self.rng = random.Random(seed)
        self.truth = rig.truth
        self.on_streaming = on_streaming
        self.first_frame_index = first_frame_index & 0xFFFF
        self.uplink: AudioPipeline | None = None
        self.downlink: AudioPipeline | None = None
        self.loopback: AudioPipeline | None = None
        self.frames_not_sent = 0

    def _board(self, codec: m.Codec, sample_rate_hz: int, frame_s: float):  # noqa: ANN202
        if sample_rate_hz != self.rig.sample_rate_hz:
            raise DeviceError(ErrorCode.UNSUPPORTED, f"the microphone runs at {self.rig.sample_rate_hz} Hz, "
                                                     f"not {sample_rate_hz} Hz")
        room = self.protocol.max_payload - AUDIO_FRAME_OVERHEAD
        return board_audio(self.board, codec=codec_name(codec, frame_s), sample_rate_hz=sample_rate_hz,
                           max_packet_bytes=room)

    def _streaming(self) -> None:
        if self.on_streaming is not None:
            self.on_streaming(any(p is not None for p in (self.uplink, self.downlink, self.loopback)))

    # --- AudioHooks ----------------------------------------------------------------------------
    def uplink_start(self, codec: m.Codec, sample_rate_hz: int, frame_duration_s: float) -> None:
        board = self._board(codec, sample_rate_hz, frame_duration_s)
        self.truth.reset_uplink()
        self.uplink = AudioPipeline(self.rig, board, self._send_up, mode="uplink",
                                    first_frame_index=self.first_frame_index,
                                    start_delay_s=self.rng.uniform(0.0, MIC_STARTUP_MAX_S))
        self.uplink.start()
        self._streaming()

    def uplink_stop(self) -> None:
        if self.uplink is not None:
            self.uplink.stop()
            self.uplink = None
        self._streaming()

    def downlink_start(self, codec: m.Codec, sample_rate_hz: int, frame_duration_s: float) -> None:
        board = self._board(codec, sample_rate_hz, frame_duration_s)
        self.truth.reset_downlink()
        self._held: dict[int, int] = {}  # u16 frame index -> GLP frames (credits) it holds
        self.downlink = AudioPipeline(self.rig, board, mode="downlink")
        self.downlink.on_played = self._played
        self.downlink.start()
        self._streaming()

    def downlink_stop(self) -> None:
        if self.downlink is not None:
            self.downlink.stop()
            self.downlink = None
        self._streaming()

    def downlink_frame(self, data: bytes, capture_time_us: int) -> bool | None:
        """Every AudioFrame holds a credit (a buffer slot) until the speaker is done with it, so a phone
        that writes beyond its credit overruns the buffer, as on a real speaker. A packet that completed
        a frame is done when that frame has been played. Any other packet (a leading fragment, a late
        or malformed one) is done one frame duration later: the decoder's time for it."""
        pipeline = self.downlink
        if pipeline is None:
            return None
        loop = asyncio.get_running_loop()
        if pipeline.receive(data, loop.time()):
            index = AudioPacket.parse(data).frame_index
            self._held[index] = self._held.get(index, 0) + 1
        else:
            loop.call_later(pipeline.spec.frame_s, self._release, pipeline)
        return False

    def _release(self, pipeline: AudioPipeline) -> None:
        if pipeline is self.downlink:  # not after the stream stopped: its credits are void
            self.protocol.downlink_played(1)

    def _played(self, index: int) -> None:
        """Frame ``index`` left the jitter buffer: return the credit of it and of anything older."""
        done = [i for i in self._held if (index - i) & 0xFFFF < 0x8000]
        n = sum(self._held.pop(i) for i in done)
        if n:
            self.protocol.downlink_played(n)

    # --- device-only loopback (mic → encoder → decoder → speaker, no radio) ---------------------
    def loopback_start(self, codec: str | None = None) -> AudioPipeline:
        """Start a device loopback; its round trip has no link in it (shell ``audio loopback on``)."""
        self.loopback_stop()
        overrides = {"codec": codec} if codec else {}
        board = board_audio(self.board, **overrides)
        get_codec(board.codec)  # an unknown codec fails here, not inside the loop
        self.truth.reset_uplink()
        self.truth.reset_downlink()
        self.loopback = AudioPipeline(self.rig, board, mode="loopback", first_frame_index=self.first_frame_index)
        self.loopback.start()
        self._streaming()
        return self.loopback

    def loopback_stop(self) -> None:
        if self.loopback is not None:
            self.loopback.stop()
            self.loopback = None
        self._streaming()

    # --- uplink transport ----------------------------------------------------------------------
    def _send_up(self, packet: bytes) -> None:
        """One stream packet → one GLP AudioFrame; capture time = start of its frame, glasses uptime."""
        assert self.uplink is not None
        k = (AudioPacket.parse(packet).frame_index - self.first_frame_index) & 0xFFFF
        capture_s = self.truth.adc_t0_s + k * self.uplink.spec.frame_s
        if not self.protocol.send_audio_frame(packet, int((capture_s - self.protocol.boot_s) * 1e6)):
            self.frames_not_sent += 1

    def status(self) -> str:
        lines = []
        for name, p in (("uplink", self.uplink), ("downlink", self.downlink), ("loopback", self.loopback)):
            if p is None:
                lines.append(f"{name}: stopped")
            else:
                lines.append(f"{name}: {p.board.codec} sent={p.frames_sent} played={p.frames_played} "
                             f"concealed={p.frames_concealed} late={p.late_frames} "
                             f"malformed={p.malformed_packets}")
        return "\n".join(lines)


class UplinkTruthTap:
    """Radio delivery observer: records when each uplink audio packet reached the phone's controller.

    Parses what the radio carried (L2CAP → ATT notification on the AUDIO_UP value handle → GLP frame →
    AudioFrame) with Bumble's and GLP's own decoders; anything else is not audio and is ignored.
    """

    def __init__(self, truth_record: Callable[[bytes, float], None], audio_up_handle: Callable[[], int]) -> None:
        self.record, self.handle = truth_record, audio_up_handle
        self.ignored = 0

    def __call__(self, from_central: bool, data: bytes, t_s: float) -> None:
        if from_central:
            return
        try:
            pdu = l2cap.L2CAP_PDU.from_bytes(data)
            if pdu.cid != ATT_CID:
                return
            notification = att.ATT_PDU.from_bytes(pdu.payload)
            if not isinstance(notification, att.ATT_Handle_Value_Notification) \
                    or notification.attribute_handle != self.handle():
                return
            msg = m.decode_message(decode_frame(bytes(notification.attribute_value)))
            if isinstance(msg, m.AudioFrame):
                self.record(msg.data, t_s)
        except (ProtocolError, PacketError, ValueError, IndexError, KeyError) as exc:
            self.ignored += 1
            log.debug("uplink truth tap: not an audio frame: %s", exc)
