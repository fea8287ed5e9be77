"""Board × SKU profiles of the reference glasses: identity, link parameters, battery.

A board is registered by name; a SKU changes the model string, capabilities and battery. The
numbers follow the real parts (FACTS.md): nRF52840 glasses run a 7.5 ms interval on 2M PHY with
data length extension; ESP32-S3 (NimBLE) a 15 ms interval and a larger MTU.
"""

from __future__ import annotations

import dataclasses

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


BOARDS: dict[str, Board] = {}
SKUS: dict[str, Sku] = {}


def register_board(board: Board) -> Board:
    BOARDS[board.name] = board
    return board


def register_sku(sku: Sku) -> Sku:
    SKUS[sku.name] = sku
    return sku


register_board(Board("nrf52840dk", "nRF52840", "PCA10056 2.0.2", "*** Booting nRF Connect SDK v2.6.1 ***",
                     interval_s=0.0075, phy="2M", data_length=251, mtu=247,
                     advertising_interval_s=0.050, supervision_timeout_s=2.0))
register_board(Board("esp32s3", "ESP32-S3", "ESP32-S3-DevKitC-1 v1.1", "*** Booting Zephyr OS build v3.7.0 ***",
                     interval_s=0.015, phy="2M", data_length=251, mtu=517,
                     advertising_interval_s=0.100, supervision_timeout_s=2.0))
register_sku(Sku("camera", "GB Glasses Camera", battery_capacity_mah=263.0, camera=True))
register_sku(Sku("audio", "GB Glasses Audio", battery_capacity_mah=160.0, camera=False))


def profile(board: str, sku: str, **kwargs: str) -> Profile:
    """The profile for ``board`` × ``sku``; an unknown name lists the known ones."""
    if board not in BOARDS:
        raise ValueError(f"unknown board {board!r}; known: {', '.join(sorted(BOARDS))}")
    if sku not in SKUS:
        raise ValueError(f"unknown SKU {sku!r}; known: {', '.join(sorted(SKUS))}")
    return Profile(BOARDS[board], SKUS[sku], **kwargs)
