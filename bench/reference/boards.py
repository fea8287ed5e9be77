"""Board × SKU profiles of the reference glasses: identity, link parameters, battery.

Boards come from the board files (``bench.boards``, ``fixtures/boards/*.yaml``); ``Board`` is the
reference glasses' view of one. A SKU changes the model string, capabilities and battery.
"""

from __future__ import annotations

import dataclasses

from bench import boards as board_specs
from bench.links.radio import LinkParams


@dataclasses.dataclass(frozen=True)
class Board:
    name: str
    soc: str
    hardware_revision: str
    sdk_banner: str
    interval_s: float
    phy: str
    data_length: int
    mtu: int
    advertising_interval_s: float
    supervision_timeout_s: float
    console: str = "zephyr"  # the board file's console driver: what the reference device prints

    @classmethod
    def from_spec(cls, spec: board_specs.BoardSpec) -> "Board":
        return cls(spec.name, spec.identity.soc, spec.identity.hardware_revision, spec.identity.sdk_banner,
                   interval_s=spec.link.interval_s, phy=spec.link.phy, data_length=spec.link.data_length,
                   mtu=spec.link.mtu, advertising_interval_s=spec.link.advertising_interval_s,
                   supervision_timeout_s=spec.link.supervision_timeout_s, console=spec.console)


@dataclasses.dataclass(frozen=True)
class Sku:
    name: str
    model: str
    battery_capacity_mah: float
    camera: bool


@dataclasses.dataclass(frozen=True)
class Profile:
    """Everything the reference glasses need to know about what they pretend to be."""

    board: Board
    sku: Sku
    firmware_version: str = "1.4.2"
    manufacturer: str = "glassbench reference"
    serial_number: str = "GB0000000001"

    def link_params(self, **overrides: object) -> LinkParams:
        params = dict(interval_s=self.board.interval_s, phy=self.board.phy,
                      data_length=self.board.data_length,
                      supervision_timeout_s=self.board.supervision_timeout_s)
        params.update({k: v for k, v in overrides.items() if v is not None})
        return LinkParams(**params)  # type: ignore[arg-type]

    @property
    def device_name(self) -> str:
        return f"GB-{self.sku.name.capitalize()}-{self.serial_number[-4:]}"


BOARDS: board_specs.BoardView[Board] = board_specs.BoardView(Board.from_spec)
SKUS: dict[str, Sku] = {}


def register_sku(sku: Sku) -> Sku:
    SKUS[sku.name] = sku
    return sku


register_sku(Sku("camera", "GB Glasses Camera", battery_capacity_mah=263.0, camera=True))
register_sku(Sku("audio", "GB Glasses Audio", battery_capacity_mah=160.0, camera=False))


def profile(board: str, sku: str, **kwargs: str) -> Profile:
    """The profile for ``board`` × ``sku``; an unknown name lists the known ones."""
    if board not in BOARDS:
        raise ValueError(f"unknown board {board!r}; known: {', '.join(BOARDS)}")
    if sku not in SKUS:
        raise ValueError(f"unknown SKU {sku!r}; known: {', '.join(sorted(SKUS))}")
    return Profile(BOARDS[board], SKUS[sku], **kwargs)
