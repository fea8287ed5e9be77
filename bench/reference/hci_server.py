"""The phone-side controller's HCI, served on a Unix socket only its user can open (one host at a time).

The socket lives in a fresh 0700 folder (``unix:/tmp/glassbench-hci-…/hci.sock`` in the ready line,
Bumble's ``unix`` transport): another user's process cannot reach the radio and take the harness's
place, as any local process could on a TCP port. ``start(tcp=True)`` serves on 127.0.0.1 instead.
Bumble's own tcp-server transport forgets its client silently; a harness killed mid-connection
would leave the glasses connected to nobody. Here a client that goes away resets the controller,
which drops its links, so the glasses see a disconnection and advertise again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile

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

    async def start(self, tcp: bool = False, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve; returns the Bumble transport name a host opens (``unix:PATH`` or ``tcp-client:HOST:PORT``)."""
        loop = asyncio.get_running_loop()
        if tcp:
            self.server = await loop.create_server(lambda: _ClientProtocol(self), host=host, port=port)
            self.port = self.server.sockets[0].getsockname()[1]
            transport = f"tcp-client:{host}:{self.port}"
        else:
            self._dir = tempfile.mkdtemp(prefix="glassbench-hci-")  # mode 0700: this user only
            path = os.path.join(self._dir, "hci.sock")
            self.server = await loop.create_unix_server(lambda: _ClientProtocol(self), path=path)
            os.chmod(path, 0o600)
            transport = f"unix:{path}"
        self.controller.host = self  # controller -> host packets go to the client
        return transport

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
        if getattr(self, "_dir", None):
            shutil.rmtree(self._dir, ignore_errors=True)


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
