"""Bench files (``fixtures/benches/*.yaml``): what is at the other end of every link.

One YAML file describes one bench: the device under test (board, SKU, console port, BLE name or
address and backend), the power instrument and the audio rig. A ``reference:`` section means "start
a reference bench and take every endpoint marked ``auto`` from its ready line". Unknown keys are
errors (a typo must not silently fall back to a default); every error names file, line and field.
Boards are checked against the board files (``bench.boards``): an unknown board lists the known ones.
A bench file is found by path, or by name in the project's benches folder, then glassbench's own.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, Optional

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from bench import boards, project
from bench.errors import ConfigError
from bench.yamlconf import load_model

if TYPE_CHECKING:
    from bench.dut.consoles import ConsoleDriver

AUTO = "auto"
DEFAULT_BENCH = project.builtin_folder("benches") / "reference.yaml"  # glassbench's own reference bench


def _known_board(name: str) -> str:
    try:
        boards.get(name)
    except ConfigError as e:
        raise ValueError(str(e).removeprefix(f"{ConfigError.TAG}: ")) from None
    return name


BoardName = Annotated[str, AfterValidator(_known_board)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LinkSpec(Strict):
    interval_ms: Optional[float] = Field(None, ge=7.5, le=4000)
    phy: Optional[Literal["1M", "2M"]] = None
    data_length: Optional[int] = Field(None, ge=27, le=251)
    per: Optional[float] = Field(None, ge=0, le=1)
    jitter_ms: Optional[float] = Field(None, ge=0)
    supervision_timeout_ms: Optional[float] = Field(None, ge=100, le=32000)


class ReferenceSpec(Strict):
    """Start a reference bench process with these options."""

    board: BoardName = "nrf52840dk"
    sku: Literal["camera", "audio"] = "camera"
    profile: str = Field("glp", description="device protocol of the reference device (bench/profiles): glp, omi, stock")
    link: LinkSpec = LinkSpec()

    @field_validator("profile")
    @classmethod
    def _profile(cls, v: str) -> str:
        return _known_profile(v)
    seed: Optional[int] = None
    battery_notify_interval_s: float = Field(1.0, gt=0)
    bugs: list[str] = []
    settings: dict[str, str] = {}
    extra_args: list[str] = []


class ConsoleSpec(Strict):
    """The DUT's serial console; ``driver`` (default: the board's) says how to read it (bench/dut/consoles)."""

    port: str = Field(description="serial port path or pyserial URL; 'auto' = the reference bench's pty")
    baudrate: int = Field(115200, gt=0)
    boot_timeout_s: float = Field(10.0, gt=0)
    reopen_timeout_s: float = Field(10.0, gt=0, description="how long a vanished USB-CDC port is re-opened for")
    driver: Optional[str] = Field(None, description="zephyr | esp-idf | custom (default: the board file's console)")
    prompt: Optional[str] = Field(None, min_length=1, description="shell prompt (zephyr: 'uart:~$ ')")
    reboot_command: Optional[str] = Field(None, min_length=1,
                                          description="shell command that reboots the DUT (zephyr: kernel reboot cold)")
    boot_patterns: list[str] = Field([], description="regexes, one of which matches the first line of a boot")
    crash_patterns: list[str] = Field([], description="regexes of a crash line (fatal error, panic)")
    reset_reason_pattern: Optional[str] = Field(None, description="regex, group 1 = the reset reason")
    reset_reason_command: Optional[str] = Field(None, description="command whose answer names the reset reason")

    @field_validator("driver")
    @classmethod
    def _driver(cls, v: Optional[str]) -> Optional[str]:
        from bench.dut import consoles

        if v is not None and v not in consoles.names():
            raise ValueError(f"unknown console driver {v!r}; known: {', '.join(consoles.names())}")
        return v

    @field_validator("boot_patterns", "crash_patterns")
    @classmethod
    def _patterns(cls, v: list[str]) -> list[str]:
        from bench.dut import consoles

        for pattern in v:
            consoles.compile_pattern(pattern, "pattern")
        return v

    @field_validator("reset_reason_pattern")
    @classmethod
    def _pattern(cls, v: Optional[str]) -> Optional[str]:
        from bench.dut import consoles

        if v is not None:
            consoles.compile_pattern(v, "pattern")
        return v

    @model_validator(mode="after")
    def _custom_complete(self) -> "ConsoleSpec":
        if self.driver == "custom":
            missing = [f for f in ("prompt", "reboot_command") if getattr(self, f) is None]
            missing += [] if self.boot_patterns else ["boot_patterns"]
            if missing:
                raise ValueError(f"driver 'custom' needs {', '.join(missing)}")
        return self

    def console_driver(self, board: str) -> "ConsoleDriver":
        """The driver this console is read with: the named one (or the board's) with this file's overrides."""
        from bench.dut import consoles

        return consoles.build(self.driver or boards.get(board).console, prompt=self.prompt,
                              reboot_command=self.reboot_command, boot_patterns=self.boot_patterns,
                              crash_patterns=self.crash_patterns, reset_reason_pattern=self.reset_reason_pattern,
                              reset_reason_command=self.reset_reason_command)


class BleSpec(Strict):
    backend: Literal["default", "bumble"] = "default"
    hci: Optional[str] = Field(None, description="Bumble transport for backend 'bumble'; 'auto' = reference bench")
    name: Optional[str] = None
    address: Optional[str] = None
    mtu: int = Field(247, ge=23, le=517)
    scan_timeout_s: float = Field(10.0, gt=0)
    connect_timeout_s: float = Field(10.0, gt=0)
    connect_retries: int = Field(3, ge=1, le=20)

    @model_validator(mode="after")
    def _name_or_address(self) -> "BleSpec":
        if not self.name and not self.address:
            raise ValueError("give the DUT's BLE 'name' or 'address' (or 'auto' on a reference bench)")
        if self.backend == "bumble" and not self.hci:
            raise ValueError("backend 'bumble' needs 'hci' (a Bumble transport such as usb:0)")
        return self


class DutSpec(Strict):
    board: BoardName
    sku: str
    profile: str = Field("glp", description="the DUT's device protocol (bench/profiles): glp, omi, stock, or a "
                                            "product repo's own registered by entry point")

    @field_validator("profile")
    @classmethod
    def _profile(cls, v: str) -> str:
        return _known_profile(v)
    console: Optional[ConsoleSpec] = None
    ble: BleSpec
    glp_port: Optional[str] = Field(None, description="serial port carrying GLP over COBS (bring-up without a "
                                                      "radio); 'auto' = the reference bench's glp_serial pty")


class PowerSpec(Strict):
    kind: Literal["ppk2", "visa"]
    resource: str = Field(description="PPK2 serial port, or VISA resource string; 'auto' on a reference bench")
    supply_voltage_v: float = Field(3.7, gt=0, le=5.5)
    mode: Literal["source", "ampere"] = Field("source", description="PPK2: source meter (powers the DUT) or ampere meter")
    sample_rate_hz: float = Field(100_000, gt=0)
    timeout_s: float = Field(5.0, gt=0)


class RigSpec(Strict):
    kind: Literal["reference", "sounddevice"]
    address: Optional[str] = Field(None, description="host:port of the reference rig; 'auto' on a reference bench")
    input_device: Optional[str] = None
    output_device: Optional[str] = None
    sample_rate_hz: int = 48_000


class BenchConfig(Strict):
    name: str
    description: str = ""
    reference: Optional[ReferenceSpec] = None
    dut: DutSpec
    power: Optional[PowerSpec] = None
    rig: Optional[RigSpec] = None
    out_dir: str = "out"

    @model_validator(mode="after")
    def _auto_needs_reference(self) -> "BenchConfig":
        autos = [f for f, v in (("dut.console.port", self.dut.console and self.dut.console.port),
                                ("dut.ble.name", self.dut.ble.name), ("dut.ble.address", self.dut.ble.address),
                                ("dut.ble.hci", self.dut.ble.hci), ("dut.glp_port", self.dut.glp_port),
                                ("power.resource", self.power and self.power.resource),
                                ("rig.address", self.rig and self.rig.address)) if v == AUTO]
        if autos and self.reference is None:
            raise ValueError(f"{', '.join(autos)} set to 'auto' but there is no 'reference:' section to supply it")
        return self


def _known_profile(name: str) -> str:
    from bench.profiles import get_profile

    try:
        get_profile(name)
    except KeyError as e:
        raise ValueError(e.args[0]) from None
    return name


def find_bench(name_or_path: str | Path | None = None) -> Path:
    """A bench file by path, or by name (``reference``, ``fuzz.yaml``) in the project, then the built-ins."""
    return project.current().find("benches", name_or_path or DEFAULT_BENCH.name)


def load_bench(path: str | Path | None = None) -> BenchConfig:
    """Load and validate a bench file (default: the reference bench)."""
    return load_model(BenchConfig, find_bench(path))
