"""GLP benchmark: what does the protocol cost on top of the radio, and how close does a photo get to it?

Prints one JSON line:
  request_p50_ms            Ping → Pong through PhoneSession over BLE (bleak + BumbleClient), median
  raw_ping_p50_ms           raw Bumble GATT write → notify (link-test echo) on the same radio, same run
  request_overhead_ratio    request_p50_ms ÷ raw_ping_p50_ms (target ≤ 1.3)
  codec_frames_per_s        encode + fragment + reassemble + decode (bench.profiles.glp.perf), frames/s
  photo_throughput_ratio    1 MB photo transfer (PhotoRead → CRC-checked bytes) ÷ the radio's theoretical
                            notification payload throughput at the same link parameters (target ≥ 0.8)
Link: CI 7.5 ms, 2M PHY, data length 251, ATT MTU 247 (the nrf52840dk profile).
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from radio import raw_pings  # noqa: E402  (benchmarks/radio.py: the lead's raw Bumble ping)

from bench.config import LinkSpec, ReferenceSpec  # noqa: E402
from bench.links.ble import BleLink  # noqa: E402
from bench.links.bumble_backend import BumbleClient, BumbleScanner, close_hosts  # noqa: E402
from bench.links.loop import new_event_loop  # noqa: E402
from bench.links.radio import LinkParams, notify_throughput_bps  # noqa: E402
from bench.profiles.glp import messages as m  # noqa: E402
from bench.profiles.glp.ble_transport import BleTransport  # noqa: E402
from bench.profiles.glp.perf import codec_round_trips  # noqa: E402
from bench.profiles.glp.session import PhoneSession  # noqa: E402
from bench.session import ReferenceProcess  # noqa: E402

OUT = Path("out/benchmarks")
PHOTO_BYTES = 1_000_000
MTU = 247
PARAMS = LinkParams(interval_s=0.0075, phy="2M", data_length=251)


async def glp_figures(ready: dict, n_pings: int) -> tuple[list[float], float]:
    """Request round trips (s) and the 1 MB photo transfer time (s) through the harness."""
    link = BleLink(address=ready["address"], backend=BumbleClient, scan_backend=BumbleScanner,
                   backend_kwargs={"bumble": {"hci": ready["hci"], "mtu": MTU}}, connect_timeout_s=10)
    await link.connect()
    transport = BleTransport(link)
    session = PhoneSession(transport, timeout_s=2.0)
    await transport.start()
    await session.hello()
    rng = random.Random(5)
    for i in range(10):  # warm-up
        await session.request(m.Ping(i))
    rtts = []
    for i in range(n_pings):
        t0 = time.monotonic()
        await session.request(m.Ping(i))
        rtts.append(time.monotonic() - t0)
        await asyncio.sleep(rng.random() * 0.01)  # random phase against the connection events
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
    return rtts, elapsed_s


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
        rtts, photo_s = await glp_figures(ref.ready, 200)
        raws = await raw_pings(ref.ready, 200)
    finally:
        ref.stop()
    request_p50 = float(np.median(rtts)) * 1000
    raw_p50 = float(np.median(raws)) * 1000
    photo_bps = PHOTO_BYTES / photo_s
    return {
        "request_p50_ms": round(request_p50, 3),
        "raw_ping_p50_ms": round(raw_p50, 3),
        "request_overhead_ratio": round(request_p50 / raw_p50, 3),
        "codec_frames_per_s": round(codec_rate()),
        "photo_bytes": PHOTO_BYTES,
        "photo_throughput_kBps": round(photo_bps / 1000, 2),
        "notify_throughput_formula_kBps": round(notify_throughput_bps(PARAMS, MTU) / 1000, 2),
        "photo_throughput_ratio": round(photo_bps / notify_throughput_bps(PARAMS, MTU), 4),
    }


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    loop = new_event_loop()
    print(json.dumps(loop.run_until_complete(main())))
