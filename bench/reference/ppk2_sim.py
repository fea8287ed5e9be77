"""A simulated PPK2 on a pty: the serial protocol ppk2-api speaks, streaming a PowerTimeline.

Opcodes handled (single bytes, some with arguments): 0x19 metadata (``key: value`` lines ending
``END``, sent in two writes as real USB packets may split it), 0x11 mode (1 ampere / 2 source),
0x0D source mV, 0x0C DUT power, 0x06 start / 0x07 stop, plus 0x08, 0x15, 0x16, 0x20, 0x25 accepted.
While streaming, real time drives it: every tick it sends the samples due since the start at
100 kS/s, each word carrying ADC, shunt range, a 6-bit counter and the logic inputs (= the state
id). If the host does not read, the outgoing queue is capped and whole samples are dropped (the
counter then shows the gap), as a real PPK2's USB buffer would. When the PPK2 is the DUT's supply
(``on_supply``), switching its sourcing (mode, DUT power) switches the reference glasses off and on.
"""

from __future__ import annotations

import os
import select
import threading
import time
import tty
from typing import Callable

import numpy as np

from bench.reference.power_model import PowerTimeline

RATE_HZ = 100_000
ADC_MULT = 1.8 / 163840
R_OHM = (1031.64, 101.65, 10.15, 0.94, 0.043)
O_ADC = (11.0, 9.0, 7.0, 5.0, 3.0)
GI = (1.002, 0.998, 1.001, 0.999, 1.0)
_ARG_LEN = {0x19: 0, 0x11: 1, 0x0D: 2, 0x0C: 1, 0x06: 0, 0x07: 0, 0x08: 1, 0x15: 0, 0x16: 0, 0x20: 0, 0x25: 5}
MAX_QUEUE_BYTES = 256 * 1024
RENDER_CHUNK = 8192  # samples per render call (~82 ms): bounds the temporaries behind one tick


def metadata_text() -> str:
    """The calibration block the simulator reports (what the decoder must invert)."""
    lines = ["Calibrated: 0"]
    for r in range(5):
        lines += [f"R{r}: {R_OHM[r]}", f"GS{r}: 0", f"GI{r}: {GI[r]}", f"O{r}: {O_ADC[r]}",
                  f"S{r}: 0", f"I{r}: 0", f"UG{r}: 1"]
    lines += ["HW: 9173", "mode: 2", "IA: 56", "END"]
    return "\n".join(lines) + "\n"


def encode(current_a: np.ndarray, logic: np.ndarray, first_index: int) -> bytes:
    """Current samples → PPK2 words (auto-range to the smallest shunt that holds the value)."""
    i = np.maximum(np.asarray(current_a, dtype=np.float64), 0.0)
    full_scale = np.array([ADC_MULT * 4 * 0x3FFF / r * 0.95 for r in R_OHM])
    rng = np.minimum(np.searchsorted(full_scale, i), 4)
    r_ohm, o, gi = np.array(R_OHM)[rng], np.array(O_ADC)[rng], np.array(GI)[rng]
    adc4 = (i / gi) * r_ohm / ADC_MULT + o
    raw = np.clip(np.rint(adc4 / 4), 0, 0x3FFF).astype(np.uint32)
    counter = (first_index + np.arange(i.size, dtype=np.uint32)) & 0x3F
    words = raw | (rng.astype(np.uint32) << 14) | (counter << 18) | (logic.astype(np.uint32) << 24)
    return words.astype("<u4").tobytes()


class Ppk2Simulator:
    """``Ppk2Simulator(timeline).start()`` → the pty path a PPK2 client opens (e.g. /dev/pts/7)."""

    def __init__(self, timeline: PowerTimeline, *, tick_s: float = 0.005, latency_s: float = 0.02,
                 dut_power: bool = False, on_supply: Callable[[bool], None] | None = None) -> None:
        """``on_supply(on)`` is called (from the device thread) when the power it sources to the DUT
        switches: source mode with DUT power on is "on", anything else "off"."""
        self.timeline = timeline
        self.tick_s = tick_s
        self.latency_s = latency_s   # pipeline delay: events reported slightly late still make it in
        self.path = ""
        self.mode = 2
        self.source_mv = 3000
        self.dut_power = dut_power
        self.on_supply = on_supply
        self.streaming = False
        self.sent_samples = 0
        self.dropped_samples = 0
        self._skip = 0
        self.stalled = False
        self._master = -1
        self._slave = -1
        self._out = bytearray()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t_start = 0.0
        self._next = 0

    def start(self) -> str:
        """Open the pty, start the device thread, return the client-side path."""
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self.path = os.ttyname(self._slave)
        self._thread = threading.Thread(target=self._run, name="ppk2-sim", daemon=True)
        self._thread.start()
        return self.path

    def stop(self) -> None:
        """Stop the device thread and close the pty."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
        for fd in (self._master, self._slave):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._master = self._slave = -1

    # -- faults for tests ----------------------------------------------------------------------------
    def disconnect(self) -> None:
        """Unplug: close both pty ends so the client's next read fails."""
        self.stop()

    def stall(self, on: bool = True) -> None:
        """Firmware hang: ignore commands and send nothing; on resume the missed samples are lost."""
        self.stalled = on

    def skip_samples(self, n: int) -> None:
        """Lose the next ``n`` samples on the way (the counter keeps counting)."""
        self._skip += n

    # -- device loop ---------------------------------------------------------------------------------
    def _run(self) -> None:
        pending = b""
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self._master], [], [], self.tick_s)
                if self.stalled:
                    if ready:
                        os.read(self._master, 4096)
                    if self.streaming:   # time runs on: the samples of the stall never come
                        due = int((time.monotonic() - self.latency_s - self._t_start) * RATE_HZ)
                        self.dropped_samples += max(0, due - self._next)
                        self._next = max(self._next, due)
                    continue
                if ready:
                    pending += os.read(self._master, 4096)
                    pending = self._commands(pending)
                if self.streaming:
                    self._produce()
                self._flush()
            except OSError:
                return

    def _commands(self, buf: bytes) -> bytes:
        while buf:
            op = buf[0]
            need = _ARG_LEN.get(op, 0)
            if len(buf) < 1 + need:
                return buf
            args, buf = buf[1:1 + need], buf[1 + need:]
            was_sourcing = self.sourcing
            self._command(op, args)
            if self.on_supply is not None and self.sourcing != was_sourcing:
                self.on_supply(self.sourcing)
        return buf

    @property
    def sourcing(self) -> bool:
        """True while the PPK2 powers the DUT (source-meter mode, DUT power on)."""
        return self.mode == 2 and self.dut_power

    def _command(self, op: int, args: bytes) -> None:
        if op == 0x19:
            text = metadata_text().encode()
            self._out += text[: len(text) // 2]
            self._flush()
            self._out += text[len(text) // 2:]
        elif op == 0x11:
            self.mode = args[0]
        elif op == 0x0D:
            self.source_mv = (args[0] - 3) * 256 + args[1] + 800 - 32
        elif op == 0x0C:
            self.dut_power = bool(args[0])
        elif op == 0x06:
            self.streaming, self._t_start, self._next = True, time.monotonic(), 0
        elif op == 0x07:
            if self.streaming:
                self._produce(final=True)   # flush the pipeline: everything sampled until now
            self.streaming = False

    def _produce(self, final: bool = False) -> None:
        due = int((time.monotonic() - (0.0 if final else self.latency_s) - self._t_start) * RATE_HZ)
        n = due - self._next
        if n <= 0:
            return
        first, self._next = self._next, due
        k = min(self._skip, n)  # lost on the way (skip_samples)
        self._skip -= k
        room = max((MAX_QUEUE_BYTES - len(self._out)) // 4, 0)
        keep = min(n - k, room)  # a reader that lags loses the newest samples, as the queue overflows
        self.dropped_samples += n - keep
        powered = self.dut_power or self.mode == 1
        for start in range(first + k, first + k + keep, RENDER_CHUNK):
            # in chunks: a late tick (a stalled host) must not render seconds of samples in one piece
            m = min(RENDER_CHUNK, first + k + keep - start)
            current, states = self.timeline.render(self._t_start + start / RATE_HZ, m, RATE_HZ)
            if not powered:
                current = np.zeros(m)
            self._out += encode(current, states, start)
        self.sent_samples += keep

    def _flush(self) -> None:
        while self._out:
            try:
                k = os.write(self._master, self._out)
            except BlockingIOError:
                return
            del self._out[:k]
