"""The glassbench pytest plugin: ``--bench``, the ``bench``/``dut``/``measure`` fixtures, markers.

Registered through the ``pytest11`` entry point, so any pytest run in an environment with glassbench
installed has it. The reference bench starts only when a test asks for ``bench`` or ``dut``.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

import bench
from bench.config import BenchConfig, load_bench
from bench.errors import BenchError
from bench.measure import Measurement, Recorder

pytest_plugins = ["bench.dut.glp_fixtures"]

MARKERS = {
    "ble": "needs the DUT's BLE link",
    "serial": "needs the DUT's serial console",
    "hardware": "needs real hardware (skipped on the reference bench)",
    "reference": "needs the reference bench (its fault switches or ground truth)",
    "slow": "takes more than a few seconds",
    "protocol": "phone–glasses protocol (GLP) conformance",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("glassbench")
    group.addoption("--bench", default=os.environ.get("GLASSBENCH_BENCH"),
                    help="bench YAML (default: fixtures/benches/reference.yaml, the reference bench)")
    group.addoption("--bench-out", default=os.environ.get("GLASSBENCH_OUT", "out"),
                    help="output folder for measurements.jsonl, console logs (default: out)")


def pytest_configure(config: pytest.Config) -> None:
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")


@pytest.fixture(scope="session")
def bench_config(pytestconfig: pytest.Config) -> BenchConfig:
    """The validated bench file."""
    return load_bench(pytestconfig.getoption("--bench"))


@pytest.fixture(scope="session")
def bench_out(pytestconfig: pytest.Config) -> Path:
    out = Path(pytestconfig.getoption("--bench-out"))
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture(scope="session")
def bench(bench_config: BenchConfig, bench_out: Path) -> Iterator[Any]:
    """The bench session: the reference bench process (if the bench file has one) and the loop."""
    from bench.session import BenchSession

    session = BenchSession(bench_config, bench_out)
    try:
        session.start()
    except BenchError:
        session.close()
        raise
    yield session
    _write_allure_environment(session)
    session.close()


@pytest.fixture
def dut(bench: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """The device under test, connected and health-checked; crashes during the test are reported."""
    if request.node.get_closest_marker("hardware") and bench.config.reference is not None:
        pytest.skip("needs real hardware; this is the reference bench")
    device = bench.dut
    device.allow_reboot = False
    device.health_check()
    mark = device.console.mark() if device.console is not None else 0
    yield device
    if device.console is not None:
        device.console.check_no_crash(mark, allow_reboot=device.allow_reboot)


@pytest.fixture(scope="session")
def recorder(bench_out: Path, bench_config: BenchConfig) -> Recorder:
    return Recorder(bench_out / "measurements.jsonl",
                    context={"bench": bench_config.name, "board": bench_config.dut.board, "sku": bench_config.dut.sku})


@pytest.fixture
def measure(recorder: Recorder, request: pytest.FixtureRequest) -> Callable[..., Measurement]:
    """``measure(name, value, unit, low=None, high=None)``: record and judge one measurement."""
    def _measure(name: str, value: float, unit: str, low: float | None = None, high: float | None = None,
                 **kwargs: Any) -> Measurement:
        return recorder.measure(request.node.nodeid, name, value, unit, low, high, **kwargs)
    return _measure


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              timeout=5, cwd=Path(__file__).parent).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _write_allure_environment(session: Any) -> None:
    """environment.properties for the Allure report (firmware, board, SKU, serial, bench, harness)."""
    alluredir = getattr(session, "alluredir", None) or os.environ.get("GLASSBENCH_ALLUREDIR")
    if not alluredir:
        return
    props = {"bench": session.config.name, "board": session.config.dut.board, "sku": session.config.dut.sku,
             "harness.version": bench.__version__, "harness.commit": _git_commit()}
    dut = session._dut
    if dut is not None and dut.last_boot is not None:
        props["firmware.version"] = dut.last_boot.firmware_version
    path = Path(alluredir) / "environment.properties"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    alluredir = session.config.getoption("allure_report_dir", default=None)
    if alluredir:
        os.environ["GLASSBENCH_ALLUREDIR"] = str(alluredir)
