"""GLP conformance: fragmentation and reassembly at ATT MTU 23, 185, 247 and 517 (docs/protocol.md §4).

Each test reconnects asking for the MTU under test and restores the bench's MTU afterwards. MTUs above
what the DUT supports are skipped, except in the negotiation check, which expects min(requested, max).
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import pytest

from bench.profiles.glp.probe import GlpProbe, craft
from bench import boards
from bench.profiles.glp.tools import can_request_mtu, capabilities, reconnected
from bench.profiles.glp import messages as m
from bench.profiles.glp.errors import ErrorCode
from bench.profiles.glp.frames import OVERHEAD
from bench.profiles.glp.gatt import link_max_payload

pytestmark = [pytest.mark.protocol, pytest.mark.ble]

MTUS = [23, 185, 247, 517]


def _check_requestable(dut, mtu: int) -> None:
    if not can_request_mtu(dut):
        pytest.skip("this BLE backend cannot choose the requested ATT MTU")


def _max_mtu(dut) -> int:
    return boards.get(dut.identity.board).link.mtu  # the firmware's ATT MTU limit (its board file)


@contextlib.contextmanager
def at_mtu(dut, glp_record, mtu: int) -> Iterator[tuple]:
    """Reconnect at `mtu` (skip if the DUT cannot); yields (GlpClient, GlpProbe)."""
    dut.need("glp")  # a DUT without GLP skips naming it, not its MTU
    _check_requestable(dut, mtu)
    if mtu > _max_mtu(dut):
        pytest.skip(f"{dut.identity.board} supports ATT MTU up to {_max_mtu(dut)}")
    with reconnected(dut, mtu) as got:
        assert got == mtu
        client = glp_record.watch(dut.need("glp").client, f"GLP at MTU {mtu}")
        yield client, GlpProbe(client)


@pytest.mark.parametrize("mtu", MTUS)
def test_negotiated_mtu_is_min_of_requested_and_device_max(dut, mtu):
    _check_requestable(dut, mtu)
    with reconnected(dut, mtu) as got:
        assert got == min(mtu, _max_mtu(dut))
        assert dut.need("glp").client.session.transport.max_payload == link_max_payload(got)


@pytest.mark.parametrize("mtu", MTUS)
def test_fragmented_requests_and_replies(dut, glp_record, mtu):
    with at_mtu(dut, glp_record, mtu) as (glp, probe):
        text = "é" * 100  # 200 UTF-8 bytes: a 209-byte frame, 11 writes at MTU 23, 2 at 185
        mode = m.TextMode.DISPLAY if capabilities(glp) & m.Capability.DISPLAY else m.TextMode.SPEAK
        assert isinstance(glp.request(m.TextNotify(mode, text)), m.Ack)
        info = glp.request(m.DeviceInfoGet())  # > 20 bytes: fragmented notifications at MTU 23
        assert info.sku is m.Sku[dut.identity.sku.upper()]
        seq = probe.seq()
        long_error = probe.error_for(craft(type_=0x3E, payload=bytes(100), seq=seq))
        assert long_error.code is ErrorCode.UNKNOWN_TYPE


@pytest.mark.parametrize("extra", [-1, 0, 1], ids=["boundary-1", "boundary", "boundary+1"])
@pytest.mark.parametrize("mtu", MTUS)
def test_request_at_exact_fragment_boundaries(dut, glp_record, mtu, extra):
    """Frames of k·max_payload + extra bytes are reassembled whole: a padded Ping is answered MALFORMED
    at byte 9 (after its token), which needs every fragment and the CRC; a TextNotify is acknowledged."""
    with at_mtu(dut, glp_record, mtu) as (glp, probe):
        mp, limit = probe.max_payload, glp.hello_reply.max_frame_len
        for k in (1, 2):
            total = k * mp + extra
            if total > limit:
                continue
            pad = bytes(total - OVERHEAD - 4)
            raw = craft(type_=m.Ping.TYPE, payload=(1).to_bytes(4, "little") + pad, seq=probe.seq())
            assert len(raw) == total and len(probe.fragments(raw)) == k + (extra > 0)
            err = probe.error_for(raw)
            assert (err.code, err.offset) == (ErrorCode.MALFORMED, 9), f"{total}-byte frame: {err}"
            n = total - OVERHEAD - 2
            if 0 <= n <= 200:
                assert isinstance(glp.request(m.TextNotify(m.TextMode.SPEAK, "b" * n)), m.Ack)


@pytest.mark.parametrize("mtu", MTUS)
def test_photo_chunks_fill_exactly_one_notification(dut, glp_record, mtu):
    with at_mtu(dut, glp_record, mtu) as (glp, probe):
        if not capabilities(glp) & m.Capability.CAMERA:
            pytest.skip("DUT has no camera")
        info = glp.request(m.PhotoCapture(1))

        async def read(s):
            await s.request(m.PhotoRead(info.photo_id, 0, 6))
            await s.request(m.PhotoAbort(info.photo_id))
        chunks = [r for r in probe.collect(read) if isinstance(r.msg, m.PhotoChunk)]
        assert len(chunks) == 6
        assert all(len(r.entry.raw) == probe.max_payload for r in chunks)
        assert [r.msg.offset for r in chunks] == [i * (probe.max_payload - OVERHEAD - 6) for i in range(6)]


def _two_fragment_frame(probe: GlpProbe) -> bytes:
    """A TextNotify of max_payload + 5 bytes: one full fragment and a 5-byte tail."""
    n = probe.max_payload + 5 - OVERHEAD - 2
    return craft(m.TextNotify(m.TextMode.SPEAK, "c" * n), probe.seq())


def test_fragments_out_of_order_are_not_acted_on(dut, glp_record):
    with at_mtu(dut, glp_record, 23) as (glp, probe):
        raw = _two_fragment_frame(probe)
        first, tail = probe.fragments(raw)
        seen = probe.exchange([tail, first])  # the barrier that follows overruns the dangling first part
        assert not [r for r in seen if r.is_reply and r.frame.seq == raw[2] and isinstance(r.msg, m.Ack)]
        assert glp.request(m.Ping(23)).token == 23


def test_interleaved_fragments_of_two_frames_fail_the_crc(dut, glp_record):
    with at_mtu(dut, glp_record, 23) as (glp, probe):
        a, b = _two_fragment_frame(probe), _two_fragment_frame(probe)
        (a1, a2), (b1, b2) = probe.fragments(a), probe.fragments(b)
        seen = probe.exchange([a1, b1, a2, b2])
        acked = [r.frame.seq for r in seen if r.is_reply and isinstance(r.msg, m.Ack)]
        assert a[2] not in acked and b[2] not in acked
        assert any(r.error is not None and r.error.code is ErrorCode.BAD_CRC for r in seen), \
            "B's head + A's tail must fail the CRC"
        assert glp.request(m.Ping(24)).token == 24


def test_frame_missing_its_last_fragment_is_abandoned(dut, glp_record):
    with at_mtu(dut, glp_record, 23) as (glp, probe):
        raw = craft(m.TextNotify(m.TextMode.SPEAK, "d" * 200), probe.seq())  # 209 B: 10 × 20 + 9
        parts = probe.fragments(raw)
        assert len(parts[-1]) == 9
        ping = craft(m.Ping(probe.token()), probe.seq())  # 11 B: overruns the 9 bytes still due
        seen = probe.exchange(parts[:-1] + [ping])
        assert [r.msg.token for r in seen if isinstance(r.msg, m.Pong)] == [int.from_bytes(ping[5:9], "little")]
        assert not [r for r in seen if r.is_reply and r.frame.seq == raw[2]]
