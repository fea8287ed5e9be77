"""Delta debugging (Zeller and Hildebrandt's ddmin) over the steps of a failing example.

Hypothesis shrinks the choices an example was drawn from; a device's failure often needs only one
or two of the steps that survive that, so the runner replays subsequences on a fresh device until no
single step can be removed (the result is 1-minimal). Every replay is a real run on the DUT, so the
search is bounded by a deadline: when it runs out, the smallest failing sequence found so far is kept.

1-minimal is not minimal: a bug that needs a session and five stream starts ends as six steps (a Hello,
five starts) when a step that opens its own session and starts a stream would have done in five. A model
that can join two steps into one it could have sent (``merge``) gets a second pass, merge_adjacent:
neighbours are joined while the example still fails, so what is left are the steps the failure needs
apart (a step is a burst of writes and then the liveness probes).
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


def merge_adjacent(steps: Sequence[T], merge: Callable[[T, T], T | None], fails: Callable[[list[T]], bool],
                   deadline_s: float = float("inf")) -> list[T]:
    """``steps`` with neighbours joined by ``merge`` (None: they cannot be) wherever the result still fails."""
    current, i = list(steps), 0
    while i < len(current) - 1 and time.monotonic() < deadline_s:
        joined = merge(current[i], current[i + 1])
        candidate = None if joined is None else [*current[:i], joined, *current[i + 2:]]
        if candidate is not None and fails(candidate):
            current = candidate  # try the joined step with its next neighbour too
        else:
            i += 1
    return current
