"""Audio feature of the reference bench: the acoustic rig, the glasses' audio pipelines behind GLP, and
the ground-truth side channel.

Ready-line keys: ``rig`` (host:port of the rig socket: inject into the glasses' mic, capture their
speaker) and ``rig_truth`` (host:port of the ground truth; estimators never read it).
Settings (``--set``): ``audio.first_frame_index`` (u16 index of each stream's first frame, e.g. 65500
to cross the wrap early), ``audio.noise_rms`` (measurement-mic noise, full scale = 1).
Shell: ``audio`` (stream state), ``audio loopback on [codec]`` / ``audio loopback off`` (device-only
mic → speaker loop).
"""
from __future__ import annotations

from typing import Any

from bench.profiles.glp.gatt import Channel
from bench.reference.features import feature
from bench.reference.glasses_audio import GlassesAudio, UplinkTruthTap
from bench.reference.rig import AcousticRig, RigConfig, RigServer
from bench.reference.shell import UsageError


@feature("audio")
async def start(bench: Any) -> dict[str, Any]:
    settings = bench.options.settings
    rig = AcousticRig(RigConfig(capture_noise_rms=float(settings.get("audio.noise_rms", 0.0)),
                                seed=bench.options.seed or 0))
    server = RigServer(rig, radio=bench.link.schedule)
    port, truth_port = await server.start()
    bench.on_close(server.close)
    glasses = bench.glasses  # power states follow the protocol's streams (features/power.py)
    audio = GlassesAudio(glasses.protocol, rig, bench.profile.board.name,
                         first_frame_index=int(settings.get("audio.first_frame_index", 0)),
                         seed=bench.options.seed or 0)
    glasses.protocol.audio = audio
    # Truth of "the phone has the frame": the radio hands the notification to the phone's controller.
    bench.link.delivery_observer = UplinkTruthTap(rig.truth.uplink_packet_delivered,
                                                  lambda: glasses.glp[Channel.AUDIO_UP].handle)

    @bench.shell.command("audio", "audio streams: codec and frame counters")
    def status(_args: list[str]) -> str:
        return audio.status()

    @bench.shell.command("audio loopback", "audio loopback on [codec] | off: mic -> speaker on the device")
    def loopback(args: list[str]) -> str:
        if args[:1] == ["on"] and len(args) <= 2:
            p = audio.loopback_start(args[1] if len(args) == 2 else None)
            return f"loopback on: {p.board.codec}"
        if args == ["off"]:
            audio.loopback_stop()
            return "loopback off"
        raise UsageError("audio loopback on [codec] | audio loopback off")

    return {"rig": f"127.0.0.1:{port}", "rig_truth": f"127.0.0.1:{truth_port}"}
