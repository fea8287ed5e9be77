"""Optional parts of the reference bench, each one module here that registers itself.

A feature is ``async def start(bench) -> dict`` decorated with ``@feature(name)``; it receives the
ReferenceBench (``link``, ``glasses``, ``shell``, ``options``, ``profile``) once the glasses exist and
returns entries for the ready line (endpoints it serves). Every module in this package is imported,
so adding a feature is adding a file: nothing central changes.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any, Awaitable, Callable

Feature = Callable[[Any], Awaitable[dict[str, Any]]]
FEATURES: dict[str, Feature] = {}


def feature(name: str) -> Callable[[Feature], Feature]:
    def register(fn: Feature) -> Feature:
        FEATURES[name] = fn
        return fn
    return register


def load() -> dict[str, Feature]:
    """Import every feature module (once) and return the registry, in name order."""
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
    return dict(sorted(FEATURES.items()))
