"""An in-process fuzz target for unit tests: the reference GlassesProtocol on a LoopbackLink."""

from __future__ import annotations

from bench.profiles.glp.fuzz_target import Target
from bench.links.loop import LoopThread
from bench.profiles.glp.gatt import Channel
from bench.profiles.glp.transport import LoopbackLink
from bench.reference import bugs as seeded
from bench.profiles.glp.device import GlassesProtocol


class LoopTarget(Target):
    kind = "loopback"

    def __init__(self, bugs: tuple[str, ...] = (), reply_timeout_s: float = 0.3, max_payload: int = 244,
                 privileged: bool = True) -> None:
        self.thread = LoopThread("fuzz-loopback")
        super().__init__(self.thread, None, reply_timeout_s)
        self.max_payload = max_payload

        async def build() -> None:
            self.link = LoopbackLink(max_payload)
            self.glasses = GlassesProtocol("nrf52840dk", "camera", self.link.to_phone)
            self.glasses.privileged_ok = lambda: privileged  # an unpaired link to a device that wants a bond
            self.bugs = seeded.install(self.glasses, list(bugs))
            self.link.attach(self.glasses)
            self.link.set_receiver(self._on_fragment)
            await self._init_rx()
        self.thread.run(build(), 5)

    async def _send(self, channel: Channel, data: bytes) -> None:
        await self.link.send(channel, data)

    def _link_up(self) -> bool:
        return True

    def _device_reset(self) -> None:
        async def go() -> None:
            self.glasses.reset()
            self.glasses.connected(self.max_payload)
            if self.bugs is not None:
                self.bugs.reset()
        self.thread.run(go(), 5)

    def trigger_event(self, kind: str, detail: str) -> bool:
        async def go() -> bool:
            return self.glasses.trigger_event(kind, detail)
        return self.thread.run(go(), 5)

    def reconnect(self, model) -> None:  # noqa: ANN001
        async def go() -> None:
            self.glasses.disconnected()
            self.glasses.connected(self.max_payload)
            self._fresh_rx()
        self.thread.run(go(), 5)
        model.new_session()

    def close(self) -> None:
        self.thread.close()
