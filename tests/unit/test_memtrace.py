"""bench/memtrace.py: allocation-growth reports that name the growing site, the allocator's figures."""

from __future__ import annotations

import tracemalloc

import pytest

from bench import memtrace

_kept: list[bytes] = []


def _grow(n: int) -> None:
    _kept.extend(bytes(1000) + bytes([i % 256]) for i in range(n))  # the site the report must name


def _top_entry(section: str) -> tuple[float, list[str]]:
    """(size diff KiB, traceback lines) of a report section's first entry."""
    lines = section.splitlines()[1:]
    frames = []
    for line in lines[1:]:
        if "KiB" in line:
            break
        frames.append(line)
    return float(lines[0].split()[0]), frames


def test_dump_names_the_growing_site(tmp_path):
    trace = memtrace.MemTrace(tmp_path / "t.txt", frames=4)
    try:
        _grow(2000)
        first = trace.dump("a")
        _grow(2000)
        second = trace.dump("b")
    finally:
        trace.stop()
        _kept.clear()
    assert not tracemalloc.is_tracing()  # it started tracing, so it stopped it
    for text in (first, second):
        size_kib, frames = _top_entry(text.split("since previous dump")[1])
        assert size_kib > 1500, text  # ~2 MB of new bytes objects, at the top
        assert any("test_memtrace.py" in f for f in frames), text
    log = (tmp_path / "t.txt").read_text()
    assert log.count("\n## ") == 3  # a, b and exit, appended to one file


def test_allocator_and_kernel_figures():
    st = memtrace.status_mb()
    assert st["VmRSS"] >= st["RssAnon"] > 0
    mi = memtrace.malloc_stats()
    if mi is None:
        pytest.skip("no glibc mallinfo2 here")
    assert mi["arena_mb"] >= mi["in_use_mb"] > 0 and mi["free_mb"] >= 0


def test_environment(monkeypatch, tmp_path):
    monkeypatch.delenv(memtrace.ENV_FILE, raising=False)
    assert memtrace.from_environment() is None
    monkeypatch.setenv(memtrace.ENV_FILE, str(tmp_path / "x.txt"))
    monkeypatch.setenv(memtrace.ENV_EVERY, "soon")
    with pytest.raises(ValueError, match=memtrace.ENV_EVERY):
        memtrace.from_environment()
    monkeypatch.setenv(memtrace.ENV_EVERY, "0")
    monkeypatch.setenv(memtrace.ENV_FRAMES, "0")  # the allocator's figures only, no tracemalloc
    trace = memtrace.from_environment()
    assert trace is not None and not tracemalloc.is_tracing()
    text = trace.dump()
    trace.stop()
    assert "kernel: VmRSS" in text and "top 15" not in text

