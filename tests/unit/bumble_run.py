"""Run one coroutine on a fresh event loop with Bumble hosts closed afterwards (the hosts bind to the loop)."""

from __future__ import annotations

import asyncio

from bench.links.bumble_backend import close_hosts
from bench.links.loop import new_event_loop


def run(coro, timeout_s=30):
    loop = new_event_loop()

    async def body():
        try:
            return await asyncio.wait_for(coro, timeout_s)
        finally:
            await close_hosts()
    try:
        return loop.run_until_complete(body())
    finally:
        loop.close()
