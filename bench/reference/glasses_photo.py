"""Camera model of the reference glasses: synthetic but valid JPEGs and the chunked, credit-paced transfer."""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass

# An 8x8 baseline JPEG (made with Pillow once). Padding goes into COM segments before it, so the
# result stays a valid, decodable JPEG of any requested size.
_TINY_JPEG = bytes.fromhex(
    "ffd8ffe000104a46494600010100000100010000ffdb004300100b0c0e0c0a100e0d0e1211101318281a181616183123"
    "251d283a333d3c3933383740485c4e404457453738506d51575f626768673e4d71797064785c656763ffdb0043011112"
    "121815182f1a1a2f63423842636363636363636363636363636363636363636363636363636363636363636363636363"
    "6363636363636363636363636363ffc00011080008000803012200021101031101ffc400150001010000000000000000"
    "0000000000000005ffc40014100100000000000000000000000000000000ffc400150101010000000000000000000000"
    "0000000405ffc40014110100000000000000000000000000000000ffda000c03010002110311003f009002a00fffd9"
)
_SEGMENT_MAX = 0xFFFF - 2  # COM payload bytes per segment


def synth_jpeg(size_bytes: int, seed: int) -> bytes:
    """A valid JPEG of exactly `size_bytes` (>= 300): SOI, COM segments of pseudo-random bytes, an 8x8 image."""
    tail = _TINY_JPEG[2:]
    if size_bytes < 2 + len(tail) + 4:
        raise ValueError(f"JPEG size must be >= {2 + len(tail) + 4} bytes, got {size_bytes}")
    rng = random.Random(seed)
    out = bytearray(b"\xff\xd8")
    pad = size_bytes - 2 - len(tail)
    while pad:
        body = min(_SEGMENT_MAX, pad - 4)
        if pad - (body + 4) in (1, 2, 3):  # leave room for a final segment of >= 4 bytes
            body -= 4
        out += b"\xff\xfe" + (body + 2).to_bytes(2, "big") + rng.randbytes(body)
        pad -= body + 4
    out += tail
    return bytes(out)


@dataclass
class Photo:
    photo_id: int
    data: bytes
    crc32: int


@dataclass
class Transfer:
    """An active PhotoRead: next offset to send and chunks the phone still allows."""

    photo: Photo
    offset: int
    credits: int


class PhotoStore:
    """Captured photos (the last `keep` of them), by id 1..65535."""

    def __init__(self, base_size_bytes: int, keep: int = 4, seed: int = 0) -> None:
        self.base_size_bytes = base_size_bytes
        self.keep = keep
        self.seed = seed
        self.photos: dict[int, Photo] = {}
        self._next_id = 1

    def capture(self, quality: int) -> Photo:
        size = max(400, int(self.base_size_bytes * (0.5 + quality / 200)))
        data = synth_jpeg(size, seed=self.seed * 65536 + self._next_id)
        photo = Photo(self._next_id, data, zlib.crc32(data))
        self.photos[photo.photo_id] = photo
        while len(self.photos) > self.keep:
            del self.photos[min(self.photos)]
        self._next_id = self._next_id % 0xFFFF + 1
        return photo

    def clear(self) -> None:
        self.photos.clear()
        self._next_id = 1
