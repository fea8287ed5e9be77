"""Bringing back a DUT that stopped answering: reconnect → reset (flash driver) → power-cycle (supply).

A hung DUT must cost one test, not the session. When the DUT does not answer (a liveness probe on its
console and BLE times out) the ladder tries, each step with its own timeout and each followed by the
same probe: reconnect the BLE link; reset through the bench's flash driver (``dut.flash``); switch
the bench's supply off and on (a PPK2 in source mode, a SCPI supply's output). The outcome says which
step worked and how long it took — "DUT hung; recovered by power-cycle (ppk2) in 3.2 s" — and the
pytest plugin puts that on the terminal, in Allure and in the test's result (bench/stopped_tests.py).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable

from bench.dut.sig import BATTERY_LEVEL, DIS
from bench.errors import BenchError, DutTimeout, InstrumentFault, LinkLost

ANSWERS = (DutTimeout, LinkLost)   # what a DUT that stopped answering raises


class DutHung(DutTimeout):
    """The DUT stopped answering; the message says whether and how it was brought back."""


@dataclasses.dataclass
class Step:
    name: str                # reconnect | reset | power-cycle
    ok: bool
    duration_s: float
    detail: str = ""


@dataclasses.dataclass
class Outcome:
    """What the ladder did for one hang."""

    symptom: str
    steps: list[Step]
    duration_s: float

    @property
    def recovered_by(self) -> Step | None:
        return next((s for s in self.steps if s.ok), None)

    @property
    def recovered(self) -> bool:
        return self.recovered_by is not None

    def summary(self) -> str:
        step = self.recovered_by
        if step is not None:
            how = f"{step.name} ({step.detail})" if step.detail else step.name
            return f"DUT hung; recovered by {how} in {self.duration_s:.1f} s"
        tried = "; ".join(f"{s.name}: {s.detail}" for s in self.steps) or "no recovery step available"
        return f"DUT hung; not recovered after {self.duration_s:.1f} s ({tried})"

    def report(self) -> str:
        lines = [self.summary(), f"symptom: {self.symptom}"]
        lines += [f"  {s.name:12s} {'ok' if s.ok else 'failed':6s} {s.duration_s:6.2f} s  {s.detail}" for s in self.steps]
        return "\n".join(lines)


class Recovery:
    """The recovery ladder of one bench session (``for_session``); ``dead`` after a failed recovery."""

    def __init__(self, session: Any, clock: Callable[[], float] = time.monotonic) -> None:
        self.session = session
        self.spec = session.config.dut.recovery
        self.clock = clock
        self.dead: str | None = None
        self.outcomes: list[Outcome] = []
        self._flash: Any = None

    @property
    def dut(self) -> Any:
        return self.session.dut

    # -- liveness ---------------------------------------------------------------------------------
    def unanswered(self) -> str | None:
        """None when the DUT answers on its console and its BLE link; otherwise what did not answer."""
        dut, timeout_s = self.dut, self.spec.probe_timeout_s
        try:
            if dut.console is not None and dut.console.driver.probe_command:
                # an answer, even a shell error, is an answer: the DUT is alive
                dut.console.command(dut.console.driver.probe_command, timeout_s, check=False)
            if not dut.connected:
                return "BLE link down"
            probe = next((u for u in (BATTERY_LEVEL, DIS["model"], DIS["manufacturer"]) if dut.has_characteristic(u)), None)
            if probe is not None:
                dut.read(probe, timeout_s)
            link_test = (dut._capabilities or {}).get("link_test")
            if link_test is not None:   # an application-level echo: a stack that answers reads may still be hung
                link_test.ping(1, 20, timeout_s)
        except (*ANSWERS, OSError) as exc:   # a console port that went away does not answer either
            return str(exc)
        return None

    # -- the ladder -------------------------------------------------------------------------------
    def recover(self, symptom: str) -> Outcome:
        """Run the ladder until the DUT answers; the outcome is kept in ``outcomes``."""
        t0 = self.clock()
        steps: list[Step] = []
        for name, action in self._steps():
            t_step = self.clock()
            try:
                detail = action()
                problem = self._settle()
            except (BenchError, OSError) as exc:
                detail, problem = "", str(exc)
            ok = problem is None
            steps.append(Step(name, ok, self.clock() - t_step, detail if ok else (problem or "")[:300]))
            if ok:
                break
        outcome = Outcome(symptom, steps, self.clock() - t0)
        self.outcomes.append(outcome)
        if not outcome.recovered:
            self.dead = outcome.summary()
        return outcome

    def _steps(self) -> list[tuple[str, Callable[[], str]]]:
        steps: list[tuple[str, Callable[[], str]]] = [("reconnect", self._reconnect)]
        if self.spec.reset and self.session.config.dut.flash is not None:
            steps.append(("reset", self._reset))
        if self.spec.power_cycle and self._supply() is not None:
            steps.append(("power-cycle", self._power_cycle))
        return steps

    def _settle(self) -> str | None:
        """After a step: the link back up and the DUT answering (None), or what is still wrong."""
        dut = self.dut
        if not dut.connected:
            dut.run(dut.ble.connect(), self.spec.boot_timeout_s, "connect after recovery")
        return self.unanswered()

    def _reconnect(self) -> str:
        dut = self.dut
        try:
            dut.disconnect()
        except ANSWERS:
            pass
        dut.run(dut.ble.connect(), self.spec.reconnect_timeout_s, "reconnect")
        return ""

    def _reset(self) -> str:
        from bench.flash import from_bench

        if self._flash is None:
            self._flash = from_bench(self.session.config, self.session.endpoint)
        mark = self._mark()
        result = self._flash.reset()
        self._after_boot(mark)
        return f"{result.driver}"

    def _supply(self) -> Any:
        """The bench's supply as a PowerRig, or None when no bench instrument powers the DUT."""
        from bench.session import supply_of

        if supply_of(self.session.config.power) == "none":
            return None
        from bench.power.fixtures import session_rig

        return session_rig(self.session)

    def _power_cycle(self) -> str:
        rig = self._supply()
        try:
            meter = rig.meter
            mark = self._mark()
            meter.output(False)
            time.sleep(self.spec.power_off_s)   # the supply stays off this long (a bench procedure, not a race)
            meter.output(True)
        except InstrumentFault:
            raise
        except Exception as exc:  # noqa: BLE001 - an instrument error must not mask the DUT's state
            rig.broken()
            raise InstrumentFault(f"power-cycle through the {rig.kind} failed: {exc}") from exc
        self._after_boot(mark)
        from bench.session import supply_of

        return supply_of(self.session.config.power)   # ppk2 | scpi

    def _mark(self) -> int:
        console = self.dut.console
        return console.mark() if console is not None else 0

    def _after_boot(self, mark: int) -> None:
        """Wait for the boot banner (with a console), then let the BLE link come back."""
        dut = self.dut
        if dut.console is not None:
            dut.last_boot = dut.console.wait_for_boot(self.spec.boot_timeout_s, since=mark)
        dut.recovery_mark = self._mark()   # the boot was ours: crash checks start after it
        if dut.connected:
            try:
                dut.disconnect()
            except ANSWERS:
                pass


def for_session(session: Any) -> Recovery:
    """The session's Recovery (one per session)."""
    recovery = getattr(session, "_recovery", None)
    if recovery is None:
        recovery = session._recovery = Recovery(session)
    return recovery
