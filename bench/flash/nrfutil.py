"""nRF Util (``nrfutil device``): Nordic's current programmer CLI, run with ``--json``.

``nrfutil --json device program --firmware IMAGE --serial-number SN --options ...`` and
``nrfutil --json device reset --serial-number SN``. With ``--json`` nrfutil prints one JSON object
per line (task_begin / task_progress / task_end, as Zephyr's nrfutil runner reads them); a task_end
whose ``result`` is not ``success`` carries the error, which becomes the FlashError's reason.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import Field

from bench.flash.base import Completed, FlashError, FlashOptions, FlashResult, check_image, register, run_tool, which


class NrfutilOptions(FlashOptions):
    driver: Literal["nrfutil"] = "nrfutil"
    serial_number: Optional[str] = Field(None, description="J-Link serial number (nrfutil device list); none = the only one")
    chip_erase_mode: Literal["ERASE_ALL", "ERASE_RANGES_TOUCHED_BY_FIRMWARE", "ERASE_NONE"] = "ERASE_RANGES_TOUCHED_BY_FIRMWARE"
    verify: Literal["VERIFY_NONE", "VERIFY_HASH", "VERIFY_READ"] = "VERIFY_READ"
    reset_kind: Optional[Literal["RESET_SYSTEM", "RESET_HARD", "RESET_PIN", "RESET_DEBUG"]] = None
    extra_args: list[str] = Field(default_factory=list, description="more arguments for nrfutil device program")


def parse_output(stdout: str) -> tuple[list[dict[str, Any]], list[str]]:
    """nrfutil's JSON lines → (task_end records, error messages). Non-JSON lines are ignored."""
    ends: list[dict[str, Any]] = []
    errors: list[str] = []
    for line in stdout.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        data = record.get("data") if isinstance(record, dict) else None
        if not isinstance(data, dict):
            continue
        if record.get("type") == "task_end":
            ends.append(data)
            if data.get("result") not in (None, "success"):
                errors.append(_error_text(data))
        elif record.get("type") == "log" and str(data.get("level", "")).upper() == "ERROR":
            errors.append(str(data.get("message", "")))
    return ends, [e for e in errors if e]


def _error_text(data: dict[str, Any]) -> str:
    err = data.get("error")
    if isinstance(err, dict):
        text = err.get("description") or err.get("message") or ""
        return f"{text} (code {err['code']})" if "code" in err else str(text)
    return str(data.get("message") or err or data.get("result"))


@register("nrfutil", NrfutilOptions)
class Nrfutil:
    """Flash and reset through ``nrfutil device`` (a J-Link on a DK, or a standalone one)."""

    name = "nrfutil"

    def __init__(self, options: NrfutilOptions) -> None:
        self.options = options

    def _target(self) -> list[str]:
        return ["--serial-number", self.options.serial_number] if self.options.serial_number else []

    def program_command(self, image: Path, tool: str = "nrfutil") -> list[str]:
        o = self.options
        return [tool, "--json", "device", "program", "--firmware", str(image), *self._target(),
                "--options", f"chip_erase_mode={o.chip_erase_mode},verify={o.verify}", *o.extra_args]

    def reset_command(self, tool: str = "nrfutil") -> list[str]:
        kind = ["--reset-kind", self.options.reset_kind] if self.options.reset_kind else []
        return [tool, "--json", "device", "reset", *self._target(), *kind]

    def flash(self, image: Path) -> FlashResult:
        image = check_image(image, (".hex", ".zip", ".elf", ".bin"), self.name)
        done = run_tool(self.program_command(image, which("nrfutil")), self.options.timeout_s)
        # a reset after programming, so the DUT runs the new image (program leaves that to the options)
        reset = run_tool(self.reset_command(which("nrfutil")), self.options.reset_timeout_s)
        self._check(done, "program")
        self._check(reset, "reset")
        return FlashResult(self.name, "flash", done.command, done.duration_s + reset.duration_s, done.output)

    def reset(self) -> FlashResult:
        t0 = time.monotonic()
        done = run_tool(self.reset_command(which("nrfutil")), self.options.reset_timeout_s)
        self._check(done, "reset")
        return FlashResult(self.name, "reset", done.command, time.monotonic() - t0, done.output)

    @staticmethod
    def _check(done: Completed, what: str) -> None:
        ends, errors = parse_output(done.stdout)
        if done.returncode != 0 or errors:
            reason = "; ".join(errors) or done.stderr.strip()[-300:] or done.stdout.strip()[-300:] or "no output"
            raise FlashError(f"nrfutil device {what} failed (exit {done.returncode}): {reason}")
