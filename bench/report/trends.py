"""One trend chart per key measurement across the runs of a plan, attached to the test that measures it.

Allure's history trends statuses, not values. A key measurement is one with a limit; when a test
measures one, `trend_for` adds this run's value to the plan's earlier runs (`collect`: out/runs/*/run.json
names the plan, measurements.jsonl holds the values; the median when a run measured it more than once)
and bench/report/evidence.py attaches the chart: value per run, the limits as lines, this run marked.
Only runs in the `bench run`/`bench demo` layout (out/runs/<run-id>) have earlier runs to show.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path

from bench.figures import png_bytes
from bench.measure import Measurement
from bench.units import format_quantity, readable_name

MAX_RUNS = 30


@dataclass(frozen=True)
class Point:
    run_id: str
    value: float
    low: float | None
    high: float | None
    unit: str


def collect(out: str | Path, plan: str, before: str, max_runs: int = MAX_RUNS) -> dict[str, list[Point]]:
    """measurement name → one point per earlier run of ``plan`` (run ids sort by time: those < ``before``),
    oldest first, measurements with a limit only."""
    runs = []
    for folder in sorted((Path(out) / "runs").glob("*")):
        try:
            info = json.loads((folder / "run.json").read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue  # a run that never finished
        if info.get("plan") == plan and folder.name < before:
            runs.append(folder)
    series: dict[str, list[Point]] = {}
    for folder in runs[-max_runs:]:
        by_name: dict[str, list[dict]] = {}
        path = folder / "measurements.jsonl"
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if path.exists() else []:
            try:
                rec = json.loads(line)
                float(rec["value"])
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                continue
            if rec.get("low") is not None or rec.get("high") is not None:
                by_name.setdefault(str(rec["name"]), []).append(rec)
        for name, recs in by_name.items():
            last = recs[-1]
            series.setdefault(name, []).append(Point(folder.name, statistics.median(float(r["value"]) for r in recs),
                                                     last.get("low"), last.get("high"), str(last.get("unit") or "")))
    return series


def trend_png(name: str, points: list[Point]) -> bytes:
    """The value per run with its limits, in the unit's readable prefix; the last run (this one) marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    unit = points[-1].unit
    fig, ax = plt.subplots(figsize=(7, 3), dpi=90)
    try:
        x = list(range(len(points)))
        ax.plot(x, [p.value for p in points], "o-", color="#4a7ab5", ms=4, lw=1)
        ax.plot([x[-1]], [points[-1].value], "o", color="#d32f2f", ms=7, label=f"this run {format_quantity(points[-1].value, unit)}")
        for attr, label in (("high", "high limit"), ("low", "low limit")):
            limit = getattr(points[-1], attr)
            if limit is not None:
                ax.axhline(limit, color="r", ls="--", lw=1, label=f"{label} {format_quantity(limit, unit)}")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: format_quantity(v, unit, 3)))
        ax.set_xticks(x, [p.run_id[:15] for p in points], rotation=30, ha="right", fontsize=7)
        ax.set(title=f"{name} over the last {len(points)} run(s)", xlabel="run", ylabel=readable_name(name))
        ax.legend(fontsize=7)
    except BaseException:
        plt.close(fig)
        raise
    return png_bytes(fig)


_cache: dict[tuple[str, str, str], dict[str, list[Point]]] = {}


def trend_for(run_folder: str | Path, plan: str, measurement: Measurement) -> bytes | None:
    """The chart of one measurement (bench.measure.Measurement) over the plan's earlier runs and this one,
    or None when it has no limit or the run is not in an out/runs/<run-id> folder."""
    folder = Path(run_folder)
    limits = measurement.limits
    if folder.parent.name != "runs" or (limits.low is None and limits.high is None):
        return None
    key = (str(folder.parent.parent), plan, folder.name)
    if key not in _cache:
        _cache[key] = collect(folder.parent.parent, plan, folder.name)
    name, value, unit = measurement.name, measurement.value, measurement.unit
    points = _cache[key].get(name, []) + [Point(folder.name, value, limits.low, limits.high, unit)]
    return trend_png(name, points)
