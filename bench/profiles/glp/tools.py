"""Connection-level helpers for GLP conformance: fresh sessions, reconnects, a different ATT MTU.

The harness requests an ATT MTU when it connects (bench YAML ``dut.ble.mtu``, passed to the Bumble
backend); the negotiated MTU is min(requested, what the DUT supports). ``reconnected(dut, mtu=N)``
reconnects asking for N and restores the bench's own request afterwards.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator

from bench.dut.glasses import Dut
from bench.profiles.glp.client import GlpClient


def can_request_mtu(dut: Dut) -> bool:
    """True when the BLE backend lets the harness choose the MTU it requests (Bumble)."""
    return isinstance(dut.ble.backend_kwargs.get("bumble"), dict)


def requested_mtu(dut: Dut) -> int:
    return int(dut.ble.backend_kwargs.get("bumble", {}).get("mtu", 247))


def _set_mtu(dut: Dut, mtu: int) -> None:
    dut.ble.backend_kwargs["bumble"] = dict(dut.ble.backend_kwargs["bumble"], mtu=mtu)


def reconnect(dut: Dut) -> float:
    """Drop the link (and the GLP session on it) and connect again; returns the connect time (s)."""
    dut.disconnect()
    return dut.connect()


@contextlib.contextmanager
def reconnected(dut: Dut, mtu: int | None = None) -> Iterator[int]:
    """Reconnect (asking for ATT MTU `mtu` if given); yields the negotiated MTU. Restores on exit."""
    before = requested_mtu(dut) if can_request_mtu(dut) else None
    if mtu is not None:
        if before is None:
            raise RuntimeError("this BLE backend cannot request an ATT MTU (needs backend: bumble)")
        _set_mtu(dut, mtu)
    try:
        reconnect(dut)
        yield dut.mtu
    finally:
        if mtu is not None and before is not None:
            _set_mtu(dut, before)
            reconnect(dut)


def open_session(dut: Dut, hello: bool = True, timeout_s: float = 1.0) -> GlpClient:
    """A new PhoneSession on the current connection (the DUT's own one is closed first).

    hello=False leaves the session before Hello (for INVALID_STATE checks). Close it when done.
    Use it right after ``reconnect``: the glasses' reply cache lives as long as the connection, and a
    new session numbers its requests from 0 again, so on an old connection a request identical to an
    earlier one with the same seq would be answered from that cache without being acted on."""
    from bench.profiles.glp.ble_transport import BleTransport
    from bench.profiles.glp.session import PhoneSession

    dut.ensure_connected()
    dut.need("glp").drop()  # one subscriber per characteristic: the DUT facade rebuilds its own on next use

    async def build() -> Any:
        transport = BleTransport(dut.ble)
        session = PhoneSession(transport, timeout_s=timeout_s)
        await transport.start()
        return session, transport
    session, transport = dut.run(build(), 10, "GLP session set-up")
    client = GlpClient(dut.loop, session, transport)
    if hello:
        client.hello()
    return client


def capabilities(glp: GlpClient) -> Any:
    """The capability bits the DUT advertised in its HelloReply (bench.profiles.glp.messages.Capability)."""
    from bench.profiles.glp import messages as m

    reply = glp.hello_reply or glp.hello()
    return m.Capability(reply.capabilities)


def require(glp: GlpClient, capability: Any) -> None:
    """Skip the calling test when the DUT does not advertise `capability`."""
    import pytest

    if not capabilities(glp) & capability:
        pytest.skip(f"DUT does not advertise {capability!r}")


def lacking(glp: GlpClient, capability: Any) -> None:
    """Skip the calling test when the DUT *does* advertise `capability` (checks of its absence)."""
    import pytest

    if capabilities(glp) & capability:
        pytest.skip(f"DUT advertises {capability!r}; the check needs a SKU/board without it")


def codec(glp: GlpClient) -> Any:
    """A codec the DUT advertises (LC3 preferred, then PCM16, then Opus)."""
    from bench.profiles.glp import messages as m

    caps = capabilities(glp)
    for c in (m.Codec.LC3, m.Codec.PCM16, m.Codec.OPUS):
        if caps & m.CODEC_CAPABILITY[c]:
            return c
    raise AssertionError(f"DUT advertises no codec at all: {caps!r}")


def expect_event(glp: GlpClient, types: Any, trigger: Callable[[], object], timeout_s: float = 3.0,
                 predicate: Callable[[Any], bool] = lambda _msg: True) -> Any:
    """Listen for an unsolicited message of `types`, then call `trigger()` (e.g. a console command),
    then wait for it: listening first means an event that arrives quickly is not missed."""
    import asyncio

    from bench.errors import DutTimeout
    from bench.links.loop import LoopTimeout

    async def arm() -> tuple[Any, Callable[[], None]]:
        fut = asyncio.get_running_loop().create_future()

        def got(msg: Any) -> None:
            if not fut.done() and predicate(msg):
                fut.set_result(msg)
        return fut, glp.session.subscribe(got, types)

    fut, unsubscribe = glp.loop.run(arm(), 5.0, "arm GLP event")
    try:
        trigger()

        async def wait() -> Any:
            async with asyncio.timeout(timeout_s):
                return await fut
        try:
            return glp.loop.run(wait(), timeout_s + 2.0, "GLP event")
        except (LoopTimeout, TimeoutError):
            raise DutTimeout(f"no {types} event within {timeout_s:g} s of the trigger") from None
    finally:
        glp.loop.call_soon(unsubscribe)
