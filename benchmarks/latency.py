"""Audio latency benchmark: is the estimator right to a fraction of a sample, and does the measured
latency match the documented budget?

Runs uplink, downlink and round-trip trials over GLP with LC3 10 ms on the reference bench
(nrf52840dk, CI 7.5 ms, 2M PHY, 1 % PER, radio jitter on), and grades every estimate against the
reference bench's ground truth (read only here, after the estimate). Prints one JSON line:
  trials            graded trials (all directions)
  missed            trials whose stimulus was not heard (dropouts: not graded, listed on stderr)
  error_median_ms   median |estimate - truth|          error_max_ms  worst |estimate - truth|
  uplink_p50_ms, uplink_p95_ms, downlink_p50_ms, roundtrip_p50_ms   measured latencies
  budget_ms         the documented uplink budget (bench/audio/budget.py) for these parameters
  budget_gap_ms     uplink_p50_ms - budget_ms (the phone host stack, unmodelled, is in the gap)
  host_p50_ms       median phone-controller -> app time from the truth (part of the gap)
Options: --trials N (uplink; downlink and round trip get half and a third), --per, --jitter-ms.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.audio.budget import uplink_budget  # noqa: E402
from bench.profiles.glp.audio import AUDIO_FRAME_OVERHEAD, glp_codec  # noqa: E402
from bench.audio.rig import SocketRig, TruthClient  # noqa: E402
from bench.audio.session import AudioLatency, Run  # noqa: E402
from bench.config import load_bench  # noqa: E402
from bench.reference.audio_pipeline import board_audio  # noqa: E402
from bench.session import BenchSession  # noqa: E402

OUT = Path("out/benchmarks")
CODEC = "lc3"
# Trials per stream; the truth is read after each stream. Each uplink stream starts at a new phase of
# the connection interval (the mic's start-up time varies), and within a stream the phase pattern is
# fixed, so short uplink streams sample the CI wait evenly, as the budget (CI/2) assumes.
BATCH = {"uplink": 4, "downlink": 10, "roundtrip": 10}


def endpoint(session: BenchSession, key: str) -> tuple[str, int]:
    host, port = session.endpoint("auto", key).rsplit(":", 1)
    return host, int(port)


def grade(run: Run, truth: TruthClient) -> tuple[list[float], list[dict]]:
    """|estimate - truth| per trial; the phone's hand-off log goes to the truth first."""
    if run.direction == "uplink":
        truth.report_uplink_handoffs(run.handoffs)
        truths = [truth.uplink(t.trial) for t in run.found]
    elif run.direction == "downlink":
        truth.report_downlink_writes(run.handoffs)
        truths = [truth.downlink(run.first_frame_index, t.sent_onset_sample) for t in run.found]
    else:
        truths = [truth.roundtrip(t.trial) for t in run.found]
    return [abs(t.latency_s - x["latency_s"]) for t, x in zip(run.found, truths)], truths


def main() -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=120)
    ap.add_argument("--per", type=float, default=0.01)
    ap.add_argument("--jitter-ms", type=float, default=0.5)
    args = ap.parse_args()
    cfg = load_bench()
    ref = cfg.reference
    assert ref is not None
    ref.link.per, ref.link.jitter_ms, ref.seed = args.per, args.jitter_ms, 11
    ref.settings = {"audio.first_frame_index": "65300"}  # the u16 frame index wraps during the run
    OUT.mkdir(parents=True, exist_ok=True)
    errors: dict[str, list[float]] = {"uplink": [], "downlink": [], "roundtrip": []}
    latencies: dict[str, list[float]] = {k: [] for k in errors}
    host: list[float] = []
    missed: list[str] = []
    plan = {"uplink": args.trials, "downlink": max(1, args.trials // 2), "roundtrip": max(1, args.trials // 3)}
    with BenchSession(cfg, OUT) as session:
        dut = session.dut
        dut.connect()
        rig, truth = SocketRig(*endpoint(session, "rig")), TruthClient(*endpoint(session, "rig_truth"))
        al = AudioLatency(dut, rig, seed=3)
        for direction, n in plan.items():
            for start in range(0, n, BATCH[direction]):
                k = min(BATCH[direction], n - start)
                if direction == "uplink":
                    run = al.uplink(CODEC, k)
                elif direction == "downlink":
                    run = al.downlink(CODEC, k, first_frame_index=65500)
                else:
                    run = al.roundtrip(CODEC, k)
                err, truths = grade(run, truth)
                missed += run.missed
                errors[direction] += err
                latencies[direction] += list(run.latencies_s)
                host += [x["host_s"] for x in truths if "host_s" in x]
        rig.close()
        truth.close()
    board = board_audio("nrf52840dk", codec=glp_codec(CODEC).spec_name)
    spec = glp_codec(CODEC).spec()
    link = cfg.reference.link
    budget = uplink_budget(frame_samples=spec.frame_samples, lookahead_samples=spec.lookahead_samples,
                           sample_rate_hz=spec.sample_rate_hz, adc_block_samples=board.adc_block_samples,
                           encode_s=board.encode_s, interval_s=link.interval_ms / 1e3,
                           packet_bytes=3 + (spec.frame_bytes or 0) + AUDIO_FRAME_OVERHEAD,
                           data_length_bytes=link.data_length, phy=link.phy, per=args.per,
                           acoustic_s=0.05 / 343.0, radio_jitter_s=args.jitter_ms / 1e3)
    if missed:
        print(f"missed trials (dropouts): {missed}", file=sys.stderr)
    all_err = np.concatenate([np.array(v) for v in errors.values()]) * 1e3
    ms = {k: np.array(v) * 1e3 for k, v in latencies.items()}
    up50 = float(np.percentile(ms["uplink"], 50))
    return {
        "trials": int(all_err.size), "missed": len(missed), "codec": "lc3-10ms", "interval_ms": link.interval_ms,
        "phy": link.phy, "per": args.per, "jitter_ms": args.jitter_ms,
        "error_median_ms": round(float(np.median(all_err)), 6), "error_max_ms": round(float(all_err.max()), 6),
        **{f"error_max_{k}_ms": round(float(np.max(v)) * 1e3, 6) for k, v in errors.items()},
        "uplink_p50_ms": round(up50, 3), "uplink_p95_ms": round(float(np.percentile(ms["uplink"], 95)), 3),
        "downlink_p50_ms": round(float(np.percentile(ms["downlink"], 50)), 3),
        "roundtrip_p50_ms": round(float(np.percentile(ms["roundtrip"], 50)), 3),
        "budget_ms": round(budget.total_s * 1e3, 3), "budget_gap_ms": round(up50 - budget.total_s * 1e3, 3),
        "host_p50_ms": round(float(np.median(host)) * 1e3, 3) if host else None,
    }


if __name__ == "__main__":
    print(json.dumps(main()))
