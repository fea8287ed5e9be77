"""``make demo``: the ``demo`` plan on the reference bench, then the tables a bench engineer looks at.

Runs the plan through the same path as ``bench run`` (pytest, the plugin, Allure results), then
reads what the run left in ``out/`` — measurements.jsonl and junit.xml — and prints: the DUT and its
link, the conformance verdicts per area, latency per codec, current per state with the battery-life
projection, the fuzz run; then writes the single-file report and prints its path.
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

OUT = Path("out")


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
        status = "passed"
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                status = {"failure": "failed", "error": "broken", "skipped": "skipped"}[child.tag]
        counts[area][status] += 1
    rows = [[area, str(c["passed"]), str(c["failed"]), str(c["broken"]), str(c["skipped"])]
            for area, c in sorted(counts.items())]
    return table("Conformance (tests per area)", ["area", "passed", "failed", "broken", "skipped"], rows)


def latency_section(records: list[dict[str, Any]]) -> str | None:
    """One row per codec and path: p50 / p95 / p99 over the trials, jitter, frame loss."""
    rows: dict[tuple[str, str], list[str]] = {}
    for rec in records:
        match = re.match(r"^(uplink|downlink|roundtrip)_latency_s\[(.+)\]$", rec["name"])
        if match:
            path, codec = match.groups()
            p95, p99 = (format_quantity(rec[k], "s") if rec.get(k) is not None else "—" for k in ("p95_s", "p99_s"))
            rows[(codec, path)] = [codec, path, q(rec), p95, p99, "—", "—"]
    for rec in records:
        match = re.match(r"^(latency_jitter_s|audio_frame_loss_ratio)\[(.+)\]$", rec["name"])
        if match and (rec.get("test") and (key := (match.group(2), rec.get("path", ""))) in rows):
            rows[key][5 if match.group(1).startswith("latency") else 6] = q(rec)
    header = ["codec", "path", "p50", "p95", "p99", "jitter", "frame loss"]
    return table("Audio latency", header, [rows[k] for k in sorted(rows)]) if rows else None


def power_section(m: dict[str, dict[str, Any]], _env: dict[str, str]) -> str | None:
    from bench.power.report import format_power_table, power_table

    rows = power_table(m.values())
    return "\nCurrent per state and battery-life projection\n" + format_power_table(rows) if rows else None


def fuzz_section(m: dict[str, dict[str, Any]], _env: dict[str, str]) -> str | None:
    rows = [[name, q(rec)] for name, rec in sorted(m.items()) if name.startswith("fuzz_")]
    return table("Protocol fuzzing", ["figure", "value"], rows) if rows else None


def read_environment(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k.replace("\\", ""): v for k, v in pairs}


def main(bench_path: str | None = None, plan: str = "demo") -> int:
    from bench.report.main import report_main
    from bench.run import pytest_args_for_run, run_plan

    pytest_args_for_run(plan, bench_path)  # a bad plan or bench file stops here: nothing cleared, no report
    OUT.mkdir(exist_ok=True)
    (OUT / "measurements.jsonl").unlink(missing_ok=True)
    print(f"glassbench demo: plan '{plan}' on {bench_path or 'the reference bench'} "
          "(reference glasses, timed virtual radio, simulated instruments)", flush=True)
    t0 = time.monotonic()
    code = run_plan(plan, bench_path, ["-q", "-p", "no:cacheprovider"])
    elapsed_s = time.monotonic() - t0
    records = read_measurements(OUT / "measurements.jsonl").records if (OUT / "measurements.jsonl").exists() else []
    m = latest(records)
    env = read_environment(OUT / "allure-results" / "environment.properties")
    sections = (dut_section(m, env), verdict_section(OUT / "junit.xml"), latency_section(records),
                power_section(m, env), fuzz_section(m, env))
    for section in sections:
        if section:
            print(section)
    print()
    report_code = report_main(OUT / "allure-results", OUT / "report.html")
    print(f"\nran in {elapsed_s:.0f} s; pytest exit code {code}. Open the report: {(OUT / 'report.html').resolve()}")
    return code or report_code


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:2]))
