"""pyOCD through its Python API: CMSIS-DAP / J-Link / ST-Link probes, FileProgrammer, target reset.

A probe is chosen by ``probe`` (its unique id, a contains match as in ``pyocd list``); with several
probes connected and none named, the driver refuses rather than prompt (pyOCD's own chooser reads
stdin). ``target`` is pyOCD's target type (``nrf52840``, ``esp32s3`` is not one: use esptool).
pyOCD's errors (no probe, target not responding, transfer faults) become FlashErrors.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import Field

from bench.flash.base import FlashError, FlashOptions, FlashResult, call_with_timeout, check_image, register


class PyocdOptions(FlashOptions):
    driver: Literal["pyocd"] = "pyocd"
    probe: Optional[str] = Field(None, description="probe unique id (pyocd list); none = the only probe")
    target: str = Field(description="pyOCD target type, e.g. nrf52840")
    frequency_hz: int = Field(4_000_000, gt=0, description="SWD clock")
    erase: Literal["auto", "sector", "chip"] = "sector"
    reset_type: Literal["default", "hw", "sw", "sw_system", "sw_core"] = "default"
    base_address: Optional[int] = Field(None, ge=0, description="load address of a .bin image")


def _pyocd() -> Any:
    try:
        import pyocd.core.exceptions
        import pyocd.core.helpers
        import pyocd.core.session
        import pyocd.flash.file_programmer
    except ImportError as exc:
        raise FlashError(f"driver pyocd needs the pyocd package (pip install pyocd): {exc}") from None
    return pyocd


@register("pyocd", PyocdOptions)
class Pyocd:
    name = "pyocd"

    def __init__(self, options: PyocdOptions) -> None:
        self.options = options

    def session_options(self) -> dict[str, Any]:
        o = self.options
        opts: dict[str, Any] = {"target_override": o.target, "frequency": o.frequency_hz, "chip_erase": o.erase,
                                "hide_programming_progress": True}
        if o.reset_type != "default":
            opts["reset_type"] = o.reset_type
        return opts

    def _session(self) -> Any:
        pyocd = _pyocd()
        probes = pyocd.core.helpers.ConnectHelper.get_all_connected_probes(
            blocking=False, unique_id=self.options.probe, print_wait_message=False)
        which = f" matching {self.options.probe!r}" if self.options.probe else ""
        if not probes:
            raise FlashError(f"pyocd: no debug probe{which} connected (pyocd list shows what is there)")
        if len(probes) > 1:
            ids = ", ".join(p.unique_id for p in probes)
            raise FlashError(f"pyocd: {len(probes)} probes{which} ({ids}); name one with dut.flash.probe")
        return pyocd.core.session.Session(probes[0], options=self.session_options())

    def flash(self, image: Path) -> FlashResult:
        image = check_image(image, (".hex", ".bin", ".elf", ".axf"), self.name)
        t0 = time.monotonic()

        def work() -> None:
            with self._session() as session:
                programmer = _pyocd().flash.file_programmer.FileProgrammer(session, chip_erase=self.options.erase)
                kwargs = {"base_address": self.options.base_address} if self.options.base_address is not None else {}
                programmer.program(str(image), **kwargs)
                session.target.reset()
        self._call(work, self.options.timeout_s, "pyocd flash")
        return FlashResult(self.name, "flash", ["pyocd.FileProgrammer.program", str(image)], time.monotonic() - t0)

    def reset(self) -> FlashResult:
        t0 = time.monotonic()

        def work() -> None:
            with self._session() as session:
                session.target.reset()
        self._call(work, self.options.reset_timeout_s, "pyocd reset")
        return FlashResult(self.name, "reset", ["pyocd.Target.reset"], time.monotonic() - t0)

    @staticmethod
    def _call(work: Any, timeout_s: float, what: str) -> None:
        error = _pyocd().core.exceptions.Error
        try:
            call_with_timeout(work, timeout_s, what)
        except error as exc:
            raise FlashError(f"{what}: {type(exc).__name__}: {exc}") from None
