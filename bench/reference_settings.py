"""The reference bench's feature settings (``--set key=value``, a bench file's ``reference.settings``), shared by the
bench-file schema (bench/config.py) and the reference bench (no harness module imports bench.reference for them):
every key the features read, its type and range, in one table, so a typo or a bad value is refused
with one line before anything starts, instead of being ignored.

A feature adds its own with ``register("name", parse, "what it does")``; ``parse`` turns the text into
the value or raises ValueError with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping


@dataclass(frozen=True)
class Setting:
    name: str
    parse: Callable[[str], Any]
    help: str


SETTINGS: dict[str, Setting] = {}


def register(name: str, parse: Callable[[str], Any], help: str) -> None:
    SETTINGS[name] = Setting(name, parse, help)


def number(kind: type, low: float | None = None, high: float | None = None, low_open: bool = False) -> Callable[[str], Any]:
    """A parser for an int or float in [low, high] (``low_open``: low excluded)."""
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise ValueError(f"expected {'an integer' if kind is int else 'a number'}, got {text!r}") from None
        if low is not None and (value <= low if low_open else value < low):
            raise ValueError(f"must be {'>' if low_open else '>='} {low:g}, got {text}")
        if high is not None and value > high:
            raise ValueError(f"must be <= {high:g}, got {text}")
        return value
    return parse


def one_of(*choices: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {text!r}")
        return text
    return parse


def check(settings: Mapping[str, Any]) -> list[str]:
    """One message per unknown key or bad value (empty: all good)."""
    problems = []
    for key, value in settings.items():
        setting = SETTINGS.get(key)
        if setting is None:
            problems.append(f"{key}: unknown setting (known: {', '.join(sorted(SETTINGS))})")
            continue
        try:
            setting.parse(str(value))
        except ValueError as exc:
            problems.append(f"{key}: {exc}")
    return problems


register("photo.size_bytes", number(int, 1, 16 * 1024 * 1024), "size of a captured photo (GLP)")
register("audio.noise_rms", number(float, 0, 1.0), "noise added to the rig's capture, RMS of full scale")
register("audio.first_frame_index", number(int, 0, 0xFFFF), "frame counter of the first uplink frame (counter wrap tests)")
register("power.photo_capture_s", number(float, 0, 60, low_open=True), "camera-capture power state duration")
register("power.supply", one_of("ppk2", "scpi", "none"), "which meter powers the reference DUT (power-cycle recovery)")
register("power.scpi_model", one_of("n6705c", "k2281s", "dp832"), "which SCPI instrument the simulated analyzer is")
register("omi.codec", one_of("opus"), "Omi audio codec (codec characteristic; 21 = Opus 16 kHz 20 ms)")
register("omi.battery_interval_s", number(float, 0, 3600, low_open=True), "Omi battery notification period")
register("stock.drain_s_per_pct", number(float, 0, 86400, low_open=True), "stock device: seconds per 1 % of battery")
