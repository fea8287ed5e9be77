"""The DUT pool in pytest: ``--bench POOL`` leases one DUT per worker; ``second_dut`` leases another.

Always loaded (the ``on_dut`` check and ``second_dut`` work with or without a pool); when ``--bench``
names a pool, ``install_pool`` adds bench/pool_fixtures.py, whose ``bench`` is keyed by the test's
``on_dut`` requirement. A worker keeps its DUT while the next test's requirement still fits (no
restart), and outputs go to ``out/duts/<id>/`` (written only by the lock's holder, so never
interleaved) and ``out/workers/<worker>/leases.jsonl``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from bench import project
from bench.pool import Lease, Pool, PoolBusy, PoolDut, Requirement, find_pool, load_pool, log_lease, worker_id


@dataclass
class PoolState:
    """This worker's pool, its current lease and the session on it."""

    pool: Pool
    out_root: Path
    worker: str = field(default_factory=worker_id)
    lease: Lease | None = None
    session: Any = None
    assigned: dict[tuple[tuple[str, ...], str], str] = field(default_factory=dict)
    load: dict[str, int] = field(default_factory=dict)

    def assign(self, req: Requirement, group: str) -> Requirement:
        """``req`` pinned to one fitting DUT: the same for every test of ``group`` (a test function), else the
        fitting DUT with the fewest tests so far. Deterministic: every xdist worker collects alike."""
        fits = tuple(d.id for d in self.pool.matching(req))
        if not fits:
            return req  # the bench fixture skips it with the pool's reason
        dut = self.assigned.get((fits, group))
        if dut is None:
            dut = min(fits, key=lambda i: (self.load.get(i, 0), fits.index(i)))
            self.assigned[(fits, group)] = dut
        self.load[dut] = self.load.get(dut, 0) + 1
        return Requirement(**{**req.__dict__, "id": dut})

    def out_of(self, dut: PoolDut) -> Path:
        return self.out_root / "duts" / dut.id

    def session_for(self, req: Requirement, open_session: Callable[[PoolDut, Path], Any]) -> Any:
        """The held DUT's session if it fits ``req``, else the held one released and a fitting one leased."""
        if self.lease is not None and req.mismatch(self.lease.dut) is None and self.session is not None:
            return self.session
        self.close()
        lease = self.pool.lease(req, self.worker)
        log_lease(self.out_root, self.worker, "lease", lease.dut.id, requirement=req.key)
        try:
            self.session = open_session(lease.dut, self.out_of(lease.dut))
        except BaseException:
            self._release(lease)
            raise
        self.session.bench_file = lease.dut.source  # the DUT's own bench file, for a test that starts a pytest of its own
        self.lease = lease
        return self.session

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None
        if self.lease is not None:
            self._release(self.lease)
            self.lease = None

    def _release(self, lease: Lease) -> None:
        lease.release()
        log_lease(self.out_root, self.worker, "release", lease.dut.id)


def install_pool(config: pytest.Config) -> bool:
    """If ``--bench`` names a pool: load it, register the pool fixtures, return True."""
    path = find_pool(config.getoption("--bench", default=None))
    if path is None:
        return False
    out_root = Path(config.getoption("--bench-out", default=None) or project.current().out)
    config._glassbench_pool = PoolState(load_pool(path, out_root), out_root)  # type: ignore[attr-defined]
    config._glassbench_bench = None  # type: ignore[attr-defined]
    from bench import pool_fixtures

    config.pluginmanager.register(pool_fixtures, "glassbench-pool")
    return True


def pool_state(config: pytest.Config) -> PoolState | None:
    return getattr(config, "_glassbench_pool", None)


def check_on_dut(node: pytest.Item, bench: Any) -> None:
    """Skip when the session's DUT does not fit the test's ``on_dut`` (a single bench file; in a pool the
    lease already fits, but declared capabilities are checked against the connected DUT's too)."""
    req = Requirement.of(node)
    if req.key == "any":
        return
    state = pool_state(node.config)
    dut_id = state.lease.dut.id if state is not None and state.lease is not None else bench.config.name
    caps = tuple(bench.dut.capabilities)
    why = Requirement(**{**req.__dict__, "id": req.id if state is not None else None}).mismatch(
        PoolDut(dut_id, bench.config, caps))
    if why is not None:
        pytest.skip(f"needs a DUT with on_dut({req.key}); this DUT's {why}")


@pytest.fixture
def second_dut(dut: Any, pytestconfig: pytest.Config, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A second DUT from the pool (``@pytest.mark.second_dut(sku=...)`` says what it must fit), connected and
    health-checked, released after the test. Skips without a pool of two."""
    from bench.plugin import open_session

    state = pool_state(pytestconfig)
    if state is None or state.lease is None:
        pytest.skip("needs a second DUT: give --bench a pool of two or more DUTs (docs/lab.md)")
    req = Requirement.of(request.node, "second_dut")
    xdist = hasattr(pytestconfig, "workerinput")  # the other DUTs belong to workers that may sit idle holding them
    try:
        lease = state.pool.lease(req, state.worker, exclude=(state.lease.dut.id,), wait_s=0 if xdist else None)
    except LookupError as exc:
        pytest.skip(str(exc))
    except PoolBusy as exc:
        pytest.skip(f"{exc}; under xdist every DUT has its worker: run two-DUT tests without -n (docs/lab.md)")
    log_lease(state.out_root, state.worker, "lease", lease.dut.id, requirement=f"second_dut({req.key})")
    session = None
    try:
        session = open_session(pytestconfig, lease.dut.config, state.out_of(lease.dut))
        device = session.dut
        device.health_check()
        yield device
    finally:
        if session is not None:
            session.close()
        state._release(lease)
