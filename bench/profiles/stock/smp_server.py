"""The SMP (mcumgr) server of the stock reference device, as Zephyr's mcumgr BLE transport behaves.

Write without response in, notifications out, frames put back together by the SMP header length and
responses split to the ATT payload (MTU − 3). Answers OS echo, OS reset (then reboots), MCUMgr
parameters, image state read and write (test / confirm) and image upload into slot 1 (the first chunk
must carry an MCUboot header, as Zephyr's img_mgmt checks; an interrupted upload resumes at the offset
the device reports, also when the client starts again at offset 0 with the same sha; the whole transfer
is checked against the sha when one is sent). Slots, swap,
signature check and rollback are the boot loader's (mcuboot.py). Anything else gets ``rc: ENOTSUP``,
as Zephyr answers a group or command it was built without.
The phone half is bench/dut/smp.py (smpclient); both decode and encode with the ``smp`` package's models.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Awaitable, Callable

import cbor2
from bumble import att, gatt
from bumble.device import Connection, Device
from smp import header as smphdr
from smp import image_management as img
from smp import os_management as osm
from smp.error import MGMT_ERR
from smp.message import Request, Response

from bench.dut import mcuboot
from bench.dut.smp import HEADER_SIZE, SMP_CHARACTERISTIC, SMP_SERVICE, Reassembler, split
from bench.profiles.stock.mcuboot import Bootloader, factory_image

BUF_SIZE = 2048  # CONFIG_MCUMGR_TRANSPORT_NETBUF_SIZE of a DFU-tuned build
BUF_COUNT = 4


def _read_not_permitted(_connection: Connection) -> bytes:
    raise att.ATT_Error(att.ATT_READ_NOT_PERMITTED_ERROR)


class SmpServer:
    """The SMP service on ``device``; ``reboot`` is awaited after an OS reset has been answered."""

    def __init__(self, device: Device, reboot: Callable[[], Awaitable[None]], bootloader: Bootloader | None = None) -> None:
        self.device = device
        self.reboot = reboot
        self.bootloader = bootloader or Bootloader(factory_image())
        rw = gatt.Characteristic.Properties
        # the link security a request needs (Zephyr's BT_SECURITY_L1..L4); use_security() sets it
        self.required_level = 1
        self.level_of: Callable[[Connection], int] = lambda _connection: 1
        # our own CCCD, so subscribing can be refused as CONFIG_MCUMGR_TRANSPORT_BT_PERM_RW_* refuses it
        cccd = gatt.Descriptor(gatt.GATT_CLIENT_CHARACTERISTIC_CONFIGURATION_DESCRIPTOR,
                               att.Attribute.READABLE | att.Attribute.WRITEABLE,
                               att.AttributeValueV2(self._read_cccd, write=self._write_cccd))
        self.characteristic: gatt.Characteristic[bytes] = gatt.Characteristic(
            SMP_CHARACTERISTIC, rw.WRITE_WITHOUT_RESPONSE | rw.NOTIFY, gatt.Characteristic.WRITEABLE,
            gatt.CharacteristicValue(read=_read_not_permitted, write=self._on_write), [cccd])
        self.service = gatt.Service(SMP_SERVICE, [self.characteristic])
        self._rx: dict[Connection, Reassembler] = {}
        self._outbox: asyncio.Queue[tuple[Connection, bytes, Callable[[], Awaitable[None]] | None]] = asyncio.Queue()
        self._task: asyncio.Task | None = None
        # image upload state: slot 1 (the secondary slot a DFU writes)
        self.upload_len = 0
        self.upload_sha: bytes | None = None
        self.upload = bytearray()
        self.enabled = True  # False while the device is off (rebooting)

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._sender())

    def boot(self) -> list[str]:
        """Power-on or reset: the boot loader runs (its console lines are returned); RAM state is gone."""
        self.upload_len, self.upload_sha, self.upload = 0, None, bytearray()
        self._rx.clear()
        self.enabled = True
        return self.bootloader.boot()

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def disconnected(self, connection: Connection) -> None:
        self._rx.pop(connection, None)

    # -- security ---------------------------------------------------------------------------------
    def use_security(self, level_of: Callable[[Connection], int], required_level: int) -> None:
        """Requests and subscriptions need the link at ``required_level`` (2 encrypted, 4 authenticated LESC),
        as NCS's CONFIG_MCUMGR_TRANSPORT_BT_PERM_RW_ENCRYPT / _AUTHEN; ``level_of`` tells a link's level."""
        self.level_of, self.required_level = level_of, required_level

    def _check(self, bearer: att.Bearer) -> None:
        """Zephyr's bt_gatt_check_perm: unencrypted → Insufficient Authentication (the phone then pairs),
        encrypted below the level → Insufficient Authentication too (an unauthenticated key)."""
        connection = bearer if isinstance(bearer, Connection) else bearer.connection
        if self.level_of(connection) < self.required_level:
            raise att.ATT_Error(att.ATT_INSUFFICIENT_AUTHENTICATION_ERROR)

    def _read_cccd(self, bearer: att.Bearer) -> bytes:
        self._check(bearer)
        return self.device.gatt_server.read_cccd(bearer, self.characteristic)

    def _write_cccd(self, bearer: att.Bearer, value: bytes) -> None:
        self._check(bearer)
        self.device.gatt_server.write_cccd(bearer, self.characteristic, value)

    # -- transport --------------------------------------------------------------------------------
    def _on_write(self, connection: Connection, value: bytes) -> None:
        if not self.enabled:
            return
        self._check(connection)  # a write without response is dropped: the phone sees no answer
        rx = self._rx.setdefault(connection, Reassembler())
        for frame in rx.feed(bytes(value)):
            self._outbox.put_nowait((connection, *self.handle(frame)))

    async def _sender(self) -> None:
        """Notifications in order: a response's fragments must not interleave with the next one's."""
        while True:
            connection, frame, after = await self._outbox.get()
            for chunk in split(frame, connection.att_mtu - 3):
                try:
                    await self.device.notify_subscriber(connection, self.characteristic, chunk)
                except Exception:  # noqa: BLE001 - the link went down mid-response
                    break
            if after is not None:
                await asyncio.sleep(0.05)  # let the response reach the phone before resetting
                asyncio.ensure_future(after())

    # -- management groups ------------------------------------------------------------------------
    def handle(self, frame: bytes) -> tuple[bytes, Callable[[], Awaitable[None]] | None]:
        """One request frame → (response frame, what to do after it is sent)."""
        hdr = smphdr.Header.loads(frame[:HEADER_SIZE])
        key = (int(hdr.group_id), int(hdr.command_id), hdr.op)
        entry = HANDLERS.get(key)
        if entry is None:
            return _error(hdr, MGMT_ERR.ENOTSUP), None
        request_cls, method = entry
        try:
            request = request_cls.loads(frame)
        except Exception:  # noqa: BLE001 - a malformed request gets EINVAL, like Zephyr's CBOR decoder
            return _error(hdr, MGMT_ERR.EINVAL), None
        response, after = getattr(self, method)(request)
        return bytes(response), after

    def echo(self, req: osm.EchoWriteRequest) -> tuple[Response, None]:
        return osm.EchoWriteResponse(sequence=req.header.sequence, r=req.d), None

    def reset(self, req: osm.ResetWriteRequest) -> tuple[Response, Callable[[], Awaitable[None]]]:
        return osm.ResetWriteResponse(sequence=req.header.sequence), self.reboot

    def parameters(self, req: osm.MCUMgrParametersReadRequest) -> tuple[Response, None]:
        return osm.MCUMgrParametersReadResponse(sequence=req.header.sequence, buf_size=BUF_SIZE,
                                                buf_count=BUF_COUNT), None

    def _states(self) -> list[img.ImageState]:
        return [img.ImageState(**state) for state in self.bootloader.states()]

    def image_state(self, req: img.ImageStatesReadRequest) -> tuple[Response, None]:
        return img.ImageStatesReadResponse(sequence=req.header.sequence, images=self._states()), None

    def image_state_write(self, req: img.ImageStatesWriteRequest) -> tuple[Response | bytes, None]:
        refused = self.bootloader.request(req.hash, bool(req.confirm))
        if refused is not None:
            return _error(req.header, MGMT_ERR.EINVAL), None
        return img.ImageStatesWriteResponse(sequence=req.header.sequence, images=self._states()), None

    def image_upload(self, req: img.ImageUploadWriteRequest) -> tuple[Response | bytes, None]:
        seq = req.header.sequence
        if req.off == 0:
            if req.len is None or not mcuboot.has_header(req.data):  # img_mgmt: no MCUboot header, no upload
                return _error(req.header, MGMT_ERR.EINVAL), None
            if req.sha and req.sha == self.upload_sha:  # the same upload, interrupted: Zephyr's img_mgmt goes on
                return img.ImageUploadWriteResponse(sequence=seq, off=len(self.upload)), None
            self.upload_len, self.upload_sha, self.upload = req.len, req.sha, bytearray()
            self.bootloader.erase_secondary()
        if req.off != len(self.upload):  # out of order or resumed: tell the client where to go on (Zephyr does)
            return img.ImageUploadWriteResponse(sequence=seq, off=len(self.upload)), None
        self.upload += req.data[:self.upload_len - len(self.upload)]
        if len(self.upload) < self.upload_len:
            return img.ImageUploadWriteResponse(sequence=seq, off=len(self.upload)), None
        self.bootloader.write_secondary(bytes(self.upload))
        match = None if self.upload_sha is None else hashlib.sha256(self.upload).digest() == self.upload_sha
        done = len(self.upload)
        self.upload_len, self.upload_sha, self.upload = 0, None, bytearray()  # img_mgmt_reset_upload: the next starts anew
        return img.ImageUploadWriteResponse(sequence=seq, off=done, match=match), None


HANDLERS: dict[tuple[int, int, smphdr.OP], tuple[type[Request], str]] = {
    (0, 0, smphdr.OP.WRITE): (osm.EchoWriteRequest, "echo"),
    (0, 5, smphdr.OP.WRITE): (osm.ResetWriteRequest, "reset"),
    (0, 6, smphdr.OP.READ): (osm.MCUMgrParametersReadRequest, "parameters"),
    (1, 0, smphdr.OP.READ): (img.ImageStatesReadRequest, "image_state"),
    (1, 0, smphdr.OP.WRITE): (img.ImageStatesWriteRequest, "image_state_write"),
    (1, 1, smphdr.OP.WRITE): (img.ImageUploadWriteRequest, "image_upload"),
}


def _error(hdr: smphdr.Header, rc: MGMT_ERR) -> bytes:
    """A version-1 error answer (``{"rc": n}``) with the request's group, command and sequence."""
    body = cbor2.dumps({"rc": int(rc)})
    op = smphdr.OP.READ_RSP if hdr.op == smphdr.OP.READ else smphdr.OP.WRITE_RSP
    rsp = smphdr.Header(op=op, version=hdr.version, flags=hdr.flags, length=len(body), group_id=hdr.group_id,
                        sequence=hdr.sequence, command_id=hdr.command_id)
    return bytes(rsp) + body
