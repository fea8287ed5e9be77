"""pytest plugin (loaded by bench.plugin): what happens when a DUT test stops on an exception.

First the triage (bench/faults.py): a dead, frozen or starved bench, or a crash a link loss hid, is
raised as what it is — and a bench that cannot serve another test stops the session. Then, for a
timeout or a lost link on a DUT that no longer answers, the recovery ladder (bench/recovery.py), whose
outcome is reported on the terminal, in the test's result and in Allure.
"""

from __future__ import annotations

from typing import Any

import pytest

from bench.errors import BenchFault, DutTimeout, LinkLost
from bench.recovery import DutHung, for_session


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """A DUT test that stops on a timeout or a lost link: if the DUT no longer answers, recover it
    (bench/recovery.py) and fail the test with the recovery's outcome, so the next test has a DUT."""
    __tracebackhide__ = True
    try:
        return (yield)
    except Exception as exc:
        _triage(item, exc)  # a dead, frozen or starved bench, or a crash the link loss hid: raised as such
        if not isinstance(exc, (DutTimeout, LinkLost)):
            raise
        funcargs = getattr(item, "funcargs", {})
        device = funcargs.get("dut")
        session = getattr(device, "session", None)
        if session is None or isinstance(exc, DutHung) or not session.config.dut.recovery.enabled:
            raise
        if session.reference is not None and not session.reference.alive:
            raise   # the bench itself went away: nothing to recover
        recovery = for_session(session)
        outcome, failure = None, None
        try:
            symptom = recovery.unanswered()
            outcome = None if symptom is None else recovery.recover(f"{symptom} (after the test stopped on: {exc})")
        except Exception as e:  # noqa: BLE001 - a failing recovery must not hide the test's own error
            failure = e
        if failure is not None:
            exc.add_note(f"DUT recovery failed: {type(failure).__name__}: {failure}")
            raise
        if outcome is None:
            raise   # the DUT answers: the test's own error stands
        report_recovery(item, outcome)
        raise DutHung(f"{outcome.summary()}; the test stopped on: {exc}") from exc


def _triage(item: pytest.Item, exc: Exception) -> None:
    """Raise what bench.faults.triage says really happened (the test's exception chained to it)."""
    from bench.faults import triage

    funcargs = getattr(item, "funcargs", {})
    device = funcargs.get("dut")
    session = getattr(device, "session", None) or funcargs.get("bench")
    if session is None or isinstance(exc, BenchFault):
        return
    better = triage(session, exc, getattr(device, "test_started_s", 0.0) if device is not None else 0.0,
                    getattr(device, "test_mark", None))
    if better is None:
        return
    if getattr(better, "stop", False):
        item.session.shouldstop = str(better)  # the remaining tests cannot run here: stop with this reason
    raise better from exc


def report_recovery(item: pytest.Item, outcome: Any) -> None:
    """The recovery on the terminal, in the test's result (user properties) and in Allure."""
    reporter = item.config.pluginmanager.get_plugin("terminalreporter")
    capture = item.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None:
        if capture is not None:
            with capture.global_and_fixture_disabled():
                reporter.write_line(f"{item.nodeid}: {outcome.summary()}")
        else:
            reporter.write_line(f"{item.nodeid}: {outcome.summary()}")
    item.user_properties.append(("dut_recovery", outcome.summary()))
    try:
        import allure

        with allure.step(outcome.summary()):
            allure.attach(outcome.report(), name="DUT recovery", attachment_type=allure.attachment_type.TEXT)
    except Exception:  # noqa: BLE001 - Allure is optional; the terminal and result still have it
        pass
