"""``bench flash --bench FILE IMAGE`` and ``bench reset --bench FILE``: the programmer from the bench file.

Both print one line (what was done, how long it took) and exit 0, or print the one-line error (a
missing tool, a timeout, the tool's own error) and exit 1. A reference bench has no programmer: its
DUT is simulated (the recovery ladder power-cycles it through the simulated supply instead).
"""

from __future__ import annotations

import sys
from pathlib import Path

from bench.errors import BenchError


def _driver(bench: str):  # noqa: ANN202 - bench.flash.base.FlashDriver
    from bench.config import load_bench
    from bench.flash import FlashError, from_bench

    config = load_bench(bench)
    driver = from_bench(config)
    if driver is None:
        hint = " (a reference bench's DUT is simulated and cannot be flashed)" if config.reference is not None else ""
        raise FlashError(f"bench {config.name!r} has no dut.flash section{hint}; add one, e.g. "
                         "`flash: {driver: nrfutil, serial_number: '001050012345'}` under dut:")
    return driver


def flash_main(bench: str, image: str) -> int:
    try:
        result = _driver(bench).flash(Path(image))
    except BenchError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"flashed {image}: {result.summary()}")
    return 0


def reset_main(bench: str) -> int:
    try:
        result = _driver(bench).reset()
    except BenchError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"reset: {result.summary()}")
    return 0
