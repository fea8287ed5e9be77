"""The phone-side controller's HCI, served over TCP on 127.0.0.1 (one host at a time).

Bumble's own tcp-server transport forgets its client silently; a harness killed mid-connection
would leave the glasses connected to nobody. Here a client that goes away resets the controller,
which drops its links, so the glasses see a disconnection and advertise again.
"""

from __future__ import annotations

import asyncio
import logging

from bumble.transport.common import StreamPacketSource

from bench.links.controller import TimedController

logger = logging.getLogger(__name__)


class HciServer:
    """Serves one controller's HCI to one TCP client at a time (the newest)."""

    def __init__(self, controller: TimedController) -> None:
        self.controller = controller
        self.server: asyncio.base_events.Server | None = None
        self._client: asyncio.Transport | None = None
        self.port = 0

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self.server = await asyncio.get_running_loop().create_server(
            lambda: _ClientProtocol(self), host=host, port=port)
        self.port = self.server.sockets[0].getsockname()[1]
        self.controller.host = self  # controller -> host packets go to the client
        return self.port

    def on_packet(self, packet: bytes) -> None:
        if self._client is not None:
            self._client.write(packet)

    def attach(self, transport: asyncio.Transport) -> bool:
        """The newest client wins: a host that reconnects (or replaces a dead one) takes over."""
        old, self._client = self._client, transport
        if old is not None:
            logger.info("new HCI client replaces the previous one")
            old.close()
            self.controller.reset_link_state()
        return True

    def detach(self, transport: asyncio.Transport) -> None:
        if self._client is transport:
            self._client = None
            logger.info("HCI client gone: dropping the phone's links")
            self.controller.reset_link_state()

    async def close(self) -> None:
        if self._client is not None:
            self._client.close()
        if self.server is not None:
            self.server.close()


class _ClientProtocol(asyncio.Protocol):
    def __init__(self, server: HciServer) -> None:
        self.server = server
        self.source = StreamPacketSource()
        self.source.set_packet_sink(server.controller)
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        if not self.server.attach(transport):
            transport.close()
            return
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.transport is not None:
            self.source.data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.server.detach(self.transport)
