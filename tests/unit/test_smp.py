"""SMP client (bench/dut/smp.py) against the stock device's server (bench/profiles/stock/smp_server.py).

In memory: a stand-in for the DUT facade carries the client's writes to ``SmpServer.handle`` and its
responses back as MTU-sized notifications, so framing, reassembly and the ``smp`` models are tested
without a radio.
"""

from __future__ import annotations

from collections import deque
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from smp import os_management as osm

from bench.dut.smp import SMP_CHARACTERISTIC, Reassembler, SmpError, SmpOta, split
from bench.profiles.stock.smp_server import BUF_SIZE, SmpServer


class FakeDut:
    """The few facade calls SmpOta makes, looped back to an SmpServer."""
    pairing_mode = None  # the loop-back link does not pair: SmpOta.secure has nothing to do
    encrypted = None

    timeout_s = 1.0

    def __init__(self, mtu: int = 27) -> None:
        self.mtu = mtu
        self.server = SmpServer(device=None, reboot=self._reboot)  # type: ignore[arg-type]
        self.ble = SimpleNamespace(client=object(), queues={})
        self.rx = Reassembler()
        self.notifications: deque[bytes] = deque()
        self.rebooted = False
        self.allow_reboot = False

    async def _reboot(self) -> None:
        self.rebooted = True

    def ensure_connected(self) -> None:
        pass

    def subscribe(self, uuid: str) -> None:
        self.ble.queues[uuid] = self.notifications

    def drain(self, uuid: str) -> list:
        out = list(self.notifications)
        self.notifications.clear()
        return out

    def write(self, uuid: str, data: bytes, response: bool = False, timeout_s: float | None = None) -> None:
        assert uuid == SMP_CHARACTERISTIC and not response and len(data) <= self.mtu - 3
        for frame in self.rx.feed(data):
            rsp, after = self.server.handle(frame)
            if after is not None:
                self.rebooted = True
            self.notifications.extend(split(rsp, self.mtu - 3))

    def notification(self, uuid: str, timeout_s: float | None = None) -> SimpleNamespace:
        if not self.notifications:
            raise TimeoutError("no SMP notification")
        return SimpleNamespace(data=self.notifications.popleft())


@given(st.lists(st.text(max_size=300), min_size=1, max_size=4), st.integers(1, 64))
def test_reassembler_recovers_frames_split_anywhere(texts, cut):
    frames = [bytes(osm.EchoWriteRequest(d=t)) for t in texts]
    rx = Reassembler()
    got = [f for chunk in split(b"".join(frames), cut) for f in rx.feed(chunk)]
    assert got == frames


def test_echo_spans_notifications():
    ota = SmpOta(FakeDut(mtu=23))
    assert ota.echo("x" * 120) == "x" * 120


def test_parameters_and_image_state():
    ota = SmpOta(FakeDut())
    assert ota.parameters() == (BUF_SIZE, 4)
    assert [i["slot"] for i in ota.image_state()] == [0]


@pytest.mark.parametrize("size", [1, BUF_SIZE - 100, 3 * BUF_SIZE + 17])
def test_upload_matches_and_is_reported_in_slot_1(size):
    from bench.dut import mcuboot

    image = mcuboot.sign(bytes(range(256)) * (size // 256) + bytes(size % 256), None, "1.0.0")
    ota = SmpOta(FakeDut(mtu=247))
    assert ota.upload(image) is True
    slot1 = [i for i in ota.image_state() if i["slot"] == 1]
    assert slot1 and bytes(slot1[0]["hash"]) == mcuboot.stored_hash(image)  # the image's hash TLV, as mcumgr shows


def test_wrong_sha_is_no_match():
    from smp import image_management as img

    from bench.dut import mcuboot

    ota = SmpOta(FakeDut(mtu=247))
    image = mcuboot.sign(b"abc", None, "1.0.0")
    rsp = ota.request(img.ImageUploadWriteRequest(off=0, data=image, image=0, len=len(image), sha=bytes(32)),
                      img.ImageUploadWriteResponse)
    assert rsp.off == len(image) and rsp.match is False


def test_raw_binary_is_refused_on_the_first_chunk():
    with pytest.raises(SmpError, match="group 1 command 1"):
        SmpOta(FakeDut(mtu=247)).upload(b"\x00" * 5000)


def test_reset_answers_then_reboots():
    dut = FakeDut()
    SmpOta(dut).reset()
    assert dut.rebooted and dut.allow_reboot


def test_unsupported_command_raises_naming_it():
    ota = SmpOta(FakeDut())
    with pytest.raises(SmpError, match="group 0 command 2"):
        ota.request(osm.TaskStatisticsReadRequest(), osm.TaskStatisticsReadResponse)
