"""The xdist scheduler of a pool run: every test pinned to a DUT goes, with all that DUT's tests, to one
worker; other tests spread one by one.

xdist's ``loadgroup`` would do this from ``xdist_group`` markers, but xdist 3.8 marks the group by
rewriting ``item._nodeid``, which pytest 9.2 no longer reads (its node ids live in ``_id``): the groups
are silently lost. This uses xdist's public ``pytest_xdist_make_scheduler`` hook instead, with its own
scope scheduler keyed on the ``dut=<id>`` parameter id the pool gives each test (bench/pool_fixtures.py).
When a worker crashes, xdist hands its unfinished DUT scope to the replacement worker, which leases the
DUT the kernel just unlocked.
"""

from __future__ import annotations

from typing import Any

from xdist.scheduler import LoadScopeScheduling


class PoolScheduling(LoadScopeScheduling):
    def __init__(self, config: Any, log: Any, dut_ids: list[str]) -> None:
        super().__init__(config, log)
        self._duts = sorted(dut_ids, key=len, reverse=True)  # ref-a-2 before ref-a

    def _split_scope(self, nodeid: str) -> str:
        _, bracket, params = nodeid.partition("[")
        if bracket:
            for dut in self._duts:
                if f"dut={dut}]" in params or f"dut={dut}-" in params or f"-dut={dut}" in params:
                    return f"dut:{dut}"
        return nodeid


    def _reschedule(self, node: Any) -> None:
        """As LoadScope's, but a worker is given units until it has two tests pending: xdist runs a test
        only once it knows the next one, so a replacement worker handed one single-test unit would idle."""
        super()._reschedule(node)
        while (self.workqueue and not node.shutting_down and node in self.assigned_work
               and self._pending_of(self.assigned_work[node]) < 2):
            self._assign_work_unit(node)
