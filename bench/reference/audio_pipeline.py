"""The reference glasses' audio pipeline, transport-agnostic, on an asyncio loop.

Uplink: the ADC pulls fixed blocks from the rig's mic (``rig.mic_read``) when each block ends, the
encoder takes whole codec frames, and each frame leaves as packets (``bench.audio.packets``) through
``send(bytes)`` once encoding time has passed. Downlink: ``receive(packet)`` → reassembly → jitter
buffer → decoder → ``rig.speaker_write`` with play timestamps. ``loopback`` feeds the uplink straight
into the downlink on the device. Times come from ``loop.time()``, which must be CLOCK_MONOTONIC.
"""
from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Protocol

import numpy as np

from bench import boards as board_specs
from bench.audio.codecs import CodecError, get_codec
from bench.audio.packets import PacketError, Reassembler, fragment_frame
from bench.reference.audio_truth import AudioTruth


class RigHooks(Protocol):
    truth: AudioTruth

    def mic_read(self, t_s: float, n_samples: int) -> np.ndarray: ...

    def speaker_write(self, t_s: float, pcm: np.ndarray) -> None: ...


@dataclass(frozen=True)
class BoardAudio:
    """Audio parameters of one board (modelled, not measured on silicon)."""

    name: str
    codec: str
    adc_block_samples: int
    jitter_buffer_frames: int
    encode_s: float
    decode_s: float
    dac_lead_s: float = 0.010  # the DAC is fed this far ahead of playing (DMA double buffer)
    sample_rate_hz: int = 16000
    max_packet_bytes: int = 244  # ATT MTU 247 - 3
    idle_frames: int = 10  # playout stops after this many missing frames in a row

    @classmethod
    def from_spec(cls, spec: board_specs.BoardSpec) -> "BoardAudio":
        return cls(spec.name, **spec.audio.model_dump())


BOARDS: board_specs.BoardView[BoardAudio] = board_specs.BoardView(BoardAudio.from_spec)  # from fixtures/boards


def board_audio(name: str, **overrides: Any) -> BoardAudio:
    """A board's audio parameters (its board file), with overrides (e.g. ``codec='pcm16'``)."""
    try:
        return replace(BOARDS[name], **overrides)
    except KeyError:
        raise KeyError(f"unknown board {name!r}; expected one of {sorted(BOARDS)}") from None


MODES = ("uplink", "downlink", "duplex", "loopback")


class AudioPipeline:
    """One glasses audio path; ``start()`` on the loop that will run it, ``stop()`` to end."""

    def __init__(self, rig: RigHooks, board: BoardAudio, send: Callable[[bytes], object] | None = None,
                 *, mode: str = "uplink", first_frame_index: int = 0, start_delay_s: float = 0.0) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if mode in ("uplink", "duplex") and send is None:
            raise ValueError(f"mode {mode!r} needs a send(bytes) callable for the uplink")
        self.rig, self.board, self.mode = rig, board, mode
        self.spec = get_codec(board.codec, sample_rate_hz=board.sample_rate_hz)
        self.truth = rig.truth
        self._send = send
        self._first_index = first_frame_index & 0xFFFF
        self.start_delay_s = start_delay_s  # microphone start-up: the ADC's first sample comes this much later
        self.on_played: Callable[[int], None] | None = None  # downlink: u16 index of each frame played
        self._handles: list[asyncio.TimerHandle] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self.frames_sent = self.frames_played = self.frames_concealed = self.late_frames = 0
        self.malformed_packets = self.bad_frames = 0

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        before = time.monotonic()  # bracketed, not compared within a tolerance: a preempted thread
        loop_now = loop.time()  # (a loaded machine) can spend more than a millisecond between two calls
        if not before <= loop_now <= time.monotonic():
            raise RuntimeError("the audio pipeline needs a loop whose time() is time.monotonic()")
        self._loop = loop
        self.truth.frame_samples = self.spec.frame_samples
        self.truth.lookahead_samples = self.spec.lookahead_samples
        self._reset_downlink()
        if self.mode == "loopback":
            self._send = lambda pkt: self.receive(pkt, loop.time())
        if self.mode in ("uplink", "duplex", "loopback"):
            self._enc = self.spec.encoder()
            self._pending = np.zeros(0, dtype=np.int16)
            self._seq = 0
            self._adc_t0 = loop.time() + 0.001 + self.start_delay_s
            self.truth.adc_t0_s = self._adc_t0
            self.truth.first_frame_index = self._first_index
            self._schedule(self._block_end(0), self._adc_block, 0)

    def stop(self) -> None:
        for h in self._handles:
            h.cancel()
        self._handles = []

    def _schedule(self, when: float, fn: Callable[..., None], *args: object) -> None:
        assert self._loop is not None
        self._handles = [h for h in self._handles if not h.cancelled() and h.when() > self._loop.time()]
        self._handles.append(self._loop.call_at(when, fn, *args))

    # --- uplink --------------------------------------------------------------------------------

    def _block_end(self, block: int) -> float:
        return self._adc_t0 + (block + 1) * self.board.adc_block_samples / self.board.sample_rate_hz

    def _adc_block(self, block: int) -> None:
        b, fs = self.board.adc_block_samples, self.board.sample_rate_hz
        pcm = self.rig.mic_read(self._adc_t0 + block * b / fs, b)
        self._pending = np.concatenate([self._pending, pcm])
        n = self.spec.frame_samples
        frames = []
        while len(self._pending) >= n:
            frame, self._pending = self._pending[:n], self._pending[n:]
            index = (self._first_index + self._seq) & 0xFFFF
            self._seq += 1
            frames.append((index, fragment_frame(index, self._enc.encode(frame), self.board.max_packet_bytes)))
        if frames:  # one callback per block keeps frames in order (equal-time timers may not be)
            self._schedule(self._block_end(block) + self.board.encode_s, self._emit, frames)
        self._schedule(self._block_end(block + 1), self._adc_block, block + 1)

    def _emit(self, frames: list[tuple[int, list[bytes]]]) -> None:
        assert self._loop is not None and self._send is not None
        for index, packets in frames:
            self.truth.ul_sent_s[index] = self._loop.time()
            self.frames_sent += 1
            for p in packets:
                self._send(p)

    # --- downlink ------------------------------------------------------------------------------

    def _reset_downlink(self) -> None:
        self._asm = Reassembler()
        self._dec = self.spec.decoder()
        self._buffer: dict[int, bytes] = {}
        self._last_index: int | None = None  # unwrapped
        self._next_play: int | None = None  # unwrapped index of the next frame to play
        self._deadline0 = math.nan
        self._missing_run = 0

    def receive(self, packet: bytes, arrival_s: float | None = None) -> bool:
        """Downlink entry point: one packet written by the phone (or looped back). True when it
        completed a frame that now waits in the jitter buffer."""
        assert self._loop is not None, "start() the pipeline before feeding it"
        now = self._loop.time() if arrival_s is None else arrival_s
        try:
            done = self._asm.push(packet)
        except PacketError:
            self.malformed_packets += 1
            return False
        if done is None:
            return False
        u16, payload = done
        if self._last_index is None:
            idx = u16
        else:
            step = (u16 - self._last_index) & 0xFFFF
            idx = self._last_index + (step if step < 0x8000 else step - 0x10000)
        self._last_index = idx if self._last_index is None else max(self._last_index, idx)
        self.truth.dl_arrival_s.setdefault(u16, now)
        if self._next_play is None:  # first frame after idle: start the playout clock
            self._next_play, self._base = idx, idx
            self._deadline0 = now + self.board.decode_s + self.board.jitter_buffer_frames * self.spec.frame_s
            self._schedule(self._deadline0, self._playout)
        if idx < self._next_play:
            self.late_frames += 1
            return False
        self._buffer[idx] = payload
        return True

    def _playout(self) -> None:
        assert self._next_play is not None
        k = self._next_play
        payload = self._buffer.pop(k, None)
        if payload is None:
            self.frames_concealed += 1
            self._missing_run += 1
        else:
            self._missing_run = 0
        try:
            pcm = self._dec.decode(payload)
        except CodecError:
            self.bad_frames += 1
            pcm = self._dec.decode(None)
        deadline = self._deadline0 + (k - self._base) * self.spec.frame_s
        play_s = deadline + self.board.dac_lead_s
        self.truth.dl_play_s[k & 0xFFFF] = play_s
        self.rig.speaker_write(play_s, pcm)
        self.frames_played += 1
        if self.on_played is not None:
            self.on_played(k & 0xFFFF)
        self._next_play = k + 1
        if self._missing_run >= self.board.idle_frames and not self._buffer:
            self._reset_downlink()  # stream ended: the next frame restarts the clock
            return
        self._schedule(deadline + self.spec.frame_s, self._playout)
