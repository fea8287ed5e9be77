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


def test_throughput_formula_is_the_steady_state():
    # 1M, DL 251: pairs of 80 + 150 + 2120 + 150 = 2500 µs, three fill a 7.5 ms event exactly
    exact = LinkParams(interval_s=0.0075, phy="1M", data_length=251)
    assert notify_throughput_bps(exact, 247) == pytest.approx(3 * 244 / 0.0075, rel=1e-12)
    # 1M, DL 27: 10 fragments per notification (pairs of 9 × 708 µs + 556 µs); 43 pairs fit a 30 ms
    # event whatever the mix (39·708 + 4·556 = 29836 µs; any 44 pairs > 30000 µs): 4.3 notifications
    frag = LinkParams(interval_s=0.030, phy="1M", data_length=27)
    assert notify_throughput_bps(frag, 247) == pytest.approx(4.3 * 244 / 0.030, rel=1e-9)


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
    """A write's delay lies in [air time, interval + air time], in the radio's own clock: from the moment
    the PDU reaches the radio to the modelled time it is handed over (host load cannot move either)."""
    params = LinkParams(interval_s=interval_ms / 1000, phy=phy, data_length=251)

    async def body() -> tuple[float, float]:
        async with Pair(params) as pair:
            await asyncio.sleep(phase * params.interval_s + 0.05)
            entered, handed = [], []
            conn = next(iter(pair.link.connections.values()))
            enqueue = conn.enqueue

            def timed_enqueue(from_central, pdu):
                entered.append(asyncio.get_running_loop().time())
                enqueue(from_central, pdu)
            conn.enqueue = timed_enqueue
            pair.link.delivery_observer = lambda _from_central, _pdu, t_s: handed.append(t_s)
            payload = bytes(size)
            await pair.peer.write_value(pair.remote, payload, with_response=False)
            _t1, data = await asyncio.wait_for(pair.arrivals.get(), 2)
            assert data == payload and entered and handed
            return handed[0] - entered[0], air_time_s(size + 7, phy)
    delay_s, air_s = run(body())
    assert air_s - 1e-9 <= delay_s <= params.interval_s + air_s + 1e-9


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
            t0 = asyncio.get_running_loop().time()
            pair.link.jam(True)
            reason = await asyncio.wait_for(lost, 3)
            return asyncio.get_running_loop().time() - t0, reason, len(pair.peripheral.connections)
    elapsed_s, reason, remaining = run(body())
    assert reason == hci.HCI_ErrorCode.CONNECTION_TIMEOUT_ERROR
    assert elapsed_s >= 0.3 - 0.0075  # from the last good event, up to one CI before the jam (how late a loaded host fires it is not checked)
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


def test_a_dropped_link_leaves_no_completions_for_the_next_one_on_its_handle():
    """Half an L2CAP PDU is in the controller when the link drops: the next connection that gets the
    same handle must not be told those packets completed (Bumble's host warns "N completed but only 1
    in flight" and its flow control goes wrong)."""
    async def body() -> int:
        async with Pair(LinkParams()) as pair:
            conn = next(iter(pair.central_controller.le_connections.values()))
            start = hci.HCI_AclDataPacket(conn.handle, hci.HCI_ACL_PB_FIRST_FLUSHABLE, 0, 8,
                                          bytes([20, 0, 4, 0]) + bytes(4))  # L2CAP length 20, 4 bytes of it
            pair.central_controller.on_hci_acl_data_packet(start)
            seen = asyncio.get_running_loop().create_future()
            peer = next(iter(pair.peripheral.connections.values()))
            peer.on("disconnection", lambda reason: seen.done() or seen.set_result(reason))
            pair.link.drop(next(iter(pair.link.connections.values())), hci.HCI_ErrorCode.CONNECTION_TIMEOUT_ERROR)
            await asyncio.wait_for(seen, 2)
            return pair.central_controller._hci_packets.get(conn.handle, 0)
    assert run(body()) == 0


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


def test_schedule_is_the_grid_the_events_fall_on():
    """TimedLink.schedule() (the truth benchmarks read) names the grid the radio really runs on."""
    params = LinkParams(interval_s=0.015, phy="2M")

    async def body() -> tuple[list[dict], list[float]]:
        async with Pair(params) as pair:
            events = Anchors()
            pair.link.observer = events
            for i in range(5):
                await pair.peer.write_value(pair.remote, bytes([i]), with_response=False)
                await asyncio.wait_for(pair.arrivals.get(), 2)
                await asyncio.sleep(0.004 * i)
            return pair.link.schedule(), [t for t, _ in events.events]
    grid, anchors = run(body())
    assert len(grid) == 1 and grid[0]["interval_s"] == pytest.approx(0.015) and grid[0]["phy"] == "2M"
    assert anchors
    for t in anchors:
        k = (t - grid[0]["anchor_s"]) / grid[0]["interval_s"]
        assert abs(k - round(k)) < 1e-6


class Anchors:
    """Radio observer: the modelled start time and central air time of every connection event."""

    def __init__(self) -> None:
        self.events: list[tuple[float, float]] = []

    def radio_event(self, t_s: float, tx_s: float, rx_s: float) -> None:
        self.events.append((t_s, rx_s))


def test_hosts_see_the_radio_parameters_and_a_connection_update_moves_the_events():
    async def body() -> tuple[tuple[float, float], tuple[float, float, float], list[float]]:
        async with Pair(LinkParams(interval_s=0.0075, supervision_timeout_s=2.0)) as pair:
            peripheral = next(iter(pair.peripheral.connections.values()))
            before = (pair.connection.parameters.connection_interval, peripheral.parameters.connection_interval)
            await pair.connection.update_parameters(50, 50, 2, 4000)
            await asyncio.sleep(0.05)  # the peripheral's host hears of it through its controller
            after = (pair.connection.parameters.connection_interval, peripheral.parameters.connection_interval,
                     peripheral.parameters.supervision_timeout)
            anchors = Anchors()
            pair.link.observer = anchors
            for i in range(6):
                await pair.peer.write_value(pair.remote, bytes([i]), with_response=False)
                await asyncio.wait_for(pair.arrivals.get(), 2)
            return before, after, [t for t, _ in anchors.events]
    before, after, anchors = run(body())
    assert before == (7.5, 7.5)  # announced as the peripheral's preferred parameters, not the CONNECT_IND's
    assert after == (50.0, 50.0, 4000.0)
    gaps = [b - a for a, b in zip(anchors, anchors[1:])]
    assert gaps and all(g / 0.05 == pytest.approx(round(g / 0.05), abs=1e-6) and g > 0 for g in gaps)


@pytest.mark.parametrize("phy", ["1M", "2M"])
def test_le_set_phy_changes_the_air_time_and_both_hosts_read_it(phy):
    async def body() -> tuple[int, int, str, list[float]]:
        async with Pair(LinkParams(phy="2M" if phy == "1M" else "1M")) as pair:
            wanted = hci.Phy.LE_1M if phy == "1M" else hci.Phy.LE_2M
            updated = asyncio.get_running_loop().create_future()
            peripheral = next(iter(pair.peripheral.connections.values()))
            peripheral.on("connection_phy_update", lambda p: updated.done() or updated.set_result(p))
            await pair.connection.set_phy([wanted], [wanted])
            await asyncio.wait_for(updated, 2)
            central_phy = (await pair.connection.get_phy()).tx_phy
            peripheral_phy = (await peripheral.get_phy()).rx_phy
            anchors = Anchors()
            pair.link.observer = anchors
            await pair.peer.write_value(pair.remote, bytes(100), with_response=False)
            await asyncio.wait_for(pair.arrivals.get(), 2)
            conn = pair.link.connection_between(pair.connection.self_address, pair.connection.peer_address)
            return central_phy, peripheral_phy, conn.phy, [rx for _, rx in anchors.events]
    central_phy, peripheral_phy, radio_phy, rx = run(body())
    wanted = hci.Phy.LE_1M if phy == "1M" else hci.Phy.LE_2M
    assert central_phy == peripheral_phy == wanted and radio_phy == phy
    assert air_time_s(100 + 7, phy) in [pytest.approx(r) for r in rx]  # ATT 3 + L2CAP 4 header bytes


@pytest.mark.parametrize("idle_s", [0.2, 0.5])
def test_jam_on_an_idle_link_drops_one_timeout_after_its_last_event(idle_s):
    """The timeout counts from the last good empty-PDU event, not from the last supervision check."""
    params = LinkParams(interval_s=0.0075, supervision_timeout_s=0.3)

    async def body() -> float:
        async with Pair(params) as pair:
            lost = asyncio.get_running_loop().create_future()
            pair.connection.on("disconnection", lambda reason: lost.done() or lost.set_result(reason))
            await asyncio.sleep(idle_s)        # the jam falls between two supervision checks
            t0 = time.monotonic()
            pair.link.jam(True)
            await asyncio.wait_for(lost, 3)
            return time.monotonic() - t0
    elapsed_s = run(body())
    assert 0.3 - 0.0075 <= elapsed_s <= 0.3 + 0.05
