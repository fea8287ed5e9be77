"""Flashing and resetting the DUT: drivers registered by name (``dut.flash.driver`` in the bench file).

``nrfutil``, ``nrfjprog`` and ``west`` run their CLIs; ``esptool`` and ``pyocd`` use those
libraries' Python APIs (imported only when used). See bench/flash/base.py for the contract.
"""

from __future__ import annotations

from bench.flash.base import FlashDriver, FlashError, FlashOptions, FlashResult, known, make_driver, options_model

DRIVER_MODULES = ("nrfutil", "nrfjprog", "west", "esptool_driver", "pyocd_driver")


def load() -> None:
    """Import the driver modules (each registers itself)."""
    import importlib

    for name in DRIVER_MODULES:
        importlib.import_module(f"bench.flash.{name}")


__all__ = ["FlashDriver", "FlashError", "FlashOptions", "FlashResult", "known", "load", "make_driver", "options_model"]
