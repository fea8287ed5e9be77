"""Evidence on every test: its measurements as a table (and a trend chart across runs per measurement
with a limit, bench/report/trends.py), and on a failure the DUT console, the protocol transcript and the
reference bench's log, each cut to what happened during the test.

A pytest plugin (loaded by bench.plugin). What it attaches goes three ways: Allure attachments (named
"measurements", "DUT console log", "GLP transcript", "reference bench log"), pytest report sections
(shown with the failure on the terminal) and JUnit: the console slice is a "Captured stdout" section, so
``junit_logging=system-out`` writes it as the test's system-out (but kept out of allure-pytest's "stdout"
attachment, so Allure has it once); measurements are user properties.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Generator

import pytest

from bench.units import format_quantity

MAX_CONSOLE_LINES = 2000
MAX_TRANSCRIPT_LINES = 2000  # an audio test moves thousands of frames: the last ones are those near the failure
TERMINAL_TRANSCRIPT_LINES = 40  # the terminal and JUnit get the end of it; Allure has all MAX_TRANSCRIPT_LINES
MAX_LOG_BYTES = 64 * 1024
TRACEBACK = "Traceback (most recent call last)"


def session_of(item: pytest.Item) -> Any:
    """The bench session the test ran on (None for a test that never asked for the bench)."""
    funcargs = getattr(item, "funcargs", {}) or {}
    device = funcargs.get("dut")
    return getattr(device, "session", None) or funcargs.get("bench") or getattr(item.config, "_glassbench_session", None)


def reference_log(session: Any) -> Path | None:
    ref = getattr(session, "reference", None)
    out = getattr(session, "out_dir", None)
    return Path(out) / "reference-bench.log" if ref is not None and out is not None else None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Where the reference bench's log stands as the test begins (its slice starts there)."""
    session = getattr(item.config, "_glassbench_session", None)
    log = reference_log(session) if session is not None else None
    try:
        item._glassbench_reflog_offset = log.stat().st_size if log is not None else 0  # type: ignore[attr-defined]
    except OSError:
        item._glassbench_reflog_offset = 0  # type: ignore[attr-defined]


CONSOLE_SECTION = "stdout"  # "Captured stdout call": shown with the failure on the terminal, JUnit's system-out


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Generator[None, Any, None]:
    if call.when == "call":
        attach_measurements(item)
    if call.excinfo is not None and not call.excinfo.errisinstance(pytest.skip.Exception) and call.when != "teardown":
        attach_failure_evidence(item)
    held = _hold_console_section(item) if call.when == "teardown" else None
    outcome = yield
    if held is not None:
        outcome.get_result()._glassbench_console = held


def _hold_console_section(item: pytest.Item) -> str | None:
    """Take the console slice out of the sections the teardown report is built from: allure-pytest attaches
    that report's captured stdout as "stdout", which would repeat the "DUT console log" attachment.
    `pytest_runtest_logreport` gives it back to the report before JUnit writes system-out from it."""
    console = getattr(item, "_glassbench_console", None)
    sections = item._report_sections  # (when, key, content), pytest's own list
    entry = ("call", CONSOLE_SECTION, console)
    if console is None or entry not in sections:
        return None
    sections.remove(entry)
    return console


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """The console slice back in the teardown report (its attribute survives pytest-xdist's serialisation),
    ahead of junitxml, which writes a test's system-out from that report."""
    console = getattr(report, "_glassbench_console", None)
    if report.when == "teardown" and console and (f"Captured {CONSOLE_SECTION} call", console) not in report.sections:
        report.sections.append((f"Captured {CONSOLE_SECTION} call", console))


def measurements_of(item: Any) -> list[Any]:
    """The measurements a test took (the ``measure`` fixture appends; `attach_measurements` reads)."""
    if not hasattr(item, "glassbench_measurements"):
        item.glassbench_measurements = []
    return item.glassbench_measurements


def measurement_table(measurements: list[Any]) -> str:
    """CSV of one test's measurements (Allure shows text/csv as a table)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["measurement", "value", "low", "high", "verdict", "value (SI)", "unit"])
    for m in measurements:
        lim = m.limits
        writer.writerow([m.name, format_quantity(m.value, m.unit), format_quantity(lim.low, m.unit),
                         format_quantity(lim.high, m.unit), m.verdict if lim.low is not None or lim.high is not None
                         else "no limit", f"{m.value:.9g}", m.unit])
    return buf.getvalue()


def attach_measurements(item: pytest.Item) -> None:
    """The test's measurements as one table, and as JUnit properties (name → "23.9 ms pass")."""
    measurements = getattr(item, "glassbench_measurements", None)
    if not measurements:
        return
    for m in measurements:
        verdict = m.verdict if m.limits.low is not None or m.limits.high is not None else "no limit"
        item.user_properties.append((m.name, f"{format_quantity(m.value, m.unit)} {verdict}"))
    _attach(measurement_table(measurements), "measurements", "csv")
    attach_trends(item, measurements)


def attach_trends(item: pytest.Item, measurements: list[Any]) -> None:
    """A trend chart per measurement with a limit: this run's value after the plan's earlier runs."""
    from bench.report.runs import run_info
    from bench.report.trends import trend_for

    run_out = item.config.getoption("--bench-out", default=None)
    if not run_out:
        return
    plan = run_info(item.config).plan
    for m in {m.name: m for m in measurements}.values():  # one chart per name: the last value of this test
        try:
            png = trend_for(run_out, plan, m)
        except Exception:  # noqa: BLE001 - a chart must never change the test's outcome
            png = None
        if png is not None:
            _attach_bytes(png, f"trend {m.name}")


def console_slice(session: Any) -> str | None:
    """The DUT console since the test began (the dut fixture's mark), at most MAX_CONSOLE_LINES lines."""
    device = getattr(session, "_dut", None)
    console = getattr(device, "console", None)
    if console is None:
        return None
    mark = getattr(device, "test_mark", None)
    records = console.records_since(mark if mark is not None else max(0, console.mark() - 200))
    lines = [f"{r.host_time_s:.6f} {r.text}" for r in records[-MAX_CONSOLE_LINES:]]
    cut = f", last {MAX_CONSOLE_LINES} of {len(records)}" if len(records) > MAX_CONSOLE_LINES else ""
    return f"== DUT console since the test began ({len(lines)} lines{cut}; host CLOCK_MONOTONIC) ==\n" + "\n".join(lines)


def transcript_slice(session: Any) -> str | None:
    """Protocol transcripts since the test began, from every capability that keeps one (``transcript_since``)."""
    device = getattr(session, "_dut", None)
    if device is None:
        return None
    since = getattr(device, "test_started_s", 0.0)
    parts = []
    for provider in list((getattr(device, "_capabilities", None) or {}).values()):
        fn = getattr(provider, "transcript_since", None)
        text = fn(since) if fn is not None else None
        if text and "(0 frames)" not in text.split("\n", 1)[0]:
            head, _, body = text.partition("\n")
            lines = body.splitlines()
            if len(lines) > MAX_TRANSCRIPT_LINES:
                head += f" (the last {MAX_TRANSCRIPT_LINES} of {len(lines)} lines)"
                lines = lines[-MAX_TRANSCRIPT_LINES:]
            parts.append(head + "\n" + "\n".join(lines))
    return "\n\n".join(parts) or None


def tail(text: str, lines: int) -> str:
    """The last ``lines`` lines of ``text``, saying how many were left out (they are in the Allure attachment)."""
    all_lines = text.splitlines()
    if len(all_lines) <= lines:
        return text
    return f"... {len(all_lines) - lines} earlier lines in the Allure attachment ...\n" + "\n".join(all_lines[-lines:])


def reference_log_slice(session: Any, offset: int) -> str | None:
    """What the reference bench logged since ``offset`` (its tail if that is more than MAX_LOG_BYTES)."""
    log = reference_log(session)
    if log is None or not log.exists():
        return None
    with open(log, "rb") as fh:
        size = fh.seek(0, 2)
        start = max(offset, size - MAX_LOG_BYTES)
        fh.seek(start)
        text = fh.read().decode("utf-8", errors="replace")
    note = " (holds a traceback)" if TRACEBACK in text else ""
    cut = f", bytes {start}..{size} (the first {start - offset} cut)" if start > offset else ""
    return f"== reference bench log during the test{note}{cut}: {log} ==\n{text}"


def attach_failure_evidence(item: pytest.Item) -> None:
    """Console, transcript and bench log of a failing test: Allure attachments and report sections."""
    session = session_of(item)
    if session is None:
        return
    console = console_slice(session)
    if console is not None:
        _attach(console, "DUT console log")
        item.add_report_section("call", CONSOLE_SECTION, console)  # the terminal's failure report; JUnit system-out
        item._glassbench_console = console  # type: ignore[attr-defined]  # once in Allure: _hold_console_section
    if "glp_record" not in getattr(item, "funcargs", {}):  # glp_record attaches its own (watched sessions)
        transcript = transcript_slice(session)
        if transcript is not None:
            _attach(transcript, "GLP transcript")
            item.add_report_section("call", "GLP transcript", tail(transcript, TERMINAL_TRANSCRIPT_LINES))
    log = reference_log_slice(session, getattr(item, "_glassbench_reflog_offset", 0))
    if log is not None:
        _attach(log, "reference bench log")
        item.add_report_section("call", "reference bench log", log)


def _attach_bytes(png: bytes, name: str) -> None:
    try:
        import allure

        allure.attach(png, name=name, attachment_type=allure.attachment_type.PNG)
    except Exception:  # noqa: BLE001 - evidence is best effort
        pass


def _attach(text: str, name: str, kind: str = "text") -> None:
    try:
        import allure
    except ImportError:  # pragma: no cover - allure-pytest is a dependency
        return
    kinds = {"text": allure.attachment_type.TEXT, "csv": allure.attachment_type.CSV}
    try:
        allure.attach(text, name=name, attachment_type=kinds[kind])
    except Exception:  # noqa: BLE001 - evidence is best effort; it must never change the test's outcome
        pass
