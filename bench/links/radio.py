"""A timed virtual BLE radio: Bumble's LocalLink with connection events, air time and loss.

Bumble's own link moves ACL data instantly and whole. This link schedules it the way an LE
connection does (docs/radio.md has the model and the formulas):

* data moves only at connection events, every ``interval_s`` from the connection's anchor;
* each event is a sequence of central→peripheral / peripheral→central PDU pairs, each PDU costing
  its air time for the PHY plus T_IFS, an empty PDU answering when a side has nothing to send;
  pairs are added while they fit in the interval;
* ACL data is fragmented to the data length; a PDU lost to the packet error rate closes the event
  and is retransmitted at the next one (never dropped);
* the host gets Number-Of-Completed-Packets only once its data has crossed the air, so HCI flow
  control pushes back on a host that writes faster than the link carries;
* a connection without a successful exchange for the supervision timeout is dropped on both sides;
* each connection starts with the radio's parameters (the peripheral's preferred ones, announced to
  both hosts as an accepted update right after CONNECT_IND), then follows LL connection updates
  (interval, latency, supervision timeout) and PHY updates (``TimedController``) from its central.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import math
import random
from typing import Callable, Protocol

from bumble import core, hci, ll
from bumble.controller import Controller
from bumble.link import LocalLink

logger = logging.getLogger(__name__)

T_IFS_S = 150e-6
MIC_BYTES = 4
FIT_EPS_S = 1e-9  # a pair that ends exactly T_IFS before the next anchor fits (float sums of µs)
CONNECTION_TIMEOUT = hci.HCI_ErrorCode.CONNECTION_TIMEOUT_ERROR
REMOTE_USER_TERMINATED = hci.HCI_ErrorCode.REMOTE_USER_TERMINATED_CONNECTION_ERROR


@dataclasses.dataclass
class LinkParams:
    """Parameters of every LE connection on one radio (the glasses' preferred parameters)."""

    interval_s: float = 0.0075
    phy: str = "2M"
    data_length: int = 251
    per: float = 0.0
    supervision_timeout_s: float = 4.0
    jitter_s: float = 0.0
    encrypted: bool = True
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.phy not in ("1M", "2M"):
            raise ValueError(f"phy must be '1M' or '2M', got {self.phy!r}")
        if not 0.0075 <= self.interval_s <= 4.0:
            raise ValueError(f"interval_s must be in [0.0075, 4.0] s, got {self.interval_s}")
        if not 27 <= self.data_length <= 251:
            raise ValueError(f"data_length must be in [27, 251] bytes, got {self.data_length}")
        if not 0.0 <= self.per <= 1.0:
            raise ValueError(f"per must be in [0, 1], got {self.per}")


def air_time_s(payload_len: int, phy: str, encrypted: bool = True) -> float:
    """Air time of one LL data PDU with ``payload_len`` bytes of payload (Core spec packet format).

    1M: (1 preamble + 4 access address + 2 header + payload [+ 4 MIC] + 3 CRC) × 8 µs;
    2M: a 2-byte preamble and 4 µs per byte. Empty PDUs carry no MIC.
    """
    mic = MIC_BYTES if (encrypted and payload_len > 0) else 0
    if phy == "1M":
        return (1 + 4 + 2 + payload_len + mic + 3) * 8e-6
    return (2 + 4 + 2 + payload_len + mic + 3) * 4e-6


def fragments(pdu_len: int, data_length: int) -> list[int]:
    """LL fragment sizes of one L2CAP PDU (header included) at the given data length."""
    full, rest = divmod(pdu_len, data_length)
    return [data_length] * full + ([rest] if rest else [])


def notify_throughput_bps(params: LinkParams, mtu: int, notifications: int = 0) -> float:
    """Steady-state notification payload throughput (bytes/s) of a saturated peripheral.

    Each notification carries mtu − 3 bytes in an L2CAP PDU of mtu + 4 bytes (ATT 3 + L2CAP 4
    header bytes), fragmented to the data length; the central answers each fragment with an empty
    PDU. Events pack pairs while ``offset + pair ≤ interval`` (docs/radio.md). The packing repeats
    once an event starts on a notification boundary, so the rate is exact over that period (a fixed
    count of notifications would end on a partly filled event: −0.5 % at 1M, CI 7.5 ms, DL 251).
    ``notifications`` is kept for callers of the old signature and ignored.
    """
    frags = fragments(mtu + 4, params.data_length)
    empty = air_time_s(0, params.phy)
    pairs = [empty + T_IFS_S + air_time_s(f, params.phy, params.encrypted) + T_IFS_S for f in frags]
    sent = events = 0
    while True:
        offset = 0.0
        while offset == 0.0 or offset + pairs[sent % len(frags)] <= params.interval_s + FIT_EPS_S:
            offset += pairs[sent % len(frags)]
            sent += 1
        events += 1
        if sent % len(frags) == 0:
            return sent // len(frags) * (mtu - 3) / (events * params.interval_s)


class RadioObserver(Protocol):
    """Receives the peripheral's radio activity (the power model listens here)."""

    def radio_event(self, t_s: float, tx_s: float, rx_s: float) -> None: ...


DeliveryObserver = Callable[[bool, bytes, float], None]
"""``(from_central, l2cap_pdu, t_s)``: an L2CAP PDU crossed the air and is handed to the receiving
controller at the modelled time ``t_s`` (ground truth for latency benches listens here)."""


@dataclasses.dataclass
class _Pdu:
    sender: Controller
    handle: int
    source_address: hci.Address
    data: bytes
    frags: list[int]
    hci_packets: int
    next_frag: int = 0


class _Connection:
    """One LE connection's schedule: anchor, both transmit queues and the supervision clock."""

    def __init__(self, link: "TimedLink", central: hci.Address, peripheral: hci.Address) -> None:
        self.link = link
        self.central = central
        self.peripheral = peripheral
        loop = asyncio.get_running_loop()
        self.interval_s = link.params.interval_s
        self.phy = link.params.phy
        self.latency = 0
        self.supervision_timeout_s = link.params.supervision_timeout_s
        self.anchor_s = loop.time() + self.interval_s
        self.queues: dict[bool, collections.deque[_Pdu]] = {True: collections.deque(), False: collections.deque()}
        self.last_success_s = self.anchor_s
        self.event_timer: asyncio.TimerHandle | None = None
        self.watchdog = loop.call_later(self.supervision_timeout_s, self._check_supervision)
        self.last_delivery_s = {True: 0.0, False: 0.0}
        self.closed = False

    # -- scheduling -------------------------------------------------------------------------------
    def enqueue(self, from_central: bool, pdu: _Pdu) -> None:
        self.queues[from_central].append(pdu)
        if self.event_timer is None:
            loop = asyncio.get_running_loop()
            interval = self.interval_s
            k = max(0, math.ceil((loop.time() - self.anchor_s) / interval))
            self.event_timer = loop.call_at(self.anchor_s + k * interval, self._run_event, k)

    def _run_event(self, k: int) -> None:
        self.event_timer = None
        if self.closed:
            return
        p = self.link.params
        rng = self.link.rng
        per = self.link.per
        interval_s, phy = self.interval_s, self.phy
        t_anchor = self.anchor_s + k * interval_s
        offset = 0.0
        tx_s = rx_s = 0.0
        while True:
            m = self._head(True)
            s = self._head(False)
            air_m = air_time_s(m, phy, p.encrypted)
            air_s = air_time_s(s, phy, p.encrypted)
            pair = air_m + T_IFS_S + air_s + T_IFS_S
            if offset > 0 and offset + pair > interval_s + FIT_EPS_S:
                break
            rx_s += air_m
            if rng.random() < per:  # central's PDU lost: peripheral stays silent, event closes
                break
            if m:
                self._advance(True, t_anchor + offset + air_m)
            tx_s += air_s
            offset += pair
            if rng.random() < per:  # peripheral's PDU lost: central closes the event
                break
            if s:
                self._advance(False, t_anchor + offset - T_IFS_S)
            self.last_success_s = t_anchor + offset
            if not self.queues[True] and not self.queues[False]:
                break
        if self.link.observer is not None:
            self.link.observer.radio_event(t_anchor, tx_s, rx_s)
        if self.queues[True] or self.queues[False]:
            self.event_timer = asyncio.get_running_loop().call_at(
                t_anchor + interval_s, self._run_event, k + 1
            )

    def update(self, interval_s: float, latency: int, supervision_timeout_s: float) -> None:
        """Apply an LL connection update: events keep their phase up to now, then follow the new interval."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        k = max(0, math.ceil((now - self.anchor_s) / self.interval_s))
        self.anchor_s += k * self.interval_s  # the next event under the old interval becomes event 0
        self.interval_s, self.latency, self.supervision_timeout_s = interval_s, latency, supervision_timeout_s
        if self.event_timer is not None:
            self.event_timer.cancel()
            self.event_timer = loop.call_at(self.anchor_s, self._run_event, 0)
        self.watchdog.cancel()
        self.watchdog = loop.call_later(self.supervision_timeout_s, self._check_supervision)

    def _head(self, from_central: bool) -> int:
        q = self.queues[from_central]
        return q[0].frags[q[0].next_frag] if q else 0

    def _advance(self, from_central: bool, received_s: float) -> None:
        q = self.queues[from_central]
        pdu = q[0]
        pdu.next_frag += 1
        if pdu.next_frag < len(pdu.frags):
            return
        q.popleft()
        p = self.link.params
        t = received_s + (self.link.rng.uniform(0, p.jitter_s) if p.jitter_s else 0.0)
        t = max(t, self.last_delivery_s[from_central])  # jitter never reorders a link
        self.last_delivery_s[from_central] = t
        asyncio.get_running_loop().call_at(t, self._deliver, from_central, pdu, t)

    def _deliver(self, from_central: bool, pdu: _Pdu, t_s: float) -> None:
        if self.closed:
            return
        if self.link.delivery_observer is not None:
            self.link.delivery_observer(from_central, pdu.data, t_s)
        receiver = self.link.find_le_controller(self.peripheral if from_central else self.central)
        if receiver is not None:
            receiver.on_link_acl_data(pdu.source_address, core.PhysicalTransport.LE, pdu.data)
        if pdu.sender.find_le_connection_by_handle(pdu.handle) is not None:
            pdu.sender.send_hci_packet(
                hci.HCI_Number_Of_Completed_Packets_Event(
                    connection_handles=[pdu.handle], num_completed_packets=[pdu.hci_packets]
                )
            )

    # -- supervision ------------------------------------------------------------------------------
    def _check_supervision(self) -> None:
        if self.closed:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        idle = not self.queues[True] and not self.queues[False]
        if idle and self.link.per < 1.0:
            self.last_success_s = now  # idle empty-PDU events keep the link alive
        silent_s = now - self.last_success_s
        if silent_s >= self.supervision_timeout_s:
            logger.info("supervision timeout: %s <-> %s", self.central, self.peripheral)
            self.link.drop(self, CONNECTION_TIMEOUT)
            return
        self.watchdog = loop.call_later(self.supervision_timeout_s - silent_s, self._check_supervision)

    def close(self) -> None:
        self.closed = True
        self.watchdog.cancel()
        if self.event_timer is not None:
            self.event_timer.cancel()


class TimedLink(LocalLink):
    """LocalLink whose LE ACL traffic follows connection events (see module docstring)."""

    def __init__(self, params: LinkParams | None = None, observer: RadioObserver | None = None) -> None:
        super().__init__()
        self.params = params or LinkParams()
        self.observer = observer
        self.delivery_observer: DeliveryObserver | None = None
        self.rng = random.Random(self.params.seed)
        self.jammed = False
        self.connections: dict[frozenset[str], _Connection] = {}

    @staticmethod
    def _key(a: hci.Address, b: hci.Address) -> frozenset[str]:
        return frozenset((str(a), str(b)))

    # -- faults -----------------------------------------------------------------------------------
    def jam(self, on: bool = True) -> None:
        """Jam the air: every PDU is lost, so connections drop after the supervision timeout.

        The timeout counts from the last good exchange: for an idle connection that is its last
        empty-PDU event before the jam (its supervision check only notes idle success when it runs,
        up to one timeout earlier, which dropped jammed links ~0.3 s early: benchmarks/reference_bench.py).
        """
        if on and not self.jammed and self.params.per < 1.0:
            try:
                now = asyncio.get_running_loop().time()
            except RuntimeError:   # not on the radio's loop: nothing is running to supervise
                now = -math.inf
            for conn in self.connections.values():
                if not conn.queues[True] and not conn.queues[False] and now >= conn.anchor_s:
                    last_event_s = conn.anchor_s + math.floor((now - conn.anchor_s) / conn.interval_s) * conn.interval_s
                    conn.last_success_s = max(conn.last_success_s, last_event_s)
        self.jammed = on

    @property
    def per(self) -> float:
        return 1.0 if self.jammed else self.params.per

    # -- LocalLink overrides ----------------------------------------------------------------------
    def send_advertising_pdu(self, sender_controller: Controller, packet: ll.AdvertisingPdu) -> None:
        if isinstance(packet, ll.ConnectInd):
            key = self._key(packet.initiator_address, packet.advertiser_address)
            if key in self.connections:
                self.connections.pop(key).close()
            conn = self.connections[key] = _Connection(self, packet.initiator_address, packet.advertiser_address)
            super().send_advertising_pdu(sender_controller, packet)
            asyncio.get_running_loop().call_soon(self._announce_parameters, conn, packet)
            return
        super().send_advertising_pdu(sender_controller, packet)

    def _announce_parameters(self, conn: _Connection, connect: ll.ConnectInd) -> None:
        """Tell both hosts the parameters the radio runs, when CONNECT_IND asked for others: the
        peripheral requests its preferred parameters and the central accepts (as phones do)."""
        interval, timeout = round(conn.interval_s / 1.25e-3), round(conn.supervision_timeout_s / 10e-3)
        if (connect.interval, connect.latency, connect.timeout) != (interval, conn.latency, timeout):
            self.report_parameters(conn, interval, conn.latency, timeout)

    def report_parameters(self, conn: _Connection, interval: int, latency: int, timeout: int) -> None:
        """HCI LE Connection Update Complete (HCI units: 1.25 ms, 10 ms) to both ends of ``conn``."""
        for own, peer in ((conn.central, conn.peripheral), (conn.peripheral, conn.central)):
            controller = self.find_le_controller(own)
            if controller is not None and (c := controller.le_connections.get(peer)) is not None:
                controller.send_hci_packet(hci.HCI_LE_Connection_Update_Complete_Event(
                    status=hci.HCI_ErrorCode.SUCCESS, connection_handle=c.handle, connection_interval=interval,
                    peripheral_latency=latency, supervision_timeout=timeout))

    def connection_between(self, a: hci.Address, b: hci.Address) -> _Connection | None:
        return self.connections.get(self._key(a, b))

    def schedule(self) -> list[dict[str, object]]:
        """Every connection's event grid as the radio runs it (ground truth for benchmarks): events fall
        at ``anchor_s + k * interval_s`` (CLOCK_MONOTONIC) until the next connection update."""
        return [{"central": str(c.central), "peripheral": str(c.peripheral), "anchor_s": c.anchor_s,
                 "interval_s": c.interval_s, "phy": c.phy} for c in self.connections.values()]

    def send_ll_control_pdu(self, sender_address: hci.Address, receiver_address: hci.Address,
                            packet: ll.ControlPdu) -> None:
        if isinstance(packet, ll.TerminateInd):
            conn = self.connections.pop(self._key(sender_address, receiver_address), None)
            if conn is not None:
                conn.close()
        elif isinstance(packet, ll.ConnectionUpdateInd):
            conn = self.connections.get(self._key(sender_address, receiver_address))
            if conn is not None:
                conn.update(packet.interval * 1.25e-3, packet.latency, packet.timeout * 10e-3)
        super().send_ll_control_pdu(sender_address, receiver_address, packet)

    def send_acl_data(self, sender_controller: Controller, destination_address: hci.Address,
                      transport: core.PhysicalTransport, data: bytes) -> None:
        if transport != core.PhysicalTransport.LE:
            super().send_acl_data(sender_controller, destination_address, transport, data)
            return
        connection = sender_controller.le_connections.get(destination_address)
        conn = self.connections.get(self._key(connection.self_address, destination_address)) if connection else None
        take = getattr(sender_controller, "take_hci_packets", None)  # a TimedController defers completion
        if connection is None or conn is None:
            if connection is not None and take is not None:
                take(connection.handle)  # flushed with the link: never "completed" for a later one
            logger.warning("ACL data for %s without a connection: dropped", destination_address)
            return
        hci_packets = take(connection.handle) if take is not None else 1
        pdu = _Pdu(sender_controller, connection.handle, connection.self_address, data,
                   fragments(len(data), self.params.data_length), hci_packets)
        conn.enqueue(connection.role == hci.Role.CENTRAL, pdu)

    # -- connection teardown ----------------------------------------------------------------------
    def drop(self, conn: _Connection, reason: int) -> None:
        """Tear a connection down on both sides, as a supervision timeout does."""
        self.connections.pop(self._key(conn.central, conn.peripheral), None)
        conn.close()
        for own, peer in ((conn.central, conn.peripheral), (conn.peripheral, conn.central)):
            controller = self.find_le_controller(own)
            if controller is not None and (c := controller.le_connections.get(peer)) is not None:
                controller.on_le_disconnected(c, reason)

    def drop_all(self, controller: Controller, reason: int = REMOTE_USER_TERMINATED) -> None:
        """Drop every LE connection of ``controller`` (its host went away or reset)."""
        for peer_address, c in list(controller.le_connections.items()):
            conn = self.connections.pop(self._key(c.self_address, peer_address), None)
            if conn is not None:
                conn.close()
            peer = self.find_le_controller(peer_address)
            if peer is not None and (pc := peer.le_connections.get(c.self_address)) is not None:
                peer.on_le_disconnected(pc, reason)
            del controller.le_connections[peer_address]
