"""SCPI drivers against pyvisa-sim definitions (fixtures/instruments/*.yaml): detection, control, errors."""

from pathlib import Path

import numpy as np
import pytest

from bench.instruments import InstrumentError, PowerMeter, open_power_meter, supported_models
from bench.instruments.dp832 import DP832
from bench.instruments.k2281s import K2281S
from bench.instruments.n6705c import N6705C

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "instruments"
N6705 = ("TCPIP0::n6705c.sim::5025::SOCKET", f"{FIX / 'n6705c.yaml'}@sim")
K2281 = ("USB0::0x05E6::0x2281::4420123::INSTR", f"{FIX / 'k2281s.yaml'}@sim")
DP = ("USB0::0x1AB1::0x0E11::DP8C123456789::INSTR", f"{FIX / 'dp832.yaml'}@sim")
SCOPE = ("USB0::0x0699::0x0527::C012345::INSTR", f"{FIX / 'dp832.yaml'}@sim")


def open_sim(res: tuple[str, str]):
    return open_power_meter(res[0], visa_library=res[1], timeout_s=0.5)


@pytest.mark.parametrize("res, cls", [(N6705, N6705C), (K2281, K2281S), (DP, DP832)])
def test_idn_selects_the_registered_driver(res, cls):
    meter = open_sim(res)
    assert type(meter) is cls
    assert isinstance(meter, PowerMeter)
    meter.close()


def test_unknown_instrument_error_lists_supported_models():
    with pytest.raises(InstrumentError) as err:
        open_sim(SCOPE)
    assert "MSO44" in str(err.value)
    for model in supported_models():
        assert model in str(err.value)
    assert err.value.category == "instrument fault"


def test_n6705c_sets_voltage_and_reads_current():
    meter = open_sim(N6705)
    meter.set_voltage(3.3)
    assert meter.query_float("VOLT? (@1)") == pytest.approx(3.3)
    meter.output(True)
    assert meter.measure_current_a() == pytest.approx(41.25e-6)


def test_n6705c_rejected_range_surfaces_the_instrument_error():
    meter = open_sim(N6705)
    with pytest.raises(InstrumentError, match="-113"):
        meter.set_range(10.0)


def test_silent_instrument_times_out_as_instrument_error_not_a_hang():
    meter = open_sim(N6705)
    with pytest.raises(InstrumentError, match="timed out"):
        meter.query("SLOW? (@1)", timeout_s=0.2)


def test_n6705c_capture_needs_a_duration():
    with pytest.raises(ValueError, match="duration_s"):
        open_sim(N6705).start_capture(100_000)


def test_k2281s_buffer_capture_uses_instrument_timestamps_and_flags_overflow():
    meter = open_sim(K2281)
    meter.set_range(0.01)
    meter.start_capture(1000, 0.005)
    cap = meter.read_samples(timeout_s=1)
    assert np.allclose(cap.t_s - cap.t_s[0], [0, 0.001, 0.002, 0.003, 0.004])
    assert cap.sample_rate_hz == pytest.approx(1000)
    assert cap.overflow.tolist() == [False, False, True, False, False]
    assert cap.overflowed and cap.complete


def test_dp832_refuses_rates_it_cannot_poll():
    meter = open_sim(DP)
    with pytest.raises(ValueError, match="polled"):
        meter.start_capture(1000)


def test_dp832_polling_capture_stamps_host_time():
    meter = open_sim(DP)
    meter.start_capture(20, duration_s=0.2)
    cap = meter.stop_capture(timeout_s=2)
    assert len(cap) >= 1
    assert np.all(cap.current_a == pytest.approx(0.045))
    assert np.all(np.diff(cap.t_s) > 0)
