"""Device coverage feedback: read through the reference-only side channel, reported, absent on hardware."""

from __future__ import annotations

from fuzz_loopback import LoopTarget

from bench.errors import ShellError
from bench.fuzz.corpus import CorpusDatabase
from bench.fuzz.runner import Stats, fuzz
from bench.profiles.glp import messages as m
from bench.profiles.glp.frames import encode_frame
from bench.profiles.glp.fuzz_coverage import DeviceCoverage
from bench.profiles.glp.fuzz_machine import GlpFuzzModel
from bench.profiles.glp.gatt import Channel
from bench.reference.features.glp_coverage import recorder_for


class CoverageLoopTarget(LoopTarget):
    """The loopback glasses with the reference bench's `glp coverage` command."""

    def command(self, cmd: str, timeout_s: float = 3.0) -> str:
        if cmd != f"glp coverage {self.kind}":
            return super().command(cmd, timeout_s)

        async def go() -> str:
            return f"{cmd}: " + " ".join(recorder_for(self.glasses).read())
        return self.thread.run(go(), 5)


class NoShellTarget(LoopTarget):
    def command(self, cmd: str, timeout_s: float = 3.0) -> str:
        raise ShellError(f"{cmd!r} failed: '{cmd.split()[0]}: command not found'", cmd, "")


def run(target, corpus_dir, budget_s=4.0):
    try:
        target.discover()
        corpus = CorpusDatabase(corpus_dir, read_corpus=False)
        return fuzz(GlpFuzzModel(target), budget_s, seed=3, corpus=corpus, steps=20)
    finally:
        target.close()


def test_recorder_sees_handlers_errors_and_states():
    target = CoverageLoopTarget()
    try:
        target.discover()
        cov = DeviceCoverage(target)
        assert cov.available
        target.thread.run(_feed(target, [encode_frame(m.encode_message(m.Hello(1, 1, 512), 1)),
                                         encode_frame(m.encode_message(m.AudioDownlinkStart(m.Codec.LC3, 16000, 10000), 2)),
                                         b"\x10\x7f\x03\x00\x00\x00\x00"]), 5)  # an unknown type with a bad CRC
        stats = Stats()
        cov.observe(stats)
    finally:
        target.close()
    assert {"Hello", "AudioDownlinkStart"} <= stats.covered["device message types"]
    assert "BAD_CRC" in stats.covered["device error codes"]
    assert {"ready", "downlink"} <= stats.covered["device states"]


async def _feed(target, frames):
    for raw in frames:
        target.glasses.feed(Channel.CONTROL_IN, raw)


def test_coverage_is_reported_in_the_result(tmp_path):
    result = run(CoverageLoopTarget(), tmp_path)
    assert result.failure is None, result.failure
    reached, total = result.coverage["device error codes"]
    assert 0 < reached <= total
    assert result.coverage["device message types"][0] > 5
    assert "device states" in result.progress_line()


def test_without_the_side_channel_the_fuzzer_runs_as_before(tmp_path):
    result = run(NoShellTarget(), tmp_path)
    assert result.failure is None, result.failure
    assert result.examples > 0
    assert not any(axis.startswith("device ") for axis in result.coverage)
