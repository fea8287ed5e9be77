"""`bench run PLAN [--bench FILE]`: run pytest with a test plan, results into out/."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

from bench.plan import REPO_ROOT, PlanError, load_plan, plan_to_pytest_args
from bench.report.allure import write_categories

OUT_DIR = Path("out")


def pytest_args_for_run(plan_path: str | Path, bench_path: str | Path | None,
                        extra_args: Sequence[str] = (), out_dir: Path = OUT_DIR) -> list[str]:
    """Full pytest argv: the plan's selection, the bench, Allure results and JUnit XML under out_dir."""
    plan = load_plan(plan_path)
    bench_file = Path(bench_path or plan.bench)
    if not bench_file.is_absolute() and not bench_file.exists() and (REPO_ROOT / bench_file).exists():
        bench_file = REPO_ROOT / bench_file  # plan paths are relative to the repo root
    return plan_to_pytest_args(plan) + [
        "--bench", str(bench_file),
        f"--alluredir={out_dir / 'allure-results'}", "--clean-alluredir",
        f"--junitxml={out_dir / 'junit.xml'}",
        *extra_args,
    ]


def run_plan(plan_path: str | Path, bench_path: str | Path | None = None,
             extra_args: Sequence[str] = ()) -> int:
    """Run a plan in this process; returns pytest's exit code (2 for an invalid plan)."""
    import pytest

    try:
        args = pytest_args_for_run(plan_path, bench_path, extra_args)
    except PlanError as exc:
        print(f"bench run: {exc}", file=sys.stderr)
        return 2
    print("bench run: pytest " + " ".join(args), file=sys.stderr)
    code = int(pytest.main(args))
    write_categories(OUT_DIR / "allure-results")
    return code
