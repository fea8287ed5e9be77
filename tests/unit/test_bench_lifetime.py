"""The reference bench dies with its harness: kill -9 of the process that started it must not leave a
radio, a console and instruments running (nothing else would ever stop them)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PARENT = """
import sys
from pathlib import Path
from bench.config import load_bench
from bench.session import ReferenceProcess
ref = ReferenceProcess(load_bench("reference.yaml").reference, Path(sys.argv[1]))
print(ref.proc.pid, flush=True)
sys.stdin.read()  # until killed
"""


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in state or "\nState:\tX" in state


def test_reference_bench_exits_when_its_harness_is_killed(tmp_path):
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(tmp_path / "ref.log")], cwd=ROOT,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = parent.stdout.readline()
        assert line.strip().isdigit(), f"the harness did not start a reference bench: {line!r}"
        child = int(line)
        assert not _gone(child)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 15
        while not _gone(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        if not _gone(child):
            os.kill(child, signal.SIGKILL)
            raise AssertionError("the reference bench outlived its harness by 15 s")
    finally:
        if parent.poll() is None:
            parent.kill()
    assert "the harness is gone" in (tmp_path / "ref.log").read_text()
