"""MCUboot images through imgtool, and the reference boot loader's swap / confirm / revert."""

from __future__ import annotations

import pytest

from bench import project
from bench.dut import mcuboot
from bench.profiles.stock.mcuboot import Bootloader, factory_image


@pytest.fixture(scope="module")
def key():
    return mcuboot.load_key(project.builtin_folder("keys") / "ota-test-ed25519.pem")


def test_signed_image_reads_back(key):
    image = mcuboot.sign(b"\x01" * 3000, key, "1.2.3+4")
    info = mcuboot.inspect(image, key)
    assert info.ok and info.version == "1.2.3.4" and len(info.hash) == 32
    assert mcuboot.stored_hash(image) == info.hash


@pytest.mark.parametrize("how,result", [("body", "INVALID_HASH"), ("key", "INVALID_SIGNATURE"),
                                        ("unsigned", "INVALID_SIGNATURE"), ("raw", "INVALID_MAGIC"),
                                        ("truncated", None)])
def test_bad_images_are_named(key, how, result):
    image = mcuboot.sign(b"\x02" * 3000, key, "1.0.0")
    if how == "body":
        image = image[:0x300] + bytes([image[0x300] ^ 1]) + image[0x301:]
    elif how == "key":
        image = mcuboot.sign(b"\x02" * 3000, mcuboot.generate_key(), "1.0.0")
    elif how == "unsigned":
        image = mcuboot.sign(b"\x02" * 3000, None, "1.0.0")
    elif how == "raw":
        image = b"\x02" * 3000
    else:
        image = image[:40]
    info = mcuboot.inspect(image, key)
    assert not info.ok and (result is None or info.result == result), info


def _boot(loader):
    return "\n".join(loader.boot())


def test_test_swap_then_confirm(key):
    loader = Bootloader(factory_image("1.0.0"), key)
    new = mcuboot.sign(b"new" * 500, key, "2.0.0")
    loader.write_secondary(new)
    assert loader.request(mcuboot.inspect(new).hash, confirm=False) is None
    assert "Swap type: test" in _boot(loader) and loader.running_version == "2.0.0" and not loader.image_ok
    assert loader.request(None, confirm=True) is None and loader.image_ok
    assert "Swap type: none" in _boot(loader) and loader.running_version == "2.0.0"


def test_unconfirmed_image_reverts(key):
    loader = Bootloader(factory_image("1.0.0"), key)
    new = mcuboot.sign(b"new" * 500, key, "2.0.0")
    loader.write_secondary(new)
    loader.request(mcuboot.inspect(new).hash, confirm=False)
    _boot(loader)
    assert "Swap type: revert" in _boot(loader) and loader.running_version == "1.0.0" and loader.image_ok


def test_invalid_secondary_is_erased_not_booted(key):
    loader = Bootloader(factory_image("1.0.0"), key)
    bad = mcuboot.sign(b"bad" * 500, mcuboot.generate_key(), "2.0.0")
    loader.write_secondary(bad)
    loader.request(mcuboot.inspect(bad).hash, confirm=True)
    assert "secondary slot is not valid" in _boot(loader)
    assert loader.running_version == "1.0.0" and loader.secondary is None


def test_state_write_names_an_unknown_hash(key):
    loader = Bootloader(factory_image("1.0.0"), key)
    assert "no slot holds" in loader.request(b"\x00" * 32, confirm=False)
