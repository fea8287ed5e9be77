"""pytest fixtures for audio: the bench's acoustic rig and a latency runner bound to the DUT.

Registered in bench/plugin.py ``pytest_plugins``. ``rig`` comes from the bench file's ``rig:`` section
(the reference bench's rig socket, or a sound card); a bench without one skips audio tests.
"""
from __future__ import annotations

from typing import Any, Iterator

import pytest

from bench.audio.rig import AudioRig, SocketRig
from bench.audio.session import AudioLatency


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"rig address must be host:port, got {address!r}")
    return host, int(port)


@pytest.fixture(scope="session")
def rig(bench: Any) -> Iterator[AudioRig]:
    """The acoustic rig: inject into the DUT's mic, capture its speaker (CLOCK_MONOTONIC times)."""
    spec = bench.config.rig
    if spec is None:
        pytest.skip("this bench has no acoustic rig (add a 'rig:' section to the bench file)")
    if spec.kind == "reference":
        r: Any = SocketRig(*_host_port(bench.endpoint(spec.address, "rig")))
    else:
        from bench.audio.sounddevice_rig import SoundDeviceRig

        r = SoundDeviceRig(device=(spec.input_device, spec.output_device), sample_rate_hz=spec.sample_rate_hz)
    yield r
    r.close()


@pytest.fixture
def audio_latency(dut: Any, request: pytest.FixtureRequest) -> AudioLatency:
    """Uplink / downlink / round-trip latency trials on the connected DUT with the rig.

    A DUT that streams no audio skips naming that capability before the rig is asked for.
    """
    if dut.get("audio_uplink") is None and dut.get("audio_downlink") is None:
        pytest.skip(dut.missing("audio_uplink"))
    return AudioLatency(dut, request.getfixturevalue("rig"))
