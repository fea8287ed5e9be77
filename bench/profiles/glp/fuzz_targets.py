"""The two fuzz targets: the DUT's GLP service over BLE (bleak), and GLP over a serial port (pyserial).

Both take a started BenchSession (console, loop, endpoints). The serial target's port comes from
`port=` or, on the reference bench, from its ready line (`glp_serial`).
"""

from __future__ import annotations

from typing import Any

from bench.errors import BenchError
from bench.profiles.glp.fuzz_model import SessionModel
from bench.profiles.glp.fuzz_target import Target
from bench.profiles.glp.gatt import Channel


class BleTarget(Target):
    kind = "ble"
    reset_command = "glp reset ble"

    def __init__(self, session: Any, reply_timeout_s: float = 2.0) -> None:
        dut = session.dut
        super().__init__(dut.loop, dut.console, reply_timeout_s)
        self.dut = dut
        self.loop.run(self._init_rx(), 2)
        dut.ensure_connected()
        self._start_transport()

    def _start_transport(self) -> None:
        from bench.profiles.glp.ble_transport import BleTransport

        self.transport = BleTransport(self.dut.ble)
        self.transport.set_receiver(self._on_fragment)
        self.loop.run(self.transport.start(), 10, "subscribe to GLP notifications")
        self.max_payload = self.transport.max_payload

    async def _send(self, channel: Channel, data: bytes) -> None:
        await self.transport.send(channel, data)
        self.link_counts["writes"] += 1
        self.link_counts["write_bytes"] += len(data)

    def _link_up(self) -> bool:
        return bool(self.dut.ble.is_connected)

    def _relink(self) -> None:
        self.dut.ensure_connected()
        self._start_transport()

    def reconnect(self, model: SessionModel) -> None:
        self.dut.disconnect()
        self.dut.connect()
        self._start_transport()
        self.loop.run(_call(self._fresh_rx), 2)
        model.new_session()


class SerialTarget(Target):
    kind = "serial"
    reset_command = "glp reset serial"
    whole_frames = True

    def __init__(self, session: Any, reply_timeout_s: float = 2.0, port: str | None = None) -> None:
        import serial

        from bench.profiles.glp.transport import SerialTransport

        dut = session.dut
        super().__init__(dut.loop, dut.console, reply_timeout_s)
        path = port or self._reference_port(session)
        self.port = serial.Serial(path, 115200, timeout=0.01)
        self.transport = SerialTransport(self.port, self.loop.loop)
        self.transport.set_receiver(self._on_fragment)
        self.max_payload = self.transport.max_payload
        self.loop.run(self._init_rx(), 2)

    @staticmethod
    def _reference_port(session: Any) -> str:
        ready = session.reference.ready if session.reference is not None else {}
        for key in ("glp_serial",):
            if key in ready:
                return str(ready[key])
        raise BenchError("serial fuzz target: give the GLP serial port (--serial-port); this bench has none")

    async def _send(self, channel: Channel, data: bytes) -> None:
        await self.transport.send(channel, data)

    async def _send_all(self, writes: list[tuple[Channel, bytes]]) -> int:
        """All packets of a step in one port write (the same bytes as one write each, fewer syscalls)."""
        try:
            await self.transport.send_many(writes)
        except Exception as exc:  # noqa: BLE001 - a closed port is judged by the caller
            if self._link_up():
                raise BenchError(f"serial write failed while the port is open: {exc}") from exc
            return 0
        return len(writes)

    def _link_up(self) -> bool:
        return bool(self.port.is_open)

    def reconnect(self, model: SessionModel) -> None:
        self.command("glp reconnect serial")
        self.loop.run(_call(self._fresh_rx), 2)
        model.new_session()

    def close(self) -> None:
        super().close()
        self.transport.close()
        self.port.close()


async def _call(fn: Any) -> Any:
    return fn()


TARGETS = {"ble": BleTarget, "serial": SerialTarget}
