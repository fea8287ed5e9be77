"""Test plans (test_plans/*.yaml): what to run against which DUT, with which parameters and limits.

A plan is found by path, or by name in the project's test_plans folder, then glassbench's built-ins
(``bench.project``). Its suites and bench file resolve against the project root; a built-in plan's
suites that are not in the project fall back to glassbench's own checkout (its tests/dut).

`load_plan(path)` validates a plan against the schema below and the measurement catalogue
(`fixtures/measurements.yaml`); every error names the plan file, line and field. `Plan.limits_table()`
resolves the plan's limits per SKU; `plan_to_pytest_args(plan)` is the pytest selection.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Annotated, Any, Iterable, Literal, Mapping

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from bench import _data, boards, project
from bench.errors import ConfigError
from bench.limits import (
    CATALOGUE_PATH,
    Catalogue,
    Limit,
    Limits,
    load_catalogue,
    make_limit,
    parse_quantity,
    split_variant,
)
from bench.yamlconf import Lines, compose, duplicate_keys, line_of, load_yaml

PLANS_DIR = project.builtin_folder("test_plans")  # glassbench's own plans (read only)
DEFAULT_BENCH = "fixtures/benches/reference.yaml"

Severity = Literal["blocker", "critical", "normal", "minor", "trivial"]
Seconds = Annotated[float, BeforeValidator(lambda v: parse_quantity(v, "s"))]
Number = float | str  # a plain number in the catalogue unit, or a quantity string such as "80 ms"


class PlanError(ConfigError):
    """A plan that does not validate; `.problems` holds (file:line, field, message) triples."""

    def __init__(self, problems: list[tuple[str, str, str]]):
        self.problems = problems
        lines = [f"{where}: {fld}: {msg}" if fld else f"{where}: {msg}" for where, fld, msg in problems]
        super().__init__(lines[0] if len(lines) == 1 else f"{len(lines)} problems in the test plan: " + "; ".join(lines))


@dataclass(frozen=True)
class Marks:
    """Where each key of a YAML file is: `where(path)` → "file:line"."""

    source: str
    lines: Lines

    def where(self, path: tuple) -> str:
        return f"{self.source}:{line_of(self.lines, tuple(path))}"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Dut(_Model):
    """Which DUT the plan is for; None means any."""

    board: str | None = None
    sku: str | None = None


class LinkSettings(_Model):
    """BLE link parameters the bench should set up (None: the DUT's default)."""

    interval_s: Seconds | None = Field(None, ge=0.0075, le=4.0)
    phy: Literal["1M", "2M"] | None = None
    data_length: int | None = Field(None, ge=27, le=251)
    mtu: int | None = Field(None, ge=23, le=517)
    per: float | None = Field(None, ge=0.0, le=1.0)
    jitter_s: Seconds | None = Field(None, ge=0.0)


class FuzzBudget(_Model):
    """Budget for property-based fuzzing (hypothesis settings)."""

    max_examples: int = Field(100, ge=1)
    stateful_steps: int = Field(50, ge=1)
    seed: int | None = None
    time_budget_s: Seconds | None = Field(None, gt=0)


class Parameters(_Model):
    """Knobs the suites read through the plugin's plan fixture."""

    trials: int = Field(1, ge=1)
    codecs: list[Literal["lc3", "opus", "pcm"]] = Field(default_factory=list)
    link: LinkSettings = Field(default_factory=LinkSettings)
    fuzz: FuzzBudget | None = None
    extra: dict[str, Any] = Field(default_factory=dict)


class Bound(_Model):
    """A low/high window; `marginal` is the width of the band just inside the window."""

    low: Number | None = None
    high: Number | None = None
    marginal: Number | None = None


class LimitSpec(Bound):
    """Default window for every SKU, per-SKU overrides (merged field by field), requirement ids."""

    requirement: str | list[str] | None = None
    sku: dict[str, Bound] = Field(default_factory=dict)

    def requirement_ids(self) -> tuple[str, ...]:
        r = self.requirement
        return () if r is None else (r,) if isinstance(r, str) else tuple(r)


class Requirement(_Model):
    """A requirement the plan verifies; `tests` are glob patterns on test names linked to it."""

    title: str
    tests: list[str] = Field(default_factory=list)


class Plan(_Model):
    """One test plan. `source` is the file it came from."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    description: str = ""
    dut: Dut = Field(default_factory=Dut)
    bench: str = DEFAULT_BENCH
    suites: list[str] = Field(min_length=1)
    markers: str | None = None
    keywords: str | None = None
    parameters: Parameters = Field(default_factory=Parameters)
    limits: dict[str, LimitSpec] = Field(default_factory=dict)
    requirements: dict[str, Requirement] = Field(default_factory=dict)
    requirement_url: str = "{id}"
    default_severity: Severity = "normal"
    severity: dict[str, Severity] = Field(default_factory=dict)
    source: Path = Path("<memory>")

    def limits_table(self) -> Limits:
        """Resolved limits (validated at load time, so this does not raise for a loaded plan)."""
        return _resolve_limits(self, load_catalogue(), None)

    def severity_of(self, test_name: str, markers: Iterable[str] = ()) -> Severity:
        """Severity for a test: the first `severity` key that matches — a glob on its name, or ``@marker``
        for a test with that marker (``"@smoke": critical``) — else the default."""
        marks = set(markers)
        for pattern, level in self.severity.items():
            if pattern.startswith("@") and pattern[1:] in marks or fnmatchcase(test_name, pattern):
                return level
        return self.default_severity

    def requirements_of(self, test_name: str) -> list[str]:
        """Requirement ids whose `tests` globs match the test name."""
        return [rid for rid, req in self.requirements.items() if any(fnmatchcase(test_name, p) for p in req.tests)]


def find_plan(name_or_path: str | Path) -> Path:
    """A path as given if it exists, else <name>.yaml in the project's test_plans, then the built-ins."""
    try:
        return project.current().find("test_plans", name_or_path)
    except ConfigError as exc:
        raise PlanError([(str(name_or_path), "", str(exc).removeprefix(f"{ConfigError.TAG}: ")
                          .removeprefix(f"{name_or_path}: "))]) from None


def resolve_suite(plan: Plan, suite: str) -> Path:
    """A suite path: absolute as given, else under the project root; a built-in plan's suite missing
    there is taken from glassbench's own checkout."""
    p = Path(suite)
    if p.is_absolute():
        return p
    here = project.current().root / p
    builtin = _data.root() / p
    if not here.exists() and builtin.exists() and _is_builtin(plan):
        return builtin
    return here


def resolve_bench(plan: Plan, bench: str | Path | None = None) -> Path:
    """The bench file for a run: ``bench`` if given, else the plan's, found as config.find_bench does."""
    from bench.config import find_bench
    return find_bench(bench or plan.bench)


def _is_builtin(plan: Plan) -> bool:
    try:
        return Path(plan.source).resolve().is_relative_to(_data.root().resolve())
    except OSError:
        return False


def load_plan(name_or_path: str | Path, catalogue: Catalogue | None = None) -> Plan:
    """Load and validate a plan; raises PlanError listing every problem with file:line and field."""
    path = find_plan(name_or_path)
    try:
        data, lines = load_yaml(path, refuse_duplicates=False)
    except ConfigError as exc:  # "CONFIG ERROR: file:line: not valid YAML: ..."
        where, _, msg = str(exc).removeprefix(f"{ConfigError.TAG}: ").partition(": ")
        raise PlanError([(where, "", msg)]) from None
    marks = Marks(str(path), lines)
    duplicates = duplicate_keys(compose(path), path)
    if duplicates:
        raise PlanError(duplicates)
    if not isinstance(data, dict):
        raise PlanError([(f"{path}:1", "", f"expected a mapping of plan fields, got {type(data).__name__}")])
    if "source" in data:
        raise PlanError([(marks.where(("source",)), "source", "reserved field (set by the loader)")])
    try:
        plan = Plan.model_validate({**data, "source": path})
    except ValidationError as exc:
        problems = [_pydantic_problem(err, marks) for err in exc.errors()]
        first = {(w, f): (w, f, m) for w, f, m in reversed(problems)}  # one problem per field
        raise PlanError(sorted(first.values(), key=problems.index)) from None
    problems = check_plan(plan, catalogue or load_catalogue(), marks)
    if problems:
        raise PlanError(problems)
    return plan


def check_plan(plan: Plan, cat: Catalogue, marks: Marks) -> list[tuple[str, str, str]]:
    """Checks beyond the schema: catalogue names and units, limit windows, references."""
    problems: list[tuple[str, str, str]] = []

    def add(path: tuple, msg: str) -> None:
        problems.append((marks.where(path), ".".join(map(str, path)), msg))

    if plan.dut.board is not None and plan.dut.board not in boards.names():
        add(("dut", "board"), f"unknown board {plan.dut.board!r} (known: {', '.join(boards.names())})")
    if plan.dut.sku is not None and plan.dut.sku not in cat.skus:
        add(("dut", "sku"), f"unknown SKU {plan.dut.sku!r} (known: {', '.join(cat.skus)})")
    for rid, req in plan.requirements.items():
        if not req.tests and not any(rid in s.requirement_ids() for s in plan.limits.values()):
            add(("requirements", rid), "requirement is linked to no test and no limit")
    _resolve_limits(plan, cat, add)
    return problems


def _resolve_limits(plan: Plan, cat: Catalogue, add) -> Limits:
    table: dict[tuple[str, str | None], Limit] = {}
    for key, spec in plan.limits.items():
        where = ("limits", key)
        try:
            base, variant = split_variant(key)
        except ValueError as exc:
            add(where, str(exc))
            continue
        entry = cat.measurements.get(base)
        if entry is None:
            near = difflib.get_close_matches(base, list(cat.measurements), n=3, cutoff=0.5)
            hint = f"did you mean {' or '.join(near)}?" if near else f"add it to {CATALOGUE_PATH.name} first"
            add(where, f"unknown measurement {base!r} (not in the catalogue {CATALOGUE_PATH.name}; {hint})")
            continue
        if variant is not None and variant not in cat.variants:
            add(where, f"unknown variant {variant!r} (known: {', '.join(cat.variants)})")
        for rid in spec.requirement_ids():
            if rid not in plan.requirements:
                add(where + ("requirement",), f"unknown requirement id {rid!r} (define it under requirements:)")
        for sku, bound in [(None, spec)] + list(spec.sku.items()):
            bwhere = where if sku is None else where + ("sku", sku)
            if sku is not None and sku not in cat.skus:
                add(bwhere, f"unknown SKU {sku!r} (known: {', '.join(cat.skus)})")
                continue
            values = {}
            for fld in ("low", "high", "marginal"):
                raw = getattr(bound, fld)
                if sku is not None and raw is None:
                    raw = getattr(spec, fld)  # a per-SKU override inherits the default field by field
                try:
                    values[fld] = None if raw is None else parse_quantity(raw, entry.unit)
                except ValueError as exc:
                    add(bwhere + (fld,), str(exc))
                    values[fld] = None
            if sku is None and all(v is None for v in values.values()) and not spec.sku:
                add(where, "limit has neither low nor high")
                continue
            try:
                table[(key, sku)] = make_limit(
                    key, entry.unit, values["low"], values["high"], values["marginal"], spec.requirement_ids()
                )
            except ValueError as exc:
                add(bwhere, str(exc))
    return Limits(table)


_UNION_TAGS = {"float", "int", "str", "bool", "none", "list", "dict"}


def _pydantic_problem(err: Mapping[str, Any], marks: Marks) -> tuple[str, str, str]:
    # pydantic puts union member tags ("float", "literal['1M','2M']", "function-after[...]") into loc
    loc = tuple(
        p for p in err["loc"]
        if not (isinstance(p, str) and (p in _UNION_TAGS or "[" in p or p.startswith("function-")))
    )
    field = ".".join(map(str, loc))
    if err["type"] == "extra_forbidden":
        msg = "unknown field"
    elif err["type"] == "missing":
        msg = "required field is missing"
    else:
        msg = f"{err['msg']} (got {err.get('input')!r})"
    return marks.where(loc), field, msg


def plan_to_pytest_args(plan: Plan) -> list[str]:
    """pytest arguments that select the plan's suites and hand the plan to the glassbench plugin."""
    args = [str(resolve_suite(plan, s)) for s in plan.suites]
    if plan.markers:
        args += ["-m", plan.markers]
    if plan.keywords:
        args += ["-k", plan.keywords]
    return args + ["--plan", str(plan.source)]


def limits_source(plan: Plan, sku: str | None = None):
    """For the measurement Recorder: name (may carry "[variant]") → its Limit for ``sku``, or None."""
    table = plan.limits_table()

    def source(name: str) -> Limit | None:
        return table.get(name, sku=sku)

    return source
