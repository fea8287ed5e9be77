"""A labgrid coordinator and exporter on 127.0.0.1, for tests and benchmarks on one machine.

A lab runs these as services (docs/lab.md); here they are child processes with every wait bounded:
the coordinator listens on 127.0.0.1 (its default is every interface), the exporter publishes
127.0.0.1 and its ser2net listens there too (exporter.loopback_ser2net).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from bench.lab.exporter import loopback_ser2net
from bench.lab.place import LabError, run_client


def missing() -> str | None:
    """Why labgrid cannot run here (None: it can)."""
    try:
        import labgrid  # noqa: F401
    except ImportError:
        return "labgrid is not installed (pip install labgrid; the test extra has it)"
    if not (shutil.which("ser2net") or os.path.exists("/usr/sbin/ser2net")):
        return "ser2net is not installed (Debian package ser2net; ci/install-system-deps.sh)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(what: str, ok: Any, proc: subprocess.Popen[bytes], log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not ok():
        if proc.poll() is not None:
            raise LabError(f"{what} exited with {proc.returncode}; see {log}")
        if time.monotonic() > deadline:
            raise LabError(f"{what} not up within {timeout_s:g} s; see {log}")
        time.sleep(0.1)


class LocalLab:
    """Coordinator + one exporter (+ places) in ``folder``; ``close()`` stops them."""

    def __init__(self, folder: Path, timeout_s: float = 30.0) -> None:
        self.folder, self.timeout_s = folder, timeout_s
        folder.mkdir(parents=True, exist_ok=True)
        self.address = f"127.0.0.1:{free_port()}"
        self.procs: list[subprocess.Popen[bytes]] = []
        bindir = Path(sys.executable).parent
        log = folder / "coordinator.log"
        self.coordinator = self._spawn([str(bindir / "labgrid-coordinator"), "-l", self.address], log, cwd=folder)
        host, port = self.address.split(":")
        _wait("labgrid-coordinator", lambda: _connects(host, int(port)), self.coordinator, log, timeout_s)

    def _spawn(self, cmd: list[str], log: Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        with open(log, "ab") as f:
            proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=cwd, env=env)
        self.procs.append(proc)
        return proc

    def export(self, name: str, config: dict[str, Any]) -> subprocess.Popen[bytes]:
        """Start an exporter ``name`` serving ``config`` (exporter YAML as a dict); wait until its groups show."""
        path = self.folder / f"exporter-{name}.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        shim_dir = self.folder / "ser2net-loopback"
        loopback_ser2net(shim_dir)
        env = {**os.environ, "PATH": f"{shim_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
        log = self.folder / f"exporter-{name}.log"
        bindir = Path(sys.executable).parent
        proc = self._spawn([str(bindir / "labgrid-exporter"), "-c", self.address, "-n", name, "--hostname", "127.0.0.1",
                            str(path)], log, cwd=self.folder, env=env)
        groups = list(config)
        _wait(f"labgrid-exporter {name}", lambda: all(f"{name}/{g}/" in self.client("resources") for g in groups),
              proc, log, self.timeout_s)
        return proc

    def add_place(self, place: str, exporter: str, group: str, tags: dict[str, str]) -> None:
        self.client("-p", place, "create")
        self.client("-p", place, "add-match", f"{exporter}/{group}/*/*")
        if tags:
            self.client("-p", place, "set-tags", *(f"{k}={v}" for k, v in tags.items()))

    def client(self, *args: str) -> str:
        return run_client(self.address, *args, timeout_s=self.timeout_s)

    def acquired_by(self, place: str) -> str | None:
        """Who holds ``place`` (host/user), or None."""
        for line in self.client("-p", place, "show").splitlines():
            key, _, value = line.strip().partition(":")
            if key == "acquired":
                value = value.strip()
                return None if value in ("", "None") else value
        return None

    def close(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
        self.procs.clear()

    def __enter__(self) -> "LocalLab":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _connects(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False
