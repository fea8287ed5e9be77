"""Acoustic rigs behind one interface: the reference bench's rig socket, or a sound card.

An ``AudioRig`` injects sound into the DUT's microphone (a mouth simulator / speaker in front of the
glasses) at a chosen CLOCK_MONOTONIC time and captures what its measurement mic hears over a time
window. ``SocketRig`` speaks the reference rig's wire protocol (docs/audio-latency.md);
``SoundDeviceRig`` (bench/audio/sounddevice_rig.py) drives a real audio interface.

Wire framing (both ports): ``<u32 LE json_len><u32 LE bin_len><json utf-8><bin>``.
"""
from __future__ import annotations

import json
import socket
import struct
import time
from typing import Any, Protocol

import numpy as np

from bench.audio.signals import from_pcm16, to_pcm16

FRAME_HEADER = struct.Struct("<II")
MAX_JSON_BYTES = 1 << 16
MAX_BIN_BYTES = 1 << 26


class RigError(RuntimeError):
    """The rig refused a request or broke the wire protocol."""


def encode_message(header: dict[str, Any], payload: bytes = b"") -> bytes:
    """One wire message: length prefix, JSON header, binary payload (PCM16 LE)."""
    body = json.dumps(header, separators=(",", ":")).encode()
    return FRAME_HEADER.pack(len(body), len(payload)) + body + payload


def check_lengths(json_len: int, bin_len: int, where: str) -> None:
    """Reject absurd length prefixes before allocating."""
    if not 0 < json_len <= MAX_JSON_BYTES or bin_len > MAX_BIN_BYTES:
        raise RigError(f"{where}: bad frame lengths json={json_len} (1..{MAX_JSON_BYTES}) "
                       f"bin={bin_len} (<= {MAX_BIN_BYTES})")


def decode_header(body: bytes, where: str) -> dict[str, Any]:
    """Parse a JSON header, turning garbage into a ``RigError`` that says where."""
    try:
        header = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RigError(f"{where}: header is not JSON: {body[:60]!r}") from exc
    if not isinstance(header, dict) or "op" not in header:
        raise RigError(f"{where}: expected a JSON object with 'op', got {body[:60]!r}")
    return header


class AudioRig(Protocol):
    """What latency tests need from an acoustic rig. Times are CLOCK_MONOTONIC seconds."""

    sample_rate_hz: int

    def inject(self, samples: np.ndarray, start_s: float, trial: str | None = None) -> float:
        """Schedule ``samples`` (float, [-1, 1]) to enter the DUT mic at ``start_s``; returns the
        actual start time (a sound card rounds to its sample clock)."""

    def capture(self, start_s: float, duration_s: float, timeout_s: float) -> tuple[np.ndarray, float]:
        """Block until the window has been heard; returns (samples, time of sample 0)."""

    def close(self) -> None: ...


class _Conn:
    """A blocking request/response connection with a per-call timeout."""

    def __init__(self, host: str, port: int, timeout_s: float) -> None:
        self.where = f"rig {host}:{port}"
        self.timeout_s = timeout_s
        try:
            self.sock = socket.create_connection((host, port), timeout=timeout_s)
        except OSError as exc:
            raise RigError(f"{self.where}: cannot connect: {exc}") from exc

    def _read(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise RigError(f"{self.where}: connection closed mid-message ({len(buf)}/{n} bytes)")
            buf += chunk
        return bytes(buf)

    def call(self, header: dict[str, Any], payload: bytes = b"", timeout_s: float | None = None
             ) -> tuple[dict[str, Any], bytes]:
        self.sock.settimeout(timeout_s or self.timeout_s)
        try:
            self.sock.sendall(encode_message(header, payload))
            jl, bl = FRAME_HEADER.unpack(self._read(FRAME_HEADER.size))
            check_lengths(jl, bl, self.where)
            reply = decode_header(self._read(jl), self.where)
            data = self._read(bl)
        except socket.timeout as exc:
            raise TimeoutError(f"{self.where}: no reply to {header.get('op')!r} within "
                               f"{timeout_s or self.timeout_s} s") from exc
        if reply.get("op") == "error":
            raise RigError(f"{self.where}: {header.get('op')!r} refused: {reply.get('error')}")
        return reply, data

    def close(self) -> None:
        self.sock.close()


class SocketRig:
    """Client of the reference bench's acoustic rig (``bench.reference.rig.RigServer``)."""

    def __init__(self, host: str, port: int, timeout_s: float = 5.0) -> None:
        self._conn = _Conn(host, port, timeout_s)
        hello, _ = self._conn.call({"op": "hello", "version": 1})
        self.sample_rate_hz = int(hello["sample_rate_hz"])

    def now_s(self) -> float:
        """The rig's CLOCK_MONOTONIC (same clock as ours on one machine)."""
        return float(self._conn.call({"op": "now"})[0]["t_s"])

    def inject(self, samples: np.ndarray, start_s: float, trial: str | None = None) -> float:
        reply, _ = self._conn.call({"op": "inject", "t_s": start_s, "trial": trial}, to_pcm16(samples))
        return float(reply["t_s"])

    def capture(self, start_s: float, duration_s: float, timeout_s: float) -> tuple[np.ndarray, float]:
        n = int(round(duration_s * self.sample_rate_hz))
        wait = max(0.0, start_s + duration_s - time.monotonic()) + timeout_s
        reply, data = self._conn.call({"op": "capture", "t_s": start_s, "n_samples": n,
                                       "timeout_s": wait}, timeout_s=wait + 1.0)
        return from_pcm16(data), float(reply["t_s"])

    def close(self) -> None:
        self._conn.close()


class TruthClient:
    """Reads the reference rig's ground-truth side channel (for grading estimators, never by them)."""

    def __init__(self, host: str, port: int, timeout_s: float = 5.0) -> None:
        self._conn = _Conn(host, port, timeout_s)

    def uplink(self, trial: str) -> dict[str, float]:
        return self._conn.call({"op": "uplink", "trial": trial})[0]["truth"]

    def downlink(self, first_frame_index: int, onset_sample: float) -> dict[str, float]:
        return self._conn.call({"op": "downlink", "first_frame_index": first_frame_index,
                                "onset_sample": onset_sample})[0]["truth"]

    def downlink_heard(self, first_frame_index: int, onset_sample: float) -> dict[str, float]:
        """When the onset reached the measurement mic (the glasses' DAC clock; no phone timestamps)."""
        return self._conn.call({"op": "downlink_heard", "first_frame_index": first_frame_index,
                                "onset_sample": onset_sample})[0]["truth"]

    def roundtrip(self, trial: str) -> dict[str, float]:
        return self._conn.call({"op": "roundtrip", "trial": trial})[0]["truth"]

    def radio(self) -> list[dict[str, Any]]:
        """The virtual radio's connection event grids: anchor_s, interval_s (CLOCK_MONOTONIC), phy."""
        return list(self._conn.call({"op": "radio"})[0]["truth"]["connections"])

    def report_uplink_handoffs(self, frames: list[tuple[int, float]]) -> None:
        """Tell the truth when the phone's app got each uplink frame (u16 index, monotonic s)."""
        self._conn.call({"op": "phone_uplink", "frames": [[int(i), float(t)] for i, t in frames]})

    def report_downlink_writes(self, frames: list[tuple[int, float]]) -> None:
        """Tell the truth when the phone's app handed each downlink frame to its stack."""
        self._conn.call({"op": "phone_downlink", "frames": [[int(i), float(t)] for i, t in frames]})

    def close(self) -> None:
        self._conn.close()
