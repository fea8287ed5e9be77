"""The reference Omi device: the reference glasses' lifecycle (console, boot, crash, reboot, hang,
battery, link test) with the Omi GATT server instead of GLP.

SKU ``camera`` is an omiGlass (ESP32-S3 firmware: codec 21 Opus 20 ms, one notification per frame,
index counts frames, photo data/control); SKU ``audio`` is an Omi pendant (nRF firmware: index counts
notifications, frames fragmented, speaker characteristic). The mic streams while the phone is
subscribed to audio data, as in both firmwares. Seeded bugs (``--bug``): ``omi-photo-interval``
(a photo interval >= 33 s crashes the device), ``omi-speaker-len`` (a 77-byte speaker write hangs it 3 s).
"""

from __future__ import annotations

import asyncio
import random
from typing import Any, Iterable

from bumble import att, gatt, l2cap
from bumble.core import UUID, AdvertisingData
from bumble.device import Connection
from bumble.profiles.battery_service import BatteryService
from bumble.profiles.device_information_service import DeviceInformationService

from bench.audio.packets import AudioPacket
from bench.profiles.omi import gatt as og
from bench.reference.audio_pipeline import AudioPipeline, board_audio
from bench.reference.glasses import (
    LINK_TEST_ECHO,
    LINK_TEST_SERVICE,
    LINK_TEST_STREAM,
    ReferenceGlasses,
    _read_not_permitted,
)
from bench.reference.glasses_photo import synth_jpeg

BUGS = {"omi-photo-interval": "an interval of 33 s or more overflows an int16 of milliseconds: the camera task "
                              "divides by it and faults (fatal error, watchdog reset)",
        "omi-speaker-len": "a speaker write of exactly 77 bytes blocks the main loop for 3 s"}
BUG_KINDS = {"omi-photo-interval": "crash", "omi-speaker-len": "hang"}  # what the fuzzer must report each as
BUG_SKUS = {"omi-speaker-len": "audio"}  # the bug's code exists only on this SKU (the pendant has the speaker)
CRASH_INTERVAL_MIN = 33  # 33 * 1000 ms > INT16_MAX
HANG_SPEAKER_LEN = 77
MIC_STARTUP_MAX_S = 0.015  # PDM start-up varies: spreads stream phases over the connection interval
ATT_CID = 0x0004


class OmiDevice(ReferenceGlasses):
    """Omi / omiGlass on the timed radio; ``rig`` (the acoustic rig) feeds its mic."""

    app_version_line = False  # the Omi firmware logs no glassbench version line

    def __init__(self, *args: Any, rig: Any = None, codec: str = "opus", bugs: Iterable[str] = (),
                 seed: int = 0, **kwargs: Any) -> None:
        self.rig = rig
        self.codec = codec
        self.glass = False  # set in _build_gatt from the SKU
        self.bugs = set(bugs)
        unknown = self.bugs - set(BUGS)
        if unknown:
            raise ValueError(f"unknown Omi bug(s) {sorted(unknown)}; known: {sorted(BUGS)}")
        self.rng = random.Random(seed)
        self.uplink: AudioPipeline | None = None
        self.wire_index = 0
        self.sent_wire: dict[int, tuple[int, int, bool]] = {}  # wire index -> frame, fragment, last
        self.photo_task: asyncio.Task | None = None
        self.photo_interval_s = 0.0
        self.speaker_bytes = 0
        super().__init__(*args, seed=seed, **kwargs)  # type: ignore[misc]  # callers never pass seed in *args

    # -- GATT -------------------------------------------------------------------------------------
    def _build_gatt(self) -> None:
        p = self.profile
        self.glass = p.sku.camera
        self.dis = DeviceInformationService(
            manufacturer_name=p.manufacturer, model_number=p.sku.model, serial_number=p.serial_number,
            hardware_revision=p.board.hardware_revision, firmware_revision=p.firmware_version)
        self.battery = BatteryService(lambda _conn: self.battery_level_pct)
        props = gatt.Characteristic.Properties
        self.audio_data: gatt.Characteristic[bytes] = gatt.Characteristic(og.AUDIO_DATA, props.READ | props.NOTIFY, gatt.Characteristic.READABLE,
                                              gatt.CharacteristicValue(read=lambda _c: b""))
        self.audio_data.on(self.audio_data.EVENT_SUBSCRIPTION, self._on_audio_subscription)
        codec_id = og.CODEC_ID_BY_VARIANT[self.codec]
        self.audio_codec = gatt.Characteristic(og.AUDIO_CODEC, props.READ, gatt.Characteristic.READABLE,
                                               bytes([codec_id]))
        chars = [self.audio_data, self.audio_codec]
        if self.glass:
            self.photo_data = gatt.Characteristic(og.PHOTO_DATA, props.READ | props.NOTIFY,
                                                  gatt.Characteristic.READABLE, b"")
            self.photo_control: gatt.Characteristic[bytes] = gatt.Characteristic(
                og.PHOTO_CONTROL, props.WRITE, gatt.Characteristic.WRITEABLE,
                gatt.CharacteristicValue(read=_read_not_permitted, write=self._on_photo_control))
            chars += [self.photo_data, self.photo_control]
        else:
            self.speaker: gatt.Characteristic[bytes] = gatt.Characteristic(
                og.SPEAKER, props.WRITE | props.NOTIFY, gatt.Characteristic.WRITEABLE,
                gatt.CharacteristicValue(read=_read_not_permitted, write=self._on_speaker))
            chars.append(self.speaker)
        self.echo = gatt.Characteristic(
            LINK_TEST_ECHO, props.WRITE | props.WRITE_WITHOUT_RESPONSE | props.NOTIFY, gatt.Characteristic.WRITEABLE,
            gatt.CharacteristicValue(read=_read_not_permitted, write=self._on_echo_write))
        self.stream = gatt.Characteristic(
            LINK_TEST_STREAM, props.WRITE | props.NOTIFY, gatt.Characteristic.WRITEABLE,
            gatt.CharacteristicValue(read=_read_not_permitted, write=self._on_stream_write))
        self.glp = {}
        self.device.add_services([self.dis, self.battery, gatt.Service(og.SERVICE_UUID, chars),
                                  gatt.Service(LINK_TEST_SERVICE, [self.echo, self.stream])])

    async def start_advertising(self) -> None:
        p = self.profile
        adv = AdvertisingData([(AdvertisingData.FLAGS, bytes([0x06])),
                               (AdvertisingData.COMPLETE_LOCAL_NAME, p.device_name.encode())])
        scan_rsp = AdvertisingData([(AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
                                     UUID(og.SERVICE_UUID).to_bytes())])
        interval_ms = p.board.advertising_interval_s * 1000
        await self.device.start_advertising(
            auto_restart=True, advertising_data=bytes(adv), scan_response_data=bytes(scan_rsp),
            advertising_interval_min=interval_ms, advertising_interval_max=interval_ms)
        self.advertising_wanted = True
        if self.connection is None:
            self._power("advertising")
        self.log.info("ble", f"Advertising as \"{p.device_name}\"")

    def _notify(self, char: gatt.Characteristic, data: bytes) -> None:
        if self.connection is not None:
            self._outbox.put_nowait((self.connection, char, data))

    # -- audio ------------------------------------------------------------------------------------
    @property
    def streaming(self) -> bool:
        return self.uplink is not None

    def _on_audio_subscription(self, connection: Connection, notify_enabled: bool, _indicate: bool) -> None:
        if self.hung:
            return
        if notify_enabled and self.uplink is None:
            self._audio_start(connection)
        elif not notify_enabled:
            self._audio_stop()

    def _audio_start(self, connection: Connection) -> None:
        if self.rig is None:
            return
        board = board_audio(self.profile.board.name, codec=variant_codec(self.codec),
                            max_packet_bytes=connection.att_mtu - 3)
        self.rig.truth.reset_uplink()
        self.sent_wire.clear()
        self.uplink = AudioPipeline(self.rig, board, self._send_audio, mode="uplink",
                                    start_delay_s=self.rng.uniform(0.0, MIC_STARTUP_MAX_S))
        self.uplink.start()
        self.log.info("audio", f"Client subscribed: streaming {self.codec}")
        self._power_update()

    def _audio_stop(self) -> None:
        if self.uplink is not None:
            self.uplink.stop()
            self.uplink = None
            self.log.info("audio", "Client unsubscribed")
        self._power_update()

    def _send_audio(self, packet: bytes) -> None:
        """Bench packet (frame index, fragment, last bit) → Omi wire packet (no last bit)."""
        pkt = AudioPacket.parse(packet)
        if self.glass:  # omiGlass: one notification per frame, the index counts frames
            index = self.wire_index
            if pkt.last:
                self.wire_index = (self.wire_index + 1) & 0xFFFF
        else:  # Omi pendant: the index counts notifications
            index = self.wire_index
            self.wire_index = (self.wire_index + 1) & 0xFFFF
        self.sent_wire[index] = (pkt.frame_index, pkt.fragment, pkt.last)
        if not self.hung:
            self._notify(self.audio_data, og.wire(index, pkt.fragment, pkt.payload))

    def _power_update(self) -> None:
        update = getattr(self.power, "update", None)
        if update is not None:
            update()

    def _on_disconnection(self, connection: Connection, reason: int) -> None:
        self._audio_stop()
        self._photo_stop()
        super()._on_disconnection(connection, reason)

    async def _shutdown(self, graceful: bool) -> None:
        self._audio_stop()
        self._photo_stop()
        await super()._shutdown(graceful)

    # -- speaker (Omi pendant) ---------------------------------------------------------------------
    def _on_speaker(self, _connection: Connection, value: bytes) -> None:
        if self.hung:
            return
        if "omi-speaker-len" in self.bugs and len(value) == HANG_SPEAKER_LEN:
            self.hang(3.0)
            return
        self.speaker_bytes += len(value)
        self._notify(self.speaker, og.speaker_ack())

    # -- photo (omiGlass) ---------------------------------------------------------------------------
    def _on_photo_control(self, _connection: Connection, value: bytes) -> None:
        if self.hung or len(value) != 1:
            return  # the firmware ignores writes of any other length
        v = int.from_bytes(value, "little", signed=True)
        if "omi-photo-interval" in self.bugs and v >= CRASH_INTERVAL_MIN:
            asyncio.ensure_future(self.crash("photo interval: division by zero in the camera task"))
            return
        if v == og.PHOTO_ONE_SHOT:
            self.log.info("camera", "single photo")
            self._photo_start(0.0)
        elif v == og.PHOTO_STOP:
            self.log.info("camera", "stop photo capture")
            self._photo_stop()
        elif v >= og.PHOTO_INTERVAL_MIN:
            self.log.info("camera", f"interval capture ({v})")
            self._photo_start(30.0)  # the firmware uses its fixed PHOTO_CAPTURE_INTERVAL_MS

    def _photo_start(self, interval_s: float) -> None:
        self._photo_stop()
        self.photo_interval_s = interval_s
        self.photo_task = asyncio.ensure_future(self._photo_loop())

    def _photo_stop(self) -> None:
        if self.photo_task is not None:
            self.photo_task.cancel()
            self.photo_task = None

    async def _photo_loop(self) -> None:
        shot = 0
        while True:
            capture = getattr(self.power, "capture_photo", None)
            if capture is not None:
                capture()
            await asyncio.sleep(getattr(self.power, "photo_capture_s", 0.4))
            jpeg = synth_jpeg(8000 + 500 * (shot % 4), seed=self.boot_count * 1000 + shot)
            shot += 1
            first = og.PHOTO_CHUNK_BYTES - 1
            chunks = [jpeg[:first]] + [jpeg[i:i + og.PHOTO_CHUNK_BYTES]
                                       for i in range(first, len(jpeg), og.PHOTO_CHUNK_BYTES)]
            for i, chunk in enumerate(chunks):
                self._notify(self.photo_data, og.photo_chunk(i, chunk, orientation=2))
                await asyncio.sleep(0.003)  # BLE_PHOTO_TRANSFER_DELAY
            self._notify(self.photo_data, og.PHOTO_END)
            if self.photo_interval_s <= 0:
                self.photo_task = None
                return
            await asyncio.sleep(self.photo_interval_s)


def variant_codec(name: str) -> str:
    from bench.audio.variants import variant

    return variant(name).spec_name


class OmiTruthTap:
    """Radio delivery observer: when the phone's controller gets an Omi audio notification, tell the
    rig's truth which bench frame (and whether its last fragment) it carried."""

    def __init__(self, device: OmiDevice, truth_record: Any) -> None:
        self.device, self.record = device, truth_record

    def __call__(self, from_central: bool, data: bytes, t_s: float) -> None:
        if from_central:
            return
        try:
            pdu = l2cap.L2CAP_PDU.from_bytes(data)
            if pdu.cid != ATT_CID:
                return
            n = att.ATT_PDU.from_bytes(pdu.payload)
            if not isinstance(n, att.ATT_Handle_Value_Notification) \
                    or n.attribute_handle != self.device.audio_data.handle:
                return
            index = og.HEADER.unpack_from(bytes(n.attribute_value))[0]
        except (ValueError, IndexError, KeyError, Exception):  # noqa: BLE001 - not audio
            return
        sent = self.device.sent_wire.get(index)
        if sent is not None:
            frame, frag, last = sent
            self.record(AudioPacket(frame, frag, last, b"").to_bytes(), t_s)

