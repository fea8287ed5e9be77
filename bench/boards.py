"""Boards: one YAML file per board (``fixtures/boards/<name>.yaml``), the one place board knowledge lives.

A board file has six sections: identity (SoC, hardware revision, SDK boot banner), link defaults
(interval, PHY, data length, MTU, advertising interval, supervision timeout), audio (native codec,
ADC block, jitter buffer, codec times), power (state currents, radio figures, bursts), supply (the
VDD a bench may feed it: default, recommended maximum, absolute maximum rating, default current
limit) and protocol limits (GLP board id, max frame length, max outstanding requests, codecs it
cannot run), and a ``console`` key (the console driver of its firmware: zephyr, esp-idf). Bench-file
validation, the reference glasses, the audio and power models and the conformance tables all read it;
an unknown board is an error listing the known ones.

Boards are found in the current project's boards folder (``bench.project``), then in glassbench's
built-ins. The file name is the board name. Units are SI, and in the key names (``_s``, ``_a``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Callable, Generic, Iterator, Literal, Optional, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bench.errors import ConfigError
from bench.power.states import STATES
from bench.yamlconf import load_yaml, validate

NAME = r"^[a-z0-9][a-z0-9_.-]*$"
CODECS = ("pcm16", "lc3", "opus")  # GLP codec names (bench.profiles.glp.messages.Codec, lower case)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Identity(_Strict):
    soc: str
    hardware_revision: str
    sdk_banner: str = Field(description="SDK line of the boot output (Zephyr: the banner; ESP-IDF: \"ESP-IDF v5.1.2\")")


class LinkDefaults(_Strict):
    interval_s: float = Field(ge=0.0075, le=4.0)
    phy: Literal["1M", "2M"]
    data_length: int = Field(ge=27, le=251)
    mtu: int = Field(ge=23, le=517, description="the firmware's ATT MTU limit")
    advertising_interval_s: float = Field(ge=0.02, le=10.24)
    supervision_timeout_s: float = Field(ge=0.1, le=32.0)


class AudioSpec(_Strict):
    codec: str = Field(description="native codec, a bench.audio.codecs name such as lc3-10ms")
    adc_block_samples: int = Field(gt=0)
    jitter_buffer_frames: int = Field(ge=0)
    encode_s: float = Field(ge=0)
    decode_s: float = Field(ge=0)
    dac_lead_s: float = Field(0.010, ge=0, description="the DAC is fed this far ahead of playing")
    sample_rate_hz: int = Field(16000, gt=0)
    max_packet_bytes: int = Field(244, ge=20, description="ATT MTU 247 - 3")
    idle_frames: int = Field(10, ge=1, description="playout stops after this many missing frames in a row")


class BurstSpec(_Strict):
    current_a: float = Field(ge=0)
    duration_s: float = Field(gt=0)
    period_s: float = Field(gt=0)


class PowerSpec(_Strict):
    state_a: dict[str, float]
    radio_tx_a: float = Field(ge=0)
    radio_rx_a: float = Field(ge=0)
    radio_ramp_s: float = Field(ge=0)
    radio_ramp_a: float = Field(ge=0)
    adv_pdu_s: float = Field(376e-6, gt=0, description="ADV_IND, 31-byte payload, 1M PHY: (1+4+2+6+31+3)·8 µs")
    adv_listen_s: float = Field(200e-6, ge=0, description="RX window for SCAN_REQ/CONNECT_IND after each ADV_IND")
    adv_interval_s: float = Field(0.1, gt=0)
    noise_a: float = Field(0.3e-6, ge=0)
    noise_rel: float = Field(0.005, ge=0)
    bursts: dict[str, BurstSpec] = {}
    camera_states: tuple[str, ...] = ("camera_capture",)

    @field_validator("state_a")
    @classmethod
    def _every_state(cls, v: dict[str, float]) -> dict[str, float]:
        missing, unknown = [s for s in STATES if s not in v], sorted(set(v) - set(STATES))
        if missing or unknown:
            raise ValueError(f"needs exactly the power states {', '.join(STATES)}"
                             + (f"; missing {', '.join(missing)}" if missing else "")
                             + (f"; unknown {', '.join(unknown)}" if unknown else ""))
        return v

    @field_validator("bursts")
    @classmethod
    def _burst_states(cls, v: dict[str, BurstSpec]) -> dict[str, BurstSpec]:
        unknown = sorted(set(v) - set(STATES))
        if unknown:
            raise ValueError(f"unknown power state(s) {', '.join(unknown)} (known: {', '.join(STATES)})")
        return v


class SupplySpec(_Strict):
    """What a bench supply may feed the board's VDD (datasheet figures; bench files are checked against them)."""

    vdd_v: float = Field(gt=0, le=5.5, description="supply voltage used when the bench file gives none")
    vdd_max_v: float = Field(gt=0, le=5.5, description="recommended operating maximum: the bench refuses more "
                                                       "unless the bench file says allow_over_voltage: true")
    vdd_abs_max_v: float = Field(gt=0, le=6.0, description="absolute maximum rating (damage threshold)")
    current_limit_a: float = Field(gt=0, le=10, description="supply current limit when the bench file gives none")
    reference: str = Field("", description="datasheet and section the voltages come from")

    @model_validator(mode="after")
    def _ordered(self) -> "SupplySpec":
        if not self.vdd_v <= self.vdd_max_v <= self.vdd_abs_max_v:
            raise ValueError(f"needs vdd_v ≤ vdd_max_v ≤ vdd_abs_max_v, got {self.vdd_v:g} / {self.vdd_max_v:g} / "
                             f"{self.vdd_abs_max_v:g} V")
        return self


class ProtocolLimits(_Strict):
    glp_board_id: Optional[int] = Field(None, ge=1, le=255, description="DeviceInfo.board on the GLP wire")
    max_frame_len: int = Field(ge=16)
    max_outstanding: int = Field(ge=1)
    unsupported_codecs: list[Literal["pcm16", "lc3", "opus"]] = []


class BoardSpec(_Strict):
    """One board file (the name is the file's stem)."""

    @field_validator("console")
    @classmethod
    def _console(cls, v: str) -> str:
        from bench.dut import consoles

        if v not in consoles.DRIVERS:
            raise ValueError(f"unknown console driver {v!r}; known: {', '.join(sorted(consoles.DRIVERS))}")
        return v

    name: str = Field(pattern=NAME)
    description: str = ""
    identity: Identity
    console: str = Field("zephyr", description="console driver of the board's firmware (bench/dut/consoles): "
                                               "zephyr, esp-idf, ...")
    link: LinkDefaults
    audio: AudioSpec
    power: PowerSpec
    supply: SupplySpec
    protocol: ProtocolLimits
    source: str = Field("<memory>", exclude=True)


_boards: dict[str, BoardSpec] | None = None
_extra: dict[str, BoardSpec] = {}


def load_board(path: str | Path) -> BoardSpec:
    """Read and validate one board file; errors name file:line:field."""
    path = Path(path)
    data, lines = load_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: a board file is a mapping (identity, link, audio, power, protocol)")
    name = data.get("name", path.stem)
    if name != path.stem:
        raise ConfigError(f"{path}:{lines.get(('name',), 1)}: name: {name!r} differs from the file name "
                          f"{path.stem!r} (the file name is the board name)")
    return validate(BoardSpec, {**data, "name": path.stem, "source": str(path)}, lines, path)


def boards_folders() -> list[Path]:
    from bench import project
    return project.current().search_path("boards")


def all_boards() -> dict[str, BoardSpec]:
    """Every known board: the project's, then the built-ins (a name in both is an error)."""
    global _boards
    if _boards is None:
        found: dict[str, BoardSpec] = {}
        for folder in boards_folders():
            for path in sorted(folder.glob("*.yaml")):
                spec = load_board(path)
                if spec.name in found:
                    raise ConfigError(f"{path}: board {spec.name!r} is already defined in {found[spec.name].source}")
                found[spec.name] = spec
        _boards = found
    return {**_boards, **_extra}


def names() -> list[str]:
    return sorted(all_boards())


def get(name: str) -> BoardSpec:
    """The board called ``name``; an unknown name raises ConfigError listing the known boards."""
    boards = all_boards()
    if name not in boards:
        raise ConfigError(f"unknown board {name!r}; known boards: {', '.join(sorted(boards))} "
                          f"(add fixtures/boards/{name}.yaml to your project)")
    return boards[name]


def register(spec: BoardSpec) -> BoardSpec:
    """Add a board built in code (tests); files are the normal way."""
    _extra[spec.name] = spec
    return spec


def reset() -> None:
    """Forget the loaded boards (the project changed)."""
    global _boards
    _boards = None


T = TypeVar("T")


class BoardView(Mapping[str, T], Generic[T]):
    """A read-only ``name → T`` view of the known boards, built on first use of each board."""

    def __init__(self, build: Callable[[BoardSpec], T]) -> None:
        self._build = build
        self._cache: dict[str, tuple[BoardSpec, T]] = {}

    def __getitem__(self, name: str) -> T:
        spec = all_boards().get(name)
        if spec is None:
            raise KeyError(name)
        cached = self._cache.get(name)
        if cached is None or cached[0] is not spec:  # a reloaded board file is rebuilt
            cached = self._cache[name] = (spec, self._build(spec))
        return cached[1]

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(all_boards()))

    def __len__(self) -> int:
        return len(all_boards())
