"""Report generation for 1000 results: `bench report` (Allure 3 single file) and the measurement summary. One JSON line.

    python benchmarks/report_time.py          # REPORT_RESULTS=1000

Writes REPORT_RESULTS synthetic Allure results (the shape allure-pytest writes: labels, steps, one
measurement attachment each; 90 % passed, 5 % failed with LIMIT EXCEEDED, 3 % broken with DUT CRASH,
2 % skipped) and a measurements.jsonl with one record per result, then times `bench report` as a
child process on this process's clock (node start-up included: what CI waits for).
- report_s: `bench report` wall time. Target ≤ 15 s: a report step should stay a small part of a
  CI run (the smoke suite takes ~1 min), and Allure 3 generates a small report in 2–3 s (FACTS.md).
- the truth for the content: the counts per status written here must equal the counts the
  report's sidecar JSON lists, and every result must be in it (report_tests).
- summary_s: `summary_main` (table + CSV) of the 1000 measurement records. Target ≤ 1 s.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report.allure import write_categories, write_environment  # noqa: E402
from bench.report.main import summary_main  # noqa: E402

TARGET_REPORT_S, TARGET_SUMMARY_S = 15.0, 1.0
AREAS = ("smoke", "protocol", "latency", "power", "fuzz")


def status_of(k: int) -> str:
    r = k % 100
    return "passed" if r < 90 else "failed" if r < 95 else "broken" if r < 98 else "skipped"


def write_results(folder: Path, n: int) -> Counter:
    folder.mkdir(parents=True)
    t0 = int(time.time() * 1000) - n * 100
    counts: Counter = Counter()
    with open(folder.parent / "measurements.jsonl", "w") as jsonl:
        for k in range(n):
            status = status_of(k)
            counts[status] += 1
            area = AREAS[k % len(AREAS)]
            name = f"test_{area}_{k:04d}"
            rec = {"test": name, "name": f"{area}_figure_{k % 37}_s", "value": 0.001 * (k % 97), "unit": "s",
                   "low": None, "high": 0.09, "verdict": "fail" if status == "failed" else "pass",
                   "sku": "camera", "board": "nrf52840dk"}
            jsonl.write(json.dumps(rec) + "\n")
            att = f"{uuid.uuid4()}-attachment.json"
            (folder / att).write_text(json.dumps(rec))
            details = {"failed": {"message": f"LIMIT EXCEEDED: {rec['name']} = 95 ms > high 90 ms"},
                       "broken": {"message": "DUT CRASH: hard fault at 0x0002a4f1 (reset reason: LOCKUP)",
                                  "trace": "Traceback ...\nbench.errors.DutCrash"},
                       "skipped": {"message": "the DUT has no camera"}}.get(status, {})
            result = {"uuid": str(uuid.uuid4()), "historyId": f"h{k}", "testCaseId": f"c{k}",
                      "fullName": f"tests.dut.test_{area}#{name}", "name": name, "status": status,
                      "statusDetails": details, "stage": "finished", "start": t0 + 100 * k, "stop": t0 + 100 * k + 80,
                      "labels": [{"name": "feature", "value": area}, {"name": "suite", "value": f"test_{area}"},
                                 {"name": "framework", "value": "pytest"}, {"name": "language", "value": "cpython3"}],
                      "parameters": [{"name": "codec", "value": "lc3"}] if area == "latency" else [],
                      "steps": [{"name": f"measure {rec['name']}", "status": status if status != "skipped" else "passed",
                                 "start": t0 + 100 * k, "stop": t0 + 100 * k + 50}],
                      "attachments": [{"name": f"measurement {rec['name']}", "source": att, "type": "application/json"}]}
            (folder / f"{result['uuid']}-result.json").write_text(json.dumps(result))
    write_categories(folder)
    write_environment(folder, {"dut.board": "nrf52840dk", "dut.sku": "camera", "bench.id": "benchmark"})
    return counts


def main() -> int:
    n = int(os.environ.get("REPORT_RESULTS", "1000"))
    with tempfile.TemporaryDirectory(prefix="glassbench-report-bench-") as tmp:
        results = Path(tmp) / "allure-results"
        written = write_results(results, n)
        html = Path(tmp) / "report.html"
        t0 = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "bench.cli", "report", str(results), "-o", str(html)],
                              capture_output=True, text=True, timeout=600,
                              env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
        report_s = time.monotonic() - t0
        if proc.returncode != 0:
            print(proc.stdout[-1500:], proc.stderr[-1500:], file=sys.stderr)
        sidecar = json.loads(html.with_suffix(".json").read_text()) if html.with_suffix(".json").exists() else {}
        seen = Counter(t["status"] for t in sidecar.get("tests", []))
        t0 = time.monotonic()
        with contextlib.redirect_stdout(io.StringIO()):
            summary_main(Path(tmp) / "measurements.jsonl", Path(tmp) / "m.csv")
        summary_s = time.monotonic() - t0
        csv_rows = sum(1 for _ in open(Path(tmp) / "m.csv")) - 1
        html_mb = html.stat().st_size / 2**20 if html.exists() else 0.0
    content_ok = proc.returncode == 0 and dict(seen) == dict(written) and csv_rows == n
    ok = content_ok and report_s <= TARGET_REPORT_S and summary_s <= TARGET_SUMMARY_S
    print(json.dumps({"benchmark": "report_time", "results": n, "report_s": round(report_s, 2),
                      "report_target_s": TARGET_REPORT_S, "report_html_mb": round(html_mb, 2),
                      "report_tests": sum(seen.values()), "statuses_written": dict(written), "statuses_in_report": dict(seen),
                      "summary_s": round(summary_s, 3), "summary_target_s": TARGET_SUMMARY_S, "csv_rows": csv_rows,
                      "content_ok": content_ok, "load_avg_1m": round(os.getloadavg()[0], 2), "ok": ok}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
