"""Audio latency suite: uplink (mic → phone), downlink (phone → speaker) and round trip (mic → phone
→ speaker) for every codec the DUT advertises, measured with the acoustic rig to a fraction of a
sample. Limits come from the test plan (test_plans/latency.yaml: ``uplink_latency_s[lc3]`` ...).
"""
from __future__ import annotations

import pytest

from bench.audio.plots import attach_run
from bench.audio.variants import variant
from bench.errors import StreamCut

pytestmark = [pytest.mark.latency, pytest.mark.ble]

CODECS = ("lc3", "lc3-7.5ms", "opus", "pcm")
DEFAULT_TRIALS = 3  # quick on the reference bench; a plan's `trials` (latency.yaml: 30) overrides it


@pytest.fixture
def trials(plan) -> int:
    return plan.parameters.trials if plan is not None and plan.parameters.trials > 1 else DEFAULT_TRIALS


@pytest.fixture(params=CODECS)
def codec(request, audio_latency, plan) -> str:
    variant = request.param
    if variant not in audio_latency.codecs():
        pytest.skip(f"the DUT does not stream {variant} in any direction (profile {audio_latency.dut.profile.name})")
    if plan is not None and plan.parameters.codecs and variant.split("-")[0] not in plan.parameters.codecs:
        pytest.skip(f"{variant} is not in the plan's codecs {plan.parameters.codecs}")
    return variant


def _judge(run, measure, floor_s: float) -> None:
    limit = measure.limit(f"{run.direction}_latency_s[{run.codec}]")
    attach_run(run, limit.high if limit is not None else None)  # the plot draws the limit the p50 is judged by
    if run.notes:
        print(f"{run.direction} {run.codec}: {run.notes}")  # shown with the failure report
    if run.missed:  # a dropout; bench.faults makes it BENCH OVERLOADED if the host stalled past the buffers
        raise StreamCut(f"{run.direction} {run.codec}: stimulus not heard in trials {run.missed} (dropout)")
    if run.unplaced:
        raise StreamCut(f"{run.direction} {run.codec}: stimulus heard in pieces in trials {run.unplaced} "
                        f"(the stream was cut and resumed mid-stimulus: no latency can be given)")
    stats = run.stats()
    worst = min(run.trials, key=lambda t: t.quality)
    assert worst.quality >= 0.5, f"stimulus barely found in trial {worst.trial} (quality {worst.quality:.2f})"
    assert stats.min_s >= floor_s, (f"{run.direction} latency {stats.min_s * 1e3:.3f} ms is below the physical "
                                    f"floor {floor_s * 1e3:.3f} ms: the timeline or the estimator is wrong")
    context = {"path": run.direction, "p95_s": stats.p95_s, "p99_s": stats.p99_s, "trials": len(run.trials)}
    measure(f"{run.direction}_latency_s[{run.codec}]", stats.p50_s, "s", **context)
    measure(f"latency_jitter_s[{run.codec}]", stats.jitter_s, "s", **context)
    if run.direction != "downlink":
        measure(f"audio_frame_loss_ratio[{run.codec}]", stats.loss_ratio, "1", **context)


def test_uplink_latency(audio_latency, measure, codec, trials):
    """Sound at the mic → decoded PCM at the phone; never faster than the codec's frame + lookahead."""
    run = audio_latency.uplink(codec, trials)
    _judge(run, measure, variant(codec).spec().delay_s)


def test_downlink_latency(audio_latency, measure, codec, trials):
    """PCM handed to the phone's stack → sound at the measurement mic; at least the decoder lookahead."""
    run = audio_latency.downlink(codec, trials)
    _judge(run, measure, variant(codec).spec().lookahead_s)


def test_roundtrip_latency(audio_latency, measure, codec, trials):
    """Mic → phone → (echoed unchanged) → speaker; at least one codec frame and lookahead."""
    run = audio_latency.roundtrip(codec, trials)
    _judge(run, measure, variant(codec).spec().delay_s)
