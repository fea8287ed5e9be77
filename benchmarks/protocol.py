"""GLP benchmark: what does the protocol cost on top of the radio's floor, and how close does a photo get?

Prints one JSON line (targets next to figures; exit 1 when one is missed):
  request_p50_ms            Ping → Pong through PhoneSession over BLE (bleak + BumbleClient), median
  radio_floor_ms            1.5·CI + air time of the request PDU + air time of the response PDU, from the
                            Core-spec arithmetic in benchmarks/radio.py (the answer waits for the next
                            event: wait for the request's event, median CI/2, then one CI)
  request_gap_ms            request_p50_ms − radio_floor_ms (target ≤ 0.3 ms)
  radio_floor_exact_ms      1.5·CI + empty PDU + T_IFS + response PDU: what the radio alone imposes
  trial_gap_p50_ms          per request: round trip − its own radio floor (from its start to the next
                            connection event on the radio's grid, read from the reference bench's truth
                            channel, + CI + empty PDU + T_IFS + response PDU); median (target ≤ 0.3 ms).
                            Unlike request_gap_ms it does not rest on the phases averaging to CI/2:
                            with 300 requests the median wait alone moves ±0.2 ms from run to run
  raw_ping_p50_ms           raw Bumble GATT write → notify (link-test echo) on the same radio, same run
  codec_frames_per_s        encode + fragment + reassemble + decode (bench.profiles.glp.perf), frames/s
  photo_throughput_ratio    1 MB photo transfer (PhotoRead → CRC-checked bytes) ÷ the spec arithmetic's
                            notification payload throughput at the same link parameters (target ≥ 0.8)
Link: CI 7.5 ms, 2M PHY, data length 251, ATT MTU 247 (the nrf52840dk profile).
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from radio import phase_gap_s, raw_pings, spec_notify_bps, spec_pdu_us  # noqa: E402  (benchmarks/radio.py)

from bench.audio.rig import TruthClient  # noqa: E402
from bench.config import LinkSpec, ReferenceSpec  # noqa: E402
from bench.links.ble import BleLink  # noqa: E402
from bench.links.bumble_backend import BumbleClient, BumbleScanner, close_hosts  # noqa: E402
from bench.links.loop import new_event_loop  # noqa: E402
from bench.profiles.glp import messages as m  # noqa: E402
from bench.profiles.glp.ble_transport import BleTransport  # noqa: E402
from bench.profiles.glp.perf import codec_round_trips  # noqa: E402
from bench.profiles.glp.session import PhoneSession  # noqa: E402
from bench.session import ReferenceProcess  # noqa: E402

OUT = Path("out/benchmarks")
PHOTO_BYTES = 1_000_000
MTU = 247
INTERVAL_US, PHY, DL = 7500, "2M", 251
GAP_TARGET_MS, PHOTO_TARGET = 0.3, 0.8
ATT_L2CAP_HEADER = 3 + 4  # an ATT write command / notification (opcode, handle) in an L2CAP PDU


async def glp_figures(ready: dict, n_pings: int) -> tuple[list[tuple[float, float]], float, int, int, dict]:
    """Request (start time, round trip) pairs (s), the 1 MB photo transfer time (s), the largest request
    and response ATT values (bytes) seen during the pings, through the harness, and the radio's event
    grid during the pings (the reference bench's truth channel)."""
    link = BleLink(address=ready["address"], backend=BumbleClient, scan_backend=BumbleScanner,
                   backend_kwargs={"bumble": {"hci": ready["hci"], "mtu": MTU}}, connect_timeout_s=10)
    await link.connect()
    transport = BleTransport(link)
    session = PhoneSession(transport, timeout_s=2.0)
    await transport.start()
    await session.hello()
    for i in range(10):  # warm-up
        await session.request(m.Ping(i))
    sizes = {"req": 0, "rsp": 0}
    send, receiver = transport.send, transport._receiver
    assert receiver is not None

    async def sized_send(channel, data: bytes) -> None:  # noqa: ANN001
        sizes["req"] = max(sizes["req"], len(data))
        await send(channel, data)

    def sized_receive(channel, data: bytes) -> None:  # noqa: ANN001
        sizes["rsp"] = max(sizes["rsp"], len(data))
        receiver(channel, data)

    transport.send, transport._receiver = sized_send, sized_receive  # type: ignore[method-assign]
    host, port = ready["rig_truth"].rsplit(":", 1)
    truth = TruthClient(host, int(port))
    grid = await asyncio.to_thread(truth.radio)
    rtts = []
    for i in range(n_pings):
        t0 = time.monotonic()
        await session.request(m.Ping(i))
        rtts.append((t0, time.monotonic() - t0))
        await asyncio.sleep(phase_gap_s(i, INTERVAL_US / 1e6))  # request phases spread evenly over the CI
    transport.send, transport._receiver = send, receiver  # type: ignore[method-assign]
    after = await asyncio.to_thread(truth.radio)
    truth.close()
    if len(grid) != 1 or after != grid:
        raise RuntimeError(f"the radio's event grid was not one steady connection during the pings: {grid} -> {after}")
    info = await session.request(m.PhotoCapture(100))
    assert info.size_bytes == PHOTO_BYTES, f"photo is {info.size_bytes} bytes, expected {PHOTO_BYTES}"
    t0 = time.monotonic()
    data = await session.fetch_photo(info, window=128, stall_timeout_s=5.0)
    elapsed_s = time.monotonic() - t0
    assert len(data) == PHOTO_BYTES
    await session.close()
    await transport.stop()
    await link.disconnect()
    await close_hosts()
    return rtts, elapsed_s, sizes["req"], sizes["rsp"], grid[0]


def trial_floors_s(trials: list[tuple[float, float]], grid: dict, rsp_bytes: int) -> list[float]:
    """Each request's own radio floor (s): from its start to the first connection event at or after it
    (the radio's grid, not a median phase), one CI more for the answer's event, which opens with the
    central's empty PDU and T_IFS before the answer's air time (Core-spec arithmetic of radio.py)."""
    anchor, interval = grid["anchor_s"], grid["interval_s"]
    tail_s = interval + (spec_pdu_us(0, PHY) + 150 + spec_pdu_us(ATT_L2CAP_HEADER + rsp_bytes, PHY)) / 1e6
    return [anchor + math.ceil((t0 - anchor) / interval) * interval - t0 + tail_s for t0, _ in trials]


def codec_rate(n: int = 20_000) -> float:
    t0 = time.perf_counter()
    ok = codec_round_trips(n)
    elapsed_s = time.perf_counter() - t0
    assert ok == n, f"only {ok} of {n} frames came back equal"
    return n / elapsed_s


async def main() -> dict:
    spec = ReferenceSpec(link=LinkSpec(interval_ms=7.5, phy="2M", data_length=251, supervision_timeout_ms=4000),
                         seed=7, settings={"photo.size_bytes": str(PHOTO_BYTES)})
    ref = ReferenceProcess(spec, OUT / "protocol-reference.log")
    try:
        trials, photo_s, req_bytes, rsp_bytes, grid = await glp_figures(ref.ready, 300)
        raws = await raw_pings(ref.ready, 200)
    finally:
        ref.stop()
    rtts = [rtt for _, rtt in trials]
    overheads = np.array(rtts) - np.array(trial_floors_s(trials, grid, rsp_bytes))
    request_p50 = float(np.median(rtts)) * 1000
    floor_ms = (1.5 * INTERVAL_US + spec_pdu_us(ATT_L2CAP_HEADER + req_bytes, PHY)
                + spec_pdu_us(ATT_L2CAP_HEADER + rsp_bytes, PHY)) / 1000
    # what the radio alone imposes: the answer's event opens with the central's empty PDU and T_IFS, so the
    # answer ends 1.5·CI + empty + T_IFS + its air time after the median request (the floor counts
    # the request's air time where the empty PDU and T_IFS are: ~0.09 ms less at 2M)
    exact_ms = (1.5 * INTERVAL_US + spec_pdu_us(0, PHY) + 150 + spec_pdu_us(ATT_L2CAP_HEADER + rsp_bytes, PHY)) / 1000
    photo_bps = PHOTO_BYTES / photo_s
    spec_bps = spec_notify_bps(INTERVAL_US, PHY, DL, MTU)
    result = {
        "request_p50_ms": round(request_p50, 3),
        "request_p05_ms": round(float(np.percentile(rtts, 5)) * 1000, 3),
        "request_bytes": req_bytes, "response_bytes": rsp_bytes,
        "radio_floor_ms": round(floor_ms, 3),
        "request_gap_ms": round(request_p50 - floor_ms, 3), "request_gap_target_ms": GAP_TARGET_MS,
        "radio_floor_exact_ms": round(exact_ms, 3),
        "trial_gap_p50_ms": round(float(np.median(overheads)) * 1000, 3),
        "trial_gap_p90_ms": round(float(np.percentile(overheads, 90)) * 1000, 3),
        "trial_gap_min_ms": round(float(overheads.min()) * 1000, 3), "trial_gap_target_ms": GAP_TARGET_MS,
        "raw_ping_p50_ms": round(float(np.median(raws)) * 1000, 3),
        "codec_frames_per_s": round(codec_rate()),
        "photo_bytes": PHOTO_BYTES,
        "photo_throughput_kBps": round(photo_bps / 1000, 2),
        "spec_notify_throughput_kBps": round(spec_bps / 1000, 2),
        "photo_throughput_ratio": round(photo_bps / spec_bps, 4), "photo_throughput_target": f">= {PHOTO_TARGET}",
    }
    result["missed_targets"] = [k for k, ok in (("request_gap_ms", result["request_gap_ms"] <= GAP_TARGET_MS),
                                                ("trial_gap_p50_ms", result["trial_gap_p50_ms"] <= GAP_TARGET_MS),
                                                ("photo_throughput_ratio", photo_bps / spec_bps >= PHOTO_TARGET))
                                if not ok]
    return result


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    loop = new_event_loop()
    out = loop.run_until_complete(main())
    print(json.dumps(out))
    sys.exit(1 if out["missed_targets"] else 0)
