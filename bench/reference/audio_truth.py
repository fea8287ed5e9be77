"""Ground truth of the reference audio path: what each trial's latency really was, by component.

The rig, the glasses' audio pipeline and the link record event times here (CLOCK_MONOTONIC);
queries assemble a trial's true latency with the same definitions the estimator uses (see
docs/audio-latency.md). The harness's estimator never reads this: it is served on a side channel.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from bench.audio.packets import AudioPacket

MAX_INJECTIONS = 4096  # trials the truth remembers; the harness asks about a trial right after it ran


def _need(table: dict[int, float], index: int, what: str) -> float:
    try:
        return table[index & 0xFFFF]
    except KeyError:
        raise KeyError(f"ground truth has no {what} for frame {index & 0xFFFF}") from None


@dataclass
class AudioTruth:
    """Event log of one reference bench; all times in seconds (monotonic), indices u16."""

    sample_rate_hz: int = 16000
    mouth_to_mic_s: float = 0.0
    speaker_to_mic_s: float = 0.0
    frame_samples: int = 160
    lookahead_samples: int = 0
    adc_t0_s: float = math.nan  # time of ADC sample 0 (= encoder input sample 0)
    first_frame_index: int = 0  # u16 index of encoder frame 0
    injections_s: dict[str, float] = field(default_factory=dict)
    ul_sent_s: dict[int, float] = field(default_factory=dict)
    ul_delivered_s: dict[int, float] = field(default_factory=dict)  # radio → phone controller
    ul_handoff_s: dict[int, float] = field(default_factory=dict)  # phone stack → app (phone's report)
    dl_written_s: dict[int, float] = field(default_factory=dict)
    dl_arrival_s: dict[int, float] = field(default_factory=dict)
    dl_play_s: dict[int, float] = field(default_factory=dict)

    def injected(self, trial: str, start_s: float) -> None:
        """The rig played trial ``trial``'s stimulus from ``start_s``; the oldest trials are forgotten
        beyond MAX_INJECTIONS (a soak runs thousands back to back)."""
        self.injections_s.pop(trial, None)
        self.injections_s[trial] = start_s
        while len(self.injections_s) > MAX_INJECTIONS:
            del self.injections_s[next(iter(self.injections_s))]

    def uplink_packet_delivered(self, packet: bytes, t_s: float) -> None:
        """The link calls this when the phone receives an uplink packet; a frame counts as
        delivered with its last fragment (the estimator's timeline uses the same instant)."""
        pkt = AudioPacket.parse(packet)
        if pkt.last:
            self.ul_delivered_s[pkt.frame_index] = t_s

    def uplink_frame_handed_off(self, frame_index: int, t_s: float) -> None:
        """The phone reports when its app got a frame's last fragment (after the host stack)."""
        self.ul_handoff_s[frame_index & 0xFFFF] = t_s

    def reset_uplink(self) -> None:
        """A new uplink stream: frame indices start over, so forget the old stream's events."""
        for table in (self.ul_sent_s, self.ul_delivered_s, self.ul_handoff_s):
            table.clear()

    def reset_downlink(self) -> None:
        for table in (self.dl_written_s, self.dl_arrival_s, self.dl_play_s):
            table.clear()

    def downlink_frame_written(self, frame_index: int, t_s: float) -> None:
        """The phone side calls this when it hands a downlink frame's first fragment to the link."""
        self.dl_written_s[frame_index & 0xFFFF] = t_s

    def _uplink_frame(self, trial: str) -> tuple[float, int, float]:
        """(injection time, encoder frame seq k, decoded onset position n0) of a trial."""
        try:
            t_inj = self.injections_s[trial]
        except KeyError:
            raise KeyError(f"no injection recorded for trial {trial!r}") from None
        if math.isnan(self.adc_t0_s):
            raise KeyError("the glasses' uplink never started (no ADC start time)")
        i0 = (t_inj + self.mouth_to_mic_s - self.adc_t0_s) * self.sample_rate_hz
        n0 = i0 + self.lookahead_samples
        return t_inj, int(math.floor(n0 / self.frame_samples)), n0

    def uplink(self, trial: str) -> dict[str, float]:
        """Injection → the phone has the decoded onset (play-on-arrival timeline). The phone "has" a
        frame when its app got it if the phone reported that (``host_s`` > 0), else when the radio
        delivered it to the phone's controller."""
        t_inj, k, n0 = self._uplink_frame(trial)
        idx = self.first_frame_index + k
        sent, deliv = _need(self.ul_sent_s, idx, "uplink send"), _need(self.ul_delivered_s, idx, "uplink delivery")
        handoff = self.ul_handoff_s.get(idx & 0xFFFF, deliv)
        frame_start = self.adc_t0_s + k * self.frame_samples / self.sample_rate_hz
        parts = {"acoustic_s": self.mouth_to_mic_s, "lookahead_s": self.lookahead_samples / self.sample_rate_hz,
                 "capture_s": sent - frame_start, "link_s": deliv - sent, "host_s": handoff - deliv}
        in_frame = n0 - k * self.frame_samples
        return {**parts, "latency_s": handoff + in_frame / self.sample_rate_hz - t_inj,
                "frame_index": idx & 0xFFFF, "onset_in_frame_samples": in_frame}

    def downlink(self, first_frame_index: int, onset_sample: float) -> dict[str, float]:
        """Phone hands off stream sample ``onset_sample`` → it reaches the measurement mic."""
        n, fs = self.frame_samples, self.sample_rate_hz
        k_sent = int(math.floor(onset_sample / n))
        n0 = onset_sample + self.lookahead_samples
        k_play = int(math.floor(n0 / n))
        written = _need(self.dl_written_s, first_frame_index + k_sent, "downlink write")
        arrival = _need(self.dl_arrival_s, first_frame_index + k_sent, "downlink arrival")
        play = _need(self.dl_play_s, first_frame_index + k_play, "downlink playout")
        heard = play + (n0 - k_play * n) / fs + self.speaker_to_mic_s
        sent = written + (onset_sample - k_sent * n) / fs
        parts = {"link_s": arrival - written, "jitter_buffer_s": play - (k_play - k_sent) * n / fs - arrival,
                 "lookahead_s": self.lookahead_samples / fs, "acoustic_s": self.speaker_to_mic_s}
        return {**parts, "latency_s": heard - sent}

    def downlink_heard(self, first_frame_index: int, onset_sample: float) -> dict[str, float]:
        """When sent-stream sample ``onset_sample`` reached the measurement mic, from the glasses' DAC
        clock alone (no phone-side timestamp)."""
        n, fs = self.frame_samples, self.sample_rate_hz
        n0 = onset_sample + self.lookahead_samples
        k_play = int(math.floor(n0 / n))
        play = _need(self.dl_play_s, first_frame_index + k_play, "downlink playout")
        return {"heard_s": play + (n0 - k_play * n) / fs + self.speaker_to_mic_s}

    def roundtrip(self, trial: str) -> dict[str, float]:
        """Injection → measurement mic, with the phone echoing uplink frames back unchanged."""
        t_inj, _, n0 = self._uplink_frame(trial)
        n, fs = self.frame_samples, self.sample_rate_hz
        k = int(math.floor(n0 / n))
        play = _need(self.dl_play_s, self.first_frame_index + k, "downlink playout")
        heard = play + (n0 - k * n) / fs + self.speaker_to_mic_s
        return {"acoustic_s": self.mouth_to_mic_s + self.speaker_to_mic_s,
                "lookahead_s": self.lookahead_samples / fs, "latency_s": heard - t_inj}
