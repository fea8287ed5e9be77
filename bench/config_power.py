"""The ``power:`` section of a bench file, and the checks that keep a supply inside the board's ratings.

Part of the bench-file schema (bench/config.py re-exports every name); split out because the power
instrument has the most rules: PPK2 mode, voltage against the board's supply ratings, current limit,
marker wiring.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from bench import boards
from bench.power.states import STATE_IDS, STATES

if TYPE_CHECKING:
    from bench.config import BenchConfig


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MarkerSpec(Strict):
    """How the DUT's state reaches the meter's logic inputs (PPK2 D0..D7): which bits, which value = which state."""

    mask: int = Field(0xFF, ge=1, le=0xFF, description="logic inputs that carry the state (bit k = input Dk)")
    states: Union[Literal["glassbench"], dict[int, str]] = Field(
        description="masked input value → power state; 'glassbench' = the firmware contract of docs/power.md "
                    "(state ids of bench/power/states.py)")

    @field_validator("states")
    @classmethod
    def _known_states(cls, v: object) -> object:
        if isinstance(v, dict):
            unknown = sorted({s for s in v.values() if s not in STATES})
            if unknown:
                raise ValueError(f"unknown power state(s) {', '.join(unknown)} (known: {', '.join(STATES)})")
            bad = sorted(k for k in v if not 0 <= k <= 0xFF)
            if bad:
                raise ValueError(f"marker values must be 0..255, got {bad}")
        return v

    def names(self) -> dict[int, str]:
        """Masked value → state name."""
        if isinstance(self.states, dict):
            return dict(self.states)
        return {i: s for s, i in STATE_IDS.items()}


class PowerSpec(Strict):
    """The power instrument. Voltages are checked against the DUT board's supply ratings (``load_bench``)."""

    kind: Literal["ppk2", "visa"]
    resource: str = Field(description="PPK2 serial port, or VISA resource string; 'auto' on a reference bench")
    mode: Optional[Literal["source", "ampere"]] = Field(
        None, validate_default=True, description="PPK2 only, required: 'source' powers the DUT, 'ampere' measures in series with its own supply")
    supply_voltage_v: Optional[float] = Field(
        None, gt=0, le=5.5, description="volts fed to the DUT (default: the board's vdd_v); PPK2 ampere mode: the "
                                        "DUT's own supply voltage, used for the meter's calibration only")
    allow_over_voltage: bool = Field(False, description="permit a supply voltage above the board's recommended maximum")
    current_limit_a: Optional[float] = Field(None, gt=0, le=10, description="supply current limit (default: the "
                                                                            "board's); the PPK2 has none")
    channel: int = Field(1, ge=1, le=4, description="output channel of a multi-channel supply (N6705C slot, DP832 CHn)")
    range_a: Optional[float] = Field(None, gt=0, description="fixed current range (amperes); none = auto-range")
    markers: Optional[MarkerSpec] = Field(None, description="PPK2 logic-input wiring; none = states come from the "
                                                            "console log or the test's own actions")
    sample_rate_hz: float = Field(100_000, gt=0)
    timeout_s: float = Field(5.0, gt=0)

    @field_validator("mode", mode="after")
    @classmethod
    def _mode_for_kind(cls, v: Optional[str], info: ValidationInfo) -> Optional[str]:
        kind = info.data.get("kind")
        if kind == "ppk2" and v is None:
            raise ValueError("a PPK2 needs 'mode: source' (it powers the DUT) or 'mode: ampere' (in series with the "
                             "DUT's own supply); there is no default, a wrong guess can over-volt the board")
        if kind == "visa" and v is not None:
            raise ValueError("'mode' is for kind ppk2; a VISA supply always sources")
        return v

    @field_validator("markers", mode="after")
    @classmethod
    def _markers_need_inputs(cls, v: Optional[MarkerSpec], info: ValidationInfo) -> Optional[MarkerSpec]:
        if info.data.get("kind") == "visa" and v is not None:
            raise ValueError("'markers' needs logic inputs (kind ppk2); VISA meters take states from the console")
        return v

    @property
    def sources(self) -> bool:
        """True when the instrument feeds the DUT (so its voltage must respect the board's ratings)."""
        return self.kind == "visa" or self.mode == "source"


def supply_voltage_v(config: BenchConfig) -> float:
    """The voltage the bench feeds (or, PPK2 ampere mode, assumes for) the DUT: the file's, else the board's."""
    assert config.power is not None
    spec = config.power.supply_voltage_v
    return spec if spec is not None else boards.get(config.dut.board).supply.vdd_v


def current_limit_a(config: BenchConfig) -> float:
    """The supply current limit: the bench file's, else the board's default."""
    assert config.power is not None
    spec = config.power.current_limit_a
    return spec if spec is not None else boards.get(config.dut.board).supply.current_limit_a


def max_voltage_v(config: BenchConfig) -> float | None:
    """The highest voltage the harness may source to this DUT (None: no cap, allow_over_voltage)."""
    assert config.power is not None
    return None if config.power.allow_over_voltage else boards.get(config.dut.board).supply.vdd_max_v


def power_problem(config: BenchConfig) -> tuple[str, str] | None:
    """(field, message) when the power section would feed the board more than it is rated for."""
    power = config.power
    if power is None or not power.sources or power.allow_over_voltage:
        return None
    supply = boards.get(config.dut.board).supply
    volts = supply_voltage_v(config)
    if volts > supply.vdd_max_v:
        return ("supply_voltage_v",
                f"{volts:g} V is above the {config.dut.board} board's recommended maximum {supply.vdd_max_v:g} V "
                f"(absolute maximum rating {supply.vdd_abs_max_v:g} V, {supply.reference or 'board file'}); "
                f"lower it, or set allow_over_voltage: true if you mean it")
    return None
