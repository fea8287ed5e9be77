"""Our glassbench extensions are found from this repo: profile by entry point, board by [tool.glassbench]."""

from __future__ import annotations

from pathlib import Path

from bench import boards, project
from bench.plan import load_plan
from bench.profiles import get_profile

ROOT = Path(__file__).resolve().parents[1]


def test_profile_is_registered_by_entry_point():
    profile = get_profile("acme")
    assert profile.name == "acme" and "battery" in profile.description.lower()
    assert profile.capabilities.__module__ == "acme_bench.profile"  # ours, loaded through the entry point


def test_project_is_this_repo_and_boards_come_from_its_folder():
    assert project.current().root == ROOT
    assert Path(boards.get("acme-g1").source) == ROOT / "hw" / "boards" / "acme-g1.yaml"
    assert {"acme-g1", "nrf52840dk", "esp32s3"} <= set(boards.names())


def test_our_plan_is_found_before_the_builtins():
    plan = load_plan("acme-smoke")
    assert plan.source == ROOT / "test_plans" / "acme-smoke.yaml"
    assert load_plan("smoke").source != plan.source  # a built-in plan, shipped in the wheel


def test_glassbench_is_the_installed_wheel_not_a_checkout():
    import bench
    assert "site-packages" in bench.__file__, bench.__file__
