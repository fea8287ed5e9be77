"""Single-file HTML report from Allure results, with Allure 3 (npm `allure`, installed by `make setup`).

Generation is offline: the CLI runs from the repo's node_modules, history is a local JSONL file, and
the analytics tag that Allure 3 embeds is stripped so the report makes no outside requests.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import _data, project
from bench.report.allure import CATEGORIES


def _allure_bin() -> Path:
    """node_modules/.bin/allure of the project (``npm ci`` there), else of glassbench's own checkout."""
    for root in (project.current().root, _data.root()):
        if (root / "node_modules" / ".bin" / "allure").exists():
            return root / "node_modules" / ".bin" / "allure"
    return project.current().root / "node_modules" / ".bin" / "allure"


ALLURE_BIN = _allure_bin()  # as found at import; allure_command() looks again
HISTORY_LIMIT = 50

_ANALYTICS = re.compile(
    r'<script async src="https://www\.googletagmanager\.com/[^"]*"></script>\s*<script>\s*window\.dataLayer.*?</script>',
    re.S,
)


class ReportError(RuntimeError):
    """The report could not be generated; the message says why and how to fix it."""


@dataclass
class ReportInfo:
    """What was generated: the HTML path and the counts Allure computed."""

    html: Path
    stats: dict[str, int]
    tests: list[dict] = field(default_factory=list)  # {"id", "name", "status"} per test result
    history: Path | None = None


def allure_command() -> list[str]:
    """The local Allure 3 CLI; raises ReportError with the fix when it is not installed."""
    allure_bin = _allure_bin()
    if allure_bin.exists():
        return [str(allure_bin)]
    if shutil.which("node") is None:
        raise ReportError("Node.js is not installed: `apt-get install -y nodejs npm`, then `make setup`")
    raise ReportError(f"Allure 3 is not installed ({allure_bin} missing): run `npm ci` in {project.current().root} "
                      "(or `make setup`)")


def result_files(results_dir: Path) -> list[Path]:
    return sorted(results_dir.glob("*-result.json"))


def generate_report(
    results_dir: str | Path,
    output: str | Path,
    *,
    name: str = "glassbench",
    history: str | Path | None = "auto",
    timeout_s: float = 180.0,
) -> ReportInfo:
    """Write a single-file report to `output` (e.g. out/report.html) and `output`.json with the counts.

    `history` is the Allure 3 history file that carries trends between runs; "auto" puts it next to
    the report (out/allure-history.jsonl), None disables history.
    """
    results = Path(results_dir).resolve()
    out = Path(output).resolve()
    if not results.is_dir():
        raise ReportError(f"{results_dir}: no such results directory (run pytest with --alluredir first)")
    if not result_files(results):
        raise ReportError(f"{results_dir}: no *-result.json files (expected the output of pytest --alluredir)")
    history_path = out.parent / "allure-history.jsonl" if history == "auto" else (Path(history) if history else None)
    cmd = allure_command()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="glassbench-report-") as tmp:
        tmpdir = Path(tmp)
        # environment.properties is read from the results dir; Allure 3 shows it as "Metadata"
        config: dict[str, Any] = {"name": name, "categories": _categories(results)}
        if history_path is not None:
            config.update(historyPath=str(history_path.resolve()), historyLimit=HISTORY_LIMIT)
        (tmpdir / "allurerc.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
        gen_dir = tmpdir / "report"
        shown = quiet_fixtures(results, tmpdir / "results")
        argv = cmd + ["awesome", str(shown), "--single-file", "-o", str(gen_dir),
                      "--config", str(tmpdir / "allurerc.json"), "--name", name]
        env = {**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "0"}
        try:
            proc = subprocess.run(argv, cwd=tmpdir, capture_output=True, text=True, timeout=timeout_s, env=env)
        except subprocess.TimeoutExpired:
            raise ReportError(f"allure did not finish within {timeout_s:.0f} s: {' '.join(argv)}") from None
        index = gen_dir / "index.html"
        # Allure 3 prints "successfully generated" and exits 0 even when a plugin threw: check the file.
        if proc.returncode != 0 or not index.exists():
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            raise ReportError(f"allure failed (exit {proc.returncode}, index.html "
                              f"{'written' if index.exists() else 'missing'}):\n{tail}")
        html = _ANALYTICS.sub("", index.read_text(encoding="utf-8"))
        out.write_text(html, encoding="utf-8")
        summary = _load_json(gen_dir / "summary.json")
        tests = _load_json(gen_dir / "test-results.json").get("byId", {})
    info = ReportInfo(
        html=out,
        stats={k: int(v) for k, v in summary.get("stats", {}).items()},
        tests=[{"id": k, "name": v.get("name"), "status": v.get("status")} for k, v in tests.items()],
        history=history_path,
    )
    sidecar = {"html": str(out), "stats": info.stats, "tests": info.tests,
               "history": str(history_path) if history_path else None}
    out.with_suffix(".json").write_text(json.dumps(sidecar, indent=2) + "\n", encoding="utf-8")
    return info


def quiet_fixtures(results: Path, into: Path) -> Path:
    """A view of ``results`` in which fixture set-up and tear-down (Allure containers' befores/afters) appear
    only when they failed or attached something: a passing ``codec`` fixture is not a step QA needs to read.
    Result and attachment files are hard-linked (copied across file systems; Allure does not follow symbolic
    links); the results folder itself is left as it was."""
    into.mkdir(parents=True, exist_ok=True)
    for path in results.iterdir():
        if not path.is_file():
            continue
        target = into / path.name
        if path.name.endswith("-container.json"):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                _link(path, target)
                continue
            for key in ("befores", "afters"):
                data[key] = [f for f in data.get(key, []) if _worth_showing(f)]
            target.write_text(json.dumps(data), encoding="utf-8")
        else:
            _link(path, target)
    return into


def _link(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _worth_showing(fixture: dict) -> bool:
    if fixture.get("status") in ("failed", "broken"):
        return True
    if fixture.get("attachments"):
        return True
    return any(_worth_showing(step) for step in fixture.get("steps", []))


def _categories(results: Path) -> list[dict]:
    """categories.json from the results if the run wrote one, else glassbench's defaults."""
    path = results / "categories.json"
    if path.exists():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, list) and all(isinstance(c, dict) and c.get("name") for c in data):
                return data
        except json.JSONDecodeError:
            pass
        raise ReportError(f"{path}: expected a JSON list of categories with names (Allure categories.json)")
    return CATEGORIES


def _load_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
