"""nrfjprog (nRF Command Line Tools): the classic J-Link programmer CLI for nRF5x (deprecated by Nordic).

``nrfjprog -f NRF52 --program IMAGE --sectorerase --verify --reset [--snr SN]`` and
``nrfjprog -f NRF52 --reset [--snr SN]`` (``--pinreset`` for a pin reset). It prints progress lines
(``Parsing image file.``, ``Verified OK.``, ``Applying system reset.``) and failures as ``ERROR: ...``
lines with a non-zero exit code; those lines become the FlashError's reason.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal, Optional

from pydantic import Field

from bench.flash.base import Completed, FlashError, FlashOptions, FlashResult, check_image, register, run_tool, which

ERROR_LINE = re.compile(r"^\s*ERROR:\s*(?:\[[^\]]*\]\s*-\s*)?(.+?)\s*$", re.M)


class NrfjprogOptions(FlashOptions):
    driver: Literal["nrfjprog"] = "nrfjprog"
    serial_number: Optional[str] = Field(None, description="J-Link serial number (nrfjprog --ids)")
    family: Literal["NRF51", "NRF52", "NRF53", "NRF91", "UNKNOWN"] = "NRF52"
    erase: Literal["sectorerase", "sectoranduicrerase", "chiperase"] = "sectorerase"
    pin_reset: bool = Field(False, description="reset through the reset pin (--pinreset) instead of a system reset")
    extra_args: list[str] = Field(default_factory=list)


def errors_in(output: str) -> list[str]:
    """The ``ERROR:`` lines of nrfjprog's output, without the ``[ nRF52] -`` prefix."""
    return ERROR_LINE.findall(output)


@register("nrfjprog", NrfjprogOptions)
class Nrfjprog:
    name = "nrfjprog"

    def __init__(self, options: NrfjprogOptions) -> None:
        self.options = options

    def _common(self) -> list[str]:
        o = self.options
        return ["-f", o.family, *(["--snr", o.serial_number] if o.serial_number else [])]

    def _reset_flag(self) -> str:
        return "--pinreset" if self.options.pin_reset else "--reset"

    def program_command(self, image: Path, tool: str = "nrfjprog") -> list[str]:
        return [tool, *self._common(), "--program", str(image), f"--{self.options.erase}", "--verify",
                self._reset_flag(), *self.options.extra_args]

    def reset_command(self, tool: str = "nrfjprog") -> list[str]:
        return [tool, *self._common(), self._reset_flag()]

    def flash(self, image: Path) -> FlashResult:
        image = check_image(image, (".hex",), self.name)
        done = run_tool(self.program_command(image, which("nrfjprog")), self.options.timeout_s)
        self._check(done, "program")
        return FlashResult(self.name, "flash", done.command, done.duration_s, done.output)

    def reset(self) -> FlashResult:
        done = run_tool(self.reset_command(which("nrfjprog")), self.options.reset_timeout_s)
        self._check(done, "reset")
        return FlashResult(self.name, "reset", done.command, done.duration_s, done.output)

    @staticmethod
    def _check(done: Completed, what: str) -> None:
        errors = errors_in(done.output)
        if done.returncode != 0 or errors:
            reason = "; ".join(errors) or done.output[-300:] or "no output"
            raise FlashError(f"nrfjprog {what} failed (exit {done.returncode}): {reason}")
