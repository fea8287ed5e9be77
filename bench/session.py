"""A bench session: start the reference bench when the bench file asks, resolve endpoints, build the DUT.

Used by the pytest plugin, ``bench demo`` and the benchmarks alike, so all three drive the DUT the
same way. The reference bench runs as a child process (``bench reference``); its ready line supplies
every endpoint marked ``auto`` in the bench file.
"""

from __future__ import annotations

import collections
import json
import os
import select
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench.config import AUTO, LAB, BenchConfig, PowerSpec, ReferenceSpec
from bench.errors import BenchError
from bench.links.loop import LoopThread


class ReferenceProcess:
    """A ``bench reference`` child process and its ready record."""

    def __init__(self, spec: ReferenceSpec, log_path: Path, timeout_s: float = 30.0) -> None:
        args = [sys.executable, "-m", "bench.cli", "reference", "--board", spec.board, "--sku", spec.sku,
                "--profile", spec.profile,
                "--battery-notify-interval-s", str(spec.battery_notify_interval_s),
                "--pairing", spec.pairing, "--passkey", str(spec.passkey),
                "--privileged-security", spec.privileged_security]
        link = spec.link
        value: object
        for flag, value in (("--interval-ms", link.interval_ms), ("--phy", link.phy),
                            ("--data-length", link.data_length), ("--per", link.per),
                            ("--jitter-ms", link.jitter_ms), ("--supervision-timeout-ms", link.supervision_timeout_ms),
                            ("--seed", spec.seed)):
            if value is not None:
                args += [flag, str(value)]
        for bug in spec.bugs:
            args += ["--bug", bug]
        for key, value in spec.settings.items():
            args += ["--set", f"{key}={value}"]
        args += spec.extra_args
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._stderr = open(log_path, "ab")
        self.args = args
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr)
        self._stalls: collections.deque[tuple[float, float]] = collections.deque(maxlen=4096)
        self.ready = self._read_ready(timeout_s, log_path)
        self.last_alive_s = time.monotonic()
        threading.Thread(target=self._drain, name="reference-bench-stdout", daemon=True).start()

    def _read_ready(self, timeout_s: float, log_path: Path) -> dict[str, Any]:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"reference bench exited with {self.proc.returncode} before it was ready; "
                                 f"see {log_path}")
            r, _, _ = select.select([self.proc.stdout], [], [], 0.1)
            if r:
                line = self.proc.stdout.readline()
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if record.get("event") == "ready":
                    return record
        self.stop()
        raise BenchError(f"reference bench not ready within {timeout_s:g} s; see {log_path}")

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    @property
    def stopped(self) -> bool:
        """Frozen by a signal (SIGSTOP, a debugger): alive but not running."""
        try:
            status = Path(f"/proc/{self.proc.pid}/status").read_text()
        except OSError:
            return False
        return "\nState:\tT" in status or "\nState:\tt" in status

    def stalls(self) -> list[tuple[float, float]]:
        """The event-loop stalls the bench reported (recent ones): (CLOCK_MONOTONIC, lateness s)."""
        return list(self._stalls)

    def silent_for_s(self) -> float:
        """How long since the bench last said it was alive (its loop runs a heartbeat every 0.25 s)."""
        return time.monotonic() - self.last_alive_s

    def _drain(self) -> None:
        """After the ready line, the bench's stdout carries stall reports and heartbeats: read them all,
        always (a full pipe would block the bench)."""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                record = json.loads(line)
            except (json.JSONDecodeError, ValueError):
                continue
            if record.get("event") == "stall":
                self._stalls.append((float(record["t_s"]), float(record["late_s"])))
            elif record.get("event") == "alive":
                self.last_alive_s = time.monotonic()

    def kill(self) -> None:
        """Kill -9, as a crashing bench host would die (used by fault tests)."""
        self.proc.kill()
        self.proc.wait(5)

    def stop(self, timeout_s: float = 5.0) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout_s)
        self._stderr.close()


class BenchSession:
    """Everything one test session holds: config, reference process, loop thread, DUT."""

    def __init__(self, config: BenchConfig, out_dir: str | Path | None = None) -> None:
        self.config = config
        self.out_dir = Path(out_dir or config.out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.reference: ReferenceProcess | None = None
        self.lab: Any = None  # bench.lab.place.LabPlace when the bench file has a lab: section
        self.loop: LoopThread | None = None
        self._dut: Any = None
        self.power_rig: Any = None   # bench.power.capture.PowerRig, opened by whoever needs it first

    def start(self) -> "BenchSession":
        if self.config.lab is not None:
            from bench.lab.place import LabPlace

            lab = self.config.lab
            self.lab = LabPlace(lab.coordinator, lab.place, lab.tags, lab.reserve_timeout_s, lab.ready_timeout_s).acquire()
        if self.config.reference is not None:
            spec = self.config.reference
            if "power.supply" not in spec.settings:  # wire the simulated supply the bench file powers the DUT with
                spec = spec.model_copy(update={"settings": {**spec.settings, "power.supply": supply_of(self.config.power)}})
            self.reference = ReferenceProcess(spec, self.out_dir / "reference-bench.log")
        self.loop = LoopThread()
        from bench.stalls import StallMonitor

        self.stall_monitor = StallMonitor()  # the harness's own loop: starved by a busy host too
        self.loop.loop.call_soon_threadsafe(self.stall_monitor.start)
        return self

    def endpoint(self, value: str | None, key: str) -> str | None:
        """Resolve an ``auto`` endpoint from the reference bench's ready line, a ``lab`` one from the place."""
        if value == LAB and self.lab is not None:
            return str(self.lab.endpoint(key))
        if value != AUTO:
            return value
        assert self.reference is not None
        if key not in self.reference.ready:
            raise BenchError(f"the reference bench's ready line has no {key!r} endpoint")
        return str(self.reference.ready[key])

    @property
    def dut(self):  # noqa: ANN201 - bench.dut.glasses.Dut, imported lazily
        if self._dut is None:
            from bench.dut.glasses import Dut

            self._dut = Dut.from_config(self)
        return self._dut

    def close(self) -> None:
        if self.power_rig is not None:
            self.power_rig.close()
            self.power_rig = None
        if self._dut is not None:
            self._dut.close()
            self._dut = None
        if self.loop is not None:
            from bench.links.bumble_backend import close_hosts

            try:
                self.loop.run(close_hosts(), 5, "closing Bumble hosts")
            except Exception:  # noqa: BLE001 - best effort on the way out
                pass
            self.loop.close()
            self.loop = None
        if self.reference is not None:
            self.reference.stop()
            self.reference = None
        if self.lab is not None:
            self.lab.release()
            self.lab = None

    def __enter__(self) -> "BenchSession":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def supply_of(power: PowerSpec | None) -> str:
    """Which bench instrument powers the DUT: a PPK2 in source mode, a SCPI supply, or none of them."""
    if power is None or (power.kind == "ppk2" and power.mode != "source"):
        return "none"
    return "ppk2" if power.kind == "ppk2" else "scpi"


def environ_flag(name: str) -> bool:
    return os.environ.get(name, "").lower() in ("1", "true", "yes")
