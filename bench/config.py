"""Bench files (``fixtures/benches/*.yaml``): what is at the other end of every link.

One YAML file describes one bench: the device under test (board, SKU, console port, BLE name or
address and backend), the power instrument and the audio rig. A ``reference:`` section means "start
a reference bench and take every endpoint marked ``auto`` from its ready line". Unknown keys are
errors (a typo must not silently fall back to a default); every error names file, line and field.
Boards are checked against the board files (``bench.boards``): an unknown board lists the known ones.
A bench file is found by path, or by name in the project's benches folder, then glassbench's own.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, Optional, Union

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from bench import boards, flash, project
from bench.config_power import (  # noqa: F401  (the power section's names belong to the bench-file schema)
    MarkerSpec,
    PowerSpec,
    Strict,
    current_limit_a,
    max_voltage_v,
    power_problem,
    supply_voltage_v,
)
from bench.errors import ConfigError
from bench.yamlconf import line_of, load_yaml, validate

if TYPE_CHECKING:
    from bench.dut.consoles import ConsoleDriver

AUTO = "auto"
LAB = "lab"  # an endpoint taken from the acquired labgrid place (bench/lab/endpoints.py)
DEFAULT_BENCH = project.builtin_folder("benches") / "reference.yaml"  # glassbench's own reference bench


def _known_board(name: str) -> str:
    try:
        boards.get(name)
    except ConfigError as e:
        raise ValueError(str(e).removeprefix(f"{ConfigError.TAG}: ")) from None
    return name


BoardName = Annotated[str, AfterValidator(_known_board)]


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
    pairing: Literal["none", "just-works", "passkey"] = Field(
        "just-works", description="pairing the reference device accepts: none, just-works (LE SC, no I/O), "
                                  "passkey (LE SC, the device displays 'passkey' on its console)")
    passkey: int = Field(123456, ge=0, le=999999)
    privileged_security: Literal["auto", "open", "encrypted", "authenticated"] = Field(
        "auto", description="link security the device's privileged requests need (GLP: SettingSet, PhotoCapture, "
                            "FactoryReset); auto = authenticated with passkey pairing, else open")
    bugs: list[str] = []
    settings: dict[str, str] = {}
    extra_args: list[str] = []

    @field_validator("bugs")
    @classmethod
    def _known_bugs(cls, bugs: list[str], info: ValidationInfo) -> list[str]:
        profile = info.data.get("profile")
        if bugs and profile is not None:
            known = known_bugs(profile)
            unknown = [b for b in bugs if b not in known]
            if unknown:
                raise ValueError(f"unknown bug {', '.join(map(repr, unknown))} for profile {profile} "
                                 f"(known: {', '.join(sorted(known)) or 'none'})")
        return bugs

    @field_validator("settings")
    @classmethod
    def _known_settings(cls, settings: dict[str, str]) -> dict[str, str]:
        from bench.reference_settings import check

        problems = check(settings)
        if problems:
            raise ValueError("; ".join(problems))
        return settings


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


class ConnectionSpec(Strict):
    """Connection parameters and PHY the phone side asks for (None: the stack's default)."""

    interval_ms: Optional[float] = Field(None, ge=7.5, le=4000)
    latency: Optional[int] = Field(None, ge=0, le=499, description="peripheral latency, in connection events")
    supervision_timeout_ms: Optional[float] = Field(None, ge=100, le=32000)
    phy: Optional[Literal["1M", "2M"]] = None


class BleSpec(Strict):
    backend: Literal["default", "bumble"] = "default"
    adapter: Optional[str] = Field(None, pattern=r"^hci[0-9]+$",
                                   description="BlueZ adapter for the default backend on Linux (hci0, hci1, ...)")
    link: ConnectionSpec = ConnectionSpec()
    unapplied: Literal["refuse", "record"] = Field(
        "refuse", description="link settings this backend cannot apply: refuse to run, or run and record them")
    pairing: Optional[Literal["none", "just-works", "passkey", "auto", "lab"]] = Field(
        None, description="pairing the DUT's firmware offers (None: unknown, pairing tests skip); "
                          "'auto' = the reference bench's")
    passkey: Optional[int] = Field(None, ge=0, le=999999,
                                   description="passkey for passkey-entry pairing (else read from the DUT's console)")
    pair_on_connect: bool = Field(True, description="pair (or encrypt from the bond) right after connecting when the "
                                                    "DUT offers pairing, as the phone app does")
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
        if self.adapter and self.backend == "bumble":
            raise ValueError("'adapter' names a BlueZ adapter for the default backend; with backend 'bumble' "
                             "choose the controller with 'hci' (e.g. usb:1 or hci-socket:1)")
        if self.adapter and not sys.platform.startswith("linux"):
            raise ValueError(f"'adapter' selects a BlueZ adapter (Linux); bleak on {sys.platform} uses the system's one")
        return self


def _flash_spec() -> object:
    """``dut.flash``: one of the registered flash drivers' option models, chosen by ``driver``."""
    flash.load()
    models = tuple(entry.options for entry in flash.base.REGISTRY.values())
    return Annotated[Union[models], Field(discriminator="driver")]


FlashSpec = _flash_spec()


class RecoverySpec(Strict):
    """How the harness brings back a DUT that stopped answering: reconnect → reset → power-cycle."""

    enabled: bool = True
    probe_timeout_s: float = Field(3.0, gt=0, description="a liveness probe (console command, BLE read) answers within this")
    reconnect_timeout_s: float = Field(10.0, gt=0, description="budget of the reconnect step")
    reset: bool = Field(True, description="use the flash driver's reset (if dut.flash is set)")
    power_cycle: bool = Field(True, description="power-cycle through the bench's supply (PPK2 in source mode, SCPI output)")
    power_off_s: float = Field(0.5, ge=0, le=60, description="how long the supply stays off")
    boot_timeout_s: float = Field(10.0, gt=0, description="after a reset or power-on, the DUT boots and connects within this")


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
    flash: Optional[FlashSpec] = Field(None, description="the programmer: driver (nrfutil, nrfjprog, west, esptool, "  # type: ignore[valid-type]
                                                         "pyocd) and its options; bench flash, bench reset, recovery")
    recovery: RecoverySpec = RecoverySpec()
    glp_port: Optional[str] = Field(None, description="serial port carrying GLP over COBS (bring-up without a "
                                                      "radio); 'auto' = the reference bench's glp_serial pty")


class RigSpec(Strict):
    kind: Literal["reference", "sounddevice"]
    address: Optional[str] = Field(None, description="host:port of the reference rig; 'auto' on a reference bench")
    input_device: Optional[str] = None
    output_device: Optional[str] = None
    sample_rate_hz: int = 48_000


class LabSpec(Strict):
    """A DUT on a labgrid place (another bench PC's, or this one's exporter): reserve, acquire, release."""

    coordinator: Optional[str] = Field(None, description="host:port of the labgrid coordinator (default: "
                                                         "$LG_COORDINATOR, else 127.0.0.1:20408)")
    place: Optional[str] = Field(None, description="a place by name (--lg-place overrides); else by tags")
    tags: dict[str, str] = Field({}, description="place tags to reserve by, e.g. {board: nrf52840dk, sku: camera}")
    reserve_timeout_s: float = Field(600.0, gt=0, description="how long to queue for a free place")
    ready_timeout_s: float = Field(30.0, gt=0, description="after acquiring, the exporter serves the ports within this")

    @model_validator(mode="after")
    def _place_or_tags(self) -> "LabSpec":
        if not self.place and not self.tags:
            raise ValueError("give the place's name ('place') or the tags to reserve one by ('tags')")
        return self


class BenchConfig(Strict):
    name: str
    description: str = ""
    reference: Optional[ReferenceSpec] = None
    lab: Optional[LabSpec] = Field(None, description="take the DUT from a labgrid place; endpoints marked 'lab'")
    dut: DutSpec
    power: Optional[PowerSpec] = None
    rig: Optional[RigSpec] = None
    out_dir: str = "out"

    @model_validator(mode="after")
    def _auto_needs_reference(self) -> "BenchConfig":
        autos = [f for f, v in (("dut.console.port", self.dut.console and self.dut.console.port),
                                ("dut.ble.name", self.dut.ble.name), ("dut.ble.address", self.dut.ble.address),
                                ("dut.ble.hci", self.dut.ble.hci), ("dut.glp_port", self.dut.glp_port),
                                ("dut.ble.pairing", self.dut.ble.pairing),
                                ("power.resource", self.power and self.power.resource),
                                ("rig.address", self.rig and self.rig.address)) if v == AUTO]
        if autos and self.reference is None:
            raise ValueError(f"{', '.join(autos)} set to 'auto' but there is no 'reference:' section to supply it")
        labs = [f for f, v in self._endpoints() if v == LAB]
        if labs and self.lab is None:
            raise ValueError(f"{', '.join(labs)} set to 'lab' but there is no 'lab:' section (coordinator, place or tags)")
        if self.lab is not None and self.reference is not None:
            raise ValueError("'lab' and 'reference' exclude each other: a lab place's reference bench runs on its bench PC")
        return self

    def _endpoints(self) -> list[tuple[str, object]]:
        return [("dut.console.port", self.dut.console and self.dut.console.port), ("dut.ble.name", self.dut.ble.name),
                ("dut.ble.address", self.dut.ble.address), ("dut.ble.hci", self.dut.ble.hci),
                ("dut.glp_port", self.dut.glp_port), ("dut.ble.pairing", self.dut.ble.pairing),
                ("power.resource", self.power and self.power.resource), ("rig.address", self.rig and self.rig.address)]


def with_bugs(config: BenchConfig, bugs: list[str]) -> BenchConfig:
    """``config`` with these seeded bugs switched on in its reference bench, checked like the bench file."""
    import pydantic

    assert config.reference is not None
    try:
        reference = ReferenceSpec.model_validate({**config.reference.model_dump(), "bugs": [*config.reference.bugs, *bugs]})
    except pydantic.ValidationError as exc:
        raise ConfigError(f"--bug: {exc.errors()[0]['msg'].removeprefix('Value error, ')}") from None
    return config.model_copy(update={"reference": reference})


def known_bugs(profile: str) -> dict[str, str]:
    """The seeded bugs the reference device of ``profile`` has (name -> what it does)."""
    from bench.profiles import get_profile

    seeded = get_profile(profile).seeded_bugs
    return dict(seeded()) if seeded is not None else {}


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
    """Load and validate a bench file (default: the reference bench), including its power safety checks."""
    found = find_bench(path)
    data, lines = load_yaml(found)
    config = validate(BenchConfig, data, lines, found)
    problem = power_problem(config)
    if problem is not None:
        field, message = problem
        raise ConfigError(f"{found}:{line_of(lines, ('power', field))}: power.{field}: {message}")
    return config
