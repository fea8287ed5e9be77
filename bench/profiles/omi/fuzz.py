"""``fuzz`` for an Omi device: hypothesis-generated GATT writes to every writable characteristic, with
boundary-weighted lengths and values, interleaved with valid operations (battery read, audio on/off,
a one-shot photo). Oracles after every operation: crash (fatal dump or unexpected boot on the
console, link dropped) and liveness (Battery Level still answers; audio still flows while
subscribed; every speaker write is acknowledged by a notification, as the Omi firmware does).
bench/fuzz/runner.py drives it like any profile's model: hypothesis shrinks a failure, then delta
debugging replays sub-lists of its operations on a fresh device down to the guilty ones.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, cast

from hypothesis import settings
from hypothesis import strategies as st

from bench.dut.sig import BATTERY_LEVEL
from bench.errors import DutCrash, DutTimeout, LinkLost
from bench.fuzz.oracles import FuzzCrash, FuzzFailure, FuzzHang
from bench.fuzz.runner import Stats, given_chunk
from bench.profiles.omi import gatt as og

if TYPE_CHECKING:
    from bench.dut.glasses import Dut

WRITABLE = {og.SPEAKER: "speaker", og.PHOTO_CONTROL: "photo_control"}
VALID_OPS = ("battery_read", "audio_on", "audio_off", "photo_shot")
PROBE_TIMEOUT_S = 1.5
SETTLE_S = 0.02  # after a write: long enough for a fatal dump to reach the console
AUDIO_TIMEOUT_S = 1.0
CORPUS_KEY = b"omi-gatt-writes-v1"
MAX_ATTRIBUTE_LEN = 512  # Core spec Vol 3 Part F 3.2.9: the longest attribute value
SWEEP = "sweep:speaker"  # one operation: a speaker write of every boundary length in turn, each acknowledged
SPEAKER_PROBE = bytes(2)  # one silent PCM16 sample: the recovery probe after a hang


@dataclass
class Op:
    kind: str  # "write:<name>" or a VALID_OPS name
    uuid: str = ""
    data: bytes = b""

    def __str__(self) -> str:
        if self.kind == SWEEP:
            return f"{self.kind} (every boundary length, filled with 0x{self.data.hex() or '00'})"
        if self.kind.startswith("write:"):
            return f"{self.kind} ({len(self.data)} B) {self.data.hex(' ') or '(zero-length write)'}"
        return self.kind

    def lines(self, n: int, source: int) -> list[str]:
        return [f"{'>>' if n == source else '  '} op {n}: {self}"]


# Codec bytes per frame of the Omi codecs (Opus 10 ms and 20 ms at 32 kbit/s, PCM16 8 kHz 10 and 20 ms): a
# speaker/audio parser branches on a frame with and without the 3-byte Omi packet header (gatt.HEADER_BYTES).
CODEC_FRAME_BYTES = (40, 80, 160, 320)


def boundary_lengths(room: int) -> list[int]:
    """Write lengths where firmware breaks: tiny, powers of two, the link's room (ATT MTU - 3), codec
    frames with and without the Omi header, each +-1; only those in [0, room]."""
    edges = {0, 1, 2, 3, 4, 19, 20, 23, 64, 127, 128, 200, 255, 256, room - 1, room}
    for frame in CODEC_FRAME_BYTES:
        for n in (frame - og.HEADER_BYTES, frame, frame + og.HEADER_BYTES):
            edges |= {n - 1, n, n + 1}
    return sorted(n for n in edges if 0 <= n <= room)


def _lengths(room: int) -> st.SearchStrategy[int]:
    edge = st.sampled_from(boundary_lengths(room))
    return st.one_of(edge, edge, edge, st.integers(0, room))  # three in four on an edge, as the GLP model


FILL_BYTES = (0x00, 0x01, 0x05, 0x7F, 0x80, 0xFE, 0xFF)  # sign, zero and all-ones edges of a byte


def _payload(room: int) -> st.SearchStrategy[bytes]:
    """A write's bytes: random, or one edge byte repeated. One draw per write, not one per byte: a list of
    per-byte choices cost hypothesis ~0.2 s per example at 100-240-byte speaker writes, a third of a run."""
    def of_length(n: int) -> st.SearchStrategy[bytes]:
        fill = st.sampled_from(FILL_BYTES).map(lambda b: bytes([b]) * n)
        return st.one_of(st.binary(min_size=n, max_size=n), fill)
    return _lengths(room).flatmap(of_length)


def _control() -> st.SearchStrategy[bytes]:
    value = st.one_of(st.sampled_from([-128, -1, 0, 1, 4, 5, 127]), st.integers(-128, 127))
    one = value.map(lambda v: v.to_bytes(1, "little", signed=True))
    return st.one_of(one, one, _payload(4))


class OmiFuzz:
    """``fuzz`` capability: kinds ("ble",); ``open`` gives the model bench.fuzz.runner drives."""

    kinds = ("ble",)

    def __init__(self, dut: "Dut") -> None:
        self.dut = dut

    def open(self, session: Any, kind: str, reply_timeout_s: float = PROBE_TIMEOUT_S, port: str | None = None) -> "OmiFuzzModel":
        if kind not in self.kinds:
            raise ValueError(f"the Omi fuzz target has no {kind!r} link (it has {', '.join(self.kinds)})")
        return OmiFuzzModel(self.dut, reply_timeout_s)


class OmiFuzzModel:
    """Lists of operations on the Omi GATT service, one list per example (bench.fuzz.runner.FuzzModel)."""

    kind = "ble"
    corpus_key = CORPUS_KEY

    def __init__(self, dut: "Dut", probe_timeout_s: float = PROBE_TIMEOUT_S) -> None:
        self.dut, self.probe_timeout_s = dut, probe_timeout_s
        self.writable = {uuid: name for uuid, name in WRITABLE.items() if dut.has_characteristic(uuid)}
        self.subscribed = False
        self.hung = False  # the last example ended in a hang: wait until the main loop answers again
        self.writes = 0
        self.axes = {"operations": frozenset(self.op_kinds())}

    def op_kinds(self) -> list[str]:
        kinds = [f"write:{n}" for n in self.writable.values()] + ["battery_read"]
        if og.SPEAKER in self.writable:
            kinds.append(SWEEP)
        if self.dut.has_characteristic(og.AUDIO_DATA):
            kinds += ["audio_on", "audio_off"]
        if og.PHOTO_CONTROL in self.writable:
            kinds.append("photo_shot")
        return kinds

    def room(self) -> int:
        """The longest write to draw: ATT MTU - 3, never past an attribute (ATT refuses those, not the firmware)."""
        return max(4, min(self.dut.mtu - 3, MAX_ATTRIBUTE_LEN))

    def strategy(self) -> st.SearchStrategy[list[Op]]:
        room = self.room()
        options: list[st.SearchStrategy[Op]] = []
        for uuid, name in self.writable.items():
            data = _control() if uuid == og.PHOTO_CONTROL else _payload(room)
            options.append(data.map(cast(Callable[[Any], Op], lambda d, u=uuid, n=name: Op(f"write:{n}", u, d))))
        # writes (where the firmware parses bytes) twice, then one branch per other operation kind: a single
        # sampled_from branch for all of those got ~1 draw in 4 and left a kind unexercised in a 20 s run;
        # one branch each without the doubled writes halved the speaker writes (omi-speaker-len: 4 of 5 seeds)
        # one_of over the ~50 edges left one exact length unwritten in 510 speaker writes (hypothesis's
        # mutator copies spans of earlier examples): the sweep writes every edge, in whatever state it is drawn in
        kinds = self.op_kinds()
        others = [k for k in kinds if not k.startswith("write:") and k != SWEEP]
        options = options + options + [st.just(Op(k)) for k in others]
        if SWEEP in kinds:
            options.append(st.sampled_from(FILL_BYTES).map(lambda b: Op(SWEEP, og.SPEAKER, bytes([b]))))
        return st.lists(st.one_of(*options), min_size=1, max_size=12)

    # -- one example ------------------------------------------------------------------------------
    def _recover(self, timeout_s: float = 15.0) -> None:
        """Back to a connected, answering, unsubscribed device (after a crash or hang of an earlier example)."""
        dut, deadline = self.dut, time.monotonic() + timeout_s
        while True:
            try:
                if dut.connected and self.subscribed:
                    self._audio(False)
                if not dut.connected:
                    self.subscribed = False  # a subscription does not outlive its connection
                dut.ensure_connected()
                if og.SPEAKER in self.writable and og.SPEAKER not in dut.ble.queues:
                    dut.subscribe(og.SPEAKER)  # its acks are the main loop's liveness (a GATT read is not)
                if self.hung and og.SPEAKER in self.writable:  # a blocked main loop still answers GATT reads
                    self._speaker(SPEAKER_PROBE)
                    self.hung = False
                if og.PHOTO_CONTROL in self.writable:  # no interval capture left running by an earlier example
                    dut.write(og.PHOTO_CONTROL, b"\x00", response=True, timeout_s=self.probe_timeout_s)
                dut.read(BATTERY_LEVEL, self.probe_timeout_s)
                return
            except (DutTimeout, LinkLost, DutCrash) as exc:
                if time.monotonic() > deadline:
                    raise DutTimeout(f"Omi fuzz: the device did not come back within {timeout_s:g} s: {exc}") from exc
                try:
                    if dut.connected:
                        dut.disconnect()
                except Exception:  # noqa: BLE001 - the link may be half dead
                    pass
                self.subscribed = False
                time.sleep(0.5)

    def _audio(self, on: bool) -> None:
        from bench.profiles.omi.capabilities import OmiAudio

        audio = OmiAudio(self.dut)
        if on:
            audio.subscribe().drain()
        else:
            audio.unsubscribe()
        self.subscribed = on

    def _do(self, op: Op) -> None:
        dut = self.dut
        if op.kind == SWEEP:
            for n in boundary_lengths(self.room()):
                write = Op("write:speaker", og.SPEAKER, op.data * n)
                try:
                    self._speaker(write.data)
                except (DutTimeout, LinkLost, DutCrash) as exc:
                    setattr(exc, "guilty", write)  # noqa: B010  # the example is rewritten to end with it
                    raise
                self.writes += 1
        elif op.uuid == og.SPEAKER:
            self._speaker(op.data)
        elif op.kind.startswith("write:"):
            dut.write(op.uuid, op.data, response=True, timeout_s=self.probe_timeout_s)
            time.sleep(SETTLE_S)
        elif op.kind == "battery_read":
            dut.read(BATTERY_LEVEL, self.probe_timeout_s)
        elif op.kind == "audio_on":
            self._audio(True)
        elif op.kind == "audio_off":
            self._audio(False)
        elif op.kind == "photo_shot":
            dut.write(og.PHOTO_CONTROL, b"\xff", response=True, timeout_s=self.probe_timeout_s)

    def _speaker(self, data: bytes) -> None:
        """A speaker write and its acknowledgement, which the firmware notifies from its main loop (the
        ATT write response comes from the BLE stack, so only the ack shows the main loop alive)."""
        dut = self.dut
        dut.drain(og.SPEAKER)
        dut.write(og.SPEAKER, data, response=True, timeout_s=self.probe_timeout_s)
        try:
            dut.notification(og.SPEAKER, self.probe_timeout_s)
        except DutTimeout as exc:
            raise DutTimeout(f"no speaker acknowledgement within {self.probe_timeout_s:g} s "
                             f"(the firmware notifies one per write): the main loop stopped") from exc

    def _check(self, mark: int | None, op: Op) -> None:
        """Liveness: Battery Level answers (after a speaker write its acknowledgement, from the main loop,
        already proved more than a GATT read can), and audio flows while subscribed."""
        dut = self.dut
        if mark is not None and dut.console is not None:
            dut.console.check_no_crash(mark)
        if not dut.connected:
            raise LinkLost("the link dropped")
        if op.uuid != og.SPEAKER:
            dut.read(BATTERY_LEVEL, self.probe_timeout_s)
        if self.subscribed:
            dut.drain(og.AUDIO_DATA)
            dut.notification(og.AUDIO_DATA, AUDIO_TIMEOUT_S)

    def example(self, ops: list[Op], stats: Stats) -> None:
        """One example: a fresh, answering device, then every operation followed by the oracles."""
        if stats.over and stats.first_failure_s is None:
            return  # budget spent: pass the rest of this chunk quickly
        self._recover()
        dut = self.dut
        mark = dut.console.mark() if dut.console is not None else None
        stats.examples += 1
        for n, op in enumerate(ops):
            stats.cover("operations", op.kind)
            self.writes += op.kind.startswith("write:")
            try:
                self._do(op)
                self._check(mark, op)
            except (DutTimeout, LinkLost, DutCrash) as exc:
                stats.failed()
                op = getattr(exc, "guilty", op)
                time.sleep(0.2)  # let a fatal dump reach the console
                console = dut.console.records_since(mark) if dut.console is not None and mark is not None else []
                lines = [r.text if hasattr(r, "text") else str(r) for r in console][-20:]
                crashed = isinstance(exc, (DutCrash, LinkLost)) or (
                    dut.console is not None and mark is not None and dut.console.crash_line(mark) is not None)
                if crashed:  # a crashed device resets: the next example must start after its reboot, not during it
                    try:
                        dut.wait_disconnected(5.0)
                        if dut.console is not None and mark is not None:
                            dut.console.wait_for_boot(dut.boot_timeout_s, since=mark)
                    except DutTimeout:
                        pass
                kind = "crash" if crashed else "hang"
                self.hung = not crashed
                failure = (FuzzCrash if crashed else FuzzHang)(f"fuzz {kind} at op {n} ({op}): {exc}")
                guilty = getattr(exc, "guilty", op)  # a sweep's own write, which replays alone
                failure._fill(str(exc), n, [*ops[:n], guilty], "", lines, "ble")  # what came after never ran
                raise failure from None
            stats.step()

    # -- bench.fuzz.runner.FuzzModel ----------------------------------------------------------------
    def frames_sent(self) -> int:
        return self.writes

    def run_chunk(self, stats: Stats, config: settings, seed: int) -> None:
        given_chunk(self.strategy(), lambda ops: self.example(ops, stats), config, seed)

    def steps_of(self, failure: FuzzFailure) -> list[Any]:
        return list(failure.steps)

    def replay(self, steps: list[Any], stats: Stats) -> FuzzFailure | None:
        try:
            self.example(steps, stats)
        except (FuzzCrash, FuzzHang) as failure:
            return failure
        return None

    def close(self) -> None:
        try:
            self._recover()
        except DutTimeout:
            pass
