"""GATT identity of the Glasses Link Protocol (GLP): the service, its five characteristics, channels.

A *channel* is one characteristic. Over a serial link the same channel numbers prefix each COBS
packet (see frames.SerialFraming), so code above this module never sees a UUID.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

_BASE = "7f1a{:04x}-6c3b-4e0a-9d6c-3f5b8a2e4c10"

SERVICE_UUID = _BASE.format(0x0000)


class Channel(enum.IntEnum):
    """Channel number = the 16-bit part of the characteristic UUID after the 7f1a prefix."""

    CONTROL_IN = 1  # phone -> glasses, write without response: requests
    CONTROL_OUT = 2  # glasses -> phone, notify: replies and events
    AUDIO_UP = 3  # glasses -> phone, notify: microphone audio frames
    AUDIO_DOWN = 4  # phone -> glasses, write without response: speaker audio frames
    MEDIA = 5  # glasses -> phone, notify: photo chunks


@dataclass(frozen=True)
class CharacteristicSpec:
    """What the GATT server must expose for one channel."""

    channel: Channel
    uuid: str
    properties: tuple[str, ...]  # bleak-style property names
    phone_writes: bool


CHARACTERISTICS: dict[Channel, CharacteristicSpec] = {
    ch: CharacteristicSpec(
        ch,
        _BASE.format(int(ch)),
        ("write-without-response",) if ch in (Channel.CONTROL_IN, Channel.AUDIO_DOWN) else ("notify",),
        ch in (Channel.CONTROL_IN, Channel.AUDIO_DOWN),
    )
    for ch in Channel
}

UUID_TO_CHANNEL: dict[str, Channel] = {spec.uuid: ch for ch, spec in CHARACTERISTICS.items()}

MAX_ATTRIBUTE_VALUE_LEN = 512  # Core spec Vol 3 Part F 3.2.9: longer writes are dropped by the server


def link_max_payload(att_mtu: int) -> int:
    """Bytes one GLP write or notification may carry: ATT MTU - 3, but never above an attribute's 512."""
    return min(att_mtu - 3, MAX_ATTRIBUTE_VALUE_LEN)


PHONE_TO_GLASSES = frozenset({Channel.CONTROL_IN, Channel.AUDIO_DOWN})
GLASSES_TO_PHONE = frozenset({Channel.CONTROL_OUT, Channel.AUDIO_UP, Channel.MEDIA})


def channel_for_uuid(uuid: str) -> Channel:
    """Map a characteristic UUID (any case) to its channel; KeyError names the unknown UUID."""
    try:
        return UUID_TO_CHANNEL[uuid.lower()]
    except KeyError:
        raise KeyError(f"not a GLP characteristic: {uuid!r} (service {SERVICE_UUID})") from None
