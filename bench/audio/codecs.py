"""Audio codecs of the glasses' stream: LC3 (lc3py), Opus (opuslib), PCM16, registered by name.

A ``CodecSpec`` says what a stream is (frame length, lookahead); ``spec.encoder()`` and
``spec.decoder()`` make stateful coders working on one frame of int16 samples at a time.
``decode(None)`` conceals a lost frame (PLC) so the timeline keeps its length.

Delay vocabulary (seconds): ``frame_s`` is the frame the encoder must fill before it can run;
``lookahead_s`` is how far decoded output lags the input when frames are coded back to back;
``delay_s = frame_s + lookahead_s`` is the algorithmic delay of a real-time stream.
"""
from __future__ import annotations

import ctypes
from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np


class CodecError(ValueError):
    """A frame the codec cannot decode (corrupt device data), or a wrong-sized input frame."""


class Encoder(Protocol):
    def encode(self, pcm: np.ndarray) -> bytes:
        """Encode exactly one frame of int16 samples."""


class Decoder(Protocol):
    def decode(self, payload: bytes | None) -> np.ndarray:
        """Decode one frame to int16 samples; ``None`` means lost (conceal)."""


@dataclass(frozen=True)
class CodecSpec:
    """A registered codec configuration; ``make_encoder``/``make_decoder`` build coder instances."""

    name: str
    sample_rate_hz: int
    frame_samples: int
    lookahead_samples: int
    make_encoder: Callable[[], Encoder] = field(repr=False)
    make_decoder: Callable[[], Decoder] = field(repr=False)
    frame_bytes: int | None = None  # fixed encoded size (CBR) or None when it varies

    @property
    def frame_s(self) -> float:
        return self.frame_samples / self.sample_rate_hz

    @property
    def lookahead_s(self) -> float:
        return self.lookahead_samples / self.sample_rate_hz

    @property
    def delay_s(self) -> float:
        return self.frame_s + self.lookahead_s

    def encoder(self) -> Encoder:
        return self.make_encoder()

    def decoder(self) -> Decoder:
        return self.make_decoder()


CODECS: dict[str, Callable[..., CodecSpec]] = {}


def register_codec(name: str) -> Callable[[Callable[..., CodecSpec]], Callable[..., CodecSpec]]:
    """Register a codec factory under ``name`` (decorator)."""

    def deco(fn: Callable[..., CodecSpec]) -> Callable[..., CodecSpec]:
        CODECS[name] = fn
        return fn

    return deco


def get_codec(name: str, **params: int) -> CodecSpec:
    """Build a codec spec by registered name (e.g. ``lc3-10ms``, ``opus-20ms``, ``pcm16``)."""
    try:
        factory = CODECS[name]
    except KeyError:
        raise KeyError(f"unknown codec {name!r}; expected one of {sorted(CODECS)}") from None
    return factory(**params)


def _check_frame(pcm: np.ndarray, n: int, name: str) -> bytes:
    pcm = np.asarray(pcm)
    if pcm.shape != (n,):
        raise CodecError(f"{name} encoder expects {n} samples per frame, got shape {pcm.shape}")
    return pcm.astype("<i2").tobytes()


# --- LC3 ---------------------------------------------------------------------------------------

class _Lc3Encoder:
    def __init__(self, frame_us: int, rate: int, nbytes: int) -> None:
        import lc3

        self._enc, self._n, self._nbytes = lc3.Encoder(frame_us, rate), frame_us * rate // 1_000_000, nbytes

    def encode(self, pcm: np.ndarray) -> bytes:
        return self._enc.encode(_check_frame(pcm, self._n, "LC3"), self._nbytes, bit_depth=16)


class _Lc3Decoder:
    def __init__(self, frame_us: int, rate: int) -> None:
        import lc3

        self._dec = lc3.Decoder(frame_us, rate)
        self._n = self._dec.get_frame_samples()

    def decode(self, payload: bytes | None) -> np.ndarray:
        if payload is None:
            return self._conceal()
        if not payload:
            raise CodecError("LC3 decoder got an empty frame (use None for a lost frame)")
        try:
            out = self._dec.decode(payload, bit_depth=16)
        except ValueError as exc:
            raise CodecError(f"LC3 cannot decode a {len(payload)}-byte frame: {exc}") from exc
        return np.frombuffer(out, dtype="<i2").copy()

    def _conceal(self) -> np.ndarray:
        # lc3py 1.1.3 cannot express a lost frame (it passes a non-NULL empty buffer, which liblc3
        # rejects); liblc3 runs PLC when the input pointer is NULL, so call it directly.
        pcm = (ctypes.c_int16 * self._n)()
        decoder = self._dec._Decoder__decoders[0]  # noqa: SLF001 (name-mangled in lc3py)
        if self._dec.lib.lc3_decode(decoder, None, 0, 0, pcm, 1) < 0:
            raise RuntimeError("liblc3 packet-loss concealment failed")
        return np.frombuffer(bytes(pcm), dtype="<i2").copy()


def _lc3(frame_us: int, sample_rate_hz: int, bitrate_bps: int) -> CodecSpec:
    import lc3

    probe = lc3.Encoder(frame_us, sample_rate_hz)
    nbytes = probe.get_frame_bytes(bitrate_bps)
    return CodecSpec(
        name=f"lc3-{frame_us / 1000:g}ms", sample_rate_hz=sample_rate_hz,
        frame_samples=probe.get_frame_samples(), lookahead_samples=probe.get_delay_samples(),
        make_encoder=lambda: _Lc3Encoder(frame_us, sample_rate_hz, nbytes),
        make_decoder=lambda: _Lc3Decoder(frame_us, sample_rate_hz), frame_bytes=nbytes)


@register_codec("lc3-10ms")
def lc3_10ms(sample_rate_hz: int = 16000, bitrate_bps: int = 32000) -> CodecSpec:
    """LC3, 10 ms frames (BAP 16_2: 40 bytes at 16 kHz/32 kb/s)."""
    return _lc3(10000, sample_rate_hz, bitrate_bps)


@register_codec("lc3-7.5ms")
def lc3_7_5ms(sample_rate_hz: int = 16000, bitrate_bps: int = 32000) -> CodecSpec:
    """LC3, 7.5 ms frames (BAP 16_1: 30 bytes at 16 kHz/32 kb/s)."""
    return _lc3(7500, sample_rate_hz, bitrate_bps)


# --- Opus --------------------------------------------------------------------------------------

class _OpusEncoder:
    def __init__(self, rate: int, n: int, bitrate_bps: int) -> None:
        import opuslib

        self._enc, self._n = opuslib.Encoder(rate, 1, opuslib.APPLICATION_RESTRICTED_LOWDELAY), n
        self._enc.bitrate = bitrate_bps

    def encode(self, pcm: np.ndarray) -> bytes:
        return self._enc.encode(_check_frame(pcm, self._n, "Opus"), self._n)


class _OpusDecoder:
    def __init__(self, rate: int, n: int) -> None:
        import opuslib

        self._dec, self._n = opuslib.Decoder(rate, 1), n

    def decode(self, payload: bytes | None) -> np.ndarray:
        if payload is not None and not payload:
            raise CodecError("Opus decoder got an empty frame (use None for a lost frame)")
        import opuslib

        try:
            out = self._dec.decode(payload or b"", self._n)  # zero length: libopus conceals
        except opuslib.OpusError as exc:
            raise CodecError(f"Opus cannot decode a {len(payload or b'')}-byte frame: {exc}") from exc
        return np.frombuffer(out, dtype="<i2").copy()


@register_codec("opus-20ms")
def opus_20ms(sample_rate_hz: int = 16000, bitrate_bps: int = 32000) -> CodecSpec:
    """Opus, 20 ms frames, RESTRICTED_LOWDELAY (CELT only, 2.5 ms lookahead)."""
    import opuslib

    n = sample_rate_hz * 20 // 1000
    look = opuslib.Encoder(sample_rate_hz, 1, opuslib.APPLICATION_RESTRICTED_LOWDELAY).lookahead
    return CodecSpec(
        name="opus-20ms", sample_rate_hz=sample_rate_hz, frame_samples=n, lookahead_samples=int(look),
        make_encoder=lambda: _OpusEncoder(sample_rate_hz, n, bitrate_bps),
        make_decoder=lambda: _OpusDecoder(sample_rate_hz, n))


# --- PCM16 -------------------------------------------------------------------------------------

class _Pcm16:
    def __init__(self, n: int) -> None:
        self._n = n

    def encode(self, pcm: np.ndarray) -> bytes:
        return _check_frame(pcm, self._n, "PCM16")

    def decode(self, payload: bytes | None) -> np.ndarray:
        if payload is None:
            return np.zeros(self._n, dtype=np.int16)  # no concealment: silence
        if len(payload) != 2 * self._n:
            raise CodecError(f"PCM16 frame must be {2 * self._n} bytes, got {len(payload)}")
        return np.frombuffer(payload, dtype="<i2").copy()


@register_codec("pcm16")
def pcm16(sample_rate_hz: int = 16000, frame_ms: float = 10.0) -> CodecSpec:
    """Uncompressed little-endian PCM16, framed at ``frame_ms`` (no lookahead)."""
    n = int(round(sample_rate_hz * frame_ms / 1000))
    return CodecSpec(name="pcm16", sample_rate_hz=sample_rate_hz, frame_samples=n, lookahead_samples=0,
                     make_encoder=lambda: _Pcm16(n), make_decoder=lambda: _Pcm16(n), frame_bytes=2 * n)


def code_stream(spec: CodecSpec, x: np.ndarray) -> np.ndarray:
    """Encode then decode a whole int16 signal frame by frame (zero-padded to whole frames)."""
    enc, dec, n = spec.encoder(), spec.decoder(), spec.frame_samples
    x = np.asarray(x, dtype=np.int16)
    x = np.concatenate([x, np.zeros((-len(x)) % n, dtype=np.int16)])
    return np.concatenate([dec.decode(enc.encode(x[i:i + n])) for i in range(0, len(x), n)] or
                          [np.zeros(0, dtype=np.int16)])
