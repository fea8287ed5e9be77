"""Runs that never mix: each ``bench run`` / ``bench demo`` writes ``out/runs/<run-id>/``.

A run folder holds everything of one run — allure-results/, junit.xml, measurements.jsonl (every record
carries the run id, plan, board, SKU, firmware and commit), console.log, reference-bench.log, report.html,
run.json — and ``out/latest`` points at the last one. The Allure history is kept per plan in
``out/history/<plan>.jsonl``, outside the run folders, so trends survive a new run (and ``make clean``,
which keeps out/history unless ``make clean-history``). Under pytest-xdist each worker's bench session
writes its logs in ``<run>/workers/<gwN>/`` so consoles do not interleave.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest

RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def new_run_id(plan: str, now_s: float | None = None) -> str:
    """"20261202-154510-demo": sortable by time, names its plan (plain pytest: "pytest")."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(time.time() if now_s is None else now_s))
    return f"{stamp}-{re.sub(r'[^A-Za-z0-9_-]', '_', plan or 'pytest')}"


@dataclass(frozen=True)
class RunDirs:
    """Where one run writes. ``out`` is the project's out folder, ``run`` the run's own folder."""

    out: Path
    run_id: str
    plan: str

    @property
    def run(self) -> Path:
        return self.out / "runs" / self.run_id

    @property
    def allure_results(self) -> Path:
        return self.run / "allure-results"

    @property
    def junit(self) -> Path:
        return self.run / "junit.xml"

    @property
    def measurements(self) -> Path:
        return self.run / "measurements.jsonl"

    @property
    def report(self) -> Path:
        return self.run / "report.html"

    @property
    def history(self) -> Path:
        return history_path(self.out, self.plan)


def history_path(out: str | Path, plan: str) -> Path:
    """The Allure history file of a plan: trends compare runs of the same plan only."""
    return Path(out) / "history" / f"{plan or 'pytest'}.jsonl"


def new_run(out: str | Path, plan: str, run_id: str | None = None) -> RunDirs:
    """A fresh run folder (a second run in the same second gets "-2", "-3", …); nothing else is touched."""
    base = run_id or new_run_id(plan)
    if not RUN_ID.match(base):
        raise ValueError(f"run id {base!r}: letters, digits, '.', '_' and '-' only")
    candidate, n = base, 1
    while (Path(out) / "runs" / candidate).exists():
        n += 1
        candidate = f"{base}-{n}"
    dirs = RunDirs(Path(out), candidate, plan)
    dirs.run.mkdir(parents=True)
    return dirs


def point_latest(dirs: RunDirs) -> Path:
    """``out/latest`` → ``runs/<run-id>`` (relative, replaced atomically)."""
    link = dirs.out / "latest"
    tmp = dirs.out / f".latest-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    os.symlink(Path("runs") / dirs.run_id, tmp)
    os.replace(tmp, link)
    return link


@dataclass
class RunInfo:
    """What a run is: written to run.json, into every measurement record and as JUnit suite properties."""

    run_id: str
    plan: str = ""
    bench: str = ""
    board: str = ""
    sku: str = ""
    firmware: str = ""
    commit: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def record(self) -> dict[str, str]:
        data = {k: v for k, v in asdict(self).items() if k != "extra"}
        return {**data, **self.extra}


def write_run_json(folder: str | Path, info: RunInfo, **more: Any) -> Path:
    path = Path(folder) / "run.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**info.record(), **more}, indent=2) + "\n", encoding="utf-8")
    return path


# -- pytest side ---------------------------------------------------------------------------------

def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("glassbench").addoption(
        "--run-id", default=os.environ.get("GLASSBENCH_RUN_ID"),
        help="run id stamped on every measurement record and JUnit (bench run/demo set it; default: a new one)")


def run_info(config: pytest.Config) -> RunInfo:
    """This session's RunInfo (made once: run id from --run-id or new, commit from git)."""
    info = getattr(config, "_glassbench_run", None)
    if info is None:
        from bench.report.allure import git_commit

        plan = getattr(config, "_glassbench_plan", None)
        bench = getattr(config, "_glassbench_bench", None)
        info = RunInfo(run_id=config.getoption("--run-id", default=None) or new_run_id(plan.name if plan else ""),
                       plan=plan.name if plan else "", bench=bench.name if bench else "",
                       board=bench.dut.board if bench else "", sku=bench.dut.sku if bench else "",
                       commit=git_commit())
        config._glassbench_run = info  # type: ignore[attr-defined]
    return info


def firmware_of(session: Any) -> str:
    """The DUT's firmware version as far as the session knows it (DIS, else the boot banner), or ""."""
    dut = getattr(session, "_dut", None)
    if dut is None:
        return ""
    boot = getattr(dut, "last_boot", None)
    return (getattr(dut, "info", None) or {}).get("firmware_revision") or (boot.firmware_version if boot else "")


def firmware_text(device: Any) -> str:
    """", firmware 1.4.2" from Device Information (read once, for the run's records), or "" if unreadable."""
    if not device.info:
        try:
            device.device_info()
        except Exception:  # noqa: BLE001 - a DUT without DIS still runs; its firmware is then unknown
            return ""
    version = device.info.get("firmware_revision", "")
    return f", firmware {version}" if version else ""


def note_firmware(config: pytest.Config, session: Any, context: dict[str, Any] | None = None) -> None:
    """The DUT's firmware, once known, into the run info (and a recorder's context)."""
    info = run_info(config)
    info.firmware = info.firmware or firmware_of(session)
    if context is not None and info.firmware:
        context["firmware"] = info.firmware


def worker_folder(out: Path) -> Path:
    """A pytest-xdist worker's own folder inside the run (the run folder itself without xdist)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    return out / "workers" / worker if worker else out


@pytest.fixture(scope="session", autouse=True)
def _glassbench_run_properties(request: pytest.FixtureRequest, record_testsuite_property: Any) -> Iterator[None]:
    """The run's identity as JUnit test-suite properties (written at the end, when the firmware is known)."""
    yield
    config = request.config
    info = run_info(config)
    info.firmware = info.firmware or firmware_of(getattr(config, "_glassbench_session", None))
    for name, value in info.record().items():
        if value:
            record_testsuite_property(name, value)
