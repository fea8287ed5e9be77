"""`bench run PLAN [--bench FILE]`: run pytest with a test plan into a run folder of its own.

Each run writes ``out/runs/<run-id>/`` (Allure results, JUnit with the console log as system-out,
measurements.jsonl stamped with the run, console and bench logs, report.html, run.json) and points
``out/latest`` at it; the Allure history of the plan is ``out/history/<plan>.jsonl`` (bench/report/runs.py).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Sequence

from bench import project
from bench.errors import ConfigError
from bench.plan import PlanError, load_plan, plan_to_pytest_args, resolve_bench
from bench.report.allure import write_categories
from bench.report.runs import RunDirs, new_run, point_latest

OUT_DIR = project.ProjectPath("out")  # the project's out folder


def pytest_args_for_run(plan_path: str | Path, bench_path: str | Path | None,
                        extra_args: Sequence[str] = (), out_dir: str | os.PathLike[str] = OUT_DIR,
                        run_id: str | None = None) -> list[str]:
    """Full pytest argv: the plan's selection, the bench, Allure results, JUnit XML and logs under out_dir
    (the run's folder)."""
    from bench.config import load_bench

    plan, out_dir = load_plan(plan_path), Path(out_dir)
    try:
        bench_file = resolve_bench(plan, bench_path)  # project root first, then glassbench's own benches
    except ConfigError as exc:
        if bench_path is not None:
            raise  # the --bench argument's file, not the plan's
        raise PlanError([(str(plan.source), "bench", str(exc).removeprefix(f"{ConfigError.TAG}: "))]) from None
    load_bench(bench_file)  # a bad bench file stops here, with its file:line, before pytest or any output
    return plan_to_pytest_args(plan) + [
        "--bench", str(bench_file), "--bench-out", str(out_dir),
        *(["--run-id", run_id] if run_id else []),
        f"--alluredir={out_dir / 'allure-results'}", "--clean-alluredir",
        f"--junitxml={out_dir / 'junit.xml'}", "-o", "junit_logging=system-out",
        *extra_args,
    ]


def run_plan(plan_path: str | Path, bench_path: str | Path | None = None,
             extra_args: Sequence[str] = (), report: bool = True) -> int:
    """Run a plan in this process into a new run folder; returns pytest's exit code. An invalid plan or bench
    file raises ConfigError (PlanError) before anything runs or is written."""
    code, _ = run_plan_in_folder(plan_path, bench_path, extra_args, report=report)
    return code


def run_plan_in_folder(plan_path: str | Path, bench_path: str | Path | None = None,
                       extra_args: Sequence[str] = (), report: bool = True) -> tuple[int, RunDirs]:
    """`run_plan`, also returning where the run wrote (for `bench demo`'s summary)."""
    import shlex

    import pytest

    plan = load_plan(plan_path)
    pytest_args_for_run(plan_path, bench_path, extra_args)  # validates plan and bench before the folder exists
    dirs = new_run(Path(OUT_DIR), plan.name)
    args = pytest_args_for_run(plan_path, bench_path, extra_args, out_dir=dirs.run, run_id=dirs.run_id)
    print(f"bench run {dirs.run_id}: pytest {shlex.join(args)}", file=sys.stderr, flush=True)
    started_s = time.time()
    code = int(pytest.main(args))
    write_categories(dirs.allure_results)
    point_latest(dirs)
    _write_run_json(dirs, code, started_s)
    if report:
        write_report(dirs)
    return code, dirs


def write_report(dirs: RunDirs) -> int:
    """The run's single-file report, with the plan's history; 0 when written (a missing Allure is one line)."""
    from bench.report.main import report_main

    if not dirs.allure_results.is_dir():
        return 1
    return report_main(dirs.allure_results, dirs.report, name=f"glassbench {dirs.plan} · run {dirs.run_id}",
                       history=dirs.history)


def _write_run_json(dirs: RunDirs, code: int, started_s: float) -> None:
    from bench.report.runs import RunInfo, write_run_json

    info = RunInfo(run_id=dirs.run_id, plan=dirs.plan)
    first = _first_record(dirs.measurements)
    for key in ("bench", "board", "sku", "firmware", "commit"):
        setattr(info, key, str(first.get(key) or ""))
    if not info.commit:
        from bench.report.allure import git_commit

        info.commit = git_commit()
    write_run_json(dirs.run, info, pytest_exit_code=code, started=time.strftime(
        "%Y-%m-%dT%H:%M:%S%z", time.localtime(started_s)), duration_s=round(time.time() - started_s, 1),
        argv=sys.argv)


def _first_record(path: Path) -> dict:
    """The last measurement record with a firmware (the run's identity as the DUT told it), else the first."""
    import json

    found: dict = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict) and (not found or rec.get("firmware")):
                found = rec
    return found
