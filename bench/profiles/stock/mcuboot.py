"""The reference devices' boot loader: MCUboot's two-slot swap with test, confirm and revert.

State that outlives a reboot (it is flash): the primary slot (what runs), the secondary slot (what
an upload wrote), the swap requested by mcumgr's image state write (``test`` or ``perm``), and the
primary image's ``image_ok`` flag (set by a confirm). At every boot, as MCUboot does:

- swap ``test``/``perm`` requested: the secondary image is validated (hash TLV, then the signature
  against the one trusted key, both through imgtool); invalid → ``E: Image in the secondary slot is
  not valid!``, the slot is erased and the old image boots; valid → the slots swap; after ``test`` the
  new image runs unconfirmed.
- no swap, primary unconfirmed (a test image nobody confirmed): ``revert``, the slots swap back.

It prints MCUboot's boot lines (its minimal log format ``I: …``) before the application boots.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench import project
from bench.dut import mcuboot

MCUBOOT_VERSION = "2.1.0"
ZEPHYR_VERSION = "3.7.0"
TEST_KEY = project.builtin_folder("keys") / "ota-test-ed25519.pem"  # a development key: fixtures/keys/README.md


@dataclass
class Slot:
    image: bytes
    info: mcuboot.ImageInfo


class Bootloader:
    """Two slots of one image; ``trusted_key`` is the public (or private) key MCUboot was built with."""

    def __init__(self, running_image: bytes, trusted_key: Any | None = None) -> None:
        self.key = trusted_key if trusted_key is not None else mcuboot.load_key(TEST_KEY)
        self.primary = Slot(running_image, mcuboot.inspect(running_image))
        self.secondary: Slot | None = None
        self.swap: str | None = None  # "test" | "perm": requested for the next boot
        self.image_ok = True  # the primary image is confirmed
        self.last_swap = "none"

    # -- what mcumgr sees -------------------------------------------------------------------------
    def write_secondary(self, image: bytes) -> None:
        self.secondary = Slot(image, mcuboot.inspect(image))
        self.swap = None

    def erase_secondary(self) -> None:
        self.secondary, self.swap = None, None

    def slot_of(self, digest: bytes) -> int | None:
        for n, slot in enumerate((self.primary, self.secondary)):
            if slot is not None and slot.info.hash == digest:
                return n
        return None

    def request(self, digest: bytes | None, confirm: bool) -> str | None:
        """mcumgr image state write; None on success, else why it is refused (Zephyr answers EINVAL)."""
        if digest is None or self.slot_of(digest) == 0:
            if not confirm:
                return "no hash given to test"
            self.image_ok = True  # confirm the running image
            return None
        if self.slot_of(digest) != 1:
            return f"no slot holds an image with hash {digest.hex()}"
        self.swap = "perm" if confirm else "test"
        return None

    def states(self) -> list[dict[str, Any]]:
        """Per slot: the fields of mcumgr's image state (Zephyr's img_mgmt_state_flags)."""
        revert = not self.image_ok
        out = [dict(slot=0, version=self.primary.info.version or "0.0.0", hash=self.primary.info.hash,
                    bootable=True, active=True, confirmed=self.image_ok)]
        if self.secondary is not None:
            out.append(dict(slot=1, version=self.secondary.info.version or "0.0.0", hash=self.secondary.info.hash,
                            bootable=True, pending=self.swap is not None,
                            permanent=self.swap == "perm", confirmed=revert))
        return out

    @property
    def running_version(self) -> str:
        return self.primary.info.version or "0.0.0"

    # -- the boot ---------------------------------------------------------------------------------
    def boot(self) -> list[str]:
        """Run the boot loader once; returns its console lines."""
        swap, lines = "none", []
        if self.swap is not None:
            assert self.secondary is not None
            checked = mcuboot.inspect(self.secondary.image, self.key)
            if checked.ok:
                swap = self.swap
                self.primary, self.secondary = Slot(self.secondary.image, checked), self.primary
                self.image_ok = self.swap == "perm"
            else:
                lines.append("E: Image in the secondary slot is not valid!")
                self.secondary = None
            self.swap = None
        elif not self.image_ok and self.secondary is not None:
            swap = "revert"
            self.primary, self.secondary = self.secondary, self.primary
            self.image_ok = True
        self.last_swap = swap
        return [f"*** Booting MCUboot v{MCUBOOT_VERSION} ***", f"*** Using Zephyr OS build v{ZEPHYR_VERSION} ***",
                "I: Starting bootloader",
                f"I: Primary image: magic=good, swap_type=0x{_SWAP_CODE[swap]:x}, copy_done=0x1, "
                f"image_ok=0x{1 if self.image_ok else 3:x}",
                *lines, "I: Boot source: none", f"I: Image index: 0, Swap type: {swap}",
                "I: Bootloader chainload address offset: 0xc000", "I: Jumping to the first image slot"]


_SWAP_CODE = {"none": 1, "test": 2, "perm": 3, "revert": 4}


def factory_image(version: str = "1.0.0", key: Any | None = None) -> bytes:
    """The image the reference device ships with: signed with the test key, a fixed body."""
    body = (b"glassbench reference firmware " + version.encode()) * 64
    return mcuboot.sign(body, key if key is not None else mcuboot.load_key(TEST_KEY), version)
