"""Quantities for people: SI values in, "23.9 ms" / "3 µA" out (reports, steps, terminal tables).

The code keeps SI base units inside; this is the one place that turns them into readable text, so a
step in Allure, a row in the demo summary and a cell in ``bench report`` print the same thing.
"""

from __future__ import annotations

import math

_PREFIXES = [(1e-9, "n"), (1e-6, "µ"), (1e-3, "m"), (1.0, "")]
SI_UNITS = {"s", "A", "C", "V", "W"}
DIMENSIONLESS = {"1", "count", ""}


def format_quantity(value: float | None, unit: str, digits: int = 4) -> str:
    """0.0123 s → "12.3 ms"; 3e-6 A → "3 µA"; a ratio ("1") prints bare; other units print as is."""
    if value is None:
        return ""
    if math.isnan(value) or math.isinf(value):
        return f"{value} {unit}".strip()
    if unit in SI_UNITS and value != 0:
        for scale, prefix in reversed(_PREFIXES):
            if abs(value) >= scale:
                return f"{value / scale:.{digits}g} {prefix}{unit}"
        return f"{value / 1e-9:.{digits}g} n{unit}"
    return f"{value:.{digits}g} {unit}".strip() if unit not in DIMENSIONLESS else f"{value:.{digits}g}"


def readable_name(name: str) -> str:
    """A measurement name for a step title: "uplink_latency_s[lc3]" → "uplink latency [lc3]"."""
    base, sep, variant = name.partition("[")
    words = base.split("_")
    if len(words) > 1 and words[-1] in {"s", "a", "c", "v", "w", "h", "ms", "pct", "ratio", "bps", "hz"}:
        words = words[:-1]  # the unit suffix: the value carries its unit
    return " ".join(words) + (f" [{variant}" if sep else "")
