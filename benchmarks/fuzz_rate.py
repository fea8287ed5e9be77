"""Fuzz rate: *complete GLP frames* per second the fuzzer puts on each link of a clean reference device.

A frame's fragments count once; a write that finishes no frame counts nothing (filler, probe and
mutation bytes are not frames). The figure is the median over 5 seeds of FUZZ_RATE_BUDGET_S (default
10 s) runs per link; writes/s are printed alongside. Targets: >= 1500 over BLE, >= 6000 over serial;
exit 1 when missed or when the clean device fails (a false positive). Prints one JSON line.

    python benchmarks/fuzz_rate.py       # FUZZ_RATE_BUDGET_S=5 FUZZ_RATE_SEEDS=3 FUZZ_TARGETS=serial to shorten
"""

from __future__ import annotations

import json
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.config import load_bench  # noqa: E402
from bench.fuzz.cli import FUZZ_BENCH  # noqa: E402
from benchmarks.fuzz import run  # noqa: E402

TARGETS = {"ble": 1500, "serial": 6000}  # complete frames per second, median of 5 seeds
T_IFS_S = 150e-6  # Core spec: inter-frame space
ATT_L2CAP_BYTES = 3 + 4  # ATT opcode + handle, L2CAP length + channel id, in front of every write/notification
MIC_BYTES = 4  # the reference radio charges the MIC on every data PDU


def air_s(payload_len: int, phy: str, mic: bool = True) -> float:
    """Air time of one LL data PDU (Core spec LE packet format): 1M (1+4+2+L[+4]+3)*8 us, 2M (2+4+2+L[+4]+3)*4 us."""
    extra = MIC_BYTES if mic and payload_len else 0
    return (1 + 4 + 2 + payload_len + extra + 3) * 8e-6 if phy == "1M" else (2 + 4 + 2 + payload_len + extra + 3) * 4e-6


def air_bound(whole_frames: int, link: dict[str, int], phy: str, data_length: int, mtu: int) -> tuple[float, float]:
    """(complete frames/s if the radio were never idle, radio seconds the run's traffic needed).

    Every write and notification is one LL PDU (MTU - 3 + 7 <= data length, checked); a connection event
    pairs one central and one peripheral PDU, each followed by T_IFS, an empty PDU standing in for the side
    with less to send. Ignores the time lost at the end of each event and round trips, so it is a ceiling."""
    if mtu - 3 + ATT_L2CAP_BYTES > data_length:
        raise SystemExit(f"air bound assumes one LL PDU per write: MTU {mtu} needs data length >= {mtu + 4}, got {data_length}")
    n_c, n_p = link["writes"], link["notifications"]
    per_byte = 8e-6 if phy == "1M" else 4e-6
    radio_s = (n_c * air_s(ATT_L2CAP_BYTES, phy) + link["write_bytes"] * per_byte
               + n_p * air_s(ATT_L2CAP_BYTES, phy) + link["notification_bytes"] * per_byte
               + abs(n_c - n_p) * air_s(0, phy, mic=False) + max(n_c, n_p) * 2 * T_IFS_S)
    return (whole_frames / radio_s if radio_s else 0.0), radio_s


def main() -> int:
    rate_s = float(os.environ.get("FUZZ_RATE_BUDGET_S", "10"))
    out = Path(os.environ.get("FUZZ_OUT", "out/bench-fuzz"))
    kinds = [k for k in os.environ.get("FUZZ_TARGETS", ",".join(TARGETS)).split(",") if k]
    unknown = sorted(set(kinds) - set(TARGETS))
    if unknown:
        print(f"FUZZ_TARGETS: unknown link(s) {', '.join(unknown)}; expected some of {', '.join(TARGETS)}", file=sys.stderr)
        return 2
    seeds = range(100, 100 + int(os.environ.get("FUZZ_RATE_SEEDS", "5")))
    rates: dict[str, list[float]] = {kind: [] for kind in kinds}
    writes: dict[str, list[float]] = {kind: [] for kind in kinds}
    bound: list[float] = []  # BLE: complete frames/s the same traffic would reach on a never-idle radio
    busy: list[float] = []  # BLE: radio time that traffic needed / run time
    config = load_bench(os.environ.get("FUZZ_BENCH") or FUZZ_BENCH)
    assert config.reference is not None and config.reference.link is not None and config.dut.ble is not None
    link_cfg = config.reference.link
    false_positives = 0
    for kind in kinds:
        for seed in seeds:
            r = run(kind, [], rate_s, seed, out)
            rates[kind].append(r.whole_frames_per_s)
            writes[kind].append(r.frames_per_s)
            false_positives += r.failure is not None
            if kind == "ble" and "link" in r.extra:
                ceiling, radio_s = air_bound(r.whole_frames, r.extra["link"], link_cfg.phy or "1M",
                                             link_cfg.data_length or 27, config.dut.ble.mtu)
                bound.append(ceiling)
                busy.append(radio_s / r.elapsed_s)
            print(f"# rate {kind} seed {seed}: {r.whole_frames_per_s:.0f} frames/s, {r.frames_per_s:.0f} writes/s",
                  file=sys.stderr, flush=True)
    rate = {k: statistics.median(v) for k, v in rates.items()}
    missed = [f"whole_frames_per_s_{k}" for k in rate if rate[k] < TARGETS[k]]
    missed += ["false_positives"] if false_positives else []
    print(json.dumps({
        **{f"whole_frames_per_s_{k}": round(v) for k, v in rate.items()},
        **{f"whole_frames_per_s_{k}_target": TARGETS[k] for k in rate},
        "whole_frames_per_s_by_seed": {k: [round(x) for x in v] for k, v in rates.items()},
        "writes_per_s_median": {k: round(statistics.median(v)) for k, v in writes.items()},
        **({"air_bound_frames_per_s_ble": round(statistics.median(bound)),
            "radio_busy_fraction_ble": round(statistics.median(busy), 3)} if bound else {}),
        "rate_budget_s": rate_s,
        "seeds": len(seeds),
        "false_positives": false_positives,
        "missed_targets": missed,
    }))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
