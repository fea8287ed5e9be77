"""The simulated supplies switch the DUT's power the way the real ones do, driven by the real drivers.

The PPK2 powers the DUT only in source-meter mode with DUT power on (ppk2-api's ``toggle_DUT_power``,
``use_ampere_meter``); the N6705C's output follows ``OUTP`` and ``*RST``. Each change reaches the
reference bench's supply rail as one call; a bench that was left powered starts on.
"""

from __future__ import annotations

import asyncio
import queue
import threading

import pytest
import pyvisa

from bench.instruments.ppk2 import Ppk2Meter
from bench.reference.power_model import PowerTimeline
from bench.reference.ppk2_sim import Ppk2Simulator
from bench.reference.scpi_server import ScpiServer


def timeline() -> PowerTimeline:
    t = PowerTimeline("nrf52840dk", "camera", seed=1, synth_connection_interval_s=0.0075)
    t.enter("advertising")
    return t


def next_switch(switches: "queue.Queue[bool]", timeout_s: float = 5.0) -> bool:
    return switches.get(timeout=timeout_s)


@pytest.fixture
def ppk2():
    switches: queue.Queue[bool] = queue.Queue()
    sim = Ppk2Simulator(timeline(), dut_power=True, on_supply=switches.put)
    path = sim.start()
    meter = Ppk2Meter(path, mode="source", voltage_v=3.0, timeout_s=2.0)
    yield meter, sim, switches
    meter.close()
    sim.stop()


def test_opening_a_ppk2_in_source_mode_keeps_a_powered_dut_powered(ppk2):
    meter, sim, switches = ppk2
    meter.output(True)
    meter.set_voltage(3.3)
    meter.metadata = meter._read_metadata()     # a round trip: every command before it has been handled
    assert sim.sourcing and switches.empty()


def test_ppk2_dut_power_off_and_on_reach_the_rail_once_each(ppk2):
    meter, sim, switches = ppk2
    meter.output(False)
    assert next_switch(switches) is False
    meter.output(False)                          # already off: no second call
    meter.output(True)
    assert next_switch(switches) is True
    assert switches.empty()


def test_ppk2_in_ampere_mode_does_not_power_the_dut(ppk2):
    meter, sim, switches = ppk2
    meter._api.use_ampere_meter()
    assert next_switch(switches) is False
    meter._api.use_source_meter()
    assert next_switch(switches) is True


@pytest.fixture
def scpi():
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    switches: queue.Queue[bool] = queue.Queue()
    server = ScpiServer(timeline(), output_on=True, on_supply=switches.put)
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(5)
    rm = pyvisa.ResourceManager("@py")
    res = rm.open_resource(server.resource, read_termination="\n", write_termination="\n", timeout=2000)
    yield res, switches
    res.close()
    asyncio.run_coroutine_threadsafe(server.stop(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


def test_scpi_output_and_rst_switch_the_dut(scpi):
    res, switches = scpi
    assert res.query("OUTP? (@1)") == "1"          # a bench left powered
    res.write("OUTP ON,(@1)")
    res.query("*OPC?")
    assert switches.empty()
    res.write("OUTP OFF,(@1)")
    res.query("*OPC?")
    assert next_switch(switches) is False
    res.write("OUTP ON,(@1)")
    res.query("*OPC?")
    assert next_switch(switches) is True
    res.write("*RST")                              # *RST turns the output off, as on the instrument
    res.query("*OPC?")
    assert next_switch(switches) is False
