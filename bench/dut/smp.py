"""SMP (mcumgr) over BLE, the OTA protocol of stock Zephyr / nRF Connect SDK firmware: the phone side.

smpclient's ``SMPClient`` makes the requests (its typed requests pair each with its response and error
models from the ``smp`` package) and runs the image upload, so what goes over the air is what smpclient /
smpmgr send. ``DutTransport``, its transport, rides on the harness's own connection (the DUT facade's
BleLink, on the session loop) instead of opening one: requests go by write without response to the SMP
characteristic, split to the ATT payload; responses come back as notifications, put back together by the
length in the 8-byte SMP header. ``discover()`` in bench/dut/sig.py offers ``ota`` whenever the DUT has
the SMP characteristic, whatever its profile. The reference side is bench/profiles/stock/smp_server.py.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable, Iterator, TypeVar

from smp import header as smphdr
from smp import image_management as img
from smp.error import MGMT_ERR
from smp.message import Response
from smpclient import SMPClient
from smpclient.exceptions import SMPUploadError, SMPValidationException
from smpclient.generics import SMPRequest, TEr1, TEr2, TRep, error, error_v1
from smpclient.requests import image_management as imgreq
from smpclient.requests import os_management as osreq
from smpclient.transport import SMPTransport

from bench.errors import DutTimeout, LinkLost, ProtocolViolation

if TYPE_CHECKING:
    from bench.dut.glasses import Dut

SMP_SERVICE = "8d53dc1d-1db7-4cd3-868b-8a527460aa84"
SMP_CHARACTERISTIC = "da2e7828-fbce-4e01-ae9e-261174997c48"
HEADER_SIZE = smphdr.Header.SIZE

T = TypeVar("T")


class SmpError(ProtocolViolation):
    """The device answered an SMP request with an error (``rc`` or ``err``), or with a frame that is no answer."""


class Reassembler:
    """Bytes of one direction of an SMP stream → whole SMP frames (header + CBOR), by the header length."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> Iterator[bytes]:
        self._buffer += data
        while len(self._buffer) >= HEADER_SIZE:
            length = smphdr.Header.loads(bytes(self._buffer[:HEADER_SIZE])).length
            end = HEADER_SIZE + length
            if len(self._buffer) < end:
                return
            frame = bytes(self._buffer[:end])
            del self._buffer[:end]
            yield frame

    def reset(self) -> None:
        self._buffer.clear()


def split(frame: bytes, payload_size: int) -> list[bytes]:
    """A frame cut into ATT payloads (MTU − 3)."""
    return [frame[i:i + payload_size] for i in range(0, len(frame), payload_size)]


class DutTransport(SMPTransport):
    """smpclient's transport over the DUT's existing link: the facade's BleLink writes and notification
    queue, awaited on the session loop. No second connection and no BleakClient of its own, so pairing,
    bonds, link parameters and reconnects stay the harness's (SmpOta calls ``connect`` again on a new link)."""

    def __init__(self, dut: "Dut") -> None:
        self.dut = dut
        self._rx = Reassembler()
        self._frames: deque[bytes] = deque()
        self.last_frame: bytes | None = None  # the last answer (upload's ``match`` is not in what smpclient yields)
        self.buf_size: int | None = None  # the device's SMP buffer, once SMPClient read MCUMgr parameters

    async def connect(self, address: str, timeout_s: float) -> None:
        """Subscribe to SMP notifications on the link as it is (it is up: SmpOta connects and pairs first)."""
        self.reset()
        await self.dut.ble.subscribe(SMP_CHARACTERISTIC, timeout_s)

    async def disconnect(self) -> None:
        self.reset()  # the link is the DUT facade's: it stays

    def initialize(self, smp_server_transport_buffer_size: int) -> None:
        """SMPClient passes the device's buffer here (its upload fills requests to it)."""
        super().initialize(smp_server_transport_buffer_size)
        self.buf_size = smp_server_transport_buffer_size

    def reset(self) -> None:
        self._rx.reset()
        self._frames.clear()

    async def send(self, data: bytes) -> None:
        for chunk in split(data, self.mtu):
            await self.dut.ble.write(SMP_CHARACTERISTIC, chunk, response=False, timeout_s=self.dut.timeout_s)

    async def receive(self) -> bytes:
        while not self._frames:
            self._frames.extend(self._rx.feed(await self._notification()))
        return self._frames.popleft()

    async def send_and_receive(self, data: bytes) -> bytes:
        """Send a request, return the answer with its group and sequence; anything older (a late answer to
        a request that timed out) is dropped. SMPClient.request bounds this with its timeout."""
        sent = smphdr.Header.loads(data[:HEADER_SIZE])
        queue = self.dut.ble.queues.get(SMP_CHARACTERISTIC)
        if queue is not None:
            queue.drain()
        self.reset()
        await self.send(data)
        while True:
            frame = await self.receive()
            hdr = smphdr.Header.loads(frame[:HEADER_SIZE])
            if hdr.sequence == sent.sequence and hdr.group_id == sent.group_id:
                self.last_frame = frame
                return frame

    async def _notification(self) -> bytes:
        """The next SMP notification; LinkLost as soon as the link drops (no waiting out the timeout)."""
        ble = self.dut.ble
        queue = ble.queues.get(SMP_CHARACTERISTIC)
        if queue is None or not ble.is_connected:
            raise LinkLost(f"no SMP subscription on the link to {ble.address or ble.name!r} (lost or re-made since)")
        got = asyncio.ensure_future(queue.queue.get())
        lost = asyncio.ensure_future(ble.disconnected.wait())
        try:
            done, _ = await asyncio.wait((got, lost), return_when=asyncio.FIRST_COMPLETED)
        finally:
            got.cancel()
            lost.cancel()
        if got in done:
            return got.result().data
        raise LinkLost(f"SMP: link to {ble.address or ble.name!r} lost while waiting for an answer: "
                       f"{ble.disconnect_reason or 'disconnected'}")

    @property
    def mtu(self) -> int:
        return self.dut.mtu - 3  # ATT payload of a write without response


def describe(rsp: Any) -> str:
    """An error answer in words: ``rc EINVAL (3)``, ``err group 1 rc NO_IMAGE (3)``."""
    def code(rc: Any) -> str:
        try:
            name = getattr(rc, "name", None) or MGMT_ERR(rc).name
        except ValueError:  # a group's own code outside the general ones
            name = "?"
        return f"{name} ({int(rc)})"
    if getattr(rsp, "err", None) is not None:
        return f"err group {int(rsp.err.group)} rc {code(rsp.err.rc)}"
    return f"rc {code(rsp.rc)}" + (f": {rsp.rsn}" if getattr(rsp, "rsn", None) else "")


class SmpOta:
    """``ota`` (bench.capabilities.Ota) over the DUT's SMP characteristic: smpclient on the DUT's link."""

    def __init__(self, dut: "Dut") -> None:
        self.dut = dut
        self.pair_before_ota = True  # False: talk SMP on the link as it is (a test of the refusal)
        self.transport = DutTransport(dut)
        self.client = SMPClient(self.transport, dut.ble.address or dut.ble.name or "dut", timeout_s=dut.timeout_s)
        self._subscribed_on: Any = None  # the BLE client (connection) the subscription was made on
        self.buf_size: int | None = None  # the device's SMP buffer (MCUMgr parameters), once read
        self.resumed = 0  # times the last upload was resumed after a lost link
        self.offset = 0  # where the last upload stands (the device's offset at its last answer)

    def drop(self) -> None:
        """The link is going down: subscribe again on the next connection."""
        self._subscribed_on = None
        self.transport.reset()

    def secure(self) -> None:
        """Pair (or encrypt from the bond: connect does that) before OTA when the DUT pairs: NCS builds
        protect the SMP characteristic (CONFIG_MCUMGR_TRANSPORT_BT_PERM_RW_AUTHEN / _ENCRYPT)."""
        dut = self.dut
        if self.pair_before_ota and dut.pairing_mode in ("just-works", "passkey") and dut.encrypted is False:
            dut.pair(passkey=dut.displayed_passkey if dut.pairing_mode == "passkey" else None)

    def _ready(self) -> None:
        """Connected, secured and subscribed; on a new connection smpclient's connect runs again (subscribe,
        then MCUMgr parameters, which size its upload chunks to the device's buffer)."""
        dut = self.dut
        dut.ensure_connected()
        if self._subscribed_on is not dut.ble.client or SMP_CHARACTERISTIC not in dut.ble.queues:
            self.secure()
            self._run(self.client.connect(dut.timeout_s), 2 * dut.timeout_s, "SMP subscribe and MCUMgr parameters")
            self._subscribed_on = dut.ble.client
            self.buf_size = self.transport.buf_size

    def _run(self, aw: Awaitable[T], timeout_s: float, what: str) -> T:
        """Run on the session loop; smpclient's exceptions become the bench's."""
        try:
            return self.dut.run(aw, timeout_s, what)
        except TimeoutError as e:  # SMPClient.request's own timeout
            raise DutTimeout(f"{what}: {e}") from None
        except SMPValidationException as e:
            raise SmpError(f"{what}: {e.msg.strip()}") from None

    def request(self, req: SMPRequest[TRep, TEr1, TEr2], timeout_s: float | None = None) -> TRep:
        """Send ``req`` (an smpclient request) and return its response; an error answer raises SmpError
        naming group, command and code."""
        self._ready()
        timeout = timeout_s or self.dut.timeout_s
        rsp = self._run(self.client.request(req, timeout), timeout, f"SMP {type(req).__name__}")
        where = f"SMP group {int(rsp.header.group_id)} command {int(rsp.header.command_id)}"
        if error(rsp):
            if error_v1(rsp) and rsp.rc == MGMT_ERR.EOK:  # Zephyr's legacy rc behaviour: {"rc": 0} is success
                return req._Response(sequence=rsp.header.sequence)
            raise SmpError(f"{where}: device answered {describe(rsp)}")
        if getattr(rsp, "rc", None) not in (None, 0):  # models with an optional rc parse {"rc": n} as success
            raise SmpError(f"{where}: device answered {describe(rsp)}")
        return rsp

    # -- the Ota contract -------------------------------------------------------------------------
    def echo(self, text: str) -> str:
        return self.request(osreq.EchoWrite(d=text)).r

    def image_state(self) -> list[dict[str, Any]]:
        images = self.request(imgreq.ImageStatesRead()).images
        return [image.model_dump(exclude_none=True) for image in images]

    # -- beyond the contract ----------------------------------------------------------------------
    def parameters(self) -> tuple[int, int]:
        """(buffer size, buffer count) of the device's SMP transport."""
        rsp = self.request(osreq.MCUMgrParametersRead())
        self.buf_size = rsp.buf_size
        self.transport.initialize(rsp.buf_size)
        return rsp.buf_size, rsp.buf_count

    def reset(self) -> None:
        """OS reset: the device answers, then reboots (the link drops)."""
        self.dut.allow_reboot = True
        self.request(osreq.ResetWrite())

    def upload(self, image: bytes, slot_image: int = 0, timeout_s: float = 30.0, resumes: int = 3,
               progress: Callable[[int], None] | None = None) -> bool | None:
        """smpclient's image upload (chunks filled to the device's SMP buffer); returns the device's sha ``match``.

        A link lost mid-upload is re-made and smpclient's upload started again: its first chunk carries the
        sha, and a device with that upload in progress answers with the offset it holds (Zephyr's img_mgmt),
        so it goes on from there; at most ``resumes`` times, counted in ``self.resumed``. ``progress(offset)``
        is called after every chunk, on the caller's thread (it may use the DUT facade)."""
        self.resumed, self.offset = 0, 0
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self._ready()
                left = max(0.1, deadline - time.monotonic())
                return self._drive(self.client.upload(image, slot_image, first_timeout_s=left, subsequent_timeout_s=left),
                                   image, deadline, progress)
            except (LinkLost, DutTimeout) as exc:
                if time.monotonic() > deadline:
                    raise DutTimeout(f"image upload of {len(image)} bytes: at offset {self.offset} after "
                                     f"{timeout_s:g} s") from exc
                if self.resumed >= resumes:
                    raise type(exc)(f"image upload of {len(image)} bytes: link lost at offset {self.offset} "
                                    f"{self.resumed + 1} times: {exc}") from exc
                self.resumed += 1
                self.drop()

    def _drive(self, uploads: AsyncIterator[int], image: bytes, deadline: float,
               progress: Callable[[int], None] | None) -> bool | None:
        """Step smpclient's upload one chunk at a time on the session loop, checking each offset the device
        reports. (A generator left at a yield is closed on that loop when collected: asyncio's hooks.)"""
        what = f"image upload of {len(image)} bytes"
        stalled = 0
        while True:
            try:
                off = self._run(_next(uploads), max(0.1, deadline - time.monotonic()), what)
            except SMPUploadError as e:
                last = self._last_upload_response()
                if last is not None and last.match is False:
                    return False  # smpclient refuses a mismatch; the contract reports it
                cause = e.args[0] if e.args and isinstance(e.args[0], Response) else last
                detail = describe(cause) if cause is not None and getattr(cause, "rc", 1) not in (None, 0) else str(e)
                raise SmpError(f"{what}: SMP group 1 command 1 at offset {self.offset}: device answered {detail}") from None
            if off is None:
                last = self._last_upload_response()
                return None if last is None else last.match
            if not 0 < off <= len(image):
                raise SmpError(f"{what}: device answered offset {off} to a chunk at offset {self.offset}")
            stalled = stalled + 1 if off <= self.offset else 0
            if stalled > 2:
                raise SmpError(f"{what}: the device stays at offset {off}")
            self.offset = off
            if progress is not None:
                progress(off)

    def _last_upload_response(self) -> img.ImageUploadWriteResponse | None:
        """The last answer, as an upload response (smpclient's upload yields only offsets)."""
        frame = self.transport.last_frame
        if frame is None or smphdr.Header.loads(frame[:HEADER_SIZE]).group_id != smphdr.GroupId.IMAGE_MANAGEMENT:
            return None
        try:
            return img.ImageUploadWriteResponse.loads(frame)
        except ValueError:  # an error model, or another command's answer
            return None

    def _state_write(self, digest: bytes | None, confirm: bool) -> list[dict[str, Any]]:
        fields: dict[str, Any] = {"confirm": confirm}
        if digest is not None:
            fields["hash"] = digest
        images = self.request(imgreq.ImageStatesWrite(**fields)).images
        return [image.model_dump(exclude_none=True) for image in images]

    def test(self, digest: bytes) -> list[dict[str, Any]]:
        """Mark the image with hash ``digest`` (its SHA-256 TLV) to boot once on the next reset."""
        return self._state_write(digest, False)

    def confirm(self, digest: bytes | None = None) -> list[dict[str, Any]]:
        """Confirm the running image (``digest`` None), or make ``digest`` the permanent next image."""
        return self._state_write(digest, True)


async def _next(uploads: AsyncIterator[int]) -> int | None:
    """The next offset smpclient's upload yields; None when it is done."""
    try:
        return await uploads.__anext__()
    except StopAsyncIteration:
        return None

