"""Flash drivers: the contract, the registry by name, and the CLI runner the vendor tools share.

A driver is one small file that registers itself with ``@register("name", Options)``, where
``Options`` is the pydantic model of its ``dut.flash:`` section (``driver: <name>`` plus its own
keys). Nothing here knows the tools by name, so a new programmer is one new file (as labgrid's
``@target_factory.reg_driver``). Every driver can ``flash(image)`` and ``reset()``; both raise
:class:`FlashError` with what was run, what came back and why it failed.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from bench.errors import BenchError


class FlashError(BenchError):
    """Flashing or resetting the DUT failed: the tool is missing, timed out or reported an error."""

    TAG = "FLASH ERROR"


class FlashOptions(BaseModel):
    """Keys every ``dut.flash:`` section accepts; each driver's model adds its own."""

    model_config = ConfigDict(extra="forbid")
    driver: str
    timeout_s: float = Field(180.0, gt=0, description="a whole flash (erase, write, verify) must end within this")
    reset_timeout_s: float = Field(20.0, gt=0, description="a reset must end within this")


@dataclass
class FlashResult:
    """What one flash or reset did: the command (or API call), its output and how long it took."""

    driver: str
    action: Literal["flash", "reset"]
    command: list[str]
    duration_s: float
    output: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        return f"{self.driver} {self.action} in {self.duration_s:.1f} s"


class FlashDriver(Protocol):
    """What the bench needs from a programmer: write an image, reset the target."""

    name: str

    def flash(self, image: Path) -> FlashResult:
        """Write ``image`` (hex/bin/elf/zip, as the tool takes) and leave the DUT running it."""

    def reset(self) -> FlashResult:
        """Reset the DUT (the tool's hard/system reset), leaving it running."""


@dataclass(frozen=True)
class DriverEntry:
    name: str
    options: type[FlashOptions]
    factory: Callable[[Any], FlashDriver]


REGISTRY: dict[str, DriverEntry] = {}


def register(name: str, options: type[FlashOptions]) -> Callable[[type], type]:
    """Class decorator: the driver for ``dut.flash.driver: <name>``, configured by ``options``."""

    def deco(cls: type) -> type:
        REGISTRY[name] = DriverEntry(name, options, cls)
        setattr(cls, "name", name)  # noqa: B010 - set on the class the decorator was given
        return cls
    return deco


def known() -> list[str]:
    from bench.flash import load

    load()
    return sorted(REGISTRY)


def options_model(name: str) -> type[FlashOptions]:
    """The options model of driver ``name``; ValueError listing the known drivers otherwise."""
    known_names = known()
    if name not in REGISTRY:
        raise ValueError(f"unknown flash driver {name!r}; known: {', '.join(known_names)}")
    return REGISTRY[name].options


def make_driver(options: FlashOptions) -> FlashDriver:
    """The driver configured by a validated ``dut.flash:`` section."""
    options_model(options.driver)
    return REGISTRY[options.driver].factory(options)


# -- the CLI runner -------------------------------------------------------------------------------
INSTALL_HINTS = {
    "nrfutil": "install nRF Util from https://www.nordicsemi.com/Products/Development-tools/nRF-Util, "
               "then `nrfutil install device`",
    "nrfjprog": "install nRF Command Line Tools (nrfjprog, deprecated by Nordic: prefer driver nrfutil)",
    "west": "pip install west inside your Zephyr/NCS workspace (or activate that workspace's venv)",
}


@dataclass
class Completed:
    command: list[str]
    returncode: int
    stdout: str
    stderr: str
    duration_s: float

    @property
    def output(self) -> str:
        return (self.stdout + ("\n" + self.stderr if self.stderr else "")).strip()


def which(tool: str, path: str | None = None) -> str:
    """The tool's full path, or a FlashError in one clear line naming how to install it."""
    found = shutil.which(tool, path=path)
    if found is None:
        hint = INSTALL_HINTS.get(tool, "install it or put it on PATH")
        raise FlashError(f"{tool} not found on PATH; {hint}")
    return found


def run_tool(command: list[str], timeout_s: float, cwd: str | Path | None = None) -> Completed:
    """Run a vendor CLI with a timeout; a timeout or a failure to start is a FlashError."""
    t0 = time.monotonic()
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, cwd=cwd,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        tail = _text(exc.stdout)[-300:] + _text(exc.stderr)[-300:]
        raise FlashError(f"{' '.join(command)} did not finish within {timeout_s:g} s; last output: {tail!r}") from None
    except OSError as exc:
        raise FlashError(f"cannot run {command[0]}: {exc.strerror or exc}") from None
    return Completed(command, proc.returncode, proc.stdout, proc.stderr, time.monotonic() - t0)


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode(errors="replace")


def check_image(image: str | Path, suffixes: tuple[str, ...], driver: str) -> Path:
    """The image path, existing and of a type the tool takes."""
    path = Path(image)
    if not path.is_file():
        raise FlashError(f"image {path} does not exist (or is not a file)")
    if suffixes and path.suffix.lower() not in suffixes:
        raise FlashError(f"{driver} flashes {', '.join(suffixes)} images, not {path.name}")
    return path


def call_with_timeout(fn: Callable[[], Any], timeout_s: float, what: str) -> Any:
    """Run a blocking library call (esptool, pyocd) on a daemon thread; past ``timeout_s`` a FlashError.

    The call cannot be interrupted: on timeout its thread is left to finish (or die with the process).
    """
    import threading

    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name=what, daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise FlashError(f"{what} did not finish within {timeout_s:g} s")
    if "error" in box:
        raise box["error"]
    return box.get("value")
