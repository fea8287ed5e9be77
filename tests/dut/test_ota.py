"""OTA suite: SMP (mcumgr) on the BLE link, as stock Zephyr / nRF Connect SDK firmware serves it.

Runs on any DUT with the SMP characteristic (the ``ota`` capability); others skip, naming it.
"""

from __future__ import annotations

import hashlib
import os
import time

import pytest

pytestmark = [pytest.mark.ota, pytest.mark.ble]


def test_smp_echo_round_trip(dut):
    ota = dut.need("ota")
    for text in ("hello", "x" * 200):  # the long one spans several notifications at a small MTU
        assert ota.echo(text) == text


def test_image_state_lists_slot_0(dut):
    images = dut.need("ota").image_state()
    slots = {image.get("slot") for image in images}
    assert 0 in slots, f"image state lists no slot 0: {images}"
    running = next(image for image in images if image.get("slot") == 0)
    assert running.get("version"), f"slot 0 has no version: {running}"


def test_image_upload_hash_reported_back(dut, measure):
    ota = dut.need("ota")
    image = os.urandom(8 * 1024)
    t0 = time.monotonic()
    match = ota.upload(image)
    measure("smp_upload_rate_bps", len(image) / (time.monotonic() - t0), "B/s")
    assert match in (True, None), "the device says the uploaded image does not match its sha"
    digest = hashlib.sha256(image).digest()
    hashes = [bytes(i["hash"]) for i in ota.image_state() if i.get("hash") is not None]
    assert digest in hashes, f"no slot reports the uploaded image's sha256 {digest.hex()}: {[h.hex() for h in hashes]}"


def test_smp_reset_reboots(dut, measure):
    ota = dut.need("ota")
    mark = dut.console.mark() if dut.console is not None else None
    ota.reset()
    assert dut.wait_disconnected(timeout_s=5)
    if dut.console is not None:
        dut.last_boot = dut.console.wait_for_boot(dut.boot_timeout_s, since=mark)
    measure("reconnect_after_smp_reset_s", dut.connect(), "s")
    assert ota.echo("after reset") == "after reset"
