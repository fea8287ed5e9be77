"""Console commands that put the glasses' protocol in a known state quickly (fuzzing between examples):
``glp reset ble|serial`` (protocol state restore, keeps the link), ``glp event ble|serial KIND DETAIL``,
``glp reconnect serial``."""

from __future__ import annotations

from typing import Any

from bench.profiles.glp import gatt as glp_gatt
from bench.reference.features import feature
from bench.reference.shell import UsageError


def _reset_ble(bench: Any) -> None:
    g = bench.glasses
    g.hang_until_s = 0.0
    while not g._outbox.empty():  # notifications queued before the reset are not sent
        g._outbox.get_nowait()
    g.protocol.reset()
    if g.connection is not None:
        g.protocol.connected(glp_gatt.link_max_payload(g.connection.att_mtu))  # never above an attribute's 512
    if getattr(bench, "ble_bugs", None) is not None:
        bench.ble_bugs.reset()


def _serial(bench: Any) -> Any:
    serial = getattr(bench, "glp_serial", None)
    if serial is None:
        raise UsageError("this bench has no serial GLP endpoint")
    return serial


@feature("glp_control")
async def start(bench: Any) -> dict[str, Any]:
    shell = bench.shell

    @shell.command("glp reset", "glp reset ble|serial: protocol back to power-on state (link kept)")
    def reset(args: list[str]) -> str:
        match args:
            case ["ble"]:
                _reset_ble(bench)
            case ["serial"]:
                _serial(bench).reset()
            case _:
                raise UsageError("glp reset ble|serial")
        return f"glp {args[0]} reset"

    @shell.command("glp event", "glp event ble|serial KIND DETAIL: raise a device event")
    def event(args: list[str]) -> str:
        if len(args) != 3 or args[0] not in ("ble", "serial"):
            raise UsageError("glp event ble|serial KIND DETAIL")
        protocol = bench.glasses.protocol if args[0] == "ble" else _serial(bench).protocol
        return "event sent" if protocol.trigger_event(args[1], args[2]) else "event not sent: no session"

    @shell.command("glp reconnect", "glp reconnect serial: end the serial session and start a new one")
    def reconnect(args: list[str]) -> str:
        if args != ["serial"]:
            raise UsageError("glp reconnect serial")
        _serial(bench).reconnect()
        return "glp serial reconnected"

    return {}
