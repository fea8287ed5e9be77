"""What a GLP device offers the suites (bench/capabilities.py), built on the phone-side GLP session.

``glp`` is the session itself (conformance suites use it through the ``glp`` fixture); audio,
photo, power-state control and the fuzz targets are what the HelloReply's capability bits and the
bench say the DUT has. Nothing outside this profile touches a GLP message.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Awaitable, Callable, TypeVar, cast

from bench.capabilities import DeviceIdentity
from bench.dut.sig import DisIdentity
from bench.errors import DutTimeout
from bench.profiles.glp import messages as m
from bench.profiles.glp.audio import PhoneAudio, advertised_codecs, stream_packet_bytes
from bench.profiles.glp.client import GlpClient

if TYPE_CHECKING:
    from bench.dut.glasses import Dut

T = TypeVar("T")
BATTERY_NOTIFY_MAX_S = 5.0  # GLP glasses notify Battery Level periodically, at least this often
VERSION = re.compile(r"firmware v(\S+) board=(\S+) sku=(\S+) serial=(\S+)")


class GlpLink:
    """``glp``: the GLP session on the DUT's current connection, built, subscribed and hello'd on first
    use and rebuilt after a reconnect."""

    def __init__(self, dut: "Dut") -> None:
        self.dut = dut
        self._client: GlpClient | None = None
        self._ble_client: Any = None

    @property
    def client(self) -> GlpClient:
        dut = self.dut
        if self._client is None or self._ble_client is not dut.ble.client or not dut.connected:
            self.drop()
            dut.ensure_connected()
            from bench.profiles.glp.ble_transport import BleTransport
            from bench.profiles.glp.session import PhoneSession

            async def build() -> Any:
                transport = BleTransport(dut.ble)
                session = PhoneSession(transport)
                await transport.start()
                return session, transport
            session, transport = dut.run(build(), 10, "GLP session set-up")
            self._client = GlpClient(dut.loop, session, transport)
            self._ble_client = dut.ble.client
            self._client.hello()
        return self._client

    def drop(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            client.close()

    def transcript_since(self, t_s: float) -> str | None:
        """The frames of the current session since ``t_s`` (CLOCK_MONOTONIC), one line each; None when no
        session is open. Failure evidence (bench/report/evidence.py): reads, never builds a session."""
        if self._client is None:
            return None
        lines = [e.line() for e in self._client.session.transcript if e.t_s >= t_s]
        return f"== GLP over BLE transcript ({len(lines)} frames) ==\n" + "\n".join(lines)

    @property
    def capability_bits(self) -> m.Capability:
        client = self.client
        reply = client.hello_reply or client.hello()
        return m.Capability(reply.capabilities)


class GlpIdentity(DisIdentity):
    """Device Information, plus board and SKU from the device's GLP DeviceInfo."""

    def __init__(self, dut: "Dut", link: GlpLink) -> None:
        super().__init__(dut)
        self.link = link

    def identity(self) -> DeviceIdentity:
        ident = super().identity()
        info = cast(m.DeviceInfo, self.link.client.request(m.DeviceInfoGet()))
        ident.board, ident.sku = info.board.name.lower(), info.sku.name.lower()
        ident.extra["glp_firmware_version"] = info.firmware_version
        ident.extra["glp_serial_number"] = info.serial_number
        return ident


class _Streams:
    """One PhoneAudio per GLP session, shared by uplink (its echo writes downlink) and downlink."""

    def __init__(self, link: GlpLink) -> None:
        self.link = link
        self._phone: tuple[Any, PhoneAudio] | None = None

    @property
    def phone(self) -> PhoneAudio:
        client = self.link.client
        if self._phone is None or self._phone[0] is not client.session:
            self._phone = (client.session, PhoneAudio(client.session))
        return self._phone[1]

    def call(self, fn: Callable[[], Awaitable[T]], timeout_s: float, what: str) -> T:
        return self.link.client.call(lambda _s: fn(), timeout_s, what)

    def codecs(self) -> list[str]:
        return advertised_codecs(int(self.link.capability_bits))


class GlpAudioUplink:
    def __init__(self, streams: _Streams, timeout_s: float = 5.0) -> None:
        self.streams, self.timeout_s = streams, timeout_s

    def codecs(self) -> list[str]:
        return self.streams.codecs()

    def start(self, codec: str, echo: bool = False) -> None:
        phone = self.streams.phone
        self.streams.call(lambda: phone.start_uplink(codec, echo), self.timeout_s, "audio uplink start")

    def wait_arrival_after(self, t_s: float, timeout_s: float) -> None:
        phone = self.streams.phone
        self.streams.call(lambda: phone.wait_arrival_after(t_s, timeout_s), timeout_s, "uplink stream")

    def stop(self) -> list[tuple[float, bytes]]:
        phone = self.streams.phone
        return self.streams.call(phone.stop_uplink, self.timeout_s, "audio uplink stop")


class GlpAudioDownlink:
    def __init__(self, streams: _Streams, timeout_s: float = 5.0) -> None:
        self.streams, self.timeout_s = streams, timeout_s

    def codecs(self) -> list[str]:
        return self.streams.codecs()

    def packet_bytes(self) -> int:
        return stream_packet_bytes(self.streams.link.client.session.transport.max_payload)

    def start(self, codec: str) -> None:
        phone = self.streams.phone
        self.streams.call(lambda: phone.start_downlink(codec), self.timeout_s, "audio downlink start")

    def send_paced(self, frames: list[list[bytes]], t0_s: float, frame_s: float, timeout_s: float) -> list[float]:
        phone = self.streams.phone
        return self.streams.call(lambda: phone.send_paced(frames, t0_s, frame_s), timeout_s, "downlink stream")

    def stop(self) -> None:
        phone = self.streams.phone
        self.streams.call(phone.stop_downlink, self.timeout_s, "audio downlink stop")

    def notes(self) -> dict[str, int]:
        phone = self.streams.phone
        return {"credit_stalls": phone.credit_stalls, "late_frames": phone.late_frames}


class GlpPhoto:
    def __init__(self, link: GlpLink) -> None:
        self.link = link

    def take_photo(self, timeout_s: float = 10.0) -> bytes:
        client = self.link.client
        info = cast(m.PhotoInfo, client.request(m.PhotoCapture(80), timeout_s))
        return client.call(lambda s: s.fetch_photo(info), timeout_s, "photo transfer")


class GlpPowerControl:
    """Power states through the shell (``ble adv on|off``), the link and GLP requests."""

    def __init__(self, dut: "Dut", link: GlpLink) -> None:
        self.dut, self.link = dut, link
        states = {"connected_idle", "advertising"}
        if dut.console is not None:
            states.add("sleep")
        if advertised_codecs(int(link.capability_bits)):
            states.add("audio_streaming")
        if link.capability_bits & m.Capability.CAMERA:
            states.add("camera_capture")
        if link.capability_bits & (m.Capability.DISPLAY | m.Capability.SPEAK):
            states.add("display_tts")
        self.states = frozenset(states)

    def streaming_codecs(self) -> list[str]:
        return advertised_codecs(int(self.link.capability_bits))

    def _adv(self, on: bool) -> None:
        if self.dut.console is not None:
            self.dut.console.command(f"ble adv {'on' if on else 'off'}")

    def enter(self, state: str) -> None:
        base, _, codec = state.partition("[")
        if base == "sleep":
            self._adv(False)
            if self.dut.connected:
                self.dut.disconnect()
        elif base == "advertising":
            self._adv(True)
            if self.dut.connected:
                self.dut.disconnect()
        elif base == "connected_idle":
            self._adv(True)
            self.dut.ensure_connected()
            self.link.client.request(m.AudioUplinkStop())
            self.link.client.request(m.AudioDownlinkStop())
        elif base == "audio_streaming":
            name = codec.rstrip("]") or self.streaming_codecs()[0]
            from bench.profiles.glp.audio import GLP_CODECS

            c, frame_us = GLP_CODECS[name]
            self.link.client.request(m.AudioUplinkStart(c, 16000, frame_us))
        elif base == "camera_capture":
            self.link.client.request(m.PhotoCapture(80))
        elif base == "display_tts":
            self.link.client.request(m.TextNotify(m.TextMode.SPEAK,
                                                  "You have a meeting with the design team in ten minutes"))
        else:
            raise ValueError(f"GLP power control cannot enter {state!r}; it can: {sorted(self.states)}")

    def leave(self, state: str) -> None:
        base = state.partition("[")[0]
        if base == "audio_streaming":
            self.link.client.request(m.AudioUplinkStop())
        elif base in ("sleep", "advertising"):
            self._adv(True)
            self.dut.ensure_connected()


class GlpFuzz:
    """``fuzz``: the GLP state-machine fuzzer through BLE, and through the GLP serial port if the bench has one."""

    def __init__(self, dut: "Dut") -> None:
        self.dut = dut
        session = dut.session
        ready = session.reference.ready if session is not None and session.reference is not None else {}
        serial = any(k in ready for k in ("glp_serial", "fuzz_serial")) or (
            session is not None and session.config.dut.glp_port is not None)
        self.kinds = ("ble", "serial") if serial else ("ble",)

    def open(self, session: Any, kind: str, reply_timeout_s: float = 2.0, port: str | None = None) -> Any:
        """The GLP fuzz model on ``kind`` ("ble" or "serial"), its target discovered (a GlpFuzzModel)."""
        from bench.profiles.glp.fuzz_machine import GlpFuzzModel
        from bench.profiles.glp.fuzz_targets import BleTarget, SerialTarget

        if kind not in self.kinds:
            raise ValueError(f"the GLP fuzz target has no {kind!r} link on this bench (it has {', '.join(self.kinds)})")
        target = BleTarget(session, reply_timeout_s) if kind == "ble" else SerialTarget(session, reply_timeout_s, port)
        try:
            target.discover()
        except BaseException:
            target.close()
            raise
        return GlpFuzzModel(target)


def attach(dut: "Dut") -> dict[str, Any]:
    """The GLP capabilities of a connected DUT (called once, after GATT discovery)."""
    from bench.profiles.glp.gatt import CHARACTERISTICS

    if not any(dut.has_characteristic(spec.uuid) for spec in CHARACTERISTICS.values()):
        raise DutTimeout(f"the DUT has no GLP service (profile glp): its GATT server lacks "
                         f"{next(iter(CHARACTERISTICS.values())).uuid}; is 'dut.profile' right?")
    link = GlpLink(dut)
    caps: dict[str, Any] = {"glp": link, "power_control": GlpPowerControl(dut, link), "fuzz": GlpFuzz(dut)}
    battery = dut.capabilities_so_far.get("battery")
    if battery is not None:
        battery.notify_interval_s = BATTERY_NOTIFY_MAX_S
    if "identity" in dut_caps_hint(dut):
        caps["identity"] = GlpIdentity(dut, link)
    bits = link.capability_bits
    if advertised_codecs(int(bits)):
        streams = _Streams(link)
        caps["audio_uplink"] = GlpAudioUplink(streams)
        caps["audio_downlink"] = GlpAudioDownlink(streams)
    if bits & m.Capability.CAMERA:
        caps["photo"] = GlpPhoto(link)
    return caps


def dut_caps_hint(dut: "Dut") -> set[str]:
    from bench.dut.sig import DIS

    return {"identity"} if any(dut.has_characteristic(u) for u in DIS.values()) else set()


def version(dut: "Dut") -> dict[str, str]:
    """The reference glasses' ``version`` shell line: firmware, board, sku, serial."""
    out = dut.need("shell").command("version")
    match = VERSION.search(out)
    if not match:
        raise DutTimeout(f"unexpected answer to 'version': {out!r}")
    return dict(zip(("firmware", "board", "sku", "serial"), match.groups()))
