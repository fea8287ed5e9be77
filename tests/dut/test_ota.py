"""OTA suite: signed MCUboot images over SMP (mcumgr) on the BLE link, as stock Zephyr / nRF Connect SDK
firmware serves it: upload, test, reset, confirm, rollback; unsigned, tampered and wrongly signed
images refused. Requirement REQ-OTA-001 (test_plans/protocol.yaml).

Runs on any DUT with the SMP characteristic (the ``ota`` capability); others skip, naming it. Images are
signed with imgtool: with the reference devices' development key (fixtures/keys/), or with a product's
own key from ``GLASSBENCH_OTA_KEY`` (its firmware body from ``GLASSBENCH_OTA_APP``: a real app binary).
"""

from __future__ import annotations

import hashlib
import os
import time

import pytest

from bench import project
from bench.dut import mcuboot
from bench.dut.smp import SmpError

pytestmark = [pytest.mark.ota, pytest.mark.protocol, pytest.mark.ble]


@pytest.fixture(scope="module")
def ota_key():
    return mcuboot.load_key(os.environ.get("GLASSBENCH_OTA_KEY") or project.builtin_folder("keys") / "ota-test-ed25519.pem")


@pytest.fixture(scope="module")
def app_body():
    path = os.environ.get("GLASSBENCH_OTA_APP")
    return open(path, "rb").read() if path else os.urandom(12 * 1024)


def _running(ota):
    return next(i for i in ota.image_state() if i.get("slot") == 0)


def _reboot(dut, ota):
    """SMP reset, then back on the link; returns the console lines of the boot (boot loader included)."""
    mark = dut.console.mark() if dut.console is not None else None
    ota.reset()
    assert dut.wait_disconnected(timeout_s=5)
    if dut.console is not None:
        dut.last_boot = dut.console.wait_for_boot(dut.boot_timeout_s, since=mark)
    dut.connect()
    return [r.text for r in dut.console.records_since(mark)] if mark is not None else []


def _newer(ota, minor: int) -> str:
    major = int(str(_running(ota)["version"]).split(".")[0])
    return f"{major + 1}.{minor}.0"


def test_ota_smp_echo_round_trip(dut):
    ota = dut.need("ota")
    for text in ("hello", "x" * 200):  # the long one spans several notifications at a small MTU
        assert ota.echo(text) == text


def test_ota_image_state_lists_slot_0(dut):
    images = dut.need("ota").image_state()
    slots = {image.get("slot") for image in images}
    assert 0 in slots, f"image state lists no slot 0: {images}"
    running = next(image for image in images if image.get("slot") == 0)
    assert running.get("version"), f"slot 0 has no version: {running}"
    assert running.get("active") and running.get("hash"), f"slot 0 is not the active image: {running}"


def test_ota_image_without_mcuboot_header_is_refused(dut, app_body):
    with pytest.raises(SmpError, match="group 1 command 1"):
        dut.need("ota").upload(app_body)  # a raw binary: img_mgmt checks the header magic on the first chunk


def test_ota_image_upload_hash_reported_back(dut, measure, ota_key, app_body):
    ota = dut.need("ota")
    image = mcuboot.sign(app_body, ota_key, "9.9.9")
    t0 = time.monotonic()
    match = ota.upload(image)
    measure("smp_upload_rate_bps", len(image) / (time.monotonic() - t0), "B/s")
    assert match in (True, None), "the device says the uploaded image does not match its sha"
    slot1 = [i for i in ota.image_state() if i.get("slot") == 1]
    want = mcuboot.inspect(image).hash
    assert slot1 and bytes(slot1[0]["hash"]) == want, f"slot 1 does not hold the image (hash TLV {want.hex()}): {slot1}"
    assert slot1[0].get("version") == "9.9.9" and not slot1[0].get("pending")


def test_ota_upload_resumes_after_the_link_drops(dut, ota_key, app_body):
    ota = dut.need("ota")
    image = mcuboot.sign(app_body * 3, ota_key, "9.9.8")
    dropped = []

    def drop_once(off):
        if not dropped and off > len(image) // 3:
            dropped.append(off)
            dut.disconnect()  # the phone loses the link mid-upload; the device keeps what it has
    assert ota.upload(image, progress=drop_once) in (True, None)
    assert dropped, "the upload finished before the link was dropped"
    assert ota.resumed == 1, f"one lost link, {ota.resumed} resumes"
    slot1 = [i for i in ota.image_state() if i.get("slot") == 1]
    assert slot1 and bytes(slot1[0]["hash"]) == mcuboot.inspect(image).hash


def test_ota_signed_image_boots_and_is_confirmed(dut, measure, ota_key, app_body):
    ota = dut.need("ota")
    version = _newer(ota, 0)
    image = mcuboot.sign(app_body, ota_key, version)
    digest = mcuboot.inspect(image).hash
    ota.upload(image)
    states = ota.test(digest)
    assert any(i.get("slot") == 1 and i.get("pending") for i in states), f"slot 1 not pending after test: {states}"
    t0 = time.monotonic()
    _reboot(dut, ota)
    measure("ota_swap_reconnect_s", time.monotonic() - t0, "s")
    running = _running(ota)
    assert running["version"] == version and bytes(running["hash"]) == digest, f"the new image does not run: {running}"
    assert not running.get("confirmed"), "a test image must run unconfirmed until the app confirms it"
    ota.confirm()
    assert _running(ota).get("confirmed")
    _reboot(dut, ota)
    assert _running(ota)["version"] == version, "a confirmed image must survive the next reset"


def test_ota_unconfirmed_image_rolls_back(dut, ota_key, app_body):
    ota = dut.need("ota")
    before = _running(ota)
    image = mcuboot.sign(app_body, ota_key, _newer(ota, 1))
    ota.upload(image)
    ota.test(mcuboot.inspect(image).hash)
    _reboot(dut, ota)
    assert bytes(_running(ota)["hash"]) == mcuboot.inspect(image).hash, "the test image did not boot"
    lines = _reboot(dut, ota)  # nobody confirmed it
    after = _running(ota)
    assert bytes(after["hash"]) == bytes(before["hash"]) and after.get("confirmed"), \
        f"no rollback to {before['version']}: running {after}"
    if lines:
        assert any("Swap type: revert" in line for line in lines), lines


@pytest.mark.parametrize("how", ["tampered", "wrong key", "unsigned"])
def test_ota_bad_image_is_refused_at_boot(dut, ota_key, app_body, how):
    ota = dut.need("ota")
    before = _running(ota)
    if how == "wrong key":
        image = mcuboot.sign(app_body, mcuboot.generate_key(), _newer(ota, 2))
    elif how == "unsigned":
        image = mcuboot.sign(app_body, None, _newer(ota, 2))
    else:
        signed = bytearray(mcuboot.sign(app_body, ota_key, _newer(ota, 2)))
        signed[mcuboot.HEADER_SIZE + 100] ^= 0x01  # one bit of the body: the hash TLV no longer matches
        image = bytes(signed)
    assert ota.upload(image) in (True, None), "the transfer itself must succeed: only the boot loader can refuse"
    ota.test(mcuboot.stored_hash(image))
    lines = _reboot(dut, ota)
    after = _running(ota)
    assert bytes(after["hash"]) == bytes(before["hash"]), f"a {how} image was booted: {after}"
    assert not any(i.get("slot") == 1 and i.get("pending") for i in ota.image_state())
    if lines:
        assert any("Image in the secondary slot is not valid" in line for line in lines), lines


def test_ota_smp_reset_reboots(dut, measure):
    ota = dut.need("ota")
    mark = dut.console.mark() if dut.console is not None else None
    ota.reset()
    assert dut.wait_disconnected(timeout_s=5)
    if dut.console is not None:
        dut.last_boot = dut.console.wait_for_boot(dut.boot_timeout_s, since=mark)
    measure("reconnect_after_smp_reset_s", dut.connect(), "s")
    assert ota.echo("after reset") == "after reset"


def test_ota_sha_of_upload_is_the_whole_file(ota_key, app_body):
    """The two hashes OTA tools confuse: the upload's ``sha`` (the file) and the image hash (the TLV)."""
    image = mcuboot.sign(app_body, ota_key, "1.0.0")
    assert mcuboot.inspect(image).hash != hashlib.sha256(image).digest()
    assert mcuboot.inspect(image, ota_key).ok


def test_ota_refused_on_an_unpaired_link(dut):
    """OTA is bond-protected (NCS CONFIG_MCUMGR_TRANSPORT_BT_PERM_RW_AUTHEN / _ENCRYPT): a central with no
    bond cannot subscribe to SMP (ATT Insufficient Authentication), so no request gets an answer."""
    ota = dut.need("ota")
    if dut.pairing_mode in (None, "none"):
        pytest.skip(f"DUT pairing is {dut.pairing_mode or 'not declared (dut.ble.pairing)'}: OTA is open")
    pair_on_connect = dut.pair_on_connect
    try:
        dut.unpair()  # forget any bond and drop the link
        dut.pair_on_connect, ota.pair_before_ota = False, False
        ota.drop()
        dut.connect()
        assert dut.encrypted is False
        with pytest.raises(Exception, match="INSUFFICIENT_AUTHENTICATION"):
            ota.echo("unpaired")
    finally:
        dut.pair_on_connect, ota.pair_before_ota = pair_on_connect, True
        ota.drop()
        dut.disconnect()
        dut.ensure_connected()


def test_ota_accepted_on_a_bonded_link(bonded_dut):
    """The same request on the bonded, encrypted link is answered; after a reconnect it resumes the bond."""
    ota = bonded_dut.need("ota")
    assert bonded_dut.encrypted
    assert ota.echo("bonded") == "bonded"
    ota.drop()
    bonded_dut.disconnect()
    bonded_dut.connect()
    assert bonded_dut.encrypted and bonded_dut.resumed_bond
    assert ota.echo("bonded again") == "bonded again"
