"""Power instruments behind one PowerMeter interface; SCPI models register themselves on import."""

from bench.instruments import dp832, k2281s, n6705c  # noqa: F401  (register the SCPI drivers)
from bench.instruments.base import Capture, InstrumentError, PowerMeter, register, supported_models
from bench.instruments.ppk2 import Ppk2Meter
from bench.instruments.scpi import open_power_meter

__all__ = ["Capture", "InstrumentError", "PowerMeter", "Ppk2Meter", "open_power_meter", "register",
           "supported_models"]
