"""Power feature of the reference bench: the glasses' power states, the model, two simulated meters.

The glasses report link states (off, sleep, advertising, connected); the protocol tells which work
runs on a connection (audio streaming, a photo being taken, text being shown or spoken). From both
this keeps one current state in a PowerTimeline, logs each change on the console
(``<inf> pm: state audio_streaming``: console timestamps are markers when no GPIO is wired), and
serves the samples through a SCPI analyzer (ready key ``scpi``) and a PPK2 (``ppk2``; a stable
symlink, like /dev/serial/by-id, so a "replugged" PPK2 keeps its path). One of them may be the DUT's
supply (``--set power.supply=ppk2|scpi``; bench/reference/supply.py): switching it off powers the
glasses off, switching it on cold-boots them.

Idle connection events: the timed radio reports only events that carry data, so the timeline
synthesises empty-PDU events on the connection's own slot grid and skips the reported slots.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shutil
import tempfile
import time
from typing import Any, Callable

from bench.links.radio import air_time_s
from bench.profiles.glp import messages as m
from bench.reference.features import feature
from bench.reference.power_model import PowerTimeline
from bench.reference.ppk2_sim import Ppk2Simulator
from bench.reference.scpi_server import ScpiServer
from bench.reference.shell import UsageError
from bench.reference.supply import SUPPLIES, SupplyRail

LINK_STATES = {"off": "off", "sleep": "sleep", "advertising": "advertising", "connected": "connected_idle",
               "connected_idle": "connected_idle"}
PHOTO_CAPTURE_S = 0.4       # model assumption: sensor power-up, exposure, readout, JPEG encode
SPEECH_S_PER_CHAR = 0.06    # model assumption: ~15 characters/s spoken or scrolled
DISPLAY_MIN_S, DISPLAY_MAX_S = 0.3, 3.0


class GlassesPower:
    """The glasses' power-state manager: link state + protocol activity → one timeline state."""

    def __init__(self, timeline: PowerTimeline, protocol: Any, log: Any, *,
                 photo_capture_s: float = PHOTO_CAPTURE_S, streaming: Callable[[], bool] | None = None) -> None:
        """``protocol`` is the GLP device protocol; a non-GLP device passes None and reports its work
        through ``streaming()`` (audio running) and ``capture_photo()``."""
        self.timeline, self.protocol, self.log = timeline, protocol, log
        self.photo_capture_s = photo_capture_s
        self.streaming = streaming
        self.link_state = "sleep"
        self.state = timeline.state_at(time.monotonic())
        self.camera_until_s = 0.0
        self.display_until_s = 0.0
        if protocol is None:
            return
        protocol.observers.append(self.on_request)
        reset = protocol.reset

        def reset_and_forget() -> None:  # a protocol reset (reboot, `glp reset`) ends display and camera
            reset()
            self.camera_until_s = self.display_until_s = 0.0
            self.update()
        protocol.reset = reset_and_forget

    # -- inputs -------------------------------------------------------------------------------------
    def enter(self, state: str, t_s: float | None = None) -> None:
        """Link state from the glasses (their names: off, sleep, advertising, connected)."""
        if state not in LINK_STATES:
            raise ValueError(f"unknown link state {state!r}; known: {', '.join(LINK_STATES)}")
        self.link_state = LINK_STATES[state]
        if self.link_state != "connected_idle":
            self.camera_until_s = self.display_until_s = 0.0
        self.update(t_s)

    def on_request(self, request: m.Message, reply: m.Message) -> None:
        """Protocol observer: a request was answered (errors change nothing)."""
        if isinstance(reply, m.ErrorReply):
            return
        now = time.monotonic()
        if isinstance(request, m.PhotoCapture):
            self._until("camera_until_s", now + self.photo_capture_s)
        elif isinstance(request, m.TextNotify):
            self._until("display_until_s", now + min(max(SPEECH_S_PER_CHAR * len(request.text), DISPLAY_MIN_S),
                                                     DISPLAY_MAX_S))
        self.update(now)

    def capture_photo(self) -> None:
        """A non-GLP device started taking a photo: camera_capture for ``photo_capture_s``."""
        now = time.monotonic()
        self._until("camera_until_s", now + self.photo_capture_s)
        self.update(now)

    def _until(self, attr: str, t_s: float) -> None:
        setattr(self, attr, max(getattr(self, attr), t_s))
        asyncio.get_running_loop().call_at(t_s, self._expire, t_s)

    def _expire(self, t_s: float) -> None:
        self.update(t_s)

    # -- the state -----------------------------------------------------------------------------------
    def wanted(self, t_s: float) -> str:
        if self.link_state != "connected_idle":
            return self.link_state
        if t_s < self.camera_until_s:
            return "camera_capture"
        if t_s < self.display_until_s:
            return "display_tts"
        if self.streaming is not None:
            if self.streaming():
                return "audio_streaming"
        elif self.protocol.uplink is not None or self.protocol.downlink is not None:
            return "audio_streaming"
        return "connected_idle"

    def update(self, t_s: float | None = None) -> None:
        """Enter the state the inputs call for at ``t_s`` (now by default), logging a change."""
        t = time.monotonic() if t_s is None else t_s
        new = self.wanted(t)
        if new != self.state:
            self.state = new
            self.timeline.enter(new, t)
            self.log.info("pm", f"state {new}")

    async def watch(self, period_s: float = 0.05) -> None:
        """Catch what no request announces (the heartbeat watchdog stopping a stream)."""
        while True:
            await asyncio.sleep(period_s)
            self.update()


class PowerInstruments:
    """The two simulated meters, their stable paths and the faults tests switch on."""

    def __init__(self, timeline: PowerTimeline, scpi_model: str = "n6705c", supply: str = "none",
                 rail: SupplyRail | None = None) -> None:
        """``scpi_model``: n6705c | k2281s | dp832; ``supply``: which meter powers the DUT (ppk2, scpi, none);
        it starts on and drives ``rail``."""
        if supply not in SUPPLIES:
            raise ValueError(f"power.supply must be one of {', '.join(SUPPLIES)}, got {supply!r}")
        self.timeline = timeline
        self.supply = supply
        on_supply = rail.switch if rail is not None else None
        self.scpi = ScpiServer(timeline, model=scpi_model, output_on=supply == "scpi",
                               on_supply=on_supply if supply == "scpi" else None)
        self.ppk2 = Ppk2Simulator(timeline, dut_power=supply == "ppk2", on_supply=on_supply if supply == "ppk2" else None)
        self.dir = tempfile.mkdtemp(prefix="glassbench-power-")
        self.ppk2_link = os.path.join(self.dir, "ppk2")
        self._replug: asyncio.TimerHandle | None = None
        self.unplugged = False

    async def start(self) -> dict[str, str]:
        await self.scpi.start()
        self._plug()
        return {"scpi": self.scpi.resource, "ppk2": self.ppk2_link}

    def _plug(self) -> None:
        path = self.ppk2.start()
        tmp = self.ppk2_link + ".new"
        os.symlink(path, tmp)
        os.replace(tmp, self.ppk2_link)

    def fault(self, kind: str, arg: str | None) -> str:
        if kind == "hang":
            self.scpi.inject("hang")
            self.ppk2.stall(True)
            return "instruments hung (fault instrument ok to resume)"
        if kind == "disconnect":
            replug_s = float(arg) if arg else 1.0
            self.scpi.inject("disconnect")
            self.ppk2.disconnect()
            self.unplugged = True
            if self._replug is not None:
                self._replug.cancel()
            self._replug = asyncio.get_running_loop().call_later(replug_s, self.replug)
            return f"instruments disconnected, back in {replug_s:g} s"
        if kind == "garbage":
            self.scpi.inject("garbage")
            return "SCPI replies garbled"
        if kind == "drop":
            n = int(arg or "5000")
            self.ppk2.skip_samples(n)
            return f"PPK2 drops the next {n} samples"
        if kind == "ok":
            self.scpi.inject(None)
            self.ppk2.stall(False)
            return "instruments ok"
        raise UsageError("fault instrument hang|disconnect [replug_s]|garbage|drop <n>|ok")

    def replug(self) -> None:
        """Power the meters back: the SCPI server answers again, a fresh PPK2 appears on the same path."""
        self._replug = None
        self.scpi.inject(None)
        if self.unplugged:
            self.unplugged = False
            # a USB re-enumeration: the unit kept its state (and the DUT its power)
            old = self.ppk2
            self.ppk2 = Ppk2Simulator(self.timeline, dut_power=old.dut_power, on_supply=old.on_supply)
            self.ppk2.mode, self.ppk2.source_mv = old.mode, old.source_mv
            self._plug()

    async def close(self) -> None:
        if self._replug is not None:
            self._replug.cancel()
        self.ppk2.stop()
        await self.scpi.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def make_timeline(bench: Any) -> PowerTimeline:
    """The power timeline of the bench's board × SKU on its radio."""
    params, board = bench.link.params, bench.profile.board
    timeline = PowerTimeline(board.name, bench.profile.sku.name, seed=bench.options.seed or 0,
                             synth_connection_interval_s=params.interval_s,
                             empty_pdu_s=air_time_s(0, params.phy, params.encrypted))
    timeline.profile = dataclasses.replace(timeline.profile, adv_interval_s=board.advertising_interval_s)
    return timeline


@feature("power")
async def start(bench: Any) -> dict[str, Any]:
    timeline = make_timeline(bench)
    settings = bench.options.settings
    power = GlassesPower(timeline, bench.glasses.protocol, bench.shell.log,
                         photo_capture_s=float(settings.get("power.photo_capture_s", PHOTO_CAPTURE_S)))
    return await serve(bench, power)


async def serve(bench: Any, power: GlassesPower) -> dict[str, Any]:
    """Attach ``power`` to the bench's device and radio, start the meters and the ``pm`` commands
    (any profile's device: GLP's feature above, the Omi reference)."""
    timeline = power.timeline
    bench.glasses.power = power
    bench.link.observer = timeline
    rail = SupplyRail(bench.glasses, bench.shell, asyncio.get_running_loop())
    instruments = PowerInstruments(timeline, bench.options.settings.get("power.scpi_model", "n6705c"),
                                   bench.options.settings.get("power.supply", "none"), rail)
    ready = await instruments.start()
    watcher = asyncio.ensure_future(power.watch())

    @bench.shell.command("pm state", "current power state")
    def pm_state(_args: list[str]) -> str:
        return f"state {power.state}"

    @bench.shell.command("pm supply", "which meter supplies the DUT and how many power cycles it saw")
    def pm_supply(_args: list[str]) -> str:
        return f"supply {instruments.supply} power_cycles {rail.power_cycles}"

    @bench.shell.command("pm truth", "pm truth <t0_s> <t1_s>: the model's exact mean current per state (JSON)")
    def pm_truth(args: list[str]) -> str:
        if len(args) != 2:
            raise UsageError("pm truth <t0_s> <t1_s> (CLOCK_MONOTONIC seconds)")
        return json.dumps(timeline.truth_means(float(args[0]), float(args[1])))

    @bench.shell.command("fault instrument", "fault instrument hang|disconnect [s]|garbage|drop <n>|ok")
    def fault_instrument(args: list[str]) -> str:
        if not args:
            raise UsageError("fault instrument hang|disconnect [replug_s]|garbage|drop <n>|ok")
        return instruments.fault(args[0], args[1] if len(args) > 1 else None)

    async def close() -> None:
        watcher.cancel()
        await instruments.close()

    bench.on_close(close)
    return ready
