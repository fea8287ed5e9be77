"""YAML loading that remembers where every key came from, so config errors can name file:line.

`load_yaml(path)` returns the plain Python data (dicts, lists, scalars, as `yaml.safe_load` would) and a
`Marks` table from a key path such as ``("limits", "connect_time_s", "high")`` to its 1-based line.
Duplicate mapping keys are an error here (plain PyYAML silently keeps the last one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

PathKey = tuple[Any, ...]


class YamlError(ValueError):
    """A YAML file that cannot be read as data; the message names file:line:column."""


@dataclass
class Marks:
    """Line numbers (1-based) of every mapping key and sequence item, by key path."""

    source: str
    lines: dict[PathKey, int] = field(default_factory=dict)

    def line_of(self, path: Iterable[Any]) -> int:
        """Line of the deepest known prefix of `path` (1 if nothing matches, e.g. an empty file)."""
        parts = tuple(path)
        for n in range(len(parts), -1, -1):
            line = self.lines.get(parts[:n])
            if line is not None:
                return line
        return 1

    def where(self, path: Iterable[Any]) -> str:
        """`file:line` for a key path."""
        return f"{self.source}:{self.line_of(path)}"


def load_yaml_text(text: str, source: str) -> tuple[Any, Marks]:
    """Parse YAML text; `source` is the name used in error messages."""
    marks = Marks(source)
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = None if node is None else _build(loader, node, (), marks)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise YamlError(f"{where}: invalid YAML: {exc.problem or exc.context}") from None
    finally:
        loader.dispose()
    marks.lines.setdefault((), 1)
    return data, marks


def load_yaml(path: str | Path) -> tuple[Any, Marks]:
    """Read and parse a YAML file (see `load_yaml_text`)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise YamlError(f"{p}: cannot read: {exc.strerror or exc}") from None
    return load_yaml_text(text, str(p))


def _build(loader: yaml.SafeLoader, node: yaml.Node, path: PathKey, marks: Marks) -> Any:
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolves `<<: *anchor` merges
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in out:
                first = marks.lines.get(path + (key,), "?")
                raise YamlError(f"{marks.source}:{line}: duplicate key {key!r} (first defined at line {first})")
            marks.lines[path + (key,)] = line
            out[key] = _build(loader, value_node, path + (key,), marks)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            marks.lines[path + (i,)] = item.start_mark.line + 1
            items.append(_build(loader, item, path + (i,), marks))
        return items
    return loader.construct_object(node, deep=True)
