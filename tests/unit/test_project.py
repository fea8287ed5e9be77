"""The project a run belongs to: root, [tool.glassbench] folders, lookups project-first."""

from __future__ import annotations

import pytest

import bench
from bench import _data, project
from bench.errors import ConfigError
from bench.plan import load_plan, plan_to_pytest_args


def test_this_checkout_is_the_project_and_its_data_is_the_builtin_data():
    here = project.current()
    assert here.root == _data.root().resolve() or (here.root / "pyproject.toml").exists()
    assert (_data.root() / "fixtures" / "benches" / "reference.yaml").is_file()
    assert str(_data.root()) in bench.__file__ or (_data.root() / "fixtures").is_dir()


def test_defaults_and_tool_table(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.glassbench]\ncorpus = "fuzz/corpus"\nout = "build/out"\n')
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    proj = project.load(project.find_root(tmp_path / "sub" / "deeper"))
    assert proj.root == tmp_path.resolve()
    assert proj.folder("test_plans") == tmp_path.resolve() / "test_plans"
    assert proj.folder("benches") == tmp_path.resolve() / "fixtures" / "benches"
    assert proj.corpus == tmp_path.resolve() / "fuzz" / "corpus" and proj.out == tmp_path.resolve() / "build" / "out"


def test_unknown_tool_key_is_an_error(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.glassbench]\nplans = "x"\n')
    with pytest.raises(ConfigError, match=r"unknown key\(s\) plans"):
        project.load(tmp_path)


def test_lookups_search_the_project_first_then_the_builtins(tmp_path):
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "test_plans").mkdir()
    (tmp_path / "test_plans" / "smoke.yaml").write_text("name: smoke\nsuites: [tests/test_mine.py]\n")
    before = project.current().root
    try:
        project.use(tmp_path)
        mine = load_plan("smoke")
        assert mine.source == tmp_path.resolve() / "test_plans" / "smoke.yaml"
        assert plan_to_pytest_args(mine)[0] == str(tmp_path.resolve() / "tests" / "test_mine.py")
        builtin = load_plan("protocol")  # not in the project: glassbench's own, suites from its checkout
        assert builtin.source.is_relative_to(_data.root())
        assert plan_to_pytest_args(builtin)[0].startswith(str(_data.root()))
        assert project.current().find("benches", "reference").is_relative_to(_data.root())
        with pytest.raises(ConfigError, match="known: .*fuzz.*reference"):
            project.current().find("benches", "nope")
    finally:
        project.use(before)
