"""Flashing and resetting the DUT: drivers registered by name (``dut.flash.driver`` in the bench file).

``nrfutil``, ``nrfjprog`` and ``west`` run their CLIs; ``esptool`` and ``pyocd`` use those
libraries' Python APIs (imported only when used). See bench/flash/base.py for the contract.
"""

from __future__ import annotations

from typing import Any, Callable

from bench.flash.base import FlashDriver, FlashError, FlashOptions, FlashResult, known, make_driver, options_model

DRIVER_MODULES = ("nrfutil", "nrfjprog", "west", "esptool_driver", "pyocd_driver")


def load() -> None:
    """Import the driver modules (each registers itself)."""
    import importlib

    for name in DRIVER_MODULES:
        importlib.import_module(f"bench.flash.{name}")


__all__ = ["FlashDriver", "FlashError", "FlashOptions", "FlashResult", "from_bench", "known", "load", "make_driver",
           "options_model"]


def from_bench(config: Any, endpoint: Callable[[str, str], str | None] | None = None) -> FlashDriver | None:
    """The bench file's flash driver (None without ``dut.flash``). ``endpoint(value, key)`` resolves
    ``auto`` values (a BenchSession's ``endpoint``); an esptool ``port: auto`` is the DUT's console."""
    spec = config.dut.flash
    if spec is None:
        return None
    port = getattr(spec, "port", None)
    if port == "auto":
        console = config.dut.console
        if console is None:
            raise FlashError("dut.flash.port is 'auto' but the bench file has no dut.console to take it from")
        port = console.port
        if port == "auto" and endpoint is not None:
            port = endpoint(port, "console")
        spec = spec.model_copy(update={"port": port})
    return make_driver(spec)
