"""What an Omi device offers the suites (bench/capabilities.py), over its GATT characteristics only.

Audio uplink: subscribing to audio data starts the stream (the firmware sends while the phone is
subscribed); the codec is whatever the codec id characteristic says (fixed per firmware build).
Photo (omiGlass): int8 -1 on photo control, chunks on photo data until the end marker. Power-state
control: disconnect (advertising), subscribe/unsubscribe (audio streaming), one-shot photo
(camera capture). The Omi firmware has no shell for sleep, so ``sleep`` is not offered.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from bench.errors import DutTimeout
from bench.profiles.omi import gatt as og

if TYPE_CHECKING:
    from bench.dut.glasses import Dut

BATTERY_NOTIFY_S = 5.0  # BATTERY_REFRESH_INTERVAL_CONNECTED (omi firmware transport.c)


async def _unsubscribe(ble: Any, uuid: str) -> None:
    queue = ble.queues.pop(uuid, None)
    if queue is not None and ble.client is not None and ble.client.is_connected:
        await ble.client.stop_notify(uuid)


class OmiAudio:
    """Shared by the uplink capability and power control: the audio data subscription."""

    def __init__(self, dut: "Dut") -> None:
        self.dut = dut

    def codec_id(self) -> int:
        return self.dut.read(og.AUDIO_CODEC)[0]

    def codecs(self) -> list[str]:
        name = og.CODEC_IDS.get(self.codec_id())
        return [name] if name else []

    def subscribe(self) -> Any:
        self.dut.ensure_connected()
        return self.dut.run(self.dut.ble.subscribe(og.AUDIO_DATA), 5, "subscribe to Omi audio data")

    def unsubscribe(self) -> None:
        if self.dut.connected:
            self.dut.run(_unsubscribe(self.dut.ble, og.AUDIO_DATA), 5, "unsubscribe from Omi audio data")


class OmiAudioUplink:
    def __init__(self, audio: OmiAudio) -> None:
        self.audio = audio
        self._queue: Any = None
        self._got: list[Any] = []

    def codecs(self) -> list[str]:
        return self.audio.codecs()

    def start(self, codec: str, echo: bool = False) -> None:
        if echo:
            raise DutTimeout("the Omi profile has no audio downlink to echo the uplink into")
        if codec not in self.codecs():
            raise DutTimeout(f"the Omi device streams {self.codecs()} (codec id {self.audio.codec_id()}), not {codec}")
        self.audio.unsubscribe()
        self._got = []
        self._queue = self.audio.subscribe()
        self._queue.drain()

    def wait_arrival_after(self, t_s: float, timeout_s: float) -> None:
        async def wait() -> None:
            deadline = time.monotonic() + timeout_s
            while True:
                n = await self._queue.get(max(0.01, deadline - time.monotonic()))
                self._got.append(n)
                if n.host_time_s > t_s:
                    return
        self.audio.dut.run(wait(), timeout_s, "Omi audio stream")

    def stop(self) -> list[tuple[float, bytes]]:
        if self._queue is not None:
            self._got += self._queue.drain()
        self.audio.unsubscribe()
        self._queue = None
        asm = og.OmiReassembler(og.fragment_room(self.audio.dut.mtu))
        out: list[tuple[float, bytes]] = []
        for n in self._got:
            out += asm.push(n.host_time_s, n.data)
        return out + asm.flush()


class OmiPhoto:
    def __init__(self, dut: "Dut") -> None:
        self.dut = dut

    def take_photo(self, timeout_s: float = 10.0) -> bytes:
        dut = self.dut

        async def fetch() -> bytes:
            queue = await dut.ble.subscribe(og.PHOTO_DATA)
            queue.drain()
            await dut.ble.write(og.PHOTO_CONTROL, og.PHOTO_ONE_SHOT.to_bytes(1, "little", signed=True), True)
            asm = og.PhotoAssembler()
            deadline = time.monotonic() + timeout_s
            while True:
                n = await queue.get(max(0.01, deadline - time.monotonic()))
                photo = asm.push(n.data)
                if photo is not None:
                    return photo
        return dut.run(fetch(), timeout_s, "omiGlass photo")


class OmiPowerControl:
    def __init__(self, dut: "Dut", audio: OmiAudio, photo: OmiPhoto | None) -> None:
        self.dut, self.audio, self.photo = dut, audio, photo
        states = {"advertising", "connected_idle"}
        if audio.codecs():
            states.add("audio_streaming")
        if photo is not None:
            states.add("camera_capture")
        self.states = frozenset(states)

    def streaming_codecs(self) -> list[str]:
        return self.audio.codecs()

    def enter(self, state: str) -> None:
        base = state.partition("[")[0]
        if base == "advertising":
            if self.dut.connected:
                self.dut.disconnect()
        elif base == "connected_idle":
            self.dut.ensure_connected()
            self.audio.unsubscribe()
        elif base == "audio_streaming" and "audio_streaming" in self.states:
            self.audio.subscribe()
        elif base == "camera_capture" and self.photo is not None:
            self.dut.ensure_connected()
            self.dut.write(og.PHOTO_CONTROL, og.PHOTO_ONE_SHOT.to_bytes(1, "little", signed=True), True)
        else:
            raise ValueError(f"Omi power control cannot enter {state!r}; it can: {sorted(self.states)}")

    def leave(self, state: str) -> None:
        base = state.partition("[")[0]
        if base == "audio_streaming":
            self.audio.unsubscribe()
        elif base == "advertising":
            self.dut.ensure_connected()


def attach(dut: "Dut") -> dict[str, Any]:
    """The Omi capabilities of a connected DUT (called once, after GATT discovery)."""
    if not dut.has_characteristic(og.AUDIO_DATA):
        raise DutTimeout(f"the DUT has no Omi audio service (profile omi): its GATT server lacks {og.AUDIO_DATA}; "
                         f"is 'dut.profile' right?")
    battery = dut.capabilities_so_far.get("battery")
    if battery is not None:
        battery.notify_interval_s = BATTERY_NOTIFY_S
    audio = OmiAudio(dut)
    caps: dict[str, Any] = {}
    if audio.codecs():
        caps["audio_uplink"] = OmiAudioUplink(audio)
    photo = OmiPhoto(dut) if dut.has_characteristic(og.PHOTO_CONTROL) else None
    if photo is not None:
        caps["photo"] = photo
    caps["power_control"] = OmiPowerControl(dut, audio, photo)
    from bench.profiles.omi.fuzz import OmiFuzz

    caps["fuzz"] = OmiFuzz(dut)
    return caps

