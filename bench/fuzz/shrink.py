"""Delta debugging (Zeller and Hildebrandt's ddmin) over the steps of a failing example.

Hypothesis shrinks the choices an example was drawn from; a device's failure often needs only one
or two of the steps that survive that, so the runner replays subsequences on a fresh device until no
single step can be removed (the result is 1-minimal). Every replay is a real run on the DUT, so the
search is bounded by a deadline: when it runs out, the smallest failing sequence found so far is kept.
"""

from __future__ import annotations

import time
from typing import Callable, Sequence, TypeVar

T = TypeVar("T")


def ddmin(steps: Sequence[T], fails: Callable[[list[T]], bool], deadline_s: float = float("inf")) -> list[T]:
    """The smallest subsequence of ``steps`` found for which ``fails`` holds (``steps`` itself must fail).

    ``fails`` is called only on proper subsequences, in order; ``deadline_s`` is CLOCK_MONOTONIC."""
    current = list(steps)
    n = 2
    while len(current) >= 2 and time.monotonic() < deadline_s:
        size = len(current) // n
        chunks = [current[i * size:(i + 1) * size] if i < n - 1 else current[i * size:] for i in range(n)]
        for chunk in chunks:  # one chunk alone
            if time.monotonic() >= deadline_s:
                return current
            if fails(chunk):
                current, n = chunk, 2
                break
        else:
            for i in range(len(chunks)):  # everything but one chunk
                if time.monotonic() >= deadline_s:
                    return current
                rest = [x for j, c in enumerate(chunks) if j != i for x in c]
                if n > 2 and fails(rest):
                    current, n = rest, max(n - 1, 2)
                    break
            else:
                if n >= len(current):
                    break  # every single step is needed
                n = min(2 * n, len(current))
    return current
