"""out/measurements.jsonl → a summary table for the terminal and a CSV for spreadsheets.

The reader is tolerant: unknown keys are kept, optional keys may be missing, and a torn last line
(a run killed mid-write) or any malformed line is skipped and counted, not fatal.
"""

from __future__ import annotations

import csv
import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from bench.units import format_quantity  # noqa: F401 - re-exported: reports import it from here

CSV_COLUMNS = ["test", "name", "value", "unit", "low", "high", "marginal_low", "marginal_high",
               "verdict", "sku", "board", "t"]
_VERDICT_RANK = {"pass": 0, "marginal": 1, "fail": 2}


@dataclass
class Measurements:
    """Records read from a JSONL file, plus the line numbers that could not be read."""

    records: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)


def read_measurements(path: str | Path) -> Measurements:
    """Read measurement records; lines without a name or a numeric value are skipped with a reason."""
    result = Measurements()
    with open(path, encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                result.skipped.append((lineno, f"not JSON ({exc.msg})"))
                continue
            if not isinstance(rec, dict) or "name" not in rec:
                result.skipped.append((lineno, "not a measurement record (no 'name')"))
                continue
            value = _number(rec.get("value"))
            if value is None:
                result.skipped.append((lineno, f"value {rec.get('value')!r} is not a number"))
                continue
            rec["value"] = value
            result.records.append(rec)
    return result


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        return None
    try:
        return float(v)
    except ValueError:
        return None


def summarize(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (measurement, board, SKU): count, min, median, max, limits, worst verdict, fails."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for rec in records:
        groups.setdefault((rec["name"], rec.get("board") or "", rec.get("sku") or ""), []).append(rec)
    rows = []
    for (name, board, sku), recs in sorted(groups.items()):
        values = [r["value"] for r in recs]
        verdicts = [str(r.get("verdict") or "") for r in recs]
        worst = max(verdicts, key=lambda v: _VERDICT_RANK.get(v, -1)) if verdicts else ""
        last = recs[-1]
        rows.append({
            "name": name, "board": board, "sku": sku, "unit": str(last.get("unit") or ""),
            "n": len(values), "min": min(values), "median": statistics.median(values), "max": max(values),
            "low": _number(last.get("low")), "high": _number(last.get("high")),
            "verdict": worst or "-", "fails": verdicts.count("fail"), "marginals": verdicts.count("marginal"),
        })
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """Fixed-width text table of `summarize` rows."""
    header = ["measurement", "board", "sku", "n", "min", "median", "max", "low", "high", "verdict"]
    body = []
    for r in rows:
        u = r["unit"]
        verdict = r["verdict"].upper() if r["verdict"] in ("fail", "marginal") else r["verdict"]
        if r["low"] is None and r["high"] is None and not r["fails"]:
            verdict = "no limit"  # nothing was judged: "pass" would claim a check that did not happen
        elif r["fails"] or r["marginals"]:
            verdict += f" ({r['fails']} fail, {r['marginals']} marginal)"
        body.append([r["name"], r["board"], r["sku"], str(r["n"]), format_quantity(r["min"], u),
                     format_quantity(r["median"], u), format_quantity(r["max"], u),
                     format_quantity(r["low"], u), format_quantity(r["high"], u), verdict])
    widths = [max(len(row[i]) for row in [header] + body) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in [header] + body]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_csv(records: Iterable[dict[str, Any]], path: str | Path) -> Path:
    """All records, one row each: the known columns first, then any extra keys in order of appearance."""
    records = list(records)
    extra: list[str] = []
    for rec in records:
        extra += [k for k in rec if k not in CSV_COLUMNS and k not in extra]
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS + extra, extrasaction="ignore")
        writer.writeheader()
        for rec in records:
            writer.writerow({k: _csv_cell(v) for k, v in rec.items()})
    return out


def _csv_cell(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, (dict, list)):
        return json.dumps(v)
    return v
