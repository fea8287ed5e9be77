"""Reserve, acquire and release a labgrid place, and read its endpoints (``labgrid-client``, the CLI
labgrid documents, so a lab's scripts and glassbench do the same thing).

A reservation waits in the coordinator's queue (by tags, or ``name=<place>``); acquiring the place it
was allocated fails fast. A guard process (bench/lab/guard.py) holds a pipe from the harness: when the
harness ends without releasing (crash, kill -9) the pipe closes and the guard releases the place and
cancels the reservation, so a dead CI job never leaves a kit acquired.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from typing import Any

import yaml

from bench.errors import BenchError

DEFAULT_COORDINATOR = "127.0.0.1:20408"
TOKEN_LINE = re.compile(r"^export LG_TOKEN=(\S+)$")


class LabError(BenchError):
    TAG = "LAB ERROR"


def client_command() -> list[str]:
    return [sys.executable, "-m", "labgrid.remote.client"]


def run_client(coordinator: str, *args: str, timeout_s: float = 30.0) -> str:
    """One ``labgrid-client`` call; its output, or LabError with what it said."""
    cmd = [*client_command(), "-x", coordinator, *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise LabError(f"labgrid-client {' '.join(args)}: no answer from coordinator {coordinator} "
                       f"within {timeout_s:g} s") from None
    if proc.returncode != 0:
        said = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
        raise LabError(f"labgrid-client {' '.join(args)} (coordinator {coordinator}): {said[-1] if said else proc.returncode}")
    return proc.stdout


class LabPlace:
    """One acquired place: ``acquire()``, ``endpoint(key)``, ``release()``."""

    def __init__(self, coordinator: str | None = None, place: str | None = None, tags: dict[str, str] | None = None,
                 reserve_timeout_s: float = 600.0, ready_timeout_s: float = 30.0) -> None:
        self.coordinator = coordinator or os.environ.get("LG_COORDINATOR") or DEFAULT_COORDINATOR
        self.filters = [f"name={place}"] if place else [f"{k}={v}" for k, v in sorted((tags or {}).items())]
        if not self.filters:
            raise LabError("a lab place needs a name (--lg-place, lab.place) or tags (lab.tags: board, sku)")
        self.reserve_timeout_s, self.ready_timeout_s = reserve_timeout_s, ready_timeout_s
        self.token: str | None = None
        self.name: str | None = None
        self.resources: dict[str, tuple[str, dict[str, Any]]] = {}
        self._guard: subprocess.Popen[bytes] | None = None
        self.reserve_s = self.acquire_s = 0.0

    def acquire(self) -> "LabPlace":
        t0 = time.monotonic()
        self.token = self._reserve()
        self._start_guard()
        t1 = time.monotonic()
        try:
            out = run_client(self.coordinator, "-p", f"+{self.token}", "acquire")
            self.name = out.strip().rsplit(" ", 1)[-1]
            self.resources = self._wait_resources()
        except BaseException:
            try:
                self.release()
            except LabError:
                pass  # the guard was not told "done": it releases on its own
            raise
        self.reserve_s, self.acquire_s = t1 - t0, time.monotonic() - t1
        return self

    def _reserve(self) -> str:
        cmd = [*client_command(), "-x", self.coordinator, "reserve", "--wait", "--shell", *self.filters]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            out, err = proc.communicate(timeout=self.reserve_timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            token = next((m.group(1) for m in map(TOKEN_LINE.match, out.splitlines()) if m), None)
            if token:
                self._cancel(token)
            raise LabError(f"no place for {' '.join(self.filters)} within {self.reserve_timeout_s:g} s "
                           f"(coordinator {self.coordinator}); see labgrid-client reservations") from None
        token = next((m.group(1) for m in map(TOKEN_LINE.match, out.splitlines()) if m), None)
        if proc.returncode != 0 or token is None:
            said = (err.strip() or out.strip()).splitlines()
            raise LabError(f"reserve {' '.join(self.filters)} (coordinator {self.coordinator}): "
                           f"{said[-1] if said else 'no token'}")
        return token

    def _wait_resources(self) -> dict[str, tuple[str, dict[str, Any]]]:
        """The place's resources once the exporter has started them (ser2net gets its port on acquire)."""
        deadline = time.monotonic() + self.ready_timeout_s
        while True:
            env = yaml.safe_load(run_client(self.coordinator, "-p", f"+{self.token}", "env")) or {}
            found: dict[str, tuple[str, dict[str, Any]]] = {}
            for target in (env.get("targets") or {}).values():
                for entry in target.get("resources", []):
                    ((cls, params),) = entry.items()
                    found[params.get("name", cls)] = (cls, params)
            pending = [n for n, (cls, p) in found.items() if cls == "NetworkSerialPort" and not p.get("port")]
            if not pending:
                return found
            if time.monotonic() >= deadline:
                raise LabError(f"place {self.name}: {', '.join(pending)} not served by the exporter within "
                               f"{self.ready_timeout_s:g} s (is ser2net installed on the bench PC?)")
            time.sleep(0.2)

    def endpoint(self, key: str) -> str:
        """A bench-file endpoint marked ``lab``: console → rfc2217://host:port, scpi → VISA socket, ..."""
        from bench.lab.endpoints import endpoint_of

        return endpoint_of(self, key)

    def _start_guard(self) -> None:
        assert self.token is not None
        self._guard = subprocess.Popen([sys.executable, "-m", "bench.lab.guard", self.coordinator, self.token],
                                       stdin=subprocess.PIPE, start_new_session=True)

    def _cancel(self, token: str) -> None:
        try:
            run_client(self.coordinator, "cancel-reservation", token)
        except LabError:
            pass

    def release(self) -> None:
        """Release the place and cancel the reservation. The guard is told it has nothing to do, unless the
        release failed: then it tries again on its own."""
        if self.token is None:
            return
        released = False
        try:
            if self.name is not None:
                run_client(self.coordinator, "-p", self.name, "release")
            released = True
        finally:
            self._cancel(self.token)
            self.token = self.name = None
            if self._guard is not None:
                assert self._guard.stdin is not None
                try:
                    self._guard.stdin.write(b"done\n" if released else b"")
                    self._guard.stdin.close()
                except BrokenPipeError:
                    pass
                try:
                    self._guard.wait(70)  # two labgrid-client calls of at most 30 s each
                except subprocess.TimeoutExpired:
                    self._guard.kill()
                self._guard = None
