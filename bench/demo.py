"""``make demo``: the ``demo`` plan on the reference bench, then the tables a bench engineer looks at.

Runs the plan through the same path as ``bench run`` (pytest, the plugin, Allure results) into its own run
folder ``out/runs/<run-id>/``, then reads what the run left there — measurements.jsonl and junit.xml — and
prints: which run it was (run id, plan, board, SKU, firmware, commit), the DUT and its link, the
conformance verdicts per area, latency per codec, current per state with the battery-life projection, the
fuzz run; then writes the single-file report (with the plan's history) and prints its path.
"""

from __future__ import annotations

import re
import sys
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.report.summary import format_quantity, read_measurements


def table(title: str, header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = "  ".join("-" * w for w in widths)
    fmt = lambda r: "  ".join(str(x).ljust(w) for x, w in zip(r, widths))  # noqa: E731
    return "\n".join([f"\n{title}", fmt(header), line, *(fmt(r) for r in rows)])


def latest(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Last record per measurement name (a demo run measures each once, retries aside)."""
    out: dict[str, dict[str, Any]] = {}
    for r in records:
        out[r["name"]] = r
    return out


def q(rec: dict[str, Any] | None) -> str:
    return "—" if rec is None else format_quantity(rec["value"], rec.get("unit", ""))


def dut_section(m: dict[str, dict[str, Any]], env: dict[str, str]) -> str | None:
    rows = [
        ["board / SKU", f"{env.get('dut.board', '?')} / {env.get('dut.sku', '?')}"],
        ["firmware", env.get("firmware.version", "?")],
        ["connect time", q(m.get("connect_time_s"))],
        ["ATT MTU", q(m.get("att_mtu"))],
        ["battery", q(m.get("battery_level_pct"))],
        ["write→notify RTT p50 / p95", f"{q(m.get('write_notify_rtt_p50_s'))} / {q(m.get('write_notify_rtt_p95_s'))}"],
    ]
    return table("Device under test (reference glasses on the virtual radio)", ["", ""], rows)


def verdict_section(junit: Path) -> str | None:
    if not junit.exists():
        return None
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for case in ET.parse(junit).iter("testcase"):
        module = case.get("classname", "").split(".")[-1]
        area = re.sub(r"^test_", "", module).split("_")[0] or "other"
        counts[area][_status(case)] += 1
    rows = [[area, str(c["passed"]), str(c["failed"]), str(c["broken"]), str(c["skipped"])]
            for area, c in sorted(counts.items())]
    return table("Conformance (tests per area)", ["area", "passed", "failed", "broken", "skipped"], rows)


LATENCY_TEST = re.compile(r"test_(uplink|downlink|roundtrip)_latency\[(.+)\]$")


def latency_section(records: list[dict[str, Any]], junit: Path | None = None) -> str | None:
    """One row per codec and path that ran: p50 / p95 / p99 over the trials, jitter, frame loss, and the verdict
    of the plan's limit on the statistic it names (``uplink_latency_s[lc3]`` is the p50). A test that failed
    before it measured still has its row, marked; a figure without a limit has no verdict."""
    rows: dict[tuple[str, str], list[str]] = {}
    for (path, codec), status in _latency_outcomes(junit).items():
        if status != "skipped":
            rows[(codec, path)] = [codec, path, "—", "—", "—", "—", "—", "no limit", status.upper()]
    for rec in records:
        match = re.match(r"^(uplink|downlink|roundtrip)_latency_s\[(.+)\]$", rec["name"])
        if match:
            path, codec = match.groups()
            p95, p99 = (format_quantity(rec[k], "s") if rec.get(k) is not None else "—" for k in ("p95_s", "p99_s"))
            limit, verdict = _limit_and_verdict(rec, "p50")
            old = rows.get((codec, path))
            if old is not None and old[-1] == "BROKEN":
                verdict = "BROKEN"  # a bench fault (overloaded host, dead bench): the value says nothing about the DUT
            elif old is not None and old[-1] == "FAILED" and verdict in ("pass", "—"):
                verdict = old[-1]  # measured, then failed on something else (a dropout, frame loss)
            rows[(codec, path)] = [codec, path, q(rec), p95, p99, "—", "—", limit, verdict]
    for rec in records:
        match = re.match(r"^(latency_jitter_s|audio_frame_loss_ratio)\[(.+)\]$", rec["name"])
        if match and (rec.get("test") and (key := (match.group(2), rec.get("path", ""))) in rows):
            rows[key][5 if match.group(1).startswith("latency") else 6] = q(rec)
            if rec.get("verdict") == "fail":
                rows[key][-1] = f"FAIL ({match.group(1).split('_')[-2]})"
    header = ["codec", "path", "p50", "p95", "p99", "jitter", "frame loss", "limit", "verdict"]
    return table("Audio latency", header, [rows[k] for k in sorted(rows)]) if rows else None


def _limit_and_verdict(rec: dict[str, Any], statistic: str) -> tuple[str, str]:
    """("p50 ≤ 60 ms", "pass") for a record with a limit; ("no limit", "—") without one."""
    low, high, unit = rec.get("low"), rec.get("high"), rec.get("unit", "")
    if low is None and high is None:
        return "no limit", "—"
    parts = ([f"{format_quantity(low, unit)} ≤"] if low is not None else []) + [statistic] + \
        ([f"≤ {format_quantity(high, unit)}"] if high is not None else [])
    verdict = str(rec.get("verdict") or "")
    return " ".join(parts), verdict.upper() if verdict in ("fail", "marginal") else verdict


def _latency_outcomes(junit: Path | None) -> dict[tuple[str, str], str]:
    """(path, codec) → passed/failed/broken/skipped of each latency test in the JUnit file."""
    out: dict[tuple[str, str], str] = {}
    if junit is None or not junit.exists():
        return out
    for case in ET.parse(junit).iter("testcase"):
        match = LATENCY_TEST.search(case.get("name", ""))
        if match:
            out[(match.group(1), match.group(2))] = _status(case)
    return out


def _status(case: ET.Element) -> str:
    status = "passed"
    for child in case:
        if child.tag in ("failure", "error", "skipped"):
            status = {"failure": "failed", "error": "broken", "skipped": "skipped"}[child.tag]
    return status


def power_section(m: dict[str, dict[str, Any]], _env: dict[str, str]) -> str | None:
    from bench.power.report import format_power_table, power_table

    rows = power_table(m.values())
    return "\nCurrent per state and battery-life projection\n" + format_power_table(rows) if rows else None


def fuzz_section(m: dict[str, dict[str, Any]], _env: dict[str, str]) -> str | None:
    rows = [[name, q(rec), *_limit_and_verdict(rec, "value")] for name, rec in sorted(m.items())
            if name.startswith("fuzz_")]
    return table("Protocol fuzzing", ["figure", "value", "limit", "verdict"], rows) if rows else None


def read_environment(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k.replace("\\", ""): v for k, v in pairs}


def run_line(run_id: str, records: list[dict[str, Any]], env: dict[str, str], plan: str) -> str:
    """Which run this summary is: run id, plan, board, SKU, firmware, commit."""
    rec = next((r for r in reversed(records) if r.get("firmware")), records[-1] if records else {})
    fields = [("plan", plan), ("board", rec.get("board") or env.get("dut.board", "?")),
              ("sku", rec.get("sku") or env.get("dut.sku", "?")),
              ("firmware", rec.get("firmware") or env.get("firmware.version", "?")),
              ("commit", str(rec.get("commit") or env.get("git.commit", "?"))[:12])]
    return f"\nrun {run_id}: " + ", ".join(f"{k} {v}" for k, v in fields)


def main(bench_path: str | None = None, plan: str = "demo") -> int:
    from bench.run import pytest_args_for_run, run_plan_in_folder, write_report

    pytest_args_for_run(plan, bench_path)  # a bad plan or bench file stops here: nothing written, no report
    print(f"glassbench demo: plan '{plan}' on {bench_path or 'the reference bench'} "
          "(reference glasses, timed virtual radio, simulated instruments)", flush=True)
    t0 = time.monotonic()
    code, dirs = run_plan_in_folder(plan, bench_path, ["-q", "-p", "no:cacheprovider"], report=False)
    elapsed_s = time.monotonic() - t0
    records = read_measurements(dirs.measurements).records if dirs.measurements.exists() else []
    m = latest(records)
    env = read_environment(dirs.allure_results / "environment.properties")
    print(run_line(dirs.run_id, records, env, plan))
    sections = (dut_section(m, env), verdict_section(dirs.junit), latency_section(records, dirs.junit),
                power_section(m, env), fuzz_section(m, env))
    for section in sections:
        if section:
            print(section)
    print()
    report_code = write_report(dirs)
    print(f"\nrun {dirs.run_id} in {elapsed_s:.0f} s; pytest exit code {code}. Everything of this run: "
          f"{dirs.run.resolve()} (out/latest). Open the report: {dirs.report.resolve()}")
    return code or report_code


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:2]))
