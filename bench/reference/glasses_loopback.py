"""A PhoneSession wired to reference GlassesProtocol over the in-memory LoopbackLink (unit tests, demos)."""

from __future__ import annotations

from typing import Any

from bench.profiles.glp.device import GlassesProtocol
from bench.profiles.glp.session import PhoneSession
from bench.profiles.glp.transport import LoopbackLink, Tap


async def loopback_pair(sku: str = "camera", board: str = "esp32s3", max_payload: int = 244, tap: Tap | None = None,
                        hello: bool = True, timeout_s: float = 0.3, **glasses_kw: Any
                        ) -> tuple[LoopbackLink, GlassesProtocol, PhoneSession]:
    """Build link, glasses and session on the running loop; `max_payload` is ATT MTU - 3."""
    link = LoopbackLink(max_payload, tap)
    glasses = GlassesProtocol(board, sku, link.to_phone, **glasses_kw)
    link.attach(glasses)
    session = PhoneSession(link, timeout_s=timeout_s)
    if hello:
        await session.hello()
    return link, glasses, session
