"""The fuzz corpus: hypothesis' example database, committed in the project (its corpus folder, by default
fixtures/corpus/; bench.project), never inside the installed package.

Hypothesis keys its database by a digest of the test's source, so any edit to the state machine would
orphan a committed corpus, and replaying on a clean device would delete the entries that no longer
fail. CorpusDatabase therefore reads the committed examples under one stable key, keeps everything
hypothesis writes during a run in memory, and adds to the corpus only what ``commit()`` is asked to
save: the minimal examples of new failures.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from hypothesis.database import DirectoryBasedExampleDatabase, ExampleDatabase, InMemoryExampleDatabase

from bench import project

CORPUS_DIR = project.ProjectPath("corpus")  # the current project's corpus folder, resolved when used
CORPUS_KEY = b"glp-session-v1"
_SUFFIXES = (b".secondary", b".pareto")


class CorpusDatabase(ExampleDatabase):
    """Committed corpus (read) + this run's examples (in memory); see the module docstring."""

    def __init__(self, path: str | os.PathLike[str] = CORPUS_DIR, key: bytes = CORPUS_KEY, read_corpus: bool = True) -> None:
        super().__init__()
        self.path = Path(path)
        self.key = key
        self.read_corpus = read_corpus
        self.corpus = DirectoryBasedExampleDatabase(self.path)
        self.session = InMemoryExampleDatabase()
        self.primary_keys: set[bytes] = set()

    def __repr__(self) -> str:
        return f"CorpusDatabase({str(self.path)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CorpusDatabase) and other.path == self.path and other.key == self.key

    @staticmethod
    def _primary(key: bytes) -> bool:
        return not key.endswith(_SUFFIXES)

    def committed(self) -> list[bytes]:
        return list(self.corpus.fetch(self.key))

    def fetch(self, key: bytes) -> Iterable[bytes]:
        seen: set[bytes] = set()
        if self._primary(key) and self.read_corpus:
            for value in self.corpus.fetch(self.key):
                seen.add(value)
                yield value
        for value in self.session.fetch(key):
            if value not in seen:
                yield value

    def save(self, key: bytes, value: bytes) -> None:
        if self._primary(key):
            self.primary_keys.add(key)
        self.session.save(key, value)

    def delete(self, key: bytes, value: bytes) -> None:
        self.session.delete(key, value)

    def move(self, src: bytes, dest: bytes, value: bytes) -> None:
        self.session.delete(src, value)
        self.session.save(dest, value)

    def _start_listening(self) -> None:
        pass

    def _stop_listening(self) -> None:
        pass

    def failures(self) -> list[bytes]:
        """Failing examples hypothesis kept (after shrinking: the minimal one) that the corpus lacks."""
        have = set(self.committed())
        out: list[bytes] = []
        for key in self.primary_keys:
            out += [v for v in self.session.fetch(key) if v not in have and v not in out]
        return out

    def commit(self, values: Iterable[bytes] | None = None) -> int:
        """Save examples (default: this run's new failures) into the committed corpus; returns how many."""
        values = list(self.failures() if values is None else values)
        for value in values:
            self.corpus.save(self.key, value)
        return len(values)
