"""Radio benchmark: is the timed virtual radio as fast as the formula says, and what does the harness cost?

Prints one JSON line:
  throughput_ratio      measured notification throughput ÷ formula (CI 7.5 ms, 2M, DL 251, MTU 247)
  throughput_ratio_1m   same at CI 30 ms, 1M, DL 27, MTU 247 (10 fragments per notification)
  ci_wait_ks_p          KS p-value: single-notification delay − air time − stack floor vs uniform[0, CI]
  ping_p50_ms           write→notify round trip through the harness (bleak + BumbleClient)
  raw_ping_p50_ms       the same exchange with raw Bumble on the same radio, same run
  overhead_ratio        ping_p50_ms ÷ raw_ping_p50_ms
The "stack floor" is the median one-way delay minus the model's expected value, measured in the same
run on the same radio (hosts, TCP and timers), so only the radio's wait is compared to uniform.
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
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bleak import BleakClient  # noqa: E402
from bumble import hci  # noqa: E402
from bumble.core import UUID  # noqa: E402
from bumble.device import Device, Peer  # noqa: E402
from bumble.transport import open_transport  # noqa: E402

from bench.config import LinkSpec, ReferenceSpec  # noqa: E402
from bench.links.bumble_backend import BumbleClient, close_hosts  # noqa: E402
from bench.links.loop import new_event_loop  # noqa: E402
from bench.links.radio import LinkParams, T_IFS_S, air_time_s, notify_throughput_bps  # noqa: E402
from bench.session import ReferenceProcess  # noqa: E402

ECHO = "7f1a1001-6c3b-4e0a-9d6c-3f5b8a2e4c10"
STREAM = "7f1a1002-6c3b-4e0a-9d6c-3f5b8a2e4c10"
HEADER = struct.Struct("<Id")
OUT = Path("out/benchmarks")


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
    # first→last: (count − 1) notifications delivered in that span
    return (count - 1) * size / (arrivals[-1] - arrivals[0])


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


async def ping_loop(write, queue: asyncio.Queue, n: int) -> list[float]:
    """Echo round trips: write without response, wait for the notification, random gap (any phase)."""
    rtts = []
    for i in range(n):
        t0 = time.monotonic()
        await write(i.to_bytes(4, "little"))
        rtts.append(await asyncio.wait_for(queue.get(), 5) - t0)
        await asyncio.sleep(random.random() * 0.01)
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


async def main() -> dict:
    result: dict = {}
    fast = LinkParams(interval_s=0.0075, phy="2M", data_length=251)
    ref = start(7.5, "2M", 251)
    try:
        measured = await throughput(ref.ready, 2000)
        result["throughput_kBps"] = round(measured / 1000, 2)
        result["throughput_formula_kBps"] = round(notify_throughput_bps(fast, 247) / 1000, 2)
        result["throughput_ratio"] = round(measured / notify_throughput_bps(fast, 247), 4)
        delays = np.array(await one_way_delays(ref.ready, 300))
        air = air_time_s(0, "2M") + T_IFS_S + air_time_s(HEADER.size + 7, "2M")
        wait = delays - air
        # The model predicts uniform[0, CI] with median CI/2; what is left is the hosts' floor.
        floor = float(np.median(wait) - fast.interval_s / 2)
        result["stack_floor_ms"] = round(floor * 1000, 3)
        result["ci_wait_ks_p"] = float(f"{stats.kstest((wait - floor) / fast.interval_s, 'uniform').pvalue:.4g}")
        pings = np.array(await bleak_pings(ref.ready, 200))
        raws = np.array(await raw_pings(ref.ready, 200))
        result["ping_p50_ms"] = round(float(np.median(pings)) * 1000, 3)
        result["raw_ping_p50_ms"] = round(float(np.median(raws)) * 1000, 3)
        result["overhead_ratio"] = round(result["ping_p50_ms"] / result["raw_ping_p50_ms"], 3)
    finally:
        ref.stop()
    slow = LinkParams(interval_s=0.030, phy="1M", data_length=27)
    ref = start(30, "1M", 27)
    try:
        measured = await throughput(ref.ready, 300)
        result["throughput_ratio_1m"] = round(measured / notify_throughput_bps(slow, 247), 4)
        await close_hosts()
    finally:
        ref.stop()
    return result


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    loop = new_event_loop()
    print(json.dumps(loop.run_until_complete(main())))
