"""pytest fixtures for GLP conformance suites: ``glp``, ``glp_probe``, ``glp_serial``, ``glp_record``.

Every GLP session a test uses is watched; when the test fails, the frames exchanged during the test
(the session transcript, decoded and hex) are attached to the Allure report and the pytest report.
"""

from __future__ import annotations

from typing import Any, Generator, Iterator

import pytest

from bench.profiles.glp.client import GlpClient
from bench.profiles.glp.probe import GlpProbe


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


class TranscriptRecorder:
    """The GLP sessions used by one test and where their transcripts stood when it began."""

    def __init__(self) -> None:
        self.watched: list[tuple[str, GlpClient, float]] = []

    def watch(self, client: GlpClient, name: str = "GLP") -> GlpClient:
        self.watched.append((name, client, client.session.clock()))
        return client

    def text(self) -> str:
        parts = []
        for name, client, since in self.watched:
            lines = [e.line() for e in client.session.transcript if e.t_s >= since]
            parts.append(f"== {name} transcript ({len(lines)} frames) ==\n" + "\n".join(lines))
        return "\n\n".join(parts)


def _attach(text: str, name: str) -> None:
    try:
        import allure
    except ImportError:  # allure-pytest not installed: the pytest report section still has it
        return
    allure.attach(text, name=name, attachment_type=allure.attachment_type.TEXT)


@pytest.fixture
def glp_record(request: pytest.FixtureRequest) -> Iterator[TranscriptRecorder]:
    """Collects transcripts; attaches them to Allure if the test failed."""
    recorder = TranscriptRecorder()
    yield recorder
    rep = getattr(request.node, "rep_call", None)
    if recorder.watched and rep is not None and rep.failed:
        text = recorder.text()
        _attach(text, "GLP transcript")
        request.node.add_report_section("teardown", "GLP transcript", text)


@pytest.fixture
def glp(dut: Any, glp_record: TranscriptRecorder) -> GlpClient:
    """The DUT's GLP session over BLE (hello'd), transcript attached on failure."""
    return glp_record.watch(dut.need("glp").client, "GLP over BLE")


@pytest.fixture
def glp_probe(glp: GlpClient) -> GlpProbe:
    """Crafted-frame exchanges on the BLE session."""
    return GlpProbe(glp)


@pytest.fixture(scope="session")
def _glp_serial_client(bench: Any) -> Iterator[GlpClient]:
    port = bench.config.dut.glp_port
    if port is None:
        pytest.skip(f"DUT has no GLP serial port (dut.glp_port; profile {bench.config.dut.profile})")
    from bench.profiles.glp.serial_client import open_serial_glp

    client = open_serial_glp(bench.loop, bench.endpoint(port, "glp_serial"))
    yield client
    client.close()


@pytest.fixture
def glp_serial(_glp_serial_client: GlpClient, glp_record: TranscriptRecorder) -> GlpClient:
    """GLP over the DUT's serial port (COBS packets), hello'd; skipped when the bench has none."""
    return glp_record.watch(_glp_serial_client, "GLP over serial")
