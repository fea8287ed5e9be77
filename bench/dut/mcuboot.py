"""MCUboot images: signing (the build side) and reading/verifying them (what MCUboot does at boot).

Everything goes through ``imgtool``, MCUboot's own tool, so an image the bench signs is one MCUboot
boots, and a check the reference boot loader makes is the one MCUboot makes: the SHA-256 TLV over
header, body and protected TLVs, then the signature TLV against the trusted key. The image hash that
mcumgr's image state reports is that SHA-256 TLV, not the SHA-256 of the whole file (which is what an
upload's ``sha`` covers).
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imgtool import image as imgtool_image
from imgtool import keys as imgtool_keys

HEADER_SIZE = 0x200  # --header-size of nRF Connect SDK / Zephyr sysbuild MCUboot images
SLOT_SIZE = 0x40000  # a 256 KiB slot; images are not padded to it (--pad is off), only checked against it
ALIGN = 4
IMAGE_MAGIC = imgtool_image.IMAGE_MAGIC


@dataclass(frozen=True)
class ImageInfo:
    """What MCUboot makes of an image: ``result`` is imgtool's VerifyResult name (OK, INVALID_MAGIC,
    INVALID_HASH, INVALID_SIGNATURE, KEY_MISMATCH, INVALID_TLV_INFO_MAGIC)."""

    result: str
    version: str | None = None  # "1.2.3" or "1.2.3.45" (mcumgr's form: the build number only when non-zero)
    hash: bytes | None = None  # the SHA-256 TLV

    @property
    def ok(self) -> bool:
        return self.result == "OK"


def load_key(path: str | os.PathLike[str]) -> Any:
    """A PEM key (private or public) as imgtool loads it."""
    return imgtool_keys.load(str(path))


def generate_key() -> Any:
    """A fresh ed25519 signing key (tests: "signed with the wrong key")."""
    return imgtool_keys.Ed25519.generate()


def sign(binary: bytes, key: Any | None, version: str = "0.0.0", header_size: int = HEADER_SIZE,
         slot_size: int = SLOT_SIZE, align: int = ALIGN) -> bytes:
    """``binary`` (an application built for an MCUboot slot) as a signed image, like ``imgtool sign
    --header-size 0x200 --pad-header --align 4 --slot-size 0x40000 --version V -k KEY``. ``key`` None:
    an image with the hash TLV only (unsigned), which a boot loader that requires signatures refuses."""
    with tempfile.TemporaryDirectory(prefix="glassbench-img-") as tmp:
        src, dst = Path(tmp) / "app.bin", Path(tmp) / "signed.bin"
        src.write_bytes(binary)
        image = imgtool_image.Image(version=imgtool_image.versmod.decode_version(version), header_size=header_size,
                                    pad_header=True, align=align, slot_size=slot_size)
        with contextlib.redirect_stdout(io.StringIO()):  # imgtool prints "sign the digest"
            image.load(str(src))
            image.create(key, "hash", None)
        image.save(str(dst))
        return dst.read_bytes()


def inspect(image: bytes, key: Any | None = None) -> ImageInfo:
    """Check ``image`` as MCUboot would: hash only (``key`` None) or hash and signature."""
    with tempfile.TemporaryDirectory(prefix="glassbench-img-") as tmp:
        path = Path(tmp) / "slot.bin"
        path.write_bytes(image)
        try:
            result, version, digest, _sig = imgtool_image.Image.verify(str(path), key)
        except Exception as exc:  # noqa: BLE001 - a truncated or garbled image: imgtool's struct unpacking fails
            return ImageInfo(f"UNREADABLE ({type(exc).__name__})")
    if result is None:  # imgtool returns None when no hash TLV was found at all
        return ImageInfo("INVALID_HASH", hash=stored_hash(image))
    return ImageInfo(result.name, format_version(version) if version else _header_version(image),
                     digest if digest is not None else stored_hash(image))


def _header_version(image: bytes) -> str | None:
    import struct

    return format_version(struct.unpack_from("<BBHI", image, 20)) if has_header(image) and len(image) >= 28 else None


def format_version(version: tuple[int, int, int, int]) -> str:
    """imgtool's (major, minor, revision, build) as mcumgr prints it."""
    major, minor, revision, build = version
    return f"{major}.{minor}.{revision}" + (f".{build}" if build else "")


def stored_hash(image: bytes) -> bytes | None:
    """The SHA-256 TLV as written in ``image`` (what mcumgr reports, even when the body no longer matches it)."""
    import struct

    if not has_header(image):
        return None
    header_size, img_size = struct.unpack_from("<HxxI", image, 8)
    off = header_size + img_size
    for _ in range(2):  # the protected TLV area, if any, then the unprotected one
        if off + imgtool_image.TLV_INFO_SIZE > len(image):
            return None
        magic, total = struct.unpack_from("<HH", image, off)
        if magic == imgtool_image.TLV_PROT_INFO_MAGIC:
            off += total
            continue
        if magic != imgtool_image.TLV_INFO_MAGIC:
            return None
        end, off = off + total, off + imgtool_image.TLV_INFO_SIZE
        while off + imgtool_image.TLV_SIZE <= min(end, len(image)):
            tlv_type, _, tlv_len = struct.unpack_from("<BBH", image, off)
            if tlv_type == imgtool_image.TLV_VALUES["SHA256"]:
                return image[off + imgtool_image.TLV_SIZE:off + imgtool_image.TLV_SIZE + tlv_len]
            off += imgtool_image.TLV_SIZE + tlv_len
        return None
    return None


def has_header(data: bytes) -> bool:
    """Does ``data`` start with an MCUboot image header (what Zephyr's img_mgmt checks on the first chunk)?"""
    return len(data) >= 32 and int.from_bytes(data[:4], "little") == IMAGE_MAGIC
