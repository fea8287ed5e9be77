"""Current profiles of the reference glasses per board and SKU (the numbers behind the power model).

nRF52840 radio and idle figures are the datasheet ones in FACTS.md (DC/DC, 3 V): TX 4.8 mA at 0 dBm,
RX 4.6 mA at 1 Mbps, System ON idle with RTC ~1.5–3 µA. Everything else (CPU/codec, microphone,
camera, display, ESP32-S3 levels) is a labelled model assumption sized to the public figures in
FACTS.md (omiGlass ESP32-S3 ≈ 60–80 mA while streaming). Boards register themselves by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.power.states import STATE_IDS, STATES

__all__ = ["BOARDS", "SKUS", "STATES", "STATE_IDS", "BoardProfile", "Burst", "register_board"]


@dataclass(frozen=True)
class Burst:
    """A periodic current burst inside one state (camera frame readout, display refresh)."""

    current_a: float
    duration_s: float
    period_s: float


@dataclass(frozen=True)
class BoardProfile:
    """Base current per state plus the radio figures that turn air time into charge."""

    board: str
    state_a: dict[str, float]
    radio_tx_a: float
    radio_rx_a: float
    radio_ramp_s: float          # radio start-up (HFXO + ramp) before each event
    radio_ramp_a: float
    adv_pdu_s: float = 376e-6    # ADV_IND, 31-byte payload, 1M PHY: (1+4+2+6+31+3)·8 µs
    adv_listen_s: float = 200e-6  # RX window for SCAN_REQ/CONNECT_IND after each ADV_IND
    adv_interval_s: float = 0.1
    noise_a: float = 0.3e-6
    noise_rel: float = 0.005
    bursts: dict[str, Burst] = field(default_factory=dict)
    camera_states: tuple[str, ...] = ("camera_capture",)


BOARDS: dict[str, BoardProfile] = {}
SKUS = ("audio", "camera")


def register_board(profile: BoardProfile) -> BoardProfile:
    """Add a board profile (one call per board; the name is what benches and plans use)."""
    BOARDS[profile.board] = profile
    return profile


register_board(BoardProfile(
    board="nrf52840dk",
    state_a={"off": 0.0, "sleep": 2.5e-6, "advertising": 2.5e-6, "connected_idle": 2.5e-6,
             "audio_streaming": 1.9e-3,   # assumption: CPU at ~30 % for LC3 + PDM microphone
             "camera_capture": 22e-3,     # assumption: image sensor streaming to RAM
             "display_tts": 12e-3,        # assumption: microdisplay + speaker amplifier
             "ota": 3.5e-3},              # assumption: flash erase/write
    radio_tx_a=4.8e-3, radio_rx_a=4.6e-3, radio_ramp_s=140e-6, radio_ramp_a=2.6e-3,
    bursts={"camera_capture": Burst(current_a=18e-3, duration_s=0.03, period_s=0.5),
            "display_tts": Burst(current_a=6e-3, duration_s=0.004, period_s=1 / 60)},
))

register_board(BoardProfile(
    board="esp32s3",
    state_a={"off": 0.0, "sleep": 0.25e-3, "advertising": 12e-3, "connected_idle": 22e-3,
             "audio_streaming": 58e-3, "camera_capture": 95e-3, "display_tts": 70e-3, "ota": 80e-3},
    radio_tx_a=100e-3, radio_rx_a=90e-3, radio_ramp_s=100e-6, radio_ramp_a=40e-3,
    noise_a=20e-6, noise_rel=0.01,
    bursts={"camera_capture": Burst(current_a=120e-3, duration_s=0.04, period_s=0.5),
            "display_tts": Burst(current_a=15e-3, duration_s=0.004, period_s=1 / 60)},
))
