"""``west flash``: Zephyr's runner front end (nrfutil, nrfjprog, jlink, pyocd, openocd, esp32, ...).

``west flash [-d BUILD_DIR] [-r RUNNER] [--hex-file|--bin-file|--elf-file IMAGE] [--dev-id SN] [ARGS]``
runs in the Zephyr/NCS workspace (``cwd``). west prints ``-- west flash: using runner X`` and
``-- runners.X: ...`` progress lines, and fails with ``ERROR:``/``FATAL ERROR:`` lines and a non-zero
exit code. west has no reset command: ``reset_command`` (argv) gives one, e.g. the runner's own tool.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal, Optional

from pydantic import Field

from bench.flash.base import Completed, FlashError, FlashOptions, FlashResult, check_image, register, run_tool, which

RUNNER_LINE = re.compile(r"^-- west flash: using runner (\S+)", re.M)
ERROR_LINE = re.compile(r"^(?:FATAL )?ERROR:\s*(.+?)\s*$", re.M)
IMAGE_FLAG = {".hex": "--hex-file", ".bin": "--bin-file", ".elf": "--elf-file"}


class WestOptions(FlashOptions):
    driver: Literal["west"] = "west"
    build_dir: Optional[str] = Field(None, description="build folder (-d); none = west's default (build)")
    runner: Optional[str] = Field(None, description="runner (-r): nrfutil, nrfjprog, jlink, pyocd, esp32, ...")
    dev_id: Optional[str] = Field(None, description="probe serial number (--dev-id)")
    cwd: Optional[str] = Field(None, description="the west workspace to run in")
    runner_args: list[str] = Field(default_factory=list, description="extra arguments after the west ones")
    reset_command: Optional[list[str]] = Field(None, min_length=1, description="argv that resets the DUT")


def parse_output(output: str) -> tuple[str | None, list[str]]:
    """(runner used, error lines) of west flash's output."""
    m = RUNNER_LINE.search(output)
    return (m.group(1) if m else None), ERROR_LINE.findall(output)


@register("west", WestOptions)
class West:
    name = "west"

    def __init__(self, options: WestOptions) -> None:
        self.options = options

    def flash_command(self, image: Path | None, tool: str = "west") -> list[str]:
        o = self.options
        argv = [tool, "flash"]
        if o.build_dir:
            argv += ["-d", o.build_dir]
        if o.runner:
            argv += ["-r", o.runner]
        if image is not None:
            argv += [IMAGE_FLAG[image.suffix.lower()], str(image)]
        if o.dev_id:
            argv += ["--dev-id", o.dev_id]
        return argv + o.runner_args

    def flash(self, image: Path) -> FlashResult:
        image = check_image(image, tuple(IMAGE_FLAG), self.name)
        done = run_tool(self.flash_command(image, which("west")), self.options.timeout_s, cwd=self.options.cwd)
        runner, errors = parse_output(done.output)
        if done.returncode != 0 or errors:
            reason = "; ".join(errors) or done.output[-300:] or "no output"
            raise FlashError(f"west flash failed (exit {done.returncode}, runner {runner or '?'}): {reason}")
        return FlashResult(self.name, "flash", done.command, done.duration_s, done.output, {"runner": runner})

    def reset(self) -> FlashResult:
        argv = self.options.reset_command
        if not argv:
            raise FlashError("west has no reset command; set dut.flash.reset_command (e.g. "
                             "[nrfutil, device, reset, --serial-number, SN])")
        done: Completed = run_tool([which(argv[0]), *argv[1:]], self.options.reset_timeout_s, cwd=self.options.cwd)
        if done.returncode != 0:
            raise FlashError(f"reset command {' '.join(argv)} failed (exit {done.returncode}): {done.output[-300:]}")
        return FlashResult(self.name, "reset", done.command, done.duration_s, done.output)
