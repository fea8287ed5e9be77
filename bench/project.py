"""The project a run belongs to: where its plans, bench files, boards, corpus and outputs are.

A project is a folder with a ``pyproject.toml`` (a product repo, or glassbench's own checkout). Its
root is pytest's rootdir (the plugin calls ``use()``) or, for the CLI, the first folder from the
current directory upwards that holds a ``pyproject.toml``. An optional ``[tool.glassbench]`` table
renames its folders (paths relative to the root)::

    [tool.glassbench]
    tests = "tests"                  # default
    test_plans = "test_plans"        # default
    benches = "fixtures/benches"     # default
    boards = "fixtures/boards"       # default
    corpus = "fixtures/corpus"       # default; fuzz failures are written here
    out = "out"                      # default; measurements, logs, reports

Lookups by name (``find("benches", "reference.yaml")``) search the project first, then the built-ins
shipped with glassbench (``bench._data``). Nothing is ever written into the installed package.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from bench import _data
from bench.errors import ConfigError

ENV = "GLASSBENCH_PROJECT"  # set by use(), so a reference bench subprocess sees the same project
FOLDERS = {"tests": "tests", "test_plans": "test_plans", "benches": "fixtures/benches",
           "boards": "fixtures/boards", "corpus": "fixtures/corpus", "out": "out"}
#: where each kind lives inside glassbench's built-in data (bench._data.root())
BUILTIN = {"tests": "tests", "test_plans": "test_plans", "benches": "fixtures/benches", "boards": "fixtures/boards",
           "corpus": "fixtures/corpus", "instruments": "fixtures/instruments",
           "power_profiles": "fixtures/power_profiles", "keys": "fixtures/keys", "catalogue": "fixtures"}


@dataclass(frozen=True)
class Project:
    """A project root and its folders (absolute paths)."""

    root: Path
    folders: dict[str, Path]
    pyproject: Path | None = None

    def folder(self, kind: str) -> Path:
        """The project's folder for ``kind`` (one of FOLDERS); it need not exist."""
        return self.folders[kind]

    @property
    def corpus(self) -> Path:
        return self.folders["corpus"]

    @property
    def out(self) -> Path:
        return self.folders["out"]

    def search_path(self, kind: str) -> list[Path]:
        """Folders searched for ``kind``, project first, then the built-ins (duplicates removed)."""
        dirs = [self.folders[kind]] if kind in self.folders else []
        builtin = builtin_folder(kind)
        if builtin.resolve() not in [d.resolve() for d in dirs]:
            dirs.append(builtin)
        return dirs

    def find(self, kind: str, name: str | Path) -> Path:
        """``name`` as a path if it exists (relative to cwd, then the root), else ``<folder>/<name>`` in the
        search path; ConfigError lists where it looked and what is there."""
        p = Path(name)
        candidates = [p] if p.is_absolute() else [p, self.root / p, _data.root() / p]
        if not p.is_absolute() and len(p.parts) == 1:
            names = [p.name] if p.suffix in (".yaml", ".yml") else [p.name, f"{p.name}.yaml"]  # nrf52840dk.example
            candidates += [d / n for d in self.search_path(kind) for n in names]
        for c in candidates:
            if c.is_file():
                return c
        known = sorted({q.stem for d in self.search_path(kind) for q in d.glob("*.yaml")})
        where = ", ".join(str(d) for d in self.search_path(kind))
        raise ConfigError(f"{name}: cannot read: no such file (looked in {where}; known: {', '.join(known) or 'none'})")


def builtin_folder(kind: str) -> Path:
    """A folder of glassbench's own data (read only)."""
    return _data.root() / BUILTIN[kind]


def find_root(start: str | Path | None = None) -> Path:
    """The first folder from ``start`` (default cwd) upwards holding a pyproject.toml, else ``start``."""
    start = Path(start or os.getcwd()).resolve()
    for d in (start, *start.parents):
        if (d / "pyproject.toml").is_file():
            return d
    return start


def load(root: str | Path) -> Project:
    """The project rooted at ``root``, with its ``[tool.glassbench]`` folders (unknown keys are errors)."""
    root = Path(root).resolve()
    pyproject = root / "pyproject.toml"
    table: dict = {}
    if pyproject.is_file():
        try:
            table = tomllib.loads(pyproject.read_text()).get("tool", {}).get("glassbench", {})
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{pyproject}: not valid TOML: {e}") from None
        unknown = sorted(set(table) - set(FOLDERS))
        if unknown:
            raise ConfigError(f"{pyproject}: [tool.glassbench]: unknown key(s) {', '.join(unknown)} "
                              f"(known: {', '.join(FOLDERS)})")
        bad = [k for k, v in table.items() if not isinstance(v, str)]
        if bad:
            raise ConfigError(f"{pyproject}: [tool.glassbench]: {', '.join(bad)}: expected a folder path string")
    folders = {k: root / table.get(k, default) for k, default in FOLDERS.items()}
    return Project(root, folders, pyproject if pyproject.is_file() else None)


_current: Project | None = None


def current() -> Project:
    """The project of this run: the one given to ``use()``, else $GLASSBENCH_PROJECT, else from the cwd."""
    global _current
    if _current is None:
        env = os.environ.get(ENV)
        _current = load(env) if env else load(find_root())
    return _current


def use(root: str | Path) -> Project:
    """Make the project at ``root`` (walking up to a pyproject.toml) the current one, for this process and
    the reference bench processes it starts."""
    global _current
    _current = load(find_root(root))
    os.environ[ENV] = str(_current.root)
    from bench import boards  # boards are looked up per project
    boards.reset()
    return _current


class ProjectPath(os.PathLike[str]):
    """A path inside the current project, resolved when used (module-level defaults such as the corpus
    folder must follow ``use()``, which runs after import)."""

    def __init__(self, kind: str, name: str | None = None) -> None:
        self.kind, self.name = kind, name

    def resolve_now(self) -> Path:
        proj = current()
        return proj.find(self.kind, self.name) if self.name else proj.folder(self.kind)

    def __fspath__(self) -> str:
        return str(self.resolve_now())

    def __repr__(self) -> str:
        return f"ProjectPath({self.kind!r}, {self.name!r})"
