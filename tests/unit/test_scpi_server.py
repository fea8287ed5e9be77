"""The simulated N6705C over real TCP + pyvisa-py, with the real driver on the other end."""

import asyncio
import threading

import numpy as np
import pytest
import pyvisa

from bench.instruments import InstrumentError, open_power_meter
from bench.instruments.n6705c import N6705C
from bench.reference.power_model import PowerTimeline
from bench.reference.scpi_server import ScpiServer


@pytest.fixture
def bench():
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    timeline = PowerTimeline("nrf52840dk", "audio", seed=3, synth_connection_interval_s=0.0075)
    timeline.enter("connected_idle")
    server = ScpiServer(timeline)
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(5)
    yield timeline, server
    asyncio.run_coroutine_threadsafe(server.stop(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


@pytest.fixture
def raw(bench):
    rm = pyvisa.ResourceManager("@py")
    res = rm.open_resource(bench[1].resource, read_termination="\n", write_termination="\n", timeout=2000)
    yield res
    res.close()


def test_idn_rst_and_error_queue(raw):
    assert "N6705C" in raw.query("*IDN?")
    raw.write("BOGUS:CMD 1")
    raw.write("VOLT 99,(@2)")
    assert raw.query("SYST:ERR?").startswith("-113")
    assert raw.query("SYST:ERR?").startswith("-222")
    assert raw.query("SYST:ERR?") == '+0,"No error"'
    raw.write("VOLT 3.3,(@1)")
    raw.write("OUTP ON,(@1)")
    assert float(raw.query("SOURce:VOLTage:LEVel? (@1)")) == pytest.approx(3.3)
    raw.write("*RST")
    assert raw.query("OUTP? (@1)") == "0"


def test_ascii_and_binary_arrays_agree(raw):
    raw.write("OUTP ON,(@1)")
    raw.write("SENS:SWE:POIN 2000,(@1)")
    raw.write("INIT:ACQ (@1);TRIG:ACQ (@1)")
    ascii = raw.query_ascii_values("FETC:ARR:CURR? (@1)", container=np.array)
    raw.write("FORM REAL")
    block = raw.query_binary_values("FETC:ARR:CURR? (@1)", datatype="f", is_big_endian=True, container=np.array)
    assert ascii.size == block.size == 2000
    assert np.allclose(ascii, block, rtol=1e-5, atol=1e-12)


def test_driver_capture_matches_model_charge(bench):
    timeline, server = bench
    meter = open_power_meter(server.resource)
    assert isinstance(meter, N6705C)
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
    meter.output(True)
    meter.start_capture(10_000, 0.01)
    bench[1].inject("garbage")
    with pytest.raises(InstrumentError):
        meter.read_samples(timeout_s=0.5)
