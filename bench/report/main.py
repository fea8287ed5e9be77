"""`bench report RESULTS -o out/report.html`: HTML report, measurement summary table and CSV."""

from __future__ import annotations

import sys
from pathlib import Path

from bench.report.html import ReportError, generate_report
from bench.report.summary import format_table, read_measurements, summarize, write_csv


def find_measurements(results_dir: Path) -> Path | None:
    """measurements.jsonl in the results dir or next to it (out/allure-results → out/measurements.jsonl)."""
    for candidate in (results_dir / "measurements.jsonl", results_dir.parent / "measurements.jsonl"):
        if candidate.exists():
            return candidate
    return None


def summary_main(measurements: Path, csv_path: Path) -> None:
    """Print the summary table of a measurements file and write its CSV."""
    data = read_measurements(measurements)
    if data.records:
        print(format_table(summarize(data.records)))
    print(f"measurements: {len(data.records)} records from {measurements} → {write_csv(data.records, csv_path)}")
    for lineno, reason in data.skipped:
        print(f"  skipped {measurements}:{lineno}: {reason}", file=sys.stderr)


def report_main(results_dir: str | Path, output: str | Path = "out/report.html", name: str = "glassbench") -> int:
    """Generate the report; 0 when it was written (whatever the test verdicts), 1 with a reason if not."""
    results, out = Path(results_dir), Path(output)
    try:
        info = generate_report(results, out, name=name)
    except ReportError as exc:
        print(f"bench report: {exc}", file=sys.stderr)
        return 1
    statuses = ("passed", "failed", "broken", "skipped", "unknown")
    counts = ", ".join(f"{info.stats[k]} {k}" for k in statuses if info.stats.get(k))
    print(f"report: {info.html} ({info.stats.get('total', 0)} tests: {counts or 'none'})")
    measurements = find_measurements(results)
    if measurements is not None:
        summary_main(measurements, out.parent / "measurements.csv")
    return 0
