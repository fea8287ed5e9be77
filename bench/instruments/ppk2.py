"""Nordic Power Profiler Kit II as a PowerMeter, wrapping ppk2-api (not forking it).

What the wrapper adds over ``ppk2_api.PPK2_API`` (see FACTS.md for the library's known bugs):
- a reader thread that drains the port continuously (blocking reads, no polling gap), so 100 kS/s
  arrive without drops even though a pty/USB read returns at most ~4 kB;
- the numpy decode of :mod:`ppk2_decode` instead of the per-sample Python loop, with lost samples
  counted from the sample counter and full-scale samples flagged as overflow;
- metadata read until ``END`` with a deadline (the library loses metadata split across reads and
  fails if stream bytes are buffered: we stop the stream and flush first);
- write errors raise :class:`InstrumentError` (the library only logs them);
- no ``PPK2_MP`` (its ``__del__`` hangs) and never ``get_samples(b'')`` (spurious sample).
The eight logic inputs D0..D7 come back per sample as ``Capture.markers`` (state markers on GPIO).
ppk2-api's spike filter is off by default (``spike_filter=True`` turns it on): it substitutes a
lagging average after every range switch, which moved the connected-idle mean by ~1.4 % on the
reference model; enable it only if your unit shows switching spikes.
"""

from __future__ import annotations

import threading
import time

import serial
from ppk2_api.ppk2_api import PPK2_API, PPK2_Command

from bench.instruments.base import Capture, InstrumentError
from bench.instruments.ppk2_decode import SAMPLE_RATE_HZ, Ppk2Decoder

# Approximate full scale per shunt R0..R4 (0.72 V ADC span ÷ nominal R), last one capped at 1 A.
_RANGES_A = (0.7e-3, 7e-3, 70e-3, 0.76, 1.0)


class _StrictPpk2(PPK2_API):
    """PPK2_API whose writes raise instead of logging."""

    def _write_serial(self, cmd_tuple: tuple[int, ...]) -> None:
        try:
            self.ser.write(self._pack_struct(cmd_tuple))
        except (serial.SerialException, OSError) as exc:
            raise InstrumentError(f"write failed: {exc}", resource=str(self.ser.port),
                                  command=f"opcode {cmd_tuple[0]:#04x}") from exc


class Ppk2Meter:
    """A PPK2 on ``port_path`` in source-meter (``mode="source"``) or ammeter (``"ampere"``) mode."""

    max_sample_rate_hz = SAMPLE_RATE_HZ

    def __init__(self, port_path: str, *, mode: str = "source", voltage_v: float = 3.0,
                 timeout_s: float = 2.0, spike_filter: bool = False) -> None:
        if mode not in ("source", "ampere"):
            raise ValueError(f"mode must be 'source' or 'ampere', got {mode!r}")
        self.port = port_path
        self.timeout_s = timeout_s
        self.spike_filter = spike_filter
        try:
            self._api = _StrictPpk2(port_path, timeout=0.05, write_timeout=timeout_s)
        except (serial.SerialException, OSError) as exc:
            raise InstrumentError(f"cannot open PPK2: {exc}", resource=port_path) from exc
        self._api.stop_measuring()
        self._flush_input()
        self.metadata = self._read_metadata()
        if not self._api._parse_metadata(self.metadata):
            raise InstrumentError(f"unreadable PPK2 metadata {self.metadata[:80]!r}", resource=port_path)
        self.identity = f"Nordic Semiconductor,PPK2,HW {self._api.modifiers.get('HW')},{port_path}"
        (self._api.use_source_meter if mode == "source" else self._api.use_ampere_meter)()
        self.mode = mode
        self.current_limit_a: float | None = None
        self.set_voltage(voltage_v)
        self._reader: threading.Thread | None = None
        self._stop = threading.Event()
        self._chunks: list[bytes] = []
        self._chunks_lock = threading.Lock()
        self._fault: InstrumentError | None = None
        self._decoder: Ppk2Decoder | None = None
        self._t0_s = 0.0
        self._received = 0
        self._lost = 0

    # -- control ---------------------------------------------------------------------------------
    def _flush_input(self) -> None:
        try:
            self._api.ser.reset_input_buffer()
        except (serial.SerialException, OSError) as exc:
            raise InstrumentError(f"flush failed: {exc}", resource=self.port) from exc

    def _read_metadata(self) -> str:
        self._api._write_serial((PPK2_Command.GET_META_DATA,))
        deadline = time.monotonic() + self.timeout_s
        got = b""
        while b"END" not in got:
            if time.monotonic() > deadline:
                raise InstrumentError(f"no complete metadata within {self.timeout_s} s (got {got[:60]!r})",
                                      resource=self.port, command="GET_META_DATA")
            got += self._read(4096)
        return got.decode("ascii", errors="replace")

    def _read(self, n: int) -> bytes:
        try:
            return self._api.ser.read(n)
        except (serial.SerialException, OSError, TypeError) as exc:
            raise InstrumentError(f"read failed (PPK2 unplugged?): {exc}", resource=self.port) from exc

    def ranges_a(self) -> tuple[float, ...]:
        return _RANGES_A

    def set_range(self, range_a: float | None) -> None:
        if range_a is not None:
            raise ValueError("the PPK2 auto-ranges over its five shunts; a fixed range is not offered")

    def set_voltage(self, voltage_v: float) -> None:
        """Source voltage (source mode) or the DUT's supply voltage for calibration (ampere mode)."""
        if not 0.8 <= voltage_v <= 5.0:
            raise ValueError(f"PPK2 sources 0.8–5.0 V, asked {voltage_v:g} V")
        self._api.set_source_voltage(int(round(voltage_v * 1000)))
        self.voltage_v = voltage_v

    def set_current_limit(self, limit_a: float) -> None:
        """The PPK2 has no programmable current limit (docs/power.md): recorded, nothing is sent."""
        self.current_limit_a = limit_a

    def output(self, on: bool) -> None:
        self._api.toggle_DUT_power("ON" if on else "OFF")

    # -- capture ---------------------------------------------------------------------------------
    def start_capture(self, sample_rate_hz: float = SAMPLE_RATE_HZ, duration_s: float | None = None) -> None:
        """Start streaming (the PPK2 samples at 100 kS/s only; ``duration_s`` is not enforced)."""
        if sample_rate_hz != SAMPLE_RATE_HZ:
            raise ValueError(f"the PPK2 streams at {SAMPLE_RATE_HZ:.0f} S/s only, asked {sample_rate_hz:g}")
        if self._reader is not None:
            raise InstrumentError("capture already running", resource=self.port)
        self._flush_input()
        self._decoder = Ppk2Decoder(self._api.modifiers, self.voltage_v * 1000, spike_filter=self.spike_filter)
        self._chunks, self._fault, self._received, self._lost = [], None, 0, 0
        self._stop.clear()
        self._reader = threading.Thread(target=self._drain, name=f"ppk2-reader {self.port}", daemon=True)
        self._reader.start()
        self._t0_s = time.monotonic()
        self._api.start_measuring()

    def _drain(self) -> None:
        ser = self._api.ser
        try:
            while not self._stop.is_set():
                data = ser.read(max(ser.in_waiting, 4))   # blocks ≤ 50 ms when idle
                if data:
                    with self._chunks_lock:
                        self._chunks.append(data)
        except (serial.SerialException, OSError, TypeError) as exc:
            self._fault = InstrumentError(f"stream read failed (PPK2 unplugged?): {exc}", resource=self.port)

    def read_samples(self, timeout_s: float = 5.0) -> Capture:
        """Decode everything received since the last call (a chunk of the running capture)."""
        if self._decoder is None:
            raise InstrumentError("no capture started", resource=self.port)
        with self._chunks_lock:
            chunks, self._chunks = self._chunks, []
        if self._fault is not None:
            raise self._fault
        dec = self._decoder.feed(b"".join(chunks))
        self._received += dec.current_a.size
        self._lost += dec.lost
        notes = [] if self._decoder.counter_ok else ["no sample counter in stream: losses cannot be detected"]
        return Capture(t_s=self._t0_s + dec.index / SAMPLE_RATE_HZ, current_a=dec.current_a,
                       sample_rate_hz=SAMPLE_RATE_HZ, overflow=dec.overflow, lost_samples=dec.lost,
                       markers=dec.logic, voltage_v=self.voltage_v, notes=notes)

    def stop_capture(self, timeout_s: float = 5.0) -> Capture:
        """Stop streaming, wait until the port goes quiet (≤ ``timeout_s``), return the rest.

        Its ``lost_samples`` also carries a shortfall against the host clock that the sample counter
        (6 bits, blind to gaps that are multiples of 64) could not see; ``totals`` has the whole run.
        """
        if self._reader is None:
            raise InstrumentError("no capture running", resource=self.port)
        t_stop = time.monotonic()
        self._api.stop_measuring()
        deadline = t_stop + timeout_s
        while True:   # the stream has ended once a whole reader period passes with nothing new
            with self._chunks_lock:
                before = sum(map(len, self._chunks))
            if self._fault is not None or not self._reader.is_alive():
                break
            self._stop.wait(0.1)
            with self._chunks_lock:
                if sum(map(len, self._chunks)) == before:
                    break
            if time.monotonic() > deadline:
                break
        self._stop.set()
        self._reader.join(timeout_s)
        self._reader = None
        cap = self.read_samples()
        expected = int(round((t_stop - self._t0_s) * SAMPLE_RATE_HZ))
        cap.expected_samples = expected
        # The 6-bit counter sees gaps modulo 64; the clock catches the rest. Slack: 20 ms for the time
        # the device takes to act on the start command (more on a loaded host), 0.2 % for clock drift.
        shortfall = expected - self._received - self._lost
        if shortfall > max(2000, 0.002 * expected):
            cap.lost_samples += shortfall
            self._lost += shortfall
            cap.notes.append(f"received {self._received} of ~{expected} samples expected from the clock")
        return cap

    @property
    def totals(self) -> tuple[int, int]:
        """(samples received, samples known lost) since start_capture."""
        return self._received, self._lost

    def close(self) -> None:
        if self._reader is not None:
            self._stop.set()
            self._reader.join(1.0)
            self._reader = None
        try:
            self._api.ser.close()
        except (serial.SerialException, OSError):
            pass
