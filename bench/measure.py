"""Measurements: a named value with a unit and limits, recorded, shown in Allure, judged.

Each measurement is appended to ``out/measurements.jsonl`` and flushed at once (a crash loses
nothing), shown in the Allure report as a step ("uplink latency [lc3] 23.9 ms ≤ 60 ms ✓"), and fails the test
(``LimitExceeded``, Allure "failed") when outside its limits. A marginal band inside the limits marks
values that pass but deserve a look. Values are SI; the unit string says which.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import threading
import time
from pathlib import Path
from typing import Any, Callable, ContextManager, Optional

from bench.errors import LimitExceeded
from bench.limits import Limit
from bench.units import format_quantity, readable_name


@dataclasses.dataclass(frozen=True)
class Measurement:
    test: str
    name: str
    value: float
    unit: str
    limits: Limit
    verdict: str
    t: float
    context: dict[str, Any]

    def record(self) -> dict[str, Any]:
        return {"test": self.test, "name": self.name, "value": self.value, "unit": self.unit,
                "low": self.limits.low, "high": self.limits.high,
                "marginal_low": self.limits.marginal_low, "marginal_high": self.limits.marginal_high,
                "verdict": self.verdict, "t": self.t, **self.context}


LimitsSource = Callable[[str], Optional[Limit]]


class Recorder:
    """Appends measurements to a JSONL file; thread-safe; one per session."""

    def __init__(self, path: str | Path, context: dict[str, Any] | None = None,
                 limits_source: LimitsSource | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.context = dict(context or {})
        self.limits_source = limits_source
        self._lock = threading.Lock()
        self.measurements: list[Measurement] = []

    def limit_for(self, name: str) -> Limit | None:
        """The plan's limit for ``name`` (None without one): plots draw it before the value is measured."""
        return self.limits_source(name) if self.limits_source else None

    def measure(self, test: str, name: str, value: float, unit: str, low: float | None = None,
                high: float | None = None, limits: Limit | None = None, check: bool = True,
                **context: Any) -> Measurement:
        """Record one measurement; raise LimitExceeded when ``check`` and outside limits.

        Limits come from ``limits`` or ``low``/``high``, else from the test plan (limits_source).
        """
        if limits is None:
            if low is not None or high is not None:
                limits = Limit(name, unit, low, high)
            else:
                limits = (self.limits_source(name) if self.limits_source else None) or Limit(name, unit)
        value = float(value)
        m = Measurement(test, name, value, unit, limits, limits.verdict(value), time.time(),
                        {**self.context, **context})
        with self._lock:
            with open(self.path, "a") as f:
                f.write(json.dumps(m.record()) + "\n")
                f.flush()
            self.measurements.append(m)
        with _allure_step(m):
            if check and m.verdict == "fail":
                raise LimitExceeded(f"{name} = {format_quantity(value, unit)}, limit {limits.describe()}")
        return m


VERDICT_MARK = {"pass": "✓", "marginal": "⚠ marginal", "fail": "✗"}


def step_title(m: Measurement) -> str:
    """"uplink latency [lc3] 23.9 ms ≤ 60 ms ✓": name, readable value, the limit it was judged by, verdict.
    A measurement without limits gets no verdict ("… (no limit)"): nothing was judged."""
    lim, value = m.limits, m.value
    q = lambda v: format_quantity(v, m.unit)  # noqa: E731
    text = f"{readable_name(m.name)} {q(value)}"
    if lim.low is None and lim.high is None:
        return f"{text} (no limit)"
    if lim.low is not None and lim.high is not None:
        text = f"{readable_name(m.name)} {q(lim.low)} {'≤' if value >= lim.low else '>'} {q(value)} " \
               f"{'≤' if value <= lim.high else '>'} {q(lim.high)}"
    elif lim.high is not None:
        text += f" {'≤' if value <= lim.high else '>'} {q(lim.high)}"
    elif lim.low is not None:
        text += f" {'≥' if value >= lim.low else '<'} {q(lim.low)}"
    return f"{text} {VERDICT_MARK.get(m.verdict, m.verdict)}"


def _allure_step(m: Measurement) -> ContextManager[Any]:
    """An Allure step titled by `step_title` (failed when the measurement fails). The value is not an Allure
    parameter: parameters are part of a test's historyId, and a measured value must not make each run a new test."""
    try:
        import allure
    except ImportError:  # pragma: no cover - allure-pytest is a dependency
        return contextlib.nullcontext()
    return allure.step(step_title(m))
