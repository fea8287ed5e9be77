"""The reference bench process: timed radio, reference glasses, phone-side HCI, console.

``bench reference`` runs this and prints one JSON "ready" line naming every endpoint; the harness
(or a person) connects to those exactly as to hardware. Everything binds 127.0.0.1 and ephemeral
ports, so several benches run side by side.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import json
import logging
import os
import signal
import stat
import sys
from typing import Any

from bench import memtrace
from bench.links import bumble_speedups
from bench.links.controller import TimedController
from bench.links.radio import LinkParams, TimedLink
from bench.profiles import get_profile
from bench.reference import pairing
from bench.reference.boards import profile as make_profile
from bench.reference.console_formats import for_board
from bench.reference.hci_server import HciServer
from bench.reference.shell import Shell
from bench.stalls import StallMonitor

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class ReferenceOptions:
    board: str = "nrf52840dk"
    sku: str = "camera"
    profile: str = "glp"  # the device protocol the reference device speaks (bench/profiles)
    interval_s: float | None = None
    phy: str | None = None
    data_length: int | None = None
    per: float | None = None
    jitter_s: float | None = None
    supervision_timeout_s: float | None = None
    seed: int | None = None
    battery_notify_interval_s: float = 1.0
    bugs: list[str] = dataclasses.field(default_factory=list)
    settings: dict[str, str] = dataclasses.field(default_factory=dict)  # feature options: --set key=value
    pairing: str = "just-works"  # none | just-works | passkey (bench/reference/pairing.py)
    privileged_security: str = "auto"  # auto | open | encrypted | authenticated (pairing.privileged_level)
    passkey: int = 123456


class ReferenceBench:
    """Owns every simulated part; ``start()`` returns the ready record."""

    glasses: Any  # set by the device profile's reference builder

    def __init__(self, options: ReferenceOptions) -> None:
        self.options = options
        self.profile = make_profile(options.board, options.sku)
        self.params: LinkParams = self.profile.link_params(
            interval_s=options.interval_s, phy=options.phy, data_length=options.data_length,
            per=options.per, jitter_s=options.jitter_s, supervision_timeout_s=options.supervision_timeout_s,
            seed=options.seed)
        self._closers: list[Any] = []

    async def start(self) -> dict[str, Any]:
        bumble_speedups.install()
        self.link = TimedLink(self.params)
        self.shell = Shell(for_board(self.profile.board.console))
        self.phone = TimedController("phone", link=self.link)
        self.hci = HciServer(self.phone)
        hci_transport = await self.hci.start()
        # the device profile builds the device (``self.glasses``: a Bumble device on ``self.link``
        # with ``start()``, ``close()``, ``device_name``, ``device``) and its features
        device_profile = get_profile(self.options.profile)
        if device_profile.reference is None:
            raise ValueError(f"profile {device_profile.name!r} has no reference device")
        extra = await device_profile.reference(self)
        self.security = pairing.configure(self.glasses.device, self.options.pairing, self.shell.log, self.options.passkey)
        if hasattr(self.glasses, "use_security"):  # a device with privileged requests (GLP)
            self.glasses.use_security(self.security,
                                      pairing.privileged_level(self.options.privileged_security, self.options.pairing))
        smp = getattr(self.glasses, "smp", None)
        if smp is not None:  # OTA is bond-protected as NCS builds it (pairing.ota_level)
            level = pairing.ota_level(self.options.privileged_security, self.options.pairing)
            smp.use_security(self.security.level, pairing.SECURITY_LEVELS[level])
        self.shell.start()
        await self.glasses.start()
        if not self.shell.prompt_shown:
            self.shell.show_prompt()
        return {
            "event": "ready",
            "pid": os.getpid(),
            "profile": device_profile.name,
            "board": self.profile.board.name,
            "sku": self.profile.sku.name,
            "name": self.glasses.device_name,
            "address": str(self.glasses.device.random_address),
            "hci": hci_transport,
            "console": self.shell.path,
            "link": dataclasses.asdict(self.params),
            "pairing": self.options.pairing,
            "privileged_security": pairing.privileged_level(self.options.privileged_security, self.options.pairing),
            "ota_security": pairing.ota_level(self.options.privileged_security, self.options.pairing),
            **extra,
        }

    def on_close(self, fn: Any) -> None:
        """Register a feature's async clean-up."""
        self._closers.append(fn)

    async def close(self) -> None:
        for fn in reversed(self._closers):
            await fn()
        await self.glasses.close()
        await self.hci.close()
        self.shell.close()


def watch_parent(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """Stop when stdin, a pipe from the harness, reaches end of file: the harness exited or was killed -9,
    and nothing else would ever stop this process. (A terminal or /dev/null on stdin is not watched.)"""
    fd = sys.stdin.fileno() if sys.stdin is not None else -1
    try:
        if fd < 0 or not stat.S_ISFIFO(os.fstat(fd).st_mode):
            return
    except OSError:
        return

    def readable() -> None:
        try:
            data = os.read(fd, 4096)
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(fd)
            logging.getLogger(__name__).warning("stdin closed: the harness is gone; stopping")
            stop.set()
    loop.add_reader(fd, readable)


async def serve(options: ReferenceOptions) -> None:
    """Run a reference bench until SIGINT/SIGTERM or stdin closes (parent gone)."""
    bench = ReferenceBench(options)
    ready = await bench.start()
    # Everything built so far lives as long as the process: keep it out of the cyclic collector,
    # whose full passes over it paused the radio's timers by tens of milliseconds.
    gc.collect()
    gc.freeze()
    trace = memtrace.from_environment()  # GLASSBENCH_TRACEMALLOC: allocation-growth reports (bench/memtrace.py)
    if trace is not None:
        bench.shell.command("memtrace", "dump tracemalloc's top allocation growth to $GLASSBENCH_TRACEMALLOC")(
            lambda _args: f"memtrace: {len(trace.dump('console').splitlines())} lines to {trace.path}")
    print(json.dumps(ready), flush=True)
    stalls = StallMonitor(lambda t_s, late_s: print(json.dumps({"event": "stall", "t_s": t_s, "late_s": late_s}),
                                                    flush=True),
                          on_alive=lambda t_s: print(json.dumps({"event": "alive", "t_s": t_s}), flush=True))
    stalls.start()  # the harness reads these to tell a starved bench from a DUT fault (bench/faults.py)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    watch_parent(loop, stop)
    await stop.wait()
    stalls.stop()
    if trace is not None:
        trace.stop()
    await bench.close()


def run(options: ReferenceOptions) -> int:
    from bench.links.loop import new_event_loop, precise_timers

    precise_timers()  # the radio's connection events and deliveries fire on time, not up to 50 µs late
    logging.basicConfig(level=os.environ.get("GLASSBENCH_LOG", "WARNING"), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    loop = new_event_loop()
    try:
        loop.run_until_complete(serve(options))
    finally:
        loop.close()
    return 0
