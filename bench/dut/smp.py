"""SMP (mcumgr) over BLE, the OTA protocol of stock Zephyr / nRF Connect SDK firmware: the phone side.

Requests go by write without response to the SMP characteristic, responses come back as notifications;
both are split to the ATT payload and put back together by the length in the 8-byte SMP header. The
messages are the ``smp`` package's models (encoding, CBOR, header), so what goes over the air is what
mcumgr / smpclient would send. ``discover()`` in bench/dut/sig.py offers ``ota`` whenever the DUT has
the SMP characteristic, whatever its profile. The reference side is bench/profiles/stock/smp_server.py.
"""

from __future__ import annotations

import hashlib
import time
from typing import TYPE_CHECKING, Any, Callable, Iterator, TypeVar

import cbor2
from smp import header as smphdr
from smp import image_management as img
from smp import os_management as osm
from smp.message import Request, Response

from bench.errors import DutTimeout, LinkLost, ProtocolViolation

if TYPE_CHECKING:
    from bench.dut.glasses import Dut

SMP_SERVICE = "8d53dc1d-1db7-4cd3-868b-8a527460aa84"
SMP_CHARACTERISTIC = "da2e7828-fbce-4e01-ae9e-261174997c48"
HEADER_SIZE = smphdr.Header.SIZE

R = TypeVar("R", bound=Response)


class SmpError(ProtocolViolation):
    """The device answered an SMP request with an error (``rc`` or ``err``)."""


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


def decode(frame: bytes, response: type[R]) -> R:
    """A response frame as ``response``; an error answer raises SmpError naming group, command and code."""
    hdr = smphdr.Header.loads(frame[:HEADER_SIZE])
    body = cbor2.loads(frame[HEADER_SIZE:]) if len(frame) > HEADER_SIZE else {}
    if "err" in body or body.get("rc") not in (None, 0):  # a non-zero rc is an error in every response
        raise SmpError(f"SMP group {int(hdr.group_id)} command {int(hdr.command_id)}: device answered {body}")
    return response.load(hdr, body)


class SmpOta:
    """``ota`` (bench.capabilities.Ota) over the DUT's SMP characteristic, through the DUT facade."""

    def __init__(self, dut: "Dut") -> None:
        self.dut = dut
        self.pair_before_ota = True  # False: talk SMP on the link as it is (a test of the refusal)
        self._subscribed_on: Any = None  # the BLE client (connection) the subscription was made on
        self._rx = Reassembler()
        self.buf_size: int | None = None  # the device's SMP buffer (MCUMgr parameters), once read
        self.resumed = 0  # times the last upload was resumed after a lost link

    def drop(self) -> None:
        """The link is going down: subscribe again on the next connection."""
        self._subscribed_on = None
        self._rx.reset()

    def secure(self) -> None:
        """Pair (or encrypt from the bond: connect does that) before OTA when the DUT pairs: NCS builds
        protect the SMP characteristic (CONFIG_MCUMGR_TRANSPORT_BT_PERM_RW_AUTHEN / _ENCRYPT)."""
        dut = self.dut
        if self.pair_before_ota and dut.pairing_mode in ("just-works", "passkey") and dut.encrypted is False:
            dut.pair(passkey=dut.displayed_passkey if dut.pairing_mode == "passkey" else None)

    def request(self, req: Request, response: type[R], timeout_s: float | None = None) -> R:
        """Send ``req`` and wait for the response with its sequence number."""
        dut = self.dut
        timeout = timeout_s or dut.timeout_s
        dut.ensure_connected()
        if self._subscribed_on is not dut.ble.client or SMP_CHARACTERISTIC not in dut.ble.queues:
            self.secure()
            dut.subscribe(SMP_CHARACTERISTIC)  # again after a reconnect (reboot, link loss)
            self._subscribed_on = dut.ble.client
        dut.drain(SMP_CHARACTERISTIC)
        self._rx.reset()
        for chunk in split(bytes(req), dut.mtu - 3):
            dut.write(SMP_CHARACTERISTIC, chunk, response=False, timeout_s=timeout)
        while True:
            for frame in self._rx.feed(dut.notification(SMP_CHARACTERISTIC, timeout).data):
                hdr = smphdr.Header.loads(frame[:HEADER_SIZE])
                if hdr.sequence == req.header.sequence and hdr.group_id == req.header.group_id:
                    return decode(frame, response)

    # -- the Ota contract -------------------------------------------------------------------------
    def echo(self, text: str) -> str:
        return self.request(osm.EchoWriteRequest(d=text), osm.EchoWriteResponse).r

    def image_state(self) -> list[dict[str, Any]]:
        images = self.request(img.ImageStatesReadRequest(), img.ImageStatesReadResponse).images
        return [image.model_dump(exclude_none=True) for image in images]

    # -- beyond the contract ----------------------------------------------------------------------
    def parameters(self) -> tuple[int, int]:
        """(buffer size, buffer count) of the device's SMP transport."""
        rsp = self.request(osm.MCUMgrParametersReadRequest(), osm.MCUMgrParametersReadResponse)
        self.buf_size = rsp.buf_size
        return rsp.buf_size, rsp.buf_count

    def reset(self) -> None:
        """OS reset: the device answers, then reboots (the link drops)."""
        self.dut.allow_reboot = True
        self.request(osm.ResetWriteRequest(), osm.ResetWriteResponse)

    def upload(self, image: bytes, slot_image: int = 0, timeout_s: float = 30.0, resumes: int = 3,
               progress: Callable[[int], None] | None = None) -> bool | None:
        """Upload ``image`` in chunks that fit the device's SMP buffer; returns the device's sha ``match``.

        A link lost mid-upload is re-made and the upload goes on where the device says it stands (it
        answers a chunk at another offset with its own offset, as Zephyr's img_mgmt does), at most
        ``resumes`` times; ``self.resumed`` counts them. ``progress(offset)`` is called after every chunk."""
        buf_size = self.buf_size or self.parameters()[0]
        sha = hashlib.sha256(image).digest()
        off, rsp, stalled = 0, None, 0
        self.resumed = 0
        deadline = time.monotonic() + timeout_s
        while off < len(image) or rsp is None:
            if time.monotonic() > deadline:
                raise DutTimeout(f"image upload of {len(image)} bytes: at offset {off} after {timeout_s:g} s")
            first = dict(image=slot_image, len=len(image), sha=sha) if off == 0 else {}
            overhead = len(bytes(img.ImageUploadWriteRequest(off=off, data=b"", **first))) + 4  # +4: bstr length
            chunk = image[off:off + max(1, buf_size - overhead)]
            try:
                rsp = self.request(img.ImageUploadWriteRequest(off=off, data=chunk, **first),
                                   img.ImageUploadWriteResponse, max(0.1, deadline - time.monotonic()))
            except (LinkLost, DutTimeout) as exc:
                if self.resumed >= resumes:
                    raise type(exc)(f"image upload of {len(image)} bytes: link lost at offset {off} "
                                    f"{self.resumed + 1} times: {exc}") from exc
                self.resumed += 1
                self.drop()
                self.dut.ensure_connected()
                continue  # send the same chunk again: the device answers with where it stands
            if rsp.off is None or not 0 < rsp.off <= len(image):
                raise SmpError(f"image upload of {len(image)} bytes: device answered offset {rsp.off} "
                               f"to a chunk at offset {off}")
            stalled = stalled + 1 if rsp.off <= off else 0
            if stalled > 2:
                raise SmpError(f"image upload of {len(image)} bytes: the device stays at offset {rsp.off}")
            off = rsp.off
            if progress is not None:
                progress(off)
        return rsp.match

    def _state_write(self, digest: bytes | None, confirm: bool) -> list[dict[str, Any]]:
        fields: dict[str, Any] = {"confirm": confirm}
        if digest is not None:
            fields["hash"] = digest
        images = self.request(img.ImageStatesWriteRequest(**fields), img.ImageStatesWriteResponse).images
        return [image.model_dump(exclude_none=True) for image in images]

    def test(self, digest: bytes) -> list[dict[str, Any]]:
        """Mark the image with hash ``digest`` (its SHA-256 TLV) to boot once on the next reset."""
        return self._state_write(digest, False)

    def confirm(self, digest: bytes | None = None) -> list[dict[str, Any]]:
        """Confirm the running image (``digest`` None), or make ``digest`` the permanent next image."""
        return self._state_write(digest, True)
