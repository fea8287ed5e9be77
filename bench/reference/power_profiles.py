"""Current profiles of the reference glasses per board and SKU (the numbers behind the power model).

The numbers are each board file's ``power:`` section (``fixtures/boards/*.yaml``, ``bench.boards``),
which says which are datasheet figures (FACTS.md) and which are labelled model assumptions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bench import boards as board_specs
from bench.power.states import STATE_IDS, STATES

__all__ = ["BOARDS", "SKUS", "STATES", "STATE_IDS", "BoardProfile", "Burst"]


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


def _from_spec(spec: board_specs.BoardSpec) -> BoardProfile:
    p = spec.power
    return BoardProfile(
        board=spec.name, state_a=dict(p.state_a), radio_tx_a=p.radio_tx_a, radio_rx_a=p.radio_rx_a,
        radio_ramp_s=p.radio_ramp_s, radio_ramp_a=p.radio_ramp_a, adv_pdu_s=p.adv_pdu_s, adv_listen_s=p.adv_listen_s,
        adv_interval_s=p.adv_interval_s, noise_a=p.noise_a, noise_rel=p.noise_rel,
        bursts={k: Burst(b.current_a, b.duration_s, b.period_s) for k, b in p.bursts.items()},
        camera_states=tuple(p.camera_states))


BOARDS: board_specs.BoardView[BoardProfile] = board_specs.BoardView(_from_spec)
SKUS = ("audio", "camera")
