"""``fuzz`` for an Omi device: hypothesis-generated GATT writes to every writable characteristic, with
boundary-weighted lengths and values, interleaved with valid operations (battery read, audio on/off,
a one-shot photo). Oracles after every operation: crash (fatal dump or unexpected boot on the
console, link dropped) and liveness (Battery Level still answers; audio still flows while
subscribed). A failure is shrunk by hypothesis and reported with its minimal example.

The GLP runner (bench/fuzz/runner.py) is built around the GLP state machine and corpus; this small
runner reuses its result type and the oracles' failure classes, so reports look the same.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, cast

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.internal.conjecture import engine

from bench.dut.sig import BATTERY_LEVEL
from bench.errors import DutCrash, DutTimeout, LinkLost
from bench.fuzz.oracles import FuzzCrash, FuzzHang
from bench.fuzz.runner import FuzzResult
from bench.profiles.omi import gatt as og

if TYPE_CHECKING:
    from bench.dut.glasses import Dut

WRITABLE = {og.SPEAKER: "speaker", og.PHOTO_CONTROL: "photo_control"}
VALID_OPS = ("battery_read", "audio_on", "audio_off", "photo_shot")
PROBE_TIMEOUT_S = 1.5
SETTLE_S = 0.02  # after a write: long enough for a fatal dump to reach the console
AUDIO_TIMEOUT_S = 1.0
EXAMPLES_PER_CHUNK = 25


@dataclass
class Op:
    kind: str  # "write:<name>" or a VALID_OPS name
    uuid: str = ""
    data: bytes = b""

    def __str__(self) -> str:
        if self.kind.startswith("write:"):
            return f"{self.kind} ({len(self.data)} B) {self.data.hex(' ') or '(zero-length write)'}"
        return self.kind


@dataclass
class _Stats:
    examples: int = 0
    writes: int = 0
    kinds: set[str] = field(default_factory=set)


class _OmiFailure:
    """The minimal example as Omi operations (the GLP mixin's sequence() decodes GLP frames)."""

    ops: list[Op]
    source: int  # set by FuzzFailure._fill

    def sequence(self) -> str:
        return "\n".join(f"{'>>' if n == self.source else '  '} op {n}: {op}" for n, op in enumerate(self.ops))


class OmiFuzzCrash(_OmiFailure, FuzzCrash):
    pass


class OmiFuzzHang(_OmiFailure, FuzzHang):
    pass


def _lengths(room: int) -> st.SearchStrategy[int]:
    edges = sorted({0, 1, 2, 3, 4, 19, 20, 23, 64, 127, 128, 200, 255, 256, room - 1, room} - {-1})
    return st.one_of(st.sampled_from([n for n in edges if 0 <= n <= room]), st.integers(0, room))


def _payload(room: int) -> st.SearchStrategy[bytes]:
    byte = st.one_of(st.sampled_from([0x00, 0x01, 0x05, 0x7F, 0x80, 0xFE, 0xFF]), st.integers(0, 255))
    return _lengths(room).flatmap(lambda n: st.lists(byte, min_size=n, max_size=n).map(bytes))


def _control() -> st.SearchStrategy[bytes]:
    value = st.one_of(st.sampled_from([-128, -1, 0, 1, 4, 5, 127]), st.integers(-128, 127))
    one = value.map(lambda v: v.to_bytes(1, "little", signed=True))
    return st.one_of(one, one, _payload(4))


class OmiFuzz:
    """``fuzz`` capability: kinds ("ble",)."""

    kinds = ("ble",)

    def __init__(self, dut: "Dut") -> None:
        self.dut = dut
        self.writable = {uuid: name for uuid, name in WRITABLE.items() if dut.has_characteristic(uuid)}
        self.subscribed = False

    def op_kinds(self) -> list[str]:
        kinds = [f"write:{n}" for n in self.writable.values()] + ["battery_read"]
        if self.dut.has_characteristic(og.AUDIO_DATA):
            kinds += ["audio_on", "audio_off"]
        if og.PHOTO_CONTROL in self.writable:
            kinds.append("photo_shot")
        return kinds

    def strategy(self) -> st.SearchStrategy[list[Op]]:
        room = max(4, self.dut.mtu - 3)
        options: list[st.SearchStrategy[Op]] = []
        for uuid, name in self.writable.items():
            data = _control() if uuid == og.PHOTO_CONTROL else _payload(room)
            options.append(data.map(cast(Callable[[Any], Op], lambda d, u=uuid, n=name: Op(f"write:{n}", u, d))))
        valid = [k for k in self.op_kinds() if not k.startswith("write:")]
        options.append(st.sampled_from(valid).map(Op))
        return st.lists(st.one_of(*options), min_size=1, max_size=12)

    # -- one example ------------------------------------------------------------------------------
    def _recover(self, timeout_s: float = 15.0) -> None:
        """Back to a connected, answering, unsubscribed device (after a crash or hang of an earlier example)."""
        dut, deadline = self.dut, time.monotonic() + timeout_s
        while True:
            try:
                if dut.connected and self.subscribed:
                    self._audio(False)
                dut.ensure_connected()
                dut.read(BATTERY_LEVEL, PROBE_TIMEOUT_S)
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
        if op.kind.startswith("write:"):
            dut.write(op.uuid, op.data, response=True, timeout_s=PROBE_TIMEOUT_S)
            time.sleep(SETTLE_S)
        elif op.kind == "battery_read":
            dut.read(BATTERY_LEVEL, PROBE_TIMEOUT_S)
        elif op.kind == "audio_on":
            self._audio(True)
        elif op.kind == "audio_off":
            self._audio(False)
        elif op.kind == "photo_shot":
            dut.write(og.PHOTO_CONTROL, b"\xff", response=True, timeout_s=PROBE_TIMEOUT_S)

    def _check(self, mark: int | None) -> None:
        """Liveness: Battery Level answers, and audio flows while subscribed."""
        dut = self.dut
        if mark is not None and dut.console is not None:
            dut.console.check_no_crash(mark)
        if not dut.connected:
            raise LinkLost("the link dropped")
        dut.read(BATTERY_LEVEL, PROBE_TIMEOUT_S)
        if self.subscribed:
            dut.drain(og.AUDIO_DATA)
            dut.notification(og.AUDIO_DATA, AUDIO_TIMEOUT_S)

    def example(self, ops: list[Op], stats: _Stats) -> None:
        self._recover()
        dut = self.dut
        mark = dut.console.mark() if dut.console is not None else None
        stats.examples += 1
        for n, op in enumerate(ops):
            stats.kinds.add(op.kind)
            stats.writes += op.kind.startswith("write:")
            try:
                self._do(op)
                self._check(mark)
            except (DutTimeout, LinkLost, DutCrash) as exc:
                time.sleep(0.2)  # let a fatal dump reach the console
                console = dut.console.records_since(mark) if dut.console is not None and mark is not None else []
                lines = [r.text if hasattr(r, "text") else str(r) for r in console][-20:]
                crashed = isinstance(exc, (DutCrash, LinkLost)) or (
                    dut.console is not None and mark is not None and dut.console.crash_line(mark) is not None)
                if crashed:  # a crashed device resets after the supervision timeout: wait for it, not for probes
                    try:
                        dut.wait_disconnected(5.0)
                    except DutTimeout:
                        pass
                cls = OmiFuzzCrash if crashed else OmiFuzzHang
                kind = "crash" if crashed else "hang"
                failure = cls(f"fuzz {kind} at op {n} ({op}): {exc}")
                failure._fill(str(exc), n, [], "", lines, "ble")
                failure.ops = list(ops)
                raise failure from None

    # -- the run ----------------------------------------------------------------------------------
    def run(self, session: Any, kind: str, budget_s: float, seed: int, replay_only: bool, corpus_dir: Any,
            generate_corpus: bool = True, shrink_budget_s: float = 90.0) -> FuzzResult:
        kinds = self.op_kinds()
        result = FuzzResult("ble", types_total=len(kinds))
        if replay_only:  # no committed Omi corpus yet: nothing to replay
            return result
        stats = _Stats()
        start = time.monotonic()
        strategy = self.strategy()
        saved_shrink = engine.MAX_SHRINKING_SECONDS
        engine.MAX_SHRINKING_SECONDS = int(max(1, shrink_budget_s))
        chunk = 0
        try:
            while time.monotonic() - start < budget_s:
                config = settings(max_examples=EXAMPLES_PER_CHUNK, deadline=None, database=None,
                                  phases=[Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck),
                                  print_blob=False, report_multiple_bugs=False, derandomize=False)

                @config
                @given(strategy)
                def one(ops: list[Op]) -> None:
                    if time.monotonic() - start > budget_s and result.time_to_find_s is None:
                        return  # budget spent: pass the rest of this chunk quickly
                    try:
                        self.example(ops, stats)
                    except (OmiFuzzCrash, OmiFuzzHang):
                        if result.time_to_find_s is None:
                            result.time_to_find_s = time.monotonic() - start
                        raise
                one._hypothesis_internal_use_seed = seed * 1_000_003 + chunk  # type: ignore[attr-defined]
                try:
                    one()
                except (OmiFuzzCrash, OmiFuzzHang) as exc:
                    result.failure = exc
                    break
                chunk += 1
        finally:
            engine.MAX_SHRINKING_SECONDS = saved_shrink
            result.examples, result.frames = stats.examples, stats.writes
            result.steps = stats.examples
            result.elapsed_s = time.monotonic() - start
            result.types_covered = len(stats.kinds & set(kinds))
            try:
                self._recover()
            except DutTimeout:
                pass
        return result
