"""The device under test as tests see it: one synchronous facade over console, BLE and identity.

Every call runs on the session's asyncio loop with a timeout and returns plain values, so a test
reads like a bench procedure: ``dut.console.command("version")``, ``dut.device_info()``,
``dut.reboot()``. The same facade drives a dev kit and the reference glasses.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from typing import TYPE_CHECKING, Any, Awaitable, Callable, TypeVar

from bleak.exc import BleakError

from bench.capabilities import capability, label
from bench.dut import sig
from bench.dut.console import BootInfo, Console
from bench.dut.sig import BATTERY_LEVEL, DIS, LINK_TEST_ECHO, LINK_TEST_STREAM, sig_uuid
from bench.errors import DutTimeout, LinkLost, PairingFailed
from bench.links import link_params
from bench.links.ble import BleLink, Notification
from bench.links.link_params import LinkRequest, LinkState
from bench.links.loop import LoopThread, LoopTimeout
from bench.links.serial import SerialLink
from bench.profiles import DeviceProfile, get_profile

if TYPE_CHECKING:
    from bench.session import BenchSession

T = TypeVar("T")
PASSKEY_LINE = re.compile(r"Passkey for \S+: (\d{6})")


# the SIG names, kept here for suites that import them from the facade
__all__ = ["BATTERY_LEVEL", "DIS", "LINK_TEST_ECHO", "LINK_TEST_STREAM", "Dut", "Identity", "sig_uuid"]


@dataclasses.dataclass
class Identity:
    board: str
    sku: str


class Dut:
    """A device under test: ``console`` (may be None), ``ble``, expected identity, session loop, and the
    capabilities (bench/capabilities.py) its SIG services, console and device profile give it."""

    def __init__(self, loop: LoopThread, ble: BleLink, console: Console | None, identity: Identity,
                 default_timeout_s: float = 5.0, boot_timeout_s: float = 10.0,
                 profile: DeviceProfile | None = None, reboot_command: str = "kernel reboot cold",
                 session: "BenchSession | None" = None) -> None:
        self.loop = loop
        self.ble = ble
        self.console = console
        self.identity = identity
        self.timeout_s = default_timeout_s
        self.boot_timeout_s = boot_timeout_s
        self.profile = profile or get_profile("glp")
        self.reboot_command = reboot_command
        self.session = session
        self.last_boot: BootInfo | None = None
        self.info: dict[str, str] = {}
        self.allow_reboot = False  # set by reboot(); the plugin resets it per test
        self._capabilities: dict[str, Any] | None = None
        self.capabilities_so_far: dict[str, Any] = {}  # what a profile sees while it attaches
        self.pairing_mode: str | None = None  # none | just-works | passkey (dut.ble.pairing); None: unknown
        self.pair_on_connect = False  # Dut.from_config: the bench file's dut.ble.pair_on_connect
        self.passkey: int | None = None  # dut.ble.passkey; else the console's "Passkey for" line

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
        request = link_request(session)
        if ble_cfg.backend == "bumble":
            kwargs["bumble"] = {"hci": session.endpoint(ble_cfg.hci, "hci"), "mtu": request.mtu or ble_cfg.mtu}
        missing = link_params.unsupported(request, ble_cfg.backend, reference=cfg.reference is not None,
                                          adapter=ble_cfg.adapter)
        link_params.refuse_or_record(request, missing, ble_cfg.unapplied, f"bench {cfg.name!r} (dut.ble.link / "
                                                                           "the plan's parameters.link)")
        ble = BleLink(name=session.endpoint(ble_cfg.name, "name"), address=session.endpoint(ble_cfg.address, "address"),
                      backend=backend, scan_backend=scan_backend, backend_kwargs=kwargs,
                      scan_timeout_s=ble_cfg.scan_timeout_s, connect_timeout_s=ble_cfg.connect_timeout_s,
                      connect_retries=ble_cfg.connect_retries, adapter=ble_cfg.adapter, link_request=request,
                      not_applied=missing)
        console = None
        boot_timeout_s = 10.0
        reboot_command = "kernel reboot cold"
        if cfg.dut.console is not None:
            port = session.endpoint(cfg.dut.console.port, "console")
            assert port is not None
            driver = cfg.dut.console.console_driver(cfg.dut.board)
            link = SerialLink(port, cfg.dut.console.baudrate, session.out_dir / "console.log",
                              reopen_timeout_s=cfg.dut.console.reopen_timeout_s)
            console = Console(link, driver=driver)
            boot_timeout_s = cfg.dut.console.boot_timeout_s
            reboot_command = driver.reboot_command
        dut = cls(session.loop, ble, console, Identity(cfg.dut.board, cfg.dut.sku), boot_timeout_s=boot_timeout_s,
                  profile=get_profile(cfg.dut.profile), reboot_command=reboot_command, session=session)
        dut.pairing_mode = session.endpoint(ble_cfg.pairing, "pairing")
        dut.passkey = ble_cfg.passkey
        dut.pair_on_connect = ble_cfg.pair_on_connect
        return dut

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
        """Scan, connect and discover; returns the connect time (s). A DUT that offers pairing is then
        paired, or encrypted from its bond (``pair_on_connect``), as the phone app does."""
        budget = (self.ble.scan_timeout_s + self.ble.connect_timeout_s) * self.ble.connect_retries
        elapsed_s = self.run(self.ble.connect(), budget, "connect")
        self.secure()
        return elapsed_s

    def secure(self) -> None:
        """Pair now if the DUT offers pairing, ``pair_on_connect`` is on and the link is not encrypted."""
        if self.pair_on_connect and self.pairing_mode in ("just-works", "passkey") and self.encrypted is False:
            self.pair(passkey=self.displayed_passkey if self.pairing_mode == "passkey" else None)

    def disconnect(self) -> None:
        self._drop_sessions()
        self.run(self.ble.disconnect(), 5, "disconnect")

    # -- capabilities -----------------------------------------------------------------------------
    @property
    def capabilities(self) -> dict[str, Any]:
        """Capability name → provider, assembled once on the first connection: SIG services and the
        console (bench/dut/sig.py), then the device profile (which may replace any of them)."""
        if self._capabilities is None:
            self.ensure_connected()
            self.capabilities_so_far = sig.discover(self)
            self.capabilities_so_far.update(self.profile.capabilities(self))
            self._capabilities = self.capabilities_so_far
        return self._capabilities

    def get(self, cap: str | type) -> Any:
        """The provider of ``cap`` (a bench.capabilities class or its name), or None."""
        key = cap if isinstance(cap, str) else capability(cap).name  # type: ignore[attr-defined]
        return self.capabilities.get(key)

    def need(self, cap: str | type) -> Any:
        """The provider of ``cap``; skips the running test with a reason naming it when the DUT lacks it."""
        provider = self.get(cap)
        if provider is None:
            import pytest

            pytest.skip(self.missing(cap))
        return provider

    def missing(self, cap: str | type) -> str:
        key = cap if isinstance(cap, str) else capability(cap).name  # type: ignore[attr-defined]
        return f"DUT has no {label(key)} (profile {self.profile.name})"

    def has_characteristic(self, uuid: str) -> bool:
        client = self.ble.client
        return client is not None and client.services.get_characteristic(uuid) is not None

    def _drop_sessions(self) -> None:
        """Let capabilities that hold a per-connection session close it (before a disconnect)."""
        for provider in (self._capabilities or {}).values():
            drop = getattr(provider, "drop", None)
            if drop is not None:
                drop()

    def read(self, uuid: str, timeout_s: float | None = None) -> bytes:
        return self.run(self.ble.read(uuid, timeout_s or self.timeout_s), timeout_s, f"read {uuid}")

    def write(self, uuid: str, data: bytes, response: bool = False, timeout_s: float | None = None) -> None:
        self.run(self.ble.write(uuid, data, response, timeout_s or self.timeout_s), timeout_s, f"write {uuid}")

    def subscribe(self, uuid: str) -> None:
        self.run(self.ble.subscribe(uuid), None, f"subscribe {uuid}")

    def notification(self, uuid: str, timeout_s: float | None = None) -> Notification:
        """The next notification on ``uuid`` (subscribe first)."""
        timeout = timeout_s or self.timeout_s
        return self.run(self._queue(uuid).get(timeout), timeout, f"notification on {uuid}")

    def drain(self, uuid: str) -> list[Notification]:
        return self.run(_call(self._queue(uuid).drain), 2)

    def _queue(self, uuid: str) -> Any:
        queue = self.ble.queues.get(uuid)
        if queue is None:  # never subscribed, or the subscription went with a dropped link
            raise LinkLost(f"not subscribed to {uuid} on this connection (the link was lost or re-made since)")
        return queue

    @property
    def mtu(self) -> int:
        return self.ble.mtu

    @property
    def link(self) -> LinkState:
        """The connection's parameters as the controller reports them, and what was asked but not applied."""
        return self.ble.link_state

    def apply_link(self, request: LinkRequest) -> LinkState:
        """Ask for new connection parameters / PHY on the running connection; returns what the link runs
        (with what could not be applied, and why, in ``not_applied``)."""
        cfg = self.session.config if self.session is not None else None
        missing = link_params.unsupported(
            request, cfg.dut.ble.backend if cfg else ("bumble" if self.ble.backend else "default"),
            reference=bool(cfg and cfg.reference), adapter=self.ble.adapter)
        self.ensure_connected()
        return self.run(self.ble.apply_link(request, missing), 15, "link update")

    # -- pairing and bonds ------------------------------------------------------------------------
    def pair(self, passkey: Callable[[], int | None] | None = None, timeout_s: float = 30.0) -> None:
        """Pair and bond: Just Works, or passkey entry with ``passkey()`` returning what the DUT displays
        (called on a worker thread, so it may block, e.g. on ``console_passkey``). Failure raises PairingFailed."""
        async def ask() -> int | None:
            assert passkey is not None
            return await asyncio.to_thread(passkey)
        try:
            self.run(self.ble.pair(ask if passkey is not None else None, timeout_s), timeout_s, "pair")
        except BleakError as e:
            raise PairingFailed(str(e)) from None

    def console_passkey(self, timeout_s: float = 10.0) -> int:
        """The passkey the DUT prints while pairing (Zephyr samples: ``Passkey for <addr>: 123456``)."""
        match = self.require_console().expect(PASSKEY_LINE, timeout_s)
        return int(match.group(1))

    def displayed_passkey(self, timeout_s: float = 10.0) -> int:
        """The passkey to type: the bench file's ``dut.ble.passkey``, else the one the console prints."""
        return self.passkey if self.passkey is not None else self.console_passkey(timeout_s)

    def unpair(self) -> None:
        """Delete the bond (both ends forget nothing else) and disconnect."""
        self._drop_sessions()
        try:
            self.run(self.ble.unpair(), 10, "unpair")
        except BleakError as e:
            raise PairingFailed(f"removing the bond failed: {e}") from None

    @property
    def encrypted(self) -> bool | None:
        """Whether the link is encrypted (None: the backend cannot tell)."""
        return self.ble.encrypted

    @property
    def resumed_bond(self) -> bool:
        """The last connection encrypted from a stored bond, without pairing again."""
        return self.ble.resumed_bond

    def device_info(self) -> dict[str, str]:
        """Device Information strings the DUT exposes (the last ones read stay in ``info``)."""
        ident = self.need("identity").identity()
        self.info = {k: v for k, v in dataclasses.asdict(ident).items() if isinstance(v, str) and v}
        return self.info

    def battery_level(self) -> int:
        return int(self.need("battery").level_pct())

    def ping(self, count: int = 20, size: int = 20, timeout_s: float = 2.0) -> list[float]:
        """Round trips (s) of the link-test echo (skips when the DUT has none)."""
        return list(self.need("link_test").ping(count, size, timeout_s))

    def wait_disconnected(self, timeout_s: float) -> str:
        return self.run(self.ble.wait_disconnected(timeout_s), timeout_s, "wait for disconnection")

    # -- console ----------------------------------------------------------------------------------
    def require_console(self) -> Console:
        if self.console is None:
            raise DutTimeout("this bench has no console configured for the DUT (dut.console)")
        return self.console

    def reboot(self) -> BootInfo:
        """Reboot (the ``reboot`` capability: the console's reboot command) and wait for the boot."""
        self.allow_reboot = True
        boot = self.need("reboot").reboot()
        self.last_boot = boot
        return boot

    # -- health -----------------------------------------------------------------------------------
    def ensure_connected(self) -> None:
        """Connect if the link is down (after a reboot or a link loss)."""
        if not self.connected:
            self.connect()

    def health_check(self) -> None:
        """Before each test: the link is up and the DUT answers on BLE (and on its console)."""
        self.ensure_connected()
        probe = next((uuid for uuid in (BATTERY_LEVEL, DIS["model"], DIS["manufacturer"], DIS["firmware_revision"])
                      if self.has_characteristic(uuid)), None)
        try:
            if probe is not None:
                self.read(probe, 3.0)
        except (LinkLost, DutTimeout):
            self.disconnect()
            self.connect()
        if self.console is not None and self.console.driver.probe_command:
            self.console.command(self.console.driver.probe_command, 3.0)

    def close(self) -> None:
        self._drop_sessions()
        try:
            if self.connected:
                self.disconnect()
        except Exception:  # noqa: BLE001 - closing a dead link must not fail the session
            pass
        if self.console is not None:
            self.console.close()


async def _call(fn: Any) -> Any:
    return fn()


def link_request(session: "BenchSession") -> LinkRequest:
    """The bench file's ``dut.ble.link``, overridden field by field by the plan's ``parameters.link``."""
    ble = session.config.dut.ble.link
    ms = lambda v: None if v is None else v / 1000  # noqa: E731
    fields: dict[str, Any] = {"interval_s": ms(ble.interval_ms), "latency": ble.latency,
                              "supervision_timeout_s": ms(ble.supervision_timeout_ms), "phy": ble.phy}
    plan = getattr(session, "plan", None)
    if plan is not None:
        p = plan.parameters.link
        planned = {"interval_s": p.interval_s, "phy": p.phy, "mtu": p.mtu}
        if session.config.reference is None:  # on the reference bench the radio took these at start
            planned.update(data_length=p.data_length, per=p.per, jitter_s=p.jitter_s)
        fields.update({k: v for k, v in planned.items() if v is not None})
    return LinkRequest(**fields)
