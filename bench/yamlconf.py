"""YAML files validated by pydantic, with errors that name the file, the line and the field.

Bench files and test plans are edited by hand; "validation error" is not an answer. Every mapping
key's line is recorded while loading, and each pydantic error is reported at the line of the
deepest key it names: ``fixtures/benches/lab.yaml:12: dut.console.baudrate: Input should be ...``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import pydantic
import yaml

from bench.errors import ConfigError

M = TypeVar("M", bound=pydantic.BaseModel)
Lines = dict[tuple[Any, ...], int]


def read_text(path: str | Path) -> str:
    """A hand-edited file as UTF-8 text; unreadable or not UTF-8 → ConfigError naming file, line and byte."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from e
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text (byte 0x{raw[e.start]:02x} at offset {e.start}); "
                          f"save the file as UTF-8") from None


def compose(path: str | Path) -> yaml.Node | None:
    try:
        return yaml.compose(read_text(path), Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ConfigError(f"{where}: not valid YAML: {getattr(e, 'problem', e)}") from None


def load_yaml(path: str | Path, refuse_duplicates: bool = True) -> tuple[Any, Lines]:
    """Parse ``path``; returns the data and a map from key path (tuple) to 1-based line. Two equal keys
    in one mapping are refused (PyYAML would keep the last silently)."""
    node = compose(path)
    lines: Lines = {}
    if node is not None:
        _record(node, (), lines)
        duplicates = duplicate_keys(node, path) if refuse_duplicates else []
        if duplicates:
            raise ConfigError("; ".join(f"{where}: {field}: {msg}" for where, field, msg in duplicates))
    data = yaml.safe_load(read_text(path))
    return data, lines


def duplicate_keys(node: yaml.Node | None, path: str | Path) -> list[tuple[str, str, str]]:
    """(file:line, field, message) for every key that repeats one before it in the same mapping."""
    found: list[tuple[str, str, str]] = []

    def walk(node: yaml.Node, prefix: tuple[Any, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key, value in node.value:
                line = key.start_mark.line + 1
                if key.value in seen:
                    found.append((f"{path}:{line}", ".".join(map(str, prefix + (key.value,))),
                                  f"duplicate key (first defined at line {seen[key.value]})"))
                seen.setdefault(key.value, line)
                walk(value, prefix + (key.value,))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, prefix + (i,))

    if node is not None:
        walk(node, ())
    return found


def _record(node: yaml.Node, prefix: tuple[Any, ...], lines: Lines) -> None:
    lines.setdefault(prefix, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            path = prefix + (key.value,)
            lines[path] = key.start_mark.line + 1
            _record(value, path, lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[prefix + (i,)] = item.start_mark.line + 1
            _record(item, prefix + (i,), lines)


def line_of(lines: Lines, loc: tuple[Any, ...]) -> int:
    """Line of the deepest existing prefix of ``loc`` (a missing field points at its parent)."""
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return 1


def validate(model: type[M], data: Any, lines: Lines, path: str | Path) -> M:
    """Validate ``data`` as ``model``; the first error becomes a ConfigError naming file:line:field."""
    try:
        return model.model_validate(data if data is not None else {})
    except pydantic.ValidationError as e:
        messages = []
        for err in e.errors():
            loc = _data_path(data, tuple(x for x in err["loc"] if not (isinstance(x, str) and x.startswith("function-"))))
            field = ".".join(str(x) for x in loc) or "(top level)"
            messages.append(f"{path}:{line_of(lines, loc)}: {field}: {err['msg'].removeprefix('Value error, ')}")
        raise ConfigError("; ".join(messages)) from None  # one line, every problem


def _data_path(data: Any, loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """``loc`` without the steps that are not in the data (a tagged union's tag: ``flash.nrfutil.x``
    → ``flash.x``), so the field and its line are what the user wrote."""
    out: list[Any] = []
    node = data
    for i, step in enumerate(loc):
        if isinstance(node, dict) and step not in node and i + 1 < len(loc) and step in node.values():
            continue
        out.append(step)
        node = node.get(step) if isinstance(node, dict) else (node[step] if isinstance(node, list) and isinstance(step, int)
                                                                and step < len(node) else None)
    return tuple(out)


def load_model(model: type[M], path: str | Path) -> M:
    data, lines = load_yaml(path)
    return validate(model, data, lines, path)
