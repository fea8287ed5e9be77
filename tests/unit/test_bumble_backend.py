"""The bleak backend over Bumble, against a reference bench process: plain bleak API calls."""

from __future__ import annotations

import asyncio
import time

import bleak
import pytest
from bleak import BleakClient, BleakScanner
from bleak.exc import BleakError
from bumble_run import run

from bench.config import ReferenceSpec
from bench.links import bumble_backend, bumble_host
from bench.links.bumble_backend import BumbleClient, BumbleScanner
from bench.session import ReferenceProcess

GLP_SERVICE = "7f1a0000-6c3b-4e0a-9d6c-3f5b8a2e4c10"
CONTROL_IN = "7f1a0001-6c3b-4e0a-9d6c-3f5b8a2e4c10"
ECHO = "7f1a1001-6c3b-4e0a-9d6c-3f5b8a2e4c10"
FIRMWARE = "00002a26-0000-1000-8000-00805f9b34fb"
BATTERY = "00002a19-0000-1000-8000-00805f9b34fb"
SERVICE_CHANGED = "00002a05-0000-1000-8000-00805f9b34fb"


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    ref = ReferenceProcess(ReferenceSpec(seed=1), tmp_path_factory.mktemp("ref") / "reference.log")
    yield ref
    ref.stop()




def kw(ready):
    return {"bumble": {"hci": ready["hci"], "mtu": 247}}


def test_scan_merges_advertising_and_scan_response(reference):
    async def body():
        return await BleakScanner.find_device_by_filter(
            lambda d, adv: GLP_SERVICE in adv.service_uuids, timeout=5, backend=BumbleScanner,
            service_uuids=[GLP_SERVICE], **kw(reference.ready), return_adv=False)
    device = run(body())
    assert device is not None and device.name == reference.ready["name"]


def test_connect_discovers_everything_and_reads_writes_notifies(reference):
    async def body():
        async with BleakClient(reference.ready["address"], backend=BumbleClient, **kw(reference.ready)) as c:
            services = {s.uuid for s in c.services}
            battery = c.services.get_characteristic(BATTERY)
            cccd = battery.get_descriptor("00002902-0000-1000-8000-00805f9b34fb")
            fw = await c.read_gatt_char(FIRMWARE)
            cccd_value = await c.read_gatt_descriptor(cccd.handle)
            got = asyncio.Queue()
            await c.start_notify(ECHO, lambda _ch, d: got.put_nowait(bytes(d)))
            await c.write_gatt_char(ECHO, b"with-response", response=True)
            first = await asyncio.wait_for(got.get(), 2)
            await c.write_gatt_char(ECHO, b"without", response=False)
            second = await asyncio.wait_for(got.get(), 2)
            await c.stop_notify(ECHO)
            await c.start_notify(SERVICE_CHANGED, lambda _ch, d: None)  # indicate-only characteristic
            return services, c.mtu_size, fw, cccd_value, first, second, battery.properties
    services, mtu, fw, cccd_value, first, second, props = run(body())
    assert {"0000180a-0000-1000-8000-00805f9b34fb", "0000180f-0000-1000-8000-00805f9b34fb", GLP_SERVICE} <= services
    assert mtu == 247
    assert fw == bytearray(b"1.4.2")
    assert cccd_value == bytearray(b"\x00\x00")
    assert (first, second) == (b"with-response", b"without")
    assert props == ["read", "notify"]


def test_att_errors_surface_as_bleak_errors(reference):
    async def body():
        async with BleakClient(reference.ready["address"], backend=BumbleClient, **kw(reference.ready)) as c:
            with pytest.raises(BleakError, match="read 7f1a0001"):
                await c.read_gatt_char(CONTROL_IN)  # write-only characteristic
            return True
    assert run(body())


def test_connect_to_absent_device_is_a_bleak_error(reference):
    async def body():
        c = BleakClient("C0:00:00:00:BE:EF", backend=BumbleClient, timeout=1.0, **kw(reference.ready))
        with pytest.raises(BleakError, match="timed out|failed"):
            await c.connect()
    run(body())


def test_use_as_default_reaches_tools_that_build_their_own_client(reference, monkeypatch):
    monkeypatch.setattr(bleak, "get_platform_client_backend_type", bleak.get_platform_client_backend_type)
    monkeypatch.setattr(bleak, "get_platform_scanner_backend_type", bleak.get_platform_scanner_backend_type)
    monkeypatch.setattr(bumble_host, "default_spec", None)
    bumble_backend.use_as_default(reference.ready["hci"])

    async def body():
        device = await BleakScanner.find_device_by_name(reference.ready["name"], timeout=5)  # no backend=
        async with BleakClient(device) as c:
            return c.backend_id, await c.read_gatt_char(FIRMWARE)
    backend_id, fw = run(body())
    assert backend_id == "bumble" and fw == bytearray(b"1.4.2")


def test_reference_bench_killed_mid_connection_is_link_lost(tmp_path):
    ref = ReferenceProcess(ReferenceSpec(seed=2), tmp_path / "reference.log")
    lost = []

    async def body():
        c = BleakClient(ref.ready["address"], backend=BumbleClient, disconnected_callback=lambda _c: lost.append(time.monotonic()),
                        **kw(ref.ready))
        await c.connect()
        t0 = time.monotonic()
        ref.kill()
        with pytest.raises(BleakError, match="link lost|not connected|disconnected"):
            for _ in range(100):
                await c.read_gatt_char(FIRMWARE)
                await asyncio.sleep(0.01)
        return t0, c._backend.disconnect_reason
    try:
        t0, reason = run(body())
    finally:
        ref.stop()
    assert lost and lost[0] - t0 < 2.0  # within the supervision timeout
    assert "link lost" in reason


def test_link_parameters_are_read_back_updated_and_the_phy_set(reference):
    from bench.links import link_params
    from bench.links.link_params import LinkRequest

    async def body():
        async with BleakClient(reference.ready["address"], backend=BumbleClient, **kw(reference.ready)) as c:
            start = c._backend.link_parameters()
            state = await link_params.apply(c._backend, LinkRequest(interval_s=0.03, latency=1,
                                                                   supervision_timeout_s=3.0, phy="1M"), {})
            refused = await link_params.apply(c._backend, LinkRequest(phy="2M"), {"phy": "not here"})
            return start, state, refused
    start, state, refused = run(body())
    radio = reference.ready["link"]
    assert start["interval_s"] == pytest.approx(radio["interval_s"]) and start["phy"] == radio["phy"]
    assert (state.interval_s, state.latency, state.supervision_timeout_s, state.phy) == (0.03, 1, 3.0, "1M")
    assert state.source == "controller" and state.not_applied == {}
    assert state.environment()["link.interval_ms"] == "30"
    assert refused.phy == "1M" and refused.not_applied == {"phy": "not here"}  # known-unsupported: not tried
