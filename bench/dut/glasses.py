"""The device under test as tests see it: one synchronous facade over console, BLE and identity.

Every call runs on the session's asyncio loop with a timeout and returns plain values, so a test
reads like a bench procedure: ``dut.console.command("version")``, ``dut.device_info()``,
``dut.reboot()``. The same facade drives a dev kit and the reference glasses.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import re
import time
from typing import TYPE_CHECKING, Any, Awaitable, TypeVar

from bench.dut.console import BootInfo, Console
from bench.errors import DutTimeout, LinkLost
from bench.links.ble import BleLink, Notification
from bench.links.loop import LoopThread, LoopTimeout
from bench.links.serial import SerialLink

if TYPE_CHECKING:
    from bench.session import BenchSession

T = TypeVar("T")


def sig_uuid(short: int) -> str:
    """A Bluetooth SIG 16-bit UUID as bleak's 128-bit string."""
    return f"0000{short:04x}-0000-1000-8000-00805f9b34fb"


DIS = {
    "manufacturer": sig_uuid(0x2A29), "model": sig_uuid(0x2A24), "serial": sig_uuid(0x2A25),
    "hardware_revision": sig_uuid(0x2A27), "firmware_revision": sig_uuid(0x2A26),
    "software_revision": sig_uuid(0x2A28),
}
BATTERY_LEVEL = sig_uuid(0x2A19)
LINK_TEST_ECHO = "7f1a1001-6c3b-4e0a-9d6c-3f5b8a2e4c10"
LINK_TEST_STREAM = "7f1a1002-6c3b-4e0a-9d6c-3f5b8a2e4c10"


@dataclasses.dataclass
class Identity:
    board: str
    sku: str


class Dut:
    """A device under test: ``console`` (may be None), ``ble``, expected identity, session loop."""

    def __init__(self, loop: LoopThread, ble: BleLink, console: Console | None, identity: Identity,
                 default_timeout_s: float = 5.0, boot_timeout_s: float = 10.0) -> None:
        self.loop = loop
        self.ble = ble
        self.console = console
        self.identity = identity
        self.timeout_s = default_timeout_s
        self.boot_timeout_s = boot_timeout_s
        self.last_boot: BootInfo | None = None
        self.info: dict[str, str] = {}
        self.allow_reboot = False  # set by reboot(); the plugin resets it per test
        self._glp: Any = None
        self._glp_client: Any = None

    @classmethod
    def from_config(cls, session: "BenchSession") -> "Dut":
        cfg = session.config
        assert session.loop is not None
        ble_cfg = cfg.dut.ble
        backend = scan_backend = None
        kwargs: dict[str, Any] = {}
        if ble_cfg.backend == "bumble":
            from bench.links.bumble_backend import BumbleClient, BumbleScanner

            backend, scan_backend = BumbleClient, BumbleScanner
            kwargs["bumble"] = {"hci": session.endpoint(ble_cfg.hci, "hci"), "mtu": ble_cfg.mtu}
        ble = BleLink(name=session.endpoint(ble_cfg.name, "name"), address=session.endpoint(ble_cfg.address, "address"),
                      backend=backend, scan_backend=scan_backend, backend_kwargs=kwargs,
                      scan_timeout_s=ble_cfg.scan_timeout_s, connect_timeout_s=ble_cfg.connect_timeout_s,
                      connect_retries=ble_cfg.connect_retries)
        console = None
        boot_timeout_s = 10.0
        if cfg.dut.console is not None:
            port = session.endpoint(cfg.dut.console.port, "console")
            assert port is not None
            console = Console(SerialLink(port, cfg.dut.console.baudrate, session.out_dir / "console.log"))
            boot_timeout_s = cfg.dut.console.boot_timeout_s
        return cls(session.loop, ble, console, Identity(cfg.dut.board, cfg.dut.sku), boot_timeout_s=boot_timeout_s)

    # -- plumbing ---------------------------------------------------------------------------------
    def run(self, aw: Awaitable[T], timeout_s: float | None = None, what: str = "") -> T:
        """Run a coroutine on the session loop; a timeout becomes DutTimeout."""
        timeout = timeout_s if timeout_s is not None else self.timeout_s
        try:
            return self.loop.run(aw, timeout + 1.0, what)
        except LoopTimeout as e:
            raise DutTimeout(str(e)) from None

    # -- BLE --------------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self.ble.is_connected

    def connect(self) -> float:
        """Scan, connect and discover; returns the connect time (s)."""
        budget = (self.ble.scan_timeout_s + self.ble.connect_timeout_s) * self.ble.connect_retries
        return self.run(self.ble.connect(), budget, "connect")

    def disconnect(self) -> None:
        self._drop_glp()
        self.run(self.ble.disconnect(), 5, "disconnect")

    # -- Glasses Link Protocol --------------------------------------------------------------------
    @property
    def glp(self):  # noqa: ANN201 - bench.profiles.glp.client.GlpClient
        """The GLP session on the current connection (built, subscribed and hello'd on first use)."""
        if self._glp is None or self._glp_client is not self.ble.client or not self.connected:
            self._drop_glp()
            self.ensure_connected()
            from bench.profiles.glp.client import GlpClient
            from bench.profiles.glp.ble_transport import BleTransport
            from bench.profiles.glp.session import PhoneSession

            async def build() -> Any:
                transport = BleTransport(self.ble)
                session = PhoneSession(transport)
                await transport.start()
                return session, transport
            session, transport = self.run(build(), 10, "GLP session set-up")
            self._glp = GlpClient(self.loop, session, transport)
            self._glp_client = self.ble.client
            self._glp.hello()
        return self._glp

    def _drop_glp(self) -> None:
        if self._glp is not None:
            glp, self._glp = self._glp, None
            glp.close()

    def read(self, uuid: str, timeout_s: float | None = None) -> bytes:
        return self.run(self.ble.read(uuid, timeout_s or self.timeout_s), timeout_s, f"read {uuid}")

    def write(self, uuid: str, data: bytes, response: bool = False, timeout_s: float | None = None) -> None:
        self.run(self.ble.write(uuid, data, response, timeout_s or self.timeout_s), timeout_s, f"write {uuid}")

    def subscribe(self, uuid: str) -> None:
        self.run(self.ble.subscribe(uuid), None, f"subscribe {uuid}")

    def notification(self, uuid: str, timeout_s: float | None = None) -> Notification:
        """The next notification on ``uuid`` (subscribe first)."""
        timeout = timeout_s or self.timeout_s
        return self.run(self.ble.queues[uuid].get(timeout), timeout, f"notification on {uuid}")

    def drain(self, uuid: str) -> list[Notification]:
        return self.run(_call(self.ble.queues[uuid].drain), 2)

    @property
    def mtu(self) -> int:
        return self.ble.mtu

    def device_info(self) -> dict[str, str]:
        """Device Information Service strings (the last ones read stay in ``info``)."""
        self.info = {key: self.read(uuid).decode("utf-8", "replace") for key, uuid in DIS.items()}
        return self.info

    def battery_level(self) -> int:
        return self.read(BATTERY_LEVEL)[0]

    def ping(self, count: int = 20, size: int = 20, timeout_s: float = 2.0) -> list[float]:
        """Round trips (s) of link-test echo: write without response → notification."""
        return self.run(_ping(self.ble, count, size, timeout_s), timeout_s * count + 5, "ping")

    def wait_disconnected(self, timeout_s: float) -> str:
        return self.run(self.ble.wait_disconnected(timeout_s), timeout_s, "wait for disconnection")

    # -- console ----------------------------------------------------------------------------------
    def require_console(self) -> Console:
        if self.console is None:
            raise DutTimeout("this bench has no console configured for the DUT (dut.console)")
        return self.console

    def version(self) -> dict[str, str]:
        """Parse the shell's ``version`` line: firmware, board, sku, serial."""
        out = self.require_console().command("version", self.timeout_s)
        m = re.search(r"firmware v(\S+) board=(\S+) sku=(\S+) serial=(\S+)", out)
        if not m:
            raise DutTimeout(f"unexpected answer to 'version': {out!r}")
        return dict(zip(("firmware", "board", "sku", "serial"), m.groups()))

    def reboot(self) -> BootInfo:
        """Reboot from the console and wait for the boot banner (does not reconnect BLE)."""
        console = self.require_console()
        self.allow_reboot = True
        mark = console.mark()
        console.link.write(b"reboot\r")
        self.last_boot = console.wait_for_boot(self.boot_timeout_s, since=mark)
        return self.last_boot

    # -- health -----------------------------------------------------------------------------------
    def ensure_connected(self) -> None:
        """Connect if the link is down (after a reboot or a link loss)."""
        if not self.connected:
            self.connect()

    def health_check(self) -> None:
        """Before each test: the link is up and the DUT answers on BLE (and on its console)."""
        self.ensure_connected()
        try:
            self.read(DIS["firmware_revision"], 3.0)
        except (LinkLost, DutTimeout):
            self.disconnect()
            self.connect()
        if self.console is not None:
            self.console.command("kernel uptime", 3.0)

    def close(self) -> None:
        self._drop_glp()
        try:
            if self.connected:
                self.disconnect()
        except Exception:  # noqa: BLE001 - closing a dead link must not fail the session
            pass
        if self.console is not None:
            self.console.close()


async def _call(fn: Any) -> Any:
    return fn()


async def _ping(ble: BleLink, count: int, size: int, timeout_s: float) -> list[float]:
    queue = await ble.subscribe(LINK_TEST_ECHO)
    queue.drain()
    rtts = []
    for i in range(count):
        payload = i.to_bytes(4, "little") + bytes(max(0, size - 4))
        t0 = time.monotonic()
        await ble.write(LINK_TEST_ECHO, payload, response=False)
        while True:
            n = await queue.get(timeout_s)
            if n.data == payload:
                rtts.append(n.host_time_s - t0)
                break
        # back-to-back pings would lock to the connection events; a random gap samples every phase
        await asyncio.sleep(random.uniform(0.0, 0.015))
    return rtts
