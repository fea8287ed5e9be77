"""The SCPI drivers against the simulated instruments (real TCP + pyvisa-py): detection, safety, capture."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from bench.instruments import InstrumentError, PowerMeter, open_power_meter, supported_models
from bench.instruments.dp832 import DP832
from bench.instruments.k2281s import K2281S
from bench.instruments.n6705c import N6705C
from bench.reference.power_model import PowerTimeline
from bench.reference.scpi_server import ScpiServer

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "instruments"
SCOPE = ("USB0::0x0699::0x0527::C012345::INSTR", f"{FIX / 'unsupported.yaml'}@sim")


@pytest.fixture(scope="module")
def loop():
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


@pytest.fixture
def serve(loop):
    """serve(model, **opts) → a started simulator (stopped after the test)."""
    servers = []

    def start(model: str, **opts) -> ScpiServer:
        timeline = PowerTimeline("nrf52840dk", "audio", seed=3, synth_connection_interval_s=0.0075)
        timeline.enter("connected_idle")
        server = ScpiServer(timeline, model=model, **opts)
        asyncio.run_coroutine_threadsafe(server.start(), loop).result(5)
        servers.append(server)
        return server
    yield start
    for s in servers:
        asyncio.run_coroutine_threadsafe(s.stop(), loop).result(5)


def powered(server: ScpiServer, **opts):
    meter = open_power_meter(server.resource, timeout_s=1.0, **opts)
    meter.set_range(None)
    meter.set_current_limit(0.1)
    meter.set_voltage(3.0)
    meter.output(True)
    return meter


@pytest.mark.parametrize("model, cls", [("n6705c", N6705C), ("k2281s", K2281S), ("dp832", DP832)])
def test_idn_selects_the_driver_and_limit_comes_before_output(serve, model, cls):
    server = serve(model)
    meter = open_power_meter(server.resource, timeout_s=1.0)
    assert type(meter) is cls and isinstance(meter, PowerMeter)
    meter.set_voltage(3.0)
    with pytest.raises(ValueError, match="set_current_limit"):
        meter.output(True)
    assert not server.instrument.output_on_without_limit and not server.errors
    meter.set_current_limit(0.1)
    meter.output(True)
    limit = next(i for i, c in enumerate(server.log) if "CURR" in c.upper().split()[0] and "?" not in c)
    on = next(i for i, c in enumerate(server.log) if c.upper().startswith((":OUTP", "OUTP")) and "ON" in c.upper())
    assert limit < on and not server.instrument.output_on_without_limit
    meter.close()


def test_unknown_instrument_error_lists_supported_models():
    with pytest.raises(InstrumentError) as err:
        open_power_meter(SCOPE[0], visa_library=SCOPE[1], timeout_s=0.5)
    assert "MSO44" in str(err.value)
    for model in supported_models():
        assert model in str(err.value)
    assert err.value.category == "instrument fault"


def test_n6705c_uses_the_smu_limit_and_the_bench_files_channel(serve):
    server = serve("n6705c", slot=2)
    with pytest.raises(InstrumentError, match="-222"):   # the bench file says 1, the SMU sits in slot 2
        open_power_meter(server.resource, timeout_s=0.5)
    meter = powered(server, channel=2)
    assert server.instrument.current_limit_a == 0.1 and "CURR:LIM 0.1,(@2)" in server.log
    assert meter.measure_current_a() > 0


def test_n6705c_capture_turns_current_on_sets_bus_trigger_and_waits_for_wtg(serve):
    server = serve("n6705c")
    server.instrument.trig_source = "EXT"          # left by the last front-panel user: never fires
    meter = powered(server)
    meter.start_capture(50_000, 0.1)
    cap = meter.read_samples(timeout_s=2)
    assert len(cap) == 5000 and cap.complete and not server.errors
    log = server.log
    for cmd in ("SENS:FUNC:CURR ON,(@1)", "TRIG:ACQ:SOUR BUS,(@1)"):
        assert log.index(cmd) < log.index("INIT:ACQ (@1)")
    assert "STAT:OPER:COND? (@1)" in log[log.index("INIT:ACQ (@1)"):log.index("TRIG:ACQ (@1)")]


def test_n6705c_long_capture_runs_back_to_back_and_counts_the_gaps(serve):
    server = serve("n6705c")
    meter = powered(server, max_points=4096)       # a small acquisition memory stands in for 512 k points
    meter.start_capture(50_000, 0.4)               # ~19 500 points (TINT 20.48 µs): ≥ 4 acquisitions
    cap = meter.stop_capture(timeout_s=3)
    expected = round(0.4 * cap.sample_rate_hz)
    assert server.log.count("INIT:ACQ (@1)") >= 4
    assert cap.expected_samples == expected and len(cap) + cap.lost_samples == expected
    assert cap.lost_samples > 0                    # fetch + re-arm between acquisitions is not sampled
    assert np.all(np.diff(cap.t_s) > 0) and cap.t_s[-1] - cap.t_s[0] <= 0.4
    assert any("back-to-back" in n for n in cap.notes)


def test_n6705c_capture_needs_a_duration(serve):
    with pytest.raises(ValueError, match="duration_s"):
        powered(serve("n6705c")).start_capture(100_000)


def test_k2281s_buffer_capture_uses_its_own_syntax_and_timestamps(serve):
    server = serve("k2281s")
    meter = powered(server)
    meter.start_capture(500, 0.05)
    cap = meter.read_samples(timeout_s=2)
    assert len(cap) == 25 and cap.complete and not server.errors
    period = np.diff(cap.t_s)
    assert np.allclose(period, period[0]) and cap.sample_rate_hz == pytest.approx(1 / period[0])
    assert ':TRAC:DATA? "READ,REL"' in server.log and not any("defbuffer" in c for c in server.log)


def test_k2281s_current_limit_outside_its_range_is_refused(serve):
    meter = open_power_meter(serve("k2281s").resource, timeout_s=1.0)
    with pytest.raises(ValueError, match="0.1–6.1 A"):
        meter.set_current_limit(0.05)


def test_rejected_query_reports_the_instruments_error_not_just_a_timeout(serve):
    meter = open_power_meter(serve("k2281s").resource, timeout_s=0.3)
    with pytest.raises(InstrumentError, match='-113,"Undefined header'):
        meter.query(':TRAC:ACT? "defbuffer1"')


def test_dp832_refuses_rates_it_cannot_poll(serve):
    with pytest.raises(ValueError, match="polled"):
        powered(serve("dp832")).start_capture(1000)


def test_dp832_polling_capture_stamps_host_time(serve):
    server = serve("dp832")
    meter = powered(server)
    meter.start_capture(20, duration_s=0.2)
    deadline = time.monotonic() + 2
    while meter._thread is not None and meter._thread.is_alive() and time.monotonic() < deadline:
        meter._thread.join(0.05)
    cap = meter.stop_capture(timeout_s=2)
    assert len(cap) >= 1 and np.all(np.diff(cap.t_s) > 0)
    assert np.all(cap.current_a >= 0) and ":SOUR1:CURR 0.1" in server.log
