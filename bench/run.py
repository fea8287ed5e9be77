"""`bench run PLAN [--bench FILE]`: run pytest with a test plan, results into out/."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Sequence

from bench import project
from bench.errors import ConfigError
from bench.plan import PlanError, load_plan, plan_to_pytest_args, resolve_bench
from bench.report.allure import write_categories

OUT_DIR = project.ProjectPath("out")  # the project's out folder


def pytest_args_for_run(plan_path: str | Path, bench_path: str | Path | None,
                        extra_args: Sequence[str] = (), out_dir: str | os.PathLike[str] = OUT_DIR) -> list[str]:
    """Full pytest argv: the plan's selection, the bench, Allure results and JUnit XML under out_dir."""
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
        "--bench", str(bench_file),
        f"--alluredir={out_dir / 'allure-results'}", "--clean-alluredir",
        f"--junitxml={out_dir / 'junit.xml'}",
        *extra_args,
    ]


def run_plan(plan_path: str | Path, bench_path: str | Path | None = None,
             extra_args: Sequence[str] = ()) -> int:
    """Run a plan in this process; returns pytest's exit code. An invalid plan or bench file raises
    ConfigError (PlanError) before anything runs or is written."""
    import shlex

    import pytest

    args = pytest_args_for_run(plan_path, bench_path, extra_args)
    print("bench run: pytest " + shlex.join(args), file=sys.stderr)
    code = int(pytest.main(args))
    write_categories(Path(OUT_DIR) / "allure-results")
    return code
