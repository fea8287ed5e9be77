"""Usage profiles (YAML) and the battery-life projection from measured per-state currents.

A profile says how a user spends the day (time share per power state) and the battery capacity;
the projection is capacity ÷ the share-weighted mean current. Default capacity 263 mAh (Xiaomi AI
Glasses, FACTS.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator

from bench.power.analysis import StateStats

DEFAULT_CAPACITY_MAH = 263.0


class UsageProfile(BaseModel):
    """Time share per state (fractions summing to 1) and the battery it runs from."""

    name: str
    battery_mah: float = Field(DEFAULT_CAPACITY_MAH, gt=0)
    states: dict[str, float]

    @field_validator("states")
    @classmethod
    def _shares(cls, v: dict[str, float]) -> dict[str, float]:
        if not v:
            raise ValueError("states is empty: give a time share per power state")
        bad = {k: s for k, s in v.items() if not 0 <= s <= 1}
        if bad:
            raise ValueError(f"time shares must be within 0..1, got {bad}")
        total = sum(v.values())
        if abs(total - 1) > 0.01:
            raise ValueError(f"time shares must sum to 1, they sum to {total:.4f}")
        return v


def load_profile(path: str | Path) -> UsageProfile:
    """Read a usage profile, with errors that name the file and the field."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{p}: cannot read usage profile: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{p}: expected a mapping with name/battery_mah/states, got {type(data).__name__}")
    data.setdefault("name", p.stem)
    try:
        return UsageProfile.model_validate(data)
    except ValidationError as exc:
        details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"{p}: invalid usage profile: {details}") from None


@dataclass(frozen=True)
class BatteryProjection:
    """Projected runtime for one profile."""

    profile: str
    capacity_c: float
    mean_current_a: float
    life_s: float
    contribution_a: dict[str, float]

    @property
    def life_h(self) -> float:
        return self.life_s / 3600.0


def project_battery_life(state_current_a: Mapping[str, float | StateStats], profile: UsageProfile) -> BatteryProjection:
    """Battery life for ``profile`` from per-state mean currents (floats in A, or StateStats)."""
    means = {k: (v.mean_a if isinstance(v, StateStats) else float(v)) for k, v in state_current_a.items()}
    missing = [s for s, share in profile.states.items() if share > 0 and s not in means]
    if missing:
        raise ValueError(f"profile {profile.name!r} needs states {missing} but only {sorted(means)} were measured")
    contribution = {s: share * means[s] for s, share in profile.states.items() if share > 0}
    mean_a = sum(contribution.values())
    capacity_c = profile.battery_mah * 3.6
    life = capacity_c / mean_a if mean_a > 0 else float("inf")
    return BatteryProjection(profile.name, capacity_c, mean_a, life, contribution)
