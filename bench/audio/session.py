"""Audio latency trials on a DUT: uplink, downlink and round trip over the GLP audio streams, with an
acoustic rig at the other end. Synchronous; every wait has a timeout.

* **uplink**: the rig plays a stimulus into the glasses' mic at ``t_inject``; the phone collects the
  AUDIO_UP frames with arrival times; the stimulus is found in the decoded stream and timed on the
  stream's hand-off timeline (bench/audio/stream.py).
* **downlink**: the phone encodes a stream with stimuli at known sample positions and writes it in
  real time; the rig's measurement mic hears it; latency = heard − handed off.
* **round trip**: the phone echoes every uplink frame back down unchanged; latency = heard − injected.

Only the rig's audio, the stream and the phone's own clock go into an estimate. Ground truth (on the
reference bench) is a separate channel that benchmarks read to grade these numbers.
"""
from __future__ import annotations

import contextlib
import csv
import gc
import io
import itertools
import os
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

from bench.audio.latency import LatencyStats, UnplacedError, place_onset, summarize
from bench.audio.packets import AudioPacket, PacketError, fragment_frame
from bench.audio.rig import AudioRig
from bench.audio.signals import log_sweep
from bench.audio.stream import reconstruct, sent_timeline
from bench.audio.variants import variant
from bench.progress import progress

_RUNS = itertools.count()


@contextlib.contextmanager
def quiet_gc() -> Iterator[None]:
    """Keep Python's cyclic garbage collector out of a live stream.

    Full collections of the harness heap (Bumble, bleak, matplotlib figures of earlier tests) were
    seen to pause the session loop for 50-150 ms. That is long enough to starve the glasses' jitter
    buffer and to put the measurement in error. So collect first, and then disable the collector until
    the stream ends, as ``timeit`` does. Reference counting still frees memory meanwhile.
    """
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass
class Trial:
    """One stimulus: when it started, where it was found, the latency."""

    trial: str
    start_s: float  # injection (uplink, round trip) or hand-off of the stimulus' first sample (downlink)
    latency_s: float
    onset_samples: float  # position of the stimulus in ``segment``
    quality: float
    segment: np.ndarray = field(repr=False)  # the received audio that was searched
    sent_onset_sample: float | None = None  # downlink: the stimulus' position in the sent stream
    status: str = "placed"  # placed | unheard (quality too low: a dropout) | unplaced (heard in pieces)
    search_start_samples: int = 0  # where ``segment`` starts in the received stream or capture
    unplaced_latency_s: float = float("nan")  # unplaced: what the whole-signal peak said (diagnosis only)


@dataclass
class Run:
    """One stream with several trials, and what the plots and the truth need about it."""

    direction: str
    codec: str
    sample_rate_hz: int  # of the stimulus and of every Trial.segment
    stimulus: np.ndarray = field(repr=False)
    trials: list[Trial]
    frames_total: int = 0
    frames_lost: int = 0
    first_frame_index: int = 0
    handoffs: list[tuple[int, float]] = field(default_factory=list)  # (u16 frame index, hand-off s)
    notes: dict[str, int] = field(default_factory=dict)  # phone-side counters (credit stalls, ...)

    @property
    def found(self) -> list[Trial]:
        """Trials placed: a latency was measured."""
        return [t for t in self.trials if t.status == "placed"]

    @property
    def missed(self) -> list[str]:
        """Trials whose stimulus was not in the received audio (a dropout)."""
        return [t.trial for t in self.trials if t.status == "unheard"]

    @property
    def unplaced(self) -> list[str]:
        """Trials heard but not as one delayed copy (the stream was cut mid-stimulus): no latency."""
        return [t.trial for t in self.trials if t.status == "unplaced"]

    @property
    def latencies_s(self) -> np.ndarray:
        """Latencies of the trials that were found."""
        return np.array([t.latency_s for t in self.found])

    def stats(self) -> LatencyStats:
        return summarize(self.latencies_s, self.frames_lost, self.frames_total)

    def csv(self) -> str:
        out = io.StringIO()
        w = csv.writer(out)
        w.writerow(["direction", "codec", "trial", "start_s", "latency_s", "onset_samples", "quality"])
        for t in self.trials:
            w.writerow([self.direction, self.codec, t.trial, f"{t.start_s:.6f}", f"{t.latency_s:.9f}",
                        f"{t.onset_samples:.4f}", f"{t.quality:.4f}"])
        return out.getvalue()


class AudioLatency:
    """Runs latency trials on ``dut`` (bench.dut.glasses.Dut) with ``rig`` (bench.audio.rig.AudioRig).

    The DUT's ``audio_uplink`` / ``audio_downlink`` capabilities (bench/capabilities.py) carry the
    streams, whatever the profile; a direction the DUT lacks skips the test that asks for it.
    """

    def __init__(self, dut: Any, rig: AudioRig, *, stream_rate_hz: int = 16000, stimulus_s: float = 0.2,
                 max_latency_s: float = 0.2, lead_s: float = 0.05, min_quality: float = 0.3,
                 timeout_s: float = 5.0, seed: int = 0) -> None:
        self.dut, self.rig = dut, rig
        self.fs, self.rig_fs = int(stream_rate_hz), int(rig.sample_rate_hz)
        # The same analytic sweep at the stream's and at the rig's (sound card's) sample rate.
        self.stimulus = log_sweep(duration_s=stimulus_s, f0_hz=100.0, f1_hz=6000.0, sample_rate_hz=self.fs)
        self.rig_stimulus = log_sweep(duration_s=stimulus_s, f0_hz=100.0, f1_hz=6000.0, sample_rate_hz=self.rig_fs)
        self.max_latency_s, self.lead_s = max_latency_s, lead_s
        self.min_quality, self.timeout_s = min_quality, timeout_s
        self.rng = np.random.default_rng(seed)
        self._tag = f"{os.getpid():x}"

    # --- plumbing ------------------------------------------------------------------------------
    @property
    def up(self) -> Any:
        return self.dut.need("audio_uplink")

    @property
    def down(self) -> Any:
        return self.dut.need("audio_downlink")

    def codecs(self) -> list[str]:
        """Codec variants the DUT streams in at least one direction."""
        out: list[str] = []
        for key in ("audio_uplink", "audio_downlink"):
            provider = self.dut.get(key)
            if provider is not None:
                out += [c for c in provider.codecs() if c not in out]
        return out

    @property
    def _dur_s(self) -> float:
        return len(self.stimulus) / self.fs

    def _inject_trials(self, prefix: str, trials: int, spacing_s: float) -> list[tuple[str, float]]:
        """Schedule the stimuli; a random part of a frame is added to each gap so that onsets fall at
        every phase of the frame, ADC-block and connection-event clocks."""
        t0 = time.monotonic() + self.lead_s
        starts = t0 + np.arange(trials) * spacing_s + self.rng.uniform(0.0, 0.02, trials)
        return [(f"{prefix}-{i}", self.rig.inject(self.rig_stimulus, float(t), trial=f"{prefix}-{i}"))
                for i, t in enumerate(starts)]

    def _find(self, received: np.ndarray, lo: int, window_s: float, fs: int
              ) -> tuple[int, Any, np.ndarray, bool]:
        """Search ``received`` (at ``fs``) for the stimulus starting at or after sample ``lo`` within
        ``window_s``; returns (lo, estimate, searched segment, unplaced). The estimate is ``place_onset``'s;
        for a stimulus heard in pieces it is the whole-signal one and ``unplaced`` is True."""
        stim = self.stimulus if fs == self.fs else self.rig_stimulus
        lo = max(0, lo)
        seg = received[lo:lo + len(stim) + int(window_s * fs)]
        if len(seg) < len(stim):
            raise ValueError(f"only {len(seg)} received samples after position {lo}; the stimulus needs "
                             f"{len(stim)} (stream ended early?)")
        try:
            return lo, place_onset(stim, seg, fs, min_delay_s=0.0, max_delay_s=(len(seg) - len(stim)) / fs), seg, False
        except UnplacedError as exc:
            return lo, exc.estimate, seg, True

    def _trial(self, name: str, start_s: float, end_s: float, found: tuple[int, Any, np.ndarray, bool],
               sent_onset: float | None = None) -> Trial:
        """A trial whose correlation quality is below ``min_quality`` was not found (a dropout, in
        ``Run.missed``); one heard in pieces cannot be placed (``Run.unplaced``). Neither is timed."""
        lo, est, seg, unplaced = found
        status = "unheard" if est.quality < self.min_quality else "unplaced" if unplaced else "placed"
        latency = end_s - start_s if status == "placed" else float("nan")
        whole = end_s - start_s if status == "unplaced" else float("nan")
        return Trial(name, start_s, latency, est.delay_samples, est.quality, seg, sent_onset, status, lo, whole)

    def _uplink_trials(self, codec: str, echo: bool, prefix: str, trials: int, spacing_s: float,
                       what: str) -> tuple[list[tuple[str, float]], float, list]:
        """Run an uplink stream while ``trials`` stimuli are injected; returns (starts, end, packets)."""
        up = self.up
        up.start(codec, echo)
        try:
            up.wait_arrival_after(time.monotonic(), self.timeout_s)
            with progress(f"{what} {codec}, {trials} latency trials", total=self.lead_s + trials * spacing_s,
                          unit="s", timed=True):
                starts = self._inject_trials(prefix, trials, spacing_s)
                end = starts[-1][1] + spacing_s
                up.wait_arrival_after(end, end - time.monotonic() + self.timeout_s)
        finally:
            packets = up.stop()
        return starts, end, packets

    # --- uplink --------------------------------------------------------------------------------
    def uplink(self, codec: str, trials: int = 5, echo: bool = False) -> Run:
        """Inject ``trials`` stimuli into the mic and find them in the AUDIO_UP stream."""
        if codec not in self.up.codecs():
            import pytest

            pytest.skip(f"the DUT's audio uplink does not offer {codec} (profile {self.dut.profile.name})")
        spec = variant(codec).spec(self.fs)
        prefix = f"ul-{self._tag}-{next(_RUNS)}"
        spacing_s = self._dur_s + self.max_latency_s + 0.02
        with quiet_gc():
            starts, end, packets = self._uplink_trials(codec, echo, prefix, trials, spacing_s, "uplink stream")
        stream = reconstruct(packets, spec)
        times, n = stream.timeline.frame_times_s, spec.frame_samples
        out = []
        for name, t_inj in starts:
            after = np.flatnonzero(times >= t_inj)  # NaN (lost) compares False
            if after.size == 0:
                raise ValueError(f"uplink trial {name}: no frame arrived after the injection at {t_inj:.3f} s")
            found = lo, est, _, _ = self._find(stream.pcm, (int(after[0]) - 1) * n, self.max_latency_s, self.fs)
            out.append(self._trial(name, t_inj, stream.timeline.time_at(lo + est.delay_samples), found))
        return Run("uplink", codec, self.fs, self.stimulus, out, stream.frames_total, len(stream.lost_frames),
                   stream.first_frame_index, _handoffs(packets))

    # --- downlink ------------------------------------------------------------------------------
    def downlink(self, codec: str, trials: int = 5, first_frame_index: int = 0) -> Run:
        """Stream stimuli from the phone in real time and find them at the measurement mic."""
        down = self.down
        if codec not in down.codecs():
            import pytest

            pytest.skip(f"the DUT's audio downlink does not offer {codec} (profile {self.dut.profile.name})")
        spec = variant(codec).spec(self.fs)
        n = spec.frame_samples
        spacing = int((self._dur_s + self.max_latency_s) * self.fs)
        onsets = [int(0.03 * self.fs) + i * spacing + int(self.rng.integers(0, n)) for i in range(trials)]
        total = onsets[-1] + spacing + n
        x = np.zeros(total - total % n)
        for s in onsets:
            x[s:s + len(self.stimulus)] += self.stimulus
        enc, room = spec.encoder(), down.packet_bytes()
        pcm = np.clip(np.round(x * 32767), -32768, 32767).astype(np.int16)
        frames = [fragment_frame(first_frame_index + k, enc.encode(pcm[k * n:(k + 1) * n]), room)
                  for k in range(len(x) // n)]
        with quiet_gc():
            down.start(codec)
            t0 = time.monotonic() + self.lead_s
            try:
                with progress(f"downlink stream {codec}, {trials} latency trials", total=self.lead_s + len(x) / self.fs,
                              unit="s", timed=True):
                    written = down.send_paced(frames, t0, spec.frame_s, len(x) / self.fs + self.timeout_s)
            finally:
                down.stop()
        capture, cap_t0 = self.rig.capture(written[0], len(x) / self.fs + self.max_latency_s, self.timeout_s)
        timeline = sent_timeline(written, spec)
        out = []
        for i, s in enumerate(onsets):
            t_sent = timeline.time_at(s)
            found = lo, est, _, _ = self._find(capture, int(np.floor((t_sent - cap_t0) * self.rig_fs)),
                                               self.max_latency_s, self.rig_fs)
            out.append(self._trial(f"dl-{i}", t_sent, cap_t0 + (lo + est.delay_samples) / self.rig_fs, found,
                                   float(s)))
        handoffs = [((first_frame_index + k) & 0xFFFF, t) for k, t in enumerate(written)]
        return Run("downlink", codec, self.rig_fs, self.rig_stimulus, out, len(frames), 0, first_frame_index & 0xFFFF,
                   handoffs, down.notes())

    # --- round trip ----------------------------------------------------------------------------
    def roundtrip(self, codec: str, trials: int = 5) -> Run:
        """Mic → phone → (echoed unchanged) → speaker: injected → heard at the measurement mic."""
        window_s = 2 * self.max_latency_s
        prefix = f"rt-{self._tag}-{next(_RUNS)}"
        spacing_s = self._dur_s + window_s + 0.02
        down = self.down
        if codec not in down.codecs() or codec not in self.up.codecs():
            import pytest

            pytest.skip(f"the DUT does not stream {codec} both ways (profile {self.dut.profile.name})")
        with quiet_gc():
            down.start(codec)
            try:
                starts, end, packets = self._uplink_trials(codec, True, prefix, trials, spacing_s, "round-trip stream")
            finally:
                down.stop()
        cap_t0 = starts[0][1]
        capture, cap_t0 = self.rig.capture(cap_t0, end - cap_t0, self.timeout_s)
        out = []
        for name, t_inj in starts:
            found = lo, est, _, _ = self._find(capture, int(np.floor((t_inj - cap_t0) * self.rig_fs)), window_s,
                                               self.rig_fs)
            out.append(self._trial(name, t_inj, cap_t0 + (lo + est.delay_samples) / self.rig_fs, found))
        stream = reconstruct(packets, variant(codec).spec(self.fs))
        return Run("roundtrip", codec, self.rig_fs, self.rig_stimulus, out, stream.frames_total,
                   len(stream.lost_frames), stream.first_frame_index, _handoffs(packets))


def _handoffs(packets: list[tuple[float, bytes]]) -> list[tuple[int, float]]:
    """(u16 frame index, arrival of its last fragment) of every uplink frame received whole."""
    out = []
    for t, data in packets:
        try:
            p = AudioPacket.parse(data)
        except PacketError:
            continue
        if p.last:
            out.append((p.frame_index, t))
    return out

