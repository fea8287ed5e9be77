"""The reference acoustic rig: a mouth simulator in front of the glasses' mic and a measurement mic in
front of their speaker, with modelled acoustic delays, served over TCP (asyncio, 127.0.0.1).

The glasses' pipeline calls the hooks in-process: ``mic_read`` (the ADC pulls a window of mic
samples) and ``speaker_write`` (the DAC pushes samples with their play time). Sound is placed on the
clock with band-limited (windowed-sinc) fractional delay, so delays need not be whole samples.
Ground truth is served on a second port that the estimator never uses.
"""
from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from bench.audio.rig import FRAME_HEADER, RigError, check_lengths, decode_header, encode_message
from bench.audio.signals import from_pcm16, to_pcm16
from bench.reference.audio_truth import AudioTruth

SPEED_OF_SOUND_M_S = 343.0
_HALF_TAPS = 16
_KEEP_S = 60.0


def place(x: np.ndarray, shift_samples: float, n_out: int) -> np.ndarray:
    """``y[i] = x(i - shift)`` with band-limited interpolation (Kaiser-windowed sinc, 33 taps)."""
    s = math.floor(shift_samples)
    frac = shift_samples - s
    k = np.arange(-_HALF_TAPS, _HALF_TAPS + 1)
    g = np.sinc(k - frac) * np.kaiser(len(k), 8.0)  # g[k] = h(k - frac)
    # y[i] = sum_m x[m] g[i - s - m]; only m whose kernel reaches [0, n_out) matter.
    m_lo, m_hi = max(0, -s - _HALF_TAPS), min(len(x), n_out - s + _HALF_TAPS)
    y = np.zeros(n_out)
    if m_hi <= m_lo:
        return y
    full = np.convolve(x[m_lo:m_hi], g)  # full[j] ~ output index m_lo + s - HALF + j
    start = m_lo + s - _HALF_TAPS
    a, b = max(0, start), min(n_out, start + len(full))
    if b > a:
        y[a:b] = full[a - start:b - start]
    return y


@dataclass
class RigConfig:
    sample_rate_hz: int = 16000
    mouth_to_mic_s: float = 0.05 / SPEED_OF_SOUND_M_S  # mouth simulator 5 cm from the mic
    speaker_to_mic_s: float = 0.10 / SPEED_OF_SOUND_M_S  # measurement mic 10 cm from the speaker
    capture_noise_rms: float = 0.0
    seed: int = 0


class AcousticRig:
    """The air between rig and glasses: two timelines of sound events, rendered on demand."""

    def __init__(self, config: RigConfig | None = None, truth: AudioTruth | None = None) -> None:
        self.config = config or RigConfig()
        self.sample_rate_hz = self.config.sample_rate_hz
        self.truth = truth or AudioTruth(self.sample_rate_hz)
        self.truth.sample_rate_hz = self.sample_rate_hz
        self.truth.mouth_to_mic_s = self.config.mouth_to_mic_s
        self.truth.speaker_to_mic_s = self.config.speaker_to_mic_s
        self._mouth: list[tuple[float, np.ndarray]] = []
        self._speaker: list[tuple[float, np.ndarray]] = []
        self._rng = np.random.default_rng(self.config.seed)

    def _render(self, events: list[tuple[float, np.ndarray]], delay_s: float, t_s: float, n: int
                ) -> np.ndarray:
        fs, out = self.sample_rate_hz, np.zeros(n)
        for t0, x in events:
            shift = (t0 + delay_s - t_s) * fs
            if shift < n + _HALF_TAPS and shift + len(x) > -_HALF_TAPS:
                out += place(x, shift, n)
        return out

    def _prune(self, events: list[tuple[float, np.ndarray]]) -> None:
        horizon = time.monotonic() - _KEEP_S
        events[:] = [e for e in events if e[0] + len(e[1]) / self.sample_rate_hz > horizon]

    def inject(self, samples: np.ndarray, start_s: float, trial: str | None = None) -> float:
        """Mouth simulator plays ``samples`` from ``start_s``; it reaches the mic after the delay."""
        self._prune(self._mouth)
        self._mouth.append((float(start_s), np.asarray(samples, dtype=float)))
        if trial is not None:
            self.truth.injected(str(trial), float(start_s))
        return float(start_s)

    def mic_read(self, t_s: float, n_samples: int) -> np.ndarray:
        """Hook for the glasses' ADC: mic samples (int16) at ``t_s + i / fs``."""
        x = self._render(self._mouth, self.config.mouth_to_mic_s, t_s, n_samples)
        return np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)

    def speaker_write(self, t_s: float, pcm: np.ndarray) -> None:
        """Hook for the glasses' DAC: ``pcm`` (int16) starts playing at ``t_s``."""
        self._prune(self._speaker)
        self._speaker.append((float(t_s), np.asarray(pcm, dtype=float) / 32767.0))

    def capture(self, start_s: float, n_samples: int) -> np.ndarray:
        """What the measurement mic heard over a window (float); complete once ``ready_at`` passed."""
        y = self._render(self._speaker, self.config.speaker_to_mic_s, start_s, n_samples)
        if self.config.capture_noise_rms > 0:
            y += self._rng.normal(0.0, self.config.capture_noise_rms, n_samples)
        return y

    def ready_at(self, start_s: float, n_samples: int) -> float:
        """Monotonic time after which every sound reaching the window has been played."""
        return start_s + (n_samples + _HALF_TAPS) / self.sample_rate_hz


class RigServer:
    """Serves an ``AcousticRig`` on an ephemeral port and its ground truth on a second one."""

    def __init__(self, rig: AcousticRig, host: str = "127.0.0.1",
                 radio: Callable[[], list[dict[str, Any]]] | None = None) -> None:
        self.rig, self.host = rig, host
        self.radio = radio  # the virtual radio's connection event grids (TimedLink.schedule), for the truth
        self.port = self.truth_port = 0
        self._servers: list[asyncio.base_events.Server] = []

    async def start(self) -> tuple[int, int]:
        main = await asyncio.start_server(lambda r, w: self._serve(r, w, self._rig_op), self.host, 0)
        truth = await asyncio.start_server(lambda r, w: self._serve(r, w, self._truth_op), self.host, 0)
        self._servers = [main, truth]
        self.port = main.sockets[0].getsockname()[1]
        self.truth_port = truth.sockets[0].getsockname()[1]
        return self.port, self.truth_port

    async def close(self) -> None:
        for s in self._servers:
            s.close()
            await s.wait_closed()
        self._servers = []

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, handler: Any) -> None:
        where = f"rig client {writer.get_extra_info('peername')}"
        try:
            while True:
                try:
                    jl, bl = FRAME_HEADER.unpack(await reader.readexactly(FRAME_HEADER.size))
                    check_lengths(jl, bl, where)
                    header = decode_header(await reader.readexactly(jl), where)
                    payload = await reader.readexactly(bl)
                except RigError as exc:  # garbage: say so, then hang up (framing is lost)
                    writer.write(encode_message({"op": "error", "error": str(exc)}))
                    await writer.drain()
                    return
                try:
                    reply, data = await handler(header, payload)
                except (KeyError, ValueError, TypeError) as exc:
                    reply, data = {"op": "error", "error": f"{type(exc).__name__}: {exc}"}, b""
                writer.write(encode_message(reply, data))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()

    async def _rig_op(self, h: dict[str, Any], payload: bytes) -> tuple[dict[str, Any], bytes]:
        op, fs = h["op"], self.rig.sample_rate_hz
        if op == "hello":
            return {"op": "hello", "version": 1, "sample_rate_hz": fs}, b""
        if op == "now":
            return {"op": "now", "t_s": time.monotonic()}, b""
        if op == "inject":
            t = self.rig.inject(from_pcm16(payload), float(h["t_s"]), h.get("trial"))
            return {"op": "injected", "t_s": t}, b""
        if op == "capture":
            start, n = float(h["t_s"]), int(h["n_samples"])
            if not 0 < n <= 60 * fs:
                raise ValueError(f"n_samples must be 1..{60 * fs}, got {n}")
            ready = self.rig.ready_at(start, n)
            wait = ready - time.monotonic()
            if wait > float(h.get("timeout_s", 10.0)):
                raise ValueError(f"capture window ends in {wait:.3f} s, beyond timeout_s {h.get('timeout_s')}")
            if wait > 0:  # the window is still in the future: real time must pass first
                await asyncio.sleep(wait)
            return {"op": "audio", "t_s": start, "sample_rate_hz": fs}, to_pcm16(self.rig.capture(start, n))
        raise ValueError(f"unknown op {op!r}; expected hello, now, inject or capture")

    async def _truth_op(self, h: dict[str, Any], payload: bytes) -> tuple[dict[str, Any], bytes]:
        truth, op = self.rig.truth, h["op"]
        if op == "uplink":
            return {"op": "truth", "truth": truth.uplink(str(h["trial"]))}, b""
        if op == "roundtrip":
            return {"op": "truth", "truth": truth.roundtrip(str(h["trial"]))}, b""
        if op == "downlink":
            return {"op": "truth", "truth": truth.downlink(int(h["first_frame_index"]),
                                                            float(h["onset_sample"]))}, b""
        if op == "downlink_heard":
            return {"op": "truth", "truth": truth.downlink_heard(int(h["first_frame_index"]),
                                                                  float(h["onset_sample"]))}, b""
        if op in ("phone_uplink", "phone_downlink"):  # the phone's own hand-off log (see AudioTruth)
            record = truth.uplink_frame_handed_off if op == "phone_uplink" else truth.downlink_frame_written
            frames = h["frames"]
            for index, t_s in frames:
                record(int(index), float(t_s))
            return {"op": "recorded", "frames": len(frames)}, b""
        if op == "radio" and self.radio is not None:  # when the radio's connection events fall
            return {"op": "truth", "truth": {"connections": self.radio(), "now_s": time.monotonic()}}, b""
        raise ValueError(f"unknown truth op {op!r}; expected uplink, downlink, downlink_heard, roundtrip, "
                         f"phone_uplink, phone_downlink or radio")
