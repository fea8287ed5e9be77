"""``--lg-place``: the bench file's lab section pointed at one place by name."""

from __future__ import annotations

from bench.config import BenchConfig, LabSpec
from bench.errors import ConfigError


def with_place(config: BenchConfig, place: str) -> BenchConfig:
    if config.lab is None:
        raise ConfigError(f"--lg-place {place}: the bench file {config.name!r} has no 'lab:' section "
                          f"(its endpoints marked 'lab' come from the place; docs/lab.md)")
    lab = LabSpec.model_validate({**config.lab.model_dump(), "place": place, "tags": {}})
    return config.model_copy(update={"lab": lab})
