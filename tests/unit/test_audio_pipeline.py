"""End to end without a radio: glasses pipeline <-> acoustic rig <-> estimator, over a delay "link".

Each test compares the harness-side estimate (which sees only packets, arrival times and rig audio)
with the reference's ground truth (event log), so a wrong timeline or estimator fails here.
"""
import asyncio
import time

import numpy as np
import pytest

from bench.audio.latency import LinearTimeline, trial_latency
from bench.audio.packets import fragment_frame
from bench.audio.signals import log_sweep
from bench.audio.stream import reconstruct, sent_timeline
from bench.reference.audio_pipeline import AudioPipeline, board_audio
from bench.reference.rig import AcousticRig, RigConfig

FS = 16000
TOL_S = 0.05 / FS  # 1/20 sample


class DelayLink:
    """Delivers each packet after a fixed delay plus seeded jitter; optionally drops whole frames."""

    def __init__(self, deliver, delay_s=0.004, jitter_s=0.0, drop_frames=(), on_deliver=None, seed=0):
        self.loop = asyncio.get_running_loop()
        self.deliver, self.delay_s, self.jitter_s = deliver, delay_s, jitter_s
        self.drop, self.on_deliver = set(drop_frames), on_deliver
        self.rng = np.random.default_rng(seed)
        self.last_s = 0.0

    def send(self, pkt: bytes) -> None:
        idx = int.from_bytes(pkt[:2], "little")
        if idx in self.drop:
            return
        # in order, like an LL connection: strictly after the previous packet (asyncio does not
        # keep timers with equal deadlines in order)
        t = max(self.loop.time() + self.delay_s + self.rng.uniform(0, self.jitter_s), self.last_s + 1e-6)
        self.last_s = t
        self.loop.call_at(t, self._arrive, idx, pkt)

    def _arrive(self, idx, pkt):
        now = self.loop.time()
        if self.on_deliver:
            self.on_deliver(pkt, now)
        self.deliver(pkt, now)


def run(coro, timeout_s=10.0):
    return asyncio.run(asyncio.wait_for(coro, timeout_s))


async def until(t_s):
    await asyncio.sleep(max(0.0, t_s - time.monotonic()))


@pytest.mark.parametrize("board,codec", [("nrf52840dk", "lc3-10ms"), ("esp32s3", "opus-20ms"),
                                         ("nrf52840dk", "pcm16")])
def test_uplink_estimate_matches_truth(board, codec):
    async def go():
        rig = AcousticRig(RigConfig(mouth_to_mic_s=0.000137))
        rx = []
        pipe = AudioPipeline(rig, board_audio(board, codec=codec, max_packet_bytes=23), lambda p: link.send(p))
        dropped = int(round(0.2 / pipe.spec.frame_s))  # a frame inside the stimulus
        link = DelayLink(lambda p, t: rx.append((t, p)), jitter_s=0.003, drop_frames={dropped},
                         on_deliver=rig.truth.uplink_packet_delivered)
        pipe.start()
        stim = log_sweep(0.25)
        t0 = time.monotonic() + 0.043
        rig.inject(stim, t0, trial="a")
        await until(t0 + 0.4)
        pipe.stop()
        stream = reconstruct(rx, pipe.spec)
        est = trial_latency(stim, t0, stream.pcm, stream.timeline, FS)
        truth = rig.truth.uplink("a")
        assert stream.lost_frames == [dropped]
        return est, truth

    est, truth = run(go())
    assert est.latency_s == pytest.approx(truth["latency_s"], abs=TOL_S)
    parts = sum(v for k, v in truth.items() if k.endswith("_s") and k != "latency_s")
    assert parts == pytest.approx(truth["latency_s"], abs=1e-9)


def test_downlink_estimate_matches_truth():
    async def go():
        loop = asyncio.get_running_loop()
        rig = AcousticRig(RigConfig(speaker_to_mic_s=0.00029))
        pipe = AudioPipeline(rig, board_audio("nrf52840dk"), mode="downlink")
        pipe.start()
        link = DelayLink(pipe.receive, jitter_s=0.004)
        spec, enc = pipe.spec, pipe.spec.encoder()
        n, lead = spec.frame_samples, 3 * spec.frame_samples + 37
        stim = log_sweep(0.25)
        x = np.concatenate([np.zeros(lead), stim, np.zeros(4 * n)])
        x = np.round(np.concatenate([x, np.zeros((-len(x)) % n)]) * 32767).astype(np.int16)
        t_start, first = loop.time() + 0.02, 65530  # frame indices wrap mid-stream
        writes = []
        for k in range(len(x) // n):
            payload = enc.encode(x[k * n:(k + 1) * n])

            def write(k=k, payload=payload):
                writes.append(loop.time())
                rig.truth.downlink_frame_written(first + k, writes[-1])
                for p in fragment_frame(first + k, payload, 244):
                    link.send(p)
            loop.call_at(t_start + k * spec.frame_s, write)
        cap0, dur = t_start, len(x) / FS + 0.1
        await until(rig.ready_at(cap0, int(dur * FS)))
        pipe.stop()
        heard = rig.capture(cap0, int(dur * FS))
        est = trial_latency(stim, 0.0, heard, LinearTimeline(cap0, FS), FS)
        sent_s = sent_timeline(writes, spec).time_at(lead)
        return est.latency_s - sent_s, rig.truth.downlink(first, lead), pipe

    latency_s, truth, pipe = run(go())
    assert pipe.frames_played > 30
    assert latency_s == pytest.approx(truth["latency_s"], abs=TOL_S)
    assert truth["jitter_buffer_s"] > 0


def test_roundtrip_through_a_phone_echo_matches_truth():
    async def go():
        rig = AcousticRig(RigConfig())
        board = board_audio("nrf52840dk", codec="lc3-7.5ms")
        holder = {}
        down = DelayLink(lambda p, t: holder["pipe"].receive(p, t), delay_s=0.003, jitter_s=0.002, seed=2)
        up = DelayLink(lambda p, t: down.send(p), delay_s=0.004, jitter_s=0.002, seed=1)
        pipe = holder["pipe"] = AudioPipeline(rig, board, up.send, mode="duplex")
        pipe.start()
        stim = log_sweep(0.2)
        t0 = time.monotonic() + 0.03
        rig.inject(stim, t0, trial="rt")
        n = int(0.4 * FS)
        await until(rig.ready_at(t0, n))
        pipe.stop()
        est = trial_latency(stim, t0, rig.capture(t0, n), LinearTimeline(t0, FS), FS)
        return est, rig.truth.roundtrip("rt")

    est, truth = run(go())
    assert est.latency_s == pytest.approx(truth["latency_s"], abs=TOL_S)
    assert est.quality > 0.9


def test_bad_mode_and_missing_send():
    rig = AcousticRig()
    with pytest.raises(ValueError, match="mode must be"):
        AudioPipeline(rig, board_audio("esp32s3"), mode="sideways")
    with pytest.raises(ValueError, match="send"):
        AudioPipeline(rig, board_audio("esp32s3"), mode="uplink")
    with pytest.raises(KeyError, match="expected one of"):
        board_audio("arduino")


class _VirtualClockLoop(asyncio.SelectorEventLoop):
    def time(self):
        return super().time() + 10.0  # a virtual clock: the pipeline's timers would fire at the wrong times


@pytest.mark.parametrize("loop_class", [asyncio.SelectorEventLoop, _VirtualClockLoop])
def test_the_pipeline_runs_only_on_a_loop_whose_clock_is_monotonic(loop_class):
    """Bracketed between two monotonic readings, not compared within a tolerance (a preempted thread on a
    loaded machine spent more than the old 1 ms between the two calls and the stream start was refused)."""
    async def go():
        pipe = AudioPipeline(AcousticRig(), board_audio("nrf52840dk"), mode="downlink")
        pipe.start()
        pipe.stop()

    loop = loop_class()
    try:
        if loop_class is _VirtualClockLoop:
            with pytest.raises(RuntimeError, match="time.monotonic"):
                loop.run_until_complete(go())
        else:
            loop.run_until_complete(go())
    finally:
        loop.close()
