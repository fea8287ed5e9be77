"""A DUT pool on one host: several DUTs, each used by one pytest worker at a time.

A pool is a YAML file with a ``duts:`` list (each entry names a bench file) or a folder of bench files.
A worker leases a DUT by taking an exclusive ``fcntl.flock`` on the DUT's lock file: the kernel drops
the lock when the worker dies, however it dies, so a replacement worker (xdist gives it a new ``gwN``)
simply takes the next free DUT. Lock files of reference DUTs (virtual, started by their holder) live in
the run's out folder; those of hardware DUTs in a host-wide folder, so two runs never share a kit.
The lock file holds who has it (worker, pid, since), for the "busy" message of a waiter.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from pydantic import Field

from bench.config import BenchConfig, Strict, find_bench, load_bench
from bench.errors import BenchError, ConfigError
from bench.yamlconf import line_of, load_yaml, validate

HOST_LOCK_DIR = Path(os.environ.get("GLASSBENCH_LOCK_DIR", "/tmp/glassbench-locks"))  # hardware DUTs of this host
POLL_S = 0.05
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class PoolEntry(Strict):
    id: str = Field(pattern=ID_RE.pattern, description="the DUT's name: lock file, out/duts/<id>/")
    bench: str = Field(description="its bench file (path relative to the pool file, or a name in benches/)")
    capabilities: list[str] = Field([], description="capabilities a test may select it by (on_dut(capability=...))")


class PoolFile(Strict):
    name: str
    description: str = ""
    lock_dir: Optional[str] = Field(None, description="where the lock files are (default: out/pool-locks for "
                                                      "reference DUTs, /tmp/glassbench-locks for hardware)")
    wait_s: float = Field(600.0, gt=0, description="how long a worker waits for a matching DUT to become free")
    duts: list[PoolEntry] = Field(min_length=1)


@dataclass(frozen=True)
class PoolDut:
    id: str
    config: BenchConfig
    capabilities: tuple[str, ...] = ()
    source: Path | None = None  # its bench file

    @property
    def board(self) -> str:
        return self.config.dut.board

    @property
    def sku(self) -> str:
        return self.config.dut.sku

    def describe(self) -> str:
        return f"{self.id} ({self.board}/{self.sku}, profile {self.config.dut.profile})"


@dataclass(frozen=True)
class Requirement:
    """What a test asks of its DUT (``@pytest.mark.on_dut(board=..., sku=..., profile=..., capability=...)``)."""

    board: str | None = None
    sku: str | None = None
    profile: str | None = None
    capabilities: tuple[str, ...] = ()
    id: str | None = None

    @classmethod
    def of(cls, node: Any, marker_name: str = "on_dut") -> "Requirement":
        """The requirement of a test item or function definition (all its ``marker_name`` markers together)."""
        fields: dict[str, Any] = {}
        caps: list[str] = []
        for marker in reversed(list(node.iter_markers(marker_name))):  # the closest marker wins
            if marker.args:
                raise ConfigError(f"{node.nodeid}: {marker_name} takes keywords (board=, sku=, profile=, capability=, id=)")
            unknown = set(marker.kwargs) - {"board", "sku", "profile", "capability", "id"}
            if unknown:
                raise ConfigError(f"{node.nodeid}: {marker_name}: unknown keyword {', '.join(sorted(unknown))} "
                                  f"(known: board, sku, profile, capability, id)")
            cap = marker.kwargs.get("capability", ())
            caps += [cap] if isinstance(cap, str) else list(cap)
            fields.update({k: v for k, v in marker.kwargs.items() if k != "capability"})
        return cls(capabilities=tuple(sorted(set(caps))), **fields)

    @property
    def key(self) -> str:
        """Short id for test ids and messages: ``any`` or ``sku=audio,board=esp32s3``."""
        parts = [f"{k}={v}" for k, v in (("id", self.id), ("board", self.board), ("sku", self.sku),
                                         ("profile", self.profile)) if v is not None]
        parts += [f"cap={c}" for c in self.capabilities]
        return ",".join(parts) or "any"

    def mismatch(self, dut: PoolDut) -> str | None:
        """Why ``dut`` does not fit (None: it does)."""
        for name, want, have in (("id", self.id, dut.id), ("board", self.board, dut.board), ("sku", self.sku, dut.sku),
                                 ("profile", self.profile, dut.config.dut.profile)):
            if want is not None and want != have:
                return f"{name} is {have}, not {want}"
        missing = [c for c in self.capabilities if c not in dut.capabilities]
        if missing:
            return f"capability {', '.join(missing)} not declared in the pool"
        return None


class PoolBusy(BenchError):
    """Every DUT that fits is leased by another worker, for longer than the pool's wait."""

    TAG = "POOL BUSY"


class DutLock:
    """An exclusive flock on one DUT's lock file; released by close() or by the process's death."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def try_acquire(self, holder: dict[str, Any]) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)  # not inherited by children (PEP 446)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, (json.dumps(holder) + "\n").encode())
        self._fd = fd
        return True

    def holder(self) -> str:
        try:
            record = json.loads(self.path.read_text() or "{}")
        except (OSError, json.JSONDecodeError):
            return "unknown holder"
        return f"{record.get('worker', '?')} (pid {record.get('pid', '?')} on {record.get('host', '?')})"

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the last descriptor drops the flock
            self._fd = None


@dataclass
class Lease:
    dut: PoolDut
    lock: DutLock
    worker: str

    def release(self) -> None:
        self.lock.release()


class Pool:
    def __init__(self, name: str, duts: list[PoolDut], lock_dir: Path, wait_s: float = 600.0,
                 source: Path | None = None) -> None:
        ids = [d.id for d in duts]
        if len(set(ids)) != len(ids):
            raise ConfigError(f"{source}: pool {name}: duplicate DUT id(s) {sorted({i for i in ids if ids.count(i) > 1})}")
        self.name, self.duts, self.lock_dir, self.wait_s, self.source = name, duts, lock_dir, wait_s, source

    def lock_of(self, dut: PoolDut) -> DutLock:
        return DutLock(self.lock_dir / f"{dut.id}.lock")

    def matching(self, req: Requirement) -> list[PoolDut]:
        return [d for d in self.duts if req.mismatch(d) is None]

    def no_match(self, req: Requirement) -> str:
        why = "; ".join(f"{d.id}: {req.mismatch(d)}" for d in self.duts)
        return f"no DUT in pool {self.name} fits on_dut({req.key}) ({why})"

    def lease(self, req: Requirement, worker: str, exclude: tuple[str, ...] = (), wait_s: float | None = None) -> Lease:
        """Lock the first free DUT that fits ``req``; wait up to ``wait_s`` (the pool's) for one to come free."""
        candidates = [d for d in self.matching(req) if d.id not in exclude]
        if not candidates:
            raise LookupError(self.no_match(req) if not self.matching(req) else
                              f"pool {self.name}: no DUT fits on_dut({req.key}) besides {', '.join(exclude)}")
        holder = {"worker": worker, "pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
        wait = self.wait_s if wait_s is None else wait_s
        deadline = time.monotonic() + wait
        while True:
            for dut in candidates:
                lock = self.lock_of(dut)
                if lock.try_acquire(holder):
                    return Lease(dut, lock, worker)
            if time.monotonic() >= deadline:
                held = ", ".join(f"{d.id} by {self.lock_of(d).holder()}" for d in candidates)
                raise PoolBusy(f"no free DUT for on_dut({req.key}) in pool {self.name} within {wait:g} s "
                               f"(held: {held}); fewer workers than DUTs, or a longer wait_s")
            time.sleep(POLL_S)


def is_pool(path: Path) -> bool:
    """A folder of bench files, or a YAML file whose top level has ``duts:``."""
    if path.is_dir():
        return True
    data, _ = load_yaml(path)
    return isinstance(data, dict) and "duts" in data


def find_pool(name_or_path: str | Path | None) -> Path | None:
    """The pool named by ``--bench``, or None when it names a single bench file."""
    if name_or_path is None:
        return None
    p = Path(name_or_path)
    if p.is_dir():
        return p
    found = find_bench(name_or_path)
    return found if is_pool(found) else None


def load_pool(path: Path, out_dir: Path) -> Pool:
    """A pool file or folder, every bench file in it validated (errors name the file and line)."""
    if path.is_dir():
        files = sorted(path.glob("*.yaml"))
        if not files:
            raise ConfigError(f"{path}: a pool folder needs bench files (*.yaml); it has none")
        bad = [f.name for f in files if not ID_RE.match(f.stem)]
        if bad:
            raise ConfigError(f"{path}: {', '.join(bad)}: a DUT's id is its file name, which must match {ID_RE.pattern}")
        spec = PoolFile(name=path.name, duts=[PoolEntry(id=f.stem, bench=str(f)) for f in files])
        base, lines = path, dict[tuple[Any, ...], int]()
    else:
        data, lines = load_yaml(path)
        spec = validate(PoolFile, data, lines, path)
        base = path.parent
    duts = []
    for i, entry in enumerate(spec.duts):
        bench = Path(entry.bench)
        try:
            target = base / bench if not bench.is_absolute() and (base / bench).is_file() else find_bench(entry.bench)
            duts.append(PoolDut(entry.id, load_bench(target), tuple(entry.capabilities), Path(target)))
        except ConfigError as exc:
            where = f"{path}:{line_of(lines, ('duts', i, 'bench'))}" if not path.is_dir() else str(path)
            raise ConfigError(f"{where}: duts.{i}.bench ({entry.id}): {str(exc).removeprefix(f'{ConfigError.TAG}: ')}") from None
    if spec.lock_dir is not None:
        lock_dir = Path(spec.lock_dir)
    elif all(d.config.reference is not None for d in duts):
        lock_dir = out_dir / "pool-locks"  # virtual DUTs: one set per run (its out folder)
    else:
        lock_dir = HOST_LOCK_DIR
    return Pool(spec.name, duts, lock_dir, spec.wait_s, path)


def worker_id() -> str:
    """xdist's worker id (gw0, gw1, ...; a replaced worker gets a new one), or ``main`` without xdist."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def log_lease(out_dir: Path, worker: str, event: str, dut: str, **extra: Any) -> None:
    """One line in out/workers/<worker>/leases.jsonl (append + flush: a killed worker's line stays)."""
    path = out_dir / "workers" / worker / "leases.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"event": event, "dut": dut, "worker": worker, "pid": os.getpid(), "t": time.time(), **extra}
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")
