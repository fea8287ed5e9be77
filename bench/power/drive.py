"""Moving the DUT into each power state through its console and the Glasses Link Protocol.

The same steps work on a dev kit and on the reference glasses: the shell's ``ble adv on|off``, a
BLE disconnect, and GLP requests (audio uplink, photo capture, spoken text).
"""

from __future__ import annotations

from typing import Any

from bench.profiles.glp import messages as m

CODECS = {  # codec name → (GLP codec, sample rate, frame duration µs)
    "lc3": (m.Codec.LC3, 16000, 10000),
    "opus": (m.Codec.OPUS, 16000, 20000),
    "pcm": (m.Codec.PCM16, 16000, 10000),
}


def codec_supported(dut: Any, codec: str) -> bool:
    """Whether the DUT's Hello capabilities list ``codec``."""
    reply = dut.glp.hello_reply or dut.glp.hello()
    return bool(reply.capabilities & m.CODEC_CAPABILITY[CODECS[codec][0]])


def advertising_off(dut: Any) -> None:
    dut.require_console().command("ble adv off")


def advertising_on(dut: Any) -> None:
    dut.require_console().command("ble adv on")


def to_sleep(dut: Any) -> None:
    """Radio off: no advertising, no connection."""
    advertising_off(dut)
    if dut.connected:
        dut.disconnect()


def to_advertising(dut: Any) -> None:
    """Disconnected and advertising."""
    advertising_on(dut)
    if dut.connected:
        dut.disconnect()


def back_to_connected(dut: Any) -> None:
    """Advertising on again and the phone connected (the state every other test expects)."""
    advertising_on(dut)
    dut.ensure_connected()


def quiet(dut: Any) -> None:
    """Connected, with no audio stream running (stopping a stopped stream is acknowledged)."""
    back_to_connected(dut)
    dut.glp.request(m.AudioUplinkStop())
    dut.glp.request(m.AudioDownlinkStop())


def uplink_start(dut: Any, codec: str) -> None:
    c, rate_hz, frame_us = CODECS[codec]
    dut.glp.request(m.AudioUplinkStart(c, rate_hz, frame_us))


def uplink_stop(dut: Any) -> None:
    dut.glp.request(m.AudioUplinkStop())


def take_photo(dut: Any, quality: int = 80) -> m.Message:
    return dut.glp.request(m.PhotoCapture(quality))


def speak(dut: Any, text: str = "You have a meeting with the design team in ten minutes") -> None:
    dut.glp.request(m.TextNotify(m.TextMode.SPEAK, text))
