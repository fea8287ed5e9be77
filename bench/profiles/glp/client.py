"""The GLP session as synchronous tests use it: ``dut.glp.request(msg)`` with a timeout on every call.

Wraps bench.profiles.glp.session.PhoneSession, which lives on the session loop. One GlpClient per BLE
connection: after a reconnect the DUT facade builds a new one (and says hello again).
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, TypeVar

from bench.errors import DutTimeout, ProtocolViolation
from bench.links.loop import LoopThread, LoopTimeout
from bench.profiles.glp import messages as m
from bench.profiles.glp.errors import ProtocolError
from bench.profiles.glp.session import PhoneSession, RequestTimeout

T = TypeVar("T")


class GlpClient:
    """Synchronous facade over a PhoneSession on ``loop``."""

    def __init__(self, loop: LoopThread, session: PhoneSession, transport: Any) -> None:
        self.loop = loop
        self.session = session
        self.transport = transport
        self.hello_reply: m.HelloReply | None = None

    def _run(self, aw: Awaitable[T], timeout_s: float, what: str) -> T:
        try:
            return self.loop.run(aw, timeout_s + 2.0, what)
        except LoopTimeout as e:
            raise DutTimeout(str(e)) from None

    def hello(self, timeout_s: float = 3.0) -> m.HelloReply:
        self.hello_reply = self._run(self.session.hello(timeout_s), timeout_s * 3, "GLP hello")
        return self.hello_reply

    def request(self, msg: m.Message, timeout_s: float = 2.0, retries: int | None = None,
                check: bool = True) -> m.Message:
        """Send a request and return its reply (DeviceError / RequestTimeout / ProtocolError raise)."""
        attempts = 1 + (retries if retries is not None else self.session.retries)
        try:
            return self._run(self.session.request(msg, timeout_s, retries, check), timeout_s * attempts,
                             f"GLP {type(msg).__name__}")
        except ProtocolError as e:
            raise ProtocolViolation(f"{type(msg).__name__}: {e}") from e

    def send(self, msg: m.Message, **kwargs: Any) -> None:
        self._run(self.session.send(msg, **kwargs), 5.0, f"GLP send {type(msg).__name__}")

    def send_raw(self, channel: Any, data: bytes) -> None:
        self._run(self.session.send_raw(channel, data), 5.0, "GLP raw send")

    def wait_event(self, types: Any, timeout_s: float = 3.0, predicate: Callable[[m.Message], bool] | None = None) -> m.Message:
        return self._run(self.session.wait_event(types, timeout_s, predicate or (lambda _: True)), timeout_s, "GLP event")

    def call(self, fn: Callable[[PhoneSession], Awaitable[T]], timeout_s: float, what: str = "GLP call") -> T:
        """Run any coroutine of the session (e.g. ``lambda s: s.fetch_photo(info)``)."""
        async def go() -> T:
            return await fn(self.session)
        return self._run(go(), timeout_s, what)

    def close(self) -> None:
        async def go() -> None:
            await self.session.close()
            stop = getattr(self.transport, "stop", None)
            if stop is not None:
                await stop()
        try:
            self._run(go(), 3.0, "GLP close")
        except Exception:  # noqa: BLE001 - closing a session on a dead link is not an error
            pass


__all__ = ["GlpClient", "RequestTimeout"]
