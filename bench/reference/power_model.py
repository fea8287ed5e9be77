"""Power-state timeline of the reference glasses and the current model that turns it into samples.

The glasses call ``enter(state)`` when their state changes, the timed radio calls ``radio_event`` for
each connection event's air time, and the simulated instruments call ``render``/``samples`` for any
window. A sample is the *mean* current over its bin (box-integrated, like an averaging ADC) plus
seeded noise, so the charge in the samples equals the model's exact charge and ``truth_means`` is a
ground truth the analysis can be checked against. Thread-safe: instruments read from other threads.
"""

from __future__ import annotations

import bisect
import math
import threading
import time
from typing import Callable

import numpy as np

from bench.reference.power_profiles import BOARDS, SKUS, STATE_IDS, STATES, BoardProfile

T_IFS_S = 150e-6
HISTORY_S = 60.0         # radio and advertising events kept this far behind the newest (memory bound)
_PRUNE_EVERY = 4096
_NOISE_BLOCK = 1 << 16
_NOISE_CACHE_BLOCKS = 16   # 8 MB: a 512 k-point SCPI acquisition is 8 blocks (it was 65 blocks, 34 MB)
_CONNECTED = ("connected_idle", "audio_streaming", "camera_capture", "display_tts", "ota")


class PowerTimeline:
    """Timestamped power states + radio events of one board/SKU, rendered to current samples.

    ``synth_connection_interval_s``: when set, connected states get an empty-PDU connection event
    (``empty_pdu_s`` air time each way) at every slot of that interval. The slots follow the
    connection's anchor once ``connection_anchor`` (or a reported ``radio_event``) fixed it, and a slot
    that the radio reported (an event carrying data) is not synthesised again, so each connection
    event is counted exactly once. Advertising events are synthesised every ``adv_interval_s``
    (+ 0–10 ms advDelay) until the first explicit ``advertising_event`` call.

    Memory stays bounded on hour-long runs: reported radio and advertising events older than
    ``history_s`` behind the newest one are dropped (a 7.5 ms interval reports ~480 k events an
    hour, ~70 MB), and a window that reaches back before what was dropped raises ``ValueError``
    instead of rendering without them. State changes are few and all kept.
    """

    def __init__(self, board: str = "nrf52840dk", sku: str = "audio", seed: int = 0, *,
                 initial_state: str = "sleep", t0_s: float | None = None,
                 synth_connection_interval_s: float | None = None, empty_pdu_s: float = 80e-6,
                 clock: Callable[[], float] = time.monotonic, history_s: float = HISTORY_S) -> None:
        if board not in BOARDS:
            raise ValueError(f"unknown board {board!r}; known: {', '.join(sorted(BOARDS))}")
        if sku not in SKUS:
            raise ValueError(f"unknown SKU {sku!r}; known: {', '.join(SKUS)}")
        self.profile: BoardProfile = BOARDS[board]
        self.board, self.sku, self.seed, self.clock = board, sku, seed, clock
        self.synth_ci_s = synth_connection_interval_s
        self.empty_pdu_s = empty_pdu_s
        self._anchor_s: float | None = None
        self._lock = threading.Lock()
        self._seg_t: list[float] = []
        self._seg_s: list[str] = []
        self._radio: list[tuple[float, float, float]] = []   # (t_s, tx_s, rx_s), sorted
        self._adv: list[float] = []
        self._auto_adv = True
        self.history_s = history_s
        self.forgotten_before_s = -math.inf   # events before this time were dropped
        self._since_prune = 0
        self._noise_cache: dict[int, np.ndarray] = {}
        self.enter(initial_state, self.clock() if t0_s is None else t0_s)

    # -- recording ---------------------------------------------------------------------------------
    def enter(self, state: str, t_s: float | None = None) -> None:
        """Record that the glasses entered ``state`` at ``t_s`` (default: now, CLOCK_MONOTONIC)."""
        if state not in STATE_IDS:
            raise ValueError(f"unknown power state {state!r}; known: {', '.join(STATES)}")
        if state in self.profile.camera_states and self.sku != "camera":
            raise ValueError(f"state {state!r} needs the camera SKU, this timeline is {self.sku!r}")
        t = self.clock() if t_s is None else float(t_s)
        with self._lock:
            i = bisect.bisect_right(self._seg_t, t)
            self._seg_t.insert(i, t)
            self._seg_s.insert(i, state)

    def radio_event(self, t_s: float, tx_s: float, rx_s: float) -> None:
        """One connection event at ``t_s``: the radio received for ``rx_s`` and sent for ``tx_s`` air time.

        With a synthesised interval, an event off the known slot grid starts a new grid (a new
        connection has a new anchor).
        """
        with self._lock:
            bisect.insort(self._radio, (float(t_s), float(tx_s), float(rx_s)))
            self._prune()
            ci = self.synth_ci_s
            if ci and (self._anchor_s is None or abs((t_s - self._anchor_s) / ci - round((t_s - self._anchor_s) / ci)) > 0.01):
                self._anchor_s = float(t_s)

    def connection_anchor(self, t_s: float) -> None:
        """Fix the phase of synthesised connection events: slots at ``t_s + k · interval``."""
        with self._lock:
            self._anchor_s = float(t_s)

    def advertising_event(self, t_s: float) -> None:
        """One advertising event (ADV_IND on 3 channels with listen windows) at ``t_s``."""
        with self._lock:
            self._auto_adv = False
            bisect.insort(self._adv, float(t_s))
            self._prune()

    def _prune(self) -> None:
        """Drop events older than ``history_s`` behind the newest (every few thousand inserts; lock held)."""
        self._since_prune += 1
        if self._since_prune < _PRUNE_EVERY:
            return
        self._since_prune = 0
        newest = max(self._radio[-1][0] if self._radio else -math.inf, self._adv[-1] if self._adv else -math.inf)
        cut = newest - self.history_s
        if cut <= self.forgotten_before_s:
            return
        del self._radio[:bisect.bisect_left(self._radio, (cut,))]
        del self._adv[:bisect.bisect_left(self._adv, cut)]
        self.forgotten_before_s = cut

    def _check_window(self, t0_s: float) -> None:
        if t0_s < self.forgotten_before_s:
            raise ValueError(f"window from {t0_s:.3f} s reaches back before {self.forgotten_before_s:.3f} s: radio "
                             f"events older than history_s={self.history_s:g} s were dropped to bound memory")
    def state_at(self, t_s: float) -> str:
        """The state the glasses were in at ``t_s``."""
        with self._lock:
            i = bisect.bisect_right(self._seg_t, t_s) - 1
            return self._seg_s[max(i, 0)]

    def segments(self, t0_s: float, t1_s: float) -> list[tuple[float, float, str]]:
        """(start, end, state) pieces covering [t0_s, t1_s)."""
        with self._lock:
            i = max(bisect.bisect_right(self._seg_t, t0_s) - 1, 0)
            out = []
            for k in range(i, len(self._seg_t)):
                a = max(self._seg_t[k], t0_s)
                b = min(self._seg_t[k + 1] if k + 1 < len(self._seg_t) else t1_s, t1_s)
                if a >= t1_s:
                    break
                if b > a:
                    out.append((a, b, self._seg_s[k]))
            return out

    # -- the current model ----------------------------------------------------------------------------
    def _rectangles(self, t0_s: float, t1_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every constant-current piece (start, end, amperes) overlapping the window."""
        self._check_window(t0_s - 0.02)   # the margin below: an event just before the window still ramps into it
        p = self.profile
        starts: list[float] = []
        ends: list[float] = []
        amps: list[float] = []

        def add(a: float, d: float, i: float) -> None:
            starts.append(a)
            ends.append(a + d)
            amps.append(i)

        def conn_event(t: float, tx: float, rx: float) -> None:  # peripheral: listen, then answer
            add(t - p.radio_ramp_s, p.radio_ramp_s, p.radio_ramp_a)
            add(t, rx, p.radio_rx_a)
            add(t + rx + T_IFS_S, tx, p.radio_tx_a)

        def adv_event(t: float) -> None:
            step = p.adv_pdu_s + T_IFS_S + p.adv_listen_s
            add(t - p.radio_ramp_s, p.radio_ramp_s, p.radio_ramp_a)
            for ch in range(3):
                add(t + ch * step, p.adv_pdu_s, p.radio_tx_a)
                add(t + ch * step + p.adv_pdu_s + T_IFS_S, p.adv_listen_s, p.radio_rx_a)

        margin = 0.02
        segs = self.segments(t0_s - margin, t1_s + margin)
        for a, b, state in segs:
            add(a, b - a, p.state_a[state])
            burst = p.bursts.get(state)
            if burst is not None:
                seg_start = self._segment_start(a)
                k = max(0, int((a - seg_start) // burst.period_s) - 1)
                while (bt := seg_start + k * burst.period_s) < b:
                    if bt + burst.duration_s > a:
                        add(max(bt, a), min(bt + burst.duration_s, b) - max(bt, a), burst.current_a)
                    k += 1
            if state == "advertising" and self._auto_adv:
                seg_start = self._segment_start(a)
                rng = np.random.default_rng([self.seed, 1, int(seg_start * 1e6) & 0xFFFFFFFF])
                t = seg_start + p.radio_ramp_s   # synthesised events stay inside their state
                while t < b:
                    if t >= a:
                        adv_event(t)
                    t += p.adv_interval_s + rng.uniform(0, 0.01)
            if state in _CONNECTED and self.synth_ci_s:
                ci = self.synth_ci_s
                seg_start = self._segment_start(a)
                with self._lock:
                    anchor = self._anchor_s if self._anchor_s is not None else seg_start + p.radio_ramp_s
                    k = math.ceil((max(a, seg_start + p.radio_ramp_s) - anchor) / ci - 1e-9)
                    while (ct := anchor + k * ci) < b:
                        j = bisect.bisect_left(self._radio, (ct - ci / 2,))
                        if j == len(self._radio) or self._radio[j][0] >= ct + ci / 2:  # slot not reported
                            conn_event(ct, self.empty_pdu_s, self.empty_pdu_s)  # empty PDUs both ways
                        k += 1
        with self._lock:
            lo = bisect.bisect_left(self._radio, (t0_s - margin,))
            hi = bisect.bisect_right(self._radio, (t1_s + margin,))
            for t, tx, rx in self._radio[lo:hi]:
                conn_event(t, tx, rx)
            for t in self._adv[bisect.bisect_left(self._adv, t0_s - margin):bisect.bisect_right(self._adv, t1_s + margin)]:
                adv_event(t)
        return np.array(starts), np.array(ends), np.array(amps)

    def _segment_start(self, t_s: float) -> float:
        with self._lock:
            return self._seg_t[max(bisect.bisect_right(self._seg_t, t_s) - 1, 0)]

    def charge_at(self, edges_s: np.ndarray) -> np.ndarray:
        """Exact noiseless charge (coulombs) from edges_s[0] to each edge (piecewise-linear integral)."""
        edges = np.asarray(edges_s, dtype=np.float64)
        ref = edges[0]
        a, b, i = self._rectangles(float(edges[0]), float(edges[-1]))
        times = np.concatenate([a, b]) - ref
        slopes = np.concatenate([i, -i])
        order = np.argsort(times, kind="stable")
        times, slope = times[order], np.cumsum(slopes[order])
        q_bp = np.concatenate([[0.0], np.cumsum(slope[:-1] * np.diff(times))]) if times.size else np.zeros(0)
        x = edges - ref
        k = np.searchsorted(times, x, side="right") - 1
        q = np.where(k >= 0, q_bp[np.maximum(k, 0)] + slope[np.maximum(k, 0)] * (x - times[np.maximum(k, 0)]), 0.0)
        return q - q[0]

    def _noise(self, k0: int, n: int) -> np.ndarray:
        """Unit normal noise for global sample indices k0..k0+n, identical however the window is cut."""
        out = np.empty(n)
        pos = 0
        while pos < n:
            blk, off = divmod(k0 + pos, _NOISE_BLOCK)
            arr = self._noise_cache.get(blk)
            if arr is None:
                arr = np.random.default_rng([self.seed, 2, blk]).standard_normal(_NOISE_BLOCK)
                if len(self._noise_cache) >= _NOISE_CACHE_BLOCKS:
                    self._noise_cache.clear()
                self._noise_cache[blk] = arr
            take = min(n - pos, _NOISE_BLOCK - off)
            out[pos:pos + take] = arr[off:off + take]
            pos += take
        return out

    def render(self, t0_s: float, n: int, rate_hz: float, noise: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """``n`` samples from ``t0_s`` at ``rate_hz``: (current_a float64, state id uint8 at each bin start)."""
        if n <= 0:
            return np.zeros(0), np.zeros(0, dtype=np.uint8)
        edges = t0_s + np.arange(n + 1) / rate_hz
        current = np.diff(self.charge_at(edges)) * rate_hz
        if noise:
            p = self.profile
            sigma = p.noise_a + p.noise_rel * np.abs(current)
            current += sigma * self._noise(int(round(t0_s * rate_hz)), n)
        states = np.zeros(n, dtype=np.uint8)
        for a, b, s in self.segments(t0_s, float(edges[-1])):
            i0, i1 = np.searchsorted(edges[:-1], [a, b], side="left")
            states[i0:i1] = STATE_IDS[s]
        return current, states

    def samples(self, t0_s: float, t1_s: float, rate_hz: float) -> np.ndarray:
        """Current samples (A) for [t0_s, t1_s) at ``rate_hz``; deterministic for a given seed."""
        return self.render(t0_s, int(round((t1_s - t0_s) * rate_hz)), rate_hz)[0]

    def truth_means(self, t0_s: float, t1_s: float) -> dict[str, float]:
        """Exact (noiseless) mean current per state over [t0_s, t1_s): the analysis' ground truth."""
        charge: dict[str, float] = {}
        dur: dict[str, float] = {}
        for a, b, s in self.segments(t0_s, t1_s):
            q = float(self.charge_at(np.array([a, b]))[-1])
            charge[s] = charge.get(s, 0.0) + q
            dur[s] = dur.get(s, 0.0) + (b - a)
        return {s: float(charge[s] / dur[s]) for s in charge if dur[s] > 0}
