"""The simulated SCPI instruments over real TCP + pyvisa-py: they model the manuals and refuse the rest."""

import asyncio
import threading
import time

import numpy as np
import pytest
import pyvisa

from bench.instruments import InstrumentError, open_power_meter
from bench.instruments.n6705c import N6705C
from bench.reference.power_model import PowerTimeline
from bench.reference.scpi_server import ScpiServer


@pytest.fixture
def start():
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    timeline = PowerTimeline("nrf52840dk", "audio", seed=3, synth_connection_interval_s=0.0075)
    timeline.enter("connected_idle")
    servers = []

    def _start(model: str = "n6705c", **opts) -> ScpiServer:
        server = ScpiServer(timeline, model=model, **opts)
        asyncio.run_coroutine_threadsafe(server.start(), loop).result(5)
        servers.append(server)
        return server
    yield timeline, _start
    for s in servers:
        asyncio.run_coroutine_threadsafe(s.stop(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


@pytest.fixture
def bench(start):
    timeline, _start = start
    return timeline, _start()


def open_raw(server):
    rm = pyvisa.ResourceManager("@py")
    return rm.open_resource(server.resource, read_termination="\n", write_termination="\n", timeout=2000)


@pytest.fixture
def raw(bench):
    res = open_raw(bench[1])
    yield res
    res.close()


def wait_for_trigger(raw, timeout_s=2.0):
    deadline = time.monotonic() + timeout_s
    while not int(raw.query("STAT:OPER:COND? (@1)")) & 8:
        assert time.monotonic() < deadline, "never waiting for trigger"


def test_idn_rst_and_error_queue(raw):
    assert "N6705C" in raw.query("*IDN?")
    raw.write("BOGUS:CMD 1")
    raw.write("VOLT 99,(@2)")
    assert raw.query("SYST:ERR?").startswith('-113,"Undefined header')
    assert raw.query("SYST:ERR?").startswith("-222")
    assert raw.query("SYST:ERR?") == '+0,"No error"'
    raw.write("VOLT 3.3,(@1)")
    raw.write("OUTP ON,(@1)")
    assert float(raw.query("SOURce:VOLTage:LEVel? (@1)")) == pytest.approx(3.3)
    raw.write("*RST")
    assert raw.query("OUTP? (@1)") == "0"


def test_trigger_before_wtg_is_ignored_and_current_must_be_switched_on(raw):
    """What the old driver did (INIT;TRIG back to back, no SENS:FUNC:CURR) yields no data."""
    raw.write("OUTP ON,(@1)")
    raw.write("INIT:ACQ (@1);TRIG:ACQ (@1)")
    assert raw.query("SYST:ERR?").startswith("-211")
    wait_for_trigger(raw)
    raw.write("TRIG:ACQ (@1)")
    raw.write("FETC:ARR:CURR? (@1)")                     # current measurement still off: no reply
    assert raw.query("SYST:ERR?").startswith("-221")


def test_ascii_and_binary_arrays_agree(raw):
    raw.write("CURR:LIM 0.1,(@1);OUTP ON,(@1);SENS:FUNC:CURR ON,(@1)")
    raw.write("SENS:SWE:POIN 2000,(@1);INIT:ACQ (@1)")
    wait_for_trigger(raw)
    raw.write("TRIG:ACQ (@1)")
    ascii = raw.query_ascii_values("FETC:ARR:CURR? (@1)", container=np.array)
    raw.write("FORM REAL")
    block = raw.query_binary_values("FETC:ARR:CURR? (@1)", datatype="f", is_big_endian=True, container=np.array)
    assert ascii.size == block.size == 2000
    assert np.allclose(ascii, block, rtol=1e-5, atol=1e-12)


def test_output_on_without_a_limit_is_recorded(bench, raw):
    raw.write("OUTP ON,(@1)")
    assert raw.query("OUTP? (@1)") == "1" and bench[1].instrument.output_on_without_limit


def test_current_limit_clamps_the_output(bench):
    timeline, server = bench
    timeline.enter("display_tts")
    meter = open_power_meter(server.resource)
    meter.set_current_limit(1e-3)                        # far below the display's ~12 mA
    meter.set_voltage(3.0)
    meter.output(True)
    meter.start_capture(50_000, 0.05)
    cap = meter.read_samples(timeout_s=3)
    assert cap.current_a.max() <= 1e-3 + 1e-9


@pytest.mark.parametrize("command", [':TRAC:ACT? "defbuffer1"', ':TRAC:DATA? 1,5,"defbuffer1",READ,REL',
                                     ":SOUR:VOLT:ILIM 0.1", "SENS:SWE:TINT 1e-5,(@1)"])
def test_the_2281s_refuses_other_instruments_syntax(start, command):
    server = start[1]("k2281s")
    res = open_raw(server)
    try:
        res.write(command)
        err = res.query("SYST:ERR?")
    finally:
        res.close()
    assert err.startswith(("-113", "-224")), err


def test_driver_capture_matches_model_charge(bench):
    timeline, server = bench
    meter = open_power_meter(server.resource)
    assert isinstance(meter, N6705C)
    meter.set_current_limit(0.1)
    meter.set_voltage(3.0)
    meter.output(True)
    meter.set_range(None)
    meter.start_capture(100_000, 0.5)
    cap = meter.read_samples(timeout_s=3)
    assert cap.complete and not cap.overflowed
    assert cap.sample_rate_hz == pytest.approx(1 / 10.24e-6)      # TINT quantised to 5.12 µs steps
    truth = timeline.charge_at(np.array([cap.t_s[0], cap.t_s[0] + len(cap) / cap.sample_rate_hz]))[-1]
    measured = cap.current_a.sum() / cap.sample_rate_hz
    assert measured == pytest.approx(truth, rel=0.05)   # trigger time is taken on both sides ~µs apart


def test_fixed_range_overflow_is_flagged(bench):
    timeline, server = bench
    meter = open_power_meter(server.resource)
    meter.set_current_limit(0.1)
    meter.output(True)
    meter.set_range(1e-6)     # sleep-level range, radio events exceed it
    meter.start_capture(50_000, 0.1)
    cap = meter.read_samples()
    assert cap.overflowed
    assert np.all(cap.current_a[cap.overflow] == 1e-6)


def test_hang_and_disconnect_become_instrument_errors(bench):
    meter = open_power_meter(bench[1].resource, timeout_s=0.3)
    bench[1].inject("hang")
    with pytest.raises(InstrumentError, match="timed out"):
        meter.measure_current_a()
    bench[1].inject("disconnect")
    with pytest.raises(InstrumentError):
        meter.measure_current_a()


def test_garbage_block_is_an_instrument_error(bench):
    meter = open_power_meter(bench[1].resource, timeout_s=0.5)
    meter.set_current_limit(0.1)
    meter.output(True)
    meter.start_capture(10_000, 0.01)
    bench[1].inject("garbage")
    with pytest.raises(InstrumentError):
        meter.read_samples(timeout_s=0.5)
