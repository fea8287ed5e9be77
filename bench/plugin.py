"""The glassbench pytest plugin: ``--bench``, the ``bench``/``dut``/``measure`` fixtures, markers.

Registered through the ``pytest11`` entry point, so any pytest run in an environment with glassbench
installed has it. The reference bench starts only when a test asks for ``bench`` or ``dut``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from bench import project
from bench.config import BenchConfig, load_bench
from bench.errors import BenchError, BenchFault, BenchOverloaded, ConfigError, DutTimeout, LinkLost
from bench.measure import Measurement, Recorder
from bench.plan import limits_source, load_plan
from bench.recovery import DutHung, for_session
from bench.report.allure import (
    EnvironmentInfo,
    apply_allure_labels,
    write_categories,
    write_environment,
    write_executor,
)
from bench.report.evidence import measurements_of
from bench.report.runs import firmware_text, note_firmware
from bench.stopped_tests import report_recovery


# fixtures of each area live next to their code; each device profile may bring its own
def _plugins() -> list[str]:
    from bench.profiles import load_profiles

    mods = ["bench.power.fixtures", "bench.audio.fixtures", "bench.report.evidence", "bench.report.runs",
            "bench.report.progress", "bench.pool_plugin", "bench.stopped_tests"]
    for profile in load_profiles().values():
        mods += [m for m in profile.fixtures if m not in mods]
    return mods


pytest_plugins = _plugins()

MARKERS = {
    "smoke": "area: smoke (advertise, connect, identity, reboot)",
    "protocol": "area: phone–glasses protocol (GLP) conformance",
    "latency": "area: audio latency",
    "power": "area: power per device state",
    "fuzz": "area: protocol fuzzing and corpus replay",
    "ota": "area: firmware update",
    "audio": "needs an audio-capable DUT",
    "camera": "needs a camera SKU",
    "requirement(id, ...)": "links the test to requirement ids (Allure links)",
    "severity(level)": "Allure severity (blocker, critical, normal, minor, trivial); wins over the plan's",
    "ble": "needs the DUT's BLE link",
    "serial": "needs the DUT's serial console",
    "hardware": "needs real hardware (skipped on the reference bench)",
    "recovery": "hangs the DUT on purpose (the recovery ladder brings it back)",
    "reference": "needs the reference bench (its fault switches or ground truth)",
    "slow": "takes more than a few seconds",
    "on_dut(board=, sku=, profile=, capability=, id=)": "runs on a DUT that fits (a pool leases one; a single bench skips)",
    "second_dut(board=, sku=, ...)": "what the second_dut fixture's DUT must fit (bench/pool.py)",
    "needs(capability, ...)": "skips unless the DUT has these capabilities (bench/capabilities.py: audio_uplink, ...)",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("glassbench")
    group.addoption("--bench", default=os.environ.get("GLASSBENCH_BENCH"),
                    help="bench YAML (default: fixtures/benches/reference.yaml, the reference bench)")
    group.addoption("--bench-out", default=os.environ.get("GLASSBENCH_OUT"),
                    help="output folder for measurements.jsonl, console logs (default: the project's out)")
    group.addoption("--plan", default=os.environ.get("GLASSBENCH_PLAN"),
                    help="test plan (name in test_plans/ or path): limits, parameters, Allure labels")
    group.addoption("--lg-place", default=os.environ.get("LG_PLACE"), metavar="PLACE",
                    help="the labgrid place to reserve and acquire (overrides the bench file's lab.place)")
    group.addoption("--flash", default=os.environ.get("GLASSBENCH_FLASH"), metavar="IMAGE",
                    help="flash IMAGE with the bench file's dut.flash driver before the session's first DUT test")


def _terminated(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")  # pytest then tears down and writes junit, Allure files, measurements


def _retry_overloaded(config: pytest.Config) -> None:
    """A test the host starved (BENCH OVERLOADED, bench/faults.py) is run again, up to
    $GLASSBENCH_BENCH_RETRIES times (default 2), through pytest-rerunfailures: the bench, not the DUT,
    failed it, and a retry on a quieter moment is evidence again. Nothing else is retried; a user's own
    --reruns wins."""
    if not config.pluginmanager.hasplugin("rerunfailures") or getattr(config.option, "reruns", None):
        return
    retries = int(os.environ.get("GLASSBENCH_BENCH_RETRIES", "2"))
    if retries > 0:
        config.option.reruns = retries
        config.option.only_rerun = [*(getattr(config.option, "only_rerun", None) or []), BenchOverloaded.TAG]


def pytest_configure(config: pytest.Config) -> None:
    import signal
    import threading

    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _terminated)  # a CI job cancelled, a `kill`: end like Ctrl-C, not mid-write
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    _retry_overloaded(config)
    project.use(config.rootpath)  # plans, benches, boards, corpus and out are looked up from here
    plan = config.getoption("--plan", default=None)
    try:  # a bad plan or bench file is one line and exit 4, not an error in every test
        config._glassbench_plan = load_plan(plan) if plan else None  # type: ignore[attr-defined]
        from bench.pool_plugin import install_pool

        if not install_pool(config):  # --bench names a DUT pool: the pool plugin leases a DUT per worker
            config._glassbench_bench = load_bench(config.getoption("--bench", default=None))  # type: ignore[attr-defined]
            place = config.getoption("--lg-place", default=None)
            if place:
                from bench.lab.config import with_place

                config._glassbench_bench = with_place(config._glassbench_bench, place)  # type: ignore[attr-defined]
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    plan = getattr(config, "_glassbench_plan", None)
    if plan is not None:
        for item in items:
            apply_allure_labels(item, plan)


@pytest.fixture(scope="session")
def plan(pytestconfig: pytest.Config) -> Any:
    """The test plan given with --plan (bench.plan.Plan), or None."""
    return getattr(pytestconfig, "_glassbench_plan", None)


@pytest.fixture(scope="session")
def bench_config(pytestconfig: pytest.Config) -> BenchConfig:
    """The validated bench file (validated once, at start-up)."""
    return getattr(pytestconfig, "_glassbench_bench", None) or load_bench(pytestconfig.getoption("--bench"))


@pytest.fixture(scope="session")
def run_out(pytestconfig: pytest.Config) -> Path:
    """The run's output folder (--bench-out; `bench run` gives out/runs/<run-id>): measurements.jsonl."""
    out = Path(pytestconfig.getoption("--bench-out") or project.current().out)
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture(scope="session")
def bench_out(run_out: Path) -> Path:
    """Where this session's bench writes its logs: the run folder, or its workers/<gwN> under xdist."""
    from bench.report.runs import worker_folder

    out = worker_folder(run_out)
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture(scope="session")
def bench(bench_config: BenchConfig, bench_out: Path, pytestconfig: pytest.Config) -> Iterator[Any]:
    """The bench session: the reference bench process (if the bench file has one) and the loop."""
    session = open_session(pytestconfig, bench_config, bench_out)
    yield session
    _write_allure_files(pytestconfig, session)
    note_firmware(pytestconfig, session)
    session.close()


def open_session(pytestconfig: pytest.Config, bench_config: BenchConfig, out_dir: Path) -> Any:
    """A started BenchSession on ``bench_config`` (the plan's radio, Allure files, --flash); also used by
    the DUT pool (bench/pool_plugin.py) for each DUT it leases."""
    from bench.session import BenchSession

    plan = getattr(pytestconfig, "_glassbench_plan", None)
    session = BenchSession(with_plan_radio(bench_config, plan), out_dir)
    session.plan = plan  # type: ignore[attr-defined]  # the DUT asks for the plan's link settings
    session.bench_file = pytestconfig.getoption("--bench", default=None)  # type: ignore[attr-defined]  # fuzz replay commands
    pytestconfig._glassbench_session = session  # type: ignore[attr-defined]  # failure evidence, run info
    try:
        session.start()
        _write_allure_files(pytestconfig, session)  # now, and again at the end: a run killed -9 still has them
        image = pytestconfig.getoption("--flash", default=None)
        if image:
            _flash_before_session(pytestconfig, session, image)
    except BenchError:
        session.close()
        raise
    return session


@pytest.fixture
def dut(bench: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """The device under test, connected and health-checked; crashes during the test are reported."""
    if request.node.get_closest_marker("hardware") and bench.config.reference is not None:
        pytest.skip("needs real hardware; this is the reference bench")
    ref = bench.reference
    if ref is not None and (not ref.alive or ref.stopped):
        fault = BenchFault(f"the reference bench {'is frozen' if ref.alive else 'is gone'} "
                           f"(see {bench.out_dir / 'reference-bench.log'}): the DUT tests cannot run", stop=True)
        request.session.shouldstop = str(fault)
        raise fault
    device = bench.dut
    device.allow_reboot = False
    recovery = for_session(bench)
    if recovery.dead is not None:
        raise DutHung(f"not tested: an earlier test left the DUT unrecoverable ({recovery.dead})")
    try:
        device.health_check()
    except (DutTimeout, LinkLost) as exc:
        if not bench.config.dut.recovery.enabled:
            raise
        outcome = recovery.recover(f"health check before the test: {exc}")
        report_recovery(request.node, outcome)
        if not outcome.recovered:
            raise DutHung(outcome.summary()) from exc
    if not getattr(bench, "capabilities_reported", False):
        bench.capabilities_reported = True
        line = (f"DUT {device.identity.board}/{device.identity.sku}{firmware_text(device)}, profile "
                f"{device.profile.name}: capabilities {', '.join(sorted(device.capabilities))}")
        reporter = request.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(line)
    from bench.pool_plugin import check_on_dut

    check_on_dut(request.node, bench)  # on_dut(board=, sku=, ...) against a single bench's DUT: skip if it differs
    for marker in request.node.iter_markers("needs"):
        for cap in marker.args:
            if device.get(cap) is None:
                pytest.skip(device.missing(cap))
    mark = device.console.mark() if device.console is not None else 0
    device.recovery_mark = 0
    device.test_started_s, device.test_mark = time.monotonic(), mark if device.console is not None else None
    yield device
    if device.console is not None:
        device.console.check_no_crash(max(mark, device.recovery_mark), allow_reboot=device.allow_reboot)


def _flash_before_session(config: pytest.Config, session: Any, image: str) -> None:
    from bench.flash import FlashError, from_bench

    driver = from_bench(session.config, session.endpoint)
    if driver is None:
        raise FlashError(f"--flash {image}: the bench file {session.config.name!r} has no dut.flash section")
    result = driver.flash(Path(image))
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"flashed {image}: {result.summary()}")


@pytest.fixture
def bonded_dut(dut: Any) -> Iterator[Any]:
    """The DUT paired and bonded the way the bench file says it pairs (``dut.ble.pairing``; passkey from
    ``dut.ble.passkey`` or the DUT's console); the bond is removed afterwards. Skips when the DUT does not pair."""
    if dut.pairing_mode in (None, "none"):
        pytest.skip(f"DUT pairing is {dut.pairing_mode or 'not declared (dut.ble.pairing)'}")
    if not dut.encrypted:  # pair_on_connect may have paired already
        dut.pair(passkey=dut.displayed_passkey if dut.pairing_mode == "passkey" else None)
    yield dut
    try:
        dut.unpair()
    except BenchError:
        pass
    dut.ensure_connected()  # and paired again if the bench says so: the next test finds the DUT as usual


@pytest.fixture(scope="session")
def recorder(run_out: Path, bench_config: BenchConfig, plan: Any, pytestconfig: pytest.Config) -> Recorder:
    """Measurements of this session; limits come from the plan (per the DUT's SKU) unless a test gives them.
    Every record says which run it belongs to (run id, plan, bench, board, SKU, commit; firmware once known)."""
    from bench.report.runs import run_info

    return Recorder(run_out / "measurements.jsonl", context=run_info(pytestconfig).record(),
                    limits_source=limits_source(plan, bench_config.dut.sku) if plan is not None else None)


@pytest.fixture
def measure(recorder: Recorder, request: pytest.FixtureRequest) -> Callable[..., Measurement]:
    """``measure(name, value, unit, low=None, high=None)``: record and judge one measurement."""
    def _measure(name: str, value: float, unit: str, low: float | None = None, high: float | None = None,
                 **kwargs: Any) -> Measurement:
        if not recorder.context.get("firmware"):
            note_firmware(request.config, getattr(request.config, "_glassbench_session", None), recorder.context)
        try:
            return recorder.measure(request.node.nodeid, name, value, unit, low, high, **kwargs)
        finally:  # the per-test table (bench/report/evidence.py) lists failed measurements too
            if recorder.measurements and recorder.measurements[-1].test == request.node.nodeid:
                measurements_of(request.node).append(recorder.measurements[-1])
    _measure.limit = recorder.limit_for  # type: ignore[attr-defined]  # measure.limit(name): the plan's Limit or None
    return _measure


def with_plan_radio(config: BenchConfig, plan: Any) -> BenchConfig:
    """The plan's radio-model link settings (data length, PER, jitter) applied to the reference bench's radio."""
    if plan is None or config.reference is None:
        return config
    p = plan.parameters.link
    ms = lambda v: None if v is None else v * 1000  # noqa: E731
    radio = {k: v for k, v in (("data_length", p.data_length), ("per", p.per), ("jitter_ms", ms(p.jitter_s)))
             if v is not None}
    if not radio:
        return config
    reference = config.reference.model_copy(update={"link": config.reference.link.model_copy(update=radio)})
    return config.model_copy(update={"reference": reference})


def _write_allure_files(config: pytest.Config, session: Any) -> None:
    """environment.properties and categories.json into the Allure results folder, if there is one."""
    alluredir = config.getoption("allure_report_dir", default=None)
    if not alluredir:
        return
    plan = getattr(config, "_glassbench_plan", None)
    dut = session._dut
    dis: dict[str, str] = {}
    if dut is not None:
        dis = dut.info
        if not dis and dut.connected:
            try:
                dis = dut.device_info()
            except Exception:  # noqa: BLE001 - the environment is best effort at the end of a session
                dis = {}
    boot = dut.last_boot if dut is not None else None
    info = EnvironmentInfo(
        firmware_version=dis.get("firmware_revision") or (boot.firmware_version if boot else ""),
        board=session.config.dut.board, sku=session.config.dut.sku, bench_id=session.config.name,
        plan=plan.name if plan else "", serial_number=dis.get("serial", ""))
    info.instruments.update(getattr(session, "instrument_identities", {}))
    if dut is not None and dut._capabilities is not None:
        info.profile, info.capabilities = dut.profile.name, sorted(dut._capabilities)
    if dut is not None:
        info.link = dut.link.environment()
    from bench.report.runs import run_info

    run = run_info(config)
    info.git_commit, info.run_id = run.commit, run.run_id
    write_environment(alluredir, info)
    write_categories(alluredir)
    write_executor(alluredir, run_id=run.run_id)


