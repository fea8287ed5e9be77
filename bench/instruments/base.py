"""The power-meter contract every instrument driver fulfils, the model registry and InstrumentError.

A driver is one small file that registers itself with ``@register(r"<*IDN? regex>")``; nothing here
knows the models by name, so adding one never edits a central switch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np

INSTRUMENT_FAULT = "instrument fault"


class InstrumentError(Exception):
    """An instrument did not answer, went away or said something we cannot read.

    Tests treat it as *broken* with the category ``instrument fault`` (never as a product failure).
    """

    category = INSTRUMENT_FAULT

    def __init__(self, message: str, *, resource: str = "", command: str = "") -> None:
        where = " ".join(p for p in (f"on {resource}" if resource else "", f"after {command!r}" if command else "") if p)
        super().__init__(f"{message} ({where})" if where else message)
        self.resource = resource
        self.command = command


@dataclass
class Capture:
    """Samples of one capture (or one chunk of it), in SI units.

    ``t_s`` is CLOCK_MONOTONIC of the host (the reference bench uses the same clock), so markers
    from the console or the protocol line up directly. ``overflow`` flags samples that hit the top of
    the selected range; ``lost_samples`` counts samples the instrument or the link dropped.
    """

    t_s: np.ndarray
    current_a: np.ndarray
    sample_rate_hz: float
    overflow: np.ndarray | None = None
    lost_samples: int = 0
    expected_samples: int | None = None
    markers: np.ndarray | None = None
    voltage_v: float | None = None
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.current_a.size)

    @property
    def overflowed(self) -> bool:
        """True when any sample was above the measurement range (its value is only a lower bound)."""
        return bool(self.overflow is not None and self.overflow.any())

    @property
    def complete(self) -> bool:
        """False when the capture is known to have lost samples."""
        return self.lost_samples == 0


@runtime_checkable
class PowerMeter(Protocol):
    """What the power tests need from any supply/ammeter: source, switch, range, capture, identity."""

    identity: str
    max_sample_rate_hz: float

    def ranges_a(self) -> tuple[float, ...]:
        """Current ranges the meter offers, smallest first (full-scale amperes)."""

    def set_range(self, range_a: float | None) -> None:
        """Fix the current range (full-scale amperes) or, with None, let the meter auto-range."""

    def set_current_limit(self, limit_a: float) -> None:
        """Set the supply's current limit (amperes); SCPI supplies refuse output(True) until it is set."""

    def set_voltage(self, voltage_v: float) -> None:
        """Set the supply (source) voltage fed to the DUT."""

    def output(self, on: bool) -> None:
        """Switch the DUT supply on or off."""

    def start_capture(self, sample_rate_hz: float, duration_s: float | None = None) -> None:
        """Start capturing current at ``sample_rate_hz`` (for ``duration_s``, or until stopped)."""

    def read_samples(self, timeout_s: float = 5.0) -> Capture:
        """Samples gathered since the last read (streaming meters) or the finished capture."""

    def stop_capture(self, timeout_s: float = 5.0) -> Capture:
        """Stop capturing and return the samples not read yet."""

    def close(self) -> None:
        """Release the instrument (output state is left as it is)."""


@dataclass(frozen=True)
class DriverEntry:
    """One registered model: its *IDN? pattern, a readable name and the factory."""

    pattern: re.Pattern[str]
    model: str
    factory: Callable[..., Any]


_REGISTRY: list[DriverEntry] = []


def register(idn_pattern: str, model: str) -> Callable[[type], type]:
    """Class decorator: bind a driver to instruments whose *IDN? reply matches ``idn_pattern``."""

    def deco(cls: type) -> type:
        _REGISTRY.append(DriverEntry(re.compile(idn_pattern, re.IGNORECASE), model, cls))
        return cls

    return deco


def supported_models() -> list[str]:
    """Names of all registered models (for error messages and `bench doctor`)."""
    return [e.model for e in _REGISTRY]


def driver_for(idn: str, resource: str = "") -> DriverEntry:
    """The registered driver whose pattern matches this *IDN? reply, or an InstrumentError."""
    for entry in _REGISTRY:
        if entry.pattern.search(idn):
            return entry
    raise InstrumentError(
        f"unsupported instrument: *IDN? said {idn.strip()!r}; supported models: {', '.join(supported_models()) or 'none'}",
        resource=resource,
    )
