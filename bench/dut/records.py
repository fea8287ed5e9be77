"""A bounded store of console records that keeps absolute positions (marks) valid.

A console that logs for hours would otherwise keep every line in memory. ``RecordRing`` holds the
newest ``maxlen`` records (the whole output stays in the link's ``console.log``) and is indexed by
absolute position: ``len()`` counts every record ever appended, ``ring[k]`` and ``ring[a:b]`` use
those positions, so a ``mark()`` taken earlier still means the same record. Asking for a record
that fell out of the ring raises :class:`RecordsLost`, never a silently shorter answer.
"""

from __future__ import annotations

from collections import deque
from itertools import islice
from typing import Generic, Iterator, TypeVar, overload

from bench.errors import BenchError

T = TypeVar("T")
MAX_RECORDS = 50_000   # ~20 MB of parsed lines; at 10 lines/s about 80 minutes back


class RecordsLost(BenchError, LookupError):
    """A mark older than the ring: those records are only in console.log now."""


class RecordRing(Generic[T]):
    """The newest ``maxlen`` records, addressed by absolute position (see module docstring)."""

    def __init__(self, maxlen: int = MAX_RECORDS) -> None:
        if maxlen < 1:
            raise ValueError(f"maxlen must be ≥ 1, got {maxlen}")
        self.maxlen = maxlen
        self._buf: deque[T] = deque(maxlen=maxlen)
        self._total = 0

    @property
    def first(self) -> int:
        """Absolute position of the oldest record still held."""
        return self._total - len(self._buf)

    def append(self, record: T) -> None:
        self._buf.append(record)
        self._total += 1

    def __len__(self) -> int:
        return self._total

    def __iter__(self) -> Iterator[T]:
        """The records still held, oldest first."""
        return iter(list(self._buf))

    def _lost(self, k: int) -> RecordsLost:
        return RecordsLost(f"console record {k} fell out of the in-memory ring (it keeps the newest {self.maxlen}, "
                           f"from {self.first} on); the full output is in console.log")

    @overload
    def __getitem__(self, key: int) -> T: ...

    @overload
    def __getitem__(self, key: slice) -> list[T]: ...

    def __getitem__(self, key: int | slice) -> T | list[T]:
        if isinstance(key, slice):
            start, stop, step = key.indices(self._total)
            if step != 1:
                raise IndexError("RecordRing slices take no step")
            if start < self.first and start < stop:
                raise self._lost(start)
            return list(islice(self._buf, start - self.first, max(stop - self.first, 0)))
        k = key + self._total if key < 0 else key
        if not 0 <= k < self._total:
            raise IndexError(f"console record {key} of {self._total}")
        if k < self.first:
            raise self._lost(k)
        return self._buf[k - self.first]
