"""The timed radio: formulas, and real Bumble devices talking through it in one loop."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest
from bumble import gatt, hci
from bumble.device import Device, Peer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.links import bumble_speedups
from bench.links.loop import new_event_loop
from bench.links.controller import TimedController
from bench.links.radio import (LinkParams, T_IFS_S, TimedLink, air_time_s, fragments,
                               notify_throughput_bps)

CHAR = "7f1a9001-6c3b-4e0a-9d6c-3f5b8a2e4c10"
SERVICE = "7f1a9000-6c3b-4e0a-9d6c-3f5b8a2e4c10"


def test_air_time_matches_the_core_spec_figures():
    assert air_time_s(251, "1M") == pytest.approx(2120e-6)
    assert air_time_s(251, "2M") == pytest.approx(1064e-6)
    assert air_time_s(0, "1M") == pytest.approx(80e-6)  # empty PDU: no MIC
    assert air_time_s(27, "1M", encrypted=False) == pytest.approx(296e-6)


@given(st.integers(1, 2000), st.integers(27, 251))
def test_fragments_cover_the_pdu(pdu_len, dl):
    frags = fragments(pdu_len, dl)
    assert sum(frags) == pdu_len
    assert all(0 < f <= dl for f in frags)


def test_throughput_formula_packs_whole_pairs():
    p = LinkParams(interval_s=0.0075, phy="2M", data_length=251)
    pair = air_time_s(0, "2M") + T_IFS_S + air_time_s(251, "2M") + T_IFS_S
    per_event = int(p.interval_s // pair)
    assert notify_throughput_bps(p, 247) == pytest.approx(per_event * 244 / p.interval_s)
    slower = LinkParams(interval_s=0.030, phy="1M", data_length=27)
    assert notify_throughput_bps(slower, 247) < notify_throughput_bps(p, 247)


def test_link_params_reject_out_of_range():
    with pytest.raises(ValueError, match="interval_s"):
        LinkParams(interval_s=0.001)
    with pytest.raises(ValueError, match="data_length"):
        LinkParams(data_length=300)


class Pair:
    """A peripheral with one write/notify characteristic and a connected central, on one TimedLink."""

    def __init__(self, params: LinkParams) -> None:
        self.params = params
        self.arrivals: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def __aenter__(self) -> "Pair":
        bumble_speedups.install()
        self.link = TimedLink(self.params)
        c1 = TimedController("peripheral", link=self.link)
        c2 = self.central_controller = TimedController("central", link=self.link)
        self.peripheral = Device.with_hci("p", hci.Address("C0:00:00:00:00:01"), c1, c1)
        self.central = Device.with_hci("c", hci.Address("C0:00:00:00:00:02"), c2, c2)
        props = gatt.Characteristic.Properties
        self.char = gatt.Characteristic(
            CHAR, props.WRITE_WITHOUT_RESPONSE | props.NOTIFY,
            gatt.Characteristic.READABLE | gatt.Characteristic.WRITEABLE,
            gatt.CharacteristicValue(write=lambda _c, v: self.arrivals.put_nowait((time.monotonic(), bytes(v)))))
        self.peripheral.add_service(gatt.Service(SERVICE, [self.char]))
        await self.peripheral.power_on()
        await self.central.power_on()
        await self.peripheral.start_advertising(advertising_interval_min=20, advertising_interval_max=20)
        self.connection = await self.central.connect(self.peripheral.random_address, timeout=5)
        self.peer = Peer(self.connection)
        await self.peer.request_mtu(247)
        await self.peer.discover_services()
        for s in self.peer.services:
            await s.discover_characteristics()
        self.remote = self.peer.get_characteristics_by_uuid(gatt.UUID(CHAR))[0]
        return self

    async def __aexit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.connection.disconnect(), 1)


def run(coro):
    loop = new_event_loop()
    try:
        return loop.run_until_complete(asyncio.wait_for(coro, 60))
    finally:
        loop.close()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(interval_ms=st.sampled_from([7.5, 15.0, 30.0]), phy=st.sampled_from(["1M", "2M"]),
       size=st.integers(1, 200), phase=st.floats(0, 1))
def test_single_write_waits_for_the_next_event(interval_ms, phy, size, phase):
    """A write's delay lies in [air time, interval + air time] (+ the hosts' processing)."""
    params = LinkParams(interval_s=interval_ms / 1000, phy=phy, data_length=251)

    async def body() -> tuple[float, float]:
        async with Pair(params) as pair:
            await asyncio.sleep(phase * params.interval_s + 0.05)
            payload = bytes(size)
            t0 = time.monotonic()
            await pair.peer.write_value(pair.remote, payload, with_response=False)
            t1, data = await asyncio.wait_for(pair.arrivals.get(), 2)
            assert data == payload
            return t1 - t0, air_time_s(size + 7, phy)
    delay_s, air_s = run(body())
    # the upper bound has 4 ms of slack for the two host stacks and timer wake-up on a loaded machine
    assert air_s <= delay_s <= params.interval_s + air_s + 0.004


def test_lossy_link_retransmits_in_order():
    params = LinkParams(interval_s=0.0075, per=0.3, seed=5)

    async def body() -> list[bytes]:
        async with Pair(params) as pair:
            for i in range(40):
                await pair.peer.write_value(pair.remote, i.to_bytes(2, "little"), with_response=False)
            return [(await asyncio.wait_for(pair.arrivals.get(), 5))[1] for _ in range(40)]
    assert run(body()) == [i.to_bytes(2, "little") for i in range(40)]


def test_saturated_link_carries_what_the_formula_says():
    params = LinkParams(interval_s=0.0075, phy="2M", data_length=251)

    async def body() -> float:
        async with Pair(params) as pair:
            for i in range(300):
                await pair.peer.write_value(pair.remote, bytes(244), with_response=False)
            times = [(await asyncio.wait_for(pair.arrivals.get(), 10))[0] for _ in range(300)]
            return 299 * 244 / (times[-1] - times[0])
    measured = run(body())
    # the central writes; the formula is symmetric (data pair with an empty PDU)
    assert measured == pytest.approx(notify_throughput_bps(params, 247), rel=0.1)


def test_jammed_link_drops_after_supervision_timeout():
    params = LinkParams(interval_s=0.0075, supervision_timeout_s=0.3)

    async def body() -> tuple[float, int, int]:
        async with Pair(params) as pair:
            lost = asyncio.get_running_loop().create_future()
            pair.connection.on("disconnection", lambda reason: lost.done() or lost.set_result(reason))
            t0 = time.monotonic()
            pair.link.jam(True)
            reason = await asyncio.wait_for(lost, 3)
            return time.monotonic() - t0, reason, len(pair.peripheral.connections)
    elapsed_s, reason, remaining = run(body())
    assert reason == hci.HCI_ErrorCode.CONNECTION_TIMEOUT_ERROR
    assert 0.3 <= elapsed_s <= 0.3 + 0.35
    assert remaining == 0


def test_controller_reset_drops_links_so_the_peer_sees_a_disconnection():
    async def body() -> int:
        async with Pair(LinkParams()) as pair:
            seen = asyncio.get_running_loop().create_future()
            conn = next(iter(pair.peripheral.connections.values()))
            conn.on("disconnection", lambda reason: seen.done() or seen.set_result(reason))
            pair.central_controller.reset_link_state()
            return await asyncio.wait_for(seen, 2)
    assert run(body()) == hci.HCI_ErrorCode.REMOTE_USER_TERMINATED_CONNECTION_ERROR


def test_delivery_observer_sees_each_pdu_at_its_modelled_time():
    params = LinkParams(interval_s=0.0075, per=0.2, jitter_s=0.001, seed=3)

    async def body() -> tuple[list[tuple[bool, bytes, float, float]], list[tuple[float, bytes]]]:
        async with Pair(params) as pair:
            seen = []
            pair.link.delivery_observer = lambda c, data, t: seen.append((c, data, t, time.monotonic()))
            for i in range(10):
                await pair.peer.write_value(pair.remote, b"obs" + bytes([i]), with_response=False)
            got = [await asyncio.wait_for(pair.arrivals.get(), 5) for _ in range(10)]
            return seen, got
    seen, got = run(body())
    writes = [s for s in seen if s[0] and s[1].endswith(tuple(b"obs" + bytes([i]) for i in range(10)))]
    assert len(writes) == 10 and all(central for central, *_ in writes)
    times = [t for _, _, t, _ in writes]
    assert times == sorted(times)  # a link never reorders
    for (_, _, t_model, t_called), (t_arrival, _) in zip(writes, got):
        assert t_model <= t_called + 1e-6  # reported at the modelled time, never before it happened
        assert t_model <= t_arrival
