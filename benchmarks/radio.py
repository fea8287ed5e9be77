"""Radio benchmark: does the timed virtual radio carry what the Core spec's packet arithmetic says?

The truth is written out here from the Core spec (Vol 6 Part B, LE uncoded packet format), in integer
microseconds, and shares nothing with bench/links/radio.py (not its air time, T_IFS or packing rule):

  LL data PDU on air = preamble (1 octet at 1M, 2 at 2M) + access address 4 + header 2 + payload
                       + MIC 4 (encrypted link, non-empty payload) + CRC 3;  8 µs/octet at 1M, 4 at 2M
  a saturated peripheral: central sends an empty PDU, T_IFS 150 µs, peripheral sends a data PDU,
                       T_IFS 150 µs; pairs while the event (with its trailing T_IFS) fits in the CI
  a notification of MTU−3 bytes = L2CAP PDU of MTU+4 bytes, fragmented to the data length

Prints one JSON line (each figure with its target; exit 1 when one is missed):
  throughput_<phy>_kBps, spec_<phy>_kBps, throughput_<phy>_ratio   CI 7.5 ms, DL 251, MTU 247, at 1M
                          and 2M (target |ratio − 1| ≤ 0.5 %); throughput_1m_dl27_* : CI 30 ms, DL 27
                          (10 fragments per notification)
  ci_wait_spread_ms       p97.5 − p2.5 of single-notification delays sent at random phases; the spec's
                          uniform wait over [0, CI] gives 0.95·CI (target within 10 %) — no fitted floor
  ping_p50_ms, raw_ping_p50_ms, overhead_ratio   write→notify through the harness vs raw Bumble (info)
The measured rate is the least-squares slope of delivered bytes against the harness's arrival times.
"""

from __future__ import annotations

import asyncio
import json
import random
import struct
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bleak import BleakClient  # noqa: E402
from bumble import hci  # noqa: E402
from bumble.core import UUID  # noqa: E402
from bumble.device import Device, Peer  # noqa: E402
from bumble.transport import open_transport  # noqa: E402

from bench.config import LinkSpec, ReferenceSpec  # noqa: E402
from bench.links.bumble_backend import BumbleClient, close_hosts  # noqa: E402
from bench.links.loop import new_event_loop  # noqa: E402
from bench.session import ReferenceProcess  # noqa: E402

ECHO = "7f1a1001-6c3b-4e0a-9d6c-3f5b8a2e4c10"
STREAM = "7f1a1002-6c3b-4e0a-9d6c-3f5b8a2e4c10"
HEADER = struct.Struct("<Id")
OUT = Path("out/benchmarks")
MTU = 247
RATIO_TOL = 0.005  # throughput within 0.5 % of the spec arithmetic
SPREAD_TOL = 0.10  # CI wait spread within 10 % of the spec's 0.95·CI


# --- the Core spec's arithmetic, in integer microseconds (independent of bench/links/radio.py) -------
def spec_pdu_us(payload: int, phy: str, encrypted: bool = True) -> int:
    """On-air time of one LL data PDU: preamble + access address + header + payload + MIC + CRC."""
    preamble, us_per_octet = (1, 8) if phy == "1M" else (2, 4)
    mic = 4 if encrypted and payload else 0
    return (preamble + 4 + 2 + payload + mic + 3) * us_per_octet


def spec_notify_bps(interval_us: int, phy: str, data_length: int, mtu: int) -> float:
    """Steady-state payload bytes/s of a saturated peripheral: (empty, T_IFS, data, T_IFS) pairs per
    event, events packed until the next pair would not end T_IFS before the next anchor. The packing
    repeats once an event starts on a notification boundary: rate = payload of one period ÷ its CIs."""
    t_ifs_us = 150
    l2cap = mtu + 4
    frags = [data_length] * (l2cap // data_length) + ([l2cap % data_length] if l2cap % data_length else [])
    pairs_us = [spec_pdu_us(0, phy) + t_ifs_us + spec_pdu_us(f, phy) + t_ifs_us for f in frags]
    sent, events = 0, 0  # fragments sent, events used
    while True:
        used_us = 0
        while not used_us or used_us + pairs_us[sent % len(frags)] <= interval_us:
            used_us += pairs_us[sent % len(frags)]
            sent += 1
        events += 1
        if sent % len(frags) == 0:
            return sent // len(frags) * (mtu - 3) / (events * interval_us * 1e-6)


def start(interval_ms: float, phy: str, dl: int) -> ReferenceProcess:
    spec = ReferenceSpec(link=LinkSpec(interval_ms=interval_ms, phy=phy, data_length=dl, supervision_timeout_ms=4000),
                         seed=7)
    return ReferenceProcess(spec, OUT / "radio-reference.log")


async def connect(ready: dict) -> BleakClient:
    client = BleakClient(ready["address"], backend=BumbleClient, bumble={"hci": ready["hci"], "mtu": 247}, timeout=10)
    await client.connect()
    return client


async def throughput(ready: dict, count: int) -> float:
    """Notification payload bytes/s of a saturated stream of ``count`` MTU-sized notifications."""
    client = await connect(ready)
    arrivals: list[float] = []
    done = asyncio.Event()
    await client.start_notify(STREAM, lambda _c, d: (arrivals.append(time.monotonic()),
                                                     len(arrivals) == count and done.set()))
    size = client.mtu_size - 3
    await client.write_gatt_char(STREAM, struct.pack("<IHI", count, size, 0), response=True)
    await asyncio.wait_for(done.wait(), 120)
    await client.disconnect()
    # steady state: the slope of cumulative payload against arrival time (end effects and host jitter
    # average out instead of landing on two end points)
    t = np.array(arrivals) - arrivals[0]
    return float(np.polyfit(t, np.arange(1, count + 1) * size, 1)[0])


async def one_way_delays(ready: dict, n: int) -> list[float]:
    """Delay of single notifications sent at random phases: receive time − send stamp (s)."""
    client = await connect(ready)
    queue: asyncio.Queue = asyncio.Queue()
    await client.start_notify(STREAM, lambda _c, d: queue.put_nowait((time.monotonic(), bytes(d))))
    rng = random.Random(3)
    delays = []
    for _ in range(n):
        # the glasses send after a random delay, so the send phase is uniform against the events
        delay_us = int(20_000 + rng.random() * 20_000)
        await client.write_gatt_char(STREAM, struct.pack("<IHI", 1, HEADER.size, delay_us), response=True)
        t_recv, data = await asyncio.wait_for(queue.get(), 5)
        _, t_sent = HEADER.unpack_from(data)
        delays.append(t_recv - t_sent)
    await client.disconnect()
    return delays


GOLDEN = (5 ** 0.5 - 1) / 2


def phase_gap_s(i: int, interval_s: float = 0.0075) -> float:
    """The pause before request i: the golden-ratio sequence over one connection interval. Each request
    follows an answer that arrived at a fixed point of an event, so request phases spread evenly over
    the interval and the median wait for the next event is CI/2 to within CI/n. (A uniform random pause
    over 10 ms is not uniform modulo 7.5 ms, and n random phases leave the median wait CI/(2·√n) off.)"""
    return ((i * GOLDEN) % 1.0) * interval_s


async def ping_loop(write, queue: asyncio.Queue, n: int) -> list[float]:
    """Echo round trips: write without response, wait for the notification, pause (phases spread evenly)."""
    rtts = []
    for i in range(n):
        t0 = time.monotonic()
        await write(i.to_bytes(4, "little"))
        rtts.append(await asyncio.wait_for(queue.get(), 5) - t0)
        await asyncio.sleep(phase_gap_s(i))
    return rtts


async def bleak_pings(ready: dict, n: int) -> list[float]:
    client = await connect(ready)
    queue: asyncio.Queue = asyncio.Queue()
    await client.start_notify(ECHO, lambda _c, d: queue.put_nowait(time.monotonic()))
    rtts = await ping_loop(lambda data: client.write_gatt_char(ECHO, data, response=False), queue, n)
    await client.disconnect()
    await close_hosts()
    return rtts


async def raw_pings(ready: dict, n: int) -> list[float]:
    """The same echo with a bare Bumble host: no bleak, no backend."""
    transport = await open_transport(ready["hci"])
    device = Device.with_hci("raw", hci.Address("F0:F1:F2:F3:F4:F6"), transport.source, transport.sink)
    await device.power_on()
    connection = await device.connect(hci.Address(ready["address"], hci.Address.RANDOM_DEVICE_ADDRESS), timeout=10)
    peer = Peer(connection)
    await peer.request_mtu(247)
    await peer.discover_services()
    for s in peer.services:
        await s.discover_characteristics()
    char = peer.get_characteristics_by_uuid(UUID(ECHO))[0]
    queue: asyncio.Queue = asyncio.Queue()
    await peer.subscribe(char, lambda _v: queue.put_nowait(time.monotonic()))
    rtts = await ping_loop(lambda data: peer.write_value(char, data, with_response=False), queue, n)
    await connection.disconnect()
    await transport.close()
    return rtts


async def throughput_case(result: dict, name: str, interval_ms: float, phy: str, dl: int, count: int) -> None:
    ref = start(interval_ms, phy, dl)
    try:
        measured = await throughput(ref.ready, count)
        await close_hosts()
    finally:
        ref.stop()
    spec = spec_notify_bps(round(interval_ms * 1000), phy, dl, MTU)
    result[f"throughput_{name}_kBps"] = round(measured / 1000, 3)
    result[f"spec_{name}_kBps"] = round(spec / 1000, 3)
    result[f"throughput_{name}_ratio"] = round(measured / spec, 5)


async def main() -> dict:
    result: dict = {"ratio_target": f"|ratio - 1| <= {RATIO_TOL}", "spread_target": f"within {SPREAD_TOL:.0%} of 0.95*CI"}
    await throughput_case(result, "2m", 7.5, "2M", 251, 2000)
    await throughput_case(result, "1m", 7.5, "1M", 251, 1200)
    await throughput_case(result, "1m_dl27", 30, "1M", 27, 300)
    ref = start(7.5, "2M", 251)
    try:
        delays = np.array(await one_way_delays(ref.ready, 300))
        pings = np.array(await bleak_pings(ref.ready, 200))
        raws = np.array(await raw_pings(ref.ready, 200))
    finally:
        ref.stop()
    spread = float(np.percentile(delays, 97.5) - np.percentile(delays, 2.5))
    result["ci_wait_spread_ms"] = round(spread * 1000, 3)
    result["spec_wait_spread_ms"] = round(0.95 * 7.5, 3)
    result["ping_p50_ms"] = round(float(np.median(pings)) * 1000, 3)
    result["raw_ping_p50_ms"] = round(float(np.median(raws)) * 1000, 3)
    result["overhead_ratio"] = round(result["ping_p50_ms"] / result["raw_ping_p50_ms"], 3)
    missed = [k for k in result if k.endswith("_ratio") and k.startswith("throughput")
              and abs(result[k] - 1) > RATIO_TOL]
    if abs(spread / (0.95 * 0.0075) - 1) > SPREAD_TOL:
        missed.append("ci_wait_spread_ms")
    result["missed"] = missed
    return result


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    loop = new_event_loop()
    out = loop.run_until_complete(main())
    print(json.dumps(out))
    sys.exit(1 if out["missed"] else 0)
