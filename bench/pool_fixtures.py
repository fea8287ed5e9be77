"""Fixtures of a pool run (registered by bench.pool_plugin.install_pool): ``bench`` keyed by ``on_dut``.

Every test that uses ``bench`` gets one session-scoped parameter, its requirement: when it changes
between two tests, pytest tears down the session fixtures built on the DUT (rig, power meter, ...) and
the worker keeps or re-leases a DUT that fits. Without xdist the requirement is the test's ``on_dut``
(ids end in ``[any]``, ``[sku=audio]``); under xdist each test function is assigned one fitting DUT at
collection (the least loaded; ids end in ``[dut=ref-a]``) and the pool's scheduler sends all of one DUT's
tests to one worker, so no worker waits for a DUT an idle worker holds (an idle xdist worker keeps its
session fixtures, and so its lease).
"""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from bench.config import BenchConfig
from bench.measure import Recorder
from bench.plan import limits_source
from bench.pool import Requirement
from bench.pool_plugin import PoolState


def _state(config: pytest.Config) -> PoolState:
    return config._glassbench_pool  # type: ignore[attr-defined]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "bench" in metafunc.fixturenames:
        state = _state(metafunc.config)
        req = Requirement.of(metafunc.definition)
        if hasattr(metafunc.config, "workerinput"):  # an xdist worker: every test goes to one DUT, fixed at collection
            req = state.assign(req, metafunc.definition.nodeid)  # per test function: all its parameters on one DUT
        metafunc.parametrize("bench", [req], indirect=True, scope="session",
                             ids=[f"dut={req.id}" if req.id else req.key])


@pytest.hookimpl(optionalhook=True)  # a pool run without pytest-xdist installed has no such hook
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under xdist, a pool run is scheduled by DUT (whatever --dist says): see bench/pool_schedule.py."""
    from bench.pool_schedule import PoolScheduling

    return PoolScheduling(config, log, [d.id for d in _state(config).pool.duts])


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    if nextitem is None:  # this worker's last test, its session fixtures just torn down: close while output is captured
        _state(item.config).close()


def pytest_unconfigure(config: pytest.Config) -> None:
    _state(config).close()  # an interrupted run


@pytest.fixture(scope="session")
def bench(request: pytest.FixtureRequest, pytestconfig: pytest.Config) -> Iterator[Any]:
    """The session on this worker's leased DUT (one that fits the test's on_dut)."""
    from bench.plugin import _write_allure_files, open_session

    state = _state(pytestconfig)
    req = getattr(request, "param", Requirement())
    try:
        session = state.session_for(req, lambda dut, out: open_session(pytestconfig, dut.config, out))
    except LookupError as exc:
        pytest.skip(str(exc))
    yield session
    _write_allure_files(pytestconfig, session)  # the session stays open: the next test's requirement decides


@pytest.fixture(scope="session")
def bench_config(bench: Any) -> BenchConfig:
    """The leased DUT's bench file."""
    return bench.config


@pytest.fixture(scope="session")
def recorder(bench: Any, plan: Any, pytestconfig: pytest.Config) -> Recorder:
    """Measurements into out/duts/<id>/measurements.jsonl, tagged with the DUT and the worker."""
    state = _state(pytestconfig)
    config = bench.config
    dut_id = state.lease.dut.id if state.lease is not None else config.name
    return Recorder(bench.out_dir / "measurements.jsonl",
                    context={"bench": config.name, "board": config.dut.board, "sku": config.dut.sku,
                             "dut": dut_id, "worker": state.worker},
                    limits_source=limits_source(plan, config.dut.sku) if plan is not None else None)
