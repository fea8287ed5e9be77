"""The simulated SCPI instrument models (one file each); importing this registers them by name."""

from bench.reference.scpi_models import dp832, k2281s, n6705c  # noqa: F401

__all__ = ["dp832", "k2281s", "n6705c"]
