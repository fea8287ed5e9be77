"""Codec variants by the names test plans and measurements use (``uplink_latency_s[lc3]``).

A variant is a codec configuration (frame duration, the bench.audio.codecs spec that encodes and
decodes it). Profiles map their own wire codes onto these names: GLP's Codec enum, Omi's codec id
characteristic, a product's own table.
"""
from __future__ import annotations

from dataclasses import dataclass

from bench.audio.codecs import CodecSpec, get_codec


@dataclass(frozen=True)
class Variant:
    name: str  # e.g. "lc3", "lc3-7.5ms", "opus", "pcm", "pcm8k"
    frame_duration_us: int
    spec_name: str  # bench.audio.codecs registry name
    sample_rate_hz: int = 16000

    def spec(self, sample_rate_hz: int | None = None) -> CodecSpec:
        return get_codec(self.spec_name, sample_rate_hz=sample_rate_hz or self.sample_rate_hz)


VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant("lc3", 10000, "lc3-10ms"),
    Variant("lc3-7.5ms", 7500, "lc3-7.5ms"),
    Variant("opus", 20000, "opus-20ms"),
    Variant("pcm", 10000, "pcm16"),
)}


def register_variant(v: Variant) -> Variant:
    VARIANTS[v.name] = v
    return v


def variant(name: str) -> Variant:
    try:
        return VARIANTS[name]
    except KeyError:
        raise KeyError(f"unknown audio codec {name!r}; expected one of {sorted(VARIANTS)}") from None
