"""The current-per-state table with the battery-life projection, from measurement records.

``power_table(records)`` takes the records of ``out/measurements.jsonl`` (dicts) and returns one row
per power state plus a final "battery life" row, for ``bench demo`` and reports to print. The latest
record of each name wins; per-state tests give the state rows, the battery-life record supplies its
use profile (time shares, contributions) and the states no per-state test measured.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from bench.limits import split_variant
from bench.power.states import STATES

STATE_OF = {"sleep_current_a": "sleep", "advertising_current_a": "advertising",
            "connected_idle_current_a": "connected_idle", "streaming_current_a": "audio_streaming"}


def power_table(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows ``{state, current_a, variant, share, contribution_a, verdict, test}`` + a ``battery life`` row."""
    latest: dict[str, Mapping[str, Any]] = {}
    for rec in records:
        latest[rec["name"]] = rec
    rows: dict[str, dict[str, Any]] = {}
    for name, rec in latest.items():
        base, variant = split_variant(name)
        state = STATE_OF.get(base)
        if state is None or (state in rows and rows[state]["variant"] == "lc3"):
            continue   # one row per state; for streaming, prefer LC3 (the codec every board has)
        rows[state] = {"state": state, "current_a": float(rec["value"]), "variant": variant,
                       "verdict": judged(rec), "test": rec.get("test"), "share": None, "contribution_a": None}
    life = latest.get("battery_life_h")
    if life is not None:
        shares = life.get("shares") or {}
        for state, current_a in (life.get("state_currents_a") or {}).items():
            rows.setdefault(state, {"state": state, "current_a": float(current_a), "variant": None,
                                    "verdict": None, "test": life.get("test"), "share": None, "contribution_a": None})
        for state, share in shares.items():
            if state in rows:
                rows[state]["share"] = float(share)
                rows[state]["contribution_a"] = float(share) * float((life.get("state_currents_a") or {}).get(
                    state, rows[state]["current_a"]))
    ordered = [rows[s] for s in STATES if s in rows]
    if life is not None:
        ordered.append({"state": "battery life", "life_h": float(life["value"]), "profile": life.get("profile"),
                        "battery_mah": life.get("battery_mah"), "mean_current_a": life.get("mean_current_a"),
                        "verdict": judged(life), "test": life.get("test")})
    return ordered


def judged(rec: Mapping[str, Any]) -> str | None:
    """The record's verdict where it had a limit; "no limit" where nothing was judged (not a "pass")."""
    if rec.get("low") is None and rec.get("high") is None and rec.get("verdict") != "fail":
        return "no limit"
    return rec.get("verdict")


def format_power_table(rows: list[dict[str, Any]]) -> str:
    """Plain-text table (µA/mA, %, h) for a terminal."""
    def amps(a: float | None) -> str:
        if a is None:
            return "—"
        return f"{a * 1e6:8.1f} µA" if abs(a) < 1e-3 else f"{a * 1e3:8.2f} mA"

    lines = [f"{'state':<20} {'current':>11} {'share':>6} {'adds':>11}  verdict"]
    for r in rows:
        if r["state"] == "battery life":
            lines.append(f"battery life: {r['life_h']:.1f} h on {r.get('battery_mah') or '?'} mAh, profile "
                         f"{r.get('profile')}, mean {amps(r.get('mean_current_a')).strip()} ({r.get('verdict')})")
            continue
        label = r["state"] + (f"[{r['variant']}]" if r.get("variant") else "")
        share = f"{r['share'] * 100:5.1f}%" if r.get("share") is not None else "     —"
        lines.append(f"{label:<20} {amps(r['current_a']):>11} {share:>6} {amps(r.get('contribution_a')):>11}  "
                     f"{r.get('verdict') or ''}")
    return "\n".join(lines)
