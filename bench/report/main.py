"""`bench report RESULTS -o out/report.html`: HTML report, measurement summary table and CSV."""

from __future__ import annotations

import sys
from pathlib import Path

from bench.report.html import ReportError, generate_report
from bench.report.runs import history_path
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


def history_for(results: Path, output: Path) -> Path:
    """The Allure history a report reads and extends: its plan's (out/history/<plan>.jsonl) for a run folder
    (out/runs/<id>/allure-results, run.json names the plan), else allure-history.jsonl next to the report."""
    import json

    run_json = results.parent / "run.json"
    if run_json.exists() and results.parent.parent.name == "runs":
        try:
            plan = str(json.loads(run_json.read_text(encoding="utf-8")).get("plan") or "")
        except (OSError, json.JSONDecodeError, AttributeError):
            plan = ""
        return history_path(results.parent.parent.parent, plan)
    return output.parent / "allure-history.jsonl"


def default_results() -> str:
    """out/latest/allure-results (the last `bench run`/`bench demo`) if there is one, else out/allure-results."""
    return "out/latest/allure-results" if Path("out/latest/allure-results").is_dir() else "out/allure-results"


def report_main(results_dir: str | Path, output: str | Path | None = None, name: str = "glassbench",
                history: str | Path | None = "auto") -> int:
    """Generate the report; 0 when it was written (whatever the test verdicts), 1 with a reason if not.
    ``output`` defaults to report.html next to the results folder."""
    results = Path(results_dir)
    out = Path(output) if output is not None else results.parent / "report.html"
    try:
        info = generate_report(results, out, name=name,
                               history=history_for(results, out) if history == "auto" else history)
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
