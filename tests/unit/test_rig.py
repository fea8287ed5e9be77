"""The reference rig over its wire protocol, with the glasses in on-device loopback."""
import asyncio
import socket
import struct
import threading
import time

import numpy as np
import pytest

from bench.audio.latency import LinearTimeline, trial_latency
from bench.audio.rig import RigError, SocketRig, TruthClient
from bench.audio.signals import log_sweep
from bench.reference.audio_pipeline import AudioPipeline, board_audio
from bench.reference.audio_truth import MAX_INJECTIONS, AudioTruth
from bench.reference.rig import AcousticRig, RigConfig, RigServer, place


@pytest.fixture
def served():
    """A rig server (and a loopback glasses pipeline) on a background loop, like the bench's."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    rig = AcousticRig(RigConfig(speaker_to_mic_s=0.00021, mouth_to_mic_s=0.00013))
    server = RigServer(rig, radio=lambda: [{"anchor_s": 1.0, "interval_s": 0.0075, "phy": "2M"}])

    async def up():
        await server.start()
        pipe = AudioPipeline(rig, board_audio("nrf52840dk"), mode="loopback")
        pipe.start()
        return pipe

    pipe = asyncio.run_coroutine_threadsafe(up(), loop).result(5)
    yield server, rig
    loop.call_soon_threadsafe(pipe.stop)
    asyncio.run_coroutine_threadsafe(server.close(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


def test_loopback_roundtrip_over_the_socket(served):
    server, _ = served
    rig, truth = SocketRig("127.0.0.1", server.port), TruthClient("127.0.0.1", server.truth_port)
    try:
        assert rig.sample_rate_hz == 16000 and abs(rig.now_s() - time.monotonic()) < 1.0  # one clock: CLOCK_MONOTONIC
        stim = log_sweep(0.2)
        t0 = rig.inject(stim, time.monotonic() + 0.05, trial="loop1")
        heard, c0 = rig.capture(t0, 0.35, timeout_s=2.0)
        est = trial_latency(stim, t0, heard, LinearTimeline(c0, rig.sample_rate_hz), rig.sample_rate_hz)
        true = truth.roundtrip("loop1")
        assert est.latency_s == pytest.approx(true["latency_s"], abs=0.1 / 16000)  # PCM16 on the wire
        with pytest.raises(RigError, match="no injection"):
            truth.roundtrip("nope")
    finally:
        rig.close()
        truth.close()


def test_errors_are_replies_not_crashes(served):
    server, _ = served
    rig = SocketRig("127.0.0.1", server.port)
    try:
        with pytest.raises(RigError, match="unknown op"):
            rig._conn.call({"op": "dance"})
        with pytest.raises(RigError, match="beyond timeout_s"):
            rig._conn.call({"op": "capture", "t_s": time.monotonic() + 100, "n_samples": 10, "timeout_s": 1})
        assert rig.now_s() > 0  # the connection survives a refused request
    finally:
        rig.close()
    with socket.create_connection(("127.0.0.1", server.port), timeout=2) as s:
        s.sendall(struct.pack("<II", 5, 0) + b"nope!")
        jl, bl = struct.unpack("<II", s.recv(8))
        assert b"not JSON" in s.recv(jl)


def test_place_is_a_band_limited_fractional_shift():
    t = np.arange(400)
    x = np.sin(2 * np.pi * 0.05 * t) * np.hanning(400)
    y = place(x, 10.25, 500)
    expect = np.sin(2 * np.pi * 0.05 * (t - 10.25)) * np.interp(t - 10.25, t, np.hanning(400))
    assert np.max(np.abs(y[40:380] - expect[40:380])) < 2e-3


def test_phone_hand_off_reports_reach_the_truth(served):
    server, rig = served
    truth = TruthClient("127.0.0.1", server.truth_port)
    try:
        truth.report_uplink_handoffs([(65535, 1.5), (0, 1.51)])
        truth.report_downlink_writes([(3, 2.0)])
        assert rig.truth.ul_handoff_s == {65535: 1.5, 0: 1.51} and rig.truth.dl_written_s[3] == 2.0
        with pytest.raises(RigError, match="KeyError"):
            truth._conn.call({"op": "phone_uplink"})  # no frames: a clear error, the server lives on
    finally:
        truth.close()


def test_truth_remembers_a_bounded_number_of_injections():
    truth = AudioTruth()
    for i in range(MAX_INJECTIONS + 10):
        truth.injected(f"t{i}", float(i))
    assert len(truth.injections_s) == MAX_INJECTIONS
    assert "t0" not in truth.injections_s and truth.injections_s[f"t{MAX_INJECTIONS + 9}"] == MAX_INJECTIONS + 9
    truth.injected("t20", -1.0)  # a repeated trial name is the newest again, not forgotten first
    assert list(truth.injections_s)[-1] == "t20"


def test_truth_gives_the_radio_grid(served):
    server, _rig = served
    truth = TruthClient("127.0.0.1", server.truth_port)
    try:
        assert truth.radio() == [{"anchor_s": 1.0, "interval_s": 0.0075, "phy": "2M"}]
    finally:
        truth.close()
