"""The Omi profile's device side on the reference bench: an Omi device, the acoustic rig feeding its
mic, and the power timeline with both meters (bench/reference/features/power.py), nothing of GLP.

Settings (``--set``): ``omi.codec`` (a variant of gatt.CODEC_IDS, default opus),
``omi.battery_interval_s`` (default 5: BATTERY_REFRESH_INTERVAL_CONNECTED of the Omi firmware),
``audio.noise_rms``, ``power.photo_capture_s``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from bench.reference.boards import Profile

NAMES = {True: ("OMI Glass", "2.3.2"), False: ("Omi", "3.0.17")}  # camera SKU → omiGlass; audio → pendant


@dataclasses.dataclass(frozen=True)
class OmiBoardProfile(Profile):
    """Board × SKU as the Omi firmware names itself (DIS strings, advertised name)."""

    name: str = "Omi"

    @property
    def device_name(self) -> str:
        return self.name


def omi_profile(base: Profile) -> OmiBoardProfile:
    name, firmware = NAMES[base.sku.camera]
    sku = dataclasses.replace(base.sku, model=name)
    return OmiBoardProfile(base.board, sku, firmware_version=firmware, manufacturer="Based Hardware",
                           serial_number="OMI000000001", name=name)


async def start(bench: Any) -> dict[str, Any]:
    from bench.profiles.omi.device import OmiDevice, OmiTruthTap
    from bench.reference import commands
    from bench.reference.features.power import PHOTO_CAPTURE_S, GlassesPower, make_timeline, serve
    from bench.reference.rig import AcousticRig, RigConfig, RigServer

    settings, seed = bench.options.settings, bench.options.seed or 0
    bench.profile = omi_profile(bench.profile)
    rig = AcousticRig(RigConfig(capture_noise_rms=float(settings.get("audio.noise_rms", 0.0)), seed=seed))
    server = RigServer(rig)
    port, truth_port = await server.start()
    bench.on_close(server.close)
    device = OmiDevice(bench.profile, bench.link, bench.shell.log, rig=rig,
                       codec=settings.get("omi.codec", "opus"), bugs=list(bench.options.bugs), seed=seed,
                       battery_notify_interval_s=float(settings.get("omi.battery_interval_s", 5.0)))
    bench.glasses = device
    commands.register(bench.shell, device)
    bench.link.delivery_observer = OmiTruthTap(device, rig.truth.uplink_packet_delivered)

    @bench.shell.command("omi", "Omi device: codec, stream and photo state")
    def status(_args: list[str]) -> str:
        up = device.uplink
        return (f"codec {device.codec} streaming={'yes' if up else 'no'} sent={up.frames_sent if up else 0} "
                f"photo={'on' if device.photo_task else 'off'} speaker_bytes={device.speaker_bytes}")

    power = GlassesPower(make_timeline(bench), None, bench.shell.log, streaming=lambda: device.streaming,
                         photo_capture_s=float(settings.get("power.photo_capture_s", PHOTO_CAPTURE_S)))
    ready = await serve(bench, power)
    return {"rig": f"127.0.0.1:{port}", "rig_truth": f"127.0.0.1:{truth_port}", **ready}
