"""SMP client (bench/dut/smp.py: smpclient over DutTransport) against the stock device's server
(bench/profiles/stock/smp_server.py).

In memory: a stand-in for the DUT's BleLink, on a real session loop, carries the transport's writes to
``SmpServer.handle`` and its responses back as MTU-sized notifications, so framing, reassembly, smpclient's
requests and upload and our resume are tested without a radio.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from smp import header as smphdr
from smp import image_management as img
from smp import os_management as osm
from smp.error import MGMT_ERR
from smpclient.requests import image_management as imgreq
from smpclient.requests import os_management as osreq

from bench.dut import mcuboot
from bench.dut.smp import HEADER_SIZE, SMP_CHARACTERISTIC, Reassembler, SmpError, SmpOta, split
from bench.errors import DutTimeout, LinkLost
from bench.links.ble import NotificationQueue
from bench.links.loop import LoopThread, LoopTimeout
from bench.profiles.stock.smp_server import BUF_SIZE, SmpServer, _error


class FakeBle:
    """The BleLink calls DutTransport makes, looped back to an SmpServer (on the loop, as bleak's are)."""
    address = None
    name = "loopback"

    def __init__(self, mtu: int, server: SmpServer) -> None:
        self.mtu, self.server = mtu, server
        self.client: object | None = object()
        self.queues: dict[str, NotificationQueue] = {}
        self.disconnected = asyncio.Event()
        self.disconnect_reason: str | None = None
        self.rx = Reassembler()
        self.upload_offsets: list[int] = []  # ``off`` of every upload request the device got
        self.before_answer: list[bytes] = []  # frames delivered ahead of the next answer
        self.mute = False
        self.reboots = 0  # answers the device would reboot after

    @property
    def is_connected(self) -> bool:
        return self.client is not None

    async def subscribe(self, uuid: str, timeout_s: float = 5.0) -> NotificationQueue:
        return self.queues.setdefault(uuid, NotificationQueue(uuid))

    async def write(self, uuid: str, data: bytes, response: bool = False, timeout_s: float = 5.0) -> None:
        if self.client is None:
            raise LinkLost("not connected")
        assert uuid == SMP_CHARACTERISTIC and not response and len(data) <= self.mtu - 3
        for frame in self.rx.feed(data):
            hdr = smphdr.Header.loads(frame[:HEADER_SIZE])
            if (int(hdr.group_id), int(hdr.command_id)) == (1, 1):
                self.upload_offsets.append(img.ImageUploadWriteRequest.loads(frame).off)
            rsp, after = self.server.handle(frame)
            self.reboots += after is not None
            if self.mute or uuid not in self.queues:
                continue
            for out in [*self.before_answer, rsp]:
                for chunk in split(out, self.mtu - 3):
                    self.queues[uuid].put(bytearray(chunk))
            self.before_answer = []

    def lose(self) -> None:
        """The link drops: the subscription goes with it; the device keeps its state."""
        self.client, self.disconnect_reason = None, "connection timeout"
        self.queues.clear()
        self.rx.reset()
        self.disconnected.set()


class FakeDut:
    """The few facade calls SmpOta makes: a loop thread, ``run``, connect after a lost link."""
    pairing_mode = None  # the loop-back link does not pair: SmpOta.secure has nothing to do
    encrypted = None
    timeout_s = 1.0

    def __init__(self, mtu: int = 27) -> None:
        self.loop = LoopThread("test-smp")
        self.server = SmpServer(device=None, reboot=self._reboot)  # type: ignore[arg-type]
        self.ble = FakeBle(mtu, self.server)
        self.allow_reboot = False
        self.connects = 0

    async def _reboot(self) -> None:
        pass

    @property
    def mtu(self) -> int:
        return self.ble.mtu

    def run(self, aw, timeout_s=None, what=""):
        try:
            return self.loop.run(aw, (timeout_s or self.timeout_s) + 1.0, what)
        except LoopTimeout as e:
            raise DutTimeout(str(e)) from None

    def ensure_connected(self) -> None:
        if self.ble.client is None:
            self.ble.client = object()
            self.ble.disconnected.clear()
            self.connects += 1


@pytest.fixture
def make_ota():
    duts: list[FakeDut] = []

    def make(mtu: int = 27) -> SmpOta:
        duts.append(FakeDut(mtu))
        return SmpOta(duts[-1])
    yield make
    for dut in duts:
        dut.loop.close()


def _image(size: int) -> bytes:
    return mcuboot.sign(bytes(range(256)) * (size // 256) + bytes(size % 256), None, "1.0.0")


@given(st.lists(st.text(max_size=300), min_size=1, max_size=4), st.integers(1, 64))
def test_reassembler_recovers_frames_split_anywhere(texts, cut):
    frames = [bytes(osm.EchoWriteRequest(d=t)) for t in texts]
    rx = Reassembler()
    got = [f for chunk in split(b"".join(frames), cut) for f in rx.feed(chunk)]
    assert got == frames


def test_echo_spans_notifications(make_ota):
    ota = make_ota(mtu=23)
    assert ota.echo("x" * 120) == "x" * 120


def test_connect_reads_parameters_for_smpclient(make_ota):
    ota = make_ota()
    assert ota.image_state()[0]["slot"] == 0
    assert ota.buf_size == BUF_SIZE and ota.transport.max_unencoded_size == BUF_SIZE
    assert ota.parameters() == (BUF_SIZE, 4)


@pytest.mark.parametrize("size", [1, BUF_SIZE - 100, 3 * BUF_SIZE + 17])
def test_upload_matches_and_is_reported_in_slot_1(make_ota, size):
    image = _image(size)
    ota = make_ota(mtu=247)
    seen = []
    assert ota.upload(image, progress=seen.append) is True
    assert seen[-1] == len(image) and seen == sorted(seen)
    assert all(0 < b - a <= BUF_SIZE for a, b in zip([0, *seen], seen)), "chunks must fit the device's buffer"
    slot1 = [i for i in ota.image_state() if i["slot"] == 1]
    assert slot1 and bytes(slot1[0]["hash"]) == mcuboot.stored_hash(image)  # the image's hash TLV, as mcumgr shows


def test_upload_resumes_at_the_devices_offset_after_the_link_drops(make_ota):
    image = _image(6 * BUF_SIZE)
    ota = make_ota(mtu=247)
    dut = ota.dut
    dropped: list[int] = []

    def drop_once(off: int) -> None:
        if not dropped and off > len(image) // 3:
            dropped.append(off)
            dut.ble.lose()
    assert ota.upload(image, progress=drop_once) is True
    assert ota.resumed == 1 and dut.connects == 1
    offsets = dut.ble.upload_offsets
    again = offsets.index(0, 1)  # smpclient starts again at 0 with the sha ...
    assert offsets[again + 1] == dropped[0], f"... and goes on where the device stands: {offsets}"


def test_upload_gives_up_after_resumes(make_ota):
    ota = make_ota(mtu=247)
    with pytest.raises(LinkLost, match=r"link lost at offset \d+ 3 times"):
        ota.upload(_image(3 * BUF_SIZE), resumes=2, progress=lambda off: ota.dut.ble.lose())
    assert ota.resumed == 2


def test_upload_stops_at_its_deadline(make_ota):
    ota = make_ota(mtu=247)
    ota.parameters()
    ota.dut.ble.mute = True  # requests are taken, never answered (a dropped write without response)
    t0 = time.monotonic()
    with pytest.raises(DutTimeout, match="at offset 0 after 0.5 s"):
        ota.upload(_image(3 * BUF_SIZE), timeout_s=0.5)
    assert time.monotonic() - t0 < 2.5


def test_wrong_sha_is_no_match(make_ota):
    ota = make_ota(mtu=247)
    image = mcuboot.sign(b"abc", None, "1.0.0")
    rsp = ota.request(imgreq.ImageUploadWrite(off=0, data=image, image=0, len=len(image), sha=bytes(32)))
    assert rsp.off == len(image) and rsp.match is False


def test_upload_reports_a_mismatch_as_false(make_ota):
    ota = make_ota(mtu=247)
    image = _image(BUF_SIZE)
    real = ota.dut.server.image_upload

    def corrupt_sha(req):
        if req.off == 0 and req.sha:
            req = req.model_copy(update={"sha": bytes(32)})
        return real(req)
    ota.dut.server.image_upload = corrupt_sha
    assert ota.upload(image) is False


def test_raw_binary_is_refused_on_the_first_chunk(make_ota):
    with pytest.raises(SmpError, match="group 1 command 1.*EINVAL"):
        make_ota(mtu=247).upload(b"\x00" * 5000)


def test_reset_answers_then_reboots(make_ota):
    ota = make_ota()
    ota.reset()
    assert ota.dut.allow_reboot and ota.dut.ble.reboots == 1


def test_legacy_rc_0_is_success(make_ota):
    ota = make_ota()
    ota.dut.server.reset = lambda req: (_error(req.header, MGMT_ERR.EOK), None)  # CONFIG_MCUMGR_SMP_LEGACY_RC_BEHAVIOUR
    ota.reset()


def test_unsupported_command_raises_naming_it(make_ota):
    ota = make_ota()
    with pytest.raises(SmpError, match="group 0 command 2: device answered rc ENOTSUP"):
        ota.request(osreq.TaskStatisticsRead())


def test_a_late_answer_to_an_earlier_request_is_skipped(make_ota):
    ota = make_ota(mtu=23)
    ota.echo("first")
    ota.dut.ble.before_answer = [bytes(osm.EchoWriteResponse(sequence=200, r="stale"))]
    assert ota.echo("second") == "second"


def test_a_link_lost_while_waiting_raises_link_lost_at_once(make_ota):
    ota = make_ota()
    ota.dut.timeout_s = 5.0
    ota.echo("up")
    ota.dut.ble.mute = True
    ota.dut.loop.loop.call_soon_threadsafe(ota.dut.loop.loop.call_later, 0.05, ota.dut.ble.lose)
    t0 = time.monotonic()
    with pytest.raises(LinkLost, match="lost while waiting"):
        ota.echo("no answer")
    assert time.monotonic() - t0 < 2.0, "the request waited out its timeout instead of seeing the link go"
