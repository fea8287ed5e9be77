"""The documented latency budget (docs/audio-latency.md): expected mean of each component, so a
benchmark can report ``budget_gap`` = measured p50 - expected. All inputs and outputs in seconds."""
from __future__ import annotations

import math
from dataclasses import dataclass

L2CAP_ATT_HEADER_BYTES = 4 + 3  # L2CAP basic header + ATT opcode/handle
T_IFS_S = 150e-6


def air_time_s(ll_payload_bytes: int, phy: str = "2M", encrypted: bool = False) -> float:
    """Air time of one LL data PDU (Core spec LE packet format; see FACTS.md)."""
    mic = 4 if encrypted else 0
    if phy == "1M":
        return (1 + 4 + 2 + ll_payload_bytes + mic + 3) * 8e-6
    if phy == "2M":
        return (2 + 4 + 2 + ll_payload_bytes + mic + 3) * 4e-6
    raise ValueError(f"phy must be '1M' or '2M', got {phy!r}")


@dataclass(frozen=True)
class Budget:
    """Expected (mean) components of one direction's latency."""

    parts_s: dict[str, float]

    @property
    def total_s(self) -> float:
        return sum(self.parts_s.values())


def uplink_budget(*, frame_samples: int, lookahead_samples: int, sample_rate_hz: int,
                  adc_block_samples: int, encode_s: float, interval_s: float, packet_bytes: int,
                  max_packet_bytes: int = 244, data_length_bytes: int = 251, phy: str = "2M",
                  per: float = 0.0, acoustic_s: float = 0.0, radio_jitter_s: float = 0.0) -> Budget:
    """Mouth → the phone's controller has the frame, on the play-on-arrival timeline the estimator
    uses. The phone's own host stack (controller → app) is not in the budget: a measurement shows it
    as part of the gap."""
    fs = sample_rate_hz
    g = math.gcd(adc_block_samples, frame_samples)
    fragments = max(1, math.ceil((packet_bytes - 3) / (max_packet_bytes - 3)))
    last_pdu = min(data_length_bytes, (packet_bytes - 3) - (fragments - 1) * (max_packet_bytes - 3)
                   + 3 + L2CAP_ATT_HEADER_BYTES)
    if not 0.0 <= per < 1.0:
        raise ValueError(f"per must be in [0, 1), got {per}")
    parts = {
        "acoustic_s": acoustic_s,
        "codec_frame_s": frame_samples / fs,
        "codec_lookahead_s": lookahead_samples / fs,
        "adc_block_wait_s": (adc_block_samples - g) / 2 / fs,  # frame ends fall on a g-sample grid
        "encode_s": encode_s,
        "connection_event_wait_s": interval_s / 2,  # uniform 0..CI
        "air_time_s": air_time_s(last_pdu, phy) + (fragments - 1) * (air_time_s(max_packet_bytes + 4, phy)
                                                                       + 2 * T_IFS_S + 80e-6),
        "retransmission_s": per / (1.0 - per) * interval_s,  # each loss costs one more interval
        "radio_jitter_s": radio_jitter_s / 2,  # extra delivery delay, uniform 0..jitter
    }
    return Budget(parts)
