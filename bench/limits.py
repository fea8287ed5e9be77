"""Measurement limits: a low/high window with an optional marginal band, resolved per SKU and variant.

Values are in the catalogue unit of the measurement (SI: s, A, C). Plans may write quantities with a
prefix at the edge ("80 ms", "2.5 uA"); `parse_quantity` turns them into that unit.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal, Mapping

from bench import project
from bench.errors import ConfigError
from bench.yamlconf import load_yaml

Verdict = Literal["pass", "marginal", "fail"]
CATALOGUE_PATH = project.builtin_folder("catalogue") / "measurements.yaml"  # shipped with glassbench

_PREFIX = {"": 1.0, "n": 1e-9, "u": 1e-6, "µ": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6}
_QUANTITY = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(\S*)\s*$")


def parse_quantity(value: float | int | str, unit: str) -> float:
    """A number (already in `unit`) or a string like "80 ms" / "2.5uA" → float in `unit`.

    Raises ValueError saying what was expected when the unit does not match.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a number in {unit}, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    m = _QUANTITY.match(str(value))
    if not m:
        raise ValueError(f"expected a number in {unit} or a quantity like '10 m{unit}', got {value!r}")
    number, suffix = float(m.group(1)), m.group(2)
    if suffix in ("", unit):
        return number
    if unit not in ("1", "count") and suffix.endswith(unit) and suffix[: -len(unit)] in _PREFIX:
        return number * _PREFIX[suffix[: -len(unit)]]
    raise ValueError(f"expected a quantity in {unit} (e.g. '{m.group(1)} m{unit}'), got unit {suffix!r}")


@dataclass(frozen=True)
class Limit:
    """One resolved limit. `marginal_low`/`marginal_high` are the inner edges of the marginal band."""

    name: str
    unit: str
    low: float | None = None
    high: float | None = None
    marginal_low: float | None = None
    marginal_high: float | None = None
    requirements: tuple[str, ...] = ()

    def verdict(self, value: float) -> Verdict:
        """fail outside [low, high] (or NaN); marginal inside it but within the band; else pass."""
        if math.isnan(value):
            return "fail"
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            return "fail"
        if (self.marginal_low is not None and value < self.marginal_low) or (
            self.marginal_high is not None and value > self.marginal_high
        ):
            return "marginal"
        return "pass"

    def describe(self) -> str:
        """Human text such as "0 s ≤ x ≤ 80 ms (marginal above 70 ms)"."""
        from bench.units import format_quantity

        q = lambda v: format_quantity(v, self.unit) or "0"  # noqa: E731
        parts = []
        if self.low is not None:
            parts.append(f"{q(self.low)} ≤")
        parts.append(self.name)
        if self.high is not None:
            parts.append(f"≤ {q(self.high)}")
        text = " ".join(parts)
        band = []
        if self.marginal_low is not None:
            band.append(f"below {q(self.marginal_low)}")
        if self.marginal_high is not None:
            band.append(f"above {q(self.marginal_high)}")
        return text + (f" (marginal {' and '.join(band)})" if band else "")


def make_limit(
    name: str, unit: str, low: float | None, high: float | None, marginal: float | None,
    requirements: tuple[str, ...] = (),
) -> Limit:
    """Build a Limit from a window and a band width; raises ValueError when inconsistent."""
    if low is not None and high is not None and low > high:
        raise ValueError(f"inverted limit: low ({low:g} {unit}) is above high ({high:g} {unit})")
    if marginal is None:
        return Limit(name, unit, low, high, None, None, requirements)
    if marginal < 0:
        raise ValueError(f"marginal band must be ≥ 0, got {marginal:g} {unit}")
    if low is None and high is None:
        raise ValueError("a marginal band needs a low or a high limit")
    if low is not None and high is not None and 2 * marginal > high - low:
        raise ValueError(
            f"marginal band {marginal:g} {unit} does not fit twice inside low..high "
            f"({low:g}..{high:g} {unit})"
        )
    return Limit(
        name, unit, low, high,
        None if low is None else low + marginal,
        None if high is None else high - marginal,
        requirements,
    )


def split_variant(key: str) -> tuple[str, str | None]:
    """"uplink_latency_s[lc3]" → ("uplink_latency_s", "lc3"); "connect_time_s" → (…, None)."""
    m = re.fullmatch(r"([A-Za-z0-9_]+)(?:\[([A-Za-z0-9_.-]+)\])?", key)
    if not m:
        raise ValueError(f"expected a measurement name, optionally with [variant], got {key!r}")
    return m.group(1), m.group(2)


class Limits:
    """Limits of one plan: `table[(key, sku)]` with sku None for the default of every SKU."""

    def __init__(self, table: Mapping[tuple[str, str | None], Limit]):
        self._table = dict(table)

    def get(self, name: str, sku: str | None = None, variant: str | None = None) -> Limit | None:
        """Most specific limit: name[variant] for the SKU, name[variant], name for the SKU, name."""
        base, inline_variant = split_variant(name)
        variant = variant or inline_variant
        keys = ([f"{base}[{variant}]"] if variant else []) + [base]
        for key in keys:
            for s in ((sku, None) if sku else (None,)):
                hit = self._table.get((key, s))
                if hit is not None:
                    return hit
        return None

    def names(self) -> list[str]:
        """Limit keys defined by the plan (with variants), sorted."""
        return sorted({k for k, _ in self._table})

    def __len__(self) -> int:
        return len(self._table)


@dataclass(frozen=True)
class CatalogueEntry:
    name: str
    unit: str
    area: str
    description: str


@dataclass(frozen=True)
class Catalogue:
    """Known measurements (name → unit), SKUs and variants; see fixtures/measurements.yaml. Boards are
    the board files' (bench.boards)."""

    measurements: dict[str, CatalogueEntry]
    skus: tuple[str, ...]
    variants: tuple[str, ...]


@lru_cache(maxsize=4)
def load_catalogue(path: Path = CATALOGUE_PATH) -> Catalogue:
    """Read the measurement catalogue (cached)."""
    data, _ = load_yaml(path)
    try:
        entries = {
            name: CatalogueEntry(name, str(e["unit"]), str(e.get("area", "")), str(e.get("description", "")))
            for name, e in data["measurements"].items()
        }
        return Catalogue(entries, tuple(data["skus"]), tuple(map(str, data["variants"])))
    except (KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"{path}: malformed measurement catalogue ({exc!r}); see its header comment") from None
