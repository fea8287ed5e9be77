"""The stateful fuzz model: a hypothesis RuleBasedStateMachine playing the phone against a DUT.

Every rule is one step: a batch of frames sent back to back (valid requests, invalid fields, frame
mutations, audio and photo traffic, settings, events, reconnects, sequence jumps), followed by two
probes, Ping and SettingsGet, so that after every step the DUT is checked alive, its replies against
the model and its settings read back as written. Each example starts from a deterministic reset, so
hypothesis can replay and shrink a failure to the shortest sequence of steps that still fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule

from bench.fuzz.corpus import CORPUS_KEY
from bench.fuzz.oracles import failure_for
from bench.fuzz.runner import Stats, stateful_chunk
from bench.profiles.glp import messages as m
from bench.profiles.glp.errors import ProtocolError
from bench.profiles.glp.frames import Frame, decode_frame, encode_frame, fragment
from bench.profiles.glp.fuzz_target import Target
from bench.profiles.glp.gatt import Channel
from bench.profiles.glp.mutations import MUTATIONS, invalid_request_frame, mutate, request_classes
from bench.profiles.glp.strategies import boundary_first, message_strategy, wire_strategy

REQUESTS = st.one_of([message_strategy(c) for c in request_classes()])  # type: ignore[arg-type]  # class objects are hashable; mypy reads Message.__hash__ as unbound
LC3: dict[str, Any] = dict(codec=m.Codec.LC3, sample_rate_hz=16000, frame_duration_us=10000)
STREAM_CONTROL = [m.AudioUplinkStart(**LC3), m.AudioUplinkStop(), m.AudioDownlinkStart(**LC3), m.AudioDownlinkStop()]
OFFSETS = ["zero", "last", "size", "past", "inside"]
PIPELINE_FRAMES = 96  # frames sent before the machine waits for their answers
EVENTS = [(k, d) for k, ds in m.EVENT_DETAILS.items() for d in ds]


@dataclass
class StepRecord:
    rule: str
    writes: list[tuple[int, Channel, bytes, str]]  # (write index, channel, bytes, note)

    def lines(self, n: int, source: int) -> list[str]:
        """This step as written: one line per write, decoded and in hex; the write #source is marked."""
        out = [f"step {n}: {self.rule}"]
        for index, channel, data, note in self.writes:
            mark = ">>" if index == source else "  "
            out.append(f" {mark} #{index:<4} {channel.name:<10} {note:<6} {decode_write(data)}")
            out.append(f"           {data.hex(' ') or '(zero-length write)'}")
        return out


def decode_write(data: bytes) -> str:
    """What a written fragment says, if it is a whole frame; otherwise its length."""
    try:
        frame = decode_frame(data)
    except ProtocolError as exc:
        return f"<{len(data)} B, not a frame: {exc.reason}>"
    try:
        msg: Any = m.decode_message(frame)
    except ProtocolError as exc:
        return f"<frame type 0x{frame.type:02x} seq={frame.seq} flags={frame.flags}: {exc.reason}>"
    return f"{'REPLY-flagged ' if frame.is_reply else ''}seq={frame.seq} {msg!r}"


def make_machine(target: Target, stats: Stats) -> type[RuleBasedStateMachine]:
    """A machine class bound to `target` (hypothesis instantiates it once per example)."""

    class GlpSession(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.target, self.stats = target, stats
            self.steps: list[StepRecord] = []
            self.writes = 0
            self.seq = {Channel.CONTROL_IN: 1, Channel.AUDIO_DOWN: 0}
            self.capture_us = 0
            self.unsettled = 0
            self.failed: Any = None
            self.raised = False
            self.model = None if stats.over else target.reset()
            stats.examples += 1

        # -- plumbing ----------------------------------------------------------------------------------
        def _frame(self, type_code: int, payload: bytes, channel: Channel = Channel.CONTROL_IN) -> bytes:
            seq = self.seq[channel]
            self.seq[channel] = (seq + 1) & 0xFF
            self.stats.cover("message types", type_code)
            return encode_frame(Frame(type_code, seq, payload))

        def _msg(self, msg: m.Message, channel: Channel = Channel.CONTROL_IN, check: bool = True) -> bytes:
            return self._frame(msg.TYPE, msg.encode(check), channel)

        def _settle(self) -> None:
            """Wait for every outstanding answer (before a rule that reads state learned from replies).

            Failures seen while pipelining are raised only here, at points that depend on the drawn data
            alone, so that a replay draws exactly as much as the first run (hypothesis needs that)."""
            self.unsettled = 0
            if self.failed is not None:
                self._judge(self.failed)
            if self.model is not None and not self.model.done:
                self._judge(self.target.settle(self.model))

        def teardown(self) -> None:
            if not self.raised:  # raising again would chain the failures: hypothesis would see two bugs
                self._settle()

        def _judge(self, outcome: Any) -> None:
            if not outcome.ok:
                self.stats.failed()
                self.raised = True
                raise failure_for(outcome, self.steps, self.target)

        def _step(self, rule: str, frames: list[tuple[Channel, bytes]], split: bool = True) -> None:
            """Send frames (fragmented to the link unless already fragments), flush, probe, judge."""
            if self.model is None:
                return
            mp = self.target.max_payload
            writes = [(ch, part) for ch, raw in frames for part in (fragment(raw, mp) if split else [raw])]
            probes = [(Channel.CONTROL_IN, self._msg(m.Ping(len(self.steps)))),
                      (Channel.CONTROL_IN, self._msg(m.SettingsGet()))]
            record = StepRecord(rule if self.failed is None else f"{rule} (not sent: the DUT had failed)", [])
            self.steps.append(record)
            first = self.writes
            self.unsettled += len(writes) + len(probes)
            if self.failed is None:
                outcome = self.target.exchange(self.model, writes, first, probes, wait=False)
                for i, (ch, data, note) in enumerate(self.target.last_writes):
                    record.writes.append((first + i, ch, data, note))
                self.writes += len(self.target.last_writes)
                self.stats.step()
                if not outcome.ok:
                    self.failed = outcome  # stop sending; raised at the next settle point
            if self.unsettled >= PIPELINE_FRAMES:
                self._settle()

        # -- rules -------------------------------------------------------------------------------------
        @rule(msgs=st.lists(REQUESTS, min_size=1, max_size=16))
        def requests(self, msgs: list[m.Message]) -> None:
            self._step("requests", [(Channel.CONTROL_IN, self._msg(x)) for x in msgs])

        @rule(valid=st.booleans(), min_v=st.sampled_from([0, 2, 15]), max_v=st.sampled_from([1, 0, 15]),
              frame_len=st.sampled_from([8192, 512, 27, 26, 0xFFFF]))
        def hello(self, valid: bool, min_v: int, max_v: int, frame_len: int) -> None:
            """Half the time a Hello that works (most requests need one), else boundary versions."""
            if valid:
                min_v, max_v, frame_len = 1, max(1, max_v), max(27, min(frame_len, 8192))
            payload = bytes((min_v, max_v)) + frame_len.to_bytes(2, "little")
            self._step("hello", [(Channel.CONTROL_IN, self._frame(m.Hello.TYPE, payload))])

        @rule(data=st.data(), n=st.integers(1, 4))
        def invalid_fields(self, data: st.DataObject, n: int) -> None:
            frames = []
            for _ in range(n):
                raw = data.draw(invalid_request_frame(self.seq[Channel.CONTROL_IN]))
                self._frame(raw[1], b"")  # advance seq, count the type
                frames.append((Channel.CONTROL_IN, raw))
            self._step("invalid_fields", frames)

        @rule(data=st.data(), base=REQUESTS)
        def mutated(self, data: st.DataObject, base: m.Message) -> None:
            params = self.target.params
            assert params is not None
            mut = data.draw(mutate(self._msg(base), self.target.max_payload, params.hello.max_frame_len))
            self.stats.cover("mutations", mut.name)
            self._step(f"mutated:{mut.name}", [(Channel.CONTROL_IN, f) for f in mut.fragments], split=False)

        @rule(msg=message_strategy(m.TextNotify), size=boundary_first([1], st.integers(1, 8)))
        def fragmented(self, msg: m.Message, size: int) -> None:
            """A long frame written in many small fragments (reassembly under stress)."""
            raw = self._msg(msg)
            parts = [raw[:5]] + [raw[i:i + size] for i in range(5, len(raw), size)]
            self.stats.cover("mutations", "tiny_fragments")
            self._step(f"fragmented:{size}", [(Channel.CONTROL_IN, p) for p in parts], split=False)

        @rule(key=st.sampled_from(list(m.SettingKey)), data=st.data())
        def setting(self, key: m.SettingKey, data: st.DataObject) -> None:
            value = data.draw(wire_strategy(m.SETTING_RANGES[key]))
            self._step("setting", [(Channel.CONTROL_IN, self._msg(m.SettingSet(key, value)))])

        @rule(msg=st.sampled_from(STREAM_CONTROL))
        def audio(self, msg: m.Message) -> None:
            self._step("audio", [(Channel.CONTROL_IN, self._msg(msg))])

        @rule(n=st.integers(1, 12), size=boundary_first([40, 1], st.integers(1, 120)))
        def audio_frames(self, n: int, size: int) -> None:
            frames = []  # the model decides per frame whether the phone held a credit (else BUSY may come)
            for _ in range(n):
                self.capture_us = (self.capture_us + 10_000) & 0xFFFFFFFF
                frames.append((Channel.AUDIO_DOWN, self._msg(m.AudioFrame(self.capture_us, bytes(size)),
                                                             Channel.AUDIO_DOWN)))
            self._step("audio_frames", frames)

        @rule(quality=boundary_first([1, 100], st.integers(1, 100)))
        def photo_capture(self, quality: int) -> None:
            self._step("photo_capture", [(Channel.CONTROL_IN, self._msg(m.PhotoCapture(quality)))])

        @rule(which=st.integers(0, 4), where=st.sampled_from(OFFSETS), fraction=st.integers(0, 1 << 16),
              credits=boundary_first([1, 8], st.integers(1, 8)))
        def photo_read(self, which: int, where: str, fraction: int, credits: int) -> None:
            """Read a photo the model knows (or one past them) at an offset relative to its size.

            The draws never depend on what the DUT answered (hypothesis replays choices, not answers);
            they are mapped onto the learned photos after settling."""
            self._settle()
            photos = sorted(self.model.photos) if self.model is not None else []
            photo_id = photos[which] if which < len(photos) else max(photos, default=0) + 1
            size = self.model.photos[photo_id][0] if self.model is not None and photo_id in self.model.photos else 1000
            offset = {"zero": 0, "last": size - 1, "size": size, "past": size + 1,
                      "inside": fraction * (size - 1) >> 16}[where]
            self._step("photo_read", [(Channel.CONTROL_IN, self._msg(m.PhotoRead(photo_id, offset, credits)))])

        @rule(n=st.integers(1, 8))
        def photo_credit(self, n: int) -> None:
            self._step("photo_credit", [(Channel.CONTROL_IN, self._msg(m.Credit(m.CreditChannel.MEDIA, n)))])

        @rule(photo_id=st.integers(1, 6))
        def photo_abort(self, photo_id: int) -> None:
            self._step("photo_abort", [(Channel.CONTROL_IN, self._msg(m.PhotoAbort(photo_id)))])

        @rule(seq=boundary_first([255, 0, 254], st.integers(0, 255)))
        def seq_jump(self, seq: int) -> None:
            self.seq[Channel.CONTROL_IN] = seq
            self._step(f"seq_jump:{seq}", [])

        @rule(event=st.sampled_from(EVENTS))
        def device_event(self, event: tuple[m.EventKind, m.EventDetail]) -> None:
            self._settle()
            kind, detail = event
            if self.model is None or m.EVENT_CAPABILITY.get(kind, 0) & ~self.model.caps:
                return
            if self.target.trigger_event(kind.name.lower(), detail.name.lower()):
                self.model.expect_event(f"DeviceEvent({kind.name}, {detail.name})",
                                        _event_check(kind, detail), self.writes)
            self._step(f"event:{kind.name.lower()}-{detail.name.lower()}", [])

        @rule(go=st.integers(0, 15))
        def reconnect(self, go: int) -> None:
            if go == 15 and self.model is not None:
                self._settle()
                self.target.reconnect(self.model)
                self._step("reconnect", [])

    return GlpSession


def _event_check(kind: m.EventKind, detail: m.EventDetail) -> Any:
    def check(_frame: Frame, msg: m.Message | None) -> str | None:
        ok = isinstance(msg, m.DeviceEvent) and msg.kind is kind and msg.detail is detail
        return None if ok else f"expected DeviceEvent({kind.name}, {detail.name})"
    return check


class GlpFuzzModel:
    """The GLP fuzz model on one target (BLE or serial), as bench.fuzz.runner drives it."""

    corpus_key = CORPUS_KEY

    def __init__(self, target: Target) -> None:
        self.target, self.kind = target, target.kind
        self.axes = {"message types": frozenset(c.TYPE for c in request_classes()), "mutations": frozenset(MUTATIONS)}
        self._machine: tuple[Stats, type[RuleBasedStateMachine]] | None = None

    def frames_sent(self) -> int:
        return self.target.frames_sent

    def whole_frames_sent(self) -> int:
        return self.target.whole_frames_sent

    def run_chunk(self, stats: Stats, config: Any, seed: int) -> None:
        if self._machine is None or self._machine[0] is not stats:  # one machine class per run
            self._machine = (stats, make_machine(self.target, stats))
        stateful_chunk(self._machine[1], config, seed)

    def close(self) -> None:
        self.target.close()
